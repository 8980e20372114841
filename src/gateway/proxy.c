/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy engine: one downstream stream (ig_http_stream_t, HTTP/1.1 or h2) joined to one
 * upstream stream at a time (ig_http_cstream_t on the origin's keep-alive pool).
 *
 * Per request: the bind's listener by Host, the route by the snapshot's matcher, then the route
 * policies in agentgateway's order (localRateLimit, requestRedirect / directResponse, backend
 * choice by weight (balance.c), urlRewrite and header modifiers), then the endpoint (power of two choices on
 * this worker's in-flight counts). Bodies stream both ways and are never held whole: a write that
 * returns IG_EAGAIN pauses the other side's reading until on_writable. A retry needs the request
 * body, so it is kept only while it is small (GW_RETRY_BODY_MAX) and only when a retry policy
 * exists.
 *
 * Request objects come from a per-worker free list (their timers are initialised once); upstream
 * headers, rewritten paths and the kept body live in the downstream stream's arena. A request
 * object is freed when both streams are closed: |refs| counts the downstream stream, the
 * upstream stream and any callback in progress (ig_http_cstream_cancel may close synchronously).
 *
 * Responses typed JSON or SSE are scanned in passing for OpenAI usage (prompt and completion
 * tokens) for the access log and `type: tokens` rate limits; nothing is buffered for it.
 *
 * inferenceRouting backends hand the request to the endpoint picker (inference.c): the upstream
 * attempt starts on its pick, with its body, and the response flows back through it (inf_* hooks).
 *
 * Errors before a response head are short text responses with an access-log reason: no route
 * 404, rate limited 429, connect refused 503, reset / protocol error 502, timeout 504. After the
 * head has been sent, an upstream failure resets the downstream stream.
 */
#include <stdio.h>

#include "gateway_int.h"

#define GW_RETRY_BODY_MAX (64u << 10)
#define GW_USAGE_TAIL     40 /* > strlen("\"completion_tokens\":") + digits */

struct gw_req {
    ig_list_t link;
    uv_timer_t timer;   /* route requestTimeout */
    uv_timer_t attempt; /* backendRequestTimeout / http.requestTimeout, and retry backoff */
    struct gw_worker *w;
    int refs;
    ig_http_stream_t *s;   /* NULL once the downstream stream closed */
    ig_http_cstream_t *cs; /* NULL while no upstream stream runs */
    struct gw_plan *plan;
    const struct ig_cfg_bind *bind;
    const struct ig_cfg_listener *listener;
    const struct ig_cfg_route *route;
    const struct ig_cfg_route_match *matched;
    const struct gw_bplan *bp;
    struct gw_origin *origin;
    ig_http_request_t ureq;
    char *kept; /* request body copy for retries */
    size_t kept_len, kept_cap;
    uint64_t req_bytes, resp_bytes;
    uint64_t attempt_timeout_ns;
    int64_t input_tokens, output_tokens; /* OpenAI usage in the response body, -1: not seen */
    char tail[GW_USAGE_TAIL];            /* last bytes of the previous body chunk (keys split across chunks) */
    struct gw_genai gen;                 /* streamed-response timing for the GenAI metrics */
    size_t tail_len;
    int status;
    const char *reason;
    int attempts;
    unsigned responded : 1;   /* downstream head sent */
    unsigned finished : 1;    /* the downstream response is complete or failed: ignore further input */
    unsigned started : 1;     /* the first upstream attempt started */
    unsigned req_end : 1;     /* the whole downstream body was read */
    unsigned keep_ok : 1;     /* |kept| holds the whole body so far */
    unsigned down_paused : 1; /* downstream reading paused by us */
    unsigned up_paused : 1;
    unsigned retrying : 1;   /* the current upstream stream is being cancelled for a retry */
    unsigned backoff : 1;    /* |attempt| runs as the backoff timer */
    unsigned timed_out : 1;  /* the current attempt was cancelled by a timeout */
    unsigned up_end : 1;     /* the current upstream stream has its whole request body */
    unsigned scan_usage : 1; /* the response is JSON or SSE: look for OpenAI usage */
    unsigned inf_on : 1;     /* inferenceRouting: the endpoint picker drives this request */
    unsigned inf_started : 1;
    struct gw_inf inf;
    struct gw_origin *dests[GW_INF_DEST_MAX]; /* the picker's endpoints, tried in order */
    size_t n_dests, dest_i;
    ig_http_response_t dresp; /* inferenceRouting: the client's response head until the picker answers */
};

static const struct ig_http_stream_handler down_handler;
static const struct ig_http_cstream_handler up_handler;

/* ---- request objects --------------------------------------------------------------------------- */

static struct gw_req *req_get(struct gw_worker *w)
{
    struct gw_req *r;
    if (!ig_list_empty(&w->free_reqs)) {
        r = IG_CONTAINER_OF(w->free_reqs.next, struct gw_req, link);
        ig_list_remove(&r->link);
    } else {
        r = ig_calloc(1, sizeof(*r));
        uv_timer_init(&w->w->loop, &r->timer);
        uv_timer_init(&w->w->loop, &r->attempt);
        r->timer.data = r;
        r->attempt.data = r;
        w->n_reqs++;
    }
    uv_timer_t t1 = r->timer, t2 = r->attempt;
    memset(r, 0, sizeof(*r));
    /* The timers stay initialised across requests: copy them back instead of re-initialising. */
    memcpy(&r->timer, &t1, sizeof(t1));
    memcpy(&r->attempt, &t2, sizeof(t2));
    r->w = w;
    r->refs = 1;
    r->input_tokens = r->output_tokens = -1;
    ig_list_push_back(&w->active_reqs, &r->link);
    return r;
}

static void req_release(struct gw_req *r)
{
    if (--r->refs > 0)
        return;
    struct gw_worker *w = r->w;
    uv_timer_stop(&r->timer);
    uv_timer_stop(&r->attempt);
    if (r->inf_on)
        gw_inf_dispose(&r->inf);
    gw_plan_unref(w, r->plan);
    r->plan = NULL;
    ig_list_remove(&r->link);
    ig_list_push_front(&w->free_reqs, &r->link);
    atomic_store_explicit(&w->stats.active_requests,
                          atomic_load_explicit(&w->stats.active_requests, memory_order_relaxed) - 1,
                          memory_order_relaxed);
    gw_worker_maybe_done(w);
}

static void free_closed(uv_handle_t *h)
{
    struct gw_req *r = h->data;
    /* Both timers are closing (in an order libuv chooses); the second close frees the object. */
    if (--r->refs == 0)
        ig_free(r);
}

void gw_proxy_release_pool(struct gw_worker *w)
{
    while (!ig_list_empty(&w->free_reqs)) {
        struct gw_req *r = IG_CONTAINER_OF(w->free_reqs.next, struct gw_req, link);
        ig_list_remove(&r->link);
        r->refs = 2;
        uv_close((uv_handle_t *)&r->timer, free_closed);
        uv_close((uv_handle_t *)&r->attempt, free_closed);
    }
}

void gw_proxy_abort_all(struct gw_worker *w)
{
    ig_list_t *pos, *tmp;
    ig_list_foreach_safe(pos, tmp, &w->active_reqs)
    {
        struct gw_req *r = IG_CONTAINER_OF(pos, struct gw_req, link);
        r->refs++;
        if (r->reason == NULL)
            r->reason = "drain_deadline";
        if (r->cs != NULL)
            ig_http_cstream_cancel(r->cs);
        if (r->s != NULL)
            ig_http_stream_reset(r->s);
        req_release(r);
    }
}

/* ---- responses --------------------------------------------------------------------------------- */

static void send_error(struct gw_req *r, int status, const char *reason, const char *text)
{
    if (r->reason == NULL)
        r->reason = reason;
    if (r->inf_on)
        gw_inf_cancel(&r->inf);
    if (r->s == NULL || r->responded) {
        if (r->s != NULL && !r->finished) {
            r->finished = 1;
            ig_http_stream_reset(r->s);
        }
        return;
    }
    r->status = status;
    r->responded = 1;
    r->finished = 1;
    char body[192];
    int n = snprintf(body, sizeof(body), "%s\n", text);
    r->resp_bytes += (uint64_t)n;
    ig_http_stream_send(r->s, status, "text/plain", body, (size_t)n);
}

/* ---- headers ----------------------------------------------------------------------------------- */

static const ig_iov_t hop_by_hop[] = {
    IG_STRLIT("connection"), IG_STRLIT("keep-alive"),     IG_STRLIT("proxy-connection"),
    IG_STRLIT("te"),         IG_STRLIT("trailer"),        IG_STRLIT("transfer-encoding"),
    IG_STRLIT("upgrade"),    IG_STRLIT("content-length"), IG_STRLIT("host"),
};

/* Is |name| listed in one of the Connection headers of |h|? */
static int in_connection(const ig_http_headers_t *h, ig_iov_t name)
{
    for (ssize_t i = ig_http_headers_find(h, IG_STRLIT("connection"), 0); i >= 0;
         i = ig_http_headers_find(h, IG_STRLIT("connection"), (size_t)i + 1)) {
        ig_iov_t v = h->v[i].value;
        size_t p = 0;
        while (p < v.len) {
            size_t q = p;
            while (q < v.len && v.base[q] != ',')
                q++;
            if (ig_iov_eq_nocase(ig_iov_trim(ig_iov(v.base + p, q - p)), name))
                return 1;
            p = q + 1;
        }
    }
    return 0;
}

/* Copies |src| into |dst| without hop-by-hop fields (and content-length and host, which the engines own). */
static void copy_end_to_end(ig_pool_t *pool, ig_http_headers_t *dst, const ig_http_headers_t *src)
{
    int has_conn = ig_http_headers_find(src, IG_STRLIT("connection"), 0) >= 0;
    for (size_t i = 0; i < src->len; i++) {
        ig_iov_t n = src->v[i].name;
        int skip = 0;
        for (size_t k = 0; k < IG_ARRAY_LEN(hop_by_hop) && !skip; k++)
            skip = ig_iov_eq_nocase(n, hop_by_hop[k]);
        if (skip || (has_conn && in_connection(src, n)))
            continue;
        ig_http_headers_add(pool, dst, n, src->v[i].value);
    }
}

static void apply_mod(ig_pool_t *pool, ig_http_headers_t *h, const struct ig_cfg_header_mod *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_remove; i++)
        ig_http_headers_remove(h, m->remove[i]);
    for (size_t i = 0; i < m->n_set; i++) {
        ig_http_headers_remove(h, m->set[i].name);
        ig_http_headers_add(pool, h, m->set[i].name, m->set[i].value);
    }
    for (size_t i = 0; i < m->n_add; i++)
        ig_http_headers_add(pool, h, m->add[i].name, m->add[i].value);
}

