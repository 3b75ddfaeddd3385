/* Licensed under the Apache License, Version 2.0.
 *
 * mod_wasm.c: serve WebAssembly (WASI) modules as HTTP endpoints.
 *
 * A thin translation layer between Apache and libwasm_runtime (runtime/include/wasm_runtime.h):
 * per-directory configuration and its merge, the directive table, start-up hooks that load each
 * module once in the parent, and a handler that runs one fresh instance per request with the
 * request body as stdin and stdout streamed back through Apache's output filters. Policy (limits,
 * CGI header checks, caching, isolation) lives in the runtime.
 *
 *   <Location /hello>
 *       SetHandler wasm-handler
 *       WasmModule /srv/wasm/hello.wasm
 *   </Location>
 */

#include "apr_strings.h"
#include "apr_tables.h"
#include "apr_buckets.h"
#include "apr_lib.h"
#include "apr_atomic.h"
#include "apr_poll.h"

#include "ap_config.h"
#include "ap_mpm.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_script.h"
#include "unixd.h"
#include "ap_listen.h"

#include <unistd.h>

#include "wasm_runtime.h"

APLOG_USE_MODULE(wasm);

#define WASM_HANDLER "wasm-handler"
#define WASM_STATUS_HANDLER "wasm-status"
/* Stable tags for log lines, as Apache's APLOGNO: "MW" and four digits, never reused, so a
 * line can be searched for across versions. */
#define WASMLOGNO(n) "MW" #n ": "
#define WASM_ERRLEN 1024

/* ------------------------------------------------------------------------------------------ */
/* Configuration                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* One WasmModule directive: recorded while parsing, loaded in post_config. Lives in pconf. */
typedef struct {
    const char *path;              /* as written */
    const char *root;              /* WasmRoot of the same section, if any */
    server_rec *server;            /* the server (vhost) it was configured in */
    const char *route;             /* the section it was configured in (wasm-status, notes) */
    const char *resolved;          /* absolute path, set in post_config */
    const wasm_module_t *handle;   /* owned by the runtime; NULL when loading failed */
    int slot;                      /* its wasm-status counters; -1 when none */
} wasm_module_ref;

/* One WasmDir/WasmMapDir directive: recorded while parsing, opened in post_config. In pconf. */
typedef struct {
    const char *guest;
    const char *host;              /* absolute (relative ones are under ServerRoot) */
    int read_only;
    const wasm_dir_t *handle;      /* owned by the runtime; NULL when opening failed */
} wasm_dir_ref;

/* Per-directory configuration. Unset fields inherit from the enclosing section. */
typedef struct {
    const char *location;          /* the <Location> path, for SCRIPT_NAME/PATH_INFO */
    wasm_module_ref *module;
    const char *root;
    apr_array_header_t *args;      /* const char * */
    apr_array_header_t *env;       /* wasm_pair_t */
    apr_array_header_t *dirs;      /* wasm_dir_ref * */
    int cgi;                       /* -1 unset */
    int map_cgi_filenames;         /* -1 unset */
    const char *entry_point;
    apr_uint64_t timeout_ms;       /* 0 unset */
    apr_uint64_t memory_limit;
    apr_uint64_t output_limit;
    apr_uint64_t max_open_files;
    apr_array_header_t *outbound;  /* const char *: WasmAllowOutbound host[:port] */
} wasm_dir_conf;

/* Server-wide engine settings (meaningful in the main server only). */
typedef struct {
    int opt_level;                 /* -1 unset */
    int pooling;                   /* -1 unset */
    unsigned int pooling_max_instances;
    const char *cache_dir;
    wasm_module_limits_t limits;   /* WasmModuleLimits; 0 fields: defaults */
    const char *release;           /* WasmRelease */
} wasm_server_conf;

/* The process's runtime. It survives restarts (Apache unloads and reloads this module; the
 * pointer is kept in the process pool and libwasm_runtime.so is linked "nodelete"), so a
 * graceful restart reuses every unchanged module. */
static wasm_runtime_t *runtime = NULL;
#define WASM_RUNTIME_KEY "mod_wasm::runtime"
/* Every WasmModule and every mapped folder of the configuration being read (in pconf). */
static apr_array_header_t *module_refs = NULL;
static apr_array_header_t *dir_refs = NULL;

static void *create_wasm_dir_config(apr_pool_t *p, char *dir)
{
    wasm_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));
    conf->cgi = -1;
    conf->map_cgi_filenames = -1;
    return conf;
}

static void *merge_wasm_dir_config(apr_pool_t *p, void *basev, void *addv)
{
    wasm_dir_conf *base = basev, *add = addv;
    wasm_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->location = add->location ? add->location : base->location;
    conf->module = add->module ? add->module : base->module;
    conf->root = add->root ? add->root : base->root;
    conf->args = add->args ? add->args : base->args;
    conf->outbound = add->outbound ? add->outbound : base->outbound;
    conf->env = add->env ? add->env : base->env;
    conf->dirs = add->dirs ? add->dirs : base->dirs;
    conf->cgi = add->cgi != -1 ? add->cgi : base->cgi;
    conf->map_cgi_filenames = add->map_cgi_filenames != -1 ? add->map_cgi_filenames
                                                           : base->map_cgi_filenames;
    conf->entry_point = add->entry_point ? add->entry_point : base->entry_point;
    conf->timeout_ms = add->timeout_ms ? add->timeout_ms : base->timeout_ms;
    conf->memory_limit = add->memory_limit ? add->memory_limit : base->memory_limit;
    conf->output_limit = add->output_limit ? add->output_limit : base->output_limit;
    conf->max_open_files = add->max_open_files ? add->max_open_files : base->max_open_files;
    return conf;
}

static void *create_wasm_server_config(apr_pool_t *p, server_rec *s)
{
    wasm_server_conf *conf = apr_pcalloc(p, sizeof(*conf));
    conf->opt_level = -1;
    conf->pooling = -1;
    return conf;
}

/* ------------------------------------------------------------------------------------------ */
/* Directives: they only record.                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Remember the <Location> a directive sits in, for SCRIPT_NAME and PATH_INFO. */
static void note_location(cmd_parms *cmd, wasm_dir_conf *conf)
{
    const ap_directive_t *parent = cmd->directive ? cmd->directive->parent : NULL;
    if (parent && cmd->path && strcasecmp(parent->directive, "<Location") == 0) {
        conf->location = cmd->path;
    }
}

/* Checks a directive's arguments with the runtime's directive table (the validator the manifest
 * uses too); stores the numeric value in *out when out is not NULL. NULL or the refusal. */
