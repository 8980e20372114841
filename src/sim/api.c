/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulator's HTTP API: routing, the OpenAI generation handlers, /v1/models, /health and
 * /metrics. A generation request becomes a call (struct ig_sim_call, recycled through a free
 * list) that collects the body, submits one engine request, and turns the engine's token
 * callbacks into the response: one SSE event per token as it is produced, or the whole document
 * at the end. When the client reads slowly (IG_EAGAIN) the call stops writing and remembers only
 * how many tokens are owed; on_writable catches up, since the token text is a function of its
 * index. A client that goes away cancels its engine request.
 *
 * The stream can close from inside any of our calls into it, so every path that writes holds the
 * call (busy) and frees it on the way out if on_close ran meanwhile.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "sim_front.h"

#define BODY_KEEP      (16u << 10) /* a recycled call keeps a body buffer up to this size */
#define FREE_CALLS_MAX 4096        /* recycled calls kept beyond this are freed */
#define FLUSH_BYTES    (32u << 10) /* catch-up writes go out in pieces of about this size */

static const char SSE_DONE[] = "data: [DONE]\n\n";

/* ---- responses ------------------------------------------------------------------------------- */

/*
 * Sends a complete response with the replica header. |head_only| answers HEAD: the head carries
 * the length of the body a GET would get.
 */
static int send_full(struct ig_sim_app *app, ig_http_stream_t *s, int status, const char *ctype, const char *body,
                     size_t len, const char *allow)
{
    ig_http_header_t h[3];
    size_t n = 0;
    h[n++] = (ig_http_header_t){IG_STRLIT("x-infergate-replica"), ig_iov_cstr(app->replica)};
    if (ctype != NULL)
        h[n++] = (ig_http_header_t){IG_STRLIT("content-type"), ig_iov_cstr(ctype)};
    if (allow != NULL)
        h[n++] = (ig_http_header_t){IG_STRLIT("allow"), ig_iov_cstr(allow)};
    ig_http_response_t resp = {.status = status, .headers = {h, n, n}, .content_length = (int64_t)len};
    int head_only = ig_iov_eq(s->req.method, IG_STRLIT("HEAD"));
    int rc = ig_http_stream_respond(s, &resp, head_only || len == 0);
    if (rc != 0 || head_only || len == 0)
        return rc;
    rc = ig_http_stream_write(s, body, len, 1);
    return rc == IG_EAGAIN ? 0 : rc;
}

static int send_error(struct ig_sim_app *app, ig_http_stream_t *s, int status, const char *message, const char *param,
                      const char *allow)
{
    ig_buf_reset(&app->scratch);
    ig_sim__oai_error(&app->scratch, status, message, param);
    return send_full(app, s, status, "application/json", ig_buf_data(&app->scratch), app->scratch.len, allow);
}

/* ---- calls ----------------------------------------------------------------------------------- */

static struct ig_sim_call *call_get(struct ig_sim_app *app)
{
    struct ig_sim_call *c;
    if (!ig_list_empty(&app->free_calls)) {
        ig_list_t *n = app->free_calls.next;
        ig_list_remove(n);
        app->nfree--;
        c = IG_CONTAINER_OF(n, struct ig_sim_call, link);
        ig_buf_t body = c->body;
        memset(c, 0, sizeof(*c));
        c->body = body;
        ig_buf_reset(&c->body);
    } else {
        c = ig_calloc(1, sizeof(*c));
        ig_buf_init(&c->body, IG_SIM_MAX_BODY);
    }
    c->app = app;
    c->req.data = c;
    c->model = -1;
    return c;
}

void ig_sim__call_release(struct ig_sim_call *c)
{
    struct ig_sim_app *app = c->app;
    if (c->body.cap > BODY_KEEP) {
        ig_buf_dispose(&c->body);
        ig_buf_init(&c->body, IG_SIM_MAX_BODY);
    }
    if (app->nfree >= FREE_CALLS_MAX) {
        ig_buf_dispose(&c->body);
        ig_free(c);
        return;
    }
    ig_list_push_front(&app->free_calls, &c->link);
    app->nfree++;
}

/* Drops one hold; frees the call if its stream closed meanwhile and nothing else needs it. */
static void call_unhold(struct ig_sim_call *c)
{
    IG_ASSERT(c->busy > 0);
    if (--c->busy == 0 && c->closed) {
        c->closed = 0;
        if (c->in_engine && !c->engine_done)
            ig_sim__driver_cancel(c->app, c); /* releases the call once the engine let go */
        else
            ig_sim__call_release(c);
    }
}

