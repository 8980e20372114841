/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `infergate bench`: flags, the run and its reports. Flags are parsed into a workload config, a
 * run config (target, API, stages) and the report outputs; the run happens on one libuv loop in
 * this thread (driver.c). With --merge no load is sent: the JSON reports of earlier runs (arms)
 * are read back and rendered into one table, CSV and plot. Exit status: 0 done, 1 a run where no
 * request succeeded or a report could not be written, 2 bad flags, 130 interrupted.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "bench_int.h"

#define MAX_STAGES  256
#define MAX_HEADERS 32
#define MAX_ARMS    32

enum opt_id {
    O_URL = 0,
    O_HTTP,
    O_API,
    O_MODEL,
    O_NO_STREAM,
    O_NO_IGNORE_EOS,
    O_HEADER,
    O_WORKLOAD,
    O_NUM_GROUPS,
    O_PROMPTS_PER_GROUP,
    O_SYSTEM_LEN,
    O_QUESTION_LEN,
    O_QUESTION_DIST,
    O_OUTPUT_LEN,
    O_OUTPUT_DIST,
    O_INPUT_DIST,
    O_MULTI_TURN,
    O_MAX_HISTORY_KB,
    O_BODY_KB,
    O_LORA,
    O_SEED,
    O_RATES,
    O_ARRIVAL,
    O_CONCURRENCY,
    O_REQUESTS,
    O_STAGE_DURATION,
    O_TIMEOUT,
    O_MAX_INFLIGHT,
    O_MAX_SAMPLES,
    O_LABEL,
    O_JSON,
    O_CSV,
    O_PLOT,
    O_MERGE,
    O_NO_PROGRESS,
    O_LOG_LEVEL,
    O_HELP,
    O_COUNT
};

struct opt {
    const char *name;
    int id;
    const char *arg; /* NULL: a switch */
    const char *def;
    const char *help;
};

static const struct opt opts[] = {
    {"--url", O_URL, "URL[,URL...]", "http://127.0.0.1:8000",
     "target base URL: http://host:port[/path-prefix] (numeric host or localhost); several: round robin"},
    {"--http", O_HTTP, "1.1|2", "1.1", "HTTP/1.1, or HTTP/2 cleartext with prior knowledge (h2c)"},
    {"--api", O_API, "completions|chat", "completions", "POST /v1/completions or /v1/chat/completions"},
    {"--model", O_MODEL, "NAME", "none: the server's default", "model name sent in every request"},
    {"--no-stream", O_NO_STREAM, NULL, NULL, "non-streaming requests (no TTFT, TPOT or ITL)"},
    {"--no-ignore-eos", O_NO_IGNORE_EOS, NULL, NULL, "do not send ignore_eos: true"},
    {"--header", O_HEADER, "'NAME: VALUE'", NULL, "extra request header (repeatable)"},
    {"--workload", O_WORKLOAD, "shared_prefix|synthetic|long", "shared_prefix", "prompt corpus"},
    {"--num-groups", O_NUM_GROUPS, "N", "10", "shared_prefix: distinct shared system prompts"},
    {"--prompts-per-group", O_PROMPTS_PER_GROUP, "N", "10", "shared_prefix: unique questions per system prompt"},
    {"--system-prompt-len", O_SYSTEM_LEN, "TOKENS", "100", "shared_prefix: shared prefix length"},
    {"--question-len", O_QUESTION_LEN, "TOKENS", "50", "shared_prefix: question length"},
    {"--question-dist", O_QUESTION_DIST, "DIST", NULL,
     "shared_prefix: question length distribution (overrides --question-len)"},
    {"--output-len", O_OUTPUT_LEN, "TOKENS", "50; long: 16", "max_tokens of every request"},
    {"--output-dist", O_OUTPUT_DIST, "DIST", "synthetic: sharegpt", "max_tokens distribution (overrides --output-len)"},
    {"--input-dist", O_INPUT_DIST, "DIST", "sharegpt", "synthetic: prompt length distribution"},
    {"--multi-turn", O_MULTI_TURN, NULL, NULL, "shared_prefix: every prompt is a chat session whose turns accumulate"},
    {"--max-history-kb", O_MAX_HISTORY_KB, "KB", "1024", "multi-turn: history kept per session"},
    {"--body-kb", O_BODY_KB, "KB", "220", "long: prompt size in KiB"},
    {"--lora", O_LORA, "NAME:SHARE,...", NULL, "adapters and their traffic shares; the rest goes to --model"},
    {"--seed", O_SEED, "N", "1", "seed of the corpus, the order, the arrivals and the LoRA picks"},
    {"--rates", O_RATES, "R[:DUR],...", NULL, "open loop: one stage per request rate (req/s), optional own duration"},
    {"--arrival", O_ARRIVAL, "poisson|constant", "poisson", "open-loop inter-arrival times"},
    {"--concurrency", O_CONCURRENCY, "N,...", NULL, "closed loop: one stage per number of requests kept in flight"},
    {"--requests", O_REQUESTS, "N", "none", "requests sent per stage (a stage ends at this count or its duration)"},
    {"--stage-duration", O_STAGE_DURATION, "DUR", "30s; none with --requests", "send window of each stage"},
    {"--timeout", O_TIMEOUT, "DUR", "300s", "per-request timeout (0: none)"},
    {"--max-inflight", O_MAX_INFLIGHT, "N", "10000", "open loop: arrivals beyond N in flight fail as inflight_limit"},
    {"--max-samples", O_MAX_SAMPLES, "N", "1000000", "samples kept per metric per stage (reservoir beyond)"},
    {"--label", O_LABEL, "NAME", "bench", "name of this arm in reports and plots"},
    {"--json", O_JSON, "FILE", NULL, "write the results as JSON"},
    {"--csv", O_CSV, "FILE", NULL, "write one CSV row per stage"},
    {"--plot", O_PLOT, "PREFIX", NULL, "write PREFIX.gp (+ .png and .svg when gnuplot is installed)"},
    {"--merge", O_MERGE, "A.json,B.json", NULL, "no load: render these JSON reports as one table / CSV / plot"},
    {"--no-progress", O_NO_PROGRESS, NULL, NULL, "no progress line on stderr"},
    {"--log-level", O_LOG_LEVEL, "LEVEL", "warn", "error|warn|info|debug|trace"},
    {"--help", O_HELP, NULL, NULL, "show this help"},
};

