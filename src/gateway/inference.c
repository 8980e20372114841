/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inferenceRouting: the gateway side of the Endpoint Picker Protocol. Per request on such a
 * backend one ext_proc Process call runs on the worker's channel to the picker (one channel per
 * worker and picker address, h2c or TLS): request_headers with protocol_config go out at once and
 * request body chunks as they arrive, never waiting for answers (full duplex; the picker answers
 * the headers only after the whole body). The headers answer carries the pick (the header, else
 * envoy.lb metadata; a comma list is tried in order) and a mutation applied to the upstream
 * request; the body answers stream the body the upstream receives. On the way back the upstream's
 * head (with the served-endpoint metadata) and body chunks go to the picker, and its answers go
 * to the client.
 *
 * The proxy (proxy.c) keeps the request and both HTTP streams; this file only speaks to the
 * picker and calls back through struct gw_inf_ops. Answers without a body mutation pass the
 * matching original chunk, so unanswered chunks are queued until the picker streams its own body.
 *
 * responseMode keeps the picker out of the response's data path when it only needs to watch it:
 * "full" (the default) is the protocol above; "observe" mirrors the response head, body chunks and
 * trailers with observability_mode set (response body mode STREAMED in protocol_config) and gives
 * the client the upstream's bytes at once, ignoring any answer; "headers" announces response body
 * mode NONE, waits for the answer to the response head only, and half-closes the call at the
 * response's end so the picker can count it complete. Trailers go to the picker in every mode.
 * failOpen keeps a replay copy of the original body (bounded by maxBufferSize) until the pick, and
 * falls back to the service's endpoints, or in passthrough mode to endpoints the picker chose
 * recently. A clean end of the call with the response not yet answered continues without the
 * picker; any other failure is a 503 before the pick and a 502 / reset after it.
 */
#include <netdb.h>
#include <stdio.h>

#include "gateway_int.h"

#define INF_LEARN_TTL_NS      (60ull * 1000000000ull) /* a learned endpoint is a fallback this long */
#define INF_PICKER_CONNECT_MS 5000
/* PING the picker after 10 s of silence while calls are open; no answer in 10 s more: dead. */
#define INF_PICKER_KEEPALIVE_MS 10000

static const ig_iov_t dest_prefix = IG_STRLIT("x-gateway-destination-endpoint");

/* ---- channels ---------------------------------------------------------------------------------- */

/* |tls|: the backendTLS policy of a backend target (agentgateway's way to reach a TLS picker). */
static int resolve_target(const struct ig_cfg_target *t, struct sockaddr_storage *sa, const char **host,
                          const struct ig_cfg_backend_tls **tls)
{
    const struct ig_cfg_hostport *hp = NULL;
    *tls = NULL;
    switch (t->kind) {
    case IG_CFG_TARGET_HOST:
        hp = &t->host;
        break;
    case IG_CFG_TARGET_BACKEND:
        hp = &t->backend->host;
        *tls = t->backend->policies.tls;
        break;
    case IG_CFG_TARGET_SERVICE:
        for (size_t i = 0; t->service_port != NULL && i < t->service_port->n_endpoints; i++) {
            if (t->service_port->endpoints[i].healthy) {
                hp = &t->service_port->endpoints[i].addr;
                break;
            }
        }
        break;
    default:
        break;
    }
    if (hp == NULL)
        return IG_ENOTFOUND;
    *host = hp->host.base;
    return gw_resolve(hp, sa);
}

/* ---- channel statistics ------------------------------------------------------------------------ */

/*
 * The channel's figures are plain fields of the worker's thread; the scrape runs on the control
 * thread. So the worker copies them into its epp_stats slots (single-writer atomics), once per
 * loop iteration before it polls: every state change happens in a callback of this loop (a
 * connect result, a retry timer, a probe's status), so the copy is never more than one iteration
 * behind, costs a few loads per channel, and needs neither a lock nor a periodic wake-up.
 */
static void epp_publish(struct gw_epp *e)
{
    if (e->st == NULL)
        return;
    struct ig_grpc_channel_stats s;
    ig_grpc_channel_get_stats(e->ch, &s);
    /* Stores only what changed, so the scraper's cache lines are not dirtied every iteration. */
    if (s.state != e->pub.state)
        atomic_store_explicit(&e->st->state, s.state, memory_order_relaxed);
    if (s.connect_attempts != e->pub.connect_attempts)
        atomic_store_explicit(&e->st->attempts, s.connect_attempts, memory_order_relaxed);
    if (s.connect_failures != e->pub.connect_failures)
        atomic_store_explicit(&e->st->failures, s.connect_failures, memory_order_relaxed);
    if (s.fail_fast != e->pub.fail_fast)
        atomic_store_explicit(&e->st->fail_fast, s.fail_fast, memory_order_relaxed);
    e->pub = s;
}

static void on_epp_publish(uv_prepare_t *h)
{
    struct gw_worker *w = h->data;
    ig_list_t *pos;
    ig_list_foreach(pos, &w->epps)
    {
        epp_publish(IG_CONTAINER_OF(pos, struct gw_epp, link));
    }
}

