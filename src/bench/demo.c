/* SPDX-License-Identifier: Apache-2.0 */
/*
 * demo: `infergate demo`, the whole standalone stack on this machine with a short run. It starts
 * four simulator replicas behind a plain gateway route (the round-robin arm) and measures a
 * shared-prefix workload with `infergate bench`; stops everything; starts four fresh replicas,
 * `infergate epp` and a gateway with the seed's standalone-EPP configuration (the
 * inference-routing arm) and measures the same workload; then prints both arms side by side and
 * writes the plot. Every component is a child process of this same binary (/proc/self/exe) with
 * its output in a log file, in a process group of its own so that a Ctrl-C reaches the demo only
 * and the demo stops the stack in order. Whatever happens (success, a component that dies or never
 * becomes ready, SIGINT/SIGTERM) every process started is stopped before exit; a failure names the
 * component and shows the tail of its log. One thread, blocking calls with short timeouts: the
 * demo orchestrates, it carries no load itself. See docs/demo.md.
 */
#include "bench_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ig/bench.h"

extern char **environ;

#define DEMO_NSIMS       4
#define DEMO_MAX_PROCS   (DEMO_NSIMS + 3) /* replicas, EPP, gateway, load */
#define DEMO_READY_MS    10000            /* a component must be ready within this */
#define DEMO_STOP_MS     5000             /* SIGTERM grace before SIGKILL */
#define DEMO_SMOKE_MS    10000
#define DEMO_TAIL_LINES  25
#define DEMO_TAIL_BYTES  65536
#define DEMO_PATH_MAX    4096
#define DEMO_MAX_ARGS    64
#define DEMO_MODEL       "demo-model"
#define DEMO_MARKER      ".infergate-demo" /* marks a directory the demo may clear */
#define DEMO_PARENT_ENV  "IG_DEMO_PARENT"
#define DEMO_INTERRUPTED 130

/* ---- options ----------------------------------------------------------------------------------- */

enum demo_port {
    PORT_SIM_BASE = 0,
    PORT_RR,
    PORT_IR,
    PORT_EPP,
    PORT_EPP_HEALTH,
    PORT_EPP_METRICS,
    PORT_RR_READY,
    PORT_IR_READY,
    PORT_COUNT
};

struct demo_opt {
    const char *flag, *env, *metavar, *deflt, *help;
    int port; /* enum demo_port; -1: a string option */
};

/* The two ports of the standalone configuration as published; other values rewrite it. */
#define DEMO_PUBLISHED_IR_PORT  8081
#define DEMO_PUBLISHED_EPP_PORT 9002

static const struct demo_opt demo_opts[] = {
    {"--out", "DEMO_OUT", "DIR", "<directory of the binary>/demo",
     "results, configurations and logs; replaced on every run (only a directory the demo made)", -1},
    {"--rates", "DEMO_RATES", "R[:DUR],...", "4:20s,8:20s",
     "the load of each arm: one stage per rate in requests/s (infergate bench --rates)", -1},
    {"--sim-base-port", "DEMO_SIM_BASE_PORT", "PORT", "8001", "first of the four simulator ports (PORT..PORT+3)",
     PORT_SIM_BASE},
    {"--rr-port", "DEMO_RR_PORT", "PORT", "8082", "the round-robin gateway's listener", PORT_RR},
    {"--ir-port", "DEMO_IR_PORT", "PORT", "8081",
     "the inference gateway's listener (the standalone configuration's bind; another value rewrites it)", PORT_IR},
    {"--epp-port", "DEMO_EPP_PORT", "PORT", "9002",
     "the EPP's ext_proc port (the configuration's endpointPicker.host; idem)", PORT_EPP},
    {"--epp-health-port", "DEMO_EPP_HEALTH_PORT", "PORT", "9003", "the EPP's gRPC health port", PORT_EPP_HEALTH},
    {"--epp-metrics-port", "DEMO_EPP_METRICS_PORT", "PORT", "9090", "the EPP's metrics port", PORT_EPP_METRICS},
    {"--rr-ready-port", "DEMO_RR_READY_PORT", "PORT", "15121", "the round-robin gateway's readiness port",
     PORT_RR_READY},
    {"--ir-ready-port", "DEMO_IR_READY_PORT", "PORT", "15122", "the inference gateway's readiness port", PORT_IR_READY},
};

/*
 * The simulated model server: prefill is expensive (a 2000-token prefix costs 400 ms to compute)
 * and each replica's KV cache holds about three of the eight shared prefixes, so the four replicas
 * together hold them all but one replica alone does not: where a request lands decides whether
 * its prefix is computed again. docs/demo.md explains the choice.
 */
static const char *const sim_flags[][2] = {
    {"--model", DEMO_MODEL},           {"--kv-cache-blocks", "400"},   {"--block-size", "16"},
    {"--prefill-ms-per-token", "0.2"}, {"--prefill-overhead-ms", "2"}, {"--decode-ms", "5"},
    {"--decode-ms-per-seq", "0.1"},    {"--max-num-seqs", "64"},
};

/* inference-perf's shared_prefix workload: 8 groups of 2000-token system prompts, 100-token questions. */
static const char *const workload_flags[][2] = {
    {"--workload", "shared_prefix"},
    {"--num-groups", "8"},
    {"--prompts-per-group", "32"},
    {"--system-prompt-len", "2000"},
    {"--question-len", "100"},
    {"--output-len", "32"},
    {"--seed", "7"},
    {"--model", DEMO_MODEL},
    {"--timeout", "60s"},
};

/* agentgateway's standalone-EPP configuration; with the default ports it is the published text byte for byte. */
static const char standalone_fmt[] = "services:\n"
                                     "- name: my-model\n"
                                     "  namespace: default\n"
                                     "  hostname: my-model\n"
                                     "  vips: []\n"
                                     "  ports:\n"
                                     "    8000: 8000\n"
                                     "\n"
                                     "binds:\n"
                                     "- port: %u\n"
                                     "  listeners:\n"
                                     "  - routes:\n"
                                     "    - backends:\n"
                                     "      - service:\n"
                                     "          name: default/my-model\n"
                                     "          port: 8000\n"
                                     "        policies:\n"
                                     "          inferenceRouting:\n"
                                     "            endpointPicker:\n"
                                     "              host: 127.0.0.1:%u\n"
                                     "            destinationMode: passthrough\n";

