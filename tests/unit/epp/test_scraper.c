/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scraper against real sockets on 127.0.0.1: small ig_http_servers on the test's own libuv
 * loop serve vLLM and SGLang pages, stall (no answer: the 1 s poll timeout must fire, and the
 * endpoint must turn stale afterwards), answer 500, or are raw listeners that close every
 * connection at once. Checks keep-alive reuse, at most one poll in flight per endpoint, the
 * engine label, endpoint removal with a poll in flight, and the EPP's pool gauges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <unistd.h>

#include "epp_int.h"

static uv_loop_t loop;

enum mode {
    M_SERVE = 0,
    M_STALL,
    M_500,
    M_CLOSE, /* raw: accept and close */
};

struct msrv {
    ig_http_server_t srv;
    ig_listener_t *l;
    char addr[64];
    enum mode mode;
    const char *page;
    int accepted, requests, inflight, max_inflight;
    ig_http_stream_t *stalled[8];
    int n_stalled;
};

static void stream_closed(ig_http_stream_t *s, int err)
{
    (void)err;
    struct msrv *m = s->server->data;
    m->inflight--;
    for (int i = 0; i < m->n_stalled; i++) {
        if (m->stalled[i] == s) {
            m->stalled[i] = m->stalled[--m->n_stalled];
            break;
        }
    }
}

static const struct ig_http_stream_handler counting = {.on_close = stream_closed};

static void on_request(ig_http_stream_t *s)
{
    struct msrv *m = s->server->data;
    m->requests++;
    m->inflight++;
    if (m->inflight > m->max_inflight)
        m->max_inflight = m->inflight;
    s->handler = &counting;
    assert_true(ig_iov_eq(s->req.path, IG_STRLIT("/metrics")));
    if (m->mode == M_STALL) {
        assert_true(m->n_stalled < 8);
        m->stalled[m->n_stalled++] = s;
        return;
    }
    if (m->mode == M_500) {
        ig_http_stream_send(s, 500, "text/plain", "no", 2);
        return;
    }
    ig_http_stream_send(s, 200, IG_PROM_CONTENT_TYPE, m->page, strlen(m->page));
}

static void on_accept(ig_listener_t *l, int fd, void *arg)
{
    (void)l;
    struct msrv *m = arg;
    m->accepted++;
    if (m->mode == M_CLOSE) {
        close(fd);
        return;
    }
    ig_http_server_accept(&m->srv, &loop, fd);
}

static void msrv_start(struct msrv *m, enum mode mode, const char *page)
{
    memset(m, 0, sizeof(*m));
    ig_http_server_init(&m->srv, NULL);
    m->srv.on_request = on_request;
    m->srv.data = m;
    m->mode = mode;
    m->page = page;
    struct sockaddr_storage sa;
    assert_int_equal(ig_addr_parse("127.0.0.1:0", &sa), 0);
    assert_int_equal(ig_listener_open(&loop, (struct sockaddr *)&sa, on_accept, m, &m->l), 0);
    assert_int_equal(ig_listener_addr(m->l, &sa), 0);
    ig_addr_format((struct sockaddr *)&sa, m->addr, sizeof(m->addr));
}

/* Resets the stalled streams; they leave m->stalled when their close arrives (from the loop). */
static void reset_stalled(struct msrv *m)
{
    ig_http_stream_t *v[8];
    int n = m->n_stalled;
    memcpy(v, m->stalled, sizeof(v));
    for (int i = 0; i < n; i++)
        ig_http_stream_reset(v[i]);
}

static void msrv_stop(struct msrv *m)
{
    reset_stalled(m);
    ig_listener_close(m->l);
}

/* ---- loop helpers ------------------------------------------------------------------------------ */

typedef int (*pred_fn)(void *arg);
struct waiter {
    pred_fn pred;
    void *arg;
    uint64_t deadline;
    int met;
};

