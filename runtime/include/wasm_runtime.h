/*
 * wasm_runtime.h — the C API of libwasm_runtime, the engine behind mod_wasm.
 *
 * One runtime per process holds the Wasmtime engine and every loaded module. The server loads
 * modules once, in the parent (post_config), then forks; each request runs a fresh instance.
 *
 * Ownership, in one place:
 *  - wasm_runtime_t is created by wasm_runtime_new() and owned by the caller until
 *    wasm_runtime_free().
 *  - wasm_module_t pointers are owned by the runtime. One returned by wasm_runtime_load_module()
 *    stays valid until the wasm_runtime_end_load() of a later load cycle that did not load it
 *    again, or until wasm_runtime_free().
 *  - wasm_dir_t pointers are owned by the runtime. One returned by wasm_runtime_open_dir()
 *    stays valid until the wasm_runtime_end_load() of the next load cycle, or until
 *    wasm_runtime_free().
 *  - Every `const char *` and array passed in is borrowed for the duration of the call only;
 *    the runtime copies what it keeps. Strings are NUL-terminated UTF-8 unless a length is given.
 *  - Error messages are written into caller-owned buffers (errbuf, errlen), always NUL-terminated
 *    and truncated to fit.
 *  - Callbacks in wasm_io_t are called only on the thread that called wasm_runtime_run(), and
 *    only before it returns; buffers passed to them are valid only during the callback.
 *
 * Thread safety: wasm_runtime_run() may be called from many threads at once with the same
 * runtime and modules; there is no global lock on the request path. Every other function is
 * for start-up and restart (one thread, in Apache's parent or in child_init).
 */
#ifndef WASM_RUNTIME_H
#define WASM_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The process's runtime: engine, linker and loaded modules. Opaque. */
typedef struct wasm_runtime wasm_runtime_t;
/** A compiled module, ready to instantiate. Opaque; owned by its runtime. */
typedef struct wasm_module wasm_module_t;
/** A host folder opened once for mapping into modules. Opaque; owned by its runtime. */
typedef struct wasm_dir wasm_dir_t;

/** Cranelift optimisation level (WasmEngineOptLevel). */
typedef enum {
    WASM_OPT_NONE = 0,
    WASM_OPT_SPEED = 1,
    WASM_OPT_SPEED_AND_SIZE = 2
} wasm_opt_level_t;

/** Engine-wide settings (server-wide directives). */
typedef struct {
    wasm_opt_level_t opt_level;
    /** Non-zero: use the pooling allocator (WasmPooling On). */
    int pooling;
    /** Pool slots per process (WasmPoolingMaxInstances); 0 for the default. */
    uint32_t pooling_max_instances;
    /** Folder for compiled artifacts (WasmCacheDir), or NULL for none. Borrowed. */
    const char *cache_dir;
} wasm_engine_settings_t;

/** Compile limits (WasmModuleLimits), checked before a module is compiled; 0: the default. */
typedef struct {
    /** Largest module file in bytes (module-size). */
    uint64_t max_module_size;
    /** Most functions defined, nested modules of a component included (functions). */
    uint64_t max_functions;
    /** Largest function body in bytes (function-size). */
    uint64_t max_function_size;
    /** Most data segments (data-segments). */
    uint64_t max_data_segments;
} wasm_module_limits_t;

/** What loading trusts and refuses. */
typedef struct {
    wasm_module_limits_t limits;
    /**
     * The uid requests run as (Apache's User) when it differs from the loading process's, else
     * -1: a .cwasm (or its sidecar or folder) owned by that uid is refused.
     */
    int64_t run_uid;
} wasm_load_policy_t;

/** Log levels of messages the runtime sends to the host's log. */
typedef enum {
    WASM_LOG_ERROR = 0,
    WASM_LOG_WARN = 1,
    WASM_LOG_NOTICE = 2,
    WASM_LOG_INFO = 3,
    WASM_LOG_DEBUG = 4
} wasm_log_level_t;

/** Receives one log message (NUL-terminated, valid during the call). */
typedef void (*wasm_log_fn)(wasm_log_level_t level, const char *message);

/**
 * Creates a runtime (and its engine) for `settings`. Returns NULL and fills errbuf on failure.
 * `log` receives start-up messages (compiles, cache hits, fallbacks); it may be NULL.
 */
wasm_runtime_t *wasm_runtime_new(const wasm_engine_settings_t *settings, wasm_log_fn log,
                                 char *errbuf, size_t errlen);

/** Non-zero when `rt` was created with settings equal to `settings` (so it can be reused). */
int wasm_runtime_has_settings(const wasm_runtime_t *rt, const wasm_engine_settings_t *settings);

/** Frees the runtime and every module it holds. NULL is allowed. */
void wasm_runtime_free(wasm_runtime_t *rt);

