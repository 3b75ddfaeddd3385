/* mod-wasm php-wasi: WASI (preview 1, clang 14) has no setjmp/longjmp.
 * setjmp always returns 0; a longjmp is a bailout (a fatal error): php_wasi_longjmp() ends the
 * request (see php_wasi_stubs.c and cgi_main.c) and exits, it never returns. */
#ifndef PHP_WASI_SETJMP_H
#define PHP_WASI_SETJMP_H
typedef int jmp_buf[1];
typedef int sigjmp_buf[1];
_Noreturn void php_wasi_longjmp(int value);
#define setjmp(b) 0
#define sigsetjmp(b, s) 0
#define longjmp(b, v) php_wasi_longjmp(v)
#define siglongjmp(b, v) php_wasi_longjmp(v)
#endif
