/* mod-wasm php-wasi: no user database in the sandbox; lookups find nobody (php_wasi_stubs.c). */
#ifndef PHP_WASI_PWD_H
#define PHP_WASI_PWD_H
#include <sys/types.h>
struct passwd { char *pw_name; char *pw_passwd; uid_t pw_uid; gid_t pw_gid; char *pw_gecos; char *pw_dir; char *pw_shell; };
struct passwd *getpwuid(uid_t uid);
struct passwd *getpwnam(const char *name);
int getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t len, struct passwd **result);
int getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t len, struct passwd **result);
#endif