struct cli {
    struct ig_bench_workload_config wl;
    struct ig_bench_run_config run;
    struct ig_bench_stage_spec stages[MAX_STAGES];
    size_t nstages;
    ig_http_header_t headers[MAX_HEADERS];
    const char *url; /* one URL, or a comma-separated list */
    struct ig_bench_target targets[IG_BENCH_MAX_TARGETS];
    char authority[IG_BENCH_MAX_TARGETS][280];
    char base_path[IG_BENCH_MAX_TARGETS][512];
    const char *workload;
    const char *label, *json, *csv, *plot, *merge;
    const char *rates, *concurrency;
    double stage_duration; /* < 0: not given */
    uint64_t requests;
    uint32_t output_len, question_len, body_kb;
    int output_len_set, output_dist_set, question_dist_set, input_dist_set;
    uint32_t max_history_kb;
    char lora_names[IG_BENCH_MAX_LORAS][128];
};

static void usage(FILE *out)
{
    fprintf(out, "usage: infergate bench [options] (--rates R,... | --concurrency N,... | --merge A.json,...)\n\n"
                 "A load generator for OpenAI-compatible inference servers and gateways: shared-prefix, synthetic,\n"
                 "multi-turn, multi-LoRA and long-prompt workloads; Poisson or fixed-concurrency load in stages;\n"
                 "per-stage TTFT, TPOT, NTPOT, ITL and e2e latency (mean, p50, p90, p99), throughput, failures and\n"
                 "the share of requests each replica (x-infergate-replica) served.\n\noptions:\n");
    for (size_t i = 0; i < IG_ARRAY_LEN(opts); i++) {
        char left[64];
        snprintf(left, sizeof(left), "%s%s%s", opts[i].name, opts[i].arg != NULL ? " " : "",
                 opts[i].arg != NULL ? opts[i].arg : "");
        if (strlen(left) > 30)
            fprintf(out, "  %s\n  %-30s", left, "");
        else
            fprintf(out, "  %-30s", left);
        if (opts[i].def != NULL)
            fprintf(out, " %s (default: %s)\n", opts[i].help, opts[i].def);
        else
            fprintf(out, " %s\n", opts[i].help);
    }
    fprintf(out,
            "\nDIST: fixed:N | uniform:MIN:MAX | normal:MEAN:STD[:MIN:MAX] | sharegpt[:SCALE] (lengths in tokens,\n"
            "4 characters per token). DUR: a number with ms, s, m or h (plain numbers are seconds).\n"
            "Options also take the form --option=value. See docs/bench.md.\n");
}

