// poll_oneoff beyond a plain sleep (issue 19, finding 8): poll() on stdin and stdout, two clock
// subscriptions at once, and fd readiness on a file in a mapped folder (argv[1], if given).
// Prints one line per case, "NAME ok ..." or "NAME FAIL ...", and exits 0.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <wasi/api.h>

static void two_clocks(void) {
    __wasi_subscription_t subs[2];
    memset(subs, 0, sizeof subs);
    for (int i = 0; i < 2; i++) {
        subs[i].userdata = 100 + i;
        subs[i].u.tag = __WASI_EVENTTYPE_CLOCK;
        subs[i].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
        subs[i].u.u.clock.timeout = (i == 0 ? 20 : 5) * 1000000ull;  // 20 ms, 5 ms
    }
    __wasi_event_t events[2];
    __wasi_size_t n = 0;
    __wasi_errno_t err = __wasi_poll_oneoff(subs, events, 2, &n);
    if (err == 0 && n >= 1 && events[0].userdata == 101 && events[0].error == 0)
        printf("two_clocks ok first=%llu n=%u\n", (unsigned long long)events[0].userdata, (unsigned)n);
    else
        printf("two_clocks FAIL err=%d n=%u\n", err, (unsigned)n);
}

static void poll_fd(const char *name, int fd, short want) {
    struct pollfd p = {.fd = fd, .events = want};
    int r = poll(&p, 1, 1000);
    if (r == 1 && (p.revents & want))
        printf("%s ok revents=%d\n", name, p.revents);
    else
        printf("%s FAIL r=%d revents=%d errno=%d\n", name, r, p.revents, errno);
}

static void clock_and_fd(void) {
    // stdout readiness and a long clock: the fd answers, the clock never fires.
    struct pollfd p = {.fd = 1, .events = POLLOUT};
    int r = poll(&p, 1, 60000);
    printf("%s r=%d\n", r == 1 ? "clock_and_fd ok" : "clock_and_fd FAIL", r);
}

int main(int argc, char **argv) {
    poll_fd("stdin", 0, POLLIN);
    poll_fd("stdout", 1, POLLOUT);
    two_clocks();
    clock_and_fd();
    if (argc > 1) {
        int fd = open(argv[1], O_RDONLY);
        if (fd < 0)
            printf("file FAIL open errno=%d\n", errno);
        else
            poll_fd("file", fd, POLLIN);
    }
    return 0;
}