/**
 * Call once in each child process before serving (Apache's child_init): puts back the trap
 * handlers saved when the engine was created (the MPM may have replaced them before forking)
 * and starts the epoch ticker thread that enforces time limits.
 */
void wasm_runtime_child_init(wasm_runtime_t *rt);

/**
 * Starts a load cycle: modules not loaded again before wasm_runtime_end_load() are freed, and so
 * are the folders opened in the cycle before.
 */
void wasm_runtime_begin_load(wasm_runtime_t *rt);

/** Sets what the following loads trust and refuse (call before loading). */
void wasm_runtime_set_load_policy(wasm_runtime_t *rt, const wasm_load_policy_t *policy);

/**
 * Loads the module at `path` (a .wasm, or a .cwasm whose sidecar vouches for it and that only
 * its owner can change), reusing the compiled module when the same bytes are already loaded.
 * Returns NULL and fills errbuf when the file is missing, unreadable, not Wasm, over a compile
 * limit, or fails to compile.
 */
const wasm_module_t *wasm_runtime_load_module(wasm_runtime_t *rt, const char *path, char *errbuf,
                                              size_t errlen);

/**
 * Opens the host folder `host` (an absolute path with no symlink in it) for mapping into
 * modules; every request mapping it gets this very folder, whatever happens to the path later.
 * Non-zero `read_only`: modules may only read it. Returns NULL and fills errbuf on failure.
 */
const wasm_dir_t *wasm_runtime_open_dir(wasm_runtime_t *rt, const char *host, int read_only,
                                        char *errbuf, size_t errlen);

/**
 * Checks that `host` could be opened by wasm_runtime_open_dir(). For `apachectl -t`.
 * Returns 0 when fine, -1 and fills errbuf otherwise.
 */
int wasm_check_dir(const char *host, char *errbuf, size_t errlen);

/**
 * Replaces the function receiving the runtime's log messages (NULL: none). Call it at every
 * start-up pass: Apache may unload and reload the module that owns the function on restart.
 */
void wasm_runtime_set_log(wasm_runtime_t *rt, wasm_log_fn log);

/** Ends a load cycle; frees modules the cycle did not load. */
void wasm_runtime_end_load(wasm_runtime_t *rt);

/**
 * Checks, without compiling, that `path` exists, is readable and is valid Wasm within `limits`
 * (NULL: the defaults), or a .cwasm with a sidecar. For `apachectl -t`. Returns 0 when fine,
 * -1 and fills errbuf otherwise.
 */
int wasm_check_module_file(const char *path, const wasm_module_limits_t *limits, char *errbuf,
                           size_t errlen);

/**
 * Parses one `key=value` compile limit (`functions=50000`, `module-size=64M`) into *limits.
 * Returns 0, or -1 and fills errbuf (unknown key, bad value).
 */
int wasm_parse_module_limit(const char *setting, wasm_module_limits_t *limits, char *errbuf,
                            size_t errlen);

/**
 * Checks the `nargs` arguments of the directive `name` (as Apache split them) against the
 * runtime's directive table: the one validator the manifest uses too. Returns 0 and sets *out
 * (may be NULL) to the value numeric directives store — milliseconds for a duration, bytes for
 * a size, the number for a count, 0/1/2 for an opt-level (wasm_opt_level_t), 1/0 for On/Off,
 * 1 for a read-only folder — or 0 for others; or returns -1 and writes the refusal into errbuf.
 */
int wasm_directive_parse(const char *name, const char *const *args, size_t nargs, uint64_t *out,
                         char *errbuf, size_t errlen);

/** The runtime crate's version, a static string. */
const char *wasm_runtime_version(void);

/** A name/value pair (an environment variable). Borrowed. */
typedef struct {
    const char *name;
    const char *value;
} wasm_pair_t;

/** A folder a request maps: the guest path and a folder from wasm_runtime_open_dir(). */
typedef struct {
    const char *guest;
    const wasm_dir_t *dir;
} wasm_preopen_t;

/** What wasm_io_t.write_headers may answer. */
typedef enum {
    /** Headers accepted; keep sending the body. */
    WASM_HEADERS_CONTINUE = 0,
    /** Headers accepted, but the body is not wanted (e.g. a local redirect): drop it. */
    WASM_HEADERS_DISCARD_BODY = 1,
    /** Headers refused (the host logged why): stop the module. */
    WASM_HEADERS_ABORT = 2
} wasm_headers_answer_t;