static int bad(const char *fmt, ...) IG_PRINTF(1, 2);
static int bad(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "infergate bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'infergate bench --help'.\n");
    va_end(ap);
    return 2;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (*s < '0' || *s > '9')
        return IG_EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != 0 || v > max)
        return IG_EINVAL;
    *out = v;
    return 0;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (parse_u64(s, max, &v) != 0 || v < min)
        return IG_EINVAL;
    *out = (uint32_t)v;
    return 0;
}

/* "30s", "500ms", "2m", "1.5" (seconds) -> seconds; |len| limits the text (SIZE_MAX: NUL-terminated). */
static int parse_duration(const char *s, size_t len, double *out)
{
    char buf[64];
    if (len == SIZE_MAX)
        len = strlen(s);
    if (len == 0 || len >= sizeof(buf))
        return IG_EINVAL;
    memcpy(buf, s, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || errno != 0 || !isfinite(v) || v < 0)
        return IG_EINVAL;
    if (strcmp(end, "ms") == 0)
        v /= 1000.0;
    else if (strcmp(end, "m") == 0)
        v *= 60.0;
    else if (strcmp(end, "h") == 0)
        v *= 3600.0;
    else if (*end != 0 && strcmp(end, "s") != 0)
        return IG_EINVAL;
    if (v > 30 * 86400.0)
        return IG_EINVAL;
    *out = v;
    return 0;
}

/* One URL of the --url list (|u|, |len| bytes) into target |i|. */
static int parse_one_url(struct cli *c, size_t i, const char *u, size_t len)
{
    char url[1024];
    if (len == 0 || len >= sizeof(url))
        return bad("--url: bad URL in '%s'", c->url);
    memcpy(url, u, len);
    url[len] = 0;
    if (strncmp(url, "http://", 7) != 0)
        return bad("--url: only http:// URLs are supported: '%s'", url);
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t hlen = slash != NULL ? (size_t)(slash - h) : strlen(h);
    if (hlen == 0 || hlen >= sizeof(c->authority[i]))
        return bad("--url: bad host in '%s'", url);
    memcpy(c->authority[i], h, hlen);
    c->authority[i][hlen] = 0;
    /* a URL without a port means port 80 */
    char hostport[300];
    const char *rb = strrchr(c->authority[i], ']');
    const char *colon = strrchr(c->authority[i], ':');
    if (colon == NULL || (rb != NULL && colon < rb))
        snprintf(hostport, sizeof(hostport), "%s:80", c->authority[i]);
    else
        snprintf(hostport, sizeof(hostport), "%s", c->authority[i]);
    if (ig_addr_parse(hostport, &c->targets[i].addr) != 0)
        return bad("--url: '%s' needs a numeric address or localhost and a port", url);
    const char *path = slash != NULL ? slash : "";
    size_t plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    if (plen >= sizeof(c->base_path[i]))
        return bad("--url: path too long");
    memcpy(c->base_path[i], path, plen);
    c->base_path[i][plen] = 0;
    c->targets[i].authority = c->authority[i];
    c->targets[i].base_path = c->base_path[i];
    return 0;
}

/* --url URL[,URL...]: several targets are served in strict rotation. */
static int parse_url(struct cli *c)
{
    const char *p = c->url;
    size_t n = 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n >= IG_BENCH_MAX_TARGETS)
            return bad("--url: at most %d URLs", IG_BENCH_MAX_TARGETS);
        int rc = parse_one_url(c, n, p, len);
        if (rc != 0)
            return rc;
        n++;
        if (end == NULL)
            break;
        p = end + 1;
    }
    c->run.targets = c->targets;
    c->run.ntargets = n;
    return 0;
}

