/*
 * divzero.c — hostile: integer division by zero (an `i32.div_s` trap) before any output.
 */
#include <stdio.h>

int main(int argc, char **argv) {
    volatile int zero = 0;
    volatile int ten = 10;
    int r = ten / zero;
    printf("%d\n", r);
    return 0;
}
