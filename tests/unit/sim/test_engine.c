/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the simulator's engine (engine.c), driven by a fake clock through the
 * step / finish_step loop: token counting, continuous batching limits and FIFO order, the
 * latency model, prefix caching and its LRU eviction, KV-cache admission and decode stalls, LoRA
 * slots, cancellation and an all-zero latency configuration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim_int.h"

#define MAX_REQS 16

struct rec {
    struct ig_sim_req r;
    int id;
    uint32_t ntok;
    int done;
    char text[2048];
};

static int first_order[MAX_REQS];
static int nfirst;

static void on_token(struct ig_sim_req *r, uint32_t index, int last)
{
    struct rec *x = r->data;
    assert_int_equal(index, x->ntok); /* tokens arrive in order, no gaps */
    assert_false(x->done);
    x->ntok++;
    if (index == 0 && nfirst < MAX_REQS)
        first_order[nfirst++] = x->id;
    if (last) {
        assert_int_equal(x->ntok, r->max_tokens);
        x->done = 1;
    }
}

static struct ig_sim_config base_cfg(void)
{
    struct ig_sim_config c;
    ig_sim_config_defaults(&c);
    c.model = "m";
    return c;
}

/* A prompt of |len| bytes whose content depends on |seed| (distinct seeds never share a block). */
static void prep(struct rec *x, int id, size_t len, char seed, uint32_t max_tokens, int lora)
{
    memset(x, 0, sizeof(*x));
    assert_true(len <= sizeof(x->text));
    for (size_t i = 0; i < len; i++)
        x->text[i] = (char)(seed + (char)(i % 7));
    x->id = id;
    x->r.prompt = x->text;
    x->r.prompt_len = len;
    x->r.max_tokens = max_tokens;
    x->r.lora = lora;
    x->r.on_token = on_token;
    x->r.data = x;
}

/* One step on the fake clock: returns its duration, or UINT64_MAX when idle. */
static uint64_t tick(struct ig_sim_engine *e, uint64_t *now)
{
    uint64_t d = ig_sim_engine_step(e, *now);
    if (d == UINT64_MAX)
        return d;
    *now += d;
    ig_sim_engine_finish_step(e, *now);
    return d;
}

static unsigned run_idle(struct ig_sim_engine *e, uint64_t *now)
{
    unsigned steps = 0;
    while (tick(e, now) != UINT64_MAX) {
        steps++;
        assert_true(steps < 100000);
    }
    return steps;
}

static int setup(void **state)
{
    (void)state;
    nfirst = 0;
    return 0;
}

static void test_token_counting(void **state)
{
    (void)state;
    assert_int_equal(ig_sim_tokens(0), 0);
    assert_int_equal(ig_sim_tokens(1), 1);
    assert_int_equal(ig_sim_tokens(4), 1);
    assert_int_equal(ig_sim_tokens(5), 2);
    assert_int_equal(ig_sim_tokens(400), 100);

    struct ig_sim_config c = base_cfg();
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec a, b;
    prep(&a, 0, 10, 'a', 3, -1);
    prep(&b, 1, 401, 'b', 5, -1);
    assert_int_equal(ig_sim_engine_submit(e, &a.r, 0), 0);
    assert_int_equal(ig_sim_engine_submit(e, &b.r, 0), 0);
    assert_int_equal(a.r.prompt_tokens, 3);
    assert_int_equal(b.r.prompt_tokens, 101);
    uint64_t now = 0;
    run_idle(e, &now);
    assert_true(a.done && b.done);
    assert_int_equal(a.r.generated, 3);
    assert_int_equal(b.r.generated, 5);
    struct ig_sim_stats st;
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.prompt_tokens_total, 104);
    assert_int_equal(st.generation_tokens_total, 8);
    assert_int_equal(st.requests_finished, 2);
    assert_int_equal(st.running, 0);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(st.blocks_used, 0);
    ig_sim_engine_destroy(e);
}