static void call_on_close(ig_http_stream_t *s, int err)
{
    (void)err;
    struct ig_sim_call *c = s->data;
    struct ig_sim_app *app = c->app;
    c->stream = NULL;
    ig_list_remove(&c->link);
    app->ncalls--;
    if (c->busy > 0) {
        c->closed = 1; /* call_unhold finishes the job */
        return;
    }
    if (c->in_engine && !c->engine_done)
        ig_sim__driver_cancel(app, c);
    else
        ig_sim__call_release(c);
}

static void call_error(struct ig_sim_call *c, int status, const char *message, const char *param)
{
    c->responded = 1;
    send_error(c->app, c->stream, status, message, param, NULL);
}

/*
 * Writes owed tokens (and, once the engine is done, the usage event and [DONE]) until all is
 * sent or the stream pushes back. The caller holds the call.
 */
static void stream_flush(struct ig_sim_call *c)
{
    struct ig_sim_app *app = c->app;
    ig_buf_t *b = &app->scratch;
    while (c->stream != NULL && !c->blocked && !c->responded) {
        ig_buf_reset(b);
        while (c->written < c->generated && b->len < FLUSH_BYTES) {
            uint32_t i = c->written++;
            ig_sim__oai_chunk(b, c, i, c->engine_done && c->written == c->generated);
        }
        int end = c->engine_done && c->written == c->generated;
        if (end) {
            if (c->include_usage)
                ig_sim__oai_usage_chunk(b, c, app->model_json[c->model]);
            ig_buf_append(b, SSE_DONE, sizeof(SSE_DONE) - 1);
            c->responded = 1;
        }
        if (b->len == 0)
            return;
        int rc = ig_http_stream_write(c->stream, ig_buf_data(b), b->len, end);
        if (rc == IG_EAGAIN)
            c->blocked = 1;
        else if (rc != 0)
            return; /* the stream is going away; on_close follows */
        if (!end && c->written == c->generated)
            return;
    }
}

static void call_on_writable(ig_http_stream_t *s)
{
    struct ig_sim_call *c = s->data;
    c->blocked = 0;
    c->busy++;
    stream_flush(c);
    call_unhold(c);
}

void ig_sim__call_token(struct ig_sim_call *c, uint32_t index, int last)
{
    struct ig_sim_app *app = c->app;
    uint64_t now = app->step_end_us;
    c->generated = index + 1;
    if (index == 0)
        c->first_us = now;
    if (last) {
        c->engine_done = 1;
        c->in_engine = 0;
        c->prompt_tokens = c->req.prompt_tokens;
        c->cached_tokens = c->req.cached_tokens;
        /* The step clock may trail the wall clock by a timer tick: never report a negative time. */
        uint64_t first = IG_MAX(c->first_us, c->submit_us), end = IG_MAX(now, c->submit_us);
        ig_sim__expo_observe(app->expo, (double)(first - c->submit_us) / 1e6, (double)(end - c->submit_us) / 1e6);
    }
    if (c->stream == NULL)
        return; /* closed during this dispatch: the deferred cancel (or release) handles it */
    c->busy++;
    if (c->streaming) {
        stream_flush(c);
    } else if (last) {
        ig_buf_t *b = &app->scratch;
        ig_buf_reset(b);
        c->responded = 1;
        if (ig_sim__oai_response(b, c, app->model_json[c->model]) == 0)
            send_full(app, c->stream, 200, "application/json", ig_buf_data(b), b->len, NULL);
        else
            send_error(app, c->stream, 500, "response too large", NULL, NULL);
    }
    call_unhold(c);
}

static int find_model(const struct ig_sim_app *app, const struct ig_sim_oai_req *r)
{
    const struct ig_sim_config *cfg = app->cfg;
    if (!r->has_model)
        return 0; /* as vLLM: a request without a model goes to the base model */
    ig_iov_t want = ig_iov(r->model, r->model_len);
    if (ig_iov_eq(want, ig_iov_cstr(cfg->model)))
        return 0;
    for (size_t i = 0; i < cfg->num_loras; i++) {
        if (ig_iov_eq(want, ig_iov_cstr(cfg->lora_names[i])))
            return (int)i + 1;
    }
    return -1;
}

