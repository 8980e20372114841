/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of gRPC over the http module's HTTP/2 client. A channel is an ig_http_client_t
 * fixed to HTTP/2 (h2c with prior knowledge, or TLS with ALPN h2) whose connection pool carries
 * many concurrent calls and replaces a failed connection on the next call. A call is one HTTP/2
 * stream: POST with content-type application/grpc and te: trailers, messages framed as they are
 * sent (full duplex: nothing waits for replies), response DATA through a deframer, and the status
 * from the trailers, from a trailers-only response, from the HTTP status, or mapped from the
 * transport error. Deadlines travel as grpc-timeout and are enforced by a local timer that
 * cancels the stream.
 *
 * on_status is never run from inside an ig_grpc_call_* function: when the stream closes during
 * one (a cancel of a call still waiting for a connection), the report is deferred to the call's
 * timer. The call's memory goes back when that timer's close callback runs.
 *
 * Reconnects: the http client reports every connection attempt it makes (on_connect) to the
 * channel's state machine (backoff.c). After a failed attempt the channel is in TRANSIENT_FAILURE:
 * new calls fail at once with UNAVAILABLE (the gateway applies its failureMode without waiting
 * for a dial), and one retry per backoff delay is made by a grpc.health.v1 Check call, whose
 * answer does not matter: only whether its connection comes up. So a picker that is down costs
 * one dial per delay per channel, however many requests arrive meanwhile.
 */
#include <stdio.h>

#include "ig/grpc.h"

#define PROBE_PATH "/grpc.health.v1.Health/Check"

struct ig_grpc_channel {
    uv_loop_t *loop;
    ig_http_client_t *http;
    SSL_CTX *ssl;
    char *authority;
    char *name; /* for log lines */
    size_t max_message;
    ig_list_t calls; /* struct ig_grpc_call.link: not yet freed */
    int destroying;
    /* what ig_grpc_channel_matches compares */
    struct sockaddr_storage addr;
    int tls;
    char *sni; /* and |ssl|, which remembers the other TLS settings */
    /* reconnects */
    struct ig_grpc_connsm sm;
    uv_timer_t retry;
    int retry_closed;
    uint64_t rng;
    uint64_t connect_timeout_ms;
    uint64_t probe_started_ns;
    int last_err; /* of the last failed attempt */
    uint64_t fail_fast;
};

struct ig_grpc_call {
    ig_grpc_channel_t *ch;
    ig_http_cstream_t *cs; /* NULL once the stream closed */
    const struct ig_grpc_call_handler *h;
    void *data;
    ig_list_t link;
    uv_timer_t timer; /* deadline, then the deferred report */
    ig_grpc_deframer_t df;
    ig_pool_t pool; /* the status message */
    int status;
    ig_iov_t message;
    int http_status;
    int in_api; /* depth of ig_grpc_call_* calls on the stack */
    unsigned have_status : 1, sent_end : 1, cs_closed : 1, deadline_hit : 1, canceled : 1, reported : 1, body_end : 1;
};

static const struct ig_http_cstream_handler call_handler;
static void on_connect_result(void *arg, int status, uint64_t duration_ns);
static void retry_fired(uv_timer_t *t);
static void channel_maybe_free(ig_grpc_channel_t *ch);

/* ---- channel ----------------------------------------------------------------------------------- */