static const char *check_args(cmd_parms *cmd, apr_uint64_t *out, int nargs, const char *a1,
                              const char *a2, const char *a3)
{
    const char *args[3] = { a1, a2, a3 };
    apr_uint64_t value = 0;
    char err[WASM_ERRLEN];
    if (wasm_directive_parse(cmd->cmd->name, args, (size_t)nargs, &value, err, sizeof(err))
        != 0) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, err);
    }
    if (out) {
        *out = value;
    }
    return NULL;
}

#define CHECK1(cmd, out, a) check_args(cmd, out, 1, a, NULL, NULL)

/* Server-wide directives: the main server only; NULL or why not. */
static const char *server_wide(cmd_parms *cmd, wasm_server_conf **conf)
{
    *conf = ap_get_module_config(cmd->server->module_config, &wasm_module);
    return ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

static const char *set_module(cmd_parms *cmd, void *mconfig, const char *path)
{
    wasm_dir_conf *conf = mconfig;
    wasm_module_ref *ref;
    const char *err = CHECK1(cmd, NULL, path);
    if (err) {
        return err;
    }
    note_location(cmd, conf);
    ref = apr_pcalloc(cmd->pool, sizeof(*ref));
    ref->path = path;
    ref->root = conf->root;
    ref->server = cmd->server;
    ref->route = cmd->path ? cmd->path : "/";
    ref->slot = -1;
    conf->module = ref;
    if (module_refs) {
        APR_ARRAY_PUSH(module_refs, wasm_module_ref *) = ref;
    }
    return NULL;
}

static const char *set_root(cmd_parms *cmd, void *mconfig, const char *dir)
{
    wasm_dir_conf *conf = mconfig;
    const char *err = CHECK1(cmd, NULL, dir);
    if (err) {
        return err;
    }
    note_location(cmd, conf);
    conf->root = dir;
    if (conf->module && !conf->module->root) {
        conf->module->root = dir;   /* WasmRoot after WasmModule in the same section */
    }
    return NULL;
}

static apr_array_header_t *own_list(apr_pool_t *p, apr_array_header_t **list, int elt_size)
{
    if (!*list) {
        *list = apr_array_make(p, 4, elt_size);
    }
    return *list;
}

static const char *add_arg(cmd_parms *cmd, void *mconfig, const char *arg)
{
    wasm_dir_conf *conf = mconfig;
    note_location(cmd, conf);
    APR_ARRAY_PUSH(own_list(cmd->pool, &conf->args, sizeof(const char *)), const char *) = arg;
    return NULL;
}

static const char *add_outbound(cmd_parms *cmd, void *mconfig, const char *dest)
{
    wasm_dir_conf *conf = mconfig;
    const char *err = CHECK1(cmd, NULL, dest);
    if (err) {
        return err;
    }
    APR_ARRAY_PUSH(own_list(cmd->pool, &conf->outbound, sizeof(const char *)), const char *) = dest;
    return NULL;
}

static const char *add_env(cmd_parms *cmd, void *mconfig, const char *name, const char *value)
{
    wasm_dir_conf *conf = mconfig;
    wasm_pair_t *pair;
    const char *err = check_args(cmd, NULL, 2, name, value, NULL);
    if (err) {
        return err;
    }
    note_location(cmd, conf);
    pair = apr_array_push(own_list(cmd->pool, &conf->env, sizeof(wasm_pair_t)));
    pair->name = name;
    pair->value = value;
    return NULL;
}

/* Records a folder mapping; the folder is opened in post_config, never by path later. */
static const char *record_dir(cmd_parms *cmd, wasm_dir_conf *conf, const char *guest,
                              const char *host, apr_uint64_t read_only)
{
    wasm_dir_ref *ref = apr_pcalloc(cmd->pool, sizeof(*ref));
    note_location(cmd, conf);
    ref->guest = guest;
    ref->host = ap_server_root_relative(cmd->pool, host);
    if (!ref->host) {
        return apr_psprintf(cmd->pool, "%s: invalid path '%s'", cmd->cmd->name, host);
    }
    ref->read_only = read_only != 0;
    APR_ARRAY_PUSH(own_list(cmd->pool, &conf->dirs, sizeof(wasm_dir_ref *)), wasm_dir_ref *) = ref;
    if (dir_refs) {
        APR_ARRAY_PUSH(dir_refs, wasm_dir_ref *) = ref;
    }
    return NULL;
}

/* WasmMapDir guest host [ro|rw] */
static const char *add_map_dir(cmd_parms *cmd, void *mconfig, const char *guest, const char *host,
                               const char *mode)
{
    apr_uint64_t read_only;
    const char *err = check_args(cmd, &read_only, mode ? 3 : 2, guest, host, mode);
    return err ? err : record_dir(cmd, mconfig, guest, host, read_only);
}

/* WasmDir host [ro|rw]: the host folder under its own path. */
static const char *add_dir(cmd_parms *cmd, void *mconfig, const char *host, const char *mode)
{
    apr_uint64_t read_only;
    const char *err = check_args(cmd, &read_only, mode ? 2 : 1, host, mode, NULL);
    return err ? err : record_dir(cmd, mconfig, host, host, read_only);
}

static const char *set_cgi(cmd_parms *cmd, void *mconfig, int on)
{
    wasm_dir_conf *conf = mconfig;
    note_location(cmd, conf);
    conf->cgi = on;
    return NULL;
}

static const char *set_map_cgi_filenames(cmd_parms *cmd, void *mconfig, int on)
{
    wasm_dir_conf *conf = mconfig;
    note_location(cmd, conf);
    conf->map_cgi_filenames = on;
    return NULL;
}

static const char *set_entry_point(cmd_parms *cmd, void *mconfig, const char *name)
{
    wasm_dir_conf *conf = mconfig;
    const char *err = CHECK1(cmd, NULL, name);
    note_location(cmd, conf);
    if (!err) {
        conf->entry_point = name;
    }
    return err;
}

/* WasmTimeout, WasmMemoryLimit, WasmOutputLimit, WasmMaxOpenFiles: the field is named by the
 * command's cmd_data. */
static const char *set_limit(cmd_parms *cmd, void *mconfig, const char *value)
{
    wasm_dir_conf *conf = mconfig;
    apr_uint64_t *field = (apr_uint64_t *)((char *)conf + (apr_size_t)cmd->info);
    note_location(cmd, conf);
    return CHECK1(cmd, field, value);
}

static const char *set_opt_level(cmd_parms *cmd, void *dummy, const char *value)
{
    wasm_server_conf *conf;
    apr_uint64_t level;
    const char *err = server_wide(cmd, &conf);
    if (!err && !(err = CHECK1(cmd, &level, value))) {
        conf->opt_level = (int)level;
    }
    return err;
}

static const char *set_pooling(cmd_parms *cmd, void *dummy, int on)
{
    wasm_server_conf *conf;
    const char *err = server_wide(cmd, &conf);
    if (!err) {
        conf->pooling = on;
    }
    return err;
}

static const char *set_pooling_max_instances(cmd_parms *cmd, void *dummy, const char *value)
{
    wasm_server_conf *conf;
    apr_uint64_t n;
    const char *err = server_wide(cmd, &conf);
    if (!err && !(err = CHECK1(cmd, &n, value))) {
        conf->pooling_max_instances = (unsigned int)n;
    }
    return err;
}

static const char *set_cache_dir(cmd_parms *cmd, void *dummy, const char *dir)
{
    wasm_server_conf *conf;
    const char *err = server_wide(cmd, &conf);
    if (!err && !(err = CHECK1(cmd, NULL, dir))) {
        conf->cache_dir = ap_server_root_relative(cmd->pool, dir);
        if (!conf->cache_dir) {
            return apr_pstrcat(cmd->pool, "WasmCacheDir: invalid path ", dir, NULL);
        }
    }
    return err;
}

static const char *set_release(cmd_parms *cmd, void *dummy, const char *id)
{
    wasm_server_conf *conf;
    const char *err = server_wide(cmd, &conf);
    if (!err && !(err = CHECK1(cmd, NULL, id))) {
        conf->release = id;
    }
    return err;
}

/* WasmModuleLimits key=value...: compile limits, validated by the runtime. */
static const char *add_module_limit(cmd_parms *cmd, void *dummy, const char *setting)
{
    wasm_server_conf *conf;
    char msg[WASM_ERRLEN];
    const char *err = server_wide(cmd, &conf);
    if (!err && wasm_parse_module_limit(setting, &conf->limits, msg, sizeof(msg)) != 0) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, msg);
    }
    return err;
}

