/*
 * loop.c — hostile: spins forever without output. WasmTimeout must end it (504).
 */
int main(void) {
    volatile unsigned long counter = 0;
    for (;;)
        counter++;
}
