/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP client: one origin, a pool of connections and the streams that run on them. An
 * HTTP/1.1 request takes the most recently idled connection (LIFO keeps the warm ones warm and
 * lets the cold ones time out) or opens a new one at once; HTTP/2 streams share connections and
 * wait in a queue while the first one connects. Idle connections are closed after
 * idle_timeout_ms, and beyond max_idle the oldest go first.
 *
 * HTTP/1.1 idle connections are also kept on a list of their own, most recently idled first, so
 * that taking one, trimming the idle set and finding the oldest are O(1) however many connections
 * are busy. An engine may end idleness on its own (closing): such entries are dropped lazily.
 *
 * This file owns the memory of every ig_http_cstream_t: it allocates them, keeps a copy of the
 * request (for a stream that must wait or be retried), buffers body bytes written while a stream
 * waits, and frees them in ig_http__cstream_close once the engine ends them.
 */
#include "http_int.h"

#include <stdio.h>

/*
 * HTTP/1.1 requests on connections the origin has not answered yet. A connect completes in the
 * kernel before the origin accepts it, and an origin that accepts one connection per event-loop
 * turn (nginx without multi_accept) leaves a burst of hundreds of them in its accept queue for
 * seconds: a request written on one waits that long while other connections go idle. So the
 * client still opens a connection for each waiting request, but puts at most this many requests
 * on unanswered ones, the oldest first (the origin accepts in order); the rest wait for a
 * connection that is free, and each first answer lets the next unanswered connection take one.
 */
#define MAX_PROBE 4
/*
 * A probe unanswered for this long is taken to sit on a connection the origin will not accept
 * soon: one it never accepts, or one whose handshake's last ACK the origin dropped when its accept
 * queue overflowed, which the client sees as connected while the origin waits for SYN-ACK and
 * data retransmissions (1 s, then 3 s...). Its request, the oldest one waiting, then moves to the
 * first connection that is free (if it has no body and a safe method), and the probe connection
 * closes. A probe merely deep in a slow origin's accept queue takes a few hundred milliseconds
 * (one accept per origin event-loop turn); closing those would stop the pool from growing.
 */
#define PROBE_STALL_NS (1000u * 1000000u)

/* Body bytes a waiting stream may buffer: IG_EAGAIN above the first, IG_ETOOBIG above the second. */
#define WAIT_HIGH_WATER (256u << 10)
#define WAIT_MAX        (4u << 20)

struct cstream_impl {
    ig_http_cstream_t pub; /* first: engines and the application see only this */
    ig_http_request_t req; /* copy in pub.pool */
    int end;               /* no body at start */
    int retried;
    int starting; /* inside an engine's start(): defer the free */
    int closed;
    /* Body written while waiting for a connection. */
    ig_buf_t early;
    int early_end;
    int paused;
    int want_writable;
};

static struct cstream_impl *impl_of(ig_http_cstream_t *cs)
{
    return IG_CONTAINER_OF(cs, struct cstream_impl, pub);
}

/* The waiting queue, counted so that grow() does not walk it on every request. */
static void wait_push(ig_http_client_t *c, ig_http_cstream_t *cs, int front)
{
    if (front)
        ig_list_push_front(&c->waiting, &cs->_link);
    else
        ig_list_push_back(&c->waiting, &cs->_link);
    c->nwaiting++;
}

static void wait_remove(ig_http_cstream_t *cs)
{
    if (!ig_list_linked(&cs->_link))
        return;
    ig_list_remove(&cs->_link);
    cs->client->nwaiting--;
}

static void free_cstream(struct cstream_impl *ci)
{
    ig_buf_dispose(&ci->early);
    ig_pool_dispose(&ci->pub.pool);
    ig_free(ci);
}

void ig_http__cstream_close(ig_http_cstream_t *cs, int err)
{
    struct cstream_impl *ci = impl_of(cs);
    if (ci->closed)
        return;
    ci->closed = 1;
    wait_remove(cs);
    cs->_ops = NULL;
    cs->_conn = NULL;
    if (cs->handler != NULL && cs->handler->on_close != NULL)
        cs->handler->on_close(cs, err);
    if (!ci->starting)
        free_cstream(ci);
}