static void check_pred(uv_timer_t *t)
{
    struct waiter *w = t->data;
    if (w->pred(w->arg)) {
        w->met = 1;
        uv_stop(&loop);
    } else if (ig_time_ns() >= w->deadline) {
        uv_stop(&loop);
    }
}

/* Runs the loop until |pred| holds or |ms| pass; returns whether it held. */
static int run_until(pred_fn pred, void *arg, uint64_t ms)
{
    struct waiter w = {pred, arg, ig_time_ns() + ms * 1000000u, 0};
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &w;
    uv_timer_start(&t, check_pred, 2, 2);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return w.met;
}

static int never(void *arg)
{
    (void)arg;
    return 0;
}

static void drain_loop(void)
{
    for (int i = 0; i < 200 && uv_run(&loop, UV_RUN_NOWAIT) != 0; i++)
        usleep(1000);
}

static int setup(void **state)
{
    (void)state;
    ig_log_set_level(IG_LOG_ERROR);
    return uv_loop_init(&loop);
}

static int teardown(void **state)
{
    (void)state;
    drain_loop();
    return uv_loop_close(&loop);
}

static const char vllm_page[] = "# HELP vllm:num_requests_running Number of requests currently running.\n"
                                "# TYPE vllm:num_requests_running gauge\n"
                                "vllm:num_requests_running{model_name=\"m\"} 2\n"
                                "# TYPE vllm:num_requests_waiting gauge\n"
                                "vllm:num_requests_waiting{model_name=\"m\"} 5\n"
                                "# TYPE vllm:kv_cache_usage_perc gauge\n"
                                "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.25\n"
                                "# TYPE vllm:lora_requests_info gauge\n"
                                "vllm:lora_requests_info{max_lora=\"4\",running_lora_adapters=\"a, b\","
                                "waiting_lora_adapters=\"\"} 1.7e9\n";

static const char sglang_page[] = "# TYPE sglang:num_queue_reqs gauge\n"
                                  "sglang:num_queue_reqs{model_name=\"m\"} 7\n"
                                  "# TYPE sglang:num_running_reqs gauge\n"
                                  "sglang:num_running_reqs{model_name=\"m\"} 1\n"
                                  "# TYPE sglang:token_usage gauge\n"
                                  "sglang:token_usage{model_name=\"m\"} 0.5\n";

static void set_endpoints(ig_epp_datastore_t *ds, struct ig_epp_endpoint_decl *d, size_t n)
{
    char err[256];
    assert_int_equal(ig_epp_datastore_set(ds, d, n, err, sizeof(err)), 0);
}

struct scrapes_arg {
    ig_epp_datastore_t *ds;
    const char *addr;
    uint64_t n;
};

static int scraped_n(void *arg)
{
    struct scrapes_arg *a = arg;
    struct ig_epp_endpoint *ep = ig_epp_datastore_find(a->ds, ig_iov_cstr(a->addr));
    return ep != NULL && ep->scrapes >= a->n;
}

/* ---- tests ------------------------------------------------------------------------------------- */