static void test_batching_limit(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.max_num_seqs = 2;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec x[5];
    for (int i = 0; i < 5; i++) {
        prep(&x[i], i, 100, (char)('a' + i), 3, -1);
        assert_int_equal(ig_sim_engine_submit(e, &x[i].r, 0), 0);
    }
    struct ig_sim_stats st;
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.running, 0);
    assert_int_equal(st.waiting, 5);
    uint64_t now = 0;
    assert_int_not_equal(ig_sim_engine_step(e, now), UINT64_MAX);
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.running, 2);
    assert_int_equal(st.waiting, 3);
    ig_sim_engine_finish_step(e, now + 1);
    now++;
    /* Never more than two at once, all the way through. */
    while (tick(e, &now) != UINT64_MAX) {
        ig_sim_engine_stats(e, &st);
        assert_true(st.running <= 2);
    }
    for (int i = 0; i < 5; i++)
        assert_true(x[i].done);
    ig_sim_engine_destroy(e);
}

static void test_fifo_and_ttft(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.max_num_seqs = 1;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec x[5];
    for (int i = 0; i < 5; i++) {
        prep(&x[i], i, 64, (char)('a' + i), 4, -1);
        assert_int_equal(ig_sim_engine_submit(e, &x[i].r, 0), 0);
    }
    uint64_t now = 0;
    run_idle(e, &now);
    assert_int_equal(nfirst, 5);
    for (int i = 0; i < 5; i++)
        assert_int_equal(first_order[i], i);
    for (int i = 1; i < 5; i++) {
        uint64_t prev = x[i - 1].r.first_token_us - x[i - 1].r.arrival_us;
        uint64_t cur = x[i].r.first_token_us - x[i].r.arrival_us;
        assert_true(cur > prev);
        assert_true(x[i].r.first_token_us > x[i - 1].r.finish_us);
    }
    /* The first one's TTFT is exactly one prefill step: overhead + 16 tokens + decode of 1. */
    assert_int_equal(x[0].r.first_token_us, 2000 + 20 * 16 + 10000 + 100);
    ig_sim_engine_destroy(e);
}

static void test_itl_grows_with_batch(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec x[4];
    uint64_t now = 0;

    prep(&x[0], 0, 40, 'a', 3, -1);
    ig_sim_engine_submit(e, &x[0].r, now);
    tick(e, &now);                  /* prefill + first token */
    uint64_t alone = tick(e, &now); /* a pure decode step of one sequence */
    run_idle(e, &now);

    for (int i = 0; i < 4; i++) {
        prep(&x[i], i, 40, (char)('k' + i), 3, -1);
        ig_sim_engine_submit(e, &x[i].r, now);
    }
    tick(e, &now);
    uint64_t t0 = x[0].r.first_token_us;
    uint64_t four = tick(e, &now);
    assert_int_equal(alone, 10000 + 100);
    assert_int_equal(four, 10000 + 4 * 100);
    assert_true(four > alone);
    assert_int_equal(now - t0, four); /* the inter-token gap is the step */
    run_idle(e, &now);
    ig_sim_engine_destroy(e);
}

static void test_prefix_cache_hit(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec a, b;
    uint64_t now = 0;
    /* 1000 bytes = 250 tokens = 15 full blocks of 16 + 10 tokens. */
    prep(&a, 0, 1000, 'p', 2, -1);
    ig_sim_engine_submit(e, &a.r, now);
    uint64_t cold = tick(e, &now);
    run_idle(e, &now);
    assert_int_equal(a.r.cached_tokens, 0);

    prep(&b, 1, 1000, 'p', 2, -1);
    ig_sim_engine_submit(e, &b.r, now);
    uint64_t warm = tick(e, &now);
    run_idle(e, &now);
    assert_int_equal(b.r.cached_tokens, 240);
    assert_int_equal(cold - warm, 240 * 20);

    struct ig_sim_stats st;
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.prefix_queries_tokens, 500);
    assert_int_equal(st.prefix_hits_tokens, 240);
    assert_int_equal(st.blocks_used, 0);
    assert_int_equal(st.blocks_cached, 15);
    ig_sim_engine_destroy(e);
}

