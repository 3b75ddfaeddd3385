/*
 * native_cgi_main.c — turns samples/c/hello.c into a native CGI program for the benchmark.
 *
 * bench/run.py compiles hello.c with `-Dmain=hello_main` and links this file, which prints the CGI
 * header mod_cgid requires and then runs the very same hello code: the native baseline does the
 * same work as the Wasm hello, plus one header line.
 */
#include <stdio.h>

int hello_main(void);

int main(void) {
    fputs("Content-Type: text/plain\r\n\r\n", stdout);
    return hello_main();
}
