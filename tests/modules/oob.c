/*
 * oob.c — hostile: reads and writes far outside linear memory (an out-of-bounds trap).
 */
#include <stdint.h>
#include <stdio.h>

int main(void) {
    volatile uint32_t addr = 0xfffffff0u;
    volatile char *p = (volatile char *)(uintptr_t)addr;
    *p = 1;
    printf("%d\n", p[1]);
    return 0;
}