static int parse_lora(struct cli *c, const char *val)
{
    const char *p = val;
    while (*p != 0) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *colon = memrchr(p, ':', len);
        if (colon == NULL || colon == p)
            return bad("--lora: expected NAME:SHARE in '%.*s'", (int)len, p);
        size_t nlen = (size_t)(colon - p);
        char num[64];
        size_t slen = len - nlen - 1;
        if (slen == 0 || slen >= sizeof(num) || nlen >= sizeof(c->lora_names[0]))
            return bad("--lora: bad item '%.*s'", (int)len, p);
        if (c->wl.num_loras >= IG_BENCH_MAX_LORAS)
            return bad("--lora: at most %d adapters", IG_BENCH_MAX_LORAS);
        memcpy(num, colon + 1, slen);
        num[slen] = 0;
        char *e;
        double share = strtod(num, &e);
        if (*e == '%') {
            share /= 100.0;
            e++;
        }
        if (e == num || *e != 0 || !(share >= 0 && share <= 1))
            return bad("--lora: share of '%.*s' must be in [0, 1] (or a percentage)", (int)nlen, p);
        memcpy(c->lora_names[c->wl.num_loras], p, nlen);
        c->lora_names[c->wl.num_loras][nlen] = 0;
        c->wl.loras[c->wl.num_loras] = c->lora_names[c->wl.num_loras];
        c->wl.lora_shares[c->wl.num_loras] = share;
        c->wl.num_loras++;
        p = end != NULL ? end + 1 : p + len;
    }
    double sum = 0;
    for (size_t i = 0; i < c->wl.num_loras; i++)
        sum += c->wl.lora_shares[i];
    if (sum > 1.0 + 1e-9)
        return bad("--lora: shares add up to %g, more than 1", sum);
    return 0;
}

static int parse_header(struct cli *c, const char *val)
{
    const char *colon = strchr(val, ':');
    if (colon == NULL || colon == val)
        return bad("--header: expected 'NAME: VALUE', got '%s'", val);
    if (c->run.nheaders >= MAX_HEADERS)
        return bad("--header: at most %d headers", MAX_HEADERS);
    ig_http_header_t *h = &c->headers[c->run.nheaders++];
    h->name = ig_iov_trim(ig_iov(val, (size_t)(colon - val)));
    h->value = ig_iov_trim(ig_iov_cstr(colon + 1));
    return 0;
}

static int add_stage(struct cli *c, struct ig_bench_stage_spec s)
{
    if (c->nstages >= MAX_STAGES)
        return bad("at most %d stages", MAX_STAGES);
    c->stages[c->nstages++] = s;
    return 0;
}

static int build_stages(struct cli *c)
{
    if ((c->rates != NULL) == (c->concurrency != NULL))
        return bad("give either --rates or --concurrency (or --merge)");
    double dur = c->stage_duration >= 0 ? c->stage_duration : (c->requests > 0 ? 0 : 30);
    const char *p = c->rates != NULL ? c->rates : c->concurrency;
    while (*p != 0) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (len == 0 || len >= sizeof(item))
            return bad("bad stage list '%s'", c->rates != NULL ? c->rates : c->concurrency);
        memcpy(item, p, len);
        item[len] = 0;
        struct ig_bench_stage_spec s = {.duration_s = dur, .requests = c->requests};
        if (c->rates != NULL) {
            char *colon = strchr(item, ':'), *e;
            if (colon != NULL) {
                *colon = 0;
                if (parse_duration(colon + 1, SIZE_MAX, &s.duration_s) != 0 || s.duration_s <= 0)
                    return bad("--rates: bad duration in '%.*s'", (int)len, p);
            }
            s.mode = IG_BENCH_MODE_RATE;
            s.rate = strtod(item, &e);
            if (e == item || *e != 0 || !(s.rate > 0 && s.rate <= 1e6))
                return bad("--rates: bad rate '%s' (requests per second, > 0)", item);
        } else {
            s.mode = IG_BENCH_MODE_CONCURRENCY;
            if (parse_u32(item, 1, 1000000, &s.concurrency) != 0)
                return bad("--concurrency: bad value '%s' (1..1000000)", item);
        }
        if (s.duration_s <= 0 && s.requests == 0)
            return bad("each stage needs a duration (--stage-duration) or a request count (--requests)");
        int rc = add_stage(c, s);
        if (rc != 0)
            return rc;
        p = end != NULL ? end + 1 : p + len;
    }
    c->run.stages = c->stages;
    c->run.nstages = c->nstages;
    return 0;
}

