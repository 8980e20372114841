/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The datastore: membership by address (kept endpoints keep object, id, metrics and in-flight
 * counters), snapshots that stay valid across changes, id reuse only after the last reference,
 * removal listeners, engine labels, all-or-nothing validation, LoRA list copies and staleness.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>

#include "epp_int.h"

static int removed_count;
static char removed_last[64];

static void on_removed(struct ig_epp_endpoint *ep, void *arg)
{
    (void)arg;
    removed_count++;
    snprintf(removed_last, sizeof(removed_last), "%s", ep->view.address.base);
}

static void set(ig_epp_datastore_t *ds, struct ig_epp_endpoint_decl *d, size_t n)
{
    char err[256];
    int rc = ig_epp_datastore_set(ds, d, n, err, sizeof(err));
    if (rc != 0)
        fail_msg("set: %s", err);
}

static void test_membership_and_snapshots(void **state)
{
    (void)state;
    removed_count = 0;
    ig_epp_datastore_t *ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);
    ig_epp_datastore_on_removed(ds, on_removed, NULL);
    struct ig_epp_snapshot *s0 = ig_epp_datastore_snapshot(ds);
    assert_int_equal(s0->n, 0);

    struct ig_epp_endpoint_decl d[3] = {
        {.address = IG_STRLIT("10.0.0.1:8000")},
        {.address = IG_STRLIT("10.0.0.2:8000"), .metrics_port = 9100},
        {.address = IG_STRLIT("[::1]:8001")},
    };
    set(ds, d, 3);
    struct ig_epp_snapshot *s1 = ig_epp_datastore_snapshot(ds);
    assert_int_equal(s1->n, 3);
    assert_true(s1->generation > s0->generation);
    /* Snapshots are shared until the membership changes. */
    struct ig_epp_snapshot *s1b = ig_epp_datastore_snapshot(ds);
    assert_ptr_equal(s1, s1b);
    ig_epp_snapshot_release(s1b);

    struct ig_epp_endpoint *a = s1->v[0], *b = s1->v[1], *c = s1->v[2];
    assert_ptr_equal(s1->eps[1], &b->view);
    assert_string_equal(a->view.ip.base, "10.0.0.1");
    assert_string_equal(c->view.ip.base, "::1");
    assert_string_equal(b->metrics_authority.base, "10.0.0.2:9100");
    assert_string_equal(c->metrics_authority.base, "[::1]:8001");
    assert_int_equal(ntohs(((struct sockaddr_in *)&b->metrics_addr)->sin_port), 9100);
    assert_int_equal(ntohs(((struct sockaddr_in *)&b->addr)->sin_port), 8000);
    assert_int_not_equal(a->view.id, b->view.id);
    assert_int_not_equal(b->view.id, c->view.id);
    a->view.inflight_requests = 7;
    uint32_t id_a = a->view.id, id_b = b->view.id;

    /* Drop b, keep a and c (reordered), add d. */
    struct ig_epp_endpoint_decl d2[3] = {
        {.address = IG_STRLIT("[::1]:8001")},
        {.address = IG_STRLIT("10.0.0.1:8000")},
        {.address = IG_STRLIT("10.0.0.4:8000")},
    };
    set(ds, d2, 3);
    assert_int_equal(removed_count, 1);
    assert_string_equal(removed_last, "10.0.0.2:8000");
    struct ig_epp_snapshot *s2 = ig_epp_datastore_snapshot(ds);
    assert_int_equal(s2->n, 3);
    assert_ptr_equal(s2->v[1], a);
    assert_ptr_equal(s2->v[0], c);
    assert_int_equal(a->view.inflight_requests, 7);
    assert_int_equal(a->view.id, id_a);
    /* b is gone from the datastore but alive in s1, so its id is not reused yet. */
    assert_true(b->_removed);
    assert_string_equal(b->view.address.base, "10.0.0.2:8000");
    assert_int_not_equal(s2->v[2]->view.id, id_b);
    assert_null(ig_epp_datastore_find(ds, IG_STRLIT("10.0.0.2:8000")));
    assert_ptr_equal(ig_epp_datastore_find(ds, IG_STRLIT("10.0.0.4:8000")), s2->v[2]);
    ig_epp_snapshot_release(s1);
    ig_epp_snapshot_release(s0);

    /* Now b's id is free and the next new endpoint takes it. */
    struct ig_epp_endpoint_decl d3[4] = {d2[0], d2[1], d2[2], {.address = IG_STRLIT("10.0.0.5:8000")}};
    set(ds, d3, 4);
    assert_int_equal(ig_epp_datastore_find(ds, IG_STRLIT("10.0.0.5:8000"))->view.id, id_b);
    assert_int_equal(ig_epp_datastore_count(ds), 4);

    /* Destroying the datastore while a snapshot is held: the snapshot stays readable. */
    removed_count = 0;
    ig_epp_datastore_destroy(ds);
    assert_int_equal(removed_count, 4);
    assert_string_equal(s2->v[2]->view.address.base, "10.0.0.4:8000");
    ig_epp_snapshot_release(s2);
}

