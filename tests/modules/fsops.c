/*
 * fsops.c — file system and clock operations a hostile module tries, driven by the query string.
 *
 * With WasmEnableCGI On, QUERY_STRING is a list of OP=ARG joined by '&', run in order; each
 * reports one line `OP ARG: ok [DATA]` or `OP ARG: error MESSAGE`. Nothing is written before
 * every operation is done (so a module stopped on the way has sent nothing):
 *   rmdir=PATH            remove an (empty) folder
 *   symlink=TARGET,LINK   create LINK pointing at TARGET
 *   write=PATH,TEXT       create or truncate PATH and write TEXT
 *   read=PATH             print the first line of PATH
 *   mkdir=PATH            create a folder
 *   open=PATH             open PATH for reading and close it (a FIFO blocks here)
 *   sleep=SECONDS         sleep(SECONDS)
 *   spin=1                loop for ever (computing)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char report[16384];
static size_t used;

static void result(const char *op, const char *arg, int ok, const char *data) {
    size_t room = sizeof report - used;
    int n;
    if (ok)
        n = snprintf(report + used, room, "%s %s: ok%s%s\n", op, arg, data ? " " : "",
                     data ? data : "");
    else
        n = snprintf(report + used, room, "%s %s: error %s\n", op, arg, strerror(errno));
    if (n > 0)
        used += (size_t)n < room ? (size_t)n : room - 1;
}

static void run(char *op, char *arg) {
    char *comma = strchr(arg, ',');
    if (!strcmp(op, "rmdir")) {
        result(op, arg, rmdir(arg) == 0, NULL);
    } else if (!strcmp(op, "mkdir")) {
        result(op, arg, mkdir(arg, 0755) == 0, NULL);
    } else if (!strcmp(op, "symlink") && comma) {
        *comma = '\0';
        int ok = symlink(arg, comma + 1) == 0;
        *comma = ',';
        result(op, arg, ok, NULL);
    } else if (!strcmp(op, "write") && comma) {
        *comma = '\0';
        FILE *f = fopen(arg, "w");
        int ok = f && fputs(comma + 1, f) >= 0 && fclose(f) == 0;
        *comma = ',';
        result(op, arg, ok, NULL);
    } else if (!strcmp(op, "read")) {
        char line[256] = "";
        FILE *f = fopen(arg, "r");
        if (f && fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
        }
        result(op, arg, f != NULL, line);
        if (f)
            fclose(f);
    } else if (!strcmp(op, "open")) {
        int fd = open(arg, O_RDONLY);
        result(op, arg, fd >= 0, NULL);
        if (fd >= 0)
            close(fd);
    } else if (!strcmp(op, "sleep")) {
        sleep((unsigned)atoi(arg));
        result(op, arg, 1, NULL);
    } else if (!strcmp(op, "spin")) {
        volatile unsigned long n = 0;
        for (;;)
            n++;
    } else {
        errno = EINVAL;
        result(op, arg, 0, NULL);
    }
}

int main(void) {
    const char *query = getenv("QUERY_STRING");
    char *copy = strdup(query ? query : "");
    for (char *item = strtok(copy, "&"); item; item = strtok(NULL, "&")) {
        char *eq = strchr(item, '=');
        if (!eq)
            continue;
        *eq = '\0';
        run(item, eq + 1);
    }
    printf("Content-Type: text/plain\r\n\r\n%s", report);
    return 0;
}
