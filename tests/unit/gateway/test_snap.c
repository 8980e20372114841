/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of src/gateway/snap.c: global route numbering across binds and listeners, the
 * gateway-wide localRateLimit buckets (refusal, lazy refill, several buckets per route), and the
 * refcount that keeps a snapshot alive while a request holds it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "gateway_int.h"

static struct gw_snap *load(const char *text)
{
    struct ig_config *cfg = NULL;
    char err[1024];
    int rc = ig_config_load_string("t.yaml", text, strlen(text), &cfg, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, 0);
    struct gw_snap *s = gw_snap_create(cfg, 1, err, sizeof(err));
    assert_non_null(s);
    return s;
}

static void test_route_index(void **state)
{
    (void)state;
    struct gw_snap *s = load("binds:\n"
                             "- port: 8080\n"
                             "  listeners:\n"
                             "  - {name: a, hostname: a.example, routes: [{name: r0}, {name: r1}]}\n"
                             "  - {name: b, routes: [{name: r2}]}\n"
                             "- port: 8081\n"
                             "  listeners:\n"
                             "  - {routes: [{name: r3}, {name: r4}]}\n");
    assert_int_equal(s->n_routes, 5);
    assert_int_equal(s->n_listeners, 3);
    const struct ig_config *c = s->cfg;
    assert_int_equal(gw_snap_route_index(s, &c->binds[0].listeners[0].routes[1]), 1);
    assert_int_equal(gw_snap_route_index(s, &c->binds[0].listeners[1].routes[0]), 2);
    assert_int_equal(gw_snap_route_index(s, &c->binds[1].listeners[0].routes[1]), 4);
    assert_null(s->bind_tls[0]);
    gw_snap_unref(s);
}

static void test_rate_limit(void **state)
{
    (void)state;
    struct gw_snap *s = load("binds:\n"
                             "- port: 8080\n"
                             "  listeners:\n"
                             "  - routes:\n"
                             "    - name: free\n"
                             "    - name: limited\n"
                             "      policies:\n"
                             "        localRateLimit:\n"
                             "        - {maxTokens: 3, tokensPerFill: 1, fillInterval: 50ms}\n"
                             "        - {maxTokens: 10, tokensPerFill: 10, fillInterval: 1h}\n");
    const struct ig_cfg_route *free_r = &s->cfg->binds[0].listeners[0].routes[0];
    const struct ig_cfg_route *lim = &s->cfg->binds[0].listeners[0].routes[1];
    size_t fi = gw_snap_route_index(s, free_r), li = gw_snap_route_index(s, lim);
    for (int i = 0; i < 100; i++)
        assert_int_equal(gw_snap_rate_take(s, free_r, fi, 1), 1);
    assert_int_equal(gw_snap_rate_take(s, lim, li, 1), 1);
    assert_int_equal(gw_snap_rate_take(s, lim, li, 1), 1);
    assert_int_equal(gw_snap_rate_take(s, lim, li, 1), 1);
    assert_int_equal(gw_snap_rate_take(s, lim, li, 1), 0);
    /* one token back after a fill interval */
    struct timespec ts = {0, 60 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_int_equal(gw_snap_rate_take(s, lim, li, 1), 1);
    assert_int_equal(gw_snap_rate_take(s, lim, li, 1), 0);
    /* the second bucket (10 per hour) refuses once its 10 are spent, whatever the first holds */
    int allowed = 0;
    for (int i = 0; i < 40; i++) {
        nanosleep(&ts, NULL);
        allowed += gw_snap_rate_take(s, lim, li, 1);
    }
    /* 4 were charged above (refused requests charge no bucket): 6 remain in the hourly bucket */
    assert_int_equal(allowed, 6);
    gw_snap_unref(s);
}

static void test_refcount(void **state)
{
    (void)state;
    struct gw_snap *s = load("binds: [{port: 8080, listeners: [{routes: [{name: r}]}]}]\n");
    struct gw_snap *held = gw_snap_ref(s);
    gw_snap_unref(s);
    /* still usable through the other reference */
    assert_int_equal(held->cfg->binds[0].port, 8080);
    gw_snap_unref(held);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_index),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_refcount),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