/* Is "h2" one of the comma-separated protocols of |alpn|? */
static int alpn_offers_h2(const char *alpn)
{
    for (const char *p = alpn; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n == 2 && memcmp(p, "h2", 2) == 0)
            return 1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

/*
 * The TLS settings of a channel: |cfg|'s tls_opts when given (its ALPN list, which must offer h2,
 * or "h2" alone), else the plain ones. Returns 0, or -1 when the list leaves h2 out.
 */
static int channel_tls_opts(const struct ig_grpc_channel_config *cfg, struct ig_tls_client_opts *o)
{
    if (cfg->tls_opts == NULL) {
        memset(o, 0, sizeof(*o));
        o->ca_file = cfg->ca_file;
        o->insecure = !cfg->tls_verify;
        o->alpn = "h2";
        return 0;
    }
    *o = *cfg->tls_opts;
    if (o->alpn == NULL || o->alpn[0] == '\0') {
        o->alpn = "h2";
        return 0;
    }
    return alpn_offers_h2(o->alpn) ? 0 : -1;
}

ig_grpc_channel_t *ig_grpc_channel_create(uv_loop_t *loop, const struct ig_grpc_channel_config *cfg, char *err,
                                          size_t errlen)
{
    SSL_CTX *ssl = NULL;
    char addr[64];

    if (cfg->tls) {
        struct ig_tls_client_opts o;
        if (channel_tls_opts(cfg, &o) != 0) {
            snprintf(err, errlen, "the ALPN list \"%s\" does not offer h2 (gRPC runs on HTTP/2)", o.alpn);
            return NULL;
        }
        ssl = ig_tls_client_ctx_opts(&o, err, errlen);
        if (ssl == NULL)
            return NULL;
    }
    ig_grpc_channel_t *ch = ig_calloc(1, sizeof(*ch));
    ch->loop = loop;
    ch->ssl = ssl;
    ch->max_message = cfg->max_message != 0 ? cfg->max_message : IG_GRPC_DEFAULT_MAX_MESSAGE;
    if (cfg->authority != NULL)
        ch->authority = ig_strdup(cfg->authority);
    else if (cfg->sni != NULL)
        ch->authority = ig_strdup(cfg->sni);
    else
        ch->authority = ig_strdup(ig_addr_format((const struct sockaddr *)&cfg->addr, addr, sizeof(addr)));
    ch->name = ig_strdup(cfg->name != NULL ? cfg->name : ch->authority);
    ig_list_init(&ch->calls);
    ch->addr = cfg->addr;
    ch->tls = cfg->tls != 0;
    ch->sni = cfg->sni != NULL ? ig_strdup(cfg->sni) : NULL;
    ig_grpc_connsm_init(&ch->sm, &cfg->backoff);
    uv_timer_init(loop, &ch->retry);
    ch->retry.data = ch;
    ch->rng = (ig_time_ns() ^ (uint64_t)(uintptr_t)ch) | 1u;
    ch->connect_timeout_ms = cfg->connect_timeout_ms != 0 ? cfg->connect_timeout_ms : 10000;

    struct ig_http_client_config hc = {0};
    hc.addr = cfg->addr;
    hc.version = IG_HTTP_2;
    hc.ssl_ctx = ssl;
    hc.sni = cfg->sni;
    hc.connect_timeout_ms = cfg->connect_timeout_ms;
    hc.h2_keepalive_ms = cfg->keepalive_ms;
    hc.on_connect = on_connect_result;
    hc.on_connect_arg = ch;
    ch->http = ig_http_client_create(loop, &hc);
    return ch;
}

static void channel_free(ig_grpc_channel_t *ch)
{
    /* Live TLS connections hold their own reference to the context. */
    SSL_CTX_free(ch->ssl);
    ig_free(ch->authority);
    ig_free(ch->name);
    ig_free(ch->sni);
    ig_free(ch);
}

static void channel_maybe_free(ig_grpc_channel_t *ch)
{
    if (ch->destroying && ch->retry_closed && ig_list_empty(&ch->calls))
        channel_free(ch);
}

static void retry_closed(uv_handle_t *h)
{
    ig_grpc_channel_t *ch = h->data;
    ch->retry_closed = 1;
    channel_maybe_free(ch);
}

void ig_grpc_channel_destroy(ig_grpc_channel_t *ch)
{
    ch->destroying = 1;
    uv_timer_stop(&ch->retry);
    uv_close((uv_handle_t *)&ch->retry, retry_closed);
    /* Active streams end with IG_ECANCELED: their calls report CANCELLED and free themselves. */
    ig_http_client_destroy(ch->http);
    ch->http = NULL;
}

void ig_grpc_channel_get_stats(const ig_grpc_channel_t *ch, struct ig_grpc_channel_stats *out)
{
    out->state = ch->sm.state;
    out->connect_attempts = ch->sm.attempts;
    out->connect_failures = ch->sm.failures;
    out->fail_fast = ch->fail_fast;
}

static int str_same(const char *a, const char *b)
{
    return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

int ig_grpc_channel_matches(const ig_grpc_channel_t *ch, const struct ig_grpc_channel_config *cfg)
{
    size_t salen = cfg->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (ch->addr.ss_family != cfg->addr.ss_family || memcmp(&ch->addr, &cfg->addr, salen) != 0)
        return 0;
    if (ch->tls != (cfg->tls != 0))
        return 0;
    if (!ch->tls)
        return 1;
    /* The context remembers every TLS setting it was built from. */
    struct ig_tls_client_opts o;
    return str_same(ch->sni, cfg->sni) && channel_tls_opts(cfg, &o) == 0 && ig_tls_client_ctx_matches(ch->ssl, &o);
}

/* ---- reconnects -------------------------------------------------------------------------------- */

/* xorshift64*: jitter only needs to decorrelate the workers' retries, not to be unpredictable. */
static double channel_rand(ig_grpc_channel_t *ch)
{
    uint64_t x = ch->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ch->rng = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
}

static const char *why_failed(int err)
{
    switch (err) {
    case IG_ETLS:
        return "TLS handshake failed (certificate not trusted or not valid for the name: check backendTLS root, "
               "hostname, insecure)";
    case IG_EPROTO:
        return "the server did not negotiate h2 (ALPN)";
    case IG_ETIMEDOUT:
        return "connect timed out";
    default:
        return ig_strerror(err);
    }
}

static void schedule_retry(ig_grpc_channel_t *ch, uint64_t delay_ms)
{
    ig_log_warn("grpc",
                "%s: connect failed: %s; channel in TRANSIENT_FAILURE, calls fail fast, next attempt in "
                "%llu ms (%llu failed in a row)",
                ch->name, why_failed(ch->last_err), (unsigned long long)delay_ms, (unsigned long long)ch->sm.streak);
    uv_timer_start(&ch->retry, retry_fired, delay_ms, 0);
}

/* The http client's report of one connection attempt (it must not be called back from here). */
static void on_connect_result(void *arg, int status, uint64_t duration_ns)
{
    ig_grpc_channel_t *ch = arg;
    uint64_t now = ig_time_ns();
    uint64_t delay;
    int was = ch->sm.state;
    uint64_t streak = ch->sm.streak;

    if (ch->destroying)
        return;
    if (status != 0)
        ch->last_err = status;
    if (ig_grpc_connsm_on_result(&ch->sm, status, now - duration_ns, now, channel_rand(ch), &delay)) {
        schedule_retry(ch, delay);
        return;
    }
    if (status == 0 && was == IG_GRPC_CONN_TRANSIENT_FAILURE) {
        uv_timer_stop(&ch->retry);
        ig_log_info("grpc", "%s: connected after %llu failed attempts; channel READY", ch->name,
                    (unsigned long long)streak);
    }
}

static void probe_status(ig_grpc_call_t *call, int status, ig_iov_t message)
{
    ig_grpc_channel_t *ch = call->ch;
    uint64_t delay;
    (void)message;
    if (ch->destroying)
        return;
    /* Any answer from the server proves a working connection; UNAVAILABLE is the transport's. */
    int reached = status != IG_GRPC_UNAVAILABLE && status != IG_GRPC_CANCELLED && status != IG_GRPC_DEADLINE_EXCEEDED;
    if (!reached && ch->last_err == 0)
        ch->last_err = IG_ECLOSED;
    if (ig_grpc_connsm_on_probe_done(&ch->sm, reached, ch->probe_started_ns, ig_time_ns(), channel_rand(ch), &delay))
        schedule_retry(ch, delay);
    else if (reached && ch->sm.state == IG_GRPC_CONN_READY)
        uv_timer_stop(&ch->retry);
}

static const struct ig_grpc_call_handler probe_handler = {.on_status = probe_status};

static ig_grpc_call_t *call_start(ig_grpc_channel_t *ch, const char *path, const struct ig_grpc_call_opts *opts,
                                  const struct ig_grpc_call_handler *h, void *data, int probe);

static void retry_fired(uv_timer_t *t)
{
    ig_grpc_channel_t *ch = t->data;
    if (ch->destroying || !ig_grpc_connsm_on_retry(&ch->sm))
        return;
    /* An empty HealthCheckRequest (service ""): any server answers it quickly, or UNIMPLEMENTED. */
    struct ig_grpc_call_opts o = {.timeout_ms = ch->connect_timeout_ms + 1000};
    ch->probe_started_ns = ig_time_ns();
    ig_grpc_call_t *call = call_start(ch, PROBE_PATH, &o, &probe_handler, NULL, 1);
    ig_grpc_call_send(call, NULL, 0, 1);
}

/* ---- call lifetime ----------------------------------------------------------------------------- */

static void call_freed(uv_handle_t *h)
{
    ig_grpc_call_t *call = h->data;
    ig_grpc_channel_t *ch = call->ch;

    ig_list_remove(&call->link);
    ig_free(call);
    channel_maybe_free(ch);
}

static void report(ig_grpc_call_t *call)
{
    if (call->reported)
        return;
    call->reported = 1;
    uv_timer_stop(&call->timer);
    if (call->h->on_status != NULL)
        call->h->on_status(call, call->status, call->message);
    ig_grpc_deframer_dispose(&call->df);
    ig_pool_dispose(&call->pool);
    uv_close((uv_handle_t *)&call->timer, call_freed);
}

static void deferred_report(uv_timer_t *t)
{
    report(t->data);
}

/* After an API call: a stream that closed during it is reported from the loop. */
static void api_leave(ig_grpc_call_t *call)
{
    if (--call->in_api == 0 && call->cs == NULL && !call->reported)
        uv_timer_start(&call->timer, deferred_report, 0, 0);
}

static void set_status(ig_grpc_call_t *call, int status, ig_iov_t message)
{
    if (call->have_status)
        return;
    call->have_status = 1;
    call->status = status;
    call->message = ig_pool_dup(&call->pool, message);
}

/* Reads grpc-status / grpc-message from |h| (trailers, or the head of a trailers-only response). */
static int status_from(ig_grpc_call_t *call, const ig_http_headers_t *h)
{
    ssize_t i = ig_http_headers_find(h, IG_STRLIT("grpc-status"), 0);
    int code;

    if (i < 0)
        return 0;
    if (ig_grpc_status_parse(h->v[i].value, &code) != 0) {
        set_status(call, IG_GRPC_INTERNAL, IG_STRLIT("malformed grpc-status"));
        return 1;
    }
    if (code >= IG_GRPC_STATUS_COUNT)
        code = IG_GRPC_UNKNOWN;
    ssize_t m = ig_http_headers_find(h, IG_STRLIT("grpc-message"), 0);
    ig_iov_t msg = m >= 0 ? ig_grpc_message_decode(&call->pool, h->v[m].value) : IG_IOV_NULL;
    set_status(call, code, msg);
    return 1;
}

/* ---- stream callbacks -------------------------------------------------------------------------- */

static void c_on_response(ig_http_cstream_t *cs, const ig_http_response_t *resp)
{
    ig_grpc_call_t *call = cs->data;
    call->http_status = resp->status;
}

static void c_on_trailers(ig_http_cstream_t *cs, const ig_http_headers_t *trailers)
{
    status_from(cs->data, trailers);
}

static int c_on_msg(void *arg, ig_iov_t msg)
{
    ig_grpc_call_t *call = arg;
    if (call->have_status || call->canceled)
        return IG_ECANCELED;
    if (call->h->on_message != NULL)
        call->h->on_message(call, msg);
    return 0;
}

static void c_on_body(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    ig_grpc_call_t *call = cs->data;
    int rc = 0;

    if (call->body_end)
        return;
    if (call->http_status != 200) {
        /* Not a gRPC response: the body is no message stream. */
        if (!end)
            return;
    } else if (len != 0 && !call->have_status) {
        rc = ig_grpc_deframer_feed(&call->df, data, len, c_on_msg, call);
    }
    if (rc == 0 && end && call->http_status == 200 && !call->have_status)
        rc = ig_grpc_deframer_finish(&call->df);
    if (rc != 0 && rc != IG_ECANCELED) {
        set_status(call, ig_grpc_status_from_err(rc),
                   rc == IG_ETOOBIG ? IG_STRLIT("response message larger than the limit")
                                    : IG_STRLIT("bad response framing"));
    } else if (!end) {
        return;
    }
    call->body_end = 1;
    if (!call->have_status && !status_from(call, &cs->resp.headers)) {
        if (call->http_status != 200)
            set_status(call, ig_grpc_status_from_http(call->http_status),
                       ig_iov_cstr(ig_pool_printf(&call->pool, "HTTP status %d", call->http_status)));
        else
            set_status(call, IG_GRPC_INTERNAL, IG_STRLIT("response without grpc-status"));
    }
    /* The server is done; a request side still open is reset so the stream closes now. */
    if (!end || !call->sent_end)
        ig_http_cstream_cancel(cs);
}

static void c_on_writable(ig_http_cstream_t *cs)
{
    ig_grpc_call_t *call = cs->data;
    if (!call->have_status && !call->canceled && call->h->on_writable != NULL)
        call->h->on_writable(call);
}

static void c_on_close(ig_http_cstream_t *cs, int err)
{
    ig_grpc_call_t *call = cs->data;

    call->cs = NULL;
    call->cs_closed = 1;
    if (call->deadline_hit)
        set_status(call, IG_GRPC_DEADLINE_EXCEEDED, IG_STRLIT("deadline exceeded"));
    else if (call->canceled)
        set_status(call, IG_GRPC_CANCELLED, IG_STRLIT("call canceled"));
    else if (err == IG_ECANCELED)
        set_status(call, IG_GRPC_CANCELLED, IG_STRLIT("channel closed"));
    else if (err == IG_EPROTO)
        set_status(call, IG_GRPC_INTERNAL, IG_STRLIT("transport: protocol error"));
    else if (err != 0)
        set_status(call, IG_GRPC_UNAVAILABLE,
                   ig_iov_cstr(ig_pool_printf(&call->pool, "transport: %s", ig_strerror(err))));
    else
        set_status(call, IG_GRPC_INTERNAL, IG_STRLIT("stream ended without a status"));
    if (call->in_api == 0)
        report(call);
}

static const struct ig_http_cstream_handler call_handler = {
    .on_response = c_on_response,
    .on_body = c_on_body,
    .on_writable = c_on_writable,
    .on_close = c_on_close,
    .on_trailers = c_on_trailers,
};

static void deadline_fired(uv_timer_t *t)
{
    ig_grpc_call_t *call = t->data;
    if (call->cs == NULL || call->have_status)
        return;
    call->deadline_hit = 1;
    call->in_api++;
    ig_http_cstream_cancel(call->cs);
    api_leave(call);
}

/* ---- API --------------------------------------------------------------------------------------- */

#define CALL_HEADERS_MAX 6

ig_grpc_call_t *ig_grpc_call_start(ig_grpc_channel_t *ch, const char *path, const struct ig_grpc_call_opts *opts,
                                   const struct ig_grpc_call_handler *h, void *data)
{
    return call_start(ch, path, opts, h, data, 0);
}

static ig_grpc_call_t *call_start(ig_grpc_channel_t *ch, const char *path, const struct ig_grpc_call_opts *opts,
                                  const struct ig_grpc_call_handler *h, void *data, int probe)
{
    ig_grpc_call_t *call = ig_calloc(1, sizeof(*call));
    size_t nmeta = opts != NULL ? opts->nmetadata : 0;
    char timeout[IG_GRPC_TIMEOUT_MAX];

    call->ch = ch;
    call->h = h;
    call->data = data;
    ig_pool_init(&call->pool);
    ig_grpc_deframer_init(&call->df, ch->max_message);
    uv_timer_init(ch->loop, &call->timer);
    call->timer.data = call;
    ig_list_push_back(&ch->calls, &call->link);

    ig_http_header_t *hd = ig_pool_alloc(&call->pool, (CALL_HEADERS_MAX + nmeta) * sizeof(*hd));
    size_t n = 0;
    hd[n++] = (ig_http_header_t){IG_STRLIT("content-type"), IG_STRLIT("application/grpc")};
    hd[n++] = (ig_http_header_t){IG_STRLIT("te"), IG_STRLIT("trailers")};
    hd[n++] = (ig_http_header_t){IG_STRLIT("user-agent"), IG_STRLIT("grpc-c-infergate/1")};
    if (opts != NULL && opts->timeout_ms != 0) {
        size_t tl = ig_grpc_timeout_format(timeout, opts->timeout_ms * 1000000u);
        hd[n++] = (ig_http_header_t){IG_STRLIT("grpc-timeout"), ig_iov(timeout, tl)};
        uv_timer_start(&call->timer, deadline_fired, opts->timeout_ms, 0);
    }
    for (size_t i = 0; i < nmeta; i++)
        hd[n++] = opts->metadata[i];

    ig_http_request_t req = {0};
    req.method = IG_STRLIT("POST");
    req.path = ig_iov_cstr(path);
    req.authority = ig_iov_cstr(ch->authority);
    req.version = IG_HTTP_2;
    req.headers = (ig_http_headers_t){hd, n, n};
    req.content_length = -1;

    call->in_api++;
    if (ch->http == NULL) {
        set_status(call, IG_GRPC_UNAVAILABLE, IG_STRLIT("channel closed"));
    } else if (!probe && !ig_grpc_connsm_admit(&ch->sm)) {
        /* Fail fast: the caller's failure policy applies now, not after a dial that will fail. */
        ch->fail_fast++;
        uint64_t now = ig_time_ns();
        uint64_t in_ms = ch->sm.retry_at_ns > now ? (ch->sm.retry_at_ns - now) / 1000000u : 0;
        char *m = ch->sm.probing
                      ? ig_pool_printf(&call->pool, "channel in TRANSIENT_FAILURE: %s; reconnecting",
                                       why_failed(ch->last_err))
                      : ig_pool_printf(&call->pool, "channel in TRANSIENT_FAILURE: %s; next attempt in %llu ms",
                                       why_failed(ch->last_err), (unsigned long long)in_ms);
        set_status(call, IG_GRPC_UNAVAILABLE, ig_iov_cstr(m));
    } else {
        call->cs = ig_http_client_request(ch->http, &req, 0, &call_handler, call);
        /* The client may have failed the stream already (on_close ran inside the request). */
        if (call->cs_closed)
            call->cs = NULL;
    }
    api_leave(call);
    return call;
}

int ig_grpc_call_send(ig_grpc_call_t *call, const void *msg, size_t len, int end)
{
    uint8_t prefix[IG_GRPC_PREFIX_LEN];
    int rc;

    if (call->cs == NULL || call->have_status || call->canceled)
        return IG_ECLOSED;
    if (call->sent_end)
        return IG_EINVAL;
    if (len > UINT32_MAX)
        return IG_ETOOBIG;
    ig_grpc_prefix_write(prefix, (uint32_t)len);
    call->in_api++;
    rc = ig_http_cstream_write(call->cs, (const char *)prefix, sizeof(prefix), end && len == 0);
    if ((rc == 0 || rc == IG_EAGAIN) && len != 0 && call->cs != NULL)
        rc = ig_http_cstream_write(call->cs, msg, len, end);
    if ((rc == 0 || rc == IG_EAGAIN) && end)
        call->sent_end = 1;
    api_leave(call);
    return rc;
}

int ig_grpc_call_send_pb(ig_grpc_call_t *call, const ProtobufCMessage *m, int end)
{
    uint8_t stack[512];
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = len <= sizeof(stack) ? stack : ig_malloc(len);
    protobuf_c_message_pack(m, buf);
    int rc = ig_grpc_call_send(call, buf, len, end);
    if (buf != stack)
        ig_free(buf);
    return rc;
}

int ig_grpc_call_close_send(ig_grpc_call_t *call)
{
    if (call->cs == NULL || call->have_status || call->canceled)
        return IG_ECLOSED;
    if (call->sent_end)
        return IG_EINVAL;
    call->in_api++;
    int rc = ig_http_cstream_write(call->cs, NULL, 0, 1);
    if (rc == 0 || rc == IG_EAGAIN)
        call->sent_end = 1;
    api_leave(call);
    return rc == IG_EAGAIN ? 0 : rc;
}

void ig_grpc_call_cancel(ig_grpc_call_t *call)
{
    if (call->cs == NULL || call->canceled || call->reported)
        return;
    /*
     * Both sides have ended and the server's status is in: the stream is closing by itself, and a
     * RST_STREAM now would only count against the server's rapid-reset limits (Go, Node).
     */
    if (call->have_status && call->sent_end)
        return;
    call->canceled = 1;
    call->in_api++;
    ig_http_cstream_cancel(call->cs);
    api_leave(call);
}

void *ig_grpc_call_data(const ig_grpc_call_t *call)
{
    return call->data;
}
