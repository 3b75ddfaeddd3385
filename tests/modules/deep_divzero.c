// A division by zero 2000 calls deep (issue 19, finding 9): the backtrace is far longer than the
// outcome message, and the log line must still name the cause.
#include <stdio.h>

__attribute__((noinline)) static int deep(int n, volatile int *zero) {
    if (n == 0)
        return 10 / *zero;
    return deep(n - 1, zero) * 3 + n;
}

int main(void) {
    volatile int zero = 0;
    printf("%d\n", deep(2000, &zero));
    return 0;
}