static void test_scrape_keepalive_and_engines(void **state)
{
    (void)state;
    struct msrv v, s;
    msrv_start(&v, M_SERVE, vllm_page);
    msrv_start(&s, M_SERVE, sglang_page);
    ig_epp_datastore_t *ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);
    ig_metrics_t *reg = ig_metrics_create();
    ig_epp_metrics_t *em = ig_epp_metrics_create(reg, ds, "pool-a", 2000 * 1000000ull);
    struct ig_sched_kv sg = {IG_STRLIT(IG_EPP_ENGINE_LABEL), IG_STRLIT("sglang")};
    struct ig_epp_endpoint_decl d[2] = {
        {.address = ig_iov_cstr(v.addr)},
        {.address = ig_iov_cstr(s.addr), .labels = &sg, .n_labels = 1},
    };
    set_endpoints(ds, d, 2);
    struct ig_epp_scraper_config cfg = {.interval_ns = 10 * 1000000ull};
    ig_epp_scraper_t *sc = ig_epp_scraper_create(&loop, ds, &cfg, em);
    ig_epp_scraper_start(sc);

    struct scrapes_arg a = {ds, v.addr, 10};
    assert_true(run_until(scraped_n, &a, 3000));
    struct scrapes_arg b = {ds, s.addr, 10};
    assert_true(run_until(scraped_n, &b, 3000));

    struct ig_epp_endpoint *ev = ig_epp_datastore_find(ds, ig_iov_cstr(v.addr));
    struct ig_epp_endpoint *es = ig_epp_datastore_find(ds, ig_iov_cstr(s.addr));
    /* Rate: one poll per 10 ms interval, never more (half a second: at most 50 + 2). */
    uint64_t n0 = ev->scrapes;
    (void)run_until(never, NULL, 500);
    uint64_t polls = ev->scrapes - n0;
    if (polls > 52 || polls < 20)
        fail_msg("%llu polls in 500 ms at a 10 ms interval", (unsigned long long)polls);
    assert_int_equal(ev->scrape_errors, 0);
    assert_int_equal(es->scrape_errors, 0);
    assert_int_equal(ev->view.metrics.waiting_queue_size, 5);
    assert_int_equal(ev->view.metrics.running_requests_size, 2);
    assert_true(ev->view.metrics.kv_cache_usage_percent == 0.25);
    assert_int_equal(ev->view.metrics.max_active_models, 4);
    assert_int_equal(ev->view.metrics.n_active_models, 2);
    assert_true(ig_iov_eq(ev->view.metrics.active_models[1], IG_STRLIT("b")));
    assert_int_equal(es->engine, IG_EPP_ENGINE_SGLANG);
    assert_int_equal(es->view.metrics.waiting_queue_size, 7);
    assert_true(es->view.metrics.kv_cache_usage_percent == 0.5);
    assert_true(ig_epp_endpoint_fresh(ev, ig_time_ns(), 2000 * 1000000ull));
    /* Keep-alive: ten polls or more on one connection each; never two polls at once. */
    assert_int_equal(v.accepted, 1);
    assert_int_equal(s.accepted, 1);
    assert_int_equal(v.max_inflight, 1);
    assert_true(v.requests >= 10);

    ig_buf_t out;
    ig_buf_init(&out, 1 << 20);
    assert_int_equal(ig_metrics_write(reg, &out), 0);
    assert_int_equal(ig_buf_append(&out, "", 1), 0);
    const char *page = ig_buf_data(&out);
    assert_non_null(strstr(page, "inference_pool_ready_pods{name=\"pool-a\"} 2\n"));
    assert_non_null(strstr(page, "inference_pool_average_queue_size{name=\"pool-a\"} 6\n"));
    assert_non_null(strstr(page, "inference_pool_average_kv_cache_utilization{name=\"pool-a\"} 0.375\n"));
    char line[160];
    snprintf(line, sizeof(line), "inference_pool_per_pod_queue_size{model_server_pod=\"%s\",name=\"pool-a\"} 7\n",
             s.addr);
    assert_non_null(strstr(page, line));
    assert_non_null(strstr(page, "# HELP inference_pool_per_pod_queue_size [ALPHA] The total number"));
    assert_non_null(strstr(page, "infergate_epp_scrape_errors_total{reason=\"timeout\"} 0\n"));
    ig_buf_dispose(&out);

    ig_epp_scraper_destroy(sc);
    msrv_stop(&v);
    msrv_stop(&s);
    drain_loop();
    ig_epp_datastore_destroy(ds);
    ig_metrics_destroy(reg);
    ig_epp_metrics_destroy(em);
}

static int has_error(void *arg)
{
    struct ig_epp_endpoint *ep = arg;
    return ep->last_error != IG_EPP_SCRAPE_OK;
}

struct stale_arg {
    struct ig_epp_endpoint *ep;
    uint64_t threshold;
};