/* ---- streams waiting for a connection -------------------------------------------------------- */

static int wait_write(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    struct cstream_impl *ci = impl_of(cs);
    if (ci->end || ci->early_end)
        return IG_EINVAL;
    if (ig_buf_append(&ci->early, data, len) != 0)
        return IG_ETOOBIG;
    ci->early_end = end;
    if (!end && ci->early.len > WAIT_HIGH_WATER) {
        ci->want_writable = 1;
        return IG_EAGAIN;
    }
    return 0;
}

static void wait_read_pause(ig_http_cstream_t *cs, int paused)
{
    impl_of(cs)->paused = paused;
}

static void wait_cancel(ig_http_cstream_t *cs)
{
    ig_http__cstream_close(cs, IG_ECANCELED);
}

static const struct ig_http_cstream_ops wait_ops = {
    .write = wait_write,
    .read_pause = wait_read_pause,
    .cancel = wait_cancel,
};

/* ---- connections ----------------------------------------------------------------------------- */

static void placeholder_read(ig_sock_t *s, const char *data, size_t len)
{
    (void)s;
    (void)data;
    (void)len;
}

static void placeholder_close(ig_sock_t *s, int err)
{
    (void)s;
    (void)err;
}

/* Only until the engine installs its own, which it does before the loop runs again. */
static const struct ig_sock_ops placeholder_ops = {
    .on_read = placeholder_read,
    .on_close = placeholder_close,
};

static struct ig_http_cconn *open_conn(ig_http_client_t *c)
{
    struct ig_sock_config sc = {
        .ssl_ctx = c->config.ssl_ctx,
        .sni = c->config.sni,
        .connect_timeout_ms = c->config.connect_timeout_ms,
    };
    ig_sock_t *sock = ig_sock_connect(c->loop, (const struct sockaddr *)&c->config.addr, &sc, &placeholder_ops, NULL);
    struct ig_http_cconn *cc =
        c->config.version == IG_HTTP_2 ? ig_h2__client_conn_create(c, sock) : ig_h1__client_conn_create(c, sock);
    cc->client = c;
    cc->opened_ns = ig_time_ns();
    if (cc->sock == NULL)
        cc->sock = sock;
    if (!ig_list_linked(&cc->link)) {
        ig_list_push_back(&c->conns, &cc->link);
        c->nconns++;
    }
    return cc;
}

static void idle_del(ig_http_client_t *c, struct ig_http_cconn *cc)
{
    if (!ig_list_linked(&cc->idle_link))
        return;
    if (cc->parked) {
        cc->parked = 0;
        ig_list_remove(&cc->idle_link);
        return;
    }
    ig_list_remove(&cc->idle_link);
    c->nidle--;
}

static void idle_add(ig_http_client_t *c, struct ig_http_cconn *cc)
{
    idle_del(c, cc);
    ig_list_push_front(&c->idle, &cc->idle_link);
    c->nidle++;
}

/* The oldest HTTP/1.1 idle connection, dropping entries that stopped being idle. */
static struct ig_http_cconn *idle_oldest(ig_http_client_t *c)
{
    while (!ig_list_empty(&c->idle)) {
        struct ig_http_cconn *cc = IG_CONTAINER_OF(c->idle.prev, struct ig_http_cconn, idle_link);
        if (cc->idle_since_ns != 0)
            return cc;
        idle_del(c, cc);
    }
    return NULL;
}

/* Hands |cs| to |cc|, then replays what the application did while it waited. */
static void start_on(struct ig_http_cconn *cc, ig_http_cstream_t *cs)
{
    struct cstream_impl *ci = impl_of(cs);
    wait_remove(cs);
    ci->starting = 1;
    idle_del(cc->client, cc);
    cc->ops->start(cc, cs, &ci->req, ci->end);
    if (!ci->closed && (ci->early.len > 0 || ci->early_end)) {
        int rc = cs->_ops->write(cs, ig_buf_data(&ci->early), ci->early.len, ci->early_end);
        ig_buf_dispose(&ci->early);
        if (rc != IG_EAGAIN && ci->want_writable && !ci->closed) {
            ci->want_writable = 0;
            if (cs->handler->on_writable != NULL)
                cs->handler->on_writable(cs);
        }
    }
    if (!ci->closed && ci->paused)
        cs->_ops->read_pause(cs, 1);
    ci->starting = 0;
    if (ci->closed)
        free_cstream(ci);
}

