/*
 * openfiles.c — hostile: opens one file of its mapped folder (/data) again and again, never
 * closing, until the runtime refuses (WasmMaxOpenFiles: EMFILE); prints how many it got and the
 * errno, closes one and opens once more (a freed descriptor is usable again).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    static int fds[70000];
    int n = 0;
    for (; n < 70000; n++) {
        fds[n] = open("/data/f", O_RDONLY);
        if (fds[n] < 0) {
            break;
        }
    }
    printf("opened %d errno %d\n", n, n < 70000 ? errno : 0);
    if (n > 0) {
        close(fds[n - 1]);
        int again = open("/data/f", O_RDONLY);
        printf("after close: %s\n", again >= 0 ? "opened" : "refused");
    }
    return 0;
}
