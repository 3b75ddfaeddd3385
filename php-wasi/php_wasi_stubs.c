/* mod-wasm php-wasi: what wasi-libc (2022) lacks, for PHP and SQLite built for wasm32-wasi.
 *
 * The sandbox has no users, processes, signals, sockets, name resolution, mmap or syslog: each call
 * fails the way such a system would (ENOSYS / EPERM / ECHILD, NULL, -1), or succeeds where failing
 * would only break callers for nothing (umask: one guest per request; locks are SQLite's
 * dotfiles). Two are real: mkstemp/mkdtemp (unique names from getentropy, O_CREAT|O_EXCL) and
 * php_wasi_longjmp (a bailout: see setjmp.h). */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <netdb.h>
#include <pwd.h>
#include <grp.h>
#include <syslog.h>
#include <ucontext.h>

/* ---- bailout (fatal errors): there is no longjmp, the request ends here ---- */
void (*php_wasi_bailout_handler)(void) = NULL;

_Noreturn void php_wasi_longjmp(int value)
{
	static int depth = 0;
	(void) value;
	if (depth++ == 0 && php_wasi_bailout_handler) {
		php_wasi_bailout_handler(); /* runs the request shutdown once, then exits */
	}
	fflush(stdout);
	_Exit(255);
}

/* ---- users and groups ---- */
uid_t getuid(void) { return 0; }
uid_t geteuid(void) { return 0; }
gid_t getgid(void) { return 0; }
gid_t getegid(void) { return 0; }
int getgroups(int size, gid_t list[]) { (void) size; (void) list; return 0; }
struct passwd *getpwuid(uid_t uid) { (void) uid; errno = ENOENT; return NULL; }
struct passwd *getpwnam(const char *name) { (void) name; errno = ENOENT; return NULL; }
int getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t len, struct passwd **result)
{ (void) uid; (void) pwd; (void) buf; (void) len; *result = NULL; return 0; }
int getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t len, struct passwd **result)
{ (void) name; (void) pwd; (void) buf; (void) len; *result = NULL; return 0; }
struct group *getgrgid(gid_t gid) { (void) gid; errno = ENOENT; return NULL; }
struct group *getgrnam(const char *name) { (void) name; errno = ENOENT; return NULL; }
int getgrgid_r(gid_t gid, struct group *grp, char *buf, size_t len, struct group **result)
{ (void) gid; (void) grp; (void) buf; (void) len; *result = NULL; return 0; }
int getgrnam_r(const char *name, struct group *grp, char *buf, size_t len, struct group **result)
{ (void) name; (void) grp; (void) buf; (void) len; *result = NULL; return 0; }

/* ---- file ownership and modes: WASI has neither ---- */
int fchown(int fd, uid_t o, gid_t g) { (void) fd; (void) o; (void) g; errno = EPERM; return -1; }
int chown(const char *p, uid_t o, gid_t g) { (void) p; (void) o; (void) g; errno = EPERM; return -1; }
int lchown(const char *p, uid_t o, gid_t g) { (void) p; (void) o; (void) g; errno = EPERM; return -1; }
int fchmod(int fd, mode_t m) { (void) fd; (void) m; return 0; }
int chmod(const char *p, mode_t m) { struct stat st; (void) m; return stat(p, &st); }
mode_t umask(mode_t mask) { (void) mask; return 022; }

/* ---- descriptors ---- */
int dup(int fd) { (void) fd; errno = ENOSYS; return -1; }
int dup2(int fd, int fd2) { (void) fd; (void) fd2; errno = ENOSYS; return -1; }
int getdtablesize(void) { return 1024; }

/* ---- processes and signals ---- */
pid_t getppid(void) { return 1; }
int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (old) { memset(old, 0, sizeof *old); old->sa_handler = SIG_DFL; }
	if (act && act->sa_handler != SIG_DFL) { signal(sig, act->sa_handler); }
	return 0;
}
int sigemptyset(sigset_t *set) { memset(set, 0, sizeof *set); return 0; }
int sigfillset(sigset_t *set) { memset(set, 0xff, sizeof *set); return 0; }
int sigaddset(sigset_t *set, int sig) { (void) set; (void) sig; return 0; }
int sigprocmask(int how, const sigset_t *set, sigset_t *old) { (void) how; (void) set; if (old) { memset(old, 0, sizeof *old); } return 0; }
int kill(pid_t pid, int sig) { (void) pid; (void) sig; errno = EPERM; return -1; }
pid_t wait(int *status) { (void) status; errno = ECHILD; return -1; }
pid_t waitpid(pid_t pid, int *status, int options) { (void) pid; (void) status; (void) options; errno = ECHILD; return -1; }
FILE *popen(const char *command, const char *mode) { (void) command; (void) mode; errno = ENOSYS; return NULL; }
int pclose(FILE *stream) { (void) stream; errno = ECHILD; return -1; }
int getcontext(ucontext_t *ucp) { (void) ucp; errno = ENOSYS; return -1; }
void makecontext(ucontext_t *ucp, void (*func)(void), int argc, ...) { (void) ucp; (void) func; (void) argc; }
int swapcontext(ucontext_t *o, const ucontext_t *u) { (void) o; (void) u; errno = ENOSYS; return -1; }

