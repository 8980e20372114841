/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The standard gRPC health service (grpc.health.v1.Health) on an ig_grpc_server_t: a table of
 * service name -> serving status, answered by Check (a name not in the table is the NOT_FOUND
 * status, as the health protocol asks) and List. Watch is not served: the server answers it
 * UNIMPLEMENTED, which the protocol allows and clients treat as "poll Check instead". The table is
 * small (a few names) and read on every probe, written rarely from any thread: an array under a
 * mutex.
 */
#include <pthread.h>

#include "grpc/health/v1/health.pb-c.h"
#include "ig/grpc.h"

/* Decoding a HealthCheckRequest never needs more than this (a service name). */
#define HEALTH_DECODE_LIMIT (64u << 10)

struct health_entry {
    char *name;
    int status;
};

struct ig_grpc_health {
    pthread_mutex_t mu;
    struct health_entry *v;
    size_t len, cap;
    struct ig_grpc_method check, list;
};

static ssize_t find(const ig_grpc_health_t *h, ig_iov_t name)
{
    for (size_t i = 0; i < h->len; i++)
        if (ig_iov_eq(ig_iov_cstr(h->v[i].name), name))
            return (ssize_t)i;
    return -1;
}

void ig_grpc_health_set(ig_grpc_health_t *h, const char *service, int status)
{
    pthread_mutex_lock(&h->mu);
    ssize_t i = find(h, ig_iov_cstr(service));
    if (status == IG_GRPC_HEALTH_SERVICE_UNKNOWN) {
        if (i >= 0) {
            ig_free(h->v[i].name);
            h->v[i] = h->v[--h->len];
        }
    } else if (i >= 0) {
        h->v[i].status = status;
    } else {
        if (h->len == h->cap) {
            h->cap = h->cap != 0 ? h->cap * 2 : 8;
            h->v = ig_realloc(h->v, h->cap * sizeof(*h->v));
        }
        h->v[h->len++] = (struct health_entry){ig_strdup(service), status};
    }
    pthread_mutex_unlock(&h->mu);
}

int ig_grpc_health_get(ig_grpc_health_t *h, ig_iov_t service)
{
    pthread_mutex_lock(&h->mu);
    ssize_t i = find(h, service);
    int status = i >= 0 ? h->v[i].status : IG_GRPC_HEALTH_SERVICE_UNKNOWN;
    pthread_mutex_unlock(&h->mu);
    return status;
}

/* ---- methods ----------------------------------------------------------------------------------- */

static void check_on_message(ig_grpc_sctx_t *ctx, ig_iov_t msg)
{
    ig_grpc_health_t *h = ctx->method->data;
    struct ig_grpc_pballoc a;

    ig_grpc_pballoc_init(&a, ctx->pool, HEALTH_DECODE_LIMIT);
    Grpc__Health__V1__HealthCheckRequest *req =
        grpc__health__v1__health_check_request__unpack(&a.base, msg.len, (const uint8_t *)msg.base);
    if (req == NULL) {
        ig_grpc_sctx_finish(ctx, a.refused ? IG_GRPC_RESOURCE_EXHAUSTED : IG_GRPC_INVALID_ARGUMENT,
                            "bad HealthCheckRequest");
        return;
    }
    int status = ig_grpc_health_get(h, ig_iov_cstr(req->service));
    if (status == IG_GRPC_HEALTH_SERVICE_UNKNOWN) {
        ig_grpc_sctx_finish(ctx, IG_GRPC_NOT_FOUND, "unknown service");
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
    ig_grpc_sctx_send_pb(ctx, &resp.base);
    ig_grpc_sctx_finish(ctx, IG_GRPC_OK, NULL);
}

static void list_on_message(ig_grpc_sctx_t *ctx, ig_iov_t msg)
{
    ig_grpc_health_t *h = ctx->method->data;
    Grpc__Health__V1__HealthListResponse resp = GRPC__HEALTH__V1__HEALTH_LIST_RESPONSE__INIT;

    (void)msg; /* HealthListRequest has no fields */
    pthread_mutex_lock(&h->mu);
    resp.n_statuses = h->len;
    resp.statuses = ig_pool_alloc(ctx->pool, (h->len + 1) * sizeof(*resp.statuses));
    for (size_t i = 0; i < h->len; i++) {
        Grpc__Health__V1__HealthListResponse__StatusesEntry *e = ig_pool_alloc(ctx->pool, sizeof(*e));
        Grpc__Health__V1__HealthCheckResponse *v = ig_pool_alloc(ctx->pool, sizeof(*v));
        grpc__health__v1__health_list_response__statuses_entry__init(e);
        grpc__health__v1__health_check_response__init(v);
        v->status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)h->v[i].status;
        e->key = ig_pool_strdup(ctx->pool, h->v[i].name);
        e->value = v;
        resp.statuses[i] = e;
    }
    pthread_mutex_unlock(&h->mu);
    ig_grpc_sctx_send_pb(ctx, &resp.base);
    ig_grpc_sctx_finish(ctx, IG_GRPC_OK, NULL);
}

ig_grpc_health_t *ig_grpc_health_create(void)
{
    ig_grpc_health_t *h = ig_calloc(1, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    h->check = (struct ig_grpc_method){
        .path = "/grpc.health.v1.Health/Check", .unary = 1, .on_message = check_on_message, .data = h};
    h->list = (struct ig_grpc_method){
        .path = "/grpc.health.v1.Health/List", .unary = 1, .on_message = list_on_message, .data = h};
    ig_grpc_health_set(h, "", IG_GRPC_HEALTH_SERVING);
    return h;
}

void ig_grpc_health_destroy(ig_grpc_health_t *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->len; i++)
        ig_free(h->v[i].name);
    ig_free(h->v);
    pthread_mutex_destroy(&h->mu);
    ig_free(h);
}

int ig_grpc_health_register(ig_grpc_health_t *h, ig_grpc_server_t *g)
{
    int rc = ig_grpc_server_add(g, &h->check);
    if (rc == 0)
        rc = ig_grpc_server_add(g, &h->list);
    return rc;
}
