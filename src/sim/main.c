/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `infergate sim`: flags, start-up and shutdown of the model-server simulator. Flags follow
 * vLLM's names where vLLM has one (--max-num-seqs, --block-size, --num-gpu-blocks-override,
 * --max-model-len, --lora-modules, --max-loras, --enable-prefix-caching, --served-model-name), so
 * a simulator can stand in for a vLLM command line; the latency model has flags of its own.
 *
 * The process runs one libuv loop on the main thread: the engine is single-threaded and the HTTP
 * server, the step driver and the signal watchers all live on that loop. SIGTERM or SIGINT starts
 * a drain (the listener closes, keep-alive connections end after their current response, HTTP/2
 * connections get GOAWAY, in-flight generations finish); a second signal, or the drain grace
 * period, resets whatever is left. The exit status is 0 after a drain, 1 when start-up fails and
 * 2 for bad flags.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ig/loop.h"
#include "ig/sim.h"
#include "sim_front.h"

#define DRAIN_GRACE_MS 30000

struct opts {
    struct ig_sim_config cfg;
    const char *host;
    uint32_t port;
    const char *model;
    const char *served;
    const char *id;
    uint32_t default_max_tokens;
    int zero_latency;
    int flavor;
    enum ig_log_level log_level;
    enum ig_log_format log_format;
    double prefill_overhead_ms, prefill_ms_per_token, decode_ms, decode_ms_per_seq, lora_load_ms;
    char *lora_storage; /* owned copies of the adapter names */
    size_t lora_used;
};

enum flag_kind {
    F_U32 = 0,
    F_MS,
    F_STR,
    F_SET,
    F_CLEAR,
    F_LORAS,
    F_FLAVOR,
    F_LOG_LEVEL,
    F_LOG_FORMAT,
    F_HELP,
};

struct flag {
    const char *name;
    enum flag_kind kind;
    size_t off; /* offset of the target in struct opts */
    uint32_t min, max;
    const char *arg;
    const char *help;
};

#define OFF(f) offsetof(struct opts, f)

static const struct flag flags[] = {
    {"--host", F_STR, OFF(host), 0, 0, "ADDR", "address to listen on"},
    {"--port", F_U32, OFF(port), 0, 65535, "N", "port to listen on (0: any free port)"},
    {"--model", F_STR, OFF(model), 0, 0, "NAME", "model name (required)"},
    {"--served-model-name", F_STR, OFF(served), 0, 0, "NAME", "name served in the API and metrics (default: --model)"},
    {"--id", F_STR, OFF(id), 0, 0, "ID", "x-infergate-replica header value (default: host:port)"},
    {"--max-num-seqs", F_U32, OFF(cfg.max_num_seqs), 1, 1u << 20, "N", "sequences running at once"},
    {"--block-size", F_U32, OFF(cfg.block_size), 1, 4096, "N", "tokens per KV-cache block"},
    {"--kv-cache-blocks", F_U32, OFF(cfg.kv_cache_blocks), 1, 1u << 26, "N", "KV-cache blocks in total"},
    {"--num-gpu-blocks-override", F_U32, OFF(cfg.kv_cache_blocks), 1, 1u << 26, "N", "alias of --kv-cache-blocks"},
    {"--max-model-len", F_U32, OFF(cfg.max_model_len), 1, 1u << 24, "N", "prompt + output tokens per request"},
    {"--lora-modules", F_LORAS, 0, 0, 0, "LIST",
     "LoRA adapters: a,b,c or vLLM's name=path (several values or repeats allowed)"},
    {"--max-loras", F_U32, OFF(cfg.max_loras), 1, IG_SIM_MAX_LORAS, "N", "adapters resident at once"},
    {"--enable-prefix-caching", F_SET, OFF(cfg.enable_prefix_caching), 0, 0, NULL, "reuse cached prompt prefixes"},
    {"--no-enable-prefix-caching", F_CLEAR, OFF(cfg.enable_prefix_caching), 0, 0, NULL, "disable prefix caching"},
    {"--prefill-overhead-ms", F_MS, OFF(prefill_overhead_ms), 0, 0, "MS", "fixed cost of a step with any prefill"},
    {"--prefill-ms-per-token", F_MS, OFF(prefill_ms_per_token), 0, 0, "MS", "cost per uncached prompt token"},
    {"--decode-ms", F_MS, OFF(decode_ms), 0, 0, "MS", "base cost of every step"},
    {"--decode-ms-per-seq", F_MS, OFF(decode_ms_per_seq), 0, 0, "MS", "cost per running sequence per step"},
    {"--lora-load-ms", F_MS, OFF(lora_load_ms), 0, 0, "MS", "cost of loading an adapter into a free slot"},
    {"--zero-latency", F_SET, OFF(zero_latency), 0, 0, NULL, "every latency above is 0 (steps as fast as the CPU)"},
    {"--default-max-tokens", F_U32, OFF(default_max_tokens), 1, 1u << 24, "N",
     "chat without max_tokens: min(N, remaining context)"},
    {"--metrics-flavor", F_FLAVOR, OFF(flavor), 0, 0, "vllm|sglang", "metric names on /metrics"},
    {"--log-level", F_LOG_LEVEL, OFF(log_level), 0, 0, "LEVEL", "error|warn|info|debug|trace"},
    {"--log-format", F_LOG_FORMAT, OFF(log_format), 0, 0, "text|json", "log line format"},
    {"--help", F_HELP, 0, 0, 0, NULL, "show this help"},
};