/* ---- state ------------------------------------------------------------------------------------- */

struct demo_proc {
    char name[40];
    char log[DEMO_PATH_MAX];
    pid_t pid;
    int running; /* not reaped yet */
    int status;  /* wait status once reaped */
};

struct demo {
    char out[DEMO_PATH_MAX];
    const char *rates;
    unsigned port[PORT_COUNT];
    char parent_env[64]; /* IG_DEMO_PARENT=<pid>: lets children die with the demo */
    struct demo_proc procs[DEMO_MAX_PROCS];
    size_t nprocs;
    ig_pool_t pool; /* argv and environment strings */
    uint64_t t0_ns;
};

static volatile sig_atomic_t demo_signal;

static void on_signal(int sig)
{
    demo_signal = sig;
}

static int interrupted(void)
{
    return demo_signal != 0;
}

static void say(const char *fmt, ...) IG_PRINTF(1, 2);
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("demo: ", stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

static void complain(const char *fmt, ...) IG_PRINTF(1, 2);
static void complain(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fputs("demo: FAILED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    /* a signal cuts the sleep short on purpose: every caller re-checks interrupted() */
    nanosleep(&ts, NULL);
}

static uint64_t now_ms(void)
{
    return ig_time_ns() / 1000000u;
}

/*
 * A path (or other bounded text) into |buf|. --out is limited to DEMO_PATH_MAX - 64 bytes and the
 * names added to it are short, so a truncation is a bug, not an input error.
 */
static void pathf(char *buf, size_t size, const char *fmt, ...) IG_PRINTF(3, 4);
static void pathf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    IG_ASSERT(n >= 0 && (size_t)n < size);
}

/* ---- logs -------------------------------------------------------------------------------------- */

/* Prints the last DEMO_TAIL_LINES lines of |path| to stderr, framed. */
static void show_log(const char *name, const char *path)
{
    fprintf(stderr, "---- last lines of %s (%s) ----\n", path, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        fprintf(stderr, "(cannot open: %s)\n", strerror(errno));
        goto out;
    }
    struct stat st;
    if (fstat(fd, &st) == -1)
        goto close;
    off_t start = st.st_size > DEMO_TAIL_BYTES ? st.st_size - DEMO_TAIL_BYTES : 0;
    char *buf = ig_malloc(DEMO_TAIL_BYTES);
    ssize_t n = pread(fd, buf, DEMO_TAIL_BYTES, start);
    if (n > 0) {
        size_t end = (size_t)n, from = 0;
        int lines = 0;
        /* a final newline ends the last line; it does not start another */
        size_t i = end > 0 && buf[end - 1] == '\n' ? end - 1 : end;
        while (i > 0) {
            if (buf[i - 1] == '\n' && ++lines == DEMO_TAIL_LINES) {
                from = i;
                break;
            }
            i--;
        }
        fwrite(buf + from, 1, end - from, stderr);
        if (buf[end - 1] != '\n')
            fputc('\n', stderr);
    }
    ig_free(buf);
close:
    close(fd);
out:
    fputs("----\n", stderr);
}

/* ---- child processes ------------------------------------------------------------------------- */

struct demo_args {
    char *v[DEMO_MAX_ARGS + 1];
    size_t n;
};

static void arg_add(struct demo_args *a, const char *s)
{
    IG_ASSERT(a->n < DEMO_MAX_ARGS);
    a->v[a->n++] = (char *)s;
    a->v[a->n] = NULL;
}

static void arg_addf(struct demo *d, struct demo_args *a, const char *fmt, ...) IG_PRINTF(3, 4);
static void arg_addf(struct demo *d, struct demo_args *a, const char *fmt, ...)
{
    char tmp[DEMO_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    arg_add(a, ig_pool_strdup(&d->pool, tmp));
}

/* The environment of a child: ours, with |extra| ("KEY=VALUE") replacing any same-named variable, and
 * DEMO_PARENT_ENV. Returns an array owned by the caller (ig_free); the strings are borrowed. */
static char **child_env(struct demo *d, const char *const *extra, size_t nextra)
{
    size_t n = 0;
    while (environ != NULL && environ[n] != NULL)
        n++;
    char **env = ig_calloc(n + nextra + 2, sizeof(*env));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq != NULL ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        int replaced = klen == strlen(DEMO_PARENT_ENV) && memcmp(environ[i], DEMO_PARENT_ENV, klen) == 0;
        for (size_t j = 0; j < nextra && !replaced; j++)
            replaced = strncmp(extra[j], environ[i], klen) == 0 && extra[j][klen] == '=';
        if (!replaced)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < nextra; j++)
        env[k++] = (char *)extra[j];
    env[k++] = d->parent_env;
    env[k] = NULL;
    return env;
}

/*
 * Starts this binary with |argv| as component |name|: stdin from /dev/null, stdout to
 * <out>/logs/<log_name>.log, stderr there too or to |err_fd| when >= 0. Records it in the process
 * table and stores its index in |*index|. Returns 0, or -errno (said on stderr).
 */
static int spawn(struct demo *d, const char *name, const char *log_name, struct demo_args *argv,
                 const char *const *extra_env, size_t nextra, int err_fd, size_t *index)
{
    IG_ASSERT(d->nprocs < DEMO_MAX_PROCS);
    struct demo_proc *p = &d->procs[d->nprocs];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    pathf(p->log, sizeof(p->log), "%s/logs/%s.log", d->out, log_name);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, deflt;
    char **env = child_env(d, extra_env, nextra);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, err_fd >= 0 ? err_fd : 1, 2);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGTERM);
    sigaddset(&deflt, SIGHUP);
    sigaddset(&deflt, SIGQUIT);
    sigaddset(&deflt, SIGPIPE);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &deflt);
    /* A group of its own: a terminal's Ctrl-C reaches the demo, which then stops the stack in order. */
    posix_spawnattr_setpgroup(&at, 0);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    argv->v[0] = (char *)"infergate";
    int err = posix_spawn(&p->pid, "/proc/self/exe", &fa, &at, argv->v, env);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    ig_free(env);
    if (err != 0) {
        complain("%s: cannot start: %s", name, strerror(err));
        return -err;
    }
    p->running = 1;
    *index = d->nprocs++;
    return 0;
}

