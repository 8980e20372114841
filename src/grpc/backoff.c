/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The reconnect policy of a gRPC channel, as pure functions: gRPC's connection-backoff schedule
 * (exponential, jittered, capped, counted from the start of the failed attempt) and the
 * connectivity state machine that decides whether a call may go out or must fail fast. client.c
 * feeds it the outcome of every connection attempt and runs the timer it asks for; nothing here
 * reads a clock or draws a random number, so the unit tests drive it step by step.
 */
#include "ig/grpc.h"

/* ---- backoff ----------------------------------------------------------------------------------- */

void ig_grpc_backoff_init(struct ig_grpc_backoff *b, const struct ig_grpc_backoff_config *cfg)
{
    struct ig_grpc_backoff_config c = cfg != NULL ? *cfg : (struct ig_grpc_backoff_config){0};

    if (c.initial_ms == 0)
        c.initial_ms = IG_GRPC_BACKOFF_INITIAL_MS;
    if (c.max_ms == 0)
        c.max_ms = IG_GRPC_BACKOFF_MAX_MS;
    if (c.max_ms < c.initial_ms)
        c.max_ms = c.initial_ms;
    if (c.multiplier == 0)
        c.multiplier = IG_GRPC_BACKOFF_MULTIPLIER;
    else if (c.multiplier < 1)
        c.multiplier = 1;
    if (c.jitter == 0)
        c.jitter = IG_GRPC_BACKOFF_JITTER;
    else if (c.jitter < 0)
        c.jitter = 0;
    else if (c.jitter > 0.99)
        c.jitter = 0.99; /* a delay never reaches zero: that would be the tight loop backoff prevents */
    b->cfg = c;
    ig_grpc_backoff_reset(b);
}

void ig_grpc_backoff_reset(struct ig_grpc_backoff *b)
{
    b->_cur_ms = (double)b->cfg.initial_ms;
}

uint64_t ig_grpc_backoff_next(struct ig_grpc_backoff *b, double rnd)
{
    double base = b->_cur_ms;

    if (!(rnd >= 0)) /* also NaN */
        rnd = 0;
    if (rnd > 1)
        rnd = 1;
    /* gRPC: UniformRandom(-jitter * backoff, jitter * backoff) on top of the capped base. */
    double d = base * (1.0 + b->cfg.jitter * (2.0 * rnd - 1.0));
    double grown = base * b->cfg.multiplier;
    b->_cur_ms = grown < (double)b->cfg.max_ms ? grown : (double)b->cfg.max_ms;
    if (d < 1)
        d = 1;
    return (uint64_t)(d + 0.5);
}

/* ---- connectivity state machine ---------------------------------------------------------------- */

const char *ig_grpc_conn_state_name(int state)
{
    static const char *const names[IG_GRPC_CONN_STATE_COUNT] = {"IDLE", "READY", "TRANSIENT_FAILURE"};
    return state >= 0 && state < IG_GRPC_CONN_STATE_COUNT ? names[state] : "UNKNOWN";
}

void ig_grpc_connsm_init(struct ig_grpc_connsm *sm, const struct ig_grpc_backoff_config *cfg)
{
    memset(sm, 0, sizeof(*sm));
    sm->state = IG_GRPC_CONN_IDLE;
    ig_grpc_backoff_init(&sm->backoff, cfg);
}

int ig_grpc_connsm_admit(const struct ig_grpc_connsm *sm)
{
    return sm->state != IG_GRPC_CONN_TRANSIENT_FAILURE;
}

static void to_ready(struct ig_grpc_connsm *sm)
{
    sm->state = IG_GRPC_CONN_READY;
    sm->probing = 0;
    sm->streak = 0;
    sm->retry_at_ns = 0;
    ig_grpc_backoff_reset(&sm->backoff);
}

/* An attempt failed: TRANSIENT_FAILURE, the retry due one backoff delay after the attempt began. */
static int to_failure(struct ig_grpc_connsm *sm, uint64_t started_ns, uint64_t now_ns, double rnd, uint64_t *delay_ms)
{
    uint64_t d = ig_grpc_backoff_next(&sm->backoff, rnd);
    uint64_t due = (started_ns <= now_ns ? started_ns : now_ns) + d * 1000000u;
    uint64_t wait = due > now_ns ? (due - now_ns + 999999u) / 1000000u : 0;

    sm->state = IG_GRPC_CONN_TRANSIENT_FAILURE;
    sm->probing = 0;
    sm->streak++;
    sm->retry_at_ns = now_ns + wait * 1000000u;
    *delay_ms = wait;
    return 1;
}

int ig_grpc_connsm_on_result(struct ig_grpc_connsm *sm, int status, uint64_t started_ns, uint64_t now_ns, double rnd,
                             uint64_t *delay_ms)
{
    sm->attempts++;
    if (status == 0) {
        to_ready(sm);
        return 0;
    }
    sm->failures++;
    /* A retry is pending already: an attempt begun before the failure that armed it ended late. */
    if (sm->state == IG_GRPC_CONN_TRANSIENT_FAILURE && !sm->probing)
        return 0;
    return to_failure(sm, started_ns, now_ns, rnd, delay_ms);
}

int ig_grpc_connsm_on_retry(struct ig_grpc_connsm *sm)
{
    if (sm->state != IG_GRPC_CONN_TRANSIENT_FAILURE || sm->probing)
        return 0;
    sm->probing = 1;
    return 1;
}

int ig_grpc_connsm_on_probe_done(struct ig_grpc_connsm *sm, int reached, uint64_t started_ns, uint64_t now_ns,
                                 double rnd, uint64_t *delay_ms)
{
    /* A connection result settled it first (the usual case): nothing left to decide. */
    if (sm->state != IG_GRPC_CONN_TRANSIENT_FAILURE || !sm->probing)
        return 0;
    if (reached) {
        to_ready(sm);
        return 0;
    }
    return to_failure(sm, started_ns, now_ns, rnd, delay_ms);
}