static void opts_defaults(struct opts *o)
{
    memset(o, 0, sizeof(*o));
    ig_sim_config_defaults(&o->cfg);
    o->host = "127.0.0.1";
    o->port = 8000;
    o->default_max_tokens = 256;
    o->flavor = IG_SIM_FLAVOR_VLLM;
    o->log_level = IG_LOG_INFO;
    o->log_format = IG_LOG_TEXT;
    o->prefill_overhead_ms = (double)o->cfg.prefill_overhead_us / 1000.0;
    o->prefill_ms_per_token = (double)o->cfg.prefill_per_token_us / 1000.0;
    o->decode_ms = (double)o->cfg.decode_base_us / 1000.0;
    o->decode_ms_per_seq = (double)o->cfg.decode_per_seq_us / 1000.0;
    o->lora_load_ms = (double)o->cfg.lora_load_us / 1000.0;
}

/* The default of |f| as text, from a freshly defaulted struct opts. */
static void default_text(const struct flag *f, const struct opts *d, char *buf, size_t size)
{
    const char *p = (const char *)d + f->off;
    buf[0] = 0;
    switch (f->kind) {
    case F_U32:
        snprintf(buf, size, "%u", (unsigned)*(const uint32_t *)(const void *)p);
        break;
    case F_MS:
        snprintf(buf, size, "%g", *(const double *)(const void *)p);
        break;
    case F_STR: {
        const char *s = *(const char *const *)(const void *)p;
        if (s != NULL)
            snprintf(buf, size, "%s", s);
        break;
    }
    case F_SET:
        if (f->off == OFF(cfg.enable_prefix_caching))
            snprintf(buf, size, "on");
        break;
    case F_FLAVOR:
        snprintf(buf, size, "vllm");
        break;
    case F_LOG_LEVEL:
        snprintf(buf, size, "%s", ig_log_level_name(d->log_level));
        break;
    case F_LOG_FORMAT:
        snprintf(buf, size, "text");
        break;
    default:
        break;
    }
}

static void usage(FILE *out)
{
    struct opts d;
    opts_defaults(&d);
    fprintf(out, "usage: infergate sim --model NAME [options]\n\n"
                 "A vLLM-compatible model-server simulator: OpenAI completions and chat (streaming or not),\n"
                 "continuous batching, a paged KV cache with prefix caching, LoRA slots, a latency model, and\n"
                 "vLLM's /metrics. Serves HTTP/1.1 and h2c on one port.\n\noptions:\n");
    for (size_t i = 0; i < IG_ARRAY_LEN(flags); i++) {
        const struct flag *f = &flags[i];
        char left[64], def[64];
        snprintf(left, sizeof(left), "%s%s%s", f->name, f->arg != NULL ? " " : "", f->arg != NULL ? f->arg : "");
        default_text(f, &d, def, sizeof(def));
        if (def[0] != 0)
            fprintf(out, "  %-34s %s (default: %s)\n", left, f->help, def);
        else
            fprintf(out, "  %-34s %s\n", left, f->help);
    }
    fprintf(out, "\nFlags also take the form --flag=value. See docs/sim.md.\n");
}

static int bad(const char *fmt, ...) IG_PRINTF(1, 2);
static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "infergate sim: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'infergate sim --help'.\n");
    va_end(ap);
    return 2;
}