/* Whether process |i| still runs; reaps it (keeping its status) when it has exited. */
static int proc_alive(struct demo *d, size_t i)
{
    struct demo_proc *p = &d->procs[i];
    if (!p->running)
        return 0;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid || (r == -1 && errno == ECHILD)) {
        p->running = 0;
        p->status = r == p->pid ? st : 0;
        return 0;
    }
    return 1;
}

static const char *status_text(int st, char *buf, size_t size)
{
    if (WIFSIGNALED(st))
        snprintf(buf, size, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, size, "status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    return buf;
}

/* SIGTERM to every process started, SIGKILL to any still there after DEMO_STOP_MS; all reaped. */
static void stop_all(struct demo *d)
{
    for (size_t i = 0; i < d->nprocs; i++) {
        if (proc_alive(d, i))
            kill(d->procs[i].pid, SIGTERM);
    }
    uint64_t deadline = now_ms() + DEMO_STOP_MS;
    for (;;) {
        int left = 0;
        for (size_t i = 0; i < d->nprocs; i++)
            left += proc_alive(d, i);
        if (left == 0 || now_ms() >= deadline)
            break;
        sleep_ms(20);
    }
    for (size_t i = 0; i < d->nprocs; i++) {
        struct demo_proc *p = &d->procs[i];
        if (!proc_alive(d, i))
            continue;
        kill(p->pid, SIGKILL);
        while (waitpid(p->pid, &p->status, 0) == -1 && errno == EINTR)
            ;
        p->running = 0;
    }
    d->nprocs = 0;
}

/* Says that component |i| failed (|why|) and shows its log. Returns 1, the demo's failure status. */
static int fail_component(struct demo *d, size_t i, const char *why)
{
    complain("%s: %s", d->procs[i].name, why);
    show_log(d->procs[i].name, d->procs[i].log);
    return 1;
}

/* Fails naming the first component (of the first |n|) that is no longer running. Returns 0 or 1. */
static int check_alive(struct demo *d, size_t n)
{
    char st[48], why[96];
    for (size_t i = 0; i < n; i++) {
        if (!proc_alive(d, i)) {
            snprintf(why, sizeof(why), "exited unexpectedly (%s)", status_text(d->procs[i].status, st, sizeof(st)));
            return fail_component(d, i, why);
        }
    }
    return 0;
}

/* Runs a component to its end (at most |timeout_ms|) and removes it from the table. Returns its wait
 * status, -1 when it had to be killed, or -2 when interrupted. */
static int run_to_end(struct demo *d, size_t i, unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    int rc;
    while (proc_alive(d, i) && now_ms() < deadline && !interrupted())
        sleep_ms(20);
    if (interrupted())
        rc = -2;
    else
        rc = proc_alive(d, i) ? -1 : d->procs[i].status;
    stop_all(d);
    return rc;
}

/* ---- loopback HTTP ----------------------------------------------------------------------------- */

static int loopback_socket(unsigned port, unsigned timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1)
        return -1;
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() too */
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Something accepts connections on 127.0.0.1:|port|. */
static int port_busy(unsigned port)
{
    int fd = loopback_socket(port, 1000);
    if (fd == -1)
        return 0;
    close(fd);
    return 1;
}

/*
 * One HTTP/1.1 exchange with 127.0.0.1:|port| (Connection: close) within |timeout_ms|: |json| as a
 * POST body, or a GET when NULL. Returns the status code, with the start of the body (NUL-terminated,
 * raw: a chunked body keeps its chunk lines) in |body|, or -1 when no answer came.
 */
static int http_call(unsigned port, const char *path, const char *json, unsigned timeout_ms, char *body, size_t cap)
{
    char req[1024], resp[8192];
    int fd = -1, status = -1;
    size_t len = 0;
    uint64_t deadline = now_ms() + timeout_ms;
    if (cap > 0)
        body[0] = 0;
    int n = json != NULL ? snprintf(req, sizeof(req),
                                    "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Type: application/json\r\n"
                                    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                    path, port, strlen(json), json)
                         : snprintf(req, sizeof(req),
                                    "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n", path, port);
    if (n < 0 || (size_t)n >= sizeof(req))
        goto out;
    if ((fd = loopback_socket(port, timeout_ms)) == -1)
        goto out;
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w <= 0)
            goto out;
        off += (size_t)w;
    }
    while (len < sizeof(resp) - 1 && now_ms() < deadline && !interrupted()) {
        ssize_t r = recv(fd, resp + len, sizeof(resp) - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    resp[len] = 0;
    if (len < 12 || memcmp(resp, "HTTP/1.", 7) != 0)
        goto out;
    char *end = NULL;
    long code = strtol(resp + 9, &end, 10);
    if (end == resp + 9 || code < 100 || code > 599)
        goto out;
    status = (int)code;
    const char *b = strstr(resp, "\r\n\r\n");
    if (b != NULL && cap > 0)
        snprintf(body, cap, "%s", b + 4);
out:
    if (fd != -1)
        close(fd);
    return status;
}

/* Until http://127.0.0.1:|port||path| answers 200, component |i| staying alive. Returns 0, 1 or 130. */
static int wait_http(struct demo *d, size_t i, unsigned port, const char *path)
{
    char st[48], why[160];
    uint64_t deadline = now_ms() + DEMO_READY_MS;
    while (now_ms() < deadline) {
        if (interrupted())
            return DEMO_INTERRUPTED;
        if (!proc_alive(d, i)) {
            snprintf(why, sizeof(why), "exited during start-up (%s)", status_text(d->procs[i].status, st, sizeof(st)));
            return fail_component(d, i, why);
        }
        if (http_call(port, path, NULL, 2000, NULL, 0) == 200)
            return 0;
        sleep_ms(100);
    }
    snprintf(why, sizeof(why), "not ready after %d s (http://127.0.0.1:%u%s)", DEMO_READY_MS / 1000, port, path);
    return fail_component(d, i, why);
}

/* Until something listens on 127.0.0.1:|port|, component |i| staying alive. Returns 0, 1 or 130. */
static int wait_port(struct demo *d, size_t i, unsigned port)
{
    char st[48], why[160];
    uint64_t deadline = now_ms() + DEMO_READY_MS;
    while (now_ms() < deadline) {
        if (interrupted())
            return DEMO_INTERRUPTED;
        if (!proc_alive(d, i)) {
            snprintf(why, sizeof(why), "exited during start-up (%s)", status_text(d->procs[i].status, st, sizeof(st)));
            return fail_component(d, i, why);
        }
        if (port_busy(port))
            return 0;
        sleep_ms(100);
    }
    snprintf(why, sizeof(why), "not listening on port %u after %d s", port, DEMO_READY_MS / 1000);
    return fail_component(d, i, why);
}

/* ---- the output directory ---------------------------------------------------------------------- */

static int mkdir_p(const char *path)
{
    char tmp[DEMO_PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (tmp[i] != '/' && tmp[i] != 0)
            continue;
        char c = tmp[i];
        tmp[i] = 0;
        if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
            return IG_ERR_ERRNO();
        tmp[i] = c;
    }
    return 0;
}

static int path_exists(const char *dir, const char *name)
{
    char p[DEMO_PATH_MAX];
    struct stat st;
    pathf(p, sizeof(p), "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

/* Unlinks the regular files directly in |dir| (nothing recursive: the demo makes no subdirectories but logs/). */
static void clear_files(const char *dir)
{
    DIR *dp = opendir(dir);
    if (dp == NULL)
        return;
    struct dirent *e;
    char p[DEMO_PATH_MAX];
    while ((e = readdir(dp)) != NULL) {
        struct stat st;
        int n = snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (n < 0 || (size_t)n >= sizeof(p) || lstat(p, &st) == -1 || !S_ISREG(st.st_mode))
            continue;
        unlink(p);
    }
    closedir(dp);
}

/*
 * Whether <out> may be used: absent, empty or from an earlier demo run. A directory that holds
 * files but not from a demo run is left alone and refused: --out may be mistyped, and the demo
 * never deletes what it did not write. Returns 0 or 1 (said).
 */
static int check_out(struct demo *d)
{
    DIR *dp = opendir(d->out);
    if (dp != NULL) {
        struct dirent *e;
        int empty = 1;
        while ((e = readdir(dp)) != NULL)
            empty &= strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
        closedir(dp);
        /* round-robin.yaml: a directory written by earlier versions of the demo, before the marker */
        if (!empty && !path_exists(d->out, DEMO_MARKER) && !path_exists(d->out, "round-robin.yaml")) {
            complain("%s exists and is not a demo output directory; choose another --out", d->out);
            return 1;
        }
    }
    return 0;
}

/* Makes <out> and <out>/logs (checked by check_out) and clears an earlier run's files. Returns 0 or 1. */
static int prepare_out(struct demo *d)
{
    char logs[DEMO_PATH_MAX];
    pathf(logs, sizeof(logs), "%s/logs", d->out);
    int err = mkdir_p(logs);
    if (err != 0) {
        complain("cannot create %s: %s", logs, ig_strerror(err));
        return 1;
    }
    clear_files(logs);
    clear_files(d->out);
    char marker[DEMO_PATH_MAX];
    pathf(marker, sizeof(marker), "%s/%s", d->out, DEMO_MARKER);
    FILE *f = fopen(marker, "we");
    if (f == NULL) {
        complain("cannot write in %s: %s", d->out, strerror(errno));
        return 1;
    }
    fputs("written by infergate demo; the next run replaces every file here\n", f);
    fclose(f);
    return 0;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (f == NULL) {
        complain("cannot write %s: %s", path, strerror(errno));
        return 1;
    }
    int bad = fputs(text, f) == EOF;
    bad |= fclose(f) != 0;
    if (bad) {
        complain("cannot write %s", path);
        return 1;
    }
    return 0;
}

/* Writes the two gateway configurations and has the gateway validate each. Returns 0, 1 or 130. */
static int write_configs(struct demo *d)
{
    char path[DEMO_PATH_MAX], text[2048];
    int n = snprintf(text, sizeof(text), "binds:\n- port: %u\n  listeners:\n  - routes:\n    - backends:\n",
                     d->port[PORT_RR]);
    /* Four host backends of weight 1: the gateway takes them in turn, which with respect
     * to prefix reuse is what a round-robin Service does (every replica sees every prefix). */
    for (unsigned i = 0; i < DEMO_NSIMS; i++)
        n += snprintf(text + n, sizeof(text) - (size_t)n, "      - host: 127.0.0.1:%u\n        weight: 1\n",
                      d->port[PORT_SIM_BASE] + i);
    pathf(path, sizeof(path), "%s/round-robin.yaml", d->out);
    if (write_file(path, text) != 0)
        return 1;
    snprintf(text, sizeof(text), standalone_fmt, d->port[PORT_IR], d->port[PORT_EPP]);
    pathf(path, sizeof(path), "%s/standalone-epp.yaml", d->out);
    if (write_file(path, text) != 0)
        return 1;

    static const char *const files[] = {"round-robin", "standalone-epp"};
    for (size_t f = 0; f < IG_ARRAY_LEN(files); f++) {
        struct demo_args a = {{NULL}, 0};
        char name[64], st[48];
        size_t i;
        arg_add(&a, NULL);
        arg_add(&a, "gateway");
        arg_add(&a, "-f");
        arg_addf(d, &a, "%s/%s.yaml", d->out, files[f]);
        arg_add(&a, "--validate-only");
        snprintf(name, sizeof(name), "validate-%s", files[f]);
        if (spawn(d, name, name, &a, NULL, 0, -1, &i) != 0)
            return 1;
        char log[DEMO_PATH_MAX];
        pathf(log, sizeof(log), "%s", d->procs[i].log);
        int rc = run_to_end(d, i, DEMO_READY_MS);
        if (rc == -2)
            return DEMO_INTERRUPTED;
        if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
            complain("%s/%s.yaml does not load (infergate gateway --validate-only: %s)", d->out, files[f],
                     rc == -1 ? "no answer" : status_text(rc, st, sizeof(st)));
            show_log(name, log);
            return 1;
        }
    }
    return 0;
}

/* ---- the two arms ------------------------------------------------------------------------------ */

static int start_sims(struct demo *d)
{
    size_t idx[DEMO_NSIMS];
    int rc;
    for (unsigned i = 0; i < DEMO_NSIMS; i++) {
        struct demo_args a = {{NULL}, 0};
        char name[16];
        snprintf(name, sizeof(name), "sim-%u", i + 1);
        arg_add(&a, NULL);
        arg_add(&a, "sim");
        for (size_t k = 0; k < IG_ARRAY_LEN(sim_flags); k++) {
            arg_add(&a, sim_flags[k][0]);
            arg_add(&a, sim_flags[k][1]);
        }
        arg_add(&a, "--port");
        arg_addf(d, &a, "%u", d->port[PORT_SIM_BASE] + i);
        arg_add(&a, "--id");
        arg_add(&a, ig_pool_strdup(&d->pool, name));
        if (spawn(d, name, name, &a, NULL, 0, -1, &idx[i]) != 0)
            return 1;
    }
    for (unsigned i = 0; i < DEMO_NSIMS; i++) {
        if ((rc = wait_http(d, idx[i], d->port[PORT_SIM_BASE] + i, "/health")) != 0)
            return rc;
    }
    return 0;
}

/* A gateway with |config| and its admin and stats ports off, readiness on |ready_port|. */
static int start_gateway(struct demo *d, const char *name, const char *config, unsigned ready_port, size_t *index)
{
    struct demo_args a = {{NULL}, 0};
    /* the environment overrides the file, which stays as published */
    const char *env[3] = {"ADMIN_ADDR=off", "STATS_ADDR=off",
                          ig_pool_printf(&d->pool, "READINESS_ADDR=127.0.0.1:%u", ready_port)};
    arg_add(&a, NULL);
    arg_add(&a, "gateway");
    arg_add(&a, "-f");
    arg_addf(d, &a, "%s/%s", d->out, config);
    if (spawn(d, name, name, &a, env, IG_ARRAY_LEN(env), -1, index) != 0)
        return 1;
    return wait_http(d, *index, ready_port, "/healthz/ready");
}

/*
 * One request through the gateway before measuring, so that a broken path is named instead of
 * showing a table of errors. Returns 0, 1 or 130.
 */
static int smoke(struct demo *d, const char *arm, unsigned port, size_t gw)
{
    char body[2048];
    int status =
        http_call(port, "/v1/completions", "{\"model\":\"" DEMO_MODEL "\",\"prompt\":\"hello\",\"max_tokens\":2}",
                  DEMO_SMOKE_MS, body, sizeof(body));
    if (status == 200)
        return 0;
    if (interrupted())
        return DEMO_INTERRUPTED;
    if (check_alive(d, d->nprocs) != 0)
        return 1;
    if (status == 503 && strstr(body, "inferenceRouting is not available") != NULL) {
        complain("%s: this build of infergate gateway does not implement inferenceRouting yet;", arm);
        fprintf(stderr, "demo: the gateway answered 503 \"%s\". No inference-routing result can be shown.\n", body);
        return 1;
    }
    if (status < 0)
        complain("%s: a test request through http://127.0.0.1:%u got no answer", arm, port);
    else
        complain("%s: a test request through http://127.0.0.1:%u answered HTTP %d: %s", arm, port, status, body);
    show_log(d->procs[gw].name, d->procs[gw].log);
    return 1;
}

/* Prints the bench table's summary lines of |label| (those that start with it) from |path|, indented. */
static void print_summary(const char *path, const char *label)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    char line[1024];
    size_t llen = strlen(label);
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p = line + strspn(line, " ");
        if (strncmp(p, label, llen) == 0 && p[llen] == ' ')
            printf("    %s", line);
    }
    fclose(f);
    fflush(stdout);
}