/** The host's side of one request's streams. Every callback receives `ctx`. */
typedef struct {
    void *ctx;
    /**
     * Reads up to `len` bytes of the request body into `buf`, waiting at most `timeout_ms`
     * (what is left of the module's time limit). Returns the number read, 0 at the end of the
     * body, or -1 on error (client gone, body over LimitRequestBody, timeout): the module is
     * then stopped and the run ends with WASM_RUN_BODY_ERROR (WASM_RUN_TIMEOUT when the time
     * limit has passed).
     */
    long (*read_body)(void *ctx, char *buf, size_t len, uint64_t timeout_ms);
    /**
     * CGI mode only: the module's complete CGI header block (every line, up to and including
     * the empty line), already checked to hold no NUL, no bare CR and no other control bytes.
     * Called at most once, before any write_body.
     */
    wasm_headers_answer_t (*write_headers)(void *ctx, const char *buf, size_t len);
    /** Response body bytes. Returns 0, or -1 when the client is gone (the module is stopped). */
    int (*write_body)(void *ctx, const char *buf, size_t len);
    /** One line the module wrote to stderr, without its newline. */
    void (*log_stderr)(void *ctx, const char *line, size_t len);
    /**
     * Pushes the body passed so far to the client now (a FLUSH). Called when the module reads
     * the request body with output pending (it may block, and the client may be waiting for that
     * output), and when a wasi:http handler pauses between body pieces. Returns 0, or -1 when
     * the client is gone. May be NULL.
     */
    int (*flush)(void *ctx);
    /** A notice about this request from the runtime (NUL-terminated). May be NULL. */
    void (*log_notice)(void *ctx, const char *message);
    /**
     * wasi:http handlers only: the response status (200-599) and its `nfields` header fields, in
     * order, repeated names kept, already checked (token names, no control bytes in values,
     * no hop-by-hop or framing fields; at most one Content-Length, which the body then matches).
     * Called at most once, before any write_body. Answers as write_headers.
     */
    wasm_headers_answer_t (*write_head)(void *ctx, int status, const wasm_pair_t *fields,
                                        size_t nfields);
} wasm_io_t;

/** One request: which module, and what the route grants it. All borrowed for the call. */
typedef struct {
    const wasm_module_t *module;
    /** Exported function to call (WasmEntryPoint); NULL for `_start`. */
    const char *entry_point;
    /** argv[0]: the module's name as the module sees it (NULL: the module file's name). */
    const char *argv0;
    /** WasmArg values, in order (after argv[0]). */
    const char *const *args;
    size_t nargs;
    /** Environment: WasmEnv pairs and, in CGI mode, the CGI variables. */
    const wasm_pair_t *env;
    size_t nenv;
    /** Preopened folders (WasmDir, WasmMapDir), each opened at load time. */
    const wasm_preopen_t *dirs;
    size_t ndirs;
    /** Non-zero: stdout starts with CGI headers (WasmEnableCGI On). */
    int cgi;
    /** Non-zero: rewrite host paths in SCRIPT_FILENAME/PATH_TRANSLATED to guest paths. */
    int map_cgi_filenames;
    /** Limits; 0 means the runtime's default (see README: 60s, 256M, 1G). */
    uint64_t timeout_ms;
    uint64_t memory_limit;
    uint64_t output_limit;
    /**
     * The request head, for wasi:http handlers (wasm_module_kind() WASM_KIND_HTTP_COMPONENT;
     * method NULL for other kinds): method, path with query as the client sent it, scheme
     * (`http`/`https`), authority (`host[:port]`) and every request header field in order.
     */
    const char *method;
    const char *path_with_query;
    const char *scheme;
    const char *authority;
    const wasm_pair_t *headers;
    size_t nheaders;
    /** WasmAllowOutbound destinations (`host[:port]`): outgoing HTTP a component may make. */
    const char *const *outbound;
    size_t noutbound;
    /** WasmMaxOpenFiles: descriptors a preview 1 module may hold at once, stdio and folders
     *  included (opening more fails with EMFILE); 0 means the default (256). */
    uint64_t max_open_files;
} wasm_request_t;

/** How a request ended. */
typedef enum {
    /** The module ran to completion (returned or exited with 0). */
    WASM_RUN_OK = 0,
    /** The module exited with a non-zero code (exit_code). */
    WASM_RUN_EXIT_FAILURE = 1,
    /** The module trapped (message names the trap). */
    WASM_RUN_TRAP = 2,
    /** The time limit expired. */
    WASM_RUN_TIMEOUT = 3,
    /** The module wrote more than its output limit. */
    WASM_RUN_OUTPUT_LIMIT = 4,
    /** The client went away (write_body returned -1). */
    WASM_RUN_CLIENT_GONE = 5,
    /** CGI mode: the module's headers were malformed, missing, or refused by the host. */
    WASM_RUN_BAD_HEADERS = 6,
    /** The request could not start (instantiation, folders, entry point). */
    WASM_RUN_SETUP_FAILED = 7,
    /** read_body failed (the host knows the HTTP status to send). */
    WASM_RUN_BODY_ERROR = 8,
    /** Every instance slot of this process is in use: answer 503 with Retry-After. */
    WASM_RUN_BUSY = 9,
    /** The module exited with a non-zero code (exit_code) after it began its response (its CGI
     *  headers were complete, or it wrote body bytes): the response was delivered whole, as
     *  mod_cgi delivers a CGI program's output whatever its exit status. End it as on
     *  WASM_RUN_OK, and log the message. */
    WASM_RUN_EXIT_AFTER_RESPONSE = 10
} wasm_run_status_t;

