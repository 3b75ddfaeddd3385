/* mod-wasm php-wasi: included first in every file of the WASI build of PHP and SQLite (-include).
 * Declares what wasi-libc (2022) lacks; php_wasi_stubs.c defines it: each call fails the way a
 * sandbox without users, processes, signals or sockets would make it fail (ENOSYS, EPERM, -1, NULL). */
#ifndef PHP_WASI_COMPAT_H
#define PHP_WASI_COMPAT_H
#ifdef __wasi__
#include <sys/types.h>
#include <stdio.h>
#include <fcntl.h>

/* fcntl(2) record locks: never granted (SQLite uses dotfile locks, flock() reports success). */
#ifndef F_RDLCK
#define F_RDLCK 0
#define F_WRLCK 1
#define F_UNLCK 2
#endif
#ifndef F_GETLK
#define F_GETLK 5
#define F_SETLK 6
#define F_SETLKW 7
#endif
#include <sys/file.h>

/* Sockets: every socket call fails in the sandbox (no socket is ever granted); what follows only lets
 * socket code compile. wasi-libc's struct sockaddr_un has no sun_path: this one (taking its guard) has. */
#include <stddef.h>
#include <sys/types.h>
#ifndef __wasilibc___struct_sockaddr_un_h
#define __wasilibc___struct_sockaddr_un_h
#include <__typedef_sa_family_t.h>
struct sockaddr_un { _Alignas(max_align_t) sa_family_t sun_family; char sun_path[108]; };
#endif
#include <sys/socket.h>
#include <poll.h>
#ifndef PF_UNIX
#define PF_UNIX AF_UNIX
#endif
#ifndef SO_ERROR
#define SO_ERROR 4
#endif
#ifndef SOL_IP
#define SOL_IP 0
#endif
#ifndef MSG_OOB
#define MSG_OOB 1
#endif
#ifndef POLLPRI
#define POLLPRI 0x002
#endif

/* Signals: wasi-libc emulates signal() and raise() within the process; no sigaction, no masks. */
#include <signal.h>
struct sigaction { void (*sa_handler)(int); sigset_t sa_mask; int sa_flags; };
int sigaction(int sig, const struct sigaction *act, struct sigaction *old);
int sigemptyset(sigset_t *set);
int sigaddset(sigset_t *set, int sig);
int sigfillset(sigset_t *set);
int sigprocmask(int how, const sigset_t *set, sigset_t *old);
#ifndef SIG_BLOCK
#define SIG_BLOCK 0
#define SIG_UNBLOCK 1
#define SIG_SETMASK 2
#endif

uid_t getuid(void);
uid_t geteuid(void);
gid_t getgid(void);
gid_t getegid(void);
int getgroups(int size, gid_t list[]);
int fchown(int fd, uid_t owner, gid_t group);
int chown(const char *path, uid_t owner, gid_t group);
int lchown(const char *path, uid_t owner, gid_t group);
int fchmod(int fd, mode_t mode);
int chmod(const char *path, mode_t mode);
int dup(int fd);
int dup2(int fd, int fd2);
int getdtablesize(void);
mode_t umask(mode_t mask);
pid_t getppid(void);
int kill(pid_t pid, int sig);
FILE *popen(const char *command, const char *mode);
int pclose(FILE *stream);
char *mkdtemp(char *tmpl);
int mkstemp(char *tmpl);
/* configure cannot see the stubs' mkstemp (it links without them): say it is there, so PHP's
 * temporary files (uploads, tempnam) get unique names created with O_EXCL. */
#define HAVE_MKSTEMP 1
#endif
#endif