/*
 * Runs `infergate bench` through http://127.0.0.1:|port| as arm |label|: its table to
 * logs/bench-<label>.log, its progress lines to our stderr and logs/bench-<label>.err. While it
 * runs the other components are watched: one that dies stops the run at once, named. Returns 0, 1
 * or 130.
 */
static int run_bench(struct demo *d, const char *arm, const char *label, unsigned port)
{
    struct demo_args a = {{NULL}, 0};
    char name[64], errpath[DEMO_PATH_MAX], st[48];
    size_t ncomp = d->nprocs, bi;
    int pfd[2] = {-1, -1}, rc = 0;
    uint64_t drain_until = 0;
    FILE *errlog = NULL;
    say("%s: shared-prefix load at rates %s (req/s:duration) through http://127.0.0.1:%u", arm, d->rates, port);
    arg_add(&a, NULL);
    arg_add(&a, "bench");
    arg_addf(d, &a, "--url=http://127.0.0.1:%u", port);
    for (size_t k = 0; k < IG_ARRAY_LEN(workload_flags); k++) {
        arg_add(&a, workload_flags[k][0]);
        arg_add(&a, workload_flags[k][1]);
    }
    arg_addf(d, &a, "--rates=%s", d->rates);
    arg_addf(d, &a, "--label=%s", label);
    arg_addf(d, &a, "--json=%s/%s.json", d->out, label);
    snprintf(name, sizeof(name), "bench-%s", label);
    pathf(errpath, sizeof(errpath), "%s/logs/bench-%s.err", d->out, label);
    errlog = fopen(errpath, "we");
    if (pipe2(pfd, O_CLOEXEC) == -1) {
        complain("pipe: %s", strerror(errno));
        rc = 1;
        goto out;
    }
    if (spawn(d, "infergate bench", name, &a, NULL, 0, pfd[1], &bi) != 0) {
        rc = 1;
        goto out;
    }
    close(pfd[1]);
    pfd[1] = -1;
    for (;;) {
        struct pollfd pe = {pfd[0], POLLIN, 0};
        if (pfd[0] == -1)
            sleep_ms(100);
        else if (poll(&pe, 1, 100) > 0) {
            char buf[4096];
            ssize_t n = read(pfd[0], buf, sizeof(buf));
            if (n > 0) {
                fwrite(buf, 1, (size_t)n, stderr);
                if (errlog != NULL)
                    fwrite(buf, 1, (size_t)n, errlog);
            } else if (n == 0 || errno != EINTR) {
                close(pfd[0]);
                pfd[0] = -1;
            }
        }
        if (interrupted()) {
            rc = DEMO_INTERRUPTED;
            goto out;
        }
        /* a component that dies is reported at once, not as a table of connection errors */
        for (size_t i = 0; i < ncomp; i++) {
            if (!proc_alive(d, i)) {
                rc = check_alive(d, ncomp);
                goto out;
            }
        }
        /* done when it has exited and its output is read (or after a grace period, should a
         * descendant hold the pipe open) */
        if (proc_alive(d, bi))
            drain_until = now_ms() + 1000;
        else if (pfd[0] == -1 || now_ms() >= drain_until)
            break;
    }
    int bst = d->procs[bi].status;
    if (!WIFEXITED(bst) || WEXITSTATUS(bst) != 0) {
        complain("infergate bench (%s) exited with %s", arm, status_text(bst, st, sizeof(st)));
        if (errlog != NULL)
            fflush(errlog);
        show_log("infergate bench", errpath);
        check_alive(d, ncomp); /* the load may have failed because a component died: name it */
        rc = 1;
        goto out;
    }
    if ((rc = check_alive(d, ncomp)) != 0)
        goto out;
    print_summary(d->procs[bi].log, label);
out:
    if (pfd[0] != -1)
        close(pfd[0]);
    if (pfd[1] != -1)
        close(pfd[1]);
    if (errlog != NULL)
        fclose(errlog);
    return rc;
}