/** The result of wasm_runtime_run(). Owned by the caller. */
typedef struct {
    wasm_run_status_t status;
    /** The exit code for WASM_RUN_EXIT_FAILURE and WASM_RUN_EXIT_AFTER_RESPONSE (else 0). */
    int exit_code;
    /** Non-zero once headers or body bytes reached the host (a status can no longer be sent). */
    int output_started;
    /** Total body bytes given to write_body. */
    uint64_t body_bytes;
    /** Time inside the runtime, in microseconds. */
    uint64_t elapsed_us;
    /** How wasm-status counts this run (opaque; see wasm_outcome_name()). */
    int counted_as;
    /** A one-line description for the log (empty on success). */
    char message[512];
} wasm_outcome_t;

/**
 * Runs one request to completion on the calling thread: a fresh instance of the module with
 * its own WASI context, stdin from io->read_body, stdout through io->write_headers/write_body
 * (streamed in chunks, never buffered whole), stderr to io->log_stderr. A wasi:http handler
 * reads its body through io->read_body as it asks, answers through io->write_head and
 * io->write_body, and its stdout and stderr go to io->log_stderr.
 */
void wasm_runtime_run(const wasm_runtime_t *rt, const wasm_request_t *req, const wasm_io_t *io,
                      wasm_outcome_t *outcome);

/** Fills `outcome` for a request refused before the module ran (setup or body error). */
void wasm_outcome_not_run(wasm_outcome_t *outcome, wasm_run_status_t status);

/**
 * The outcome's name for request notes and logs: ok, exit, trap, timeout, output-limit,
 * memory-limit, bad-headers, client-gone, body-error, busy or setup-failed. A static string.
 */
const char *wasm_outcome_name(const wasm_outcome_t *outcome);

/* ---- wasm-status: counters shared by every process and thread ---------------------------- */

/**
 * Starts a load cycle of the status (call in post_config, in the parent, before it forks): maps
 * the shared counters once per process, marks every route inactive until registered again, and
 * records `release` (WasmRelease; NULL or empty: none) and the time of this (re)start.
 */
void wasm_status_begin_cycle(const char *release);

/**
 * Registers a route (the server's `name:port` and the location) running `module` (may be NULL)
 * for this cycle. Returns its counter slot — the same slot as in earlier cycles for the same
 * server and route, so counts survive graceful restarts — or -1 when every slot is taken.
 */
int wasm_status_route(const char *server, const char *route, const wasm_module_t *module);

/** Counts one finished request on `slot` with the HTTP status sent. Lock-free; any thread. */
void wasm_status_record(int slot, int http_status, const wasm_outcome_t *outcome);

/** The formats of wasm_status_render(). */
typedef enum {
    WASM_STATUS_HTML = 0,
    WASM_STATUS_JSON = 1,
    WASM_STATUS_PROMETHEUS = 2
} wasm_status_format_t;

/**
 * Renders the status (loaded modules of `rt`, which may be NULL, and every route's counters) in
 * `format`, with Apache's configuration generation. Returns a NUL-terminated string owned by the
 * caller, to free with wasm_string_free(); NULL on failure.
 */
char *wasm_status_render(const wasm_runtime_t *rt, wasm_status_format_t format,
                         int64_t config_generation);

/** Frees a string returned by this API. NULL is allowed. */
void wasm_string_free(char *s);

/** How a loaded module is served, told from its binary. */
typedef enum {
    /** A core module: a WASI preview 1 command (CGI on stdout with WasmEnableCGI). */
    WASM_KIND_MODULE = 0,
    /** A component exporting wasi:http/incoming-handler: the request head is passed as is. */
    WASM_KIND_HTTP_COMPONENT = 1,
    /** A component exporting wasi:cli/run: as a preview 1 command. */
    WASM_KIND_COMMAND_COMPONENT = 2
} wasm_module_kind_t;

/** The kind of `module` (NULL: WASM_KIND_MODULE). */
wasm_module_kind_t wasm_module_kind(const wasm_module_t *module);

/** The module's SHA-256 (64 hex digits), owned by the module. */
const char *wasm_module_sha256(const wasm_module_t *module);

#ifdef __cplusplus
}
#endif

#endif /* WASM_RUNTIME_H */