static void cli_defaults(struct cli *c)
{
    memset(c, 0, sizeof(*c));
    c->url = "http://127.0.0.1:8000";
    c->workload = "shared_prefix";
    c->label = "bench";
    c->stage_duration = -1;
    c->output_len = 50;
    c->question_len = 50;
    c->body_kb = 220;
    c->max_history_kb = 1024;
    c->wl.seed = 1;
    c->wl.num_groups = 10;
    c->wl.prompts_per_group = 10;
    c->wl.system_len = 100;
    c->run.http_version = IG_HTTP_11;
    c->run.stream = 1;
    c->run.ignore_eos = 1;
    c->run.timeout_ms = 300000;
    c->run.max_inflight = 10000;
    c->run.max_samples = 1000000;
    c->run.headers = c->headers;
}

static int set_dist(const char *name, const char *val, int is_output, struct ig_bench_dist *d, int *set)
{
    if (ig_bench__dist_parse(val, is_output, d) != 0)
        return bad("%s: bad distribution '%s' (fixed:N, uniform:MIN:MAX, normal:MEAN:STD[:MIN:MAX], sharegpt[:SCALE])",
                   name, val);
    *set = 1;
    return 0;
}

/* Returns 0, 1 after --help, or 2. */
static int parse_args(struct cli *c, int argc, char **argv)
{
    enum ig_log_level level = IG_LOG_WARN;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        size_t nlen = eq != NULL && strncmp(a, "--", 2) == 0 ? (size_t)(eq - a) : strlen(a);
        const struct opt *o = NULL;
        for (size_t k = 0; k < IG_ARRAY_LEN(opts); k++) {
            if (strlen(opts[k].name) == nlen && strncmp(opts[k].name, a, nlen) == 0) {
                o = &opts[k];
                break;
            }
        }
        if (o == NULL)
            return bad("unknown option '%s'", a);
        const char *v = NULL;
        if (o->arg != NULL) {
            if (nlen < strlen(a))
                v = a + nlen + 1;
            else if (i + 1 < argc)
                v = argv[++i];
            else
                return bad("%s needs a value (%s)", o->name, o->arg);
        } else if (nlen < strlen(a)) {
            return bad("%s takes no value", o->name);
        }
        uint64_t u64;
        int rc = 0;
        switch (o->id) {
        case O_URL:
            c->url = v;
            break;
        case O_HTTP:
            if (strcmp(v, "1.1") == 0 || strcmp(v, "1") == 0)
                c->run.http_version = IG_HTTP_11;
            else if (strcmp(v, "2") == 0 || strcmp(v, "h2c") == 0)
                c->run.http_version = IG_HTTP_2;
            else
                return bad("--http: expected 1.1 or 2, got '%s'", v);
            break;
        case O_API:
            if (strcmp(v, "completions") == 0 || strcmp(v, "completion") == 0)
                c->run.api = IG_BENCH_API_COMPLETIONS;
            else if (strcmp(v, "chat") == 0)
                c->run.api = IG_BENCH_API_CHAT;
            else
                return bad("--api: expected completions or chat, got '%s'", v);
            break;
        case O_MODEL:
            if (*v == 0)
                return bad("--model: empty name");
            c->wl.model = v;
            break;
        case O_NO_STREAM:
            c->run.stream = 0;
            break;
        case O_NO_IGNORE_EOS:
            c->run.ignore_eos = 0;
            break;
        case O_HEADER:
            rc = parse_header(c, v);
            break;
        case O_WORKLOAD:
            if (strcmp(v, "shared_prefix") != 0 && strcmp(v, "synthetic") != 0 && strcmp(v, "long") != 0)
                return bad("--workload: expected shared_prefix, synthetic or long, got '%s'", v);
            c->workload = v;
            break;
        case O_NUM_GROUPS:
            if (parse_u32(v, 1, 1u << 20, &c->wl.num_groups) != 0)
                return bad("--num-groups: expected 1..1048576, got '%s'", v);
            break;
        case O_PROMPTS_PER_GROUP:
            if (parse_u32(v, 1, 1u << 20, &c->wl.prompts_per_group) != 0)
                return bad("--prompts-per-group: expected 1..1048576, got '%s'", v);
            break;
        case O_SYSTEM_LEN:
            if (parse_u32(v, 0, 1u << 22, &c->wl.system_len) != 0)
                return bad("--system-prompt-len: expected 0..4194304 tokens, got '%s'", v);
            break;
        case O_QUESTION_LEN:
            if (parse_u32(v, 1, 1u << 22, &c->question_len) != 0)
                return bad("--question-len: expected 1..4194304 tokens, got '%s'", v);
            break;
        case O_OUTPUT_LEN:
            if (parse_u32(v, 1, 1u << 22, &c->output_len) != 0)
                return bad("--output-len: expected 1..4194304 tokens, got '%s'", v);
            c->output_len_set = 1;
            break;
        case O_QUESTION_DIST:
            rc = set_dist(o->name, v, 0, &c->wl.question, &c->question_dist_set);
            break;
        case O_OUTPUT_DIST:
            rc = set_dist(o->name, v, 1, &c->wl.output, &c->output_dist_set);
            break;
        case O_INPUT_DIST:
            rc = set_dist(o->name, v, 0, &c->wl.input, &c->input_dist_set);
            break;
        case O_MULTI_TURN:
            c->wl.multi_turn = 1;
            break;
        case O_MAX_HISTORY_KB:
            if (parse_u32(v, 1, 1u << 20, &c->max_history_kb) != 0)
                return bad("--max-history-kb: expected 1..1048576, got '%s'", v);
            break;
        case O_BODY_KB:
            if (parse_u32(v, 1, 1u << 20, &c->body_kb) != 0)
                return bad("--body-kb: expected 1..1048576, got '%s'", v);
            break;
        case O_LORA:
            rc = parse_lora(c, v);
            break;
        case O_SEED:
            if (parse_u64(v, UINT64_MAX, &c->wl.seed) != 0)
                return bad("--seed: expected an unsigned integer, got '%s'", v);
            break;
        case O_RATES:
            c->rates = v;
            break;
        case O_ARRIVAL:
            if (strcmp(v, "poisson") == 0)
                c->run.arrival = IG_BENCH_ARRIVAL_POISSON;
            else if (strcmp(v, "constant") == 0)
                c->run.arrival = IG_BENCH_ARRIVAL_CONSTANT;
            else
                return bad("--arrival: expected poisson or constant, got '%s'", v);
            break;
        case O_CONCURRENCY:
            c->concurrency = v;
            break;
        case O_REQUESTS:
            if (parse_u64(v, (uint64_t)1 << 40, &c->requests) != 0)
                return bad("--requests: expected a count, got '%s'", v);
            break;
        case O_STAGE_DURATION:
            if (parse_duration(v, SIZE_MAX, &c->stage_duration) != 0)
                return bad("--stage-duration: bad duration '%s'", v);
            break;
        case O_TIMEOUT: {
            double t;
            if (parse_duration(v, SIZE_MAX, &t) != 0)
                return bad("--timeout: bad duration '%s'", v);
            c->run.timeout_ms = (uint64_t)llround(t * 1000.0);
            break;
        }
        case O_MAX_INFLIGHT:
            if (parse_u32(v, 1, 10000000, &c->run.max_inflight) != 0)
                return bad("--max-inflight: expected 1..10000000, got '%s'", v);
            break;
        case O_MAX_SAMPLES:
            if (parse_u64(v, (uint64_t)1 << 30, &u64) != 0 || u64 < 100)
                return bad("--max-samples: expected 100..1073741824, got '%s'", v);
            c->run.max_samples = (size_t)u64;
            break;
        case O_LABEL:
            if (*v == 0)
                return bad("--label: empty name");
            c->label = v;
            break;
        case O_JSON:
            c->json = v;
            break;
        case O_CSV:
            c->csv = v;
            break;
        case O_PLOT:
            c->plot = v;
            break;
        case O_MERGE:
            c->merge = v;
            break;
        case O_NO_PROGRESS:
            c->run.progress = IG_BENCH_PROGRESS_OFF;
            break;
        case O_LOG_LEVEL:
            if (ig_log_parse_level(v, &level) != 0)
                return bad("--log-level: expected error, warn, info, debug or trace, got '%s'", v);
            break;
        case O_HELP:
            usage(stdout);
            return 1;
        default:
            return bad("unhandled option '%s'", a);
        }
        if (rc != 0)
            return rc;
    }
    ig_log_set_level(level);
    if (c->merge != NULL)
        return 0;
    int rc = parse_url(c);
    if (rc != 0)
        return rc;
    if (c->json == NULL && c->csv == NULL && c->plot == NULL) {
        /* the table alone is fine */
    }
    return build_stages(c);
}

