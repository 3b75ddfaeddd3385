/* mod-wasm php-wasi: no child processes in the sandbox; wait fails with ECHILD (php_wasi_stubs.c). */
#ifndef PHP_WASI_SYS_WAIT_H
#define PHP_WASI_SYS_WAIT_H
#include <sys/types.h>
#define WNOHANG 1
#define WUNTRACED 2
#define WEXITSTATUS(s) (((s) & 0xff00) >> 8)
#define WTERMSIG(s) ((s) & 0x7f)
#define WSTOPSIG(s) WEXITSTATUS(s)
#define WIFEXITED(s) (!WTERMSIG(s))
#define WIFSTOPPED(s) 0
#define WIFSIGNALED(s) 0
pid_t wait(int *status);
pid_t waitpid(pid_t pid, int *status, int options);
#endif
