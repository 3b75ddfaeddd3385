/* Compiled by tests/c_header.rs with -Wall -Wextra -Werror -pedantic: prints the layout of every
 * struct and the value of every enum in wasm_runtime.h, for comparison with the Rust side. */
#include <stddef.h>
#include <stdio.h>
#include "wasm_runtime.h"

#define FIELD(T, f) printf(#T "." #f " %zu\n", offsetof(T, f))
#define SIZE(T) printf(#T " %zu\n", sizeof(T))
#define VALUE(E) printf(#E " %d\n", (int)(E))

int main(void)
{
    /* Every function must be declared with the signature the Rust side exports. */
    wasm_runtime_t *(*new_fn)(const wasm_engine_settings_t *, wasm_log_fn, char *, size_t) = wasm_runtime_new;
    void (*run_fn)(const wasm_runtime_t *, const wasm_request_t *, const wasm_io_t *, wasm_outcome_t *) = wasm_runtime_run;
    const wasm_dir_t *(*open_dir_fn)(wasm_runtime_t *, const char *, int, char *, size_t) = wasm_runtime_open_dir;
    int (*check_fn)(const char *, const wasm_module_limits_t *, char *, size_t) = wasm_check_module_file;
    int (*limit_fn)(const char *, wasm_module_limits_t *, char *, size_t) = wasm_parse_module_limit;
    void (*policy_fn)(wasm_runtime_t *, const wasm_load_policy_t *) = wasm_runtime_set_load_policy;
    int (*check_dir_fn)(const char *, char *, size_t) = wasm_check_dir;
    (void)new_fn;
    (void)run_fn;
    (void)open_dir_fn;
    (void)check_fn;
    (void)limit_fn;
    (void)policy_fn;
    (void)check_dir_fn;

    SIZE(wasm_engine_settings_t);
    FIELD(wasm_engine_settings_t, opt_level);
    FIELD(wasm_engine_settings_t, pooling);
    FIELD(wasm_engine_settings_t, pooling_max_instances);
    FIELD(wasm_engine_settings_t, cache_dir);
    SIZE(wasm_pair_t);
    FIELD(wasm_pair_t, value);
    SIZE(wasm_io_t);
    FIELD(wasm_io_t, read_body);
    FIELD(wasm_io_t, write_headers);
    FIELD(wasm_io_t, write_body);
    FIELD(wasm_io_t, log_stderr);
    FIELD(wasm_io_t, flush);
    FIELD(wasm_io_t, log_notice);
    SIZE(wasm_preopen_t);
    FIELD(wasm_preopen_t, dir);
    SIZE(wasm_module_limits_t);
    FIELD(wasm_module_limits_t, max_functions);
    FIELD(wasm_module_limits_t, max_function_size);
    FIELD(wasm_module_limits_t, max_data_segments);
    SIZE(wasm_load_policy_t);
    FIELD(wasm_load_policy_t, run_uid);
    SIZE(wasm_request_t);
    FIELD(wasm_request_t, entry_point);
    FIELD(wasm_request_t, argv0);
    FIELD(wasm_request_t, args);
    FIELD(wasm_request_t, nargs);
    FIELD(wasm_request_t, env);
    FIELD(wasm_request_t, nenv);
    FIELD(wasm_request_t, dirs);
    FIELD(wasm_request_t, ndirs);
    FIELD(wasm_request_t, cgi);
    FIELD(wasm_request_t, map_cgi_filenames);
    FIELD(wasm_request_t, timeout_ms);
    FIELD(wasm_request_t, memory_limit);
    FIELD(wasm_request_t, output_limit);
    SIZE(wasm_outcome_t);
    FIELD(wasm_outcome_t, exit_code);
    FIELD(wasm_outcome_t, output_started);
    FIELD(wasm_outcome_t, body_bytes);
    FIELD(wasm_outcome_t, elapsed_us);
    FIELD(wasm_outcome_t, counted_as);
    FIELD(wasm_outcome_t, message);
    VALUE(WASM_OPT_NONE);
    VALUE(WASM_OPT_SPEED);
    VALUE(WASM_OPT_SPEED_AND_SIZE);
    VALUE(WASM_LOG_ERROR);
    VALUE(WASM_LOG_DEBUG);
    VALUE(WASM_HEADERS_CONTINUE);
    VALUE(WASM_HEADERS_DISCARD_BODY);
    VALUE(WASM_HEADERS_ABORT);
    VALUE(WASM_RUN_OK);
    VALUE(WASM_RUN_EXIT_FAILURE);
    VALUE(WASM_RUN_TRAP);
    VALUE(WASM_RUN_TIMEOUT);
    VALUE(WASM_RUN_OUTPUT_LIMIT);
    VALUE(WASM_RUN_CLIENT_GONE);
    VALUE(WASM_RUN_BAD_HEADERS);
    VALUE(WASM_RUN_SETUP_FAILED);
    VALUE(WASM_RUN_BODY_ERROR);
    VALUE(WASM_RUN_BUSY);
    VALUE(WASM_STATUS_HTML);
    VALUE(WASM_STATUS_JSON);
    VALUE(WASM_STATUS_PROMETHEUS);
    return 0;
}