#define LIMIT_FIELD(f) ((void *)APR_OFFSETOF(wasm_dir_conf, f))

/* Names, arities and help strings match the runtime's directive table (runtime/src/directives.rs);
 * runtime/tests/directive_table.rs checks it. */
static const command_rec wasm_cmds[] = {
    AP_INIT_TAKE1("WasmModule", set_module, NULL, OR_ALL,
                  "the WebAssembly module (.wasm, or .cwasm with its sidecar) to run"),
    AP_INIT_TAKE1("WasmRoot", set_root, NULL, OR_ALL,
                  "base folder for relative WasmModule paths"),
    AP_INIT_ITERATE("WasmArg", add_arg, NULL, OR_ALL,
                    "arguments passed to the module after argv[0]"),
    AP_INIT_TAKE2("WasmEnv", add_env, NULL, OR_ALL,
                  "an environment variable for the module: name and value"),
    AP_INIT_TAKE12("WasmDir", add_dir, NULL, OR_ALL,
                   "a host folder preopened at the same path inside the module; ro: read-only"),
    AP_INIT_TAKE23("WasmMapDir", add_map_dir, NULL, OR_ALL,
                   "a host folder preopened inside the module: guest path, host path, [ro|rw]"),
    AP_INIT_FLAG("WasmEnableCGI", set_cgi, NULL, OR_ALL,
                 "On: CGI variables in the environment and CGI headers on stdout"),
    AP_INIT_FLAG("WasmMapCGIFileNames", set_map_cgi_filenames, NULL, OR_ALL,
                 "On: SCRIPT_FILENAME, PATH_TRANSLATED, DOCUMENT_ROOT use guest paths "
                 "(dropped when outside every mapping)"),
    AP_INIT_TAKE1("WasmEntryPoint", set_entry_point, NULL, OR_ALL,
                  "the exported function to call (default _start)"),
    AP_INIT_TAKE1("WasmTimeout", set_limit, LIMIT_FIELD(timeout_ms), OR_ALL,
                  "time limit per request, computing or blocked, e.g. 500ms, 5s, 2mi (default 60s)"),
    AP_INIT_TAKE1("WasmMemoryLimit", set_limit, LIMIT_FIELD(memory_limit), OR_ALL,
                  "linear memory limit per request, e.g. 64M (default 256M)"),
    AP_INIT_TAKE1("WasmOutputLimit", set_limit, LIMIT_FIELD(output_limit), OR_ALL,
                  "response body limit per request, e.g. 16M (default 1G)"),
    AP_INIT_TAKE1("WasmMaxOpenFiles", set_limit, LIMIT_FIELD(max_open_files), OR_ALL,
                  "descriptors a preview 1 module may hold open per request, stdio and folders "
                  "included; EMFILE beyond (default 256)"),
    AP_INIT_ITERATE("WasmAllowOutbound", add_outbound, NULL, OR_ALL,
                    "outgoing HTTP a component may make: host[:port] (no port: 80 and 443); "
                    "default none"),
    AP_INIT_TAKE1("WasmEngineOptLevel", set_opt_level, NULL, RSRC_CONF,
                  "Cranelift optimisation: none, speed or speed-and-size (default speed)"),
    AP_INIT_FLAG("WasmPooling", set_pooling, NULL, RSRC_CONF,
                 "pooling instance allocator (default On)"),
    AP_INIT_TAKE1("WasmPoolingMaxInstances", set_pooling_max_instances, NULL, RSRC_CONF,
                  "instance slots per process, 1 to 100000 (default: threads per child + 8)"),
    AP_INIT_TAKE1("WasmCacheDir", set_cache_dir, NULL, RSRC_CONF,
                  "folder for compiled modules, reused across starts"),
    AP_INIT_TAKE1("WasmRelease", set_release, NULL, RSRC_CONF,
                  "the release (bundle id) this configuration serves, shown by wasm-status"),
    AP_INIT_ITERATE("WasmModuleLimits", add_module_limit, NULL, RSRC_CONF,
                    "compile limits: module-size=SIZE functions=N function-size=SIZE "
                    "data-segments=N"),
    {NULL}
};

/* ------------------------------------------------------------------------------------------ */
/* Start-up: record in pre_config, validate in check_config, load once in post_config.        */
/* ------------------------------------------------------------------------------------------ */

static void log_from_runtime(wasm_log_level_t level, const char *message)
{
    int ap_level;
    switch (level) {
    case WASM_LOG_ERROR:  ap_level = APLOG_ERR; break;
    case WASM_LOG_WARN:   ap_level = APLOG_WARNING; break;
    case WASM_LOG_NOTICE: ap_level = APLOG_NOTICE; break;
    case WASM_LOG_INFO:   ap_level = APLOG_INFO; break;
    default:              ap_level = APLOG_DEBUG; break;
    }
    ap_log_error(APLOG_MARK, ap_level, 0, ap_server_conf, WASMLOGNO(0001) "mod_wasm: %s", message);
}