static int arm_round_robin(struct demo *d)
{
    size_t gw;
    int rc;
    if ((rc = start_sims(d)) != 0)
        return rc;
    if ((rc = start_gateway(d, "gateway-round-robin", "round-robin.yaml", d->port[PORT_RR_READY], &gw)) != 0)
        return rc;
    if ((rc = smoke(d, "round-robin", d->port[PORT_RR], gw)) != 0)
        return rc;
    return run_bench(d, "round-robin", "round-robin", d->port[PORT_RR]);
}

static int arm_inference(struct demo *d)
{
    struct demo_args a = {{NULL}, 0};
    size_t epp, gw;
    int rc;
    if ((rc = start_sims(d)) != 0)
        return rc;
    arg_add(&a, NULL);
    arg_add(&a, "epp");
    arg_add(&a, "--endpoints");
    arg_addf(d, &a, "127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u,127.0.0.1:%u", d->port[PORT_SIM_BASE],
             d->port[PORT_SIM_BASE] + 1, d->port[PORT_SIM_BASE] + 2, d->port[PORT_SIM_BASE] + 3);
    arg_add(&a, "--secure-serving=false");
    arg_add(&a, "--grpc-port");
    arg_addf(d, &a, "%u", d->port[PORT_EPP]);
    arg_add(&a, "--grpc-health-port");
    arg_addf(d, &a, "%u", d->port[PORT_EPP_HEALTH]);
    arg_add(&a, "--metrics-port");
    arg_addf(d, &a, "%u", d->port[PORT_EPP_METRICS]);
    if (spawn(d, "epp", "epp", &a, NULL, 0, -1, &epp) != 0)
        return 1;
    if ((rc = wait_port(d, epp, d->port[PORT_EPP])) != 0)
        return rc;
    if ((rc = start_gateway(d, "gateway-inference", "standalone-epp.yaml", d->port[PORT_IR_READY], &gw)) != 0)
        return rc;
    sleep_ms(500); /* let the EPP scrape every replica once */
    if (interrupted())
        return DEMO_INTERRUPTED;
    if ((rc = smoke(d, "inference-routing", d->port[PORT_IR], gw)) != 0)
        return rc;
    return run_bench(d, "inference-routing", "inference-routing", d->port[PORT_IR]);
}

