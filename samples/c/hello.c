/*
 * hello.c — the smallest sample: prints a greeting to stdout.
 *
 * No CGI headers, so it is served with `WasmEnableCGI Off` (the default): stdout is the body.
 */
#include <stdio.h>

int main(void) {
    printf("Hello, World! (from a WASI module served by Apache)\n");
    return 0;
}