/* ---- URL rewriting and redirects ---------------------------------------------------------------- */

static ig_iov_t path_only(ig_iov_t target)
{
    const char *q = memchr(target.base, '?', target.len);
    return q != NULL ? ig_iov(target.base, (size_t)(q - target.base)) : target;
}

/* The path of |target| rewritten by |pr| (query kept); |matched| gives the prefix for PREFIX. */
static ig_iov_t rewrite_path(ig_pool_t *pool, ig_iov_t target, const struct ig_cfg_path_rewrite *pr,
                             const struct ig_cfg_route_match *matched)
{
    ig_iov_t path = path_only(target);
    ig_iov_t query = ig_iov(target.base + path.len, target.len - path.len);
    ig_iov_t rest;
    ig_iov_t repl = pr->value;
    if (pr->kind == IG_CFG_PATH_FULL) {
        rest = IG_IOV_NULL;
    } else if (pr->kind == IG_CFG_PATH_PREFIX && matched != NULL && matched->path.kind == IG_CFG_MATCH_PREFIX) {
        size_t plen = matched->path.value.len;
        while (plen > 0 && matched->path.value.base[plen - 1] == '/')
            plen--; /* a trailing '/' of the prefix is not part of the element match */
        if (plen > path.len)
            plen = path.len;
        rest = ig_iov(path.base + plen, path.len - plen);
        /* "/" replacing "/v1" in "/v1/x" gives "/x", not "//x". */
        if (repl.len > 0 && repl.base[repl.len - 1] == '/' && rest.len > 0 && rest.base[0] == '/')
            repl.len--;
        if (repl.len == 0 && (rest.len == 0 || rest.base[0] != '/'))
            repl = IG_STRLIT("/");
    } else {
        return target;
    }
    size_t n = repl.len + rest.len + query.len;
    char *p = ig_pool_alloc(pool, n + 1);
    memcpy(p, repl.base, repl.len);
    if (rest.len > 0)
        memcpy(p + repl.len, rest.base, rest.len);
    if (query.len > 0)
        memcpy(p + repl.len + rest.len, query.base, query.len);
    p[n] = 0;
    return ig_iov(p, n);
}

