/*
 * big_headers.c — hostile: a CGI header block larger than 64 KiB (80 headers of 1000 bytes).
 * Must be refused with a 500 and a log line.
 */
#include <stdio.h>
#include <string.h>

int main(void) {
    static char value[1001];
    memset(value, 'v', 1000);
    printf("Content-Type: text/plain\r\n");
    for (int i = 0; i < 80; i++)
        printf("X-Pad-%02d: %s\r\n", i, value);
    printf("\r\nbody after huge headers\n");
    return 0;
}