/* Gives a new channel a statistics slot (none past GW_EPP_STATS_MAX: it is then not exported). */
static void epp_stat_attach(struct gw_worker *w, struct gw_epp *e)
{
    size_t n = atomic_load_explicit(&w->epp_n, memory_order_relaxed);
    if (n >= GW_EPP_STATS_MAX) {
        ig_log_warn("gateway", "endpoint picker %s: more than %d picker channels on a worker, not in /metrics",
                    e->label, GW_EPP_STATS_MAX);
        return;
    }
    e->st = &w->epp_stats[n];
    snprintf(e->st->picker, sizeof(e->st->picker), "%s", e->label);
    /* The zeroed slot and |pub| say IDLE (0) with no counts, as a new channel is. */
    /* Publishes the slot's picker to the scraping thread. */
    atomic_store_explicit(&w->epp_n, n + 1, memory_order_release);
    if (w->epp_publishing == 0) {
        uv_prepare_init(&w->w->loop, &w->epp_publish);
        w->epp_publish.data = w;
        uv_prepare_start(&w->epp_publish, on_epp_publish);
        uv_unref((uv_handle_t *)&w->epp_publish); /* never what keeps the worker's loop alive */
        w->epp_publishing = 1;
    }
}

static int refused_outcome(int status)
{
    switch (status) {
    case IG_GRPC_UNAVAILABLE:
        return GW_EPP_UNAVAILABLE;
    case IG_GRPC_DEADLINE_EXCEEDED:
        return GW_EPP_DEADLINE;
    default:
        return GW_EPP_FAILED_CLOSED;
    }
}

struct gw_epp *gw_inf_epp_get(struct gw_worker *w, const struct ig_cfg_inference_routing *ir)
{
    struct sockaddr_storage sa;
    const char *host = NULL;
    const struct ig_cfg_backend_tls *tls = NULL;
    if (resolve_target(&ir->picker, &sa, &host, &tls) != 0)
        return NULL;
    size_t salen = sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    /*
     * backendTLS as agentgateway applies it: verification against |root| (else the system store)
     * and |hostname| (else the backend's host) or one of subjectAltNames, the chain only with
     * insecureHost, none with insecure (pickers usually present a self-signed certificate); a
     * client certificate for pickers that require one; the ALPN list must offer h2.
     */
    struct ig_grpc_channel_config cc = {0};
    struct gw_tls_opts topts;
    char name[96];
    memcpy(&cc.addr, &sa, salen);
    cc.tls = tls != NULL;
    cc.tls_verify = tls != NULL && !tls->insecure;
    cc.ca_file = tls != NULL && tls->root.path.len > 0 ? tls->root.path.base : NULL;
    cc.sni = tls == NULL ? NULL : tls->hostname.len > 0 ? tls->hostname.base : host;
    if (tls != NULL) {
        if (gw_tls_opts_init(&topts, tls, NULL) != 0) {
            gw_tls_opts_dispose(&topts);
            ig_log_error("gateway", "endpoint picker %s: TLS: settings too long", host);
            return NULL;
        }
        cc.tls_opts = &topts.o;
    }
    cc.connect_timeout_ms = INF_PICKER_CONNECT_MS;
    cc.keepalive_ms = INF_PICKER_KEEPALIVE_MS;
    snprintf(name, sizeof(name), "endpoint picker %s%s", host, tls != NULL ? " (TLS)" : "");
    cc.name = name;
    ig_list_t *pos;
    ig_list_foreach(pos, &w->epps)
    {
        struct gw_epp *e = IG_CONTAINER_OF(pos, struct gw_epp, link);
        if (ig_grpc_channel_matches(e->ch, &cc)) {
            if (tls != NULL)
                gw_tls_opts_dispose(&topts);
            return e;
        }
    }
    char err[256];
    ig_grpc_channel_t *ch = ig_grpc_channel_create(&w->w->loop, &cc, err, sizeof(err));
    if (tls != NULL)
        gw_tls_opts_dispose(&topts);
    if (ch == NULL) {
        ig_log_error("gateway", "endpoint picker %s: %s", host, err);
        return NULL;
    }
    struct gw_epp *e = ig_calloc(1, sizeof(*e));
    memcpy(&e->addr, &sa, salen);
    e->tls = tls != NULL;
    e->ch = ch;
    ig_addr_format((const struct sockaddr *)&sa, e->label, sizeof(e->label));
    ig_list_push_back(&w->epps, &e->link);
    epp_stat_attach(w, e);
    return e;
}

void gw_inf_epps_destroy(struct gw_worker *w)
{
    while (!ig_list_empty(&w->epps)) {
        struct gw_epp *e = IG_CONTAINER_OF(w->epps.next, struct gw_epp, link);
        ig_list_remove(&e->link);
        epp_publish(e);
        if (e->st != NULL)
            atomic_store_explicit(&e->st->state, GW_EPP_SHUTDOWN, memory_order_relaxed);
        ig_grpc_channel_destroy(e->ch);
        ig_free(e);
    }
    if (w->epp_publishing == 1) {
        w->epp_publishing = 2;
        uv_prepare_stop(&w->epp_publish);
        uv_close((uv_handle_t *)&w->epp_publish, NULL); /* its storage is the worker's, freed after the loop */
    }
}

