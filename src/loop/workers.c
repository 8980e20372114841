/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Worker threads, one libuv loop each. The group is the only structure shared between threads:
 * the worker table never changes after start, and cross-thread requests (stop, post) go through
 * a mutex-protected queue per worker plus uv_async_send to wake its loop. A worker's loop runs
 * until a drain was requested and no active handles remain.
 */
#include <pthread.h>
#include <unistd.h>

#include "loop_int.h"

struct post {
    struct post *next;
    ig_worker_cb fn;
    void *arg;
};

struct worker_slot {
    pthread_mutex_t lock;
    struct post *head, *tail;
    int stop_requested;
    int ended; /* the async handle is closed: posts are refused */
};

struct ig_workers {
    int n;
    ig_worker_cb init;
    void *arg;
    int started; /* threads successfully created */
    ig_worker_t *workers;
    struct worker_slot *slots;
};

static _Thread_local ig_worker_t *self;

ig_worker_t *ig_worker_self(void)
{
    return self;
}

static void on_wakeup(uv_async_t *a)
{
    ig_worker_t *w = a->data;
    struct worker_slot *slot = &w->_group->slots[w->id];
    pthread_mutex_lock(&slot->lock);
    struct post *list = slot->head;
    slot->head = slot->tail = NULL;
    int stop = slot->stop_requested;
    pthread_mutex_unlock(&slot->lock);

    while (list != NULL) {
        struct post *p = list;
        list = p->next;
        p->fn(w, p->arg);
        ig_free(p);
    }
    if (stop && !w->_stopping) {
        w->_stopping = 1;
        if (w->on_stop != NULL)
            w->on_stop(w, w->_group->arg);
        /* No longer keeps the loop alive: it ends once the drain has closed everything else. */
        uv_unref((uv_handle_t *)&w->_wakeup);
    }
}

static void *worker_main(void *argp)
{
    ig_worker_t *w = argp;
    struct worker_slot *slot = &w->_group->slots[w->id];
    self = w;
    if (w->_group->init != NULL)
        w->_group->init(w, w->_group->arg);
    uv_run(&w->loop, UV_RUN_DEFAULT);

    pthread_mutex_lock(&slot->lock);
    slot->ended = 1;
    struct post *list = slot->head;
    slot->head = slot->tail = NULL;
    pthread_mutex_unlock(&slot->lock);
    while (list != NULL) { /* posted after the loop ended: never run, but freed */
        struct post *p = list;
        list = p->next;
        ig_free(p);
    }
    uv_close((uv_handle_t *)&w->_wakeup, NULL);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w->loop) != 0)
        ig_log_warn("loop", "worker %d: loop closed with handles still open", w->id);
    self = NULL;
    return NULL;
}

struct ig_workers *ig_workers_start(int n, ig_worker_cb init, void *arg)
{
    if (n <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)cpus : 1;
    }
    struct ig_workers *g = ig_calloc(1, sizeof(*g));
    g->n = n;
    g->init = init;
    g->arg = arg;
    g->workers = ig_calloc((size_t)n, sizeof(*g->workers));
    g->slots = ig_calloc((size_t)n, sizeof(*g->slots));
    /* Loops and wakeups exist before any thread does, so stop/post are safe right away. */
    for (int i = 0; i < n; i++) {
        ig_worker_t *w = &g->workers[i];
        w->id = i;
        w->_group = g;
        IG_ASSERT(uv_loop_init(&w->loop) == 0);
        IG_ASSERT(uv_async_init(&w->loop, &w->_wakeup, on_wakeup) == 0);
        w->_wakeup.data = w;
        pthread_mutex_init(&g->slots[i].lock, NULL);
    }
    for (int i = 0; i < n; i++) {
        IG_ASSERT(pthread_create(&g->workers[i].thread, NULL, worker_main, &g->workers[i]) == 0);
        g->started++;
    }
    return g;
}

int ig_workers_count(const struct ig_workers *g)
{
    return g->n;
}

ig_worker_t *ig_workers_get(struct ig_workers *g, int i)
{
    IG_ASSERT(i >= 0 && i < g->n);
    return &g->workers[i];
}

void ig_workers_stop(struct ig_workers *g)
{
    for (int i = 0; i < g->n; i++) {
        struct worker_slot *slot = &g->slots[i];
        pthread_mutex_lock(&slot->lock);
        if (!slot->stop_requested && !slot->ended) {
            slot->stop_requested = 1;
            uv_async_send(&g->workers[i]._wakeup);
        }
        pthread_mutex_unlock(&slot->lock);
    }
}

void ig_workers_post(struct ig_workers *g, int i, ig_worker_cb fn, void *arg)
{
    IG_ASSERT(i >= 0 && i < g->n);
    struct worker_slot *slot = &g->slots[i];
    struct post *p = ig_malloc(sizeof(*p));
    p->next = NULL;
    p->fn = fn;
    p->arg = arg;
    pthread_mutex_lock(&slot->lock);
    if (slot->ended) {
        pthread_mutex_unlock(&slot->lock);
        ig_log_warn("loop", "post to worker %d after it ended: dropped", i);
        ig_free(p);
        return;
    }
    if (slot->tail != NULL)
        slot->tail->next = p;
    else
        slot->head = p;
    slot->tail = p;
    /* Under the lock, so the worker cannot close the handle between the check and the send. */
    uv_async_send(&g->workers[i]._wakeup);
    pthread_mutex_unlock(&slot->lock);
}

void ig_workers_wait(struct ig_workers *g)
{
    for (int i = 0; i < g->started; i++)
        pthread_join(g->workers[i].thread, NULL);
    for (int i = 0; i < g->n; i++)
        pthread_mutex_destroy(&g->slots[i].lock);
    ig_free(g->slots);
    ig_free(g->workers);
    ig_free(g);
}