/* Resolves per-workload defaults into the workload config. */
static int resolve_workload(struct cli *c)
{
    struct ig_bench_workload_config *w = &c->wl;
    w->api = c->run.api;
    w->max_history = (size_t)c->max_history_kb * 1024;
    if (!c->question_dist_set)
        w->question = ig_bench__dist_fixed(c->question_len);
    if (strcmp(c->workload, "shared_prefix") == 0) {
        w->kind = IG_BENCH_WL_SHARED_PREFIX;
        if (!c->output_dist_set)
            w->output = ig_bench__dist_fixed(c->output_len);
    } else {
        if (w->multi_turn)
            return bad("--multi-turn works with --workload shared_prefix");
        w->kind = IG_BENCH_WL_SYNTHETIC;
        if (strcmp(c->workload, "long") == 0) {
            if (c->input_dist_set)
                return bad("--input-dist does not apply to --workload long (use --body-kb)");
            w->input = ig_bench__dist_fixed(c->body_kb * 1024u / IG_BENCH_CHARS_PER_TOKEN);
            if (!c->output_dist_set)
                w->output = ig_bench__dist_fixed(c->output_len_set ? c->output_len : 16);
        } else {
            if (!c->input_dist_set)
                (void)ig_bench__dist_parse("sharegpt", 0, &w->input);
            if (!c->output_dist_set) {
                if (c->output_len_set)
                    w->output = ig_bench__dist_fixed(c->output_len);
                else
                    (void)ig_bench__dist_parse("sharegpt", 1, &w->output);
            }
        }
    }
    return 0;
}