/* ---- side by side ------------------------------------------------------------------------------ */

static const char *ms_text(const struct ig_bench_summary *s, double v, char *buf, size_t size)
{
    if (s->count == 0)
        return "n/a";
    snprintf(buf, size, "%.0f", v);
    return buf;
}

static const char *cached_text(const struct ig_bench_stage *s, char *buf, size_t size)
{
    if (s->input_tokens == 0)
        return "n/a";
    snprintf(buf, size, "%.0f%%", 100.0 * (double)s->cached_tokens / (double)s->input_tokens);
    return buf;
}

static void *json_malloc(size_t n)
{
    return ig_malloc(n);
}

static void json_free(void *p)
{
    ig_free(p);
}

/* Renders both arms as one table (stdout and merged.txt), CSV and plot, then one comparison line per stage. */
static int side_by_side(struct demo *d)
{
    static const char *const labels[] = {"round-robin", "inference-routing"};
    struct ig_bench_arm arms[2];
    char path[DEMO_PATH_MAX], err[512];
    size_t n = 0;
    int rc = 1, prc;
    FILE *f = NULL;
    memset(arms, 0, sizeof(arms));
    json_set_alloc_funcs(json_malloc, json_free); /* the report reader releases with ig_free */
    for (; n < 2; n++) {
        pathf(path, sizeof(path), "%s/%s.json", d->out, labels[n]);
        if (ig_bench__report_load(path, &arms[n], err, sizeof(err)) != 0) {
            complain("cannot read %s: %s", path, err);
            goto out;
        }
    }
    printf("\n");
    ig_bench__report_table(stdout, arms, n);
    fflush(stdout);
    pathf(path, sizeof(path), "%s/merged.txt", d->out);
    if ((f = fopen(path, "we")) == NULL) {
        complain("cannot write %s: %s", path, strerror(errno));
        goto out;
    }
    ig_bench__report_table(f, arms, n);
    if (fclose(f) != 0) {
        f = NULL;
        complain("cannot write %s", path);
        goto out;
    }
    f = NULL;
    pathf(path, sizeof(path), "%s/demo.csv", d->out);
    if ((prc = ig_bench__report_csv(path, arms, n)) != 0) {
        complain("cannot write %s: %s", path, ig_strerror(prc));
        goto out;
    }
    pathf(path, sizeof(path), "%s/demo", d->out);
    prc = ig_bench__plot(path, arms, n, 1);
    if (prc < 0 && prc != IG_EINVAL) {
        complain("cannot write the plot %s.gp: %s", path, ig_strerror(prc));
        goto out;
    }
    printf("\n");
    for (size_t i = 0; i < arms[0].nstages && i < arms[1].nstages; i++) {
        const struct ig_bench_stage *a = &arms[0].stages[i], *b = &arms[1].stages[i];
        char t[6][32];
        say("%g req/s: TTFT p50 %s ms round-robin vs %s ms inference-routing (p90 %s vs %s ms; prefix-cached %s vs "
            "%s)",
            a->rate, ms_text(&a->ttft, a->ttft.p50, t[0], sizeof(t[0])),
            ms_text(&b->ttft, b->ttft.p50, t[1], sizeof(t[1])), ms_text(&a->ttft, a->ttft.p90, t[2], sizeof(t[2])),
            ms_text(&b->ttft, b->ttft.p90, t[3], sizeof(t[3])), cached_text(a, t[4], sizeof(t[4])),
            cached_text(b, t[5], sizeof(t[5])));
    }
    if (prc == 0)
        say("plot: %s/demo.png (and demo.svg; data and gnuplot script beside it)", d->out);
    else if (prc == 1)
        say("plot script: %s/demo.gp (gnuplot not installed, so no PNG; `make deps` installs it)", d->out);
    else
        say("plot script: %s/demo.gp (gnuplot failed to render it; run `gnuplot %s/demo.gp` to see why)", d->out,
            d->out);
    rc = 0;
out:
    if (f != NULL)
        fclose(f);
    for (size_t i = 0; i < n; i++)
        ig_bench__arm_dispose(&arms[i]);
    return rc;
}

