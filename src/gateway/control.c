/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `infergate gateway`: the command line, start-up, and the control thread. The control thread
 * runs a libuv loop of its own (the process's main thread) with the admin, stats and readiness
 * ports, the configuration file watch and the signal handlers, while the workers proxy.
 *
 * Reload: the file's directory is watched (so rename-and-replace, as editors and Kubernetes
 * ConfigMaps do it, is seen) and SIGHUP forces a reload. A valid file becomes a new snapshot
 * posted to every worker; an invalid one is logged with its file:line:col errors, counted in
 * infergate_config_reloads_total{result="failure"}, and the old snapshot keeps serving. The
 * config: block (ports, workers, logging) is read at start-up only, as in agentgateway.
 *
 * Drain: SIGTERM, SIGINT or POST /quitquitquit make readiness fail, close the listeners and
 * let in-flight requests finish; after the deadline (CONNECTION_TERMINATION_DEADLINE, default
 * 30s) the rest are reset. The process exits 0 once every worker is done.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway_int.h"

struct gw_proc gw;

/* The configuration file's watch (NULL: inline config, or the directory could not be watched). */
static ig_file_watch_t *cfg_watch;

/* ---- loading ----------------------------------------------------------------------------------- */

static int load(struct ig_config **out, char *err, size_t errlen)
{
    if (gw.path != NULL)
        return ig_config_load_file(gw.path, out, err, errlen);
    return ig_config_load_string("<inline>", gw.inline_text, strlen(gw.inline_text), out, err, errlen);
}

static uint64_t file_hash(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    char buf[8192];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            h ^= (unsigned char)buf[i];
            h *= 0x100000001b3ULL;
        }
    }
    close(fd);
    return h;
}

static uint64_t last_hash;

static void reload(int forced)
{
    if (gw.path == NULL || atomic_load(&gw.draining))
        return;
    uint64_t h = file_hash(gw.path);
    if (!forced && h == last_hash)
        return; /* an event that did not change the file (a touch of the directory, an editor's temp file) */
    struct ig_config *cfg = NULL;
    char err[4096];
    err[0] = 0;
    int rc = load(&cfg, err, sizeof(err));
    struct gw_snap *snap = NULL;
    if (rc == 0) {
        snap = gw_snap_create(cfg, gw.generation + 1, err, sizeof(err));
        if (snap == NULL)
            rc = IG_EINVAL;
    }
    if (rc != 0) {
        atomic_fetch_add(&gw.reloads_failed, 1);
        /* Each error line is logged; the old configuration keeps serving. */
        char *line = err;
        while (line != NULL && *line != 0) {
            char *nl = strchr(line, '\n');
            if (nl != NULL)
                *nl = 0;
            ig_log_error("gateway", "config reload rejected, keeping the current configuration: %s", line);
            line = nl != NULL ? nl + 1 : NULL;
        }
        last_hash = h;
        return;
    }
    last_hash = h;
    gw.generation++;
    pthread_mutex_lock(&gw.lock);
    struct gw_snap *old = gw.snap;
    gw.snap = snap;
    pthread_mutex_unlock(&gw.lock);
    gw_workers_swap(snap);
    gw_snap_unref(old);
    atomic_fetch_add(&gw.reloads_ok, 1);
    atomic_store(&gw.reload_time, ig_time_wall());
    ig_log_info("gateway", "configuration reloaded from %s (generation %llu)", gw.path,
                (unsigned long long)gw.generation);
}

static void on_config_change(ig_file_watch_t *w, int status, void *arg)
{
    (void)w;
    (void)status;
    (void)arg;
    /* Any change in the directory may be the file (renames, ConfigMap symlink swaps), and a watch
     * error may have hidden one: reload() compares the contents. */
    reload(0);
}

/* ---- drain and exit ----------------------------------------------------------------------------- */

static void on_drain_deadline(uv_timer_t *t)
{
    (void)t;
    ig_log_warn("gateway", "drain deadline reached: resetting the remaining requests");
    gw_workers_abort();
}