/* The run's parameters, kept in the JSON report. */
static char *config_json(const struct cli *c)
{
    char in[64], q[64], out[64];
    ig_bench__dist_format(&c->wl.input, in, sizeof(in));
    ig_bench__dist_format(&c->wl.question, q, sizeof(q));
    ig_bench__dist_format(&c->wl.output, out, sizeof(out));
    json_t *data;
    if (c->wl.kind == IG_BENCH_WL_SHARED_PREFIX)
        data = json_pack("{s:i,s:i,s:i,s:s,s:s,s:b}", "num_groups", (int)c->wl.num_groups, "prompts_per_group",
                         (int)c->wl.prompts_per_group, "system_prompt_len", (int)c->wl.system_len, "question", q,
                         "output", out, "multi_turn", c->wl.multi_turn);
    else
        data = json_pack("{s:s,s:s}", "input", in, "output", out);
    json_t *loras = json_object();
    for (size_t i = 0; i < c->wl.num_loras; i++)
        json_object_set_new(loras, c->wl.loras[i], json_real(c->wl.lora_shares[i]));
    json_t *doc =
        json_pack("{s:s,s:s,s:s,s:b,s:b,s:o,s:s,s:I,s:o,s:o,s:s,s:f,s:I}", "url", c->url, "http",
                  c->run.http_version == IG_HTTP_2 ? "2" : "1.1", "api",
                  c->run.api == IG_BENCH_API_CHAT ? "chat" : "completions", "stream", c->run.stream, "ignore_eos",
                  c->run.ignore_eos, "model", c->wl.model != NULL ? json_string(c->wl.model) : json_null(), "workload",
                  c->workload, "seed", (json_int_t)c->wl.seed, "data", data, "lora", loras, "arrival",
                  c->run.arrival == IG_BENCH_ARRIVAL_CONSTANT ? "constant" : "poisson", "timeout_s",
                  (double)c->run.timeout_ms / 1000.0, "max_inflight", (json_int_t)c->run.max_inflight);
    /* jansson allocates through ig_malloc (ig_bench_main), so the text is released with ig_free */
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}