static int has_connecting(ig_http_client_t *c)
{
    ig_list_t *p;
    ig_list_foreach(p, &c->conns)
    {
        if (!IG_CONTAINER_OF(p, struct ig_http_cconn, link)->connected)
            return 1;
    }
    return 0;
}

static void probe_end(ig_http_client_t *c, struct ig_http_cconn *cc)
{
    if (!cc->probing)
        return;
    cc->probing = 0;
    c->nprobe--;
    ig_list_remove(&cc->probe_link);
}

static void fresh_done(ig_http_client_t *c, struct ig_http_cconn *cc)
{
    probe_end(c, cc);
    if (!cc->fresh)
        return;
    cc->fresh = 0;
    c->nfresh--;
}

/* HTTP/1.1: opens a connection for each waiting request that no unanswered one covers yet. */
static void grow(ig_http_client_t *c)
{
    if (c->destroying)
        return;
    while (c->nfresh < c->nwaiting) {
        struct ig_http_cconn *cc = open_conn(c);
        cc->fresh = 1;
        c->nfresh++;
    }
}

static void arm_idle_timer(ig_http_client_t *c);

/* HTTP/1.1: the head of the queue goes to |cc|, a fresh connection. */
static void probe(ig_http_client_t *c, struct ig_http_cconn *cc)
{
    ig_http_cstream_t *cs = IG_CONTAINER_OF(c->waiting.next, ig_http_cstream_t, _link);
    cc->probing = 1;
    cc->probe_ns = ig_time_ns();
    c->nprobe++;
    ig_list_push_back(&c->probing, &cc->probe_link);
    start_on(cc, cs);
    if (cc->probing)
        arm_idle_timer(c); /* the probe's stall deadline may come before the armed one */
}

/*
 * HTTP/1.1: the request of the oldest probe unanswered for PROBE_STALL_NS moves to |cc|, a
 * connection that is free now. Returns 1 when |cc| took one. A stalled probe's request is older
 * than any in the queue (probes take the head), so it goes first.
 */
static int take_stalled_probe(ig_http_client_t *c, struct ig_http_cconn *cc, uint64_t now)
{
    ig_list_t *p, *tmp;
    ig_list_foreach_safe(p, tmp, &c->probing)
    {
        struct ig_http_cconn *pc = IG_CONTAINER_OF(p, struct ig_http_cconn, probe_link);
        if (now - pc->probe_ns < PROBE_STALL_NS)
            break; /* oldest first: the others are younger */
        if (pc->ops->reclaim == NULL)
            continue;
        ig_http_cstream_t *cs = pc->ops->reclaim(pc);
        if (cs == NULL)
            continue;
        /* The probe connection is closing: its slot goes to the next parked one at once. */
        fresh_done(c, pc);
        cs->reused = 1;
        start_on(cc, cs);
        return 1;
    }
    return 0;
}

/* HTTP/1.1: waiting requests go to parked fresh connections, oldest first, while slots are free. */
static void probe_parked(ig_http_client_t *c)
{
    while (!c->destroying && c->nprobe < MAX_PROBE && !ig_list_empty(&c->waiting) && !ig_list_empty(&c->parked)) {
        struct ig_http_cconn *cc = IG_CONTAINER_OF(c->parked.next, struct ig_http_cconn, idle_link);
        idle_del(c, cc);
        if (cc->ops->can_take(cc))
            probe(c, cc);
    }
}

void ig_http__client_conn_answered(ig_http_client_t *c, struct ig_http_cconn *cc)
{
    fresh_done(c, cc);
    probe_parked(c);
    grow(c);
}