/* Splits "host[:port]" (IPv6 in brackets) into host and port text (port without ':'). */
static void split_authority(ig_iov_t a, ig_iov_t *host, ig_iov_t *port)
{
    *port = IG_IOV_NULL;
    *host = a;
    for (size_t i = a.len; i > 0; i--) {
        char c = a.base[i - 1];
        if (c == ':') {
            *host = ig_iov(a.base, i - 1);
            *port = ig_iov(a.base + i, a.len - i);
            return;
        }
        if (c == ']' || c < '0' || c > '9')
            return;
    }
}

static ig_iov_t rewrite_authority(ig_pool_t *pool, ig_iov_t orig, const struct ig_cfg_authority *au,
                                  const struct gw_bplan *bp)
{
    ig_iov_t host, port;
    switch (au->kind) {
    case IG_CFG_AUTHORITY_FULL:
        return au->value;
    case IG_CFG_AUTHORITY_HOST:
        split_authority(orig, &host, &port);
        if (port.len == 0)
            return au->value;
        return ig_iov_cstr(
            ig_pool_printf(pool, "%.*s:%.*s", (int)au->value.len, au->value.base, (int)port.len, port.base));
    case IG_CFG_AUTHORITY_PORT:
        split_authority(orig, &host, &port);
        return ig_iov_cstr(ig_pool_printf(pool, "%.*s:%u", (int)host.len, host.base, (unsigned)au->port));
    case IG_CFG_AUTHORITY_AUTO:
        return bp != NULL && bp->authority != NULL ? ig_iov_cstr(bp->authority) : orig;
    default:
        return orig;
    }
}

static void do_redirect(struct gw_req *r, const struct ig_cfg_redirect *rd)
{
    ig_http_stream_t *s = r->s;
    ig_iov_t scheme = rd->scheme.len > 0 ? rd->scheme : s->req.scheme;
    if (scheme.len == 0)
        scheme = s->is_tls ? IG_STRLIT("https") : IG_STRLIT("http");
    ig_iov_t auth = rewrite_authority(&s->pool, s->req.authority, &rd->authority, NULL);
    ig_iov_t path = rewrite_path(&s->pool, s->req.path, &rd->path, r->matched);
    char *loc = ig_pool_printf(&s->pool, "%.*s://%.*s%.*s", (int)scheme.len, scheme.base, (int)auth.len, auth.base,
                               (int)path.len, path.base);
    ig_http_header_t h = {IG_STRLIT("location"), ig_iov_cstr(loc)};
    ig_http_response_t resp = {
        .status = rd->status != 0 ? rd->status : 302, .headers = {&h, 1, 1}, .content_length = 0};
    r->status = resp.status;
    r->responded = 1;
    r->finished = 1;
    ig_http_stream_respond(s, &resp, 1);
}

/* ---- upstream attempts ------------------------------------------------------------------------- */

static struct gw_origin *pick_endpoint(struct gw_req *r)
{
    const struct gw_bplan *bp = r->bp;
    if (r->n_dests > 0)
        return r->dests[r->dest_i];
    if (bp->n_eps == 1)
        return bp->eps[0];
    /* Power of two choices: two distinct random endpoints, the one with fewer requests in flight. */
    uint64_t x = gw_rand(r->w);
    size_t a = (size_t)(x % bp->n_eps);
    size_t b = (size_t)((x >> 32) % (bp->n_eps - 1));
    if (b >= a)
        b++;
    struct gw_origin *oa = bp->eps[a], *ob = bp->eps[b];
    return ob->inflight < oa->inflight ? ob : oa;
}

static void on_attempt_timer(uv_timer_t *t);

static int retry_codes_match(const struct ig_cfg_retry *rt, int status)
{
    for (size_t i = 0; i < rt->n_codes; i++) {
        if (rt->codes[i] == status)
            return 1;
    }
    return 0;
}

/* Can another attempt be made? The whole body must be at hand: read to its end and kept. */
static int can_retry(const struct gw_req *r)
{
    const struct ig_cfg_retry *rt = r->route->policies.retry;
    return rt != NULL && r->s != NULL && !r->responded && (uint32_t)r->attempts <= rt->attempts && r->req_end &&
           r->keep_ok;
}