static int wasm_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    module_refs = apr_array_make(pconf, 8, sizeof(wasm_module_ref *));
    dir_refs = apr_array_make(pconf, 8, sizeof(wasm_dir_ref *));
    return OK;
}

static const char *resolve_module_path(apr_pool_t *p, wasm_module_ref *ref, server_rec *main)
{
    const char *root = ref->root;
    if (ref->path[0] == '/') {
        return ref->path;
    }
    if (!root) {
        wasm_dir_conf *vhost = ap_get_module_config(ref->server->lookup_defaults, &wasm_module);
        root = vhost->root;
    }
    if (!root) {
        wasm_dir_conf *top = ap_get_module_config(main->lookup_defaults, &wasm_module);
        root = top->root;
    }
    if (root) {
        char *full = NULL;
        if (apr_filepath_merge(&full, ap_server_root_relative(p, root), ref->path,
                               APR_FILEPATH_TRUENAME, p) == APR_SUCCESS) {
            return full;
        }
        return apr_pstrcat(p, root, "/", ref->path, NULL);
    }
    return ap_server_root_relative(p, ref->path);
}

static int wasm_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                             server_rec *s)
{
    int i, failed = 0;
    int testing = ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_CONFIG_TEST;
    wasm_server_conf *sconf = ap_get_module_config(s->module_config, &wasm_module);

    for (i = 0; testing && i < dir_refs->nelts; i++) {
        wasm_dir_ref *ref = APR_ARRAY_IDX(dir_refs, i, wasm_dir_ref *);
        char err[WASM_ERRLEN];
        if (wasm_check_dir(ref->host, err, sizeof(err)) != 0) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, WASMLOGNO(0002) "mod_wasm: %s", err);
            failed = 1;
        }
    }
    for (i = 0; i < module_refs->nelts; i++) {
        wasm_module_ref *ref = APR_ARRAY_IDX(module_refs, i, wasm_module_ref *);
        char err[WASM_ERRLEN];
        apr_finfo_t finfo;
        ref->resolved = resolve_module_path(pconf, ref, s);
        if (testing) {
            /* apachectl -t: the file exists, is readable and is valid Wasm; nothing compiles. */
            if (wasm_check_module_file(ref->resolved, &sconf->limits, err, sizeof(err)) != 0) {
                ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s, WASMLOGNO(0003) "mod_wasm: %s", err);
                failed = 1;
            }
        }
        else if (apr_stat(&finfo, ref->resolved, APR_FINFO_TYPE, ptemp) != APR_SUCCESS
                 || finfo.filetype != APR_REG) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, s,
                         WASMLOGNO(0004) "mod_wasm: WasmModule %s: no such file", ref->resolved);
            failed = 1;
        }
    }
    return failed ? !OK : OK;
}

static void engine_settings(server_rec *s, wasm_engine_settings_t *settings)
{
    wasm_server_conf *conf = ap_get_module_config(s->module_config, &wasm_module);
    int threads = 1;
    memset(settings, 0, sizeof(*settings));
    settings->opt_level = conf->opt_level == -1 ? WASM_OPT_SPEED : conf->opt_level;
    settings->pooling = conf->pooling == -1 ? 1 : conf->pooling;
    if (conf->pooling_max_instances) {
        settings->pooling_max_instances = conf->pooling_max_instances;
    }
    else {
        if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS || threads < 1) {
            threads = 1;
        }
        settings->pooling_max_instances = (uint32_t)threads + 8;
    }
    settings->cache_dir = conf->cache_dir;
}

/* `ServerName:port` of a (virtual) server, as wasm-status names it. */
static const char *server_label(apr_pool_t *p, server_rec *server)
{
    apr_port_t port = server->port;
    if (!port && server->addrs) {
        port = server->addrs->host_port;
    }
    if (!port && ap_listeners && ap_listeners->bind_addr) {
        port = ap_listeners->bind_addr->port;   /* the main server: its first Listen */
    }
    return apr_psprintf(p, "%s:%u", server->server_hostname ? server->server_hostname : "",
                        (unsigned)port);
}

/* Compile limits, and the user requests run as when it is not the one loading (root). */
static void load_policy(server_rec *s, wasm_load_policy_t *policy)
{
    wasm_server_conf *conf = ap_get_module_config(s->module_config, &wasm_module);
    memset(policy, 0, sizeof(*policy));
    policy->limits = conf->limits;
    policy->run_uid = ap_unixd_config.user_id != geteuid() ? (int64_t)ap_unixd_config.user_id
                                                            : -1;
}

static int wasm_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                            server_rec *s)
{
    wasm_engine_settings_t settings;
    wasm_load_policy_t policy;
    char err[WASM_ERRLEN];
    int i, loaded = 0;

    /* Apache reads its configuration twice at start-up; load on the real pass only. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (!runtime) {
        void *kept = NULL;
        apr_pool_userdata_get(&kept, WASM_RUNTIME_KEY, s->process->pool);
        runtime = kept;
    }
    wasm_status_begin_cycle(((wasm_server_conf *)ap_get_module_config(s->module_config,
                                                                       &wasm_module))->release);
    if (module_refs->nelts == 0 && !runtime) {
        return OK;
    }

    engine_settings(s, &settings);
    if (runtime && !wasm_runtime_has_settings(runtime, &settings)) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     WASMLOGNO(0005) "mod_wasm: engine settings changed; recompiling every module");
        wasm_runtime_free(runtime);
        runtime = NULL;
        apr_pool_userdata_set(NULL, WASM_RUNTIME_KEY, NULL, s->process->pool);
    }
    if (!runtime) {
        runtime = wasm_runtime_new(&settings, log_from_runtime, err, sizeof(err));
        if (!runtime) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, WASMLOGNO(0006) "mod_wasm: %s", err);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        /* No pool cleanup: it would point into this module, which restarts unload. The
         * runtime lives as long as the process. */
        apr_pool_userdata_set(runtime, WASM_RUNTIME_KEY, NULL, s->process->pool);
    }
    /* This module may have been reloaded at another address: point the runtime at it again. */
    wasm_runtime_set_log(runtime, log_from_runtime);

    wasm_runtime_begin_load(runtime);
    load_policy(s, &policy);
    wasm_runtime_set_load_policy(runtime, &policy);
    for (i = 0; i < dir_refs->nelts; i++) {
        wasm_dir_ref *ref = APR_ARRAY_IDX(dir_refs, i, wasm_dir_ref *);
        ref->handle = wasm_runtime_open_dir(runtime, ref->host, ref->read_only, err, sizeof(err));
        if (!ref->handle) {
            /* Keep serving everything else; routes mapping it answer 500 until fixed. */
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, WASMLOGNO(0007) "mod_wasm: %s", err);
        }
    }
    for (i = 0; i < module_refs->nelts; i++) {
        wasm_module_ref *ref = APR_ARRAY_IDX(module_refs, i, wasm_module_ref *);
        if (!ref->resolved) {
            ref->resolved = resolve_module_path(pconf, ref, s);
        }
        ref->handle = wasm_runtime_load_module(runtime, ref->resolved, err, sizeof(err));
        if (!ref->handle) {
            /* Keep serving everything else; this route answers 500 until fixed. */
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, WASMLOGNO(0008) "mod_wasm: %s", err);
        }
        else {
            loaded++;
        }
        ref->slot = wasm_status_route(server_label(pconf, ref->server), ref->route, ref->handle);
    }
    wasm_runtime_end_load(runtime);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 WASMLOGNO(0009) "mod_wasm: %d of %d module reference(s) ready (runtime %s)", loaded,
                 module_refs->nelts, wasm_runtime_version());
    return OK;
}

