/*
 * recursion.c — hostile: unbounded recursion, exhausting Wasm's native call stack (a trap), not
 * just the C shadow stack. The recursion is not a tail call and depends on a runtime value, so the
 * compiler can neither turn it into a loop nor prove it endless.
 */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static unsigned long depth(unsigned long n, unsigned long stop) {
    if (n == stop)
        return n;
    return depth(n + 1, stop) * 3 + n;
}

int main(int argc, char **argv) {
    /* `stop` is 0 unless an argument is given: n starts at 1 and never comes back to 0 in time. */
    unsigned long stop = argc > 1 ? strtoul(argv[1], NULL, 10) : 0;
    printf("%lu\n", depth(1, stop));
    return 0;
}
