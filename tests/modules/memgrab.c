/*
 * memgrab.c — hostile: allocates 1 MiB blocks (touching each) until malloc returns NULL, then
 * reports how much it got: `got N MiB`. Under WasmMemoryLimit, malloc must fail inside the module
 * (memory.grow returning -1), not kill anything. Every block escapes through a volatile pointer,
 * so the compiler cannot drop the allocations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *volatile sink;

int main(void) {
    size_t got = 0;
    for (;;) {
        char *p = malloc(1024 * 1024);
        if (!p)
            break;
        memset(p, 0xa5, 1024 * 1024);
        sink = p;
        got++;
    }
    printf("got %zu MiB\n", got);
    return 0;
}