static void start_drain(const char *why)
{
    if (atomic_exchange(&gw.draining, 1))
        return;
    ig_log_info("gateway", "%s: draining (deadline %llums)", why, (unsigned long long)gw.drain_timeout_ms);
    ig_workers_stop(gw.workers);
    uv_timer_start(&gw.drain_timer, on_drain_deadline, gw.drain_timeout_ms, 0);
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    if (signum == SIGHUP) {
        ig_log_info("gateway", "SIGHUP: reloading the configuration");
        reload(1);
        return;
    }
    if (atomic_load(&gw.draining)) {
        ig_log_warn("gateway", "signal %d again: resetting the remaining requests", signum);
        gw_workers_abort();
        return;
    }
    start_drain(signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void close_control(void)
{
    if (gw.admin_l != NULL)
        ig_listener_close(gw.admin_l);
    if (gw.stats_l != NULL)
        ig_listener_close(gw.stats_l);
    if (gw.ready_l != NULL)
        ig_listener_close(gw.ready_l);
    gw.admin_l = gw.stats_l = gw.ready_l = NULL;
    ig_http_server_drain(&gw.admin, NULL);
    ig_http_server_drain(&gw.stats, NULL);
    ig_http_server_drain(&gw.ready, NULL);
    uv_close((uv_handle_t *)&gw.sigterm, NULL);
    uv_close((uv_handle_t *)&gw.sigint, NULL);
    uv_close((uv_handle_t *)&gw.sighup, NULL);
    /* Closing the watchers restored the default actions: a late signal must not kill a clean exit. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    ig_file_watch_stop(cfg_watch);
    cfg_watch = NULL;
    uv_close((uv_handle_t *)&gw.drain_timer, NULL);
    uv_close((uv_handle_t *)&gw.done_async, NULL);
}

static int announced;

static void on_done(uv_async_t *a)
{
    (void)a;
    if (atomic_load(&gw.failed) > 0 && !atomic_load(&gw.draining)) {
        ig_log_error("gateway", "a worker could not open its listeners: exiting");
        gw.exit_status = 1;
        start_drain("start-up failure");
    }
    if (!announced && atomic_load(&gw.listening) == gw.nworkers) {
        announced = 1;
        ig_log_info("gateway", "ready: %d workers serving %zu binds", gw.nworkers, gw.snap->cfg->n_binds);
    }
    if (atomic_load(&gw.workers_done) == gw.nworkers) {
        ig_log_info("gateway", "drained, exiting");
        close_control();
    }
}

/* ---- admin, stats and readiness ports ----------------------------------------------------------- */

enum port_kind { PORT_ADMIN = 0, PORT_STATS, PORT_READY };

static int path_is(ig_iov_t target, const char *p)
{
    const char *q = memchr(target.base, '?', target.len);
    size_t n = q != NULL ? (size_t)(q - target.base) : target.len;
    return ig_iov_eq(ig_iov(target.base, n), ig_iov_cstr(p));
}

static int query_param(ig_iov_t target, const char *name, char *out, size_t size)
{
    const char *q = memchr(target.base, '?', target.len);
    if (q == NULL)
        return 0;
    size_t nlen = strlen(name);
    const char *p = q + 1, *end = target.base + target.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp != NULL ? amp : end;
        if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = (size_t)(stop - p) - nlen - 1;
            if (vlen >= size)
                vlen = size - 1;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = 0;
            return 1;
        }
        p = stop + 1;
    }
    return 0;
}

static void send_text(ig_http_stream_t *s, int status, const char *text)
{
    ig_http_stream_send(s, status, "text/plain", text, strlen(text));
}

static void send_buf(ig_http_stream_t *s, const char *ctype, ig_buf_t *b)
{
    ig_http_stream_send(s, 200, ctype, ig_buf_data(b), b->len);
}

static void admin_request(ig_http_stream_t *s)
{
    ig_iov_t t = s->req.path;
    int post = ig_iov_eq(s->req.method, IG_STRLIT("POST"));
    if (path_is(t, "/config_dump")) {
        pthread_mutex_lock(&gw.lock);
        struct gw_snap *snap = gw_snap_ref(gw.snap);
        pthread_mutex_unlock(&gw.lock);
        ig_buf_t b;
        ig_buf_init(&b, (size_t)64 << 20);
        if (ig_config_dump_json(snap->cfg, &b, 1) == 0)
            send_buf(s, "application/json", &b);
        else
            send_text(s, 500, "configuration dump too large\n");
        ig_buf_dispose(&b);
        gw_snap_unref(snap);
    } else if (path_is(t, "/logging")) {
        char level[32];
        if (query_param(t, "level", level, sizeof(level))) {
            enum ig_log_level l;
            if (!post) {
                send_text(s, 405, "use POST to change the level\n");
                return;
            }
            if (ig_log_parse_level(level, &l) != 0) {
                send_text(s, 400, "level must be error|warn|info|debug|trace\n");
                return;
            }
            ig_log_set_level(l);
            ig_log_info("gateway", "log level set to %s", ig_log_level_name(l));
        }
        char msg[64];
        snprintf(msg, sizeof(msg), "current log level is %s\n", ig_log_level_name(ig_log_get_level()));
        send_text(s, 200, msg);
    } else if (path_is(t, "/quitquitquit")) {
        if (!post) {
            send_text(s, 405, "use POST\n");
            return;
        }
        send_text(s, 200, "draining\n");
        start_drain("/quitquitquit");
    } else if (path_is(t, "/")) {
        send_text(s, 200, "infergate admin: /config_dump, /logging?level=LEVEL (POST), /quitquitquit (POST)\n");
    } else {
        send_text(s, 404, "not found\n");
    }
}

static void stats_request(ig_http_stream_t *s)
{
    if (!path_is(s->req.path, "/metrics") && !path_is(s->req.path, "/stats/prometheus")) {
        send_text(s, 404, "not found\n");
        return;
    }
    ig_buf_t b;
    ig_buf_init(&b, (size_t)64 << 20);
    if (gw_metrics_render(&b) == 0)
        send_buf(s, IG_PROM_CONTENT_TYPE, &b);
    else
        send_text(s, 500, "metrics page too large\n");
    ig_buf_dispose(&b);
}

static void ready_request(ig_http_stream_t *s)
{
    if (!path_is(s->req.path, "/healthz/ready")) {
        send_text(s, 404, "not found\n");
        return;
    }
    if (atomic_load(&gw.draining))
        send_text(s, 503, "draining\n");
    else if (atomic_load(&gw.listening) < gw.nworkers)
        send_text(s, 503, "not ready\n");
    else
        send_text(s, 200, "ready\n");
}

static void control_request(ig_http_stream_t *s)
{
    switch ((enum port_kind)(intptr_t)s->server->data) {
    case PORT_ADMIN:
        admin_request(s);
        break;
    case PORT_STATS:
        stats_request(s);
        break;
    default:
        ready_request(s);
        break;
    }
}

static void on_control_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    ig_http_server_accept(arg, &gw.loop, fd);
}

