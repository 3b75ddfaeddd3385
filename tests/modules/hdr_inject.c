/*
 * hdr_inject.c — hostile CGI headers, chosen by QUERY_STRING:
 *   bare_cr   `X-A: a\rSet-Cookie: injected=1` (a bare CR inside a value)
 *   nul       a NUL byte inside a header value
 *   ctl       a control byte (0x01) inside a header value
 *   status_cr `Status: 200 OK\rSet-Cookie: injected=1`
 *   fold      an obsolete folded line: `X-A: a` then ` Set-Cookie: injected=1`
 *   ok        a well-formed block (control case): X-A: a
 * Every refused block must end in a 500 and a log line; no `injected` cookie may ever reach the client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void out(const char *s, size_t n) {
    fwrite(s, 1, n, stdout);
}

#define OUT(lit) out(lit, sizeof(lit) - 1)

int main(void) {
    const char *q = getenv("QUERY_STRING");
    if (!q)
        q = "";
    OUT("Content-Type: text/plain\r\n");
    if (strcmp(q, "bare_cr") == 0)
        OUT("X-A: a\rSet-Cookie: injected=1\r\n");
    else if (strcmp(q, "nul") == 0)
        OUT("X-A: a\0Set-Cookie: injected=1\r\n");
    else if (strcmp(q, "ctl") == 0)
        OUT("X-A: a\001Set-Cookie: injected=1\r\n");
    else if (strcmp(q, "status_cr") == 0)
        OUT("Status: 200 OK\rSet-Cookie: injected=1\r\n");
    else if (strcmp(q, "fold") == 0)
        OUT("X-A: a\r\n Set-Cookie: injected=1\r\n");
    else
        OUT("X-A: a\r\n");
    OUT("\r\nbody after the headers\n");
    return 0;
}