static void test_prefix_cache_disabled(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.enable_prefix_caching = 0;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec a, b;
    uint64_t now = 0;
    prep(&a, 0, 1000, 'p', 2, -1);
    ig_sim_engine_submit(e, &a.r, now);
    run_idle(e, &now);
    prep(&b, 1, 1000, 'p', 2, -1);
    ig_sim_engine_submit(e, &b.r, now);
    run_idle(e, &now);
    assert_int_equal(b.r.cached_tokens, 0);
    struct ig_sim_stats st;
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.prefix_hits_tokens, 0);
    assert_int_equal(st.blocks_cached, 0);
    ig_sim_engine_destroy(e);
}

static void test_lora_no_sharing(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.lora_names[0] = "l0";
    c.lora_names[1] = "l1";
    c.num_loras = 2;
    c.max_loras = 2;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec x[4];
    uint64_t now = 0;
    int loras[4] = {0, 1, -1, 0};
    uint32_t expect[4] = {0, 0, 0, 144}; /* 150 tokens: 9 full blocks */
    for (int i = 0; i < 4; i++) {
        prep(&x[i], i, 600, 's', 1, loras[i]);
        ig_sim_engine_submit(e, &x[i].r, now);
        run_idle(e, &now);
        assert_true(x[i].done);
        assert_int_equal(x[i].r.cached_tokens, expect[i]);
    }
    ig_sim_engine_destroy(e);
}

static void test_lru_eviction(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.block_size = 4;
    c.kv_cache_blocks = 8;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec a, b, a2, cc, a3, b2;
    uint64_t now = 0;
    /* 48 bytes = 12 tokens = 3 full blocks; with the first output each request holds 4 blocks. */
    prep(&a, 0, 48, 'A', 1, -1);
    ig_sim_engine_submit(e, &a.r, now);
    run_idle(e, &now);
    prep(&b, 1, 48, 'K', 1, -1);
    ig_sim_engine_submit(e, &b.r, now);
    run_idle(e, &now);
    prep(&a2, 2, 48, 'A', 1, -1); /* touches A: B's prefix is now the oldest */
    ig_sim_engine_submit(e, &a2.r, now);
    run_idle(e, &now);
    assert_int_equal(a2.r.cached_tokens, 12);
    struct ig_sim_stats st;
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.blocks_cached, 6);

    prep(&cc, 3, 48, 'U', 1, -1); /* needs 4: two blank, two evicted */
    ig_sim_engine_submit(e, &cc.r, now);
    run_idle(e, &now);
    assert_int_equal(cc.r.cached_tokens, 0);

    prep(&a3, 4, 48, 'A', 1, -1);
    ig_sim_engine_submit(e, &a3.r, now);
    run_idle(e, &now);
    assert_int_equal(a3.r.cached_tokens, 12); /* the recently used prefix survived */

    prep(&b2, 5, 48, 'K', 1, -1);
    ig_sim_engine_submit(e, &b2.r, now);
    run_idle(e, &now);
    /* The oldest prefix was evicted, tail blocks first: only its head block is left. */
    assert_int_equal(b2.r.cached_tokens, 4);
    ig_sim_engine_destroy(e);
}

