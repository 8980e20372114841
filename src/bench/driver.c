/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The load driver of `infergate bench`: one libuv loop, one pooled HTTP client (HTTP/1.1 or
 * h2c) per target, and the requests of every stage. With several targets, requests go to them in
 * strict rotation (request i to target i mod n): a client-side round robin that needs no proxy.
 *
 * Open loop (rate stages): arrivals follow a Poisson process (or a constant interval) on an
 * absolute schedule, so a late timer sends the overdue requests at once instead of drifting the
 * rate down. Closed loop (concurrency stages): N requests are kept in flight; each completion
 * starts the next, from a zero-delay timer so a burst of synchronous failures cannot recurse.
 * A stage sends for its duration (or its request count), then waits for its own requests to
 * finish before the next stage starts, so stages never overlap and every request belongs to the
 * stage that sent it.
 *
 * Timing: the send time is taken just before the request is handed to the client; TTFT is the
 * first stream event carrying non-empty text; ITL is the gap between successive such events; e2e
 * ends when the response's last byte has arrived (on_close). A 100 ms tick enforces the request
 * timeout and writes the progress line.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <jansson.h>

#include "bench_int.h"

#define APPEND_LIT(b, lit) ig_buf_append((b), (lit), sizeof(lit) - 1)
#define SSE_MAX            (16u << 20) /* a line or an event; a 220 KB echo is far below */
#define BODY_MAX           (1u << 30)
#define ANSWER_MAX         (64u << 20)
#define TICK_MS            100
#define PROGRESS_TTY_NS    500000000ull
#define PROGRESS_LOG_NS    5000000000ull

struct driver;

struct req {
    ig_list_t link; /* in d->inflight, or d->spare */
    struct driver *d;
    ig_http_cstream_t *cs;
    size_t stage;
    uint64_t t_send, t_first, t_last, deadline;
    uint32_t events;
    uint32_t session;
    uint32_t input_est;
    int status;
    int starting, closed, timed_out, stream_error;
    int has_usage;
    uint64_t prompt_tokens, completion_tokens, cached_tokens;
    size_t q_len; /* multi-turn: question bytes at the start of |answer| */
    char replica[96];
    size_t replica_len;
    struct ig_bench_sse sse;
    ig_buf_t body;   /* the request body */
    ig_buf_t answer; /* multi-turn: question + answer; non-streaming: the response body */
};

struct stage_rt {
    struct ig_bench_samples ttft, tpot, ntpot, itl, e2e;
    uint64_t t_start, t_send_end, t_last_done;
    uint64_t inflight;
};

struct driver {
    const struct ig_bench_run_config *cfg;
    struct ig_bench_workload *w;
    struct ig_bench_arm *out;
    uv_loop_t loop;
    ig_http_client_t **clients; /* one per target */
    ig_http_request_t *tmpl;    /* one request template per target (authority, path) */
    uint64_t next_target;       /* rotation counter over the targets */
    uv_timer_t arrival, tick, kick;
    uv_signal_t sigint, sigterm;
    ig_list_t inflight, spare;
    struct ig_bench_rng rng;
    struct stage_rt *rt;
    size_t stage;
    int sending, interrupted, finished;
    uint64_t next_arrival;
    uint64_t to_launch;
    ig_pool_t pool; /* request template strings */
    int tty;
    uint64_t last_progress;
};

static void start_stage(struct driver *d, size_t i);
static void check_stage_done(struct driver *d);

static uint64_t now_ns(void)
{
    return ig_time_ns();
}

/* ---- request objects ------------------------------------------------------------------------- */

static struct req *req_get(struct driver *d)
{
    struct req *r;
    if (!ig_list_empty(&d->spare)) {
        r = IG_CONTAINER_OF(d->spare.next, struct req, link);
        ig_list_remove(&r->link);
    } else {
        r = ig_calloc(1, sizeof(*r));
        r->d = d;
        ig_bench__sse_init(&r->sse, SSE_MAX);
        ig_buf_init(&r->body, BODY_MAX);
        ig_buf_init(&r->answer, ANSWER_MAX);
    }
    /* keep the buffers (their memory is reused), reset everything else */
    struct ig_bench_sse sse = r->sse;
    ig_buf_t body = r->body, answer = r->answer;
    memset(r, 0, sizeof(*r));
    r->d = d;
    r->sse = sse;
    r->body = body;
    r->answer = answer;
    ig_buf_reset(&r->body);
    ig_buf_reset(&r->answer);
    ig_buf_reset(&r->sse.line);
    ig_buf_reset(&r->sse.data);
    r->sse.has_data = r->sse.skip_lf = 0;
    return r;
}