/* Runs |cs| on a connection that can take it, a new one (HTTP/1.1), or queues it (HTTP/2). */
static void dispatch(ig_http_client_t *c, ig_http_cstream_t *cs, int fresh)
{
    ig_list_t *p;
    if (!fresh && c->config.version != IG_HTTP_2) {
        while (!ig_list_empty(&c->idle)) {
            struct ig_http_cconn *cc = IG_CONTAINER_OF(c->idle.next, struct ig_http_cconn, idle_link);
            idle_del(c, cc);
            if (cc->connected && cc->idle_since_ns != 0 && cc->ops->can_take(cc)) {
                cs->reused = 1;
                start_on(cc, cs);
                return;
            }
        }
    } else if (!fresh) {
        ig_list_foreach(p, &c->conns)
        {
            struct ig_http_cconn *cc = IG_CONTAINER_OF(p, struct ig_http_cconn, link);
            if (cc->connected && cc->ops->can_take(cc)) {
                cs->reused = 1;
                start_on(cc, cs);
                return;
            }
        }
    }
    if (c->config.version != IG_HTTP_2) {
        /* An HTTP/1.1 request that finds no idle connection waits in the queue rather than on a
         * connect of its own: whichever connection is ready first, a new one or one that just
         * went idle, serves the head of the queue, and a connect that stalls delays no request. */
        wait_push(c, cs, 0);
        probe_parked(c);
        grow(c);
        return;
    }
    wait_push(c, cs, 0);
    if (fresh || !has_connecting(c))
        open_conn(c);
}

static void on_idle_timer(uv_timer_t *t);

static void arm_idle_timer(ig_http_client_t *c)
{
    if (c->destroying)
        return;
    uint64_t oldest = 0;
    ig_list_t *p;
    if (c->config.version != IG_HTTP_2) {
        struct ig_http_cconn *cc = idle_oldest(c);
        oldest = cc != NULL ? cc->idle_since_ns : 0;
        if (!ig_list_empty(&c->parked)) {
            /* Parked connections idle too, oldest first. */
            cc = IG_CONTAINER_OF(c->parked.next, struct ig_http_cconn, idle_link);
            if (oldest == 0 || cc->idle_since_ns < oldest)
                oldest = cc->idle_since_ns;
        }
        /* The next probe stall deadline (expressed as an idle start for the sum below). Probes
         * already stalled wait for a connection to free: conn_ready hands them one. */
        uint64_t now = ig_time_ns();
        ig_list_foreach(p, &c->probing)
        {
            cc = IG_CONTAINER_OF(p, struct ig_http_cconn, probe_link);
            uint64_t at = cc->probe_ns + PROBE_STALL_NS;
            if (at <= now)
                continue;
            uint64_t idle_ns = c->config.idle_timeout_ms * 1000000u;
            uint64_t as_idle = at > idle_ns ? at - idle_ns : 1;
            if (oldest == 0 || as_idle < oldest)
                oldest = as_idle;
            break;
        }
    } else {
        ig_list_foreach(p, &c->conns)
        {
            struct ig_http_cconn *cc = IG_CONTAINER_OF(p, struct ig_http_cconn, link);
            if (cc->idle_since_ns != 0 && (oldest == 0 || cc->idle_since_ns < oldest))
                oldest = cc->idle_since_ns;
        }
    }
    if (oldest == 0) {
        uv_timer_stop(&c->idle_timer);
        return;
    }
    uint64_t deadline = oldest + c->config.idle_timeout_ms * 1000000u;
    uint64_t now = ig_time_ns();
    uint64_t ms = deadline > now ? (deadline - now + 999999u) / 1000000u : 0;
    uv_timer_start(&c->idle_timer, on_idle_timer, ms, 0);
}

/* Arms the idle timer for a connection that just went idle, unless it already fires before. */
static void idle_timer_update(ig_http_client_t *c)
{
    if (!uv_is_active((uv_handle_t *)&c->idle_timer) || uv_timer_get_due_in(&c->idle_timer) > c->config.idle_timeout_ms)
        arm_idle_timer(c);
}