static void start_attempt(struct gw_req *r, int end)
{
    r->origin = pick_endpoint(r);
    r->origin->inflight++;
    r->attempts++;
    r->started = 1;
    r->timed_out = 0;
    r->up_end = end != 0;
    r->ureq.version = r->origin->version;
    r->ureq.scheme = r->origin->tls ? IG_STRLIT("https") : IG_STRLIT("http");
    r->refs++; /* held by the upstream stream until its on_close */
    if (r->attempt_timeout_ns > 0) {
        r->backoff = 0;
        uv_timer_start(&r->attempt, on_attempt_timer, (r->attempt_timeout_ns + 999999) / 1000000, 0);
    }
    r->refs++;
    r->cs = ig_http_client_request(r->origin->client, &r->ureq, end, &up_handler, r);
    if (r->cs != NULL && !r->cs->reused)
        atomic_store_explicit(&r->w->stats.upstream_connects,
                              atomic_load_explicit(&r->w->stats.upstream_connects, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    req_release(r);
}

/* inferenceRouting: an attempt on the current destination with every body byte the picker gave so far. */
static void start_inf_attempt(struct gw_req *r)
{
    ig_iov_t body;
    int end;
    gw_inf_replay(&r->inf, &body, &end);
    start_attempt(r, end && body.len == 0);
    if (body.len > 0 && r->cs != NULL) {
        r->up_end = end != 0;
        ig_http_cstream_write(r->cs, body.base, body.len, end);
    }
}

/* A retry: the kept body is sent again, on a newly picked endpoint. */
static void restart(struct gw_req *r)
{
    if (r->s == NULL || r->finished)
        return;
    if (r->inf_on) {
        start_inf_attempt(r);
        return;
    }
    start_attempt(r, r->kept_len == 0);
    if (r->kept_len > 0 && r->cs != NULL) {
        r->up_end = 1;
        ig_http_cstream_write(r->cs, r->kept, r->kept_len, 1);
    }
}

static void on_attempt_timer(uv_timer_t *t)
{
    struct gw_req *r = t->data;
    if (r->backoff) {
        r->backoff = 0;
        r->refs++;
        restart(r);
        req_release(r);
        return;
    }
    if (r->cs != NULL) {
        r->timed_out = 1;
        r->refs++;
        ig_http_cstream_cancel(r->cs);
        req_release(r);
    }
}

/*
 * The next attempt always starts from a timer (zero delay without backoff), never inside the
 * closing stream's callback: an HTTP/1.1 cancel ends the stream before it aborts the connection,
 * so a request started synchronously could be handed that dying connection.
 */
static void schedule_retry(struct gw_req *r)
{
    const struct ig_cfg_retry *rt = r->route->policies.retry;
    r->backoff = 1;
    uv_timer_start(&r->attempt, on_attempt_timer, (rt->backoff_ns + 999999) / 1000000, 0);
}

static void on_request_timer(uv_timer_t *t)
{
    struct gw_req *r = t->data;
    r->refs++;
    r->reason = "request_timeout";
    if (r->cs != NULL) {
        r->timed_out = 1;
        ig_http_cstream_cancel(r->cs);
    }
    send_error(r, 504, "request_timeout", "request timeout");
    req_release(r);
}

/* ---- OpenAI usage ------------------------------------------------------------------------------ */

/* The value after the last |key| (e.g. "\"prompt_tokens\":") in |p[0..n)|, or -1. */
static int64_t last_number(const char *p, size_t n, const char *key)
{
    size_t klen = strlen(key);
    int64_t v = -1;
    const char *end = p + n;
    const char *q = p;
    while ((q = memmem(q, (size_t)(end - q), key, klen)) != NULL) {
        const char *d = q + klen;
        while (d < end && *d == ' ')
            d++;
        if (d < end && *d >= '0' && *d <= '9') {
            int64_t x = 0;
            while (d < end && *d >= '0' && *d <= '9' && x < ((int64_t)1 << 40))
                x = x * 10 + (*d++ - '0');
            if (d < end) /* a number cut at the chunk's end is read from the next chunk's view */
                v = x;
        }
        q += klen;
    }
    return v;
}

/*
 * Reads OpenAI usage (JSON bodies and SSE streams: the last "usage" object wins) from body bytes
 * as they pass, without buffering: each chunk is scanned, plus a small window joining the end of
 * the previous chunk to the start of this one for keys split across chunks.
 */
static void usage_scan(struct gw_req *r, const char *data, size_t len)
{
    static const char *const keys[2] = {"\"prompt_tokens\":", "\"completion_tokens\":"};
    int64_t *out[2] = {&r->input_tokens, &r->output_tokens};
    gw_genai_chunk(&r->gen);
    if (r->gen.op != GW_OP_NONE)
        gw_model_scan(&r->gen.resp, data, len, GW_GENAI_RSP_SCAN);
    char win[2 * GW_USAGE_TAIL];
    size_t head = IG_MIN(len, GW_USAGE_TAIL);
    memcpy(win, r->tail, r->tail_len);
    memcpy(win + r->tail_len, data, head);
    for (int k = 0; k < 2; k++) {
        int64_t v = last_number(win, r->tail_len + head, keys[k]);
        if (v >= 0)
            *out[k] = v;
        v = last_number(data, len, keys[k]);
        if (v >= 0)
            *out[k] = v;
    }
    if (len >= GW_USAGE_TAIL) {
        memcpy(r->tail, data + len - GW_USAGE_TAIL, GW_USAGE_TAIL);
        r->tail_len = GW_USAGE_TAIL;
    } else {
        size_t keep = IG_MIN(r->tail_len, GW_USAGE_TAIL - len);
        memmove(r->tail, r->tail + r->tail_len - keep, keep);
        memcpy(r->tail + keep, data, len);
        r->tail_len = keep + len;
    }
}

static int is_openai_type(const ig_http_headers_t *h)
{
    ssize_t i = ig_http_headers_find(h, IG_STRLIT("content-type"), 0);
    if (i < 0)
        return 0;
    ig_iov_t v = h->v[i].value;
    return memmem(v.base, v.len, "json", 4) != NULL || memmem(v.base, v.len, "event-stream", 12) != NULL;
}

static void up_on_response(ig_http_cstream_t *cs, const ig_http_response_t *resp)
{
    struct gw_req *r = cs->data;
    if (r->s == NULL || r->finished)
        return;
    const struct ig_cfg_retry *rt = r->route->policies.retry;
    if (rt != NULL && !r->inf_on && retry_codes_match(rt, resp->status) && can_retry(r)) {
        r->retrying = 1;
        r->refs++;
        ig_http_cstream_cancel(cs);
        req_release(r);
        return;
    }
    ig_http_stream_t *s = r->s;
    ig_http_response_t d = {.status = resp->status, .content_length = resp->content_length};
    copy_end_to_end(&s->pool, &d.headers, &resp->headers);
    apply_mod(&s->pool, &d.headers, r->bp->rb->policies.response_headers);
    if (r->bp->named != NULL)
        apply_mod(&s->pool, &d.headers, r->bp->named->response_headers);
    apply_mod(&s->pool, &d.headers, r->route->policies.response_headers);
    if (r->inf_on) {
        /* The picker sees the upstream's head and may rewrite it; the client gets it on its answer,
         * later, so the strings (borrowed from the upstream's read buffer) are copied now. */
        for (size_t i = 0; i < d.headers.len; i++) {
            d.headers.v[i].name = ig_pool_dup(&s->pool, d.headers.v[i].name);
            d.headers.v[i].value = ig_pool_dup(&s->pool, d.headers.v[i].value);
        }
        r->dresp = d;
        gw_inf_response_headers(&r->inf, resp, &r->dresp, r->origin);
        return;
    }
    r->status = resp->status;
    r->responded = 1;
    r->scan_usage = is_openai_type(&resp->headers);
    r->gen.stream = gw_genai_is_stream(&resp->headers);
    ig_http_stream_respond(s, &d, 0);
}

static void up_on_body(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    struct gw_req *r = cs->data;
    if (r->inf_on && r->s != NULL && !r->finished) {
        if (gw_inf_response_body(&r->inf, data, len, end) == IG_EAGAIN && !end) {
            r->up_paused = 1;
            ig_http_cstream_read_pause(cs, 1);
        }
        return;
    }
    if (r->s == NULL || r->finished || !r->responded)
        return;
    r->resp_bytes += len;
    if (r->scan_usage && len > 0)
        usage_scan(r, data, len);
    int rc = ig_http_stream_write(r->s, data, len, end);
    if (end)
        r->finished = 1;
    if (rc == IG_EAGAIN && !end) {
        r->up_paused = 1;
        ig_http_cstream_read_pause(cs, 1);
    }
}

/* inferenceRouting: the picker sees the upstream's trailers and may change them before the client. */
static void up_on_trailers(ig_http_cstream_t *cs, const ig_http_headers_t *trailers)
{
    struct gw_req *r = cs->data;
    if (r->inf_on && r->s != NULL && !r->finished)
        gw_inf_response_trailers(&r->inf, trailers);
}

static void up_on_writable(ig_http_cstream_t *cs)
{
    struct gw_req *r = cs->data;
    if (r->down_paused && r->s != NULL) {
        r->down_paused = 0;
        ig_http_stream_read_pause(r->s, 0);
    }
}

static void up_on_close(ig_http_cstream_t *cs, int err)
{
    struct gw_req *r = cs->data;
    r->refs++;
    if (r->cs == cs)
        r->cs = NULL;
    r->origin->inflight--;
    if (!r->backoff)
        uv_timer_stop(&r->attempt);
    if (r->retrying) {
        r->retrying = 0;
        schedule_retry(r);
    } else if (err != 0 && r->s != NULL && !r->finished) {
        if (r->timed_out) {
            send_error(r, 504, "upstream_timeout", "upstream request timeout");
        } else if (err == IG_ECONNECT && r->inf_on && r->dest_i + 1 < r->n_dests && gw_inf_replay_ok(&r->inf)) {
            r->dest_i++; /* the picker's next endpoint, from a timer like any retry */
            r->backoff = 1;
            uv_timer_start(&r->attempt, on_attempt_timer, 0, 0);
        } else if (err == IG_ECONNECT && can_retry(r) && r->route->policies.retry != NULL) {
            schedule_retry(r); /* nothing reached the upstream: try another endpoint */
        } else if (err == IG_ECONNECT) {
            send_error(r, 503, "upstream_connect_failed", "upstream connect error");
        } else if (err == IG_ETIMEDOUT) {
            send_error(r, 504, "upstream_connect_timeout", "upstream connect timeout");
        } else if (err == IG_ETLS) {
            send_error(r, 502, "upstream_tls_error", "upstream TLS error");
        } else if (err == IG_EPROTO || err == IG_ETOOBIG) {
            send_error(r, 502, "upstream_protocol_error", "upstream protocol error");
        } else {
            send_error(r, 502, "upstream_reset", "upstream connection reset");
        }
    }
    req_release(r); /* the callback's hold */
    req_release(r); /* the upstream stream's */
}

static const struct ig_http_cstream_handler up_handler = {
    .on_response = up_on_response,
    .on_body = up_on_body,
    .on_writable = up_on_writable,
    .on_close = up_on_close,
    .on_trailers = up_on_trailers,
};

/* ---- downstream -------------------------------------------------------------------------------- */

static void keep_body(struct gw_req *r, const char *data, size_t len)
{
    if (!r->keep_ok || len == 0)
        return;
    if (r->kept_len + len > (r->kept != NULL ? r->kept_cap : GW_RETRY_BODY_MAX)) {
        r->keep_ok = 0; /* too big to replay: this request will not be retried */
        return;
    }
    if (r->kept == NULL) {
        /* Sized by content-length when known, so a small body stays in the stream's arena chunks. */
        int64_t cl = r->s->req.content_length;
        r->kept_cap = cl > 0 && cl <= GW_RETRY_BODY_MAX && (size_t)cl >= len ? (size_t)cl : GW_RETRY_BODY_MAX;
        r->kept = ig_pool_alloc(&r->s->pool, r->kept_cap);
    }
    memcpy(r->kept + r->kept_len, data, len);
    r->kept_len += len;
}

/* ---- inferenceRouting hooks (the exchange itself is inference.c) -------------------------------- */

static void inf_picked(void *owner, struct gw_origin **eps, size_t n)
{
    struct gw_req *r = owner;
    if (r->s == NULL || r->finished)
        return;
    memcpy(r->dests, eps, n * sizeof(*eps));
    r->n_dests = n;
    r->dest_i = 0;
    r->refs++;
    start_inf_attempt(r);
    req_release(r);
}

static int inf_req_body(void *owner, const char *data, size_t len, int end)
{
    struct gw_req *r = owner;
    if (r->cs == NULL || r->up_end || r->finished)
        return 0; /* kept by inference.c: the next attempt replays it */
    if (end)
        r->up_end = 1;
    return ig_http_cstream_write(r->cs, data, len, end);
}

static void inf_resp_headers(void *owner)
{
    struct gw_req *r = owner;
    if (r->s == NULL || r->finished || r->responded)
        return;
    r->status = r->dresp.status;
    r->responded = 1;
    r->scan_usage = is_openai_type(&r->dresp.headers);
    r->gen.stream = gw_genai_is_stream(&r->dresp.headers);
    ig_http_stream_respond(r->s, &r->dresp, 0);
}

static int inf_resp_body(void *owner, const char *data, size_t len, int end)
{
    struct gw_req *r = owner;
    if (r->s == NULL || r->finished || !r->responded)
        return 0;
    r->resp_bytes += len;
    if (r->scan_usage && len > 0)
        usage_scan(r, data, len);
    int rc = ig_http_stream_write(r->s, data, len, end);
    if (end)
        r->finished = 1;
    if (rc == IG_EAGAIN && !end && r->cs != NULL && !r->up_paused) {
        r->up_paused = 1;
        ig_http_cstream_read_pause(r->cs, 1);
    }
    return rc;
}

static void inf_resp_trailers(void *owner, const ig_http_headers_t *trailers)
{
    struct gw_req *r = owner;
    if (r->s == NULL || r->finished || !r->responded)
        return;
    r->finished = 1;
    /* HTTP/1.1 clients get the body's end: infergate sends no chunked trailers. */
    if (ig_http_stream_write_trailers(r->s, trailers->v, trailers->len) != 0)
        ig_http_stream_write(r->s, NULL, 0, 1);
}

static void inf_immediate(void *owner, const ig_http_response_t *resp, ig_iov_t body)
{
    struct gw_req *r = owner;
    if (r->reason == NULL)
        r->reason = "epp_immediate_response";
    if (r->s == NULL || r->finished)
        return;
    r->refs++;
    if (r->cs != NULL)
        ig_http_cstream_cancel(r->cs);
    if (r->responded) {
        r->finished = 1;
        ig_http_stream_reset(r->s);
    } else if (r->s != NULL) {
        r->status = resp->status;
        r->responded = 1;
        r->finished = 1;
        r->resp_bytes += body.len;
        ig_http_stream_respond(r->s, resp, body.len == 0);
        if (body.len > 0)
            ig_http_stream_write(r->s, body.base, body.len, 1);
    }
    req_release(r);
}

static void inf_failed(void *owner, int status, const char *reason, const char *text)
{
    struct gw_req *r = owner;
    r->refs++;
    if (r->cs != NULL)
        ig_http_cstream_cancel(r->cs);
    send_error(r, status, reason, text);
    req_release(r);
}

static void inf_writable(void *owner)
{
    struct gw_req *r = owner;
    if (r->down_paused && r->s != NULL) {
        r->down_paused = 0;
        ig_http_stream_read_pause(r->s, 0);
    }
    if (r->up_paused && r->cs != NULL) {
        r->up_paused = 0;
        ig_http_cstream_read_pause(r->cs, 0);
    }
}

static void inf_done(void *owner)
{
    req_release(owner); /* the call's hold */
}

static const struct gw_inf_ops inf_ops = {
    .picked = inf_picked,
    .req_body = inf_req_body,
    .resp_headers = inf_resp_headers,
    .resp_body = inf_resp_body,
    .immediate = inf_immediate,
    .failed = inf_failed,
    .writable = inf_writable,
    .done = inf_done,
    .resp_trailers = inf_resp_trailers,
};

/* Opens the picker call; |header_only|: the request has no body. */
static void inf_begin(struct gw_req *r, int header_only)
{
    r->inf_started = 1;
    r->refs++; /* held by the call until inf_done */
    if (gw_inf_start(&r->inf, r->w, r->bp, &inf_ops, r, &r->s->pool, &r->ureq, header_only) != 0) {
        r->refs--;
        send_error(r, 503, "epp_unavailable", "endpoint picker unavailable");
    }
}

static void down_inf_body(struct gw_req *r, const char *data, size_t len, int end)
{
    r->refs++;
    if (!r->inf_started) {
        /* Deferred start (body length unknown): the first call tells whether a body follows. */
        inf_begin(r, end && len == 0);
        if (end && len == 0)
            goto out;
    }
    if (gw_inf_request_body(&r->inf, data, len, end) == IG_EAGAIN && !end && r->s != NULL) {
        r->down_paused = 1;
        ig_http_stream_read_pause(r->s, 1);
    }
out:
    req_release(r);
}

static void down_on_body(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    struct gw_req *r = s->data;
    r->req_bytes += len;
    if (r->gen.op != GW_OP_NONE && len > 0) /* the model label, read in passing */
        gw_model_scan(&r->gen.req, data, len, GW_GENAI_REQ_SCAN);
    if (end)
        r->req_end = 1;
    if (r->finished)
        return;
    if (r->inf_on) {
        down_inf_body(r, data, len, end);
        return;
    }
    if (r->route->policies.retry != NULL)
        keep_body(r, data, len);
    r->refs++;
    if (!r->started) {
        /* Deferred start (body length unknown): the first call tells whether a body follows. */
        start_attempt(r, end && len == 0);
        if (end && len == 0)
            goto out;
    }
    if (r->cs != NULL && !r->up_end) {
        if (end)
            r->up_end = 1;
        int rc = ig_http_cstream_write(r->cs, data, len, end);
        if (rc == IG_EAGAIN && !end && r->s != NULL) {
            r->down_paused = 1;
            ig_http_stream_read_pause(s, 1);
        }
    }
out:
    req_release(r);
}

/* inferenceRouting: request trailers go to the picker (they end the body it receives). */
static void down_on_trailers(ig_http_stream_t *s, const ig_http_headers_t *trailers)
{
    struct gw_req *r = s->data;
    if (r->inf_on && r->inf_started && !r->finished)
        gw_inf_request_trailers(&r->inf, trailers);
}

static void down_on_writable(ig_http_stream_t *s)
{
    struct gw_req *r = s->data;
    if (r->up_paused && r->cs != NULL) {
        r->up_paused = 0;
        ig_http_cstream_read_pause(r->cs, 0);
    }
}

static const char *method_label(ig_iov_t m)
{
    static const char *const known[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE"};
    for (size_t i = 0; i < IG_ARRAY_LEN(known); i++) {
        if (ig_iov_eq(m, ig_iov_cstr(known[i])))
            return known[i];
    }
    return "OTHER";
}

static void down_on_close(ig_http_stream_t *s, int err)
{
    struct gw_req *r = s->data;
    r->refs++;
    uv_timer_stop(&r->timer);
    if (err != 0 && r->reason == NULL)
        r->reason = r->responded ? "downstream_closed_early" : "downstream_closed";
    r->s = NULL;
    if (r->inf_on)
        gw_inf_cancel(&r->inf);
    if (r->cs != NULL) /* the client went away: the upstream request is cancelled */
        ig_http_cstream_cancel(r->cs);

    uint64_t dur = ig_time_ns() - s->start_ns;
    const struct ig_config *cfg = r->plan->snap->cfg;
    const char *gateway = r->bind != NULL ? r->bind->key.base : "unknown";
    const char *listener = r->listener != NULL ? r->listener->name.base : "unknown";
    const char *route = r->route != NULL ? r->route->name.base : "unknown";
    const char *rule = r->route != NULL && r->route->rule_name.len > 0 ? r->route->rule_name.base : "unknown";
    const char *backend = r->bp != NULL ? r->bp->name : "unknown";
    struct gw_stat_key k = {
        .gateway = gateway,
        .listener = listener,
        .route = route,
        .route_rule = rule,
        .backend = backend,
        .method = method_label(s->req.method),
        .reason = r->reason != NULL ? r->reason : "",
        .status = r->status,
    };
    gw_stats_record(&r->w->stats, &k, dur);
    gw_stats_genai(&r->w->stats, &k, &r->gen, s->start_ns, r->input_tokens, r->output_tokens);

    /* Access lines are info events (agentgateway's too): a log level of warn or above turns them off,
     * and then nothing is formatted for them. */
    if (ig_log_get_level() >= IG_LOG_INFO) {
        struct gw_access a = {0};
        a.gateway = gateway;
        a.listener = r->listener != NULL ? listener : NULL;
        a.route = r->route != NULL ? route : NULL;
        a.endpoint = r->origin != NULL ? r->origin->label : NULL;
        a.backend = r->bp != NULL ? backend : NULL;
        ig_addr_format((const struct sockaddr *)&s->peer, a.src, sizeof(a.src));
        a.method = s->req.method;
        a.host = s->req.authority;
        a.path = s->req.path;
        a.version = s->req.version;
        a.status = r->status;
        a.protocol = s->is_tls ? "https" : "http";
        a.reason = r->reason;
        a.duration_ns = dur;
        a.req_bytes = r->req_bytes;
        a.resp_bytes = r->resp_bytes;
        a.retries = r->attempts > 1 ? r->attempts - 1 : 0;
        a.input_tokens = r->input_tokens;
        a.output_tokens = r->output_tokens;
        a.gen = &r->gen;
        gw_access_log(r->w, cfg, &a);
    }
    if (r->route != NULL && r->route->policies.n_rate_limits > 0 && (r->input_tokens > 0 || r->output_tokens > 0))
        gw_snap_rate_charge(r->plan->snap, r->route, gw_snap_route_index(r->plan->snap, r->route),
                            (uint64_t)IG_MAX(r->input_tokens, 0) + (uint64_t)IG_MAX(r->output_tokens, 0));
    req_release(r); /* the callback's hold */
    req_release(r); /* the downstream stream's */
}

static const struct ig_http_stream_handler down_handler = {
    .on_body = down_on_body,
    .on_writable = down_on_writable,
    .on_close = down_on_close,
    .on_trailers = down_on_trailers,
};

/* ---- routing ----------------------------------------------------------------------------------- */

static const struct gw_bplan *pick_backend(struct gw_req *r)
{
    const struct ig_cfg_route *route = r->route;
    return gw_pick_backend(r->plan->routes[gw_snap_route_index(r->plan->snap, route)], route);
}

static void build_upstream(struct gw_req *r)
{
    ig_http_stream_t *s = r->s;
    const struct ig_cfg_route_policies *rp = &r->route->policies;
    ig_http_request_t *u = &r->ureq;
    u->method = s->req.method;
    u->scheme = IG_STRLIT("http");
    u->authority = s->req.authority;
    u->path = s->req.path;
    u->content_length = s->req.content_length;
    if (rp->url_rewrite != NULL) {
        u->authority = rewrite_authority(&s->pool, u->authority, &rp->url_rewrite->authority, r->bp);
        u->path = rewrite_path(&s->pool, u->path, &rp->url_rewrite->path, r->matched);
    }
    copy_end_to_end(&s->pool, &u->headers, &s->req.headers);
    /* x-forwarded-for: the client's address appended to what earlier proxies wrote. */
    char ip[64];
    ig_addr_format((const struct sockaddr *)&s->peer, ip, sizeof(ip));
    char *colon = strrchr(ip, ':');
    if (colon != NULL)
        *colon = 0;
    const char *ipv = ip[0] == '[' ? ip + 1 : ip;
    if (ip[0] == '[' && colon != NULL && colon[-1] == ']')
        colon[-1] = 0;
    ssize_t xi = ig_http_headers_find(&u->headers, IG_STRLIT("x-forwarded-for"), 0);
    if (xi >= 0) {
        ig_iov_t old = u->headers.v[xi].value;
        u->headers.v[xi].value = ig_iov_cstr(ig_pool_printf(&s->pool, "%.*s, %s", (int)old.len, old.base, ipv));
    } else {
        ig_http_headers_add(&s->pool, &u->headers, IG_STRLIT("x-forwarded-for"),
                            ig_iov_cstr(ig_pool_strdup(&s->pool, ipv)));
    }
    ig_http_headers_remove(&u->headers, IG_STRLIT("x-forwarded-proto"));
    ig_http_headers_add(&s->pool, &u->headers, IG_STRLIT("x-forwarded-proto"),
                        s->is_tls ? IG_STRLIT("https") : IG_STRLIT("http"));
    apply_mod(&s->pool, &u->headers, rp->request_headers);
    if (r->bp->named != NULL)
        apply_mod(&s->pool, &u->headers, r->bp->named->request_headers);
    apply_mod(&s->pool, &u->headers, r->bp->rb->policies.request_headers);
}

/*
 * On TLS the listener was chosen by SNI at the handshake and it scopes the whole connection, as in
 * Gateway API: a Host that selects another listener of the bind gets 421 Misdirected Request (the
 * client may retry on a connection negotiated for that name), so one certificate cannot be used to
 * reach the routes of another. Returns 1 when the request was answered.
 */
static int sni_misdirected(struct gw_req *r)
{
    ig_iov_t name;
    if (ig_http_stream_sni(r->s, &name) < 0)
        return 0; /* plaintext */
    const struct ig_cfg_listener *l = gw_sni_select(r->bind, name.base, name.len);
    if (l != NULL && (r->listener == l || r->listener == NULL))
        return 0; /* a Host of no listener at all stays a 404 */
    send_error(r, 421, "misdirected_request", "misdirected request: the host is not served by this connection");
    return 1;
}

void gw_proxy_on_request(ig_http_stream_t *s)
{
    struct gw_server *srv = s->server->data;
    struct gw_worker *w = srv->w;
    struct gw_req *r = req_get(w);
    atomic_store_explicit(&w->stats.active_requests,
                          atomic_load_explicit(&w->stats.active_requests, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    r->s = s;
    r->plan = gw_plan_ref(w->plan);
    s->data = r;
    s->handler = &down_handler;
    r->keep_ok = 1;
    r->gen.op = gw_genai_op(s->req.method, s->req.path);
    r->refs++; /* this call's hold */

    const struct ig_config *cfg = r->plan->snap->cfg;
    r->bind = ig_config_find_bind(cfg, srv->port);
    if (r->bind == NULL) {
        send_error(r, 404, "bind_not_found", "no listener for this port");
        goto out;
    }
    r->listener = ig_config_select_listener(r->bind, s->req.authority);
    if (s->is_tls && sni_misdirected(r))
        goto out;
    if (r->listener == NULL) {
        send_error(r, 404, "listener_not_found", "no listener for this host");
        goto out;
    }
    struct ig_cfg_request creq = {
        .method = s->req.method,
        .scheme = s->req.scheme.len > 0 ? s->req.scheme : (s->is_tls ? IG_STRLIT("https") : IG_STRLIT("http")),
        .host = s->req.authority,
        .path = s->req.path,
        .headers = (const struct ig_cfg_header *)(const void *)s->req.headers.v,
        .n_headers = s->req.headers.len,
    };
    r->route = ig_config_match_route(r->listener, &creq, &r->matched);
    if (r->route == NULL) {
        send_error(r, 404, "route_not_found", "route not found");
        goto out;
    }
    const struct ig_cfg_route_policies *rp = &r->route->policies;
    if (rp->n_rate_limits > 0 &&
        !gw_snap_rate_take(r->plan->snap, r->route, gw_snap_route_index(r->plan->snap, r->route), 1)) {
        atomic_fetch_add_explicit(&w->stats.ratelimited, 1, memory_order_relaxed);
        send_error(r, 429, "rate_limited", "rate limit exceeded");
        goto out;
    }
    if (rp->redirect != NULL) {
        do_redirect(r, rp->redirect);
        goto out;
    }
    if (rp->direct_response != NULL) {
        const struct ig_cfg_direct_response *dr = rp->direct_response;
        r->status = dr->status;
        r->responded = 1;
        r->finished = 1;
        ig_http_stream_send(s, dr->status, NULL, dr->body.base, dr->body.len);
        goto out;
    }
    r->bp = pick_backend(r);
    if (r->bp == NULL) {
        send_error(r, 503, "no_backends", "no backends");
        goto out;
    }
    if (r->bp->unavailable != NULL) {
        send_error(r, 503, r->bp->inference ? "inference_routing_unavailable" : "no_healthy_endpoints",
                   r->bp->unavailable);
        goto out;
    }
    build_upstream(r);
    if (rp->timeout != NULL && rp->timeout->request_ns > 0)
        uv_timer_start(&r->timer, on_request_timer, (rp->timeout->request_ns + 999999) / 1000000, 0);
    r->attempt_timeout_ns = rp->timeout != NULL ? rp->timeout->backend_request_ns : 0;
    if (r->attempt_timeout_ns == 0)
        r->attempt_timeout_ns = r->bp->request_timeout_ns;
    if (r->bp->inference) {
        /* A client never chooses the upstream: its destination headers do not reach the picker. */
        r->inf_on = 1;
        gw_inf_strip_client_headers(&r->ureq.headers);
        if (s->req.content_length >= 0)
            inf_begin(r, s->req.content_length == 0);
        goto out;
    }
    /* Known length: start now. Unknown (h2 without content-length): at the first on_body, which
     * says whether any body follows, so a GET is not sent with a chunked empty body. */
    if (s->req.content_length >= 0) {
        if (s->req.content_length == 0)
            r->req_end = 1;
        start_attempt(r, s->req.content_length == 0);
    }
out:
    req_release(r);
}