static int open_control(const struct ig_cfg_addr *a, ig_http_server_t *srv, enum port_kind kind, ig_listener_t **out,
                        const char *what)
{
    *out = NULL;
    struct ig_http_server_config hc = {0};
    ig_http_server_init(srv, &hc);
    srv->on_request = control_request;
    srv->data = (void *)(intptr_t)kind;
    if (a->kind == IG_CFG_ADDR_OFF)
        return 0;
    struct sockaddr_storage sa;
    if (a->kind == IG_CFG_ADDR_LOCALHOST) {
        char text[32];
        snprintf(text, sizeof(text), "127.0.0.1:%u", (unsigned)a->hp.port);
        IG_ASSERT(ig_addr_parse(text, &sa) == 0);
    } else {
        memcpy(&sa, &a->hp.sa, sizeof(sa));
    }
    int rc = ig_listener_open(&gw.loop, (struct sockaddr *)&sa, on_control_accept, srv, out);
    if (rc != 0) {
        char text[64];
        ig_log_error("gateway", "cannot open the %s port on %s: %s", what,
                     ig_addr_format((struct sockaddr *)&sa, text, sizeof(text)), ig_strerror(rc));
        *out = NULL;
        return rc;
    }
    return 0;
}

/* ---- command line ------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out, "usage: infergate gateway (-f FILE | -c CONFIG) [--validate-only]\n"
                 "       infergate -f FILE\n\n"
                 "The proxy: reads agentgateway's local configuration (binds, listeners, routes, backends,\n"
                 "services, workloads; see docs/gateway-config.md) and serves it.\n\n"
                 "options:\n"
                 "  -f, --file FILE     configuration file (YAML or JSON); watched and reloaded on change\n"
                 "  -c, --config TEXT   inline configuration (YAML or JSON)\n"
                 "  --validate-only     load and check the configuration, then exit (0 valid, 2 invalid)\n"
                 "  -h, --help          show this help\n\n"
                 "environment: ADMIN_ADDR, STATS_ADDR, READINESS_ADDR, WORKER_THREADS override the config:\n"
                 "block; CONNECTION_TERMINATION_DEADLINE (a duration, default 30s) bounds the drain.\n"
                 "SIGHUP reloads the file; SIGTERM/SIGINT drain and exit 0. See docs/operations.md.\n");
}

static int bad(const char *msg, const char *arg)
{
    fprintf(stderr, "infergate gateway: %s%s\nTry 'infergate gateway --help'.\n", msg, arg != NULL ? arg : "");
    return 2;
}

static int cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int ig_gateway_main(int argc, char **argv)
{
    int validate_only = 0;
    memset(&gw, 0, sizeof(gw));
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--validate-only") == 0) {
            validate_only = 1;
        } else if (strcmp(a, "-f") == 0 || strcmp(a, "--file") == 0) {
            if (i + 1 >= argc)
                return bad(a, " needs a value");
            gw.path = argv[++i];
        } else if (strncmp(a, "--file=", 7) == 0) {
            gw.path = a + 7;
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (i + 1 >= argc)
                return bad(a, " needs a value");
            gw.inline_text = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            gw.inline_text = a + 9;
        } else {
            return bad("unknown option ", a);
        }
    }
    if ((gw.path == NULL) == (gw.inline_text == NULL))
        return bad("exactly one of -f FILE or -c CONFIG is required", NULL);

    struct ig_config *cfg = NULL;
    char err[4096];
    err[0] = 0;
    if (gw.path != NULL)
        last_hash = file_hash(gw.path);
    if (load(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s%s", err, err[0] != 0 && err[strlen(err) - 1] != '\n' ? "\n" : "");
        return 2;
    }
    if (validate_only) {
        printf("%s: configuration is valid\n", gw.path != NULL ? gw.path : "<inline>");
        ig_config_unref(cfg);
        return 0;
    }
    ig_log_set_level(cfg->process.log_level);
    ig_log_set_format(cfg->process.log_format);
    gw.access_log_json = cfg->process.log_format == IG_LOG_JSON;
    gw.access_log_fd = STDOUT_FILENO;
    gw.drain_timeout_ms = 30000;
    const char *dl = getenv("CONNECTION_TERMINATION_DEADLINE");
    if (dl != NULL && dl[0] != 0) {
        uint64_t ns;
        if (ig_config_parse_duration(ig_iov_cstr(dl), &ns, NULL) != 0) {
            ig_config_unref(cfg);
            return bad("CONNECTION_TERMINATION_DEADLINE is not a duration: ", dl);
        }
        gw.drain_timeout_ms = ns / 1000000;
    }
    gw.snap = gw_snap_create(cfg, 1, err, sizeof(err));
    if (gw.snap == NULL) {
        fprintf(stderr, "infergate gateway: %s\n", err);
        return 2;
    }
    gw.generation = 1;
    atomic_store(&gw.reload_time, ig_time_wall());
    pthread_mutex_init(&gw.lock, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    IG_ASSERT(uv_loop_init(&gw.loop) == 0);
    uv_async_init(&gw.loop, &gw.done_async, on_done);
    uv_timer_init(&gw.loop, &gw.drain_timer);
    uv_signal_init(&gw.loop, &gw.sigterm);
    uv_signal_init(&gw.loop, &gw.sigint);
    uv_signal_init(&gw.loop, &gw.sighup);
    uv_signal_start(&gw.sigterm, on_signal, SIGTERM);
    uv_signal_start(&gw.sigint, on_signal, SIGINT);
    uv_signal_start(&gw.sighup, on_signal, SIGHUP);
    const struct ig_cfg_process *pc = &cfg->process;
    if (open_control(&pc->admin, &gw.admin, PORT_ADMIN, &gw.admin_l, "admin") != 0 ||
        open_control(&pc->stats, &gw.stats, PORT_STATS, &gw.stats_l, "stats") != 0 ||
        open_control(&pc->readiness, &gw.ready, PORT_READY, &gw.ready_l, "readiness") != 0) {
        close_control();
        uv_run(&gw.loop, UV_RUN_DEFAULT);
        goto out;
    }
    if (gw.path != NULL) {
        int wrc = ig_file_watch_start(&gw.loop, gw.path, IG_FILE_WATCH_DEBOUNCE_MS, on_config_change, NULL, &cfg_watch);
        if (wrc != 0)
            ig_log_warn("gateway", "cannot watch the directory of %s (%s): reload with SIGHUP", gw.path,
                        uv_strerror(wrc));
    }
    gw.nworkers = pc->worker_threads > 0 ? (int)pc->worker_threads : cpu_count();
    gw.w = ig_calloc((size_t)gw.nworkers, sizeof(*gw.w));
    gw.workers = ig_workers_start(gw.nworkers, gw_worker_init, NULL);
    uv_run(&gw.loop, UV_RUN_DEFAULT);
    ig_workers_wait(gw.workers);
    rc = gw.exit_status;
    for (int i = 0; i < gw.nworkers; i++) {
        struct gw_worker *w = gw.w[i];
        if (w == NULL)
            continue;
        for (size_t k = 0; k < w->n_servers; k++)
            ig_free(w->servers[k]);
        ig_free(w->servers);
        gw_stats_dispose(&w->stats);
        ig_free(w);
    }
    ig_free(gw.w);
out:
    if (uv_loop_close(&gw.loop) != 0)
        ig_log_warn("gateway", "control loop closed with handles open");
    gw_snap_unref(gw.snap);
    pthread_mutex_destroy(&gw.lock);
    return rc;
}