static void wasm_child_init(apr_pool_t *p, server_rec *s)
{
    if (runtime) {
        wasm_runtime_child_init(runtime);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The handler                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* One request's state, shared with the runtime's callbacks. */
typedef struct {
    request_rec *r;
    const char *tag;               /* the location, for log lines */
    apr_bucket_brigade *in;
    apr_bucket_brigade *out;
    int body_done;
    int body_status;               /* HTTP status of a failed body read, else 0 */
    int header_status;             /* non-OK result of header parsing, else 0 */
    const char *redirect;          /* Location to follow after the run */
    int send_failed;
} wasm_request_ctx;

/* Waits until the client's socket is readable, at most `wait`. */
static apr_status_t wait_readable(request_rec *r, apr_socket_t *sock, apr_interval_time_t wait)
{
    apr_pollfd_t pfd;
    apr_int32_t ready;
    apr_status_t rv;

    memset(&pfd, 0, sizeof(pfd));
    pfd.p = r->pool;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.reqevents = APR_POLLIN;
    pfd.desc.s = sock;
    do {
        rv = apr_poll(&pfd, 1, &ready, wait);
    } while (APR_STATUS_IS_EINTR(rv));   /* the next round re-checks the deadline */
    return rv;
}

/* Reads request body bytes for the module, waiting at most `timeout_ms` (the module's time left)
 * or the server's Timeout, whichever comes first. On a client's own connection the read is
 * non-blocking and the wait is a poll with that bound, so a stalled upload cannot hold the
 * worker past the module's deadline (mod_reqtimeout still applies its own limits). */
static long read_body(void *vctx, char *buf, size_t len, apr_uint64_t timeout_ms)
{
    wasm_request_ctx *ctx = vctx;
    request_rec *r = ctx->r;
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(timeout_ms);
    apr_socket_t *sock = r->connection->master ? NULL : ap_get_conn_socket(r->connection);
    apr_status_t rv;
    apr_size_t n;
    apr_bucket *b;

    while (!ctx->body_done) {
        apr_brigade_cleanup(ctx->in);
        rv = ap_get_brigade(r->input_filters, ctx->in, AP_MODE_READBYTES,
                            sock ? APR_NONBLOCK_READ : APR_BLOCK_READ,
                            len > APR_BUCKET_BUFF_SIZE * 8 ? APR_BUCKET_BUFF_SIZE * 8 : len);
        if (sock && (APR_STATUS_IS_EAGAIN(rv)
                     || (rv == APR_SUCCESS && APR_BRIGADE_EMPTY(ctx->in)))) {
            apr_interval_time_t left = deadline - apr_time_now();
            int module_deadline = left <= r->server->timeout;
            if (left > 0) {
                rv = wait_readable(r, sock, module_deadline ? left : r->server->timeout);
                if (rv == APR_SUCCESS) {
                    continue;
                }
            }
            ctx->body_done = 1;
            ctx->body_status = module_deadline ? HTTP_GATEWAY_TIME_OUT : HTTP_REQUEST_TIME_OUT;
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          WASMLOGNO(0010) "mod_wasm: %s: no request body within %s", ctx->tag,
                          module_deadline ? "the module's time limit" : "Timeout");
            return -1;
        }
        if (rv != APR_SUCCESS) {
            ctx->body_done = 1;
            ctx->body_status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r,
                          WASMLOGNO(0011) "mod_wasm: %s: reading the request body failed (%d)", ctx->tag,
                          ctx->body_status);
            return -1;
        }
        for (b = APR_BRIGADE_FIRST(ctx->in); b != APR_BRIGADE_SENTINEL(ctx->in);
             b = APR_BUCKET_NEXT(b)) {
            if (APR_BUCKET_IS_EOS(b)) {
                ctx->body_done = 1;
            }
        }
        n = len;
        if (apr_brigade_flatten(ctx->in, buf, &n) != APR_SUCCESS) {
            ctx->body_done = 1;
            ctx->body_status = HTTP_BAD_REQUEST;
            return -1;
        }
        if (n > 0) {
            return (long)n;
        }
    }
    return 0;
}

static wasm_headers_answer_t write_headers(void *vctx, const char *buf, size_t len)
{
    wasm_request_ctx *ctx = vctx;
    request_rec *r = ctx->r;
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    char sbuf[MAX_STRING_LEN];
    const char *location;
    int ret;

    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_transient_create(buf, len, bb->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(bb->bucket_alloc));
    ret = ap_scan_script_header_err_brigade_ex(r, bb, sbuf, APLOG_MODULE_INDEX);
    apr_brigade_destroy(bb);
    if (ret != OK) {
        ctx->header_status = ret;
        if (ret == HTTP_NOT_MODIFIED) {
            return WASM_HEADERS_DISCARD_BODY;
        }
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WASMLOGNO(0012) "mod_wasm: %s: bad CGI headers: %s",
                      ctx->tag, sbuf);
        return WASM_HEADERS_ABORT;
    }
    location = apr_table_get(r->headers_out, "Location");
    if (location && r->status == HTTP_OK) {
        ctx->redirect = location;   /* as mod_cgi: the body of a redirect is dropped */
        return WASM_HEADERS_DISCARD_BODY;
    }
    return WASM_HEADERS_CONTINUE;
}

/* A wasi:http handler's response head, already checked by the runtime (status 200-599, no
 * control bytes, no hop-by-hop fields): no CGI parsing, repeated fields kept. */