static void test_validation_is_atomic(void **state)
{
    (void)state;
    ig_epp_datastore_t *ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);
    char err[256];
    struct ig_epp_endpoint_decl ok = {.address = IG_STRLIT("127.0.0.1:1")};
    set(ds, &ok, 1);
    static const char *const bad[] = {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "host:80", "::1:80",
                                      "[::1]80",   ":80",         "1.2.3.4:8x",      ""};
    for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++) {
        struct ig_epp_endpoint_decl d[2] = {{.address = IG_STRLIT("10.1.1.1:80")}, {.address = ig_iov_cstr(bad[i])}};
        assert_int_equal(ig_epp_datastore_set(ds, d, 2, err, sizeof(err)), IG_EINVAL);
        assert_non_null(strstr(err, "numeric ip:port"));
    }
    struct ig_epp_endpoint_decl dup[2] = {{.address = IG_STRLIT("10.1.1.1:80")}, {.address = IG_STRLIT("10.1.1.1:80")}};
    assert_int_equal(ig_epp_datastore_set(ds, dup, 2, err, sizeof(err)), IG_EINVAL);
    assert_non_null(strstr(err, "twice"));
    /* Nothing changed. */
    assert_int_equal(ig_epp_datastore_count(ds), 1);
    assert_non_null(ig_epp_datastore_find(ds, ok.address));
    ig_epp_datastore_destroy(ds);
}

static void test_labels_and_engine(void **state)
{
    (void)state;
    ig_epp_datastore_t *ds = ig_epp_datastore_create(IG_EPP_ENGINE_SGLANG);
    struct ig_sched_kv l1[2] = {{IG_STRLIT("app"), IG_STRLIT("x")},
                                {IG_STRLIT(IG_EPP_ENGINE_LABEL), IG_STRLIT("trtllm-serve")}};
    struct ig_sched_kv l2[1] = {{IG_STRLIT(IG_EPP_ENGINE_LABEL), IG_STRLIT("no-such-engine")}};
    struct ig_epp_endpoint_decl d[3] = {
        {.address = IG_STRLIT("10.0.0.1:8000"), .labels = l1, .n_labels = 2},
        {.address = IG_STRLIT("10.0.0.2:8000"), .labels = l2, .n_labels = 1},
        {.address = IG_STRLIT("10.0.0.3:8000")},
    };
    set(ds, d, 3);
    struct ig_epp_endpoint *a = ig_epp_datastore_find(ds, d[0].address);
    assert_int_equal(a->engine, IG_EPP_ENGINE_TRTLLM_SERVE);
    assert_true(ig_iov_eq(ig_sched_endpoint_label(&a->view, "app"), IG_STRLIT("x")));
    assert_int_equal(ig_epp_datastore_find(ds, d[1].address)->engine, IG_EPP_ENGINE_SGLANG);
    assert_int_equal(ig_epp_datastore_find(ds, d[2].address)->engine, IG_EPP_ENGINE_SGLANG);
    /* Relabel in place: same object, new engine, new metrics port. */
    struct ig_sched_kv l3[1] = {{IG_STRLIT(IG_EPP_ENGINE_LABEL), IG_STRLIT("vllm")}};
    struct ig_epp_endpoint_decl d2 = {
        .address = IG_STRLIT("10.0.0.1:8000"), .labels = l3, .n_labels = 1, .metrics_port = 9000};
    set(ds, &d2, 1);
    assert_ptr_equal(ig_epp_datastore_find(ds, d2.address), a);
    assert_int_equal(a->engine, IG_EPP_ENGINE_VLLM);
    assert_int_equal(a->view.n_labels, 1);
    assert_null(ig_sched_endpoint_label(&a->view, "app").base);
    assert_string_equal(a->metrics_authority.base, "10.0.0.1:9000");
    ig_epp_datastore_destroy(ds);
}

