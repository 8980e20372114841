/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scraper: polls GET /metrics on every endpoint of the datastore over a keep-alive HTTP/1.1
 * connection per endpoint (ig_http_client), at most one poll in flight per endpoint, and writes
 * each successful extraction into the endpoint's view with a fresh update time. A failed poll
 * (connect error, timeout, close mid-page, non-200, unparseable page, required metric missing)
 * keeps the previous metrics and update time, so the endpoint turns stale by itself once
 * --metrics-staleness-threshold passes; the failure is counted and logged once per stale spell.
 *
 * One repeating timer drives all endpoints: on each tick an endpoint whose next poll is due and
 * that has nothing in flight starts one, and a poll older than the timeout is cancelled. The page
 * buffer of an endpoint is kept between polls, so a steady scrape does not allocate.
 */
#include "epp_int.h"

#include <stdio.h>

struct ig_epp_scraper {
    uv_loop_t *loop;
    ig_epp_datastore_t *ds;
    struct ig_epp_scraper_config cfg;
    ig_epp_metrics_t *metrics;
    uv_timer_t tick;
    uint64_t period_ns; /* of the tick timer */
    ig_list_t scrapes;  /* struct ig_epp__scrape.link */
    struct ig_epp_extract ex;
};

enum cancel_reason {
    CANCEL_NONE = 0,
    CANCEL_TIMEOUT,
    CANCEL_TOOBIG,
    CANCEL_GONE, /* endpoint removed or scraper destroyed: not an outcome */
};

/* The cancel reason rides in |status| while a cancel is under way (statuses are >= 100). */
static void cancel_poll(struct ig_epp__scrape *st, enum cancel_reason why)
{
    if (st->cs == NULL)
        return;
    st->status = -(int)why;
    ig_http_cstream_cancel(st->cs); /* on_close runs before this returns */
}

static void record(struct ig_epp__scrape *st, enum ig_epp_scrape_err outcome, uint64_t now)
{
    struct ig_epp_scraper *sc = st->sc;
    struct ig_epp_endpoint *ep = st->ep;
    ep->scrapes++;
    if (sc->metrics != NULL)
        ig_epp_metrics_scrape_done(sc->metrics, outcome);
    if (outcome == IG_EPP_SCRAPE_OK) {
        ep->last_error = IG_EPP_SCRAPE_OK;
        st->stale_logged = 0;
        return;
    }
    ep->scrape_errors++;
    ep->last_error = outcome;
    ep->last_error_ns = now;
    if (!st->stale_logged && !ig_epp_endpoint_fresh(ep, now, sc->cfg.staleness_ns)) {
        /* Once per stale spell: an endpoint down for hours must not flood the log at 20 Hz. */
        st->stale_logged = 1;
        ig_log_warn("epp", "endpoint %s: metrics stale, last poll of http://%s%s failed: %s", ep->view.address.base,
                    ep->metrics_authority.base, sc->cfg.path, ig_epp_scrape_err_name(outcome));
    } else {
        ig_log_debug("epp", "endpoint %s: poll failed: %s", ep->view.address.base, ig_epp_scrape_err_name(outcome));
    }
}

static enum ig_epp_scrape_err extract(struct ig_epp__scrape *st, uint64_t now)
{
    struct ig_epp_scraper *sc = st->sc;
    struct ig_prom_error perr = {0};
    int rc = ig_epp_extract_page(st->ep->engine, ig_buf_data(&st->page), st->page.len, &sc->ex, &perr);
    if (rc == IG_ENOTFOUND)
        return IG_EPP_SCRAPE_MISSING;
    if (rc != 0) {
        ig_log_debug("epp", "endpoint %s: metrics page line %u col %u: %s", st->ep->view.address.base, perr.line,
                     perr.col, perr.msg != NULL ? perr.msg : ig_strerror(rc));
        return IG_EPP_SCRAPE_PARSE;
    }
    ig_epp_endpoint_set_metrics(st->ep, &sc->ex.m, now);
    return IG_EPP_SCRAPE_OK;
}

