/*
 * cgi_echo.c — a CGI program that reports exactly what it was given, for tests and debugging.
 *
 * Output (after a `Content-Type: text/plain` header and a blank line), one item per line:
 *   argc=N
 *   argv[I]=VALUE          for every argument, argv[0] first
 *   env:NAME=VALUE         for every environment variable, sorted by NAME
 *   stdin.bytes=N          the number of bytes read from stdin until EOF
 *   stdin.fnv1a64=HEX      FNV-1a 64 of those bytes (16 hex digits)
 * so a test can check args, env (and that nothing leaks into it) and a large or chunked body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv) {
    static unsigned char buf[64 * 1024];
    uint64_t hash = 0xcbf29ce484222325ULL;
    uint64_t total = 0;
    size_t n;

    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        for (size_t i = 0; i < n; i++) {
            hash ^= buf[i];
            hash *= 0x100000001b3ULL;
        }
        total += n;
    }

    printf("Content-Type: text/plain\r\n\r\n");
    printf("argc=%d\n", argc);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);

    size_t nenv = 0;
    while (environ && environ[nenv])
        nenv++;
    char **sorted = malloc((nenv + 1) * sizeof *sorted);
    if (!sorted)
        return 2;
    for (size_t i = 0; i < nenv; i++)
        sorted[i] = environ[i];
    qsort(sorted, nenv, sizeof *sorted, compare_strings);
    for (size_t i = 0; i < nenv; i++)
        printf("env:%s\n", sorted[i]);
    free(sorted);

    printf("stdin.bytes=%llu\n", (unsigned long long)total);
    printf("stdin.fnv1a64=%016llx\n", (unsigned long long)hash);
    return 0;
}
