/* mod-wasm php-wasi: only so that configure accepts the platform; fibers are off on WASI
 * (zend_fibers.c refuses to start one, see php-wasi/php-wasi.patch), these are never called. */
#ifndef PHP_WASI_UCONTEXT_H
#define PHP_WASI_UCONTEXT_H
#include <stddef.h>
typedef struct { void *ss_sp; int ss_flags; size_t ss_size; } stack_t;
typedef struct ucontext_t { struct ucontext_t *uc_link; stack_t uc_stack; } ucontext_t;
int getcontext(ucontext_t *ucp);
void makecontext(ucontext_t *ucp, void (*func)(void), int argc, ...);
int swapcontext(ucontext_t *oucp, const ucontext_t *ucp);
#endif