static void on_idle_timer(uv_timer_t *t)
{
    ig_http_client_t *c = t->data;
    uint64_t now = ig_time_ns();
    uint64_t limit = c->config.idle_timeout_ms * 1000000u;
    ig_list_t *p, *tmp;
    if (c->config.version != IG_HTTP_2) {
        struct ig_http_cconn *cc;
        while ((cc = idle_oldest(c)) != NULL && now - cc->idle_since_ns >= limit) {
            idle_del(c, cc);
            cc->idle_since_ns = 0; /* closing: no longer offered, no longer counted */
            cc->ops->close(cc, 0);
        }
        while (!ig_list_empty(&c->parked)) {
            cc = IG_CONTAINER_OF(c->parked.next, struct ig_http_cconn, idle_link);
            if (now - cc->idle_since_ns < limit)
                break;
            idle_del(c, cc);
            cc->idle_since_ns = 0;
            cc->ops->close(cc, 0);
        }
        /* Stalled probes whose request an idle connection can serve now (most recently idled
         * first, as for a new request). */
        while (c->nprobe != 0 && !ig_list_empty(&c->idle)) {
            cc = IG_CONTAINER_OF(c->idle.next, struct ig_http_cconn, idle_link);
            if (!cc->connected || cc->idle_since_ns == 0 || !cc->ops->can_take(cc)) {
                idle_del(c, cc);
                continue;
            }
            if (!take_stalled_probe(c, cc, now))
                break;
        }
        arm_idle_timer(c);
        return;
    }
    ig_list_foreach_safe(p, tmp, &c->conns)
    {
        struct ig_http_cconn *cc = IG_CONTAINER_OF(p, struct ig_http_cconn, link);
        if (cc->idle_since_ns != 0 && now - cc->idle_since_ns >= limit) {
            cc->idle_since_ns = 0; /* closing: no longer offered, no longer counted */
            cc->ops->close(cc, 0);
        }
    }
    arm_idle_timer(c);
}

/* Beyond max_idle idle HTTP/1.1 connections, the ones idle the longest are closed. */
static void trim_idle(ig_http_client_t *c)
{
    /* Stale entries still count here: the trim closes a little early at worst. */
    while (c->nidle > c->config.max_idle) {
        struct ig_http_cconn *cc = IG_CONTAINER_OF(c->idle.prev, struct ig_http_cconn, idle_link);
        idle_del(c, cc);
        if (cc->idle_since_ns != 0) {
            cc->idle_since_ns = 0;
            cc->ops->close(cc, 0);
        }
    }
}

void ig_http__client_conn_ready(ig_http_client_t *c, struct ig_http_cconn *cc)
{
    if (c->destroying) {
        cc->ops->close(cc, IG_ECANCELED);
        return;
    }
    if (cc->fresh && c->config.version != IG_HTTP_2) {
        /* Connected, or its request ended unanswered: it takes one if a slot is free, else waits
         * for one among the parked, oldest first. */
        probe_end(c, cc);
        if (cc->idle_since_ns != 0 && ig_list_linked(&cc->link) && cc->ops->can_take(cc)) {
            if (!ig_list_empty(&c->waiting) && c->nprobe < MAX_PROBE && ig_list_empty(&c->parked)) {
                probe(c, cc);
            } else {
                idle_del(c, cc);
                ig_list_push_back(&c->parked, &cc->idle_link);
                cc->parked = 1;
                probe_parked(c);
                if (cc->parked)
                    idle_timer_update(c);
            }
        }
        return;
    }
    if (c->nprobe != 0 && c->config.version != IG_HTTP_2 && cc->ops->can_take(cc))
        (void)take_stalled_probe(c, cc, ig_time_ns());
    while (!ig_list_empty(&c->waiting) && cc->ops->can_take(cc)) {
        ig_http_cstream_t *cs = IG_CONTAINER_OF(c->waiting.next, ig_http_cstream_t, _link);
        cs->reused = cc->idle_since_ns != 0;
        start_on(cc, cs);
    }
    if (cc->idle_since_ns != 0 && ig_list_linked(&cc->link)) {
        /* Most recently idled first: the next request takes the warmest connection. */
        if (c->config.version != IG_HTTP_2) {
            idle_add(c, cc);
            trim_idle(c);
        } else {
            ig_list_remove(&cc->link);
            ig_list_push_front(&c->conns, &cc->link);
        }
    }
    /* An armed timer fires at the oldest deadline it knew, which a newly idle connection cannot
     * precede unless the timer waits for a probe stall deadline further away than the idle
     * timeout; the callback rescans and re-arms. */
    idle_timer_update(c);
}