static wasm_headers_answer_t write_head(void *vctx, int status, const wasm_pair_t *fields,
                                        size_t nfields)
{
    wasm_request_ctx *ctx = vctx;
    request_rec *r = ctx->r;
    apr_off_t length;
    size_t i;

    r->status = status;
    /* A status Apache has no reason phrase for (418, 299, ...) would be sent as 500. */
    if (atoi(ap_get_status_line(status)) != status) {
        r->status_line = apr_psprintf(r->pool, "%d Status %d", status, status);
    }
    for (i = 0; i < nfields; i++) {
        const char *name = fields[i].name, *value = fields[i].value;
        if (!strcasecmp(name, "Content-Type")) {
            ap_set_content_type(r, apr_pstrdup(r->pool, value));
        }
        else if (!strcasecmp(name, "Content-Length")) {
            if (apr_strtoff(&length, value, NULL, 10) == APR_SUCCESS && length >= 0) {
                ap_set_content_length(r, length);
            }
        }
        else {
            apr_table_add(r->headers_out, name, value);
        }
    }
    return WASM_HEADERS_CONTINUE;
}

static int write_body(void *vctx, const char *buf, size_t len)
{
    wasm_request_ctx *ctx = vctx;
    request_rec *r = ctx->r;
    apr_status_t rv;

    if (ctx->send_failed || r->connection->aborted) {
        return -1;
    }
    APR_BRIGADE_INSERT_TAIL(ctx->out, apr_bucket_transient_create(buf, len,
                                                                  ctx->out->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, ctx->out);
    apr_brigade_cleanup(ctx->out);
    if (rv != APR_SUCCESS || r->connection->aborted) {
        ctx->send_failed = 1;
        return -1;
    }
    return 0;
}

static int flush_body(void *vctx)
{
    wasm_request_ctx *ctx = vctx;
    request_rec *r = ctx->r;
    apr_status_t rv;

    if (ctx->send_failed || r->connection->aborted) {
        return -1;
    }
    APR_BRIGADE_INSERT_TAIL(ctx->out, apr_bucket_flush_create(ctx->out->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, ctx->out);
    apr_brigade_cleanup(ctx->out);
    if (rv != APR_SUCCESS || r->connection->aborted) {
        ctx->send_failed = 1;
        return -1;
    }
    return 0;
}

static void log_stderr(void *vctx, const char *line, size_t len)
{
    wasm_request_ctx *ctx = vctx;
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, ctx->r, WASMLOGNO(0013) "mod_wasm: %s: stderr: %.*s", ctx->tag,
                  (int)len, line);
}

static void log_notice(void *vctx, const char *message)
{
    wasm_request_ctx *ctx = vctx;
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, ctx->r, WASMLOGNO(0014) "mod_wasm: %s: %s", ctx->tag, message);
}

/* The request's folders as the runtime wants them; NULL (and a log line) if one is not open. */
static const wasm_preopen_t *build_preopens(request_rec *r, wasm_dir_conf *conf)
{
    wasm_preopen_t *preopens;
    int i;

    if (!conf->dirs || conf->dirs->nelts == 0) {
        return NULL;
    }
    preopens = apr_pcalloc(r->pool, sizeof(*preopens) * conf->dirs->nelts);
    for (i = 0; i < conf->dirs->nelts; i++) {
        wasm_dir_ref *ref = APR_ARRAY_IDX(conf->dirs, i, wasm_dir_ref *);
        if (!ref->handle) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          WASMLOGNO(0015) "mod_wasm: folder %s is not open (see the start-up log)", ref->host);
            return NULL;
        }
        preopens[i].guest = ref->guest;
        preopens[i].dir = ref->handle;
    }
    return preopens;
}

/* An exhausted instance pool: 503, logged once a second at most however many requests see it. */
static int answer_busy(request_rec *r, const char *tag)
{
    static apr_uint32_t last_logged = 0;
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    if (apr_atomic_xchg32(&last_logged, now) != now) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      WASMLOGNO(0016) "mod_wasm: %s: every instance slot of this process is in use; answering "
                      "503 (raise WasmPoolingMaxInstances)", tag);
    }
    apr_table_setn(r->err_headers_out, "Retry-After", "1");
    return HTTP_SERVICE_UNAVAILABLE;
}

/* Environment variables of Apache's own process that never reach a module. */
static int is_server_env(const char *name)
{
    return !strcmp(name, "PATH") || !strcmp(name, "LD_LIBRARY_PATH")
        || !strcmp(name, "LD_PRELOAD") || !strcmp(name, "HTTP_PROXY");
}

static void add_pair(apr_array_header_t *arr, const char *name, const char *value)
{
    wasm_pair_t *pair = apr_array_push(arr);
    pair->name = name;
    pair->value = value;
}

/* The module's environment: CGI variables (when on, for commands), then the route's WasmEnv. */
static apr_array_header_t *build_env(request_rec *r, wasm_dir_conf *conf, int cgi)
{
    apr_array_header_t *env = apr_array_make(r->pool, 48, sizeof(wasm_pair_t));
    int i;

    if (cgi) {
        const apr_array_header_t *elts;
        const apr_table_entry_t *e;
        size_t loc_len = conf->location ? strlen(conf->location) : 0;

        ap_add_common_vars(r);
        ap_add_cgi_vars(r);
        /* SCRIPT_NAME is the <Location>; PATH_INFO what follows it. */
        if (loc_len && conf->location[loc_len - 1] == '/') {
            loc_len--;
        }
        if (loc_len && !strncmp(r->uri, conf->location, loc_len)
            && (r->uri[loc_len] == '\0' || r->uri[loc_len] == '/')) {
            apr_table_setn(r->subprocess_env, "SCRIPT_NAME",
                           apr_pstrmemdup(r->pool, r->uri, loc_len));
            apr_table_setn(r->subprocess_env, "PATH_INFO", r->uri + loc_len);
        }
        elts = apr_table_elts(r->subprocess_env);
        e = (const apr_table_entry_t *)elts->elts;
        for (i = 0; i < elts->nelts; i++) {
            if (e[i].key && e[i].val && !is_server_env(e[i].key)) {
                add_pair(env, e[i].key, e[i].val);
            }
        }
    }
    else if (r->user) {
        /* Modules without CGI variables (wasi:http handlers) still learn who Apache
         * authenticated, from the two variables CGI would give them. */
        add_pair(env, "REMOTE_USER", r->user);
        if (r->ap_auth_type) {
            add_pair(env, "AUTH_TYPE", r->ap_auth_type);
        }
    }
    if (conf->env) {
        for (i = 0; i < conf->env->nelts; i++) {
            wasm_pair_t *p = &APR_ARRAY_IDX(conf->env, i, wasm_pair_t);
            add_pair(env, p->name, p->value);
        }
    }
    return env;
}

