/*
 * trap_after_output.c — hostile: sends part of a body (a first line, then 128 KiB of filler, more
 * than the runtime's 64 KiB output chunk, so it has certainly left the module), flushes it, then
 * executes `unreachable`. The response has started, so the server can only cut the connection
 * (a visibly truncated body).
 */
#include <stdio.h>
#include <string.h>

int main(void) {
    static char filler[128 * 1024];
    memset(filler, 'P', sizeof filler);
    printf("partial output before the trap\n");
    fwrite(filler, 1, sizeof filler, stdout);
    fflush(stdout);
    __builtin_trap();
}