/* Adds the adapters of one --lora-modules value: "a,b" or "name=path" items. */
static int add_loras(struct opts *o, const char *val)
{
    const char *p = val;
    while (*p != 0) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq != NULL ? (size_t)(eq - p) : len;
        if (nlen == 0)
            return bad("--lora-modules: empty adapter name in '%s'", val);
        if (o->cfg.num_loras >= IG_SIM_MAX_LORAS)
            return bad("--lora-modules: at most 64 adapters");
        char *name = o->lora_storage + o->lora_used;
        memcpy(name, p, nlen);
        name[nlen] = 0;
        o->lora_used += nlen + 1;
        for (size_t i = 0; i < o->cfg.num_loras; i++) {
            if (strcmp(o->cfg.lora_names[i], name) == 0)
                return bad("--lora-modules: adapter '%s' given twice", name);
        }
        o->cfg.lora_names[o->cfg.num_loras++] = name;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int parse_value(struct opts *o, const struct flag *f, const char *val)
{
    char *p = (char *)o + f->off;
    char *end;
    switch (f->kind) {
    case F_U32: {
        errno = 0;
        unsigned long long v = strtoull(val, &end, 10);
        if (errno != 0 || end == val || *end != 0 || val[0] == '-' || v < f->min || v > f->max) {
            char range[48];
            snprintf(range, sizeof(range), "%u..%u", (unsigned)f->min, (unsigned)f->max);
            fprintf(stderr, "infergate sim: %s: '%s' is not an integer in %s\nTry 'infergate sim --help'.\n", f->name,
                    val, range);
            return 2;
        }
        *(uint32_t *)(void *)p = (uint32_t)v;
        return 0;
    }
    case F_MS: {
        errno = 0;
        double v = strtod(val, &end);
        if (errno != 0 || end == val || *end != 0 || !isfinite(v) || v < 0 || v > 1e9)
            return bad("%s: '%s' is not a non-negative number of milliseconds", f->name, val);
        *(double *)(void *)p = v;
        return 0;
    }
    case F_STR:
        if (val[0] == 0)
            return bad("%s: empty value", f->name);
        *(const char **)(void *)p = val;
        return 0;
    case F_LORAS:
        return add_loras(o, val);
    case F_FLAVOR:
        if (strcmp(val, "vllm") == 0)
            o->flavor = IG_SIM_FLAVOR_VLLM;
        else if (strcmp(val, "sglang") == 0)
            o->flavor = IG_SIM_FLAVOR_SGLANG;
        else
            return bad("%s: '%s' is not vllm or sglang", f->name, val);
        return 0;
    case F_LOG_LEVEL:
        if (ig_log_parse_level(val, &o->log_level) != 0)
            return bad("%s: '%s' is not error|warn|info|debug|trace", f->name, val);
        return 0;
    case F_LOG_FORMAT:
        if (strcmp(val, "text") == 0)
            o->log_format = IG_LOG_TEXT;
        else if (strcmp(val, "json") == 0)
            o->log_format = IG_LOG_JSON;
        else
            return bad("%s: '%s' is not text or json", f->name, val);
        return 0;
    default:
        return 0;
    }
}

/* Returns 0 to run, 1 after --help (exit 0), 2 on a bad command line. */
static int parse_args(struct opts *o, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        const struct flag *f = NULL;
        for (size_t k = 0; k < IG_ARRAY_LEN(flags); k++) {
            if (strlen(flags[k].name) == nlen && strncmp(flags[k].name, a, nlen) == 0) {
                f = &flags[k];
                break;
            }
        }
        if (f == NULL)
            return bad("unknown option '%s'", a);
        if (f->kind == F_HELP) {
            usage(stdout);
            return 1;
        }
        if (f->kind == F_SET || f->kind == F_CLEAR) {
            if (eq != NULL)
                return bad("%s takes no value", f->name);
            *(int *)(void *)((char *)o + f->off) = f->kind == F_SET;
            continue;
        }
        const char *val = eq != NULL ? eq + 1 : NULL;
        if (val == NULL) {
            if (i + 1 >= argc)
                return bad("%s needs a value", f->name);
            val = argv[++i];
        }
        int rc = parse_value(o, f, val);
        if (rc != 0)
            return rc;
        /* vLLM's --lora-modules takes several values: consume them up to the next flag. */
        while (f->kind == F_LORAS && i + 1 < argc && argv[i + 1][0] != '-') {
            rc = parse_value(o, f, argv[++i]);
            if (rc != 0)
                return rc;
        }
    }
    if (o->model == NULL)
        return bad("--model is required");
    o->cfg.model = o->served != NULL ? o->served : o->model;
    for (size_t i = 0; i < o->cfg.num_loras; i++) {
        if (strcmp(o->cfg.lora_names[i], o->cfg.model) == 0)
            return bad("--lora-modules: adapter '%s' has the model's name", o->cfg.model);
    }
    if (o->zero_latency) {
        o->prefill_overhead_ms = o->prefill_ms_per_token = o->decode_ms = o->decode_ms_per_seq = o->lora_load_ms = 0;
    }
    o->cfg.prefill_overhead_us = (uint64_t)llround(o->prefill_overhead_ms * 1000.0);
    o->cfg.prefill_per_token_us = (uint64_t)llround(o->prefill_ms_per_token * 1000.0);
    o->cfg.decode_base_us = (uint64_t)llround(o->decode_ms * 1000.0);
    o->cfg.decode_per_seq_us = (uint64_t)llround(o->decode_ms_per_seq * 1000.0);
    o->cfg.lora_load_us = (uint64_t)llround(o->lora_load_ms * 1000.0);
    if ((uint64_t)o->cfg.kv_cache_blocks * o->cfg.block_size < 1)
        return bad("the KV cache holds no tokens");
    return 0;
}