static int is_stale(void *arg)
{
    struct stale_arg *a = arg;
    return !ig_epp_endpoint_fresh(a->ep, ig_time_ns(), a->threshold);
}

static void test_stall_times_out_then_stale(void **state)
{
    (void)state;
    struct msrv m;
    msrv_start(&m, M_SERVE, vllm_page);
    ig_epp_datastore_t *ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);
    struct ig_epp_endpoint_decl d = {.address = ig_iov_cstr(m.addr)};
    set_endpoints(ds, &d, 1);
    const uint64_t stale = 1500 * 1000000ull;
    struct ig_epp_scraper_config cfg = {.interval_ns = 20 * 1000000ull, .staleness_ns = stale};
    ig_epp_scraper_t *sc = ig_epp_scraper_create(&loop, ds, &cfg, NULL); /* default 1 s timeout */
    ig_epp_scraper_start(sc);
    struct ig_epp_endpoint *ep = ig_epp_datastore_find(ds, d.address);
    struct scrapes_arg a = {ds, m.addr, 2};
    assert_true(run_until(scraped_n, &a, 3000));
    assert_true(ig_epp_endpoint_fresh(ep, ig_time_ns(), stale));

    m.mode = M_STALL;
    uint64_t last_ok = ep->view.metrics.update_time_ns;
    uint64_t t0 = ig_time_ns();
    assert_true(run_until(has_error, ep, 3000));
    uint64_t took = ig_time_ns() - t0;
    assert_int_equal(ep->last_error, IG_EPP_SCRAPE_TIMEOUT);
    assert_true(took >= 900 * 1000000ull);
    assert_true(took < 1600 * 1000000ull);
    /* One stalled poll, not one per interval. */
    assert_int_equal(m.max_inflight, 1);
    /* The failed poll kept the old metrics and update time; staleness follows from it. */
    assert_int_equal(ep->view.metrics.update_time_ns, last_ok);
    assert_int_equal(ep->view.metrics.waiting_queue_size, 5);
    struct stale_arg sa = {ep, stale};
    assert_true(run_until(is_stale, &sa, 2000));
    assert_true(ig_time_ns() - last_ok >= stale);

    /* Recovery: the server answers again and the endpoint is fresh at the next poll. */
    m.mode = M_SERVE;
    reset_stalled(&m);
    uint64_t n = ep->scrapes;
    struct scrapes_arg b = {ds, m.addr, n + 3};
    assert_true(run_until(scraped_n, &b, 3000));
    assert_true(ig_epp_endpoint_fresh(ep, ig_time_ns(), stale));

    ig_epp_scraper_destroy(sc);
    msrv_stop(&m);
    drain_loop();
    ig_epp_datastore_destroy(ds);
}