static int write_reports(const struct cli *c, struct ig_bench_arm *arms, size_t n)
{
    int rc = 0, err;
    ig_bench__report_table(stdout, arms, n);
    fflush(stdout);
    if (c->json != NULL && c->merge == NULL && (err = ig_bench__report_json(c->json, &arms[0])) != 0) {
        fprintf(stderr, "infergate bench: cannot write %s: %s\n", c->json, ig_strerror(err));
        rc = 1;
    }
    if (c->csv != NULL && (err = ig_bench__report_csv(c->csv, arms, n)) != 0) {
        fprintf(stderr, "infergate bench: cannot write %s: %s\n", c->csv, ig_strerror(err));
        rc = 1;
    }
    if (c->plot != NULL) {
        err = ig_bench__plot(c->plot, arms, n, 1);
        if (err == 1)
            fprintf(stderr, "infergate bench: gnuplot not found: wrote %s.gp (render it with gnuplot later)\n",
                    c->plot);
        else if (err != 0) {
            fprintf(stderr, "infergate bench: plot %s: %s\n", c->plot, ig_strerror(err));
            rc = 1;
        }
    }
    return rc;
}

static int run_merge(struct cli *c)
{
    struct ig_bench_arm arms[MAX_ARMS];
    size_t n = 0;
    int rc = 0;
    const char *p = c->merge;
    char path[4096], err[512];
    if (c->json != NULL)
        fprintf(stderr, "infergate bench: --json is ignored with --merge (the inputs are JSON already)\n");
    while (*p != 0) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == 0 || len >= sizeof(path) || n >= MAX_ARMS) {
            rc = bad("--merge: bad list (at most %d files)", MAX_ARMS);
            goto out;
        }
        memcpy(path, p, len);
        path[len] = 0;
        if (ig_bench__report_load(path, &arms[n], err, sizeof(err)) != 0) {
            fprintf(stderr, "infergate bench: --merge: %s\n", err);
            rc = 1;
            goto out;
        }
        n++;
        p = end != NULL ? end + 1 : p + len;
    }
    rc = write_reports(c, arms, n);
out:
    for (size_t i = 0; i < n; i++)
        ig_bench__arm_dispose(&arms[i]);
    return rc;
}

static void *json_malloc(size_t n)
{
    return ig_malloc(n);
}

static void json_free(void *p)
{
    ig_free(p);
}

int ig_bench_main(int argc, char **argv)
{
    struct cli *c = ig_calloc(1, sizeof(*c));
    struct ig_bench_workload *w = NULL;
    struct ig_bench_arm arm;
    int rc;
    memset(&arm, 0, sizeof(arm));
    cli_defaults(c);
    rc = parse_args(c, argc, argv);
    if (rc != 0) {
        rc = rc == 1 ? 0 : rc;
        goto out;
    }
    /* jansson allocates through ig_malloc from here on (its strings are released with ig_free). */
    json_set_alloc_funcs(json_malloc, json_free);
    if (c->merge != NULL) {
        rc = run_merge(c);
        goto out;
    }
    if ((rc = resolve_workload(c)) != 0)
        goto out;
    w = ig_bench__workload_create(&c->wl);
    if (w == NULL) {
        rc = bad("invalid workload parameters");
        goto out;
    }
    arm.label = ig_strdup(c->label);
    arm.target = ig_strdup(c->url);
    arm.config = config_json(c);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL); /* a peer closing mid-write must be an error code, not a signal */
    int err = ig_bench__run(&c->run, w, &arm);
    if (err != 0 && err != IG_ECANCELED) {
        fprintf(stderr, "infergate bench: run failed: %s\n", ig_strerror(err));
        rc = 1;
        goto out;
    }
    rc = write_reports(c, &arm, 1);
    uint64_t ok = 0;
    for (size_t i = 0; i < arm.nstages; i++)
        ok += arm.stages[i].succeeded;
    if (ok == 0) {
        fprintf(stderr, "infergate bench: no request succeeded\n");
        rc = 1;
    }
    if (err == IG_ECANCELED)
        rc = 130;
out:
    ig_bench__arm_dispose(&arm);
    ig_bench__workload_destroy(w);
    ig_free(c);
    return rc;
}