static void learn(struct gw_epp *e, struct gw_origin *o)
{
    uint64_t now = ig_time_ns();
    size_t slot = 0;
    for (size_t i = 0; i < GW_INF_LEARNED; i++) {
        if (e->learned[i] == o) {
            slot = i;
            break;
        }
        if (e->learned_ns[i] < e->learned_ns[slot])
            slot = i; /* the oldest (or an empty one) is replaced */
    }
    e->learned[slot] = o;
    e->learned_ns[slot] = now;
}

/* ---- chunk queues ------------------------------------------------------------------------------ */

static void chunkq_init(struct gw_chunkq *q, size_t max)
{
    ig_buf_init(&q->data, max);
    ig_buf_init(&q->lens, 0);
    q->ok = 1;
}

static void chunkq_dispose(struct gw_chunkq *q)
{
    ig_buf_dispose(&q->data);
    ig_buf_dispose(&q->lens);
    q->ok = 0;
}

static void chunkq_push(struct gw_chunkq *q, const char *data, size_t len)
{
    if (!q->ok)
        return;
    if (ig_buf_append(&q->data, data, len) != 0 || ig_buf_append(&q->lens, &len, sizeof(len)) != 0) {
        chunkq_dispose(q);
        return;
    }
}

static size_t chunkq_count(const struct gw_chunkq *q)
{
    return q->lens.len / sizeof(size_t);
}

/* Pops the oldest chunk into |out| (valid until the next push); returns 0, or IG_ENOTFOUND. */
static int chunkq_pop(struct gw_chunkq *q, ig_iov_t *out)
{
    if (!q->ok || chunkq_count(q) == 0)
        return IG_ENOTFOUND;
    size_t len;
    memcpy(&len, ig_buf_data(&q->lens), sizeof(len));
    ig_buf_consume(&q->lens, sizeof(len));
    *out = ig_iov(ig_buf_data(&q->data), len);
    ig_buf_consume(&q->data, len);
    return 0;
}

/* ---- sending ----------------------------------------------------------------------------------- */

static int send_out(struct gw_inf *inf, int end)
{
    if (inf->call == NULL || inf->cancelled)
        return IG_ECLOSED;
    int rc = ig_grpc_call_send(inf->call, ig_buf_data(&inf->out) + IG_GRPC_PREFIX_LEN,
                               inf->out.len - IG_GRPC_PREFIX_LEN, end);
    ig_buf_reset(&inf->out);
    ig_pool_clear(&inf->enc);
    return rc;
}

/* ---- applying mutations ------------------------------------------------------------------------ */

