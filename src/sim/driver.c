/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The engine's clock and pace maker. A step is started with ig_sim_engine_step, which says how
 * long it takes; a libuv timer fires at its end and ig_sim_engine_finish_step delivers the
 * step's tokens, then the next step starts at once. When the engine has nothing to run the
 * driver sleeps until a submit kicks it.
 *
 * Timing: libuv timers have millisecond resolution, so steps are scheduled on a virtual clock:
 * the next step starts where the previous one ended (not when the timer happened to fire), and
 * the timer waits for the step's absolute end. Rounding therefore never accumulates into drift.
 * If the loop falls further behind (overload), the clock jumps to the wall clock instead of
 * pretending the lost time was computed. Steps of zero length (--zero-latency) run from an idle
 * handle, once per loop iteration, so network I/O always gets its turn.
 *
 * Cancels that arrive while finish_step is dispatching tokens (a client vanished in the middle of
 * a write) are deferred to the end of the dispatch: the engine is never re-entered.
 */
#include "sim_front.h"

#define CLOCK_SLACK_US 2000 /* how far the virtual clock may trail the wall clock */

uint64_t ig_sim__driver_now(void)
{
    return ig_time_ns() / 1000;
}

void ig_sim__driver_on_token(struct ig_sim_req *r, uint32_t index, int last)
{
    ig_sim__call_token(r->data, index, last);
}

static void run_deferred(struct ig_sim_app *app)
{
    while (!ig_list_empty(&app->deferred)) {
        ig_list_t *n = app->deferred.next;
        ig_list_remove(n);
        struct ig_sim_call *c = IG_CONTAINER_OF(n, struct ig_sim_call, link);
        if (c->in_engine && !c->engine_done)
            ig_sim_engine_cancel(app->engine, &c->req);
        c->in_engine = 0;
        ig_sim__call_release(c);
    }
}

static void on_timer(uv_timer_t *t);
static void on_idle(uv_idle_t *h);

/* Ends the step in flight (if any) and starts the next one. */
static void advance(struct ig_sim_app *app)
{
    uint64_t now = ig_sim__driver_now();
    uint64_t start = now;
    if (app->stepping) {
        uint64_t end = app->step_end_us;
        app->stepping = 0;
        app->dispatching = 1;
        ig_sim_engine_finish_step(app->engine, end);
        app->dispatching = 0;
        run_deferred(app);
        if (now < end + CLOCK_SLACK_US)
            start = end;
    }
    uint64_t d = ig_sim_engine_step(app->engine, start);
    if (d == UINT64_MAX)
        return; /* idle until the next submit */
    app->stepping = 1;
    app->step_end_us = start + d;
    if (app->step_end_us <= now) {
        uv_idle_start(&app->step_idle, on_idle);
        return;
    }
    uint64_t wait_ms = (app->step_end_us - now + 999) / 1000;
    uv_timer_start(&app->step_timer, on_timer, wait_ms, 0);
}

static void on_timer(uv_timer_t *t)
{
    advance(t->data);
}

static void on_idle(uv_idle_t *h)
{
    uv_idle_stop(h);
    advance(h->data);
}

void ig_sim__driver_init(struct ig_sim_app *app)
{
    ig_list_init(&app->deferred);
    uv_timer_init(app->loop, &app->step_timer);
    uv_idle_init(app->loop, &app->step_idle);
    app->step_timer.data = app;
    app->step_idle.data = app;
}

void ig_sim__driver_kick(struct ig_sim_app *app)
{
    /* A pending idle run also batches every request submitted in this loop iteration into one step. */
    if (app->stepping || uv_is_active((uv_handle_t *)&app->step_idle))
        return;
    uv_idle_start(&app->step_idle, on_idle);
}

void ig_sim__driver_cancel(struct ig_sim_app *app, struct ig_sim_call *c)
{
    if (app->dispatching) {
        ig_list_push_back(&app->deferred, &c->link);
        return;
    }
    if (c->in_engine && !c->engine_done)
        ig_sim_engine_cancel(app->engine, &c->req);
    c->in_engine = 0;
    ig_sim__call_release(c);
}

void ig_sim__driver_close(struct ig_sim_app *app)
{
    uv_timer_stop(&app->step_timer);
    uv_idle_stop(&app->step_idle);
    uv_close((uv_handle_t *)&app->step_timer, NULL);
    uv_close((uv_handle_t *)&app->step_idle, NULL);
}
