/*
 * exit3_before.c — exits with code 3 before any output: a 500, with the code in the log.
 */
#include <stdlib.h>

int main(void) {
    exit(3);
}
