/*
 * flood.c — hostile: writes output forever. WasmOutputLimit must stop it and cut the response.
 */
#include <stdio.h>
#include <string.h>

int main(void) {
    static char block[64 * 1024];
    memset(block, 'F', sizeof block);
    for (;;) {
        if (fwrite(block, 1, sizeof block, stdout) != sizeof block)
            return 1;
    }
}
