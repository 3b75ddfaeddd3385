/*
 * stdin_past_eof.c — reads stdin to the end, then keeps reading: every further read must report
 * end of input (0 bytes), never block and never return bytes of the next request on the connection.
 * Output: `body=N fnv1a64=HEX` then `extra read I: R` for 5 more raw reads.
 */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    static unsigned char buf[16 * 1024];
    uint64_t hash = 0xcbf29ce484222325ULL, total = 0;
    ssize_t n;
    while ((n = read(0, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            hash ^= buf[i];
            hash *= 0x100000001b3ULL;
        }
        total += (uint64_t)n;
    }
    printf("body=%llu fnv1a64=%016llx first_end=%zd\n", (unsigned long long)total,
           (unsigned long long)hash, n);
    for (int i = 0; i < 5; i++) {
        n = read(0, buf, sizeof buf);
        printf("extra read %d: %zd\n", i, n);
    }
    return 0;
}
