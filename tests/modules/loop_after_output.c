/*
 * loop_after_output.c — hostile: sends 128 KiB of body (more than one 64 KiB output chunk, so it
 * has left the module), flushes, then spins forever. WasmTimeout must stop it; the response has
 * started, so the connection is cut (a visibly truncated body).
 */
#include <stdio.h>
#include <string.h>

int main(void) {
    static char filler[128 * 1024];
    memset(filler, 'L', sizeof filler);
    fwrite(filler, 1, sizeof filler, stdout);
    fflush(stdout);
    volatile unsigned long counter = 0;
    for (;;)
        counter++;
}