static void test_submit_invalid(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.block_size = 4;
    c.kv_cache_blocks = 4;
    c.max_model_len = 100;
    c.lora_names[0] = "l0";
    c.num_loras = 1;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec x;
    prep(&x, 0, 64, 'a', 1, -1); /* 16 tokens + 1 > 16 token slots */
    assert_int_equal(ig_sim_engine_submit(e, &x.r, 0), IG_EINVAL);
    prep(&x, 0, 60, 'a', 1, -1); /* 15 + 1 fits exactly */
    assert_int_equal(ig_sim_engine_submit(e, &x.r, 0), 0);
    ig_sim_engine_cancel(e, &x.r);
    prep(&x, 0, 4, 'a', 0, -1);
    assert_int_equal(ig_sim_engine_submit(e, &x.r, 0), IG_EINVAL);
    prep(&x, 0, 4, 'a', 1, 1);
    assert_int_equal(ig_sim_engine_submit(e, &x.r, 0), IG_EINVAL);
    c.kv_cache_blocks = 1000;
    struct ig_sim_engine *e2 = ig_sim_engine_create(&c);
    prep(&x, 0, 40, 'a', 91, -1); /* 10 + 91 > max_model_len 100 */
    assert_int_equal(ig_sim_engine_submit(e2, &x.r, 0), IG_EINVAL);
    prep(&x, 0, 40, 'a', 90, -1);
    assert_int_equal(ig_sim_engine_submit(e2, &x.r, 0), 0);
    struct ig_sim_stats st;
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.waiting, 0);
    ig_sim_engine_destroy(e);
    ig_sim_engine_destroy(e2); /* releases the request still queued */

    c.block_size = 0;
    assert_null(ig_sim_engine_create(&c));
}

static void test_wait_for_blocks(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.block_size = 4;
    c.kv_cache_blocks = 8;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec a, b;
    uint64_t now = 0;
    prep(&a, 0, 96, 'a', 4, -1); /* 24 tokens: 7 blocks at admission */
    prep(&b, 1, 96, 'q', 4, -1);
    ig_sim_engine_submit(e, &a.r, now);
    ig_sim_engine_submit(e, &b.r, now);
    tick(e, &now);
    struct ig_sim_stats st;
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.running, 1);
    assert_int_equal(st.waiting, 1);
    assert_int_equal(st.blocks_used, 7);
    assert_int_equal(b.ntok, 0);
    run_idle(e, &now);
    assert_true(a.done && b.done);
    assert_true(b.r.first_token_us > a.r.finish_us);
    ig_sim_engine_destroy(e);
}

static void test_admission_counts_reused_blocks(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.block_size = 4;
    c.kv_cache_blocks = 8;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec a, x, a2;
    uint64_t now = 0;
    prep(&a, 0, 48, 'A', 1, -1); /* leaves 3 cached blocks */
    ig_sim_engine_submit(e, &a.r, now);
    run_idle(e, &now);
    prep(&x, 1, 48, 'X', 4, -1); /* holds 4 blocks for 4 steps: 1 blank + 3 cached left */
    ig_sim_engine_submit(e, &x.r, now);
    tick(e, &now);
    /* Reuses the 3 cached blocks and needs 2 more: the cached ones it reuses are not free for it. */
    prep(&a2, 2, 64, 'A', 1, -1);
    ig_sim_engine_submit(e, &a2.r, now);
    tick(e, &now);
    struct ig_sim_stats st;
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.waiting, 1);
    assert_int_equal(st.blocks_used, 4);
    assert_int_equal(st.blocks_cached, 3);
    run_idle(e, &now);
    assert_true(a2.done);
    assert_int_equal(a2.r.cached_tokens, 12);
    ig_sim_engine_destroy(e);
}

static void test_decode_stall_and_preempt(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.block_size = 4;
    c.kv_cache_blocks = 5;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec a, b;
    uint64_t now = 0;
    /* 3 prompt tokens, 8 outputs: each needs 3 blocks at its end, 5 exist. */
    prep(&a, 0, 12, 'a', 8, -1);
    prep(&b, 1, 12, 'q', 8, -1);
    ig_sim_engine_submit(e, &a.r, now);
    ig_sim_engine_submit(e, &b.r, now);
    struct ig_sim_stats st;
    int stalled = 0;
    while (tick(e, &now) != UINT64_MAX) {
        ig_sim_engine_stats(e, &st);
        assert_true(st.blocks_used <= 5);
        if (st.running == 2 && a.ntok != b.ntok)
            stalled = 1; /* one got a block this step, the other did not */
    }
    assert_true(a.done && b.done);
    assert_true(stalled);
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.generation_tokens_total, 16);
    assert_int_equal(st.blocks_used, 0);

    /* Deadlock: both need a third block at the same time with none left -> the newer one waits. */
    c.kv_cache_blocks = 4;
    struct ig_sim_engine *e2 = ig_sim_engine_create(&c);
    prep(&a, 0, 12, 'a', 8, -1);
    prep(&b, 1, 12, 'q', 8, -1);
    ig_sim_engine_submit(e2, &a.r, now);
    ig_sim_engine_submit(e2, &b.r, now);
    int preempted = 0;
    while (tick(e2, &now) != UINT64_MAX) {
        ig_sim_engine_stats(e2, &st);
        if (st.waiting == 1 && b.ntok > 0 && !b.done)
            preempted = 1;
    }
    assert_true(preempted);
    assert_true(a.done && b.done);
    assert_int_equal(b.ntok, 8);
    ig_sim_engine_destroy(e2);
    ig_sim_engine_destroy(e);
}

