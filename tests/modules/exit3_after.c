/*
 * exit3_after.c — sends part of a body (a first line, then 128 KiB of filler, more than the
 * runtime's 64 KiB output chunk), flushes it, then exits with code 3: the response has started,
 * so it can only be cut (and the code logged). With `?small`, only the first line is written.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    static char filler[128 * 1024];
    const char *q = getenv("QUERY_STRING");
    printf("output before exit(3)\n");
    if (!(q && strcmp(q, "small") == 0)) {
        memset(filler, 'E', sizeof filler);
        fwrite(filler, 1, sizeof filler, stdout);
    }
    fflush(stdout);
    exit(3);
}