static void test_close_refused_status(void **state)
{
    (void)state;
    struct msrv c, e, gone;
    msrv_start(&c, M_CLOSE, NULL);
    msrv_start(&e, M_500, NULL);
    msrv_start(&gone, M_SERVE, vllm_page);
    char refused[64];
    memcpy(refused, gone.addr, sizeof(refused));
    msrv_stop(&gone); /* its port now refuses connections */
    drain_loop();

    ig_epp_datastore_t *ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);
    ig_metrics_t *reg = ig_metrics_create();
    ig_epp_metrics_t *em = ig_epp_metrics_create(reg, ds, "p", 2000 * 1000000ull);
    struct ig_epp_endpoint_decl d[3] = {
        {.address = ig_iov_cstr(c.addr)},
        {.address = ig_iov_cstr(e.addr)},
        {.address = ig_iov_cstr(refused)},
    };
    set_endpoints(ds, d, 3);
    struct ig_epp_scraper_config cfg = {.interval_ns = 20 * 1000000ull};
    ig_epp_scraper_t *sc = ig_epp_scraper_create(&loop, ds, &cfg, em);
    ig_epp_scraper_start(sc);
    struct scrapes_arg a = {ds, c.addr, 3}, b = {ds, e.addr, 3}, r = {ds, refused, 3};
    assert_true(run_until(scraped_n, &a, 3000));
    assert_true(run_until(scraped_n, &b, 3000));
    assert_true(run_until(scraped_n, &r, 3000));
    struct ig_epp_endpoint *ec = ig_epp_datastore_find(ds, d[0].address);
    struct ig_epp_endpoint *ee = ig_epp_datastore_find(ds, d[1].address);
    struct ig_epp_endpoint *er = ig_epp_datastore_find(ds, d[2].address);
    assert_int_equal(ec->last_error, IG_EPP_SCRAPE_CLOSED);
    assert_int_equal(ee->last_error, IG_EPP_SCRAPE_STATUS);
    assert_int_equal(er->last_error, IG_EPP_SCRAPE_CONNECT);
    assert_int_equal(ec->scrape_errors, ec->scrapes);
    assert_int_equal(ec->view.metrics.update_time_ns, 0);
    assert_true(c.accepted >= 3);

    ig_buf_t out;
    ig_buf_init(&out, 1 << 20);
    assert_int_equal(ig_metrics_write(reg, &out), 0);
    assert_int_equal(ig_buf_append(&out, "", 1), 0);
    assert_non_null(strstr(ig_buf_data(&out), "inference_pool_ready_pods{name=\"p\"} 0\n"));
    assert_null(strstr(ig_buf_data(&out), "inference_pool_average_queue_size"));
    assert_null(strstr(ig_buf_data(&out), "infergate_epp_scrape_errors_total{reason=\"status\"} 0\n"));
    ig_buf_dispose(&out);

    ig_epp_scraper_destroy(sc);
    msrv_stop(&c);
    msrv_stop(&e);
    drain_loop();
    ig_epp_datastore_destroy(ds);
    ig_metrics_destroy(reg);
    ig_epp_metrics_destroy(em);
}

struct inflight_arg {
    struct msrv *m;
};

static int server_has_request(void *arg)
{
    return ((struct msrv *)arg)->inflight > 0;
}

static int server_idle(void *arg)
{
    return ((struct msrv *)arg)->inflight == 0;
}

/* An endpoint removed while its poll is in flight: the poll is cancelled, nothing is recorded. */
static void test_remove_in_flight(void **state)
{
    (void)state;
    struct msrv m, k;
    msrv_start(&m, M_STALL, NULL);
    msrv_start(&k, M_SERVE, vllm_page);
    ig_epp_datastore_t *ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);
    struct ig_epp_endpoint_decl d[2] = {{.address = ig_iov_cstr(m.addr)}, {.address = ig_iov_cstr(k.addr)}};
    set_endpoints(ds, d, 2);
    ig_epp_scraper_t *sc = ig_epp_scraper_create(&loop, ds, NULL, NULL);
    ig_epp_scraper_start(sc);
    assert_true(run_until(server_has_request, &m, 2000));
    struct ig_epp_snapshot *held = ig_epp_datastore_snapshot(ds);
    struct ig_epp_endpoint *gone = ig_epp_datastore_find(ds, d[0].address);
    set_endpoints(ds, &d[1], 1);
    /* Still readable through the held snapshot; its poll state is gone and the server sees the close. */
    assert_true(gone->_removed);
    assert_null(gone->_scrape);
    assert_int_equal(gone->scrapes, 0);
    assert_true(run_until(server_idle, &m, 2000));
    ig_epp_snapshot_release(held);
    struct scrapes_arg a = {ds, k.addr, 3};
    assert_true(run_until(scraped_n, &a, 3000));
    assert_int_equal(m.requests, 1);

    ig_epp_scraper_destroy(sc);
    msrv_stop(&m);
    msrv_stop(&k);
    (void)run_until(never, NULL, 20);
    drain_loop();
    ig_epp_datastore_destroy(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scrape_keepalive_and_engines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stall_times_out_then_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_refused_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_in_flight, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