static void on_response(ig_http_cstream_t *cs, const ig_http_response_t *resp)
{
    struct ig_epp__scrape *st = cs->data;
    st->status = resp->status;
}

static void on_body(ig_http_cstream_t *cs, const char *data, size_t len, int end)
{
    (void)end;
    struct ig_epp__scrape *st = cs->data;
    if (st->status != 200 || len == 0)
        return;
    if (ig_buf_append(&st->page, data, len) != 0)
        cancel_poll(st, CANCEL_TOOBIG);
}

static void on_close(ig_http_cstream_t *cs, int err)
{
    struct ig_epp__scrape *st = cs->data;
    uint64_t now = ig_time_ns();
    int status = st->status;
    st->cs = NULL;
    st->in_flight = 0;
    enum ig_epp_scrape_err outcome;
    if (err == IG_ECANCELED && status == -CANCEL_GONE)
        return;
    if (err == IG_ECANCELED)
        outcome = status == -CANCEL_TOOBIG ? IG_EPP_SCRAPE_TOOBIG : IG_EPP_SCRAPE_TIMEOUT;
    else if (err == IG_ECONNECT)
        outcome = IG_EPP_SCRAPE_CONNECT;
    else if (err == IG_ETIMEDOUT)
        outcome = IG_EPP_SCRAPE_TIMEOUT;
    else if (err == IG_ETOOBIG)
        outcome = IG_EPP_SCRAPE_TOOBIG;
    else if (err != 0)
        outcome = IG_EPP_SCRAPE_CLOSED;
    else if (status != 200)
        outcome = IG_EPP_SCRAPE_STATUS;
    else
        outcome = extract(st, now);
    record(st, outcome, now);
}

static const struct ig_http_cstream_handler poll_handler = {
    .on_response = on_response,
    .on_body = on_body,
    .on_close = on_close,
};

static void client_open(struct ig_epp__scrape *st)
{
    struct ig_http_client_config cc;
    memset(&cc, 0, sizeof(cc));
    cc.addr = st->ep->metrics_addr;
    cc.version = IG_HTTP_11;
    cc.connect_timeout_ms = IG_MAX(st->sc->cfg.timeout_ns / 1000000u, 1u);
    cc.max_idle = 2; /* as the reference's MaxIdleConnsPerHost; one poll at a time needs one */
    cc.h1_limits = IG_H1_LIMITS_DEFAULT;
    st->client = ig_http_client_create(st->sc->loop, &cc);
    st->client_port = st->ep->metrics_port;
}

static struct ig_epp__scrape *scrape_new(struct ig_epp_scraper *sc, struct ig_epp_endpoint *ep)
{
    struct ig_epp__scrape *st = ig_calloc(1, sizeof(*st));
    st->sc = sc;
    st->ep = ep;
    ig_buf_init(&st->page, sc->cfg.max_page);
    client_open(st);
    ig_list_push_back(&sc->scrapes, &st->link);
    ep->_scrape = st;
    return st;
}

static void scrape_free(struct ig_epp__scrape *st)
{
    cancel_poll(st, CANCEL_GONE);
    ig_http_client_destroy(st->client);
    ig_list_remove(&st->link);
    ig_buf_dispose(&st->page);
    st->ep->_scrape = NULL;
    ig_free(st);
}

static void on_removed(struct ig_epp_endpoint *ep, void *arg)
{
    (void)arg;
    if (ep->_scrape != NULL)
        scrape_free(ep->_scrape);
}