/* ---- run ------------------------------------------------------------------------------------- */

struct sim {
    struct ig_sim_app app;
    ig_listener_t *listener;
    uv_signal_t sigterm, sigint;
    uv_timer_t grace;
    int draining;
};

static void on_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    struct sim *sim = arg;
    ig_http_server_accept(&sim->app.http, sim->app.loop, fd);
}

static void on_drained(ig_http_server_t *srv)
{
    struct sim *sim = IG_CONTAINER_OF(srv, struct sim, app.http);
    ig_log_info("sim", "drained, exiting");
    uv_timer_stop(&sim->grace);
    uv_close((uv_handle_t *)&sim->grace, NULL);
    uv_close((uv_handle_t *)&sim->sigterm, NULL);
    uv_close((uv_handle_t *)&sim->sigint, NULL);
    /* Closing the watchers restores the default action: a late signal must not turn a clean exit into a kill. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    ig_sim__driver_close(&sim->app);
}

static void on_grace(uv_timer_t *t)
{
    struct sim *sim = t->data;
    ig_log_warn("sim", "drain grace period over: resetting %zu in-flight requests", sim->app.ncalls);
    ig_sim__api_abort_all(&sim->app);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct sim *sim = h->data;
    if (sim->draining) {
        ig_log_warn("sim", "signal %d again: resetting %zu in-flight requests", signum, sim->app.ncalls);
        ig_sim__api_abort_all(&sim->app);
        return;
    }
    sim->draining = 1;
    ig_log_info("sim", "signal %d: draining (%zu in-flight requests)", signum, sim->app.ncalls);
    ig_listener_close(sim->listener);
    sim->listener = NULL;
    uv_timer_start(&sim->grace, on_grace, DRAIN_GRACE_MS, 0);
    ig_http_server_drain(&sim->app.http, on_drained);
}

/*
 * The listener sets SO_REUSEPORT (for worker groups), which would let a second simulator share a
 * port with a running one and split its connections. One replica per port is the point here, so
 * the port is probed first with a plain bind.
 */
static int port_taken(const struct sockaddr *sa)
{
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return 0; /* let the listener report it */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int taken = bind(fd, sa, len) == -1 && errno == EADDRINUSE;
    close(fd);
    return taken;
}

static void *json_malloc(size_t n)
{
    return ig_malloc(n);
}

static void json_free(void *p)
{
    ig_free(p);
}

static int run(struct opts *o)
{
    struct sim *sim = ig_calloc(1, sizeof(*sim));
    struct ig_sim_app *app = &sim->app;
    uv_loop_t loop;
    char addr_text[300], bound[320];
    struct sockaddr_storage ss;
    int rc = 1;

    if (uv_loop_init(&loop) != 0) {
        ig_log_error("sim", "cannot create the event loop");
        ig_free(sim);
        return 1;
    }
    app->loop = &loop;
    app->engine = ig_sim_engine_create(&o->cfg);
    if (app->engine == NULL) {
        ig_log_error("sim", "invalid engine configuration");
        goto out_loop;
    }
    app->cfg = ig_sim_engine_config(app->engine);
    app->default_max_tokens = o->default_max_tokens;
    app->flavor = o->flavor;
    app->created = (uint64_t)ig_time_wall();
    app->model_json[0] = ig_sim__json_escape_dup(app->cfg->model);
    for (size_t i = 0; i < app->cfg->num_loras; i++)
        app->model_json[1 + i] = ig_sim__json_escape_dup(app->cfg->lora_names[i]);

    struct ig_http_server_config hcfg = {0};
    hcfg.h2_max_concurrent_streams = 4096; /* thousands of streams per connection are the point */
    ig_http_server_init(&app->http, &hcfg);
    ig_sim__api_init(app);
    ig_sim__driver_init(app);
    app->expo = ig_sim__expo_create(app);

    snprintf(addr_text, sizeof(addr_text), strchr(o->host, ':') != NULL ? "[%s]:%u" : "%s:%u", o->host,
             (unsigned)o->port);
    if (ig_addr_parse(addr_text, &ss) != 0) {
        ig_log_error("sim", "cannot parse the listen address %s (a numeric address or localhost)", addr_text);
        goto out_handles;
    }
    if (o->port != 0 && port_taken((struct sockaddr *)&ss)) {
        ig_log_error("sim", "cannot listen on %s: %s", addr_text, strerror(EADDRINUSE));
        goto out_handles;
    }
    int err = ig_listener_open(&loop, (struct sockaddr *)&ss, on_accept, sim, &sim->listener);
    if (err != 0) {
        ig_log_error("sim", "cannot listen on %s: %s", addr_text, ig_strerror(err));
        goto out_handles;
    }
    if (ig_listener_addr(sim->listener, &ss) == 0)
        ig_addr_format((struct sockaddr *)&ss, bound, sizeof(bound));
    else
        snprintf(bound, sizeof(bound), "%s", addr_text);
    app->replica = o->id != NULL ? o->id : bound;

    uv_signal_init(&loop, &sim->sigterm);
    uv_signal_init(&loop, &sim->sigint);
    uv_timer_init(&loop, &sim->grace);
    sim->sigterm.data = sim->sigint.data = sim->grace.data = sim;
    uv_signal_start(&sim->sigterm, on_signal, SIGTERM);
    uv_signal_start(&sim->sigint, on_signal, SIGINT);

    ig_log_info("sim",
                "listening on %s model=%s loras=%zu max_num_seqs=%u kv_blocks=%u block_size=%u max_model_len=%u "
                "prefix_caching=%s flavor=%s replica=%s",
                bound, app->cfg->model, app->cfg->num_loras, (unsigned)app->cfg->max_num_seqs,
                (unsigned)app->cfg->kv_cache_blocks, (unsigned)app->cfg->block_size, (unsigned)app->cfg->max_model_len,
                app->cfg->enable_prefix_caching ? "on" : "off", o->flavor == IG_SIM_FLAVOR_SGLANG ? "sglang" : "vllm",
                app->replica);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = 0;
    goto out_engine;

out_handles:
    ig_sim__driver_close(app);
out_engine:
    uv_run(&loop, UV_RUN_DEFAULT); /* let close callbacks run */
    ig_sim__expo_destroy(app->expo);
    ig_sim__api_dispose(app);
    ig_sim_engine_destroy(app->engine);
    for (size_t i = 0; i < IG_ARRAY_LEN(app->model_json); i++)
        ig_free(app->model_json[i]);
out_loop:
    if (uv_loop_close(&loop) != 0)
        ig_log_warn("sim", "event loop closed with handles still open");
    ig_free(sim);
    return rc;
}

int ig_sim_main(int argc, char **argv)
{
    struct opts o;
    opts_defaults(&o);
    /* Adapter names are at most as long as the arguments they come from. */
    size_t total = 1;
    for (int i = 0; i < argc; i++)
        total += strlen(argv[i]) + 1;
    o.lora_storage = ig_malloc(total);
    int rc = parse_args(&o, argc, argv);
    if (rc != 0) {
        ig_free(o.lora_storage);
        return rc == 1 ? 0 : rc;
    }
    ig_log_set_level(o.log_level);
    ig_log_set_format(o.log_format);
    json_set_alloc_funcs(json_malloc, json_free);
    /* A peer closing mid-write must be an error code, not a signal. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    rc = run(&o);
    ig_free(o.lora_storage);
    return rc;
}
