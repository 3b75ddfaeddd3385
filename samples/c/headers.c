/*
 * headers.c — a CGI headers demo, driven by QUERY_STRING:
 *
 *   (empty) or status   Status: 201 Created, two Set-Cookie, X-Demo, a short text body
 *   redirect            Location: http://example.com/elsewhere (an absolute URL: Apache answers 302)
 *   local               Location: /hello with no Status (a local redirect: Apache serves /hello instead)
 *   stream=N            N MiB of application/octet-stream, written in 64 KiB chunks; byte i is (i % 256)
 *   type=T              a text body with Content-Type T
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void stream(long mib) {
    static unsigned char chunk[64 * 1024];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (unsigned char)(i % 256);
    printf("Content-Type: application/octet-stream\r\n");
    printf("X-Stream-MiB: %ld\r\n\r\n", mib);
    for (long i = 0; i < mib * 16; i++) {
        if (fwrite(chunk, 1, sizeof chunk, stdout) != sizeof chunk)
            exit(1);
    }
}

int main(void) {
    const char *q = getenv("QUERY_STRING");
    if (!q)
        q = "";

    if (strncmp(q, "stream=", 7) == 0) {
        stream(atol(q + 7));
    } else if (strcmp(q, "redirect") == 0) {
        printf("Location: http://example.com/elsewhere\r\n\r\n");
    } else if (strcmp(q, "local") == 0) {
        printf("Location: /hello\r\n\r\n");
    } else if (strncmp(q, "type=", 5) == 0) {
        printf("Content-Type: %s\r\n\r\ntyped body\n", q + 5);
    } else {
        printf("Status: 201 Created\r\n");
        printf("Content-Type: text/plain; charset=utf-8\r\n");
        printf("Set-Cookie: first=1; Path=/\r\n");
        printf("Set-Cookie: second=2; Path=/\r\n");
        printf("X-Demo: headers sample\r\n");
        printf("\r\n");
        printf("created\n");
    }
    return 0;
}