static void idle_timer_closed(uv_handle_t *h)
{
    ig_http_client_t *c = h->data;
    if (c->nconns == 0) {
        ig_free((char *)c->config.sni);
        ig_free(c);
    } else {
        c->idle_timer.data = NULL; /* marks the timer closed for conn_gone */
    }
}

void ig_http__client_conn_connected(ig_http_client_t *c, struct ig_http_cconn *cc, int status)
{
    if (c->config.on_connect != NULL)
        c->config.on_connect(c->config.on_connect_arg, status, ig_time_ns() - cc->opened_ns);
}

void ig_http__client_conn_gone(ig_http_client_t *c, struct ig_http_cconn *cc)
{
    int was_connected = cc->connected;
    int gone_err = cc->connect_err;
    fresh_done(c, cc);
    idle_del(c, cc);
    if (ig_list_linked(&cc->link)) {
        ig_list_remove(&cc->link);
        c->nconns--;
    }
    ig_free(cc);
    if (c->destroying) {
        if (c->nconns == 0 && c->idle_timer.data == NULL) {
            ig_free((char *)c->config.sni);
            ig_free(c);
        }
        return;
    }
    if (ig_list_empty(&c->waiting))
        return;
    if (c->config.version != IG_HTTP_2) {
        /* One failed connect fails one waiting request, as when each waited on its own connect;
         * a connection that closes after serving leaves the queue to the others. */
        if (!was_connected)
            ig_http__cstream_close(IG_CONTAINER_OF(c->waiting.next, ig_http_cstream_t, _link),
                                   gone_err != 0 ? gone_err : IG_ECONNECT);
        probe_parked(c);
        grow(c);
        return;
    }
    if (!was_connected && !has_connecting(c)) {
        /* The origin is unreachable: fail the queue rather than reconnect in a loop. */
        while (!ig_list_empty(&c->waiting))
            ig_http__cstream_close(IG_CONTAINER_OF(c->waiting.next, ig_http_cstream_t, _link), IG_ECONNECT);
        return;
    }
    if (!has_connecting(c))
        open_conn(c);
}

void ig_http__client_retry(ig_http_client_t *c, ig_http_cstream_t *cs)
{
    struct cstream_impl *ci = impl_of(cs);
    if (ci->retried || c->destroying) {
        ig_http__cstream_close(cs, c->destroying ? IG_ECANCELED : IG_ECLOSED);
        return;
    }
    ci->retried = 1;
    cs->_ops = &wait_ops;
    cs->_conn = NULL;
    cs->reused = 0;
    if (c->config.version == IG_HTTP_2) {
        dispatch(c, cs, 1);
        return;
    }
    /* The replay is the oldest request: it goes first in the queue, for the next connection that
     * proves alive by finishing a response, or a new one (grow opens it). Idle connections are
     * passed over, as they may be as stale as the one that just failed. Bound to a connect of its
     * own, it would wait behind the origin's whole accept queue, or for the connect timeout when
     * the origin's queue overflows, while other connections free. */
    wait_push(c, cs, 1);
    probe_parked(c);
    grow(c);
}

/* ---- public API ------------------------------------------------------------------------------ */