static ig_iov_t lower_dup(ig_pool_t *pool, ig_iov_t s)
{
    char *p = ig_pool_alloc(pool, s.len + 1);
    for (size_t i = 0; i < s.len; i++) {
        char c = s.base[i];
        p[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    p[s.len] = 0;
    return ig_iov(p, s.len);
}

/*
 * Applies |m| to |h|. Pseudo-headers go to |pseudo| (may be NULL: ignored); content-length is
 * recorded in |*cl| and never added (the engines own framing).
 */
static void apply_mutation(ig_pool_t *pool, ig_http_headers_t *h, const struct ig_extproc_mutation *m,
                           void (*pseudo)(void *arg, ig_iov_t name, ig_iov_t value), void *arg, int64_t *cl)
{
    for (size_t i = 0; i < m->n_remove; i++) {
        ig_iov_t n = m->remove[i];
        if (n.len > 0 && n.base[0] != ':')
            ig_http_headers_remove(h, n);
    }
    for (size_t i = 0; i < m->n_set; i++) {
        const struct ig_extproc_header_set *e = &m->set[i];
        if (e->name.len == 0)
            continue;
        if (e->name.base[0] == ':') {
            if (pseudo != NULL)
                pseudo(arg, e->name, ig_pool_dup(pool, e->value));
            continue;
        }
        if (ig_iov_eq_nocase(e->name, IG_STRLIT("content-length"))) {
            uint64_t v;
            if (cl != NULL && ig_iov_to_u64(ig_iov_trim(e->value), &v) == 0 && v <= INT64_MAX)
                *cl = (int64_t)v;
            continue;
        }
        if (ig_iov_eq_nocase(e->name, IG_STRLIT("host"))) {
            if (pseudo != NULL)
                pseudo(arg, IG_STRLIT(":authority"), ig_pool_dup(pool, e->value));
            continue;
        }
        if (e->value.len == 0 && !e->keep_empty_value) {
            ig_http_headers_remove(h, e->name);
            continue;
        }
        int exists = ig_http_headers_find(h, e->name, 0) >= 0;
        switch (e->action) {
        case IG_EXTPROC_ADD_IF_ABSENT:
            if (exists)
                continue;
            break;
        case IG_EXTPROC_OVERWRITE_IF_EXISTS:
            if (!exists)
                continue;
            ig_http_headers_remove(h, e->name);
            break;
        case IG_EXTPROC_APPEND_IF_EXISTS_OR_ADD:
            break;
        default: /* OVERWRITE_IF_EXISTS_OR_ADD */
            ig_http_headers_remove(h, e->name);
            break;
        }
        ig_http_headers_add(pool, h, lower_dup(pool, e->name), ig_pool_dup(pool, e->value));
    }
}

static void request_pseudo(void *arg, ig_iov_t name, ig_iov_t value)
{
    ig_http_request_t *req = arg;
    if (ig_iov_eq(name, IG_STRLIT(":path")) && value.len > 0 && value.base[0] == '/')
        req->path = value;
    else if (ig_iov_eq(name, IG_STRLIT(":authority")) && value.len > 0)
        req->authority = value;
}

static void response_pseudo(void *arg, ig_iov_t name, ig_iov_t value)
{
    ig_http_response_t *resp = arg;
    uint64_t v;
    if (ig_iov_eq(name, IG_STRLIT(":status")) && ig_iov_to_u64(value, &v) == 0 && v >= 200 && v <= 599)
        resp->status = (int)v;
}

void gw_inf_strip_client_headers(ig_http_headers_t *h)
{
    for (size_t i = 0; i < h->len;) {
        ig_iov_t n = h->v[i].name;
        if (n.len >= dest_prefix.len && ig_iov_eq_nocase(ig_iov(n.base, dest_prefix.len), dest_prefix)) {
            ig_http_headers_remove(h, n); /* every entry of that name; the scan restarts at |i| */
            continue;
        }
        i++;
    }
}

/* ---- the pick ---------------------------------------------------------------------------------- */

static void fail(struct gw_inf *inf, int status, const char *reason, const char *text)
{
    if (inf->cancelled)
        return;
    inf->cancelled = 1;
    inf->epp_failed = 1;
    inf->ops->failed(inf->owner, status, reason, text);
    if (inf->call != NULL)
        ig_grpc_call_cancel(inf->call);
}

/* Resolves a destination value into origins: validated mode keeps only the service's endpoints. */
static size_t resolve_dests(struct gw_inf *inf, ig_iov_t value, struct gw_origin **out)
{
    struct ig_extproc_endpoint eps[GW_INF_DEST_MAX];
    size_t n = ig_extproc_parse_endpoints(value, eps, GW_INF_DEST_MAX);
    const struct gw_bplan *bp = inf->bp;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct gw_origin *o = NULL;
        if (bp->ir->destination_mode == IG_CFG_DEST_VALIDATED) {
            for (size_t j = 0; j < bp->n_eps && o == NULL; j++) {
                if (bp->eps[j]->addr.ss_family == eps[i].addr.ss_family &&
                    memcmp(&bp->eps[j]->addr, &eps[i].addr, eps[i].addr_len) == 0)
                    o = bp->eps[j];
            }
        } else {
            char host[IG_EXTPROC_ENDPOINT_TEXT_MAX];
            snprintf(host, sizeof(host), "%s", eps[i].text);
            char *colon = strrchr(host, ':');
            if (colon != NULL)
                *colon = 0;
            o = gw_origin_get(inf->w, &eps[i].addr, bp->up_version, bp->rb->policies.tls, host, bp->connect_ms);
        }
        if (o != NULL)
            out[k++] = o;
    }
    return k;
}

static void on_pick(struct gw_inf *inf, const struct ig_extproc_response *resp)
{
    apply_mutation(inf->pool, &inf->ureq->headers, &resp->headers, request_pseudo, inf->ureq, &inf->mut_cl);
    ig_iov_t dest = ig_extproc_destination(resp);
    struct gw_origin *eps[GW_INF_DEST_MAX];
    size_t n = 0;
    if (dest.len > 0) {
        n = resolve_dests(inf, dest, eps);
        if (n == 0) {
            fail(inf, 503, "epp_invalid_destination",
                 inf->bp->ir->destination_mode == IG_CFG_DEST_VALIDATED
                     ? "endpoint picker chose an endpoint outside the service"
                     : "endpoint picker returned an invalid destination");
            return;
        }
    } else if (inf->bp->n_eps == 0) {
        fail(inf, 503, "epp_no_destination", "endpoint picker returned no destination");
        return;
    }
    inf->picked = 1;
    inf->ureq->content_length = inf->mut_cl >= 0 ? inf->mut_cl : (inf->header_only ? 0 : -1);
    if (inf->header_only)
        inf->up_end = 1;
    ig_buf_dispose(&inf->orig); /* the picker answered: no fail-open replay from here */
    inf->orig_ok = 0;
    inf->ops->picked(inf->owner, eps, n);
}

/* Upstream body bytes: kept for a fall-through attempt, then handed to the proxy. */
static void up_body(struct gw_inf *inf, const char *data, size_t len, int end)
{
    if (inf->up_end || inf->cancelled)
        return;
    if (inf->up_ok && len > 0 && ig_buf_append(&inf->up, data, len) != 0) {
        ig_buf_dispose(&inf->up);
        inf->up_ok = 0; /* too big to replay on a fall-through attempt */
    }
    if (end)
        inf->up_end = 1;
    inf->ops->req_body(inf->owner, data, len, end);
}

static int resp_body(struct gw_inf *inf, const char *data, size_t len, int end)
{
    if (inf->resp_done || inf->cancelled)
        return 0;
    if (end)
        inf->resp_done = 1;
    return inf->ops->resp_body(inf->owner, data, len, end);
}

static void resp_body_v(struct gw_inf *inf, const char *data, size_t len, int end)
{
    (void)resp_body(inf, data, len, end);
}

/* Trailers end the client's response once everything before them went out. */
static void forward_trailers(struct gw_inf *inf)
{
    if (inf->resp_done || inf->cancelled || chunkq_count(&inf->sq) != 0)
        return;
    inf->resp_done = 1;
    inf->ops->resp_trailers(inf->owner, &inf->trailers);
}

/* Original response chunks queued while the picker had not answered go to the client now. */
static void flush_response(struct gw_inf *inf)
{
    ig_iov_t c;
    while (!inf->cancelled && chunkq_pop(&inf->sq, &c) == 0)
        resp_body(inf, c.base, c.len, inf->resp_end_sent && !inf->resp_trailers && chunkq_count(&inf->sq) == 0);
}

/* A body answer of either direction. */
static void on_body(struct gw_inf *inf, const struct ig_extproc_response *resp, int request)
{
    struct gw_chunkq *q = request ? &inf->rq : &inf->sq;
    int sent_end = request ? inf->req_end_sent : inf->resp_end_sent;
    void (*emit)(struct gw_inf *, const char *, size_t, int) = request ? up_body : resp_body_v;
    int trailers_follow = !request && inf->resp_trailers;
    switch (resp->body_kind) {
    case IG_EXTPROC_BODY_STREAMED:
        if (request)
            inf->req_streamed = 1;
        else
            inf->resp_streamed = 1;
        chunkq_dispose(q); /* the picker streams its own body: originals are not needed */
        emit(inf, resp->body.base, resp->body.len, resp->body_eos);
        return;
    case IG_EXTPROC_BODY_REPLACE:
    case IG_EXTPROC_BODY_CLEAR:
        chunkq_dispose(q);
        emit(inf, resp->body.base, resp->body_kind == IG_EXTPROC_BODY_REPLACE ? resp->body.len : 0, 1);
        return;
    default: {
        if ((request ? inf->req_streamed : inf->resp_streamed))
            return; /* an empty answer after streaming began adds nothing */
        ig_iov_t c;
        if (chunkq_pop(q, &c) != 0) {
            fail(inf, 502, "epp_protocol_error", "endpoint picker answered a body chunk it was not sent");
            return;
        }
        emit(inf, c.base, c.len, sent_end && !trailers_follow && chunkq_count(q) == 0);
        return;
    }
    }
}

static void on_immediate(struct gw_inf *inf, const struct ig_extproc_response *resp)
{
    ig_http_response_t r = {.status = resp->immediate.status != 0 ? resp->immediate.status : 200};
    if (r.status < 200 || r.status > 599)
        r.status = 500;
    apply_mutation(inf->pool, &r.headers, &resp->immediate.headers, NULL, NULL, NULL);
    r.content_length = (int64_t)resp->immediate.body.len;
    inf->cancelled = 1;
    inf->ops->immediate(inf->owner, &r, resp->immediate.body);
    if (inf->call != NULL)
        ig_grpc_call_cancel(inf->call);
}

static void call_on_message(ig_grpc_call_t *call, ig_iov_t msg)
{
    struct gw_inf *inf = ig_grpc_call_data(call);
    if (inf->cancelled)
        return;
    struct ig_extproc_response resp;
    ig_pool_clear(&inf->dec);
    if (ig_extproc_decode_response(&inf->dec, msg, &resp) != 0) {
        fail(inf, 502, "epp_protocol_error", "endpoint picker sent an invalid message");
        return;
    }
    switch (resp.kind) {
    case IG_EXTPROC_REQUEST_HEADERS:
        if (inf->picked)
            break;
        on_pick(inf, &resp);
        return;
    case IG_EXTPROC_REQUEST_BODY:
        if (!inf->picked)
            break;
        on_body(inf, &resp, 1);
        return;
    case IG_EXTPROC_RESPONSE_HEADERS:
        if (inf->resp_mode == IG_CFG_RESP_OBSERVE)
            return; /* observed messages get no answer; one that comes anyway changes nothing */
        if (!inf->resp_hdr_sent || inf->resp_hdr_done)
            break;
        inf->resp_hdr_done = 1;
        apply_mutation(inf->pool, &inf->uresp->headers, &resp.headers, response_pseudo, inf->uresp, NULL);
        if (inf->resp_mode == IG_CFG_RESP_FULL)
            inf->uresp->content_length = -1; /* the picker's body may differ from the upstream's */
        inf->ops->resp_headers(inf->owner);
        if (inf->resp_mode == IG_CFG_RESP_HEADERS)
            flush_response(inf); /* the body never waits for the picker beyond its head */
        return;
    case IG_EXTPROC_RESPONSE_BODY:
        if (inf->resp_mode != IG_CFG_RESP_FULL)
            return; /* the picker is not in the body's path: ignore what it says of it */
        if (!inf->resp_hdr_done)
            break;
        on_body(inf, &resp, 0);
        return;
    case IG_EXTPROC_REQUEST_TRAILERS:
        /* The upstream request carries no trailers; the answer can still end a pass-through body
         * that was fully answered before the trailers went out. */
        if (inf->picked && !inf->req_streamed && chunkq_count(&inf->rq) == 0)
            up_body(inf, NULL, 0, 1);
        return;
    case IG_EXTPROC_RESPONSE_TRAILERS:
        if (inf->resp_mode == IG_CFG_RESP_OBSERVE)
            return;
        if (!inf->resp_trailers || !inf->resp_hdr_done)
            break;
        apply_mutation(inf->pool, &inf->trailers, &resp.headers, NULL, NULL, NULL);
        forward_trailers(inf);
        return;
    case IG_EXTPROC_IMMEDIATE:
        on_immediate(inf, &resp);
        return;
    default:
        break;
    }
    fail(inf, 502, "epp_protocol_error", "endpoint picker answered out of order");
}

static void call_on_writable(ig_grpc_call_t *call)
{
    struct gw_inf *inf = ig_grpc_call_data(call);
    if (!inf->cancelled)
        inf->ops->writable(inf->owner);
}

/* failOpen before the pick: the service's endpoints, else (passthrough) recently picked ones. */
static int fall_back(struct gw_inf *inf)
{
    if (inf->bp->ir->failure_mode != IG_CFG_FAIL_OPEN || !inf->orig_ok)
        return 0;
    struct gw_origin *eps[GW_INF_DEST_MAX];
    size_t n = 0;
    if (inf->bp->n_eps == 0) {
        struct gw_epp *e = inf->bp->epp;
        uint64_t now = ig_time_ns();
        for (size_t i = 0; i < GW_INF_LEARNED && n < GW_INF_DEST_MAX; i++) {
            if (e->learned[i] != NULL && now - e->learned_ns[i] < INF_LEARN_TTL_NS)
                eps[n++] = e->learned[i];
        }
        if (n == 0)
            return 0;
        /* Start at a random one so fallback traffic spreads; the rest follow as fall-through. */
        size_t start = (size_t)(gw_rand(inf->w) % n);
        struct gw_origin *tmp[GW_INF_DEST_MAX];
        for (size_t i = 0; i < n; i++)
            tmp[i] = eps[(start + i) % n];
        memcpy(eps, tmp, n * sizeof(*eps));
    }
    inf->fallback = 1;
    inf->picked = 1;
    inf->bypass = 1; /* the original content-length stays: the body is the client's */
    /* The original body so far becomes the upstream body; later chunks follow it directly. */
    ig_buf_t tmp = inf->up;
    inf->up = inf->orig;
    inf->orig = tmp;
    ig_buf_dispose(&inf->orig);
    inf->orig_ok = 0;
    inf->up_ok = 1;
    inf->up_end = inf->header_only || inf->req_end_sent;
    inf->ops->picked(inf->owner, eps, n);
    return 1;
}

/* The call ended cleanly with the response not (fully) answered: continue without the picker. */
static void bypass_response(struct gw_inf *inf)
{
    inf->bypass = 1;
    if (inf->resp_hdr_sent && !inf->resp_hdr_done) {
        inf->resp_hdr_done = 1;
        inf->ops->resp_headers(inf->owner);
    }
    if (inf->resp_hdr_done && !inf->resp_streamed)
        flush_response(inf);
    if (inf->resp_hdr_done && inf->resp_trailers)
        forward_trailers(inf); /* no answer to them is coming */
}

static void call_on_status(ig_grpc_call_t *call, int status, ig_iov_t message)
{
    struct gw_inf *inf = ig_grpc_call_data(call);
    int outcome = GW_EPP_OK;
    inf->call = NULL;
    if (!inf->cancelled && !inf->resp_done) {
        if (!inf->picked) {
            char text[160];
            snprintf(text, sizeof(text), "endpoint picker unavailable: %s%s%.*s", ig_grpc_status_name(status),
                     message.len > 0 ? ": " : "", (int)IG_MIN(message.len, 100), message.base);
            if (fall_back(inf)) {
                outcome = GW_EPP_FAILED_OPEN;
            } else {
                fail(inf, 503, "epp_unavailable", text);
                outcome = refused_outcome(status);
            }
        } else if (status == IG_GRPC_OK && inf->up_end && !inf->resp_streamed) {
            bypass_response(inf);
        } else if (inf->resp_mode != IG_CFG_RESP_FULL && inf->resp_hdr_done) {
            bypass_response(inf); /* the response no longer depends on the picker */
            if (status != IG_GRPC_OK)
                outcome = GW_EPP_FAILED_OPEN;
        } else {
            fail(inf, 502, "epp_stream_failed", "endpoint picker stream failed");
            outcome = refused_outcome(status);
        }
    } else if (inf->epp_failed) {
        outcome = GW_EPP_FAILED_CLOSED; /* an invalid answer: the call was cancelled by fail() */
    }
    if (inf->bp->epp->st != NULL)
        gw_bump(&inf->bp->epp->st->outcomes[outcome], 1);
    inf->active = 0;
    inf->ops->done(inf->owner);
}

static const struct ig_grpc_call_handler call_handler = {
    .on_message = call_on_message,
    .on_writable = call_on_writable,
    .on_status = call_on_status,
};

/* ---- the proxy's entry points ------------------------------------------------------------------ */

int gw_inf_start(struct gw_inf *inf, struct gw_worker *w, const struct gw_bplan *bp, const struct gw_inf_ops *ops,
                 void *owner, ig_pool_t *pool, ig_http_request_t *ureq, int header_only)
{
    memset(inf, 0, sizeof(*inf));
    if (bp->epp == NULL)
        return IG_ENOTFOUND;
    inf->ops = ops;
    inf->owner = owner;
    inf->w = w;
    inf->bp = bp;
    inf->pool = pool;
    inf->ureq = ureq;
    inf->header_only = header_only != 0;
    inf->mut_cl = -1;
    size_t cap = w->plan->snap->cfg->frontend.max_buffer_size;
    if (cap == 0)
        cap = 2u << 20;
    ig_pool_init(&inf->enc);
    ig_pool_init(&inf->dec);
    ig_buf_init(&inf->out, 0);
    ig_buf_init(&inf->orig, cap);
    ig_buf_init(&inf->up, cap);
    inf->orig_ok = bp->ir->failure_mode == IG_CFG_FAIL_OPEN;
    inf->up_ok = 1;
    chunkq_init(&inf->rq, cap);
    chunkq_init(&inf->sq, cap);
    inf->active = 1;
    inf->resp_mode = bp->ir->response_mode;
    int resp_body_mode = inf->resp_mode == IG_CFG_RESP_FULL      ? IG_EXTPROC_MODE_FULL_DUPLEX_STREAMED
                         : inf->resp_mode == IG_CFG_RESP_OBSERVE ? IG_EXTPROC_MODE_STREAMED
                                                                 : IG_EXTPROC_MODE_NONE;
    inf->call = ig_grpc_call_start(bp->epp->ch, IG_EXTPROC_PATH, NULL, &call_handler, inf);
    if (ig_extproc_encode_request_headers_mode(&inf->out, &inf->enc, ureq, header_only,
                                               IG_EXTPROC_MODE_FULL_DUPLEX_STREAMED, resp_body_mode, NULL) == 0)
        send_out(inf, 0);
    if (header_only)
        inf->req_end_sent = 1;
    return 0;
}

int gw_inf_request_body(struct gw_inf *inf, const char *data, size_t len, int end)
{
    if (inf->req_end_sent)
        return 0;
    if (end)
        inf->req_end_sent = 1;
    if (inf->fallback) {
        if (inf->up_ok && len > 0 && ig_buf_append(&inf->up, data, len) != 0) {
            ig_buf_dispose(&inf->up);
            inf->up_ok = 0;
        }
        if (end)
            inf->up_end = 1;
        return inf->ops->req_body(inf->owner, data, len, end);
    }
    if (inf->cancelled || inf->call == NULL)
        return 0;
    if (!inf->picked && inf->orig_ok && len > 0 && ig_buf_append(&inf->orig, data, len) != 0) {
        ig_buf_dispose(&inf->orig);
        inf->orig_ok = 0; /* too big to replay: failOpen cannot apply to this request */
    }
    if (!inf->req_streamed)
        chunkq_push(&inf->rq, data, len);
    if (ig_extproc_encode_request_body(&inf->out, &inf->enc, data, len, end, NULL) != 0) {
        ig_buf_reset(&inf->out);
        fail(inf, 502, "epp_protocol_error", "request body chunk too large for the endpoint picker");
        return 0;
    }
    int rc = send_out(inf, 0);
    return rc == IG_EAGAIN ? IG_EAGAIN : 0;
}

void gw_inf_response_headers(struct gw_inf *inf, const ig_http_response_t *resp, ig_http_response_t *d,
                             struct gw_origin *served)
{
    inf->uresp = d;
    /* A response arrived: no other endpoint will be tried, the upstream body copy can go. */
    ig_buf_dispose(&inf->up);
    inf->up_ok = 0;
    /* Passthrough backends remember what the picker chose (per picker address and worker): the
     * failOpen fallback when they have no endpoints of their own. */
    if (!inf->fallback && served != NULL && inf->bp->ir->destination_mode == IG_CFG_DEST_PASSTHROUGH)
        learn(inf->bp->epp, served);
    if (inf->bypass || inf->call == NULL || inf->cancelled) {
        inf->bypass = 1;
        inf->resp_hdr_done = 1;
        inf->ops->resp_headers(inf->owner);
        return;
    }
    inf->resp_hdr_sent = 1;
    ig_iov_t label = served != NULL ? ig_iov_cstr(served->label) : IG_IOV_NULL;
    int observe = inf->resp_mode == IG_CFG_RESP_OBSERVE;
    if (ig_extproc_encode_response_headers_ex(&inf->out, &inf->enc, resp, 0, label,
                                              observe ? IG_EXTPROC_F_OBSERVE : 0) == 0)
        send_out(inf, 0);
    if (observe) {
        inf->resp_hdr_done = 1; /* no answer is coming: the client gets the upstream's head now */
        inf->ops->resp_headers(inf->owner);
    }
}

/*
 * observe and headers modes: the client gets the upstream's bytes without waiting for the picker
 * (in headers mode only once the head was answered). observe mirrors each chunk; headers tells
 * the picker only that the response ended, by half-closing the call.
 */
static int response_body_aside(struct gw_inf *inf, const char *data, size_t len, int end)
{
    int rc = 0;
    if (inf->cancelled)
        return 0;
    if (inf->call != NULL && inf->resp_mode == IG_CFG_RESP_OBSERVE) {
        if (ig_extproc_encode_response_body_ex(&inf->out, &inf->enc, data, len, end, IG_EXTPROC_F_OBSERVE) == 0)
            rc = send_out(inf, end);
        else
            ig_buf_reset(&inf->out); /* too large to mirror: the client's copy matters more */
    } else if (inf->call != NULL && end) {
        ig_grpc_call_close_send(inf->call);
    }
    if (!inf->resp_hdr_done) {
        chunkq_push(&inf->sq, data, len);
        if (!inf->sq.ok) {
            fail(inf, 502, "epp_protocol_error", "response body too large to hold for the endpoint picker");
            return 0;
        }
        return rc == IG_EAGAIN ? IG_EAGAIN : 0;
    }
    int rc2 = resp_body(inf, data, len, end);
    return rc == IG_EAGAIN || rc2 == IG_EAGAIN ? IG_EAGAIN : 0;
}

int gw_inf_response_body(struct gw_inf *inf, const char *data, size_t len, int end)
{
    if (inf->resp_end_sent)
        return 0;
    if (end)
        inf->resp_end_sent = 1;
    if (inf->bypass)
        return inf->ops->resp_body(inf->owner, data, len, end);
    if (inf->resp_mode != IG_CFG_RESP_FULL)
        return response_body_aside(inf, data, len, end);
    if (inf->cancelled || inf->call == NULL)
        return 0;
    if (!inf->resp_streamed)
        chunkq_push(&inf->sq, data, len);
    if (ig_extproc_encode_response_body(&inf->out, &inf->enc, data, len, end) != 0) {
        ig_buf_reset(&inf->out);
        fail(inf, 502, "epp_protocol_error", "response body chunk too large for the endpoint picker");
        return 0;
    }
    /* The last message half-closes the call: the picker then finishes it. */
    int rc = send_out(inf, end);
    return rc == IG_EAGAIN ? IG_EAGAIN : 0;
}

void gw_inf_response_trailers(struct gw_inf *inf, const ig_http_headers_t *trailers)
{
    if (inf->resp_end_sent || inf->ops == NULL)
        return;
    inf->resp_end_sent = 1;
    inf->resp_trailers = 1;
    /* The upstream's strings are gone when its stream closes; the answer may come later. */
    inf->trailers = (ig_http_headers_t){0};
    for (size_t i = 0; trailers != NULL && i < trailers->len; i++)
        ig_http_headers_add(inf->pool, &inf->trailers, ig_pool_dup(inf->pool, trailers->v[i].name),
                            ig_pool_dup(inf->pool, trailers->v[i].value));
    if (inf->bypass) {
        forward_trailers(inf);
        return;
    }
    if (inf->cancelled)
        return;
    int observe = inf->resp_mode == IG_CFG_RESP_OBSERVE;
    if (inf->call != NULL) {
        if (ig_extproc_encode_response_trailers_ex(&inf->out, &inf->enc, &inf->trailers,
                                                   observe ? IG_EXTPROC_F_OBSERVE : 0) == 0) {
            send_out(inf, 1); /* trailers are the last message: the picker then ends the call */
        } else {
            ig_buf_reset(&inf->out);
            ig_grpc_call_close_send(inf->call);
            observe = 1; /* nothing will answer them */
        }
    }
    if (observe || inf->call == NULL)
        forward_trailers(inf);
}

int gw_inf_request_trailers(struct gw_inf *inf, const ig_http_headers_t *trailers)
{
    if (inf->req_end_sent || inf->ops == NULL)
        return 0;
    inf->req_end_sent = 1;
    if (inf->fallback) {
        /* The upstream gets the client's body; the trailers themselves are not forwarded. */
        inf->up_end = 1;
        return inf->ops->req_body(inf->owner, NULL, 0, 1);
    }
    if (inf->cancelled || inf->call == NULL)
        return 0;
    if (ig_extproc_encode_request_trailers(&inf->out, &inf->enc, trailers, NULL) != 0) {
        ig_buf_reset(&inf->out);
        fail(inf, 502, "epp_protocol_error", "request trailers too large for the endpoint picker");
        return 0;
    }
    send_out(inf, 0);
    /* Pass-through answers that all came before the trailers left nothing to carry the end. */
    if (inf->picked && !inf->req_streamed && chunkq_count(&inf->rq) == 0)
        up_body(inf, NULL, 0, 1);
    return 0;
}

void gw_inf_cancel(struct gw_inf *inf)
{
    if (!inf->active || inf->cancelled)
        return;
    inf->cancelled = 1;
    /*
     * After the picker answered the last response chunk the exchange is complete: the call ends
     * with the picker's status (its hold on the request keeps the state alive until then).
     * Resetting every finished stream instead trips the rapid-reset protection of Go's and Node's
     * HTTP/2 servers, which then refuse new streams.
     */
    if (inf->resp_done && inf->resp_end_sent)
        return;
    if (inf->call != NULL)
        ig_grpc_call_cancel(inf->call);
}

int gw_inf_replay(const struct gw_inf *inf, ig_iov_t *body, int *end)
{
    *body = ig_iov(ig_buf_data(&inf->up), inf->up.len);
    *end = inf->up_end;
    return inf->up_ok;
}

void gw_inf_dispose(struct gw_inf *inf)
{
    if (inf->ops == NULL)
        return;
    ig_pool_dispose(&inf->enc);
    ig_pool_dispose(&inf->dec);
    ig_buf_dispose(&inf->out);
    ig_buf_dispose(&inf->orig);
    ig_buf_dispose(&inf->up);
    chunkq_dispose(&inf->rq);
    chunkq_dispose(&inf->sq);
    inf->ops = NULL;
}
