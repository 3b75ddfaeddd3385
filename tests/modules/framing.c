/*
 * framing.c — a CGI module that tries to frame the response itself (response splitting).
 *
 * QUERY_STRING picks the trick; every one, if the server passed it through, would put bytes
 * outside the response on a kept-alive connection, read by the client as the answer to its
 * next request (the smuggled answer sets `Set-Cookie: session=attacker`).
 *   te        Transfer-Encoding: chunked, an empty last chunk, then a whole second response
 *   short-cl  Content-Length: 5, then 5 bytes and a whole second response
 *   long-cl   Content-Length: 1000 and only a short body (the client waits, or reads the next
 *             response as this body)
 *   status100 / status101 / status199 / status600   an informational or invalid status
 *   hop       Connection: close, Keep-Alive, Upgrade, Trailer, Proxy-Connection header fields
 *   exact-cl  Content-Length matching the body exactly (must pass unchanged)
 *   longline  a 9000-byte header line (over Apache's 8 KiB line buffer)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMUGGLED "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nSet-Cookie: session=attacker\r\n\r\nsmuggled!"

int main(void) {
    const char *q = getenv("QUERY_STRING");
    q = q ? q : "";
    if (!strcmp(q, "te")) {
        printf("Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n");
        printf("5\r\nhello\r\n0\r\n\r\n" SMUGGLED);
    } else if (!strcmp(q, "short-cl")) {
        printf("Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
        printf("hello" SMUGGLED);
    } else if (!strcmp(q, "long-cl")) {
        printf("Content-Type: text/plain\r\nContent-Length: 1000\r\n\r\nshort");
    } else if (!strncmp(q, "status", 6)) {
        printf("Status: %s Whatever\r\nContent-Type: text/plain\r\n\r\nbody\n", q + 6);
    } else if (!strcmp(q, "hop")) {
        printf("Content-Type: text/plain\r\nConnection: close\r\nKeep-Alive: timeout=999\r\n"
               "Upgrade: h2c\r\nTrailer: X-Evil\r\nProxy-Connection: close\r\nX-Kept: yes\r\n\r\n"
               "hop body\n");
    } else if (!strcmp(q, "longline")) {
        printf("Content-Type: text/plain\r\nX-Long: ");
        for (int i = 0; i < 9000; i++)
            putchar('a');
        printf("\r\n\r\nbody\n");
    } else if (!strcmp(q, "exact-cl")) {
        printf("Content-Type: text/plain\r\nContent-Length: 6\r\n\r\nexact\n");
    } else {
        printf("Content-Type: text/plain\r\n\r\nunknown trick\n");
    }
    return 0;
}
