/*
 * exit3_after.c — sends part of a body, flushes it, then exits with code 3: the response has
 * started, so it can only be cut (and the code logged).
 */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    printf("output before exit(3)\n");
    fflush(stdout);
    exit(3);
}
