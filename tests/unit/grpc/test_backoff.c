/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the channel's reconnect policy (src/grpc/backoff.c), with no sockets and no clock: the
 * backoff schedule (initial delay, growth by the multiplier, the cap, the jitter bounds, reset,
 * defaults and odd settings), and the connectivity state machine (IDLE -> READY, a failure into
 * TRANSIENT_FAILURE with calls refused, the retry counted from the start of the failed attempt,
 * sticky TRANSIENT_FAILURE while the retry runs, a late failure of an older attempt not
 * rescheduling, the probe's own answer, recovery resetting the backoff).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ig/grpc.h"

#define MS 1000000ull

/* ---- backoff schedule ------------------------------------------------------------------------ */

static void test_defaults(void **state)
{
    struct ig_grpc_backoff b;
    (void)state;
    ig_grpc_backoff_init(&b, NULL);
    assert_int_equal(b.cfg.initial_ms, IG_GRPC_BACKOFF_INITIAL_MS);
    assert_int_equal(b.cfg.max_ms, IG_GRPC_BACKOFF_MAX_MS);
    assert_true(b.cfg.multiplier == IG_GRPC_BACKOFF_MULTIPLIER);
    assert_true(b.cfg.jitter == IG_GRPC_BACKOFF_JITTER);
    /* rnd 0.5 is the midpoint: no jitter. 250, 400, 640, 1024, 1638.4, 2621.44, 4194.3, 5000, 5000 */
    static const uint64_t want[] = {250, 400, 640, 1024, 1638, 2621, 4194, 5000, 5000, 5000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_int_equal(ig_grpc_backoff_next(&b, 0.5), want[i]);
    ig_grpc_backoff_reset(&b);
    assert_int_equal(ig_grpc_backoff_next(&b, 0.5), 250);
}

/* gRPC's own constants reproduce its documented schedule: 1 s, 1.6 s, 2.56 s, ... capped at 120 s. */
static void test_grpc_constants(void **state)
{
    struct ig_grpc_backoff_config c = {.initial_ms = 1000, .max_ms = 120000, .multiplier = 1.6, .jitter = 0.2};
    struct ig_grpc_backoff b;
    (void)state;
    ig_grpc_backoff_init(&b, &c);
    assert_int_equal(ig_grpc_backoff_next(&b, 0.5), 1000);
    assert_int_equal(ig_grpc_backoff_next(&b, 0.5), 1600);
    assert_int_equal(ig_grpc_backoff_next(&b, 0.5), 2560);
    uint64_t last = 0;
    for (int i = 0; i < 20; i++)
        last = ig_grpc_backoff_next(&b, 0.5);
    assert_int_equal(last, 120000);
}

static void test_jitter_bounds(void **state)
{
    struct ig_grpc_backoff b;
    (void)state;
    ig_grpc_backoff_init(&b, NULL);
    /* The extremes of rnd are base * (1 -+ 0.2). */
    assert_int_equal(ig_grpc_backoff_next(&b, 0.0), 200);
    ig_grpc_backoff_reset(&b);
    assert_int_equal(ig_grpc_backoff_next(&b, 0.999999), 300);
    /* Over many draws every delay stays within the band of its base, and the cap holds with jitter. */
    ig_grpc_backoff_reset(&b);
    double base = 250;
    for (int i = 0; i < 40; i++) {
        double rnd = (double)((i * 37) % 100) / 100.0;
        uint64_t d = ig_grpc_backoff_next(&b, rnd);
        assert_true(d >= (uint64_t)(base * 0.8) && d <= (uint64_t)(base * 1.2) + 1);
        base = base * 1.6 < 5000 ? base * 1.6 : 5000;
    }
    assert_true(ig_grpc_backoff_next(&b, 0.999) <= 6000);
    /* Out-of-range and NaN draws are clamped, never a zero or huge delay. */
    ig_grpc_backoff_reset(&b);
    assert_int_equal(ig_grpc_backoff_next(&b, -3), 200);
    ig_grpc_backoff_reset(&b);
    assert_int_equal(ig_grpc_backoff_next(&b, 7), 300);
    ig_grpc_backoff_reset(&b);
    assert_int_equal(ig_grpc_backoff_next(&b, NAN), 200);
}

static void test_odd_settings(void **state)
{
    struct ig_grpc_backoff b;
    (void)state;
    /* No jitter, a multiplier below 1 (held at 1), a cap below the initial delay (raised to it). */
    struct ig_grpc_backoff_config c = {.initial_ms = 100, .max_ms = 50, .multiplier = 0.5, .jitter = -1};
    ig_grpc_backoff_init(&b, &c);
    assert_int_equal(b.cfg.max_ms, 100);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ig_grpc_backoff_next(&b, 0.0), 100);
    /* A jitter of 1 or more is held below 1, so a delay never reaches 0. */
    struct ig_grpc_backoff_config c2 = {.initial_ms = 10, .jitter = 5};
    ig_grpc_backoff_init(&b, &c2);
    assert_true(b.cfg.jitter < 1);
    assert_true(ig_grpc_backoff_next(&b, 0.0) >= 1);
    /* A 1 ms initial delay with full negative jitter still waits at least 1 ms. */
    struct ig_grpc_backoff_config c3 = {.initial_ms = 1, .jitter = 0.9};
    ig_grpc_backoff_init(&b, &c3);
    assert_int_equal(ig_grpc_backoff_next(&b, 0.0), 1);
}

/* ---- state machine --------------------------------------------------------------------------- */

static void test_sm_connects(void **state)
{
    struct ig_grpc_connsm sm;
    uint64_t delay = 12345;
    (void)state;
    ig_grpc_connsm_init(&sm, NULL);
    assert_int_equal(sm.state, IG_GRPC_CONN_IDLE);
    assert_true(ig_grpc_connsm_admit(&sm));
    assert_int_equal(ig_grpc_connsm_on_result(&sm, 0, 1000 * MS, 1001 * MS, 0.5, &delay), 0);
    assert_int_equal(delay, 12345); /* untouched: nothing to schedule */
    assert_int_equal(sm.state, IG_GRPC_CONN_READY);
    assert_true(ig_grpc_connsm_admit(&sm));
    assert_int_equal(sm.attempts, 1);
    assert_int_equal(sm.failures, 0);
    /* No retry timer in READY: a stray timer does nothing. */
    assert_int_equal(ig_grpc_connsm_on_retry(&sm), 0);
    assert_string_equal(ig_grpc_conn_state_name(sm.state), "READY");
    assert_string_equal(ig_grpc_conn_state_name(IG_GRPC_CONN_TRANSIENT_FAILURE), "TRANSIENT_FAILURE");
    assert_string_equal(ig_grpc_conn_state_name(99), "UNKNOWN");
}

/* A picker that stays down: one attempt per delay, growing, and calls refused all along. */
static void test_sm_outage(void **state)
{
    struct ig_grpc_connsm sm;
    uint64_t delay, now = 5000 * MS;
    (void)state;
    ig_grpc_connsm_init(&sm, NULL);
    assert_int_equal(ig_grpc_connsm_on_result(&sm, 0, now, now, 0.5, &delay), 0);
    /* The connection is lost; the next call's dial is refused at once. */
    now += 10000 * MS;
    assert_int_equal(ig_grpc_connsm_on_result(&sm, IG_ECONNECT, now, now, 0.5, &delay), 1);
    assert_int_equal(sm.state, IG_GRPC_CONN_TRANSIENT_FAILURE);
    assert_int_equal(delay, 250);
    assert_int_equal(sm.retry_at_ns, now + 250 * MS);
    assert_false(ig_grpc_connsm_admit(&sm));
    static const uint64_t want[] = {400, 640, 1024, 1638, 2621, 4194, 5000, 5000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        now += delay * MS;
        assert_int_equal(ig_grpc_connsm_on_retry(&sm), 1);
        assert_int_equal(sm.probing, 1);
        /* Sticky: still failing fast while the retry dials, and a second timer does not dial twice. */
        assert_false(ig_grpc_connsm_admit(&sm));
        assert_int_equal(ig_grpc_connsm_on_retry(&sm), 0);
        assert_int_equal(ig_grpc_connsm_on_result(&sm, IG_ECONNECT, now, now, 0.5, &delay), 1);
        assert_int_equal(delay, want[i]);
        assert_int_equal(sm.streak, i + 2);
        /* The probe call ends after its connection failed: already settled. */
        uint64_t d2 = 0;
        assert_int_equal(ig_grpc_connsm_on_probe_done(&sm, 0, now, now, 0.5, &d2), 0);
    }
    assert_int_equal(sm.failures, 9);
    assert_int_equal(sm.attempts, 10);
    /* The picker is back: the next retry connects, calls go out, the backoff starts over. */
    now += delay * MS;
    assert_int_equal(ig_grpc_connsm_on_retry(&sm), 1);
    assert_int_equal(ig_grpc_connsm_on_result(&sm, 0, now, now + MS, 0.5, &delay), 0);
    assert_int_equal(sm.state, IG_GRPC_CONN_READY);
    assert_int_equal(sm.streak, 0);
    assert_true(ig_grpc_connsm_admit(&sm));
    assert_int_equal(ig_grpc_connsm_on_result(&sm, IG_ETIMEDOUT, now, now, 0.5, &delay), 1);
    assert_int_equal(delay, 250);
}

/* The delay counts from the start of the failed attempt: a slow failure waits only the rest. */
static void test_sm_delay_from_start(void **state)
{
    struct ig_grpc_connsm sm;
    uint64_t delay;
    (void)state;
    ig_grpc_connsm_init(&sm, NULL);
    assert_int_equal(ig_grpc_connsm_on_result(&sm, IG_ETIMEDOUT, 1000 * MS, 1100 * MS, 0.5, &delay), 1);
    assert_int_equal(delay, 150);
    /* An attempt that took longer than the delay (a connect timeout) is retried at once. */
    assert_int_equal(ig_grpc_connsm_on_retry(&sm), 1);
    assert_int_equal(ig_grpc_connsm_on_result(&sm, IG_ETIMEDOUT, 2000 * MS, 7000 * MS, 0.5, &delay), 1);
    assert_int_equal(delay, 0);
    assert_int_equal(sm.retry_at_ns, 7000 * MS);
}

/* A failure that arrives while a retry is already scheduled (an older attempt) changes nothing. */
static void test_sm_late_failure(void **state)
{
    struct ig_grpc_connsm sm;
    uint64_t delay, d2 = 777;
    (void)state;
    ig_grpc_connsm_init(&sm, NULL);
    assert_int_equal(ig_grpc_connsm_on_result(&sm, IG_ECONNECT, 0, 0, 0.5, &delay), 1);
    uint64_t at = sm.retry_at_ns;
    assert_int_equal(ig_grpc_connsm_on_result(&sm, IG_ETLS, 0, 10 * MS, 0.5, &d2), 0);
    assert_int_equal(d2, 777);
    assert_int_equal(sm.retry_at_ns, at);
    assert_int_equal(sm.streak, 1);
    assert_int_equal(sm.failures, 2);
    /* But a late success recovers the channel at once. */
    assert_int_equal(ig_grpc_connsm_on_result(&sm, 0, 0, 20 * MS, 0.5, &d2), 0);
    assert_int_equal(sm.state, IG_GRPC_CONN_READY);
}

/* The probe reached a connection that was still up (no dial happened): its answer decides. */
static void test_sm_probe_answer(void **state)
{
    struct ig_grpc_connsm sm;
    uint64_t delay;
    (void)state;
    ig_grpc_connsm_init(&sm, NULL);
    assert_int_equal(ig_grpc_connsm_on_result(&sm, IG_ECONNECT, 0, 0, 0.5, &delay), 1);
    /* A probe result with no retry under way is ignored. */
    assert_int_equal(ig_grpc_connsm_on_probe_done(&sm, 1, 0, 0, 0.5, &delay), 0);
    assert_int_equal(sm.state, IG_GRPC_CONN_TRANSIENT_FAILURE);
    assert_int_equal(ig_grpc_connsm_on_retry(&sm), 1);
    /* Not answered: another failed attempt, the next delay scheduled from the probe's start. */
    assert_int_equal(ig_grpc_connsm_on_probe_done(&sm, 0, 300 * MS, 310 * MS, 0.5, &delay), 1);
    assert_int_equal(delay, 390);
    assert_int_equal(sm.streak, 2);
    assert_int_equal(ig_grpc_connsm_on_retry(&sm), 1);
    assert_int_equal(ig_grpc_connsm_on_probe_done(&sm, 1, 700 * MS, 701 * MS, 0.5, &delay), 0);
    assert_int_equal(sm.state, IG_GRPC_CONN_READY);
    assert_true(ig_grpc_connsm_admit(&sm));
    /* Probe answers are not connection attempts. */
    assert_int_equal(sm.attempts, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_grpc_constants),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_odd_settings),
        cmocka_unit_test(test_sm_connects),
        cmocka_unit_test(test_sm_outage),
        cmocka_unit_test(test_sm_delay_from_start),
        cmocka_unit_test(test_sm_late_failure),
        cmocka_unit_test(test_sm_probe_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
