/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-loop shared state for ig_sock. A loop's context is created with its first socket and freed
 * after its last, so applications never manage it. Sockets are created rarely compared with
 * reads and writes, so the lookup is a short list under a mutex (one entry per worker loop);
 * nothing on the read/write path touches the registry.
 */
#include <pthread.h>

#include "loop_int.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ig_loop_ctx *registry;

static void on_prepare(uv_prepare_t *h)
{
    ig_sock__flush_dirty(h->data);
}

static void on_check(uv_check_t *h)
{
    ig_sock__flush_dirty(h->data);
}

static void on_idle(uv_idle_t *h)
{
    struct ig_loop_ctx *ctx = h->data;
    if (ig_list_empty(&ctx->dirty))
        uv_idle_stop(h);
}

/*
 * Output queued where no flush pass follows before the loop polls (in a prepare callback, or by
 * an on_drain that runs inside the prepare pass) would wait for an unrelated event. An active
 * idle handle makes that poll non-blocking, so the check pass right after it flushes.
 */
void ig_loop__ctx_wake(struct ig_loop_ctx *ctx)
{
    uv_idle_start(&ctx->idle, on_idle);
}

struct ig_loop_ctx *ig_loop__ctx_get(uv_loop_t *loop)
{
    struct ig_loop_ctx *ctx;
    pthread_mutex_lock(&registry_lock);
    for (ctx = registry; ctx != NULL; ctx = ctx->next) {
        if (ctx->loop == loop) {
            ctx->refs++;
            pthread_mutex_unlock(&registry_lock);
            return ctx;
        }
    }
    ctx = ig_malloc(sizeof(*ctx));
    ctx->loop = loop;
    ctx->refs = 1;
    ctx->closing = 0;
    ig_list_init(&ctx->dirty);
    ctx->next = registry;
    registry = ctx;
    pthread_mutex_unlock(&registry_lock);

    IG_ASSERT(uv_prepare_init(loop, &ctx->prepare) == 0);
    IG_ASSERT(uv_check_init(loop, &ctx->check) == 0);
    IG_ASSERT(uv_idle_init(loop, &ctx->idle) == 0);
    ctx->prepare.data = ctx;
    ctx->check.data = ctx;
    ctx->idle.data = ctx;
    uv_prepare_start(&ctx->prepare, on_prepare);
    uv_check_start(&ctx->check, on_check);
    /* The sockets keep the loop alive, not these. */
    uv_unref((uv_handle_t *)&ctx->prepare);
    uv_unref((uv_handle_t *)&ctx->check);
    uv_unref((uv_handle_t *)&ctx->idle);
    return ctx;
}

static void on_ctx_handle_closed(uv_handle_t *h)
{
    struct ig_loop_ctx *ctx = h->data;
    if (--ctx->closing == 0)
        ig_free(ctx);
}

void ig_loop__ctx_put(struct ig_loop_ctx *ctx)
{
    pthread_mutex_lock(&registry_lock);
    IG_ASSERT(ctx->refs > 0);
    if (--ctx->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    for (struct ig_loop_ctx **pp = &registry; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == ctx) {
            *pp = ctx->next;
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    IG_DASSERT(ig_list_empty(&ctx->dirty));
    ctx->closing = 3;
    uv_close((uv_handle_t *)&ctx->prepare, on_ctx_handle_closed);
    uv_close((uv_handle_t *)&ctx->check, on_ctx_handle_closed);
    uv_close((uv_handle_t *)&ctx->idle, on_ctx_handle_closed);
}

int ig_loop__uv_err(int status)
{
    switch (status) {
    case 0:
        return 0;
    case UV_EOF:
        return IG_ECLOSED;
    case UV_ECONNRESET:
    case UV_EPIPE:
        return IG_ERESET;
    case UV_ETIMEDOUT:
        return IG_ETIMEDOUT;
    case UV_ECANCELED:
        return IG_ECANCELED;
    default:
        return status; /* libuv codes are -errno on Unix */
    }
}