/* ---- command line ------------------------------------------------------------------------------ */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: infergate demo [options]\n\n"
            "The standalone stack on this machine with a short run: four `infergate sim` replicas, then the same\n"
            "shared-prefix workload through a plain round-robin gateway route and through inference routing\n"
            "(`infergate epp` and `infergate gateway` with the standalone-EPP configuration), printed side by side\n"
            "with a plot. Every process started is stopped on exit, on failure and on Ctrl-C. Exit status: 0 done,\n"
            "1 a component failed (named, with its log), 2 bad options, 130 interrupted. See docs/demo.md.\n\n"
            "options (each also read from the environment variable shown; the option wins):\n");
    for (size_t i = 0; i < IG_ARRAY_LEN(demo_opts); i++) {
        const struct demo_opt *o = &demo_opts[i];
        fprintf(out, "  %s %s   (default %s; $%s)\n      %s\n", o->flag, o->metavar, o->deflt, o->env, o->help);
    }
    fprintf(out, "  --help\n      this text\n");
    fprintf(out, "\nWith --ir-port and --epp-port at 8081 and 9002 the inference gateway runs agentgateway's\n"
                 "standalone-EPP example exactly as published.\n");
}

static int bad_option(const char *fmt, ...) IG_PRINTF(1, 2);
static int bad_option(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("infergate demo: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (see infergate demo --help)\n", stderr);
    va_end(ap);
    return 2;
}

static int set_option(struct demo *d, const struct demo_opt *o, const char *v, const char *origin)
{
    if (o->port < 0) {
        if (*v == 0)
            return bad_option("%s: empty value", origin);
        if (strcmp(o->flag, "--out") == 0) {
            if (strlen(v) >= sizeof(d->out) - 64)
                return bad_option("%s: path too long", origin);
            snprintf(d->out, sizeof(d->out), "%s", v);
        } else {
            /* the rest of the syntax is infergate bench's to check; this catches stray words early */
            if (strspn(v, "0123456789.:,smh") != strlen(v))
                return bad_option("%s: '%s' is not a list of R[:DUR] (e.g. 4:20s,8:20s)", origin, v);
            d->rates = v;
        }
        return 0;
    }
    char *end = NULL;
    errno = 0;
    long p = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != 0 || p < 1 || p > 65535)
        return bad_option("%s: '%s' is not a port", origin, v);
    d->port[o->port] = (unsigned)p;
    return 0;
}