/* Whether a request's credentials reach the module: as for CGI, only with `CGIPassAuth On`. */
static int passes_auth(request_rec *r)
{
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    return core->cgi_pass_auth == AP_CGI_PASS_AUTH_ON;
}

/* A wasi:http handler's request: method, path with query as sent, scheme, authority and every
 * header field but the credentials Apache withholds from CGI programs (Authorization,
 * Proxy-Authorization) unless `CGIPassAuth On` (the runtime builds the incoming-request; no CGI
 * variables). */
static void set_http_head(request_rec *r, wasm_request_t *req)
{
    const apr_array_header_t *elts = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)elts->elts;
    apr_array_header_t *headers = apr_array_make(r->pool, elts->nelts + 1, sizeof(wasm_pair_t));
    const char *host = apr_table_get(r->headers_in, "Host");
    int pass_auth = passes_auth(r);
    int i;

    for (i = 0; i < elts->nelts; i++) {
        if (!e[i].key || !e[i].val) {
            continue;
        }
        if (!pass_auth && (!strcasecmp(e[i].key, "Authorization")
                           || !strcasecmp(e[i].key, "Proxy-Authorization"))) {
            continue;
        }
        add_pair(headers, e[i].key, e[i].val);
    }
    req->method = r->method;
    req->path_with_query = apr_uri_unparse(r->pool, &r->parsed_uri, APR_URI_UNP_OMITSITEPART);
    req->scheme = ap_http_scheme(r);
    req->authority = host && *host ? host
                                   : apr_psprintf(r->pool, "%s:%u", ap_get_server_name_for_url(r),
                                                  ap_get_server_port(r));
    req->headers = (const wasm_pair_t *)headers->elts;
    req->nheaders = (size_t)headers->nelts;
}

static int status_for_failure(const wasm_outcome_t *outcome, const wasm_request_ctx *ctx)
{
    switch (outcome->status) {
    case WASM_RUN_TIMEOUT:
        return HTTP_GATEWAY_TIME_OUT;
    case WASM_RUN_BODY_ERROR:
        return ctx->body_status ? ctx->body_status : HTTP_BAD_REQUEST;
    case WASM_RUN_BAD_HEADERS:
        return ctx->header_status && ctx->header_status != HTTP_NOT_MODIFIED
                   ? ctx->header_status : HTTP_INTERNAL_SERVER_ERROR;
    default:
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* Runs the module for `r` (as mod_cgi's cgi_handler delegates): the request and its streams as
 * the runtime wants them, then one run. The outcome is in *outcome; non-OK: an HTTP status
 * answered before the module ran. */
static int wasm_handle_request(request_rec *r, wasm_dir_conf *conf, wasm_request_ctx *ctx,
                               wasm_outcome_t *outcome)
{
    wasm_request_t req;
    wasm_io_t io;
    apr_array_header_t *env;
    wasm_module_kind_t kind;

    memset(ctx, 0, sizeof(*ctx));
    ctx->r = r;
    ctx->tag = conf->location ? conf->location : r->uri;
    ctx->in = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    ctx->out = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    /* HTTP/1.1: without Content-Length or Transfer-Encoding there is no body to wait for. */
    ctx->body_done = !apr_table_get(r->headers_in, "Content-Length")
                     && !apr_table_get(r->headers_in, "Transfer-Encoding");

    memset(&req, 0, sizeof(req));
    req.dirs = build_preopens(r, conf);
    req.ndirs = req.dirs ? (size_t)conf->dirs->nelts : 0;
    if (conf->dirs && conf->dirs->nelts && !req.dirs) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    kind = wasm_module_kind(conf->module->handle);
    env = build_env(r, conf, conf->cgi == 1 && kind != WASM_KIND_HTTP_COMPONENT);
    if (kind == WASM_KIND_HTTP_COMPONENT) {
        set_http_head(r, &req);
    }
    req.outbound = conf->outbound ? (const char *const *)conf->outbound->elts : NULL;
    req.noutbound = conf->outbound ? (size_t)conf->outbound->nelts : 0;
    req.module = conf->module->handle;
    req.entry_point = conf->entry_point;
    req.argv0 = conf->module->path[0] ? ap_strrchr_c(conf->module->path, '/') : NULL;
    req.argv0 = req.argv0 ? req.argv0 + 1 : conf->module->path;
    req.args = conf->args ? (const char *const *)conf->args->elts : NULL;
    req.nargs = conf->args ? (size_t)conf->args->nelts : 0;
    req.env = (const wasm_pair_t *)env->elts;
    req.nenv = (size_t)env->nelts;
    req.cgi = conf->cgi == 1;
    req.map_cgi_filenames = conf->map_cgi_filenames == 1;
    req.timeout_ms = conf->timeout_ms;
    req.memory_limit = conf->memory_limit;
    req.output_limit = conf->output_limit;
    req.max_open_files = conf->max_open_files;

    memset(&io, 0, sizeof(io));
    io.ctx = ctx;
    io.read_body = read_body;
    io.write_headers = write_headers;
    io.write_body = write_body;
    io.log_stderr = log_stderr;
    io.flush = flush_body;
    io.log_notice = log_notice;
    io.write_head = write_head;

    wasm_runtime_run(runtime, &req, &io, outcome);
    return OK;
}

/* Ends the response after a run: EOS, a redirect, a status, or a visibly cut response. */
static int wasm_handle_response(request_rec *r, wasm_request_ctx *ctx,
                                const wasm_outcome_t *outcome)
{
    int status;

    if (outcome->status == WASM_RUN_EXIT_AFTER_RESPONSE) {
        /* As mod_cgi: a program's output is its response, whatever its exit status. */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, WASMLOGNO(0022) "mod_wasm: %s: %s",
                      ctx->tag, outcome->message);
    }
    if (outcome->status == WASM_RUN_OK || outcome->status == WASM_RUN_EXIT_AFTER_RESPONSE) {
        if (ctx->header_status == HTTP_NOT_MODIFIED) {
            r->status = HTTP_NOT_MODIFIED;
            return OK;
        }
        if (ctx->redirect) {
            if (ctx->redirect[0] == '/') {
                /* A local redirect is always a GET, as in mod_cgi. */
                r->method = "GET";
                r->method_number = M_GET;
                apr_table_unset(r->headers_in, "Content-Length");
                ap_internal_redirect_handler(ctx->redirect, r);
                return OK;
            }
            return HTTP_MOVED_TEMPORARILY;
        }
        APR_BRIGADE_INSERT_TAIL(ctx->out, apr_bucket_eos_create(ctx->out->bucket_alloc));
        ap_pass_brigade(r->output_filters, ctx->out);
        return OK;
    }
    if (outcome->status == WASM_RUN_BUSY) {
        return answer_busy(r, ctx->tag);
    }
    if (outcome->status == WASM_RUN_CLIENT_GONE) {
        r->connection->keepalive = AP_CONN_CLOSE;
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, WASMLOGNO(0017) "mod_wasm: %s: %s", ctx->tag,
                      outcome->message);
        return OK;
    }

    status = status_for_failure(outcome, ctx);
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, WASMLOGNO(0018) "mod_wasm: %s: %s%s", ctx->tag, outcome->message,
                  outcome->output_started ? " (response cut)" : "");
    if (!outcome->output_started) {
        return status;
    }
    /* The status line is gone: end the response visibly broken and close the connection. */
    r->connection->keepalive = AP_CONN_CLOSE;
    APR_BRIGADE_INSERT_TAIL(ctx->out, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, r->pool,
                                                             ctx->out->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(ctx->out, apr_bucket_eos_create(ctx->out->bucket_alloc));
    ap_pass_brigade(r->output_filters, ctx->out);
    return OK;
}

/* A declared body over LimitRequestBody is refused before the module starts. */
static int body_over_limit(request_rec *r)
{
    apr_off_t limit = ap_get_limit_req_body(r);
    const char *declared_text = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t declared;

    if (limit > 0 && declared_text
        && apr_strtoff(&declared, declared_text, NULL, 10) == APR_SUCCESS && declared > limit) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      WASMLOGNO(0019) "mod_wasm: request body of %" APR_OFF_T_FMT
                      " bytes is over LimitRequestBody", declared);
        return 1;
    }
    return 0;
}

