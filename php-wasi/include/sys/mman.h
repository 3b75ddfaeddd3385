/* mod-wasm php-wasi: WASI has no mmap. The constants let callers compile; mmap() always fails
 * with ENOSYS (php_wasi_stubs.c), so callers take their no-mmap path (Zend's allocator is
 * patched to take chunks from the C allocator, see php-wasi/php-wasi.patch). */
#ifndef PHP_WASI_SYS_MMAN_H
#define PHP_WASI_SYS_MMAN_H
#include <sys/types.h>
#define PROT_NONE 0
#define PROT_READ 1
#define PROT_WRITE 2
#define PROT_EXEC 4
#define MAP_SHARED 0x01
#define MAP_PRIVATE 0x02
#define MAP_FIXED 0x10
#define MAP_ANON 0x20
#define MAP_ANONYMOUS MAP_ANON
#define MAP_FAILED ((void *) -1)
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int munmap(void *addr, size_t len);
int mprotect(void *addr, size_t len, int prot);
#endif