static void test_metrics_and_staleness(void **state)
{
    (void)state;
    ig_epp_datastore_t *ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);
    struct ig_epp_endpoint_decl d = {.address = IG_STRLIT("10.0.0.1:8000")};
    set(ds, &d, 1);
    struct ig_epp_endpoint *ep = ig_epp_datastore_find(ds, d.address);
    const uint64_t ms = 1000000u, thr = 2000 * ms;
    assert_false(ig_epp_endpoint_fresh(ep, 5000 * ms, thr)); /* never scraped */

    char names[] = "lora-a,lora-b";
    ig_iov_t active[2] = {ig_iov(names, 6), ig_iov(names + 7, 6)};
    struct ig_sched_metrics m = {.waiting_queue_size = 3,
                                 .kv_cache_usage_percent = 0.5,
                                 .active_models = active,
                                 .n_active_models = 2,
                                 .max_active_models = 4};
    ig_epp_endpoint_set_metrics(ep, &m, 10000 * ms);
    memset(names, 'X', sizeof(names) - 1); /* the endpoint kept copies */
    assert_true(ig_iov_eq(ep->view.metrics.active_models[1], IG_STRLIT("lora-b")));
    assert_int_equal(ep->view.metrics.update_time_ns, 10000 * ms);
    assert_true(ig_epp_endpoint_fresh(ep, 10000 * ms, thr));
    assert_true(ig_epp_endpoint_fresh(ep, 11999 * ms, thr));
    assert_false(ig_epp_endpoint_fresh(ep, 12000 * ms, thr));
    assert_false(ig_epp_endpoint_fresh(ep, 9000 * ms, thr)); /* a clock before the update is not trusted */

    /* Many updates alternate two arenas: memory stays bounded and lists stay right. */
    for (int i = 0; i < 1000; i++) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "adapter-%d", i);
        ig_iov_t one = ig_iov(buf, (size_t)n);
        struct ig_sched_metrics mi = {.active_models = &one, .n_active_models = 1};
        ig_epp_endpoint_set_metrics(ep, &mi, (uint64_t)(20000 + i) * ms);
        assert_true(ig_iov_eq(ep->view.metrics.active_models[0], one));
    }
    assert_true(ig_pool_bytes(&ep->_mpool[0]) < 8192 && ig_pool_bytes(&ep->_mpool[1]) < 8192);
    ig_epp_datastore_destroy(ds);
}

static void test_static_list(void **state)
{
    (void)state;
    struct ig_epp_endpoint_list l;
    char err[256];
    ig_epp_endpoint_list_init(&l);
    assert_int_equal(ig_epp_endpoints_parse("127.0.0.1:8000, 127.0.0.1:8001,[::1]:9", &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 3);
    assert_true(ig_iov_eq(l.v[1].address, IG_STRLIT("127.0.0.1:8001")));
    assert_true(ig_iov_eq(l.v[2].address, IG_STRLIT("[::1]:9")));
    ig_epp_endpoint_list_dispose(&l);

    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"", "at least one"},
        {"127.0.0.1:8000,", "empty item"},
        {"127.0.0.1:8000,,127.0.0.1:8001", "empty item"},
        {"localhost:8000", "numeric ip:port"},
        {"127.0.0.1:8000,127.0.0.1:8000", "twice"},
    };
    for (size_t i = 0; i < IG_ARRAY_LEN(bad); i++) {
        ig_epp_endpoint_list_init(&l);
        assert_int_equal(ig_epp_endpoints_parse(bad[i].in, &l, err, sizeof(err)), IG_EINVAL);
        if (strstr(err, bad[i].msg) == NULL)
            fail_msg("\"%s\": got \"%s\"", bad[i].in, err);
        ig_epp_endpoint_list_dispose(&l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_membership_and_snapshots),
        cmocka_unit_test(test_validation_is_atomic),
        cmocka_unit_test(test_labels_and_engine),
        cmocka_unit_test(test_metrics_and_staleness),
        cmocka_unit_test(test_static_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
