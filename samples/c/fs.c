/*
 * fs.c — shows what a module can see of the file system: its preopened folder, and nothing else.
 *
 * argv[1] is the guest folder to inspect (e.g. /data, granted with WasmDir or WasmMapDir). The
 * module lists it, then tries to open a fixed set of paths — inside the folder, through `..`,
 * through symlinks, absolute paths outside — plus any further argv entries, and reports each:
 *   list DIR: NAME NAME ...
 *   open PATH: ok FIRST-LINE       or   open PATH: error MESSAGE
 *   opendir PATH: ok N entries     or   opendir PATH: error MESSAGE
 * The test lays out the folder: hello.txt, sub/nested.txt, link_in -> hello.txt,
 * link_out -> a file outside, dirlink_out -> a folder outside, and ../outside/secret.txt next to it.
 * A CGI header is printed only when GATEWAY_INTERFACE is set (WasmEnableCGI On).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void list_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        printf("list %s: error %s\n", dir, strerror(errno));
        return;
    }
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], compare_strings);
    printf("list %s:", dir);
    for (size_t i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

static void try_open(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("open %s: error %s\n", path, strerror(errno));
        return;
    }
    char line[256];
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        printf("open %s: ok %s\n", path, line);
    } else {
        printf("open %s: ok (no line: %s)\n", path, ferror(f) ? strerror(errno) : "empty");
    }
    fclose(f);
}

static void try_opendir(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        printf("opendir %s: error %s\n", path, strerror(errno));
        return;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n++;
    closedir(d);
    printf("opendir %s: ok %d entries\n", path, n);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/data";
    static const char *const inside[] = {
        "hello.txt", "sub/nested.txt", "sub/../hello.txt", "link_in", "./hello.txt",
    };
    static const char *const escapes[] = {
        "link_out", "dirlink_out/secret.txt", "../outside/secret.txt",
        "sub/../../outside/secret.txt", "sub/../../../../../../etc/passwd",
    };
    static const char *const absolute[] = {
        "/etc/passwd", "../outside/secret.txt", "outside/secret.txt", "/proc/self/environ",
    };
    char path[1024];

    if (getenv("GATEWAY_INTERFACE"))
        printf("Content-Type: text/plain\r\n\r\n");

    list_dir(dir);
    for (size_t i = 0; i < sizeof inside / sizeof inside[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, inside[i]);
        try_open(path);
    }
    for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, escapes[i]);
        try_open(path);
    }
    for (size_t i = 0; i < sizeof absolute / sizeof absolute[0]; i++)
        try_open(absolute[i]);
    for (int i = 2; i < argc; i++)
        try_open(argv[i]);

    snprintf(path, sizeof path, "%s/..", dir);
    try_opendir(path);
    snprintf(path, sizeof path, "%s/dirlink_out", dir);
    try_opendir(path);
    try_opendir("/");
    try_opendir(".");
    return 0;
}
