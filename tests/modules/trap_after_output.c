/*
 * trap_after_output.c — hostile: sends part of a body, flushes it, then executes `unreachable`.
 * The response has started, so the server can only cut the connection (visibly truncated body).
 */
#include <stdio.h>

int main(void) {
    printf("partial output before the trap\n");
    fflush(stdout);
    __builtin_trap();
}
