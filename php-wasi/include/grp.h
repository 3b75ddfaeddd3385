/* mod-wasm php-wasi: no group database in the sandbox; lookups find nothing (php_wasi_stubs.c). */
#ifndef PHP_WASI_GRP_H
#define PHP_WASI_GRP_H
#include <sys/types.h>
struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; char **gr_mem; };
struct group *getgrgid(gid_t gid);
struct group *getgrnam(const char *name);
int getgrgid_r(gid_t gid, struct group *grp, char *buf, size_t len, struct group **result);
int getgrnam_r(const char *name, struct group *grp, char *buf, size_t len, struct group **result);
#endif