static void req_put(struct driver *d, struct req *r)
{
    /* Large bodies (long-prompt workloads) are not worth keeping per spare object. */
    if (r->body.cap > (1u << 20)) {
        ig_buf_dispose(&r->body);
        ig_buf_init(&r->body, BODY_MAX);
    }
    ig_list_push_front(&d->spare, &r->link);
}

static void req_free(struct req *r)
{
    ig_bench__sse_dispose(&r->sse);
    ig_buf_dispose(&r->body);
    ig_buf_dispose(&r->answer);
    ig_free(r);
}

/* ---- request bodies -------------------------------------------------------------------------- */

static int json_str(ig_buf_t *b, const char *s)
{
    int rc = APPEND_LIT(b, "\"");
    for (; rc == 0 && *s != 0; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            rc = ig_buf_appendf(b, "\\%c", ch);
        else if (ch < 0x20)
            rc = ig_buf_appendf(b, "\\u%04x", ch);
        else
            rc = ig_buf_append(b, s, 1);
    }
    return rc != 0 ? rc : APPEND_LIT(b, "\"");
}

/* Item text needs no escaping (generated words, or history stored escaped). */
static int build_body(const struct ig_bench_run_config *cfg, const struct ig_bench_item *it, ig_buf_t *b)
{
    int rc = APPEND_LIT(b, "{");
    if (rc == 0 && it->model != NULL) {
        rc = APPEND_LIT(b, "\"model\":");
        rc = rc != 0 ? rc : json_str(b, it->model);
        rc = rc != 0 ? rc : APPEND_LIT(b, ",");
    }
    if (cfg->api == IG_BENCH_API_CHAT) {
        ig_iov_t hist = it->history;
        int first = 1;
        rc = rc != 0 ? rc : APPEND_LIT(b, "\"messages\":[");
        if (rc == 0 && it->system.len > 0) {
            rc = ig_buf_appendf(b, "{\"role\":\"system\",\"content\":\"%.*s\"}", (int)it->system.len, it->system.base);
            first = 0;
        }
        if (rc == 0 && hist.len > 0) {
            /* the fragment starts with a comma */
            if (first)
                hist = ig_iov(hist.base + 1, hist.len - 1);
            rc = ig_buf_append(b, hist.base, hist.len);
            first = 0;
        }
        rc = rc != 0 ? rc : ig_buf_appendf(b, "%s{\"role\":\"user\",\"content\":\"", first ? "" : ",");
        rc = rc != 0 ? rc : ig_buf_append(b, it->question.base, it->question.len);
        rc = rc != 0 ? rc : APPEND_LIT(b, "\"}]");
    } else {
        rc = rc != 0 ? rc : APPEND_LIT(b, "\"prompt\":\"");
        rc = rc != 0 ? rc : ig_buf_append(b, it->system.base, it->system.len);
        rc = rc != 0 ? rc : ig_buf_append(b, it->history.base, it->history.len);
        rc = rc != 0 ? rc : ig_buf_append(b, it->question.base, it->question.len);
        rc = rc != 0 ? rc : APPEND_LIT(b, "\"");
    }
    rc = rc != 0 ? rc : ig_buf_appendf(b, ",\"max_tokens\":%u", (unsigned)it->output_len);
    if (rc == 0 && cfg->ignore_eos)
        rc = APPEND_LIT(b, ",\"ignore_eos\":true");
    if (rc == 0 && cfg->stream)
        rc = APPEND_LIT(b, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    return rc != 0 ? rc : APPEND_LIT(b, "}");
}

/* ---- results --------------------------------------------------------------------------------- */

static const char *err_kind(int err, int timed_out)
{
    switch (err) {
    case IG_ECONNECT:
        return "connect";
    case IG_ETIMEDOUT:
        return "connect_timeout";
    case IG_ERESET:
        return "reset";
    case IG_EPROTO:
        return "protocol";
    case IG_ECLOSED:
        return "closed";
    case IG_ECANCELED:
        return timed_out ? "timeout" : "canceled";
    case IG_ETOOBIG:
        return "too_big";
    default:
        return "error";
    }
}

static void fail(struct ig_bench_stage *st, const char *kind)
{
    st->failed++;
    ig_bench__count_add(&st->failures, &st->nfailures, kind, strlen(kind), 1);
}

/* Non-streaming: usage and (multi-turn) the answer, from the whole response document. */
static void parse_document(struct req *r)
{
    json_error_t jerr;
    json_t *doc = json_loadb(ig_buf_data(&r->answer) + r->q_len, r->answer.len - r->q_len, 0, &jerr);
    json_t *usage = json_object_get(doc, "usage");
    if (json_is_object(usage)) {
        r->has_usage = 1;
        r->prompt_tokens = (uint64_t)json_integer_value(json_object_get(usage, "prompt_tokens"));
        r->completion_tokens = (uint64_t)json_integer_value(json_object_get(usage, "completion_tokens"));
        r->cached_tokens = (uint64_t)json_integer_value(
            json_object_get(json_object_get(usage, "prompt_tokens_details"), "cached_tokens"));
    }
    if (json_object_get(doc, "error") != NULL)
        r->stream_error = 1;
    json_t *c0 = json_array_get(json_object_get(doc, "choices"), 0);
    json_t *text = json_object_get(c0, "text");
    if (text == NULL)
        text = json_object_get(json_object_get(c0, "message"), "content");
    r->answer.len = r->q_len;
    if (json_is_string(text)) {
        char *enc = json_dumps(text, JSON_ENCODE_ANY);
        size_t n = enc != NULL ? strlen(enc) : 0;
        if (n >= 2)
            (void)ig_buf_append(&r->answer, enc + 1, n - 2); /* the escaped string without its quotes */
        ig_free(enc);                                        /* jansson allocates through ig_malloc (ig_bench_main) */
        r->events = 1;
    }
    json_decref(doc);
}

static void record(struct driver *d, struct req *r, int err)
{
    struct ig_bench_stage *st = &d->out->stages[r->stage];
    struct stage_rt *rt = &d->rt[r->stage];
    uint64_t now = now_ns();
    rt->t_last_done = now;
    if (r->replica_len > 0)
        ig_bench__count_add(&st->replicas, &st->nreplicas, r->replica, r->replica_len, 1);
    if (err != 0) {
        fail(st, err_kind(err, r->timed_out));
        return;
    }
    if (r->status != 200) {
        char kind[32];
        snprintf(kind, sizeof(kind), "http_%d", r->status);
        fail(st, kind);
        return;
    }
    if (!d->cfg->stream)
        parse_document(r);
    if (r->stream_error) {
        fail(st, "stream_error");
        return;
    }
    if (r->events == 0) {
        fail(st, "no_tokens");
        return;
    }
    st->succeeded++;
    uint64_t out = r->has_usage && r->completion_tokens > 0 ? r->completion_tokens : r->events;
    st->output_tokens += out;
    st->input_tokens += r->has_usage ? r->prompt_tokens : r->input_est;
    st->cached_tokens += r->cached_tokens;
    double e2e = (double)(now - r->t_send) / 1e6;
    ig_bench__samples_add(&rt->e2e, e2e);
    ig_bench__samples_add(&rt->ntpot, e2e / (double)out);
    if (d->cfg->stream) {
        double ttft = (double)(r->t_first - r->t_send) / 1e6;
        ig_bench__samples_add(&rt->ttft, ttft);
        if (out > 1)
            ig_bench__samples_add(&rt->tpot, (e2e - ttft) / (double)(out - 1));
    }
    if (r->session != UINT32_MAX)
        ig_bench__workload_answer(d->w, r->session, ig_iov(ig_buf_data(&r->answer), r->q_len),
                                  ig_iov(ig_buf_data(&r->answer) + r->q_len, r->answer.len - r->q_len));
}

/* ---- HTTP callbacks -------------------------------------------------------------------------- */

static void on_event(void *arg, const char *data, size_t len)
{
    struct req *r = arg;
    struct ig_bench_chunk ch;
    ig_bench__chunk_scan(data, len, &ch);
    if (ch.error)
        r->stream_error = 1;
    if (ch.has_usage) {
        r->has_usage = 1;
        r->prompt_tokens = ch.prompt_tokens;
        r->completion_tokens = ch.completion_tokens;
        r->cached_tokens = ch.cached_tokens;
    }
    if (!ch.has_text || ch.text.len == 0)
        return;
    uint64_t now = now_ns();
    if (r->events++ == 0)
        r->t_first = now;
    else
        ig_bench__samples_add(&r->d->rt[r->stage].itl, (double)(now - r->t_last) / 1e6);
    r->t_last = now;
    if (r->session != UINT32_MAX)
        (void)ig_buf_append(&r->answer, ch.text.base, ch.text.len);
}

static void on_response(ig_http_cstream_t *cs, const ig_http_response_t *resp)
{
    struct req *r = cs->data;
    r->status = resp->status;
    ssize_t i = ig_http_headers_find(&resp->headers, IG_STRLIT("x-infergate-replica"), 0);
    if (i >= 0) {
        ig_iov_t v = resp->headers.v[i].value;
        r->replica_len = IG_MIN(v.len, sizeof(r->replica));
        memcpy(r->replica, v.base, r->replica_len);
    }
}

static void on_body(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    struct req *r = cs->data;
    (void)end;
    if (r->status != 200 || len == 0)
        return;
    if (!r->d->cfg->stream) {
        if (ig_buf_append(&r->answer, data, len) != 0)
            r->stream_error = 1;
        return;
    }
    if (ig_bench__sse_feed(&r->sse, data, len, on_event, r) != 0)
        r->stream_error = 1;
}

static void on_kick(uv_timer_t *t);

static void kick_launch(struct driver *d)
{
    if (d->finished)
        return;
    d->to_launch++;
    uv_timer_start(&d->kick, on_kick, 0, 0);
}

static void on_close(ig_http_cstream_t *cs, int err)
{
    struct req *r = cs->data;
    struct driver *d = r->d;
    r->closed = 1;
    r->cs = NULL;
    ig_list_remove(&r->link);
    record(d, r, err);
    d->rt[r->stage].inflight--;
    if (!r->starting)
        req_put(d, r);
    const struct ig_bench_stage *st = &d->out->stages[d->stage];
    if (d->sending && st->mode == IG_BENCH_MODE_CONCURRENCY)
        kick_launch(d);
    check_stage_done(d);
}

static const struct ig_http_cstream_handler handler = {
    .on_response = on_response,
    .on_body = on_body,
    .on_close = on_close,
};

/* ---- sending --------------------------------------------------------------------------------- */

static void send_one(struct driver *d)
{
    struct ig_bench_stage *st = &d->out->stages[d->stage];
    struct stage_rt *rt = &d->rt[d->stage];
    struct ig_bench_item it;
    st->sent++;
    if (st->mode == IG_BENCH_MODE_RATE && d->cfg->max_inflight > 0 && rt->inflight >= d->cfg->max_inflight) {
        fail(st, "inflight_limit");
        rt->t_last_done = now_ns();
        return;
    }
    struct req *r = req_get(d);
    ig_bench__workload_next(d->w, &it);
    r->stage = d->stage;
    r->session = it.session;
    r->input_est = it.input_tokens;
    if (build_body(d->cfg, &it, &r->body) != 0) {
        fail(st, "body_too_big");
        req_put(d, r);
        return;
    }
    if (it.session != UINT32_MAX) {
        (void)ig_buf_append(&r->answer, it.question.base, it.question.len);
        r->q_len = r->answer.len;
    }
    size_t target = (size_t)(d->next_target++ % d->cfg->ntargets);
    ig_http_request_t req = d->tmpl[target];
    req.content_length = (int64_t)r->body.len;
    ig_list_push_back(&d->inflight, &r->link);
    rt->inflight++;
    r->t_send = now_ns();
    r->deadline = d->cfg->timeout_ms > 0 ? r->t_send + d->cfg->timeout_ms * 1000000ull : UINT64_MAX;
    r->starting = 1;
    ig_http_cstream_t *cs = ig_http_client_request(d->clients[target], &req, 0, &handler, r);
    if (!r->closed) {
        r->cs = cs;
        int rc = ig_http_cstream_write(cs, ig_buf_data(&r->body), r->body.len, 1);
        if (rc != 0 && rc != IG_EAGAIN && !r->closed)
            ig_http_cstream_cancel(cs);
    }
    r->starting = 0;
    if (r->closed)
        req_put(d, r);
}

static uint64_t gap_ns(struct driver *d, double rate)
{
    double s = d->cfg->arrival == IG_BENCH_ARRIVAL_CONSTANT ? 1.0 / rate : ig_bench__rng_exp(&d->rng, rate);
    return (uint64_t)(s * 1e9);
}

static void end_send(struct driver *d)
{
    if (!d->sending)
        return;
    d->sending = 0;
    d->to_launch = 0;
    uv_timer_stop(&d->arrival);
    d->rt[d->stage].t_send_end = now_ns();
}

static int stage_limit_reached(struct driver *d, uint64_t now)
{
    const struct ig_bench_stage *st = &d->out->stages[d->stage];
    const struct stage_rt *rt = &d->rt[d->stage];
    if (st->max_requests > 0 && st->sent >= st->max_requests)
        return 1;
    return st->duration_s > 0 && now >= rt->t_start + (uint64_t)(st->duration_s * 1e9);
}

static void on_arrival(uv_timer_t *t)
{
    struct driver *d = t->data;
    const struct ig_bench_stage *st = &d->out->stages[d->stage];
    uint64_t now = now_ns();
    while (d->sending) {
        /* arrivals scheduled past the window are not sent; the window may also end between arrivals */
        if (stage_limit_reached(d, IG_MIN(d->next_arrival, now))) {
            end_send(d);
            break;
        }
        if (d->next_arrival > now)
            break;
        send_one(d);
        d->next_arrival += gap_ns(d, st->rate);
    }
    if (!d->sending) {
        check_stage_done(d);
        return;
    }
    uint64_t wait = d->next_arrival > now ? d->next_arrival - now : 0;
    /* the duration's end may come before the next arrival */
    uint64_t stage_end = d->rt[d->stage].t_start + (uint64_t)(st->duration_s * 1e9);
    if (st->duration_s > 0 && stage_end > now && stage_end - now < wait)
        wait = stage_end - now;
    uv_timer_start(&d->arrival, on_arrival, (wait + 999999) / 1000000, 0);
}

static void on_kick(uv_timer_t *t)
{
    struct driver *d = t->data;
    while (d->sending && d->to_launch > 0) {
        d->to_launch--;
        if (stage_limit_reached(d, now_ns())) {
            end_send(d);
            break;
        }
        send_one(d);
    }
    check_stage_done(d);
}

/* ---- stages ---------------------------------------------------------------------------------- */

static void finish(struct driver *d);

static void progress(struct driver *d, int force)
{
    if (d->cfg->progress == IG_BENCH_PROGRESS_OFF || d->finished)
        return;
    uint64_t now = now_ns();
    uint64_t every = d->tty ? PROGRESS_TTY_NS : PROGRESS_LOG_NS;
    if (!force && now - d->last_progress < every)
        return;
    d->last_progress = now;
    const struct ig_bench_stage *st = &d->out->stages[d->stage];
    const struct stage_rt *rt = &d->rt[d->stage];
    char load[48];
    if (st->mode == IG_BENCH_MODE_RATE)
        snprintf(load, sizeof(load), "rate %g/s", st->rate);
    else
        snprintf(load, sizeof(load), "concurrency %u", (unsigned)st->concurrency);
    fprintf(stderr, "%sbench: stage %zu/%zu %s %.1fs: sent %llu ok %llu failed %llu in flight %llu%s",
            d->tty ? "\r" : "", d->stage + 1, d->cfg->nstages, load, (double)(now - rt->t_start) / 1e9,
            (unsigned long long)st->sent, (unsigned long long)st->succeeded, (unsigned long long)st->failed,
            (unsigned long long)rt->inflight, d->tty ? "\033[K" : "\n");
    fflush(stderr);
}

static void on_tick(uv_timer_t *t)
{
    struct driver *d = t->data;
    uint64_t now = now_ns();
    ig_list_t *p, *tmp;
    ig_list_foreach_safe(p, tmp, &d->inflight)
    {
        struct req *r = IG_CONTAINER_OF(p, struct req, link);
        if (r->cs != NULL && now >= r->deadline) {
            r->timed_out = 1;
            ig_http_cstream_cancel(r->cs);
        }
    }
    if (d->finished)
        return;
    if (d->sending && d->out->stages[d->stage].mode == IG_BENCH_MODE_CONCURRENCY && stage_limit_reached(d, now)) {
        end_send(d);
        check_stage_done(d);
    }
    progress(d, 0);
}

static void finalize_stage(struct driver *d, size_t i)
{
    struct ig_bench_stage *st = &d->out->stages[i];
    struct stage_rt *rt = &d->rt[i];
    uint64_t end = IG_MAX(rt->t_send_end, rt->t_last_done);
    st->elapsed_s = end > rt->t_start ? (double)(end - rt->t_start) / 1e9 : 0;
    if (st->elapsed_s > 0) {
        st->rps = (double)st->succeeded / st->elapsed_s;
        st->in_tps = (double)st->input_tokens / st->elapsed_s;
        st->out_tps = (double)st->output_tokens / st->elapsed_s;
    }
    ig_bench__samples_summary(&rt->ttft, &st->ttft);
    ig_bench__samples_summary(&rt->tpot, &st->tpot);
    ig_bench__samples_summary(&rt->ntpot, &st->ntpot);
    ig_bench__samples_summary(&rt->itl, &st->itl);
    ig_bench__samples_summary(&rt->e2e, &st->e2e);
    ig_bench__samples_dispose(&rt->ttft);
    ig_bench__samples_dispose(&rt->tpot);
    ig_bench__samples_dispose(&rt->ntpot);
    ig_bench__samples_dispose(&rt->itl);
    ig_bench__samples_dispose(&rt->e2e);
}

static void check_stage_done(struct driver *d)
{
    if (d->finished || d->sending || d->rt[d->stage].inflight > 0)
        return;
    finalize_stage(d, d->stage);
    if (d->cfg->progress != IG_BENCH_PROGRESS_OFF && d->tty)
        fprintf(stderr, "\r\033[K");
    if (d->interrupted || d->stage + 1 >= d->cfg->nstages) {
        finish(d);
        return;
    }
    start_stage(d, d->stage + 1);
}

static void start_stage(struct driver *d, size_t i)
{
    const struct ig_bench_stage_spec *sp = &d->cfg->stages[i];
    struct ig_bench_stage *st = &d->out->stages[i];
    struct stage_rt *rt = &d->rt[i];
    d->stage = i;
    d->out->nstages = i + 1;
    st->mode = sp->mode;
    st->rate = sp->rate;
    st->concurrency = sp->concurrency;
    st->duration_s = sp->duration_s;
    st->max_requests = sp->requests;
    uint64_t seed = ig_bench__seed_mix(d->cfg->seed, 0x5a, i);
    ig_bench__samples_init(&rt->ttft, d->cfg->max_samples, seed + 1);
    ig_bench__samples_init(&rt->tpot, d->cfg->max_samples, seed + 2);
    ig_bench__samples_init(&rt->ntpot, d->cfg->max_samples, seed + 3);
    ig_bench__samples_init(&rt->itl, d->cfg->max_samples, seed + 4);
    ig_bench__samples_init(&rt->e2e, d->cfg->max_samples, seed + 5);
    rt->t_start = now_ns();
    d->sending = 1;
    d->last_progress = rt->t_start;
    if (sp->mode == IG_BENCH_MODE_RATE) {
        /* constant arrivals start at once; a Poisson process starts with a random gap */
        d->next_arrival = rt->t_start + (d->cfg->arrival == IG_BENCH_ARRIVAL_CONSTANT ? 0 : gap_ns(d, sp->rate));
        on_arrival(&d->arrival);
    } else {
        d->to_launch = sp->concurrency;
        uv_timer_start(&d->kick, on_kick, 0, 0);
    }
}

static void close_handles(struct driver *d)
{
    uv_close((uv_handle_t *)&d->arrival, NULL);
    uv_close((uv_handle_t *)&d->kick, NULL);
    uv_close((uv_handle_t *)&d->tick, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
}

static void finish(struct driver *d)
{
    if (d->finished)
        return;
    d->finished = 1;
    uv_timer_stop(&d->arrival);
    uv_timer_stop(&d->kick);
    uv_timer_stop(&d->tick);
    for (size_t i = 0; i < d->cfg->ntargets; i++) {
        ig_http_client_destroy(d->clients[i]);
        d->clients[i] = NULL;
    }
    close_handles(d);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct driver *d = h->data;
    fprintf(stderr, "\nbench: signal %d: stopping after the current requests are cancelled\n", signum);
    if (d->interrupted)
        return;
    d->interrupted = 1;
    end_send(d);
    ig_list_t *p, *tmp;
    ig_list_foreach_safe(p, tmp, &d->inflight)
    {
        struct req *r = IG_CONTAINER_OF(p, struct req, link);
        if (r->cs != NULL)
            ig_http_cstream_cancel(r->cs);
    }
    check_stage_done(d);
}

/* ---- entry ----------------------------------------------------------------------------------- */

static void build_template(struct driver *d, size_t i)
{
    const struct ig_bench_run_config *cfg = d->cfg;
    const struct ig_bench_target *tg = &cfg->targets[i];
    ig_http_request_t *t = &d->tmpl[i];
    t->method = IG_STRLIT("POST");
    t->scheme = IG_STRLIT("http");
    t->authority = ig_iov_cstr(ig_pool_strdup(&d->pool, tg->authority));
    t->path = ig_iov_cstr(ig_pool_printf(&d->pool, "%s%s", tg->base_path,
                                         cfg->api == IG_BENCH_API_CHAT ? "/v1/chat/completions" : "/v1/completions"));
    t->version = cfg->http_version;
    ig_http_headers_add(&d->pool, &t->headers, IG_STRLIT("content-type"), IG_STRLIT("application/json"));
    ig_http_headers_add(&d->pool, &t->headers, IG_STRLIT("accept"),
                        cfg->stream ? IG_STRLIT("text/event-stream") : IG_STRLIT("application/json"));
    for (size_t k = 0; k < cfg->nheaders; k++)
        ig_http_headers_add(&d->pool, &t->headers, cfg->headers[k].name, cfg->headers[k].value);
}

int ig_bench__run(const struct ig_bench_run_config *cfg, struct ig_bench_workload *w, struct ig_bench_arm *out)
{
    if (cfg->nstages == 0 || cfg->ntargets == 0 || cfg->ntargets > IG_BENCH_MAX_TARGETS)
        return IG_EINVAL;
    struct driver *d = ig_calloc(1, sizeof(*d));
    int rc = 0;
    d->cfg = cfg;
    d->w = w;
    d->out = out;
    d->tty = isatty(STDERR_FILENO);
    ig_list_init(&d->inflight);
    ig_list_init(&d->spare);
    ig_bench__rng_seed(&d->rng, ig_bench__seed_mix(cfg->seed, 0xa7, 0));
    out->stages = ig_calloc(cfg->nstages, sizeof(*out->stages));
    d->rt = ig_calloc(cfg->nstages, sizeof(*d->rt));
    d->clients = ig_calloc(cfg->ntargets, sizeof(*d->clients));
    d->tmpl = ig_calloc(cfg->ntargets, sizeof(*d->tmpl));
    ig_pool_init(&d->pool);
    if (uv_loop_init(&d->loop) != 0) {
        rc = IG_EINVAL;
        goto out;
    }
    uint32_t max_conc = 64;
    for (size_t i = 0; i < cfg->nstages; i++)
        max_conc = IG_MAX(max_conc, cfg->stages[i].concurrency);
    for (size_t i = 0; i < cfg->ntargets; i++) {
        build_template(d, i);
        struct ig_http_client_config cc = {
            .addr = cfg->targets[i].addr,
            .version = cfg->http_version,
            .max_idle = IG_MAX(max_conc, (uint32_t)1024),
        };
        d->clients[i] = ig_http_client_create(&d->loop, &cc);
    }
    uv_timer_init(&d->loop, &d->arrival);
    uv_timer_init(&d->loop, &d->kick);
    uv_timer_init(&d->loop, &d->tick);
    uv_signal_init(&d->loop, &d->sigint);
    uv_signal_init(&d->loop, &d->sigterm);
    d->arrival.data = d->kick.data = d->tick.data = d->sigint.data = d->sigterm.data = d;
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_timer_start(&d->tick, on_tick, TICK_MS, TICK_MS);
    start_stage(d, 0);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d->loop) != 0)
        ig_log_warn("bench", "event loop closed with handles still open");
    if (d->interrupted)
        rc = IG_ECANCELED;
out:
    ig_pool_dispose(&d->pool);
    ig_free(d->clients);
    ig_free(d->tmpl);
    while (!ig_list_empty(&d->spare)) {
        struct req *r = IG_CONTAINER_OF(d->spare.next, struct req, link);
        ig_list_remove(&r->link);
        req_free(r);
    }
    ig_free(d->rt);
    ig_free(d);
    return rc;
}
