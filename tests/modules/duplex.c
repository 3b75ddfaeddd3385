/*
 * duplex.c — proves both directions stream: the module answers while the request body is still
 * arriving. It writes 96 KiB of 'A' and flushes, then for every line read from stdin writes
 * 96 KiB of that line's first byte and flushes; at end of input it writes "done\n".
 * A client that waits for each block before sending the next line only finishes if Apache sends
 * the module's output as it is written and hands it the body as it arrives.
 */
#include <stdio.h>
#include <string.h>

static void block(char c) {
    static char buf[96 * 1024];
    memset(buf, c, sizeof buf);
    fwrite(buf, 1, sizeof buf, stdout);
    fflush(stdout);
}

int main(void) {
    char line[256];
    block('A');
    while (fgets(line, sizeof line, stdin))
        block(line[0]);
    printf("done\n");
    return 0;
}
