// An absolute-clock sleep far in the future (issue 19, finding 8): it must neither trap nor hold
// the worker past WasmTimeout (the request ends with 504). With argv[1] = "near", it sleeps
// 10 ms past now (absolute) and prints "abstime ok".
#include <stdio.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int near = argc > 1 && strcmp(argv[1], "near") == 0;
    struct timespec until = now;
    if (near) {
        until.tv_nsec += 10000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec += 1;
            until.tv_nsec -= 1000000000;
        }
    } else {
        until.tv_sec += 3600;
    }
    int r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
    printf("abstime %s r=%d\n", r == 0 ? "ok" : "FAIL", r);
    return 0;
}