static int parse_args(struct demo *d, int argc, char **argv)
{
    int rc;
    /* defaults, then the environment, then the command line */
    for (size_t i = 0; i < IG_ARRAY_LEN(demo_opts); i++) {
        const struct demo_opt *o = &demo_opts[i];
        if (o->port >= 0)
            d->port[o->port] = (unsigned)strtoul(o->deflt, NULL, 10);
    }
    d->rates = "4:20s,8:20s";
    char exe[DEMO_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash != NULL)
            *slash = 0;
        snprintf(d->out, sizeof(d->out), "%.*s/demo", (int)(sizeof(d->out) - 8), exe);
    } else {
        snprintf(d->out, sizeof(d->out), "demo");
    }
    for (size_t i = 0; i < IG_ARRAY_LEN(demo_opts); i++) {
        const char *v = getenv(demo_opts[i].env);
        if (v != NULL && *v != 0 && (rc = set_option(d, &demo_opts[i], v, demo_opts[i].env)) != 0)
            return rc;
    }
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        const struct demo_opt *o = NULL;
        const char *eq = strchr(arg, '=');
        size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
        for (size_t k = 0; k < IG_ARRAY_LEN(demo_opts) && o == NULL; k++) {
            if (strlen(demo_opts[k].flag) == len && strncmp(arg, demo_opts[k].flag, len) == 0)
                o = &demo_opts[k];
        }
        if (o == NULL)
            return bad_option("unknown option '%s'", arg);
        const char *v = eq != NULL ? eq + 1 : NULL;
        if (v == NULL) {
            if (i + 1 >= argc)
                return bad_option("%s needs a value (%s)", o->flag, o->metavar);
            v = argv[++i];
        }
        if ((rc = set_option(d, o, v, o->flag)) != 0)
            return rc;
    }
    if (d->port[PORT_SIM_BASE] + DEMO_NSIMS - 1 > 65535)
        return bad_option("--sim-base-port: %u..%u is past 65535", d->port[PORT_SIM_BASE],
                          d->port[PORT_SIM_BASE] + DEMO_NSIMS - 1);
    /* every port distinct: the simulators take four in a row */
    unsigned all[PORT_COUNT + DEMO_NSIMS];
    size_t na = 0;
    for (unsigned i = 0; i < DEMO_NSIMS; i++)
        all[na++] = d->port[PORT_SIM_BASE] + i;
    for (int p = PORT_SIM_BASE + 1; p < PORT_COUNT; p++)
        all[na++] = d->port[p];
    for (size_t i = 0; i < na; i++) {
        for (size_t j = i + 1; j < na; j++) {
            if (all[i] == all[j])
                return bad_option("port %u is given to two components", all[i]);
        }
    }
    return 0;
}

/* Every port free, or one message naming the busy ones. Returns 0 or 1. */
static int check_ports(struct demo *d)
{
    char busy[256] = "";
    size_t len = 0;
    unsigned all[PORT_COUNT + DEMO_NSIMS];
    size_t na = 0;
    for (unsigned i = 0; i < DEMO_NSIMS; i++)
        all[na++] = d->port[PORT_SIM_BASE] + i;
    for (int p = PORT_SIM_BASE + 1; p < PORT_COUNT; p++)
        all[na++] = d->port[p];
    for (size_t i = 0; i < na; i++) {
        if (port_busy(all[i]) && len < sizeof(busy) - 8)
            len += (size_t)snprintf(busy + len, sizeof(busy) - len, "%s%u", len > 0 ? " " : "", all[i]);
    }
    if (len == 0)
        return 0;
    const unsigned *p = d->port;
    complain("port(s) %s already in use on 127.0.0.1; the demo needs them free", busy);
    fprintf(stderr,
            "demo: (simulators %u-%u, round-robin gateway %u, inference gateway %u, EPP %u/%u/%u, gateway readiness "
            "%u/%u; see infergate demo --help to move them)\n",
            p[PORT_SIM_BASE], p[PORT_SIM_BASE] + DEMO_NSIMS - 1, p[PORT_RR], p[PORT_IR], p[PORT_EPP],
            p[PORT_EPP_HEALTH], p[PORT_EPP_METRICS], p[PORT_RR_READY], p[PORT_IR_READY]);
    return 1;
}

static int demo_run(struct demo *d)
{
    int rc;
    /* nothing is deleted before the ports are known free: a demo that cannot start keeps the last results */
    if ((rc = check_out(d)) != 0 || (rc = check_ports(d)) != 0 || (rc = prepare_out(d)) != 0 ||
        (rc = write_configs(d)) != 0)
        return rc;
    if (d->port[PORT_IR] != DEMO_PUBLISHED_IR_PORT || d->port[PORT_EPP] != DEMO_PUBLISHED_EPP_PORT)
        say("the standalone configuration listens on %u and asks the EPP on %u (published: %d and %d)",
            d->port[PORT_IR], d->port[PORT_EPP], DEMO_PUBLISHED_IR_PORT, DEMO_PUBLISHED_EPP_PORT);
    d->t0_ns = ig_time_ns();
    say("four simulator replicas on ports %u-%u (logs and results in %s)", d->port[PORT_SIM_BASE],
        d->port[PORT_SIM_BASE] + DEMO_NSIMS - 1, d->out);
    if ((rc = arm_round_robin(d)) != 0)
        return rc;
    stop_all(d); /* fresh simulators (empty caches) for the second arm */
    if ((rc = arm_inference(d)) != 0)
        return rc;
    stop_all(d);
    if ((rc = side_by_side(d)) != 0)
        return rc;
    say("done in %.0f s; every process started has been stopped", (double)(ig_time_ns() - d->t0_ns) / 1e9);
    return 0;
}

int ig_demo_main(int argc, char **argv)
{
    struct demo *d = ig_calloc(1, sizeof(*d));
    struct sigaction sa, old_int, old_term, old_hup;
    int rc = parse_args(d, argc, argv);
    if (rc != 0) {
        ig_free(d);
        return rc == 1 ? 0 : rc;
    }
    ig_pool_init(&d->pool);
    snprintf(d->parent_env, sizeof(d->parent_env), "%s=%ld", DEMO_PARENT_ENV, (long)getpid());
    /* no SA_RESTART: a signal cuts every sleep and socket wait short, and each loop checks for it */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);

    rc = demo_run(d);
    if (rc == DEMO_INTERRUPTED || (interrupted() && rc == 0)) {
        printf("\n");
        say("interrupted; stopping everything");
        rc = DEMO_INTERRUPTED;
    }
    stop_all(d);

    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    ig_pool_dispose(&d->pool);
    ig_free(d);
    return rc;
}

void ig_demo_child_init(void)
{
    const char *v = getenv(DEMO_PARENT_ENV);
    if (v == NULL)
        return;
    char *end = NULL;
    long parent = strtol(v, &end, 10);
    unsetenv(DEMO_PARENT_ENV); /* for this process only: what it starts is not the demo's child */
    if (end == v || *end != 0 || parent <= 1)
        return;
    /* A demo killed outright (SIGKILL, a crash) cannot stop its stack: the kernel does it instead. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != (pid_t)parent)
        _exit(143); /* the demo died before the line above took effect */
}