static void test_lora_slots(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.lora_names[0] = "l0";
    c.lora_names[1] = "l1";
    c.num_loras = 2;
    c.max_loras = 1;
    c.lora_load_us = 777;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec x0, x1, base, x0b;
    uint64_t now = 0;
    prep(&x0, 0, 40, 'a', 3, 0);
    prep(&x1, 1, 40, 'b', 3, 1);
    prep(&base, 2, 40, 'c', 3, -1);
    prep(&x0b, 3, 40, 'd', 3, 0);
    ig_sim_engine_submit(e, &x0.r, now);
    ig_sim_engine_submit(e, &x1.r, now);
    ig_sim_engine_submit(e, &base.r, now);
    ig_sim_engine_submit(e, &x0b.r, now);

    uint64_t d = tick(e, &now);
    /* x0 loads l0; x1 is skipped (no slot); base and x0b (l0 resident) go ahead of it. */
    assert_int_equal(d, 2000 + 20 * 30 + 10000 + 3 * 100 + 777);
    struct ig_sim_stats st;
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.running, 3);
    assert_int_equal(st.waiting, 1);
    assert_int_equal(st.num_running_loras, 1);
    assert_int_equal(st.running_loras[0], 0);
    assert_int_equal(st.num_waiting_loras, 1);
    assert_int_equal(st.waiting_loras[0], 1);
    assert_int_equal(x1.ntok, 0);
    assert_int_equal(base.ntok, 1);

    run_idle(e, &now);
    assert_true(x1.done);
    assert_true(x1.r.first_token_us > x0.r.finish_us);
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.num_running_loras, 0);
    assert_int_equal(st.num_waiting_loras, 0);
    ig_sim_engine_destroy(e);
}

static void test_cancel(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.max_num_seqs = 1;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec a, b;
    uint64_t now = 0;
    prep(&a, 0, 200, 'a', 50, -1);
    prep(&b, 1, 200, 'b', 2, -1);
    ig_sim_engine_submit(e, &a.r, now);
    ig_sim_engine_submit(e, &b.r, now);
    tick(e, &now);
    struct ig_sim_stats st;
    ig_sim_engine_stats(e, &st);
    assert_true(st.blocks_used > 0);

    /* Cancel in the middle of a step: no callback for it, its blocks and slot are free. */
    assert_int_not_equal(ig_sim_engine_step(e, now), UINT64_MAX);
    ig_sim_engine_cancel(e, &a.r);
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.running, 0);
    assert_int_equal(st.blocks_used, 0);
    ig_sim_engine_finish_step(e, now);
    assert_int_equal(a.ntok, 1);
    ig_sim_engine_cancel(e, &a.r); /* twice is harmless */

    run_idle(e, &now);
    assert_true(b.done);
    assert_false(a.done);

    /* Cancelling a waiting request removes it from the queue. */
    prep(&a, 0, 200, 'a', 5, -1);
    ig_sim_engine_submit(e, &a.r, now);
    ig_sim_engine_cancel(e, &a.r);
    ig_sim_engine_stats(e, &st);
    assert_int_equal(st.waiting, 0);
    assert_int_equal(ig_sim_engine_step(e, now), UINT64_MAX);
    ig_sim_engine_destroy(e);
}

