/*
 * trap.c — hostile: executes `unreachable` before any output. Must be a 500, not a dead child.
 */
int main(void) {
    __builtin_trap();
}
