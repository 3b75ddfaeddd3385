/*
 * exit255_after.c — what PHP does after a fatal error: prints a complete CGI response (headers
 * and a page), then exits with 255. Wasmtime's proc_exit reports a status of 126 or more as an
 * error; the server must treat it as an exit with that code and, as mod_cgi does, deliver the
 * page. Without CGI (`?raw` in QUERY_STRING) it prints only the page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
    const char *q = getenv("QUERY_STRING");
    if (!(q && strcmp(q, "raw") == 0)) {
        printf("Status: 200 OK\r\nContent-Type: text/html\r\n\r\n");
    }
    printf("<p>Fatal error: the page PHP printed</p>\n");
    fflush(stdout);
    exit(255);
}