static uint64_t splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* The body is complete: parse it, submit the engine request and start the response. */
static void call_start(struct ig_sim_call *c, const char *body, size_t len)
{
    struct ig_sim_app *app = c->app;
    const struct ig_sim_config *cfg = app->cfg;
    struct ig_sim_oai_req r;
    struct ig_sim_oai_err err;
    char msg[320];

    if (ig_sim__oai_parse(c->api, body, len, &r, &app->prompt, &err) != 0) {
        call_error(c, err.status, err.message, err.param);
        return;
    }
    c->model = find_model(app, &r);
    if (c->model < 0) {
        snprintf(msg, sizeof(msg), "The model `%.*s` does not exist.", (int)IG_MIN(r.model_len, 200), r.model);
        call_error(c, 404, msg, "model");
        return;
    }
    uint32_t prompt_tokens = ig_sim_tokens(app->prompt.len);
    uint64_t max_tokens;
    if (r.max_tokens > 0) {
        max_tokens = (uint64_t)r.max_tokens;
    } else if (c->api == IG_SIM_API_COMPLETIONS) {
        max_tokens = 16; /* OpenAI's default for completions */
    } else {
        uint64_t room = cfg->max_model_len > prompt_tokens ? cfg->max_model_len - prompt_tokens : 0;
        max_tokens = IG_MIN(room, (uint64_t)app->default_max_tokens);
    }
    if (max_tokens < 1 || (uint64_t)prompt_tokens + max_tokens > cfg->max_model_len) {
        snprintf(msg, sizeof(msg),
                 "This model's maximum context length is %" PRIu32 " tokens. However, you requested %" PRIu64
                 " tokens (%" PRIu32 " in the %s, %" PRIu64 " in the completion).",
                 cfg->max_model_len, prompt_tokens + max_tokens, prompt_tokens,
                 c->api == IG_SIM_API_CHAT ? "messages" : "prompt", max_tokens);
        call_error(c, 400, msg, c->api == IG_SIM_API_CHAT ? "messages" : "prompt");
        return;
    }

    c->streaming = (uint8_t)r.stream;
    c->include_usage = (uint8_t)r.include_usage;
    c->req.prompt = ig_buf_data(&app->prompt);
    c->req.prompt_len = app->prompt.len;
    c->req.max_tokens = (uint32_t)max_tokens;
    c->req.lora = c->model - 1;
    c->req.on_token = ig_sim__driver_on_token;
    c->req.data = c;
    c->submit_us = ig_sim__driver_now();
    if (ig_sim_engine_submit(app->engine, &c->req, c->submit_us) != 0) {
        snprintf(msg, sizeof(msg),
                 "The request needs more KV cache than the server has (%" PRIu32 " prompt tokens + %" PRIu64
                 " completion tokens; %" PRIu32 " blocks of %" PRIu32 " tokens).",
                 prompt_tokens, max_tokens, cfg->kv_cache_blocks, cfg->block_size);
        call_error(c, 400, msg, c->api == IG_SIM_API_CHAT ? "messages" : "prompt");
        return;
    }
    c->in_engine = 1;
    c->prompt_tokens = c->req.prompt_tokens != 0 ? c->req.prompt_tokens : prompt_tokens;
    c->created = (uint64_t)time(NULL);
    snprintf(c->id, sizeof(c->id), "%s%016" PRIx64, c->api == IG_SIM_API_CHAT ? "chatcmpl-" : "cmpl-",
             splitmix64(app->id_seed + app->id_next++));

    if (c->streaming) {
        c->prefix = ig_sim__oai_chunk_prefix(&c->stream->pool, c, app->model_json[c->model]);
        ig_http_header_t h[] = {
            {IG_STRLIT("content-type"), IG_STRLIT("text/event-stream")},
            {IG_STRLIT("cache-control"), IG_STRLIT("no-cache")},
            {IG_STRLIT("x-infergate-replica"), ig_iov_cstr(app->replica)},
        };
        ig_http_response_t resp = {
            .status = 200, .headers = {h, IG_ARRAY_LEN(h), IG_ARRAY_LEN(h)}, .content_length = -1};
        ig_http_stream_respond(c->stream, &resp, 0);
    }
    ig_sim__driver_kick(app);
}

static void call_on_body(ig_http_stream_t *s, const char *data, size_t len, int end)
{
    struct ig_sim_call *c = s->data;
    if (c->responded || c->in_engine || c->engine_done)
        return; /* answered already (413, or a body after the end); the rest is discarded */
    c->busy++;
    if (end && c->body.len == 0) {
        call_start(c, data, len); /* the whole body in one piece: parse it in place */
        goto out;
    }
    /* A body in pieces: one allocation for all of it when its length is announced (<= 8 MiB, checked). */
    if (c->body.len == 0 && s->req.content_length > 0)
        ig_buf_reserve(&c->body, (size_t)s->req.content_length);
    if (len > 0 && ig_buf_append(&c->body, data, len) != 0)
        call_error(c, 413, "the request body is larger than 8 MiB", NULL);
    else if (end)
        call_start(c, ig_buf_data(&c->body), c->body.len);
out:
    call_unhold(c);
}

static const struct ig_http_stream_handler call_handler = {
    .on_body = call_on_body,
    .on_writable = call_on_writable,
    .on_close = call_on_close,
};

/* ---- routing --------------------------------------------------------------------------------- */

