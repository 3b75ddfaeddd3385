/*
 * memgrab.c — hostile: allocates 1 MiB blocks (touching each) until malloc returns NULL, then
 * reports how much it got: `got N MiB`. Under WasmMemoryLimit, malloc must fail inside the module
 * (memory.grow returning -1), not kill anything.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    size_t got = 0;
    for (;;) {
        char *p = malloc(1024 * 1024);
        if (!p)
            break;
        memset(p, 0xa5, 1024 * 1024);
        got++;
        if (got > 8192) /* 8 GiB: cannot happen in wasm32; keeps the loop finite for the compiler */
            break;
    }
    printf("got %zu MiB\n", got);
    return 0;
}