static void poll_start(struct ig_epp__scrape *st, uint64_t now)
{
    struct ig_epp_scraper *sc = st->sc;
    if (st->client_port != st->ep->metrics_port) {
        /* The endpoint's metrics port changed (file reload): the pooled origin is another one. */
        ig_http_client_destroy(st->client);
        client_open(st);
    }
    ig_http_request_t req;
    memset(&req, 0, sizeof(req));
    req.method = IG_STRLIT("GET");
    req.scheme = IG_STRLIT("http");
    req.authority = st->ep->metrics_authority;
    req.path = ig_iov_cstr(sc->cfg.path);
    req.version = IG_HTTP_11;
    req.content_length = -1;
    st->in_flight = 1;
    st->status = 0;
    st->started_ns = now;
    st->next_ns = now + sc->cfg.interval_ns;
    ig_buf_reset(&st->page);
    ig_http_cstream_t *cs = ig_http_client_request(st->client, &req, 1, &poll_handler, st);
    if (st->in_flight)
        st->cs = cs; /* else it already ended inside the call and |cs| is gone */
}

static void on_tick(uv_timer_t *t)
{
    struct ig_epp_scraper *sc = t->data;
    uint64_t now = ig_time_ns();
    struct ig_epp_snapshot *snap = ig_epp_datastore_snapshot(sc->ds);
    for (size_t i = 0; i < snap->n; i++) {
        struct ig_epp_endpoint *ep = snap->v[i];
        struct ig_epp__scrape *st = ep->_scrape != NULL ? ep->_scrape : scrape_new(sc, ep);
        if (st->in_flight && now - st->started_ns >= sc->cfg.timeout_ns)
            cancel_poll(st, CANCEL_TIMEOUT);
        /* Half a tick of slack: a timer firing a hair early must not push the poll a whole tick. */
        if (!st->in_flight && now + sc->period_ns / 2 >= st->next_ns)
            poll_start(st, now);
    }
    ig_epp_snapshot_release(snap);
}

ig_epp_scraper_t *ig_epp_scraper_create(uv_loop_t *loop, ig_epp_datastore_t *ds,
                                        const struct ig_epp_scraper_config *cfg, ig_epp_metrics_t *metrics)
{
    struct ig_epp_scraper *sc = ig_calloc(1, sizeof(*sc));
    sc->loop = loop;
    sc->ds = ds;
    if (cfg != NULL)
        sc->cfg = *cfg;
    if (sc->cfg.interval_ns == 0)
        sc->cfg.interval_ns = 50 * 1000000ull;
    if (sc->cfg.timeout_ns == 0)
        sc->cfg.timeout_ns = 1000 * 1000000ull;
    if (sc->cfg.staleness_ns == 0)
        sc->cfg.staleness_ns = 2000 * 1000000ull;
    if (sc->cfg.path == NULL)
        sc->cfg.path = "/metrics";
    if (sc->cfg.max_page == 0)
        sc->cfg.max_page = 8u << 20;
    sc->metrics = metrics;
    ig_list_init(&sc->scrapes);
    uv_timer_init(loop, &sc->tick);
    sc->tick.data = sc;
    ig_epp_datastore_on_removed(ds, on_removed, sc);
    return sc;
}

void ig_epp_scraper_start(ig_epp_scraper_t *sc)
{
    /* Ticks fine enough for both the poll interval and the timeout check. */
    uint64_t period_ms = IG_MIN(sc->cfg.interval_ns, sc->cfg.timeout_ns / 4) / 1000000u;
    if (period_ms == 0)
        period_ms = 1;
    sc->period_ns = period_ms * 1000000u;
    uv_timer_start(&sc->tick, on_tick, 0, period_ms);
}

static void tick_closed(uv_handle_t *h)
{
    ig_free(h->data);
}

void ig_epp_scraper_destroy(ig_epp_scraper_t *sc)
{
    if (sc == NULL)
        return;
    ig_epp_datastore_off_removed(sc->ds, on_removed, sc);
    while (!ig_list_empty(&sc->scrapes))
        scrape_free(IG_CONTAINER_OF(sc->scrapes.next, struct ig_epp__scrape, link));
    uv_timer_stop(&sc->tick);
    uv_close((uv_handle_t *)&sc->tick, tick_closed);
}