/* Counts the request in wasm-status and leaves request notes for the access log:
 * %{wasm-route}n, %{wasm-module}n, %{wasm-outcome}n, %{wasm-us}n. Returns `rv`. */
static int account(request_rec *r, const wasm_module_ref *ref, const wasm_outcome_t *outcome,
                   int rv)
{
    const char *sha256 = ref->handle ? wasm_module_sha256(ref->handle) : NULL;
    int sent = rv == OK || rv == DONE ? r->status : rv;
    wasm_status_record(ref->slot, sent, outcome);
    apr_table_setn(r->notes, "wasm-route", ref->route);
    apr_table_setn(r->notes, "wasm-module", sha256 ? apr_pstrndup(r->pool, sha256, 12) : "-");
    apr_table_setn(r->notes, "wasm-outcome", wasm_outcome_name(outcome));
    apr_table_setn(r->notes, "wasm-us",
                   apr_psprintf(r->pool, "%" APR_UINT64_T_FMT, outcome->elapsed_us));
    return rv;
}

/* An outcome for a request refused before the module ran. */
static const wasm_outcome_t *not_run(wasm_outcome_t *outcome, wasm_run_status_t status)
{
    wasm_outcome_not_run(outcome, status);
    return outcome;
}

static int wasm_handler(request_rec *r)
{
    wasm_dir_conf *conf;
    wasm_request_ctx ctx;
    wasm_outcome_t outcome;
    int rv;

    if (!r->handler || strcmp(r->handler, WASM_HANDLER)) {
        return DECLINED;
    }
    conf = ap_get_module_config(r->per_dir_config, &wasm_module);
    if (!conf->module) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WASMLOGNO(0020) "mod_wasm: no WasmModule configured for %s", r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!conf->module->handle || !runtime) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      WASMLOGNO(0021) "mod_wasm: module %s is not loaded (see the start-up log)",
                      conf->module->resolved ? conf->module->resolved : conf->module->path);
        return account(r, conf->module, not_run(&outcome, WASM_RUN_SETUP_FAILED),
                       HTTP_INTERNAL_SERVER_ERROR);
    }
    if (body_over_limit(r)) {
        return account(r, conf->module, not_run(&outcome, WASM_RUN_BODY_ERROR),
                       HTTP_REQUEST_ENTITY_TOO_LARGE);
    }
    rv = wasm_handle_request(r, conf, &ctx, &outcome);
    if (rv != OK) {
        return account(r, conf->module, not_run(&outcome, WASM_RUN_SETUP_FAILED), rv);
    }
    return account(r, conf->module, &outcome, wasm_handle_response(r, &ctx, &outcome));
}

/* ------------------------------------------------------------------------------------------ */
/* The wasm-status handler (as mod_status's server-status)                                     */
/* ------------------------------------------------------------------------------------------ */

/* ?json / ?prometheus, else the Accept header, else HTML. */
static wasm_status_format_t status_format(request_rec *r)
{
    const char *accept = apr_table_get(r->headers_in, "Accept");
    if (r->args && (!strncmp(r->args, "json", 4) && (!r->args[4] || r->args[4] == '&'))) {
        return WASM_STATUS_JSON;
    }
    if (r->args && (!strncmp(r->args, "prometheus", 10)
                    && (!r->args[10] || r->args[10] == '&'))) {
        return WASM_STATUS_PROMETHEUS;
    }
    if (accept && ap_strstr_c(accept, "application/json")) {
        return WASM_STATUS_JSON;
    }
    if (accept && ap_strstr_c(accept, "text/plain") && ap_strstr_c(accept, "version=0.0.4")) {
        return WASM_STATUS_PROMETHEUS;
    }
    return WASM_STATUS_HTML;
}

static int wasm_status_handler(request_rec *r)
{
    static const char *const types[] = {
        "text/html; charset=utf-8", "application/json",
        "text/plain; version=0.0.4; charset=utf-8"
    };
    wasm_status_format_t format;
    char *text;

    if (!r->handler || strcmp(r->handler, WASM_STATUS_HANDLER)) {
        return DECLINED;
    }
    ap_allow_standard_methods(r, REPLACE_ALLOW, M_GET, -1);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    format = status_format(r);
    text = wasm_status_render(runtime, format, (apr_int64_t)ap_state_query(AP_SQ_CONFIG_GEN));
    if (!text) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_set_content_type(r, types[format]);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only) {
        ap_rputs(text, r);
    }
    wasm_string_free(text);
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(wasm_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(wasm_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(wasm_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(wasm_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(wasm_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(wasm_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

module AP_MODULE_DECLARE_DATA wasm_module = {
    STANDARD20_MODULE_STUFF,
    create_wasm_dir_config,     /* create per-directory config */
    merge_wasm_dir_config,      /* merge per-directory config */
    create_wasm_server_config,  /* create per-server config */
    NULL,                       /* merge per-server config */
    wasm_cmds,                  /* command table */
    register_hooks,             /* register hooks */
    AP_MODULE_FLAG_NONE         /* flags */
};