/* ---- memory mappings ---- */
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{ (void) addr; (void) len; (void) prot; (void) flags; (void) fd; (void) off; errno = ENOSYS; return MAP_FAILED; }
int munmap(void *addr, size_t len) { (void) addr; (void) len; errno = EINVAL; return -1; }
int mprotect(void *addr, size_t len, int prot) { (void) addr; (void) len; (void) prot; return 0; }

/* ---- names and sockets: nothing resolves ---- */
int h_errno = 0;
struct hostent *gethostbyname(const char *name) { (void) name; h_errno = HOST_NOT_FOUND; return NULL; }
struct hostent *gethostbyaddr(const void *a, socklen_t l, int t) { (void) a; (void) l; (void) t; h_errno = HOST_NOT_FOUND; return NULL; }
struct servent *getservbyname(const char *n, const char *p) { (void) n; (void) p; return NULL; }
struct servent *getservbyport(int port, const char *p) { (void) port; (void) p; return NULL; }
struct protoent *getprotobyname(const char *n) { (void) n; return NULL; }
struct protoent *getprotobynumber(int p) { (void) p; return NULL; }
int getaddrinfo(const char *n, const char *s, const struct addrinfo *h, struct addrinfo **res)
{ (void) n; (void) s; (void) h; *res = NULL; return EAI_FAIL; }
void freeaddrinfo(struct addrinfo *res) { (void) res; }
const char *gai_strerror(int err) { (void) err; return "name resolution is not available in the sandbox"; }
const char *hstrerror(int err) { (void) err; return "name resolution is not available in the sandbox"; }
int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen, char *serv, socklen_t servlen, int flags)
{ (void) sa; (void) salen; (void) host; (void) hostlen; (void) serv; (void) servlen; (void) flags; return EAI_FAIL; }

int socket(int domain, int type, int protocol) { (void) domain; (void) type; (void) protocol; errno = ENOSYS; return -1; }
int bind(int fd, const struct sockaddr *a, socklen_t l) { (void) fd; (void) a; (void) l; errno = ENOSYS; return -1; }
int connect(int fd, const struct sockaddr *a, socklen_t l) { (void) fd; (void) a; (void) l; errno = ENOSYS; return -1; }
int listen(int fd, int backlog) { (void) fd; (void) backlog; errno = ENOSYS; return -1; }
int getsockname(int fd, struct sockaddr *a, socklen_t *l) { (void) fd; (void) a; (void) l; errno = ENOTSOCK; return -1; }
int getpeername(int fd, struct sockaddr *a, socklen_t *l) { (void) fd; (void) a; (void) l; errno = ENOTSOCK; return -1; }
int setsockopt(int fd, int level, int name, const void *v, socklen_t l) { (void) fd; (void) level; (void) name; (void) v; (void) l; errno = ENOTSOCK; return -1; }
ssize_t sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l)
{ (void) fd; (void) b; (void) n; (void) f; (void) a; (void) l; errno = ENOTSOCK; return -1; }
ssize_t recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l)
{ (void) fd; (void) b; (void) n; (void) f; (void) a; (void) l; errno = ENOTSOCK; return -1; }

/* ---- syslog: to stderr, which the server writes to its error log ---- */
void openlog(const char *ident, int option, int facility) { (void) ident; (void) option; (void) facility; }
void closelog(void) {}
void vsyslog(int priority, const char *format, va_list ap)
{ (void) priority; vfprintf(stderr, format, ap); fputc('\n', stderr); }
void syslog(int priority, const char *format, ...)
{ va_list ap; va_start(ap, format); vsyslog(priority, format, ap); va_end(ap); }

/* ---- temporary files: unique names, created exclusively ---- */
static int php_wasi_fill_template(char *tmpl)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t len = strlen(tmpl), i;
	unsigned char rnd[6];
	if (len < 6 || memcmp(tmpl + len - 6, "XXXXXX", 6) != 0) { errno = EINVAL; return -1; }
	if (getentropy(rnd, sizeof rnd) != 0) { return -1; }
	for (i = 0; i < 6; i++) { tmpl[len - 6 + i] = set[rnd[i] % (sizeof set - 1)]; }
	return 0;
}

int mkstemp(char *tmpl)
{
	char keep[6];
	size_t len = strlen(tmpl);
	int tries, fd;
	if (len < 6) { errno = EINVAL; return -1; }
	memcpy(keep, tmpl + len - 6, 6);
	for (tries = 0; tries < 100; tries++) {
		memcpy(tmpl + len - 6, keep, 6);
		if (php_wasi_fill_template(tmpl) != 0) { return -1; }
		fd = open(tmpl, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd >= 0 || errno != EEXIST) { return fd; }
	}
	errno = EEXIST;
	return -1;
}

char *mkdtemp(char *tmpl)
{
	char keep[6];
	size_t len = strlen(tmpl);
	int tries;
	if (len < 6) { errno = EINVAL; return NULL; }
	memcpy(keep, tmpl + len - 6, 6);
	for (tries = 0; tries < 100; tries++) {
		memcpy(tmpl + len - 6, keep, 6);
		if (php_wasi_fill_template(tmpl) != 0) { return NULL; }
		if (mkdir(tmpl, 0700) == 0) { return tmpl; }
		if (errno != EEXIST) { return NULL; }
	}
	return NULL;
}