ig_http_client_t *ig_http_client_create(uv_loop_t *loop, const struct ig_http_client_config *cfg)
{
    ig_http_client_t *c = ig_calloc(1, sizeof(*c));
    c->config = *cfg;
    struct ig_http_client_config *k = &c->config;
    struct ig_h1_limits def = IG_H1_LIMITS_DEFAULT;
    if (k->version == 0)
        k->version = IG_HTTP_11;
    if (k->connect_timeout_ms == 0)
        k->connect_timeout_ms = 10000;
    if (k->idle_timeout_ms == 0)
        k->idle_timeout_ms = 90000;
    if (k->max_idle == 0)
        k->max_idle = 64;
    if (k->h1_limits.max_request_line == 0)
        k->h1_limits.max_request_line = def.max_request_line;
    if (k->h1_limits.max_headers == 0)
        k->h1_limits.max_headers = def.max_headers;
    if (k->h1_limits.max_header_bytes == 0)
        k->h1_limits.max_header_bytes = def.max_header_bytes;
    k->sni = cfg->sni != NULL ? ig_strdup(cfg->sni) : NULL;
    c->loop = loop;
    ig_list_init(&c->conns);
    ig_list_init(&c->waiting);
    ig_list_init(&c->idle);
    ig_list_init(&c->parked);
    ig_list_init(&c->probing);
    uv_timer_init(loop, &c->idle_timer);
    c->idle_timer.data = c;
    return c;
}

void ig_http_client_destroy(ig_http_client_t *c)
{
    if (c->destroying)
        return;
    c->destroying = 1;
    while (!ig_list_empty(&c->waiting))
        ig_http__cstream_close(IG_CONTAINER_OF(c->waiting.next, ig_http_cstream_t, _link), IG_ECANCELED);
    ig_list_t *p, *tmp;
    ig_list_foreach_safe(p, tmp, &c->conns)
    {
        IG_CONTAINER_OF(p, struct ig_http_cconn, link)
            ->ops->close(IG_CONTAINER_OF(p, struct ig_http_cconn, link), IG_ECANCELED);
    }
    uv_timer_stop(&c->idle_timer);
    uv_close((uv_handle_t *)&c->idle_timer, idle_timer_closed);
}

static ig_iov_t dup_iov(ig_pool_t *pool, ig_iov_t v)
{
    return v.base != NULL ? ig_pool_dup(pool, v) : v;
}

ig_http_cstream_t *ig_http_client_request(ig_http_client_t *c, const ig_http_request_t *req, int end,
                                          const struct ig_http_cstream_handler *h, void *data)
{
    struct cstream_impl *ci = ig_calloc(1, sizeof(*ci));
    ig_http_cstream_t *cs = &ci->pub;
    ig_pool_init(&cs->pool);
    cs->handler = h;
    cs->data = data;
    cs->client = c;
    cs->_ops = &wait_ops;
    ig_buf_init(&ci->early, WAIT_MAX);
    ci->end = end;
    /* The request may wait or be retried, so it is copied once into the stream's arena. */
    ig_http_request_t *r = &ci->req;
    r->method = dup_iov(&cs->pool, req->method);
    r->scheme = dup_iov(&cs->pool, req->scheme);
    r->authority = dup_iov(&cs->pool, req->authority);
    r->path = dup_iov(&cs->pool, req->path);
    r->version = req->version;
    r->content_length = req->content_length;
    if (req->headers.len > 0) {
        r->headers.v = ig_pool_alloc(&cs->pool, req->headers.len * sizeof(ig_http_header_t));
        r->headers.len = r->headers.cap = req->headers.len;
        for (size_t i = 0; i < req->headers.len; i++) {
            r->headers.v[i].name = dup_iov(&cs->pool, req->headers.v[i].name);
            r->headers.v[i].value = dup_iov(&cs->pool, req->headers.v[i].value);
        }
    }
    dispatch(c, cs, 0);
    return cs;
}

int ig_http_cstream_write(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    if (cs->_ops == NULL)
        return IG_ECLOSED;
    return cs->_ops->write(cs, data, len, end);
}

void ig_http_cstream_read_pause(ig_http_cstream_t *cs, int paused)
{
    if (cs->_ops != NULL)
        cs->_ops->read_pause(cs, paused);
}

void ig_http_cstream_cancel(ig_http_cstream_t *cs)
{
    if (cs->_ops != NULL)
        cs->_ops->cancel(cs);
}