static void generation(struct ig_sim_app *app, ig_http_stream_t *s, enum ig_sim_api api)
{
    if (s->req.content_length > (int64_t)IG_SIM_MAX_BODY) {
        send_error(app, s, 413, "the request body is larger than 8 MiB", NULL, NULL);
        return;
    }
    struct ig_sim_call *c = call_get(app);
    c->api = (uint8_t)api;
    c->stream = s;
    ig_list_push_back(&app->calls, &c->link);
    app->ncalls++;
    s->data = c;
    s->handler = &call_handler;
}

static void models(struct ig_sim_app *app, ig_http_stream_t *s)
{
    ig_buf_reset(&app->scratch);
    ig_sim__oai_models(&app->scratch, app);
    send_full(app, s, 200, "application/json", ig_buf_data(&app->scratch), app->scratch.len, NULL);
}

static void metrics(struct ig_sim_app *app, ig_http_stream_t *s)
{
    ig_buf_reset(&app->scratch);
    if (ig_sim__expo_render(app->expo, app, &app->scratch) != 0) {
        send_error(app, s, 500, "metrics page too large", NULL, NULL);
        return;
    }
    send_full(app, s, 200, "text/plain; version=0.0.4; charset=utf-8", ig_buf_data(&app->scratch), app->scratch.len,
              NULL);
}

enum route_id { ROUTE_COMPLETIONS = 0, ROUTE_CHAT, ROUTE_MODELS, ROUTE_HEALTH, ROUTE_METRICS, ROUTE_COUNT };

static const struct {
    const char *path;
    int post; /* 1: POST only; 0: GET and HEAD */
} routes[ROUTE_COUNT] = {
    [ROUTE_COMPLETIONS] = {"/v1/completions", 1},
    [ROUTE_CHAT] = {"/v1/chat/completions", 1},
    [ROUTE_MODELS] = {"/v1/models", 0},
    [ROUTE_HEALTH] = {"/health", 0},
    [ROUTE_METRICS] = {"/metrics", 0},
};

static void on_request(ig_http_stream_t *s)
{
    struct ig_sim_app *app = s->server->data;
    ig_iov_t path = s->req.path;
    const char *q = memchr(path.base, '?', path.len);
    if (q != NULL)
        path.len = (size_t)(q - path.base);

    int route = -1;
    for (int i = 0; i < ROUTE_COUNT; i++) {
        if (ig_iov_eq(path, ig_iov_cstr(routes[i].path))) {
            route = i;
            break;
        }
    }
    if (route < 0) {
        send_error(app, s, 404, "Not Found", NULL, NULL);
        return;
    }
    ig_iov_t m = s->req.method;
    int ok = routes[route].post ? ig_iov_eq(m, IG_STRLIT("POST"))
                                : ig_iov_eq(m, IG_STRLIT("GET")) || ig_iov_eq(m, IG_STRLIT("HEAD"));
    if (!ok) {
        send_error(app, s, 405, "Method Not Allowed", NULL, routes[route].post ? "POST" : "GET, HEAD");
        return;
    }
    switch (route) {
    case ROUTE_COMPLETIONS:
        generation(app, s, IG_SIM_API_COMPLETIONS);
        break;
    case ROUTE_CHAT:
        generation(app, s, IG_SIM_API_CHAT);
        break;
    case ROUTE_MODELS:
        models(app, s);
        break;
    case ROUTE_HEALTH:
        send_full(app, s, 200, NULL, NULL, 0, NULL);
        break;
    case ROUTE_METRICS:
        metrics(app, s);
        break;
    default:
        break;
    }
}

/* ---- life cycle ------------------------------------------------------------------------------ */

void ig_sim__api_init(struct ig_sim_app *app)
{
    ig_list_init(&app->calls);
    ig_list_init(&app->free_calls);
    ig_buf_init(&app->scratch, (size_t)64 << 20);
    ig_buf_init(&app->prompt, IG_SIM_MAX_BODY);
    app->id_seed = ig_time_ns() ^ ((uint64_t)getpid() << 32);
    app->http.on_request = on_request;
    app->http.data = app;
}

void ig_sim__api_abort_all(struct ig_sim_app *app)
{
    ig_list_t *pos, *tmp;
    ig_list_foreach_safe(pos, tmp, &app->calls)
    {
        struct ig_sim_call *c = IG_CONTAINER_OF(pos, struct ig_sim_call, link);
        if (c->stream != NULL)
            ig_http_stream_reset(c->stream);
    }
}

void ig_sim__api_dispose(struct ig_sim_app *app)
{
    while (!ig_list_empty(&app->free_calls)) {
        ig_list_t *n = app->free_calls.next;
        ig_list_remove(n);
        struct ig_sim_call *c = IG_CONTAINER_OF(n, struct ig_sim_call, link);
        ig_buf_dispose(&c->body);
        ig_free(c);
    }
    app->nfree = 0;
    ig_buf_dispose(&app->scratch);
    ig_buf_dispose(&app->prompt);
}