/* A token callback that cancels another request of the same step. */
static struct rec *victim;
static struct ig_sim_engine *cb_engine;
static void cancel_victim(struct ig_sim_req *r, uint32_t index, int last)
{
    on_token(r, index, last);
    if (victim != NULL) {
        ig_sim_engine_cancel(cb_engine, &victim->r);
        victim = NULL;
    }
}

static void test_cancel_from_callback(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    cb_engine = ig_sim_engine_create(&c);
    static struct rec a, b;
    uint64_t now = 0;
    prep(&a, 0, 40, 'a', 3, -1);
    prep(&b, 1, 40, 'b', 3, -1);
    a.r.on_token = cancel_victim;
    ig_sim_engine_submit(cb_engine, &a.r, now);
    ig_sim_engine_submit(cb_engine, &b.r, now);
    victim = &b;
    tick(cb_engine, &now); /* a's callback runs first and cancels b before its token */
    assert_int_equal(a.ntok, 1);
    assert_int_equal(b.ntok, 0);
    run_idle(cb_engine, &now);
    assert_true(a.done);
    assert_int_equal(b.ntok, 0);
    ig_sim_engine_destroy(cb_engine);
}

static void test_zero_latency(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.prefill_overhead_us = c.prefill_per_token_us = c.decode_base_us = c.decode_per_seq_us = 0;
    c.max_num_seqs = 3;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec x[10];
    uint64_t now = 0;
    for (int i = 0; i < 10; i++) {
        prep(&x[i], i, (size_t)(10 + i * 30), (char)('a' + i), (uint32_t)(1 + i), -1);
        ig_sim_engine_submit(e, &x[i].r, now);
    }
    unsigned steps = 0;
    uint64_t d;
    while ((d = tick(e, &now)) != UINT64_MAX) {
        assert_int_equal(d, 0);
        steps++;
        assert_true(steps < 1000);
    }
    assert_int_equal(now, 0);
    for (int i = 0; i < 10; i++) {
        assert_true(x[i].done);
        assert_int_equal(x[i].ntok, 1 + i);
    }
    ig_sim_engine_destroy(e);
}

/* Steady state: stepping allocates nothing (every allocation would abort via fault injection). */
static void test_steps_do_not_allocate(void **state)
{
    (void)state;
    struct ig_sim_config c = base_cfg();
    c.block_size = 4;
    c.max_num_seqs = 4;
    struct ig_sim_engine *e = ig_sim_engine_create(&c);
    static struct rec x[6];
    uint64_t now = 0;
    for (int i = 0; i < 6; i++) {
        prep(&x[i], i, 100, (char)('a' + (i % 2)), 20, -1);
        ig_sim_engine_submit(e, &x[i].r, now);
    }
    ig_mem_fail_after(1);
    run_idle(e, &now);
    ig_mem_fail_after(0);
    for (int i = 0; i < 6; i++)
        assert_true(x[i].done);
    ig_sim_engine_destroy(e);
}

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((rng_state >> 33) % n);
}

/*
 * Random workloads on random small configurations, with random cancels: the engine's
 * invariants hold after every step, and everything not cancelled finishes with all its tokens.
 */
