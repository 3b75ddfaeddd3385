/*
 * stderr.c — writes lines to stderr (which mod_wasm sends to Apache's error log) and a short body.
 *
 * Every stderr line carries argv[1] (a marker the test chooses) so the test can find it in the log;
 * the last line has no trailing newline, to show it is still logged when the module ends.
 */
#include <stdio.h>

int main(int argc, char **argv) {
    const char *marker = argc > 1 ? argv[1] : "stderr-sample";
    fprintf(stderr, "%s line one\n", marker);
    fprintf(stderr, "%s line two\n", marker);
    printf("body of the stderr sample\n");
    fflush(stdout);
    fprintf(stderr, "%s last line without newline", marker);
    return 0;
}