static void test_random_invariants(void **state)
{
    (void)state;
    static struct rec pool[24];
    static const uint32_t block_sizes[] = {1, 2, 4, 16};
    for (int round = 0; round < 60; round++) {
        rng_state = 0x9e3779b97f4a7c15ull + (uint64_t)round;
        struct ig_sim_config c = base_cfg();
        c.block_size = block_sizes[rnd(4)];
        c.kv_cache_blocks = 8 + rnd(56);
        c.max_num_seqs = 1 + rnd(8);
        c.num_loras = rnd(4);
        for (size_t i = 0; i < c.num_loras; i++)
            c.lora_names[i] = i == 0 ? "l0" : (i == 1 ? "l1" : "l2");
        c.max_loras = 1 + rnd(2);
        c.enable_prefix_caching = (int)rnd(2);
        if (rnd(3) == 0)
            c.prefill_overhead_us = c.prefill_per_token_us = c.decode_base_us = c.decode_per_seq_us = 0;
        c.lora_load_us = rnd(2) * 50;
        struct ig_sim_engine *e = ig_sim_engine_create(&c);
        assert_non_null(e);
        int live[24] = {0}; /* 1: submitted and neither finished nor cancelled */
        uint32_t nlive = 0;
        uint64_t now = 0;
        uint32_t cap_tokens = c.kv_cache_blocks * c.block_size;
        for (int it = 0; it < 400; it++) {
            for (int k = 0; k < 24; k++) {
                if (live[k] && pool[k].done) {
                    live[k] = 0;
                    nlive--;
                }
            }
            uint32_t slot = rnd(24);
            if (!live[slot] && rnd(2) == 0) {
                size_t len = 1 + rnd(IG_MIN(400u, cap_tokens * 4u));
                uint32_t maxt = 1 + rnd(12);
                int lora = c.num_loras > 0 && rnd(2) ? (int)rnd((uint32_t)c.num_loras) : -1;
                prep(&pool[slot], (int)slot, len, (char)('a' + rnd(3)), maxt, lora);
                int rc = ig_sim_engine_submit(e, &pool[slot].r, now);
                uint64_t need = ig_sim_tokens(len) + maxt;
                assert_int_equal(rc, need <= cap_tokens ? 0 : IG_EINVAL);
                if (rc == 0) {
                    live[slot] = 1;
                    nlive++;
                }
            } else if (live[slot] && rnd(8) == 0) {
                ig_sim_engine_cancel(e, &pool[slot].r);
                live[slot] = 0;
                nlive--;
            }
            if (tick(e, &now) == UINT64_MAX)
                continue;
            struct ig_sim_stats st;
            ig_sim_engine_stats(e, &st);
            assert_true(st.running <= c.max_num_seqs);
            assert_true(st.blocks_used + st.blocks_cached <= st.blocks_total);
            assert_true(st.num_running_loras <= c.max_loras);
            uint32_t done_now = 0;
            for (int k = 0; k < 24; k++)
                done_now += (uint32_t)(live[k] && pool[k].done);
            assert_int_equal(st.running + st.waiting, nlive - done_now);
            if (!c.enable_prefix_caching)
                assert_int_equal(st.blocks_cached, 0);
        }
        run_idle(e, &now);
        for (int k = 0; k < 24; k++) {
            if (live[k]) {
                assert_true(pool[k].done);
                assert_int_equal(pool[k].ntok, pool[k].r.max_tokens);
            }
        }
        struct ig_sim_stats st;
        ig_sim_engine_stats(e, &st);
        assert_int_equal(st.running + st.waiting, 0);
        assert_int_equal(st.blocks_used, 0);
        ig_sim_engine_destroy(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_token_counting, setup),
        cmocka_unit_test_setup(test_batching_limit, setup),
        cmocka_unit_test_setup(test_fifo_and_ttft, setup),
        cmocka_unit_test_setup(test_itl_grows_with_batch, setup),
        cmocka_unit_test_setup(test_prefix_cache_hit, setup),
        cmocka_unit_test_setup(test_prefix_cache_disabled, setup),
        cmocka_unit_test_setup(test_lora_no_sharing, setup),
        cmocka_unit_test_setup(test_lru_eviction, setup),
        cmocka_unit_test_setup(test_submit_invalid, setup),
        cmocka_unit_test_setup(test_wait_for_blocks, setup),
        cmocka_unit_test_setup(test_admission_counts_reused_blocks, setup),
        cmocka_unit_test_setup(test_decode_stall_and_preempt, setup),
        cmocka_unit_test_setup(test_lora_slots, setup),
        cmocka_unit_test_setup(test_cancel, setup),
        cmocka_unit_test_setup(test_cancel_from_callback, setup),
        cmocka_unit_test_setup(test_zero_latency, setup),
        cmocka_unit_test_setup(test_steps_do_not_allocate, setup),
        cmocka_unit_test_setup(test_random_invariants, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
