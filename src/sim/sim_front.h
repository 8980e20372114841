/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Module-private declarations of the simulator's HTTP front: the process state shared by
 * main.c (flags, start-up, shutdown), api.c (routing and handlers), openai.c (OpenAI JSON in and
 * out), driver.c (the timer that steps the engine) and expo.c (the /metrics page). Everything
 * here runs on the one loop thread that owns the engine.
 */
#ifndef IG_SIM_FRONT_H
#define IG_SIM_FRONT_H

#include <stdint.h>

#include "ig/core.h"
#include "ig/http.h"
#include "sim_int.h"

#define IG_SIM_MAX_BODY      (8u << 20) /* request bodies above this get 413 */
#define IG_SIM_MAX_MODEL_LEN 256        /* longest model name a request may carry */

enum ig_sim_api { IG_SIM_API_COMPLETIONS = 0, IG_SIM_API_CHAT, IG_SIM_API_COUNT };

struct ig_sim_expo;

/* The whole front, one per process (the engine is single-threaded). */
struct ig_sim_app {
    uv_loop_t *loop;
    struct ig_sim_engine *engine;
    const struct ig_sim_config *cfg; /* the engine's copy */
    const char *replica;             /* x-infergate-replica value; borrowed */
    uint32_t default_max_tokens;     /* chat without max_tokens: min(this, remaining context) */
    int flavor;                      /* enum ig_sim_flavor */
    ig_http_server_t http;
    struct ig_sim_expo *expo;
    /* JSON-escaped served names: [0] the base model, [1 + i] adapter i; owned */
    char *model_json[1 + IG_SIM_MAX_LORAS];
    uint64_t created; /* start-up time (unix seconds), the "created" of /v1/models */
    uint64_t id_seed, id_next;

    /* driver.c */
    uv_timer_t step_timer;
    uv_idle_t step_idle; /* zero-length steps run once per loop iteration, never back to back */
    int stepping;        /* a step is in flight and ends at step_end_us */
    int dispatching;     /* inside ig_sim_engine_finish_step: cancels are deferred */
    uint64_t step_end_us;
    ig_list_t deferred; /* calls closed during dispatch, cancelled after it */

    /* api.c */
    ig_list_t calls; /* live generation calls (struct ig_sim_call.link) */
    size_t ncalls;
    ig_list_t free_calls; /* recycled call objects */
    size_t nfree;
    ig_buf_t scratch; /* response / chunk formatting, reused by every call */
    ig_buf_t prompt;  /* the prompt text of the request being submitted */
};

/*
 * One generation request (completions or chat). Fixed size, recycled through app->free_calls;
 * strings that live as long as the HTTP stream (the chunk prefix) sit in the stream's pool.
 */
struct ig_sim_call {
    struct ig_sim_req req; /* req.data == this */
    ig_list_t link;        /* app->calls while the stream lives, then app->deferred or free_calls */
    struct ig_sim_app *app;
    ig_http_stream_t *stream; /* NULL once the stream closed */
    ig_buf_t body;            /* request body when it arrives in pieces */
    ig_iov_t prefix;          /* streaming: the constant start of every chunk, in stream->pool */
    uint64_t submit_us;       /* engine clock at submit */
    uint64_t first_us;        /* engine clock of the first token */
    uint64_t created;         /* unix seconds */
    uint32_t generated;       /* tokens the engine produced */
    uint32_t written;         /* tokens sent to the client */
    uint32_t prompt_tokens, cached_tokens;
    int model;   /* index into app->model_json */
    uint8_t api; /* enum ig_sim_api */
    uint8_t streaming, include_usage;
    uint8_t in_engine;   /* submitted and not finished or cancelled */
    uint8_t engine_done; /* the last token arrived */
    uint8_t responded;   /* a final response (or error) was queued */
    uint8_t blocked;     /* waiting for on_writable */
    uint8_t closed;      /* on_close ran while busy */
    uint8_t busy;        /* nesting depth of our own calls into the stream */
    char id[32];         /* "cmpl-..." / "chatcmpl-..." */
};

/* ---- openai.c ------------------------------------------------------------------------------- */

/* A parsed generation request. */
struct ig_sim_oai_req {
    int stream, include_usage;
    int64_t max_tokens; /* -1: not given */
    int has_model;
    size_t model_len;
    char model[IG_SIM_MAX_MODEL_LEN + 1];
};

struct ig_sim_oai_err {
    int status;        /* 400 */
    const char *param; /* the offending field, or NULL */
    char message[256];
};

/**
 * Parses a /v1/completions or /v1/chat/completions body. On success the engine's prompt text
 * (the prompt, or the rendered conversation) is in |prompt| (reset first) and 0 is returned; on
 * failure |err| is filled and IG_EINVAL returned.
 */
int ig_sim__oai_parse(enum ig_sim_api api, const char *body, size_t len, struct ig_sim_oai_req *out, ig_buf_t *prompt,
                      struct ig_sim_oai_err *err);

/** Appends |s| JSON-escaped (without quotes). Returns 0 or IG_ETOOBIG. */
int ig_sim__json_escape(ig_buf_t *b, const char *s, size_t len);
/** Returns a JSON-escaped copy of |s| (owned by the caller, ig_free). */
char *ig_sim__json_escape_dup(const char *s);

/** The text of generated token |i|: a fixed word list, cycled, IG_SIM_CHARS_PER_TOKEN bytes each. */
ig_iov_t ig_sim__oai_word(uint32_t i);

/** Appends an OpenAI error document. */
void ig_sim__oai_error(ig_buf_t *b, int status, const char *message, const char *param);
/** The "type" of an OpenAI error for |status| ("BadRequestError", "NotFoundError", ...). */
const char *ig_sim__oai_error_type(int status);

/** Returns the constant start of a call's stream chunks, allocated in |pool|. */
ig_iov_t ig_sim__oai_chunk_prefix(ig_pool_t *pool, const struct ig_sim_call *c, const char *model_json);
/** Appends the SSE event carrying token |i| (|last|: finish_reason "length"). */
int ig_sim__oai_chunk(ig_buf_t *b, const struct ig_sim_call *c, uint32_t i, int last);
/** Appends the usage event (empty choices) of stream_options.include_usage. */
int ig_sim__oai_usage_chunk(ig_buf_t *b, const struct ig_sim_call *c, const char *model_json);
/** Appends the complete non-streaming response of a finished call. */
int ig_sim__oai_response(ig_buf_t *b, const struct ig_sim_call *c, const char *model_json);
/** Appends the /v1/models document. */
int ig_sim__oai_models(ig_buf_t *b, const struct ig_sim_app *app);

/* ---- api.c ---------------------------------------------------------------------------------- */

/** Initialises the call registry and buffers of |app| and sets app->http.on_request. */
void ig_sim__api_init(struct ig_sim_app *app);
/** Frees recycled calls and buffers (no call may be live). */
void ig_sim__api_dispose(struct ig_sim_app *app);
/** Resets every live stream (forced shutdown). */
void ig_sim__api_abort_all(struct ig_sim_app *app);
/** Engine token callback of a call (driver.c routes on_token here). */
void ig_sim__call_token(struct ig_sim_call *c, uint32_t index, int last);
/** Returns a closed call (after its deferred cancel) to the free list. */
void ig_sim__call_release(struct ig_sim_call *c);

/* ---- driver.c ------------------------------------------------------------------------------- */

void ig_sim__driver_init(struct ig_sim_app *app);
/** Starts a step at the next loop iteration unless one is in flight. */
void ig_sim__driver_kick(struct ig_sim_app *app);
/** Engine clock (monotonic microseconds). */
uint64_t ig_sim__driver_now(void);
/** Cancels |c| in the engine now, or after the current dispatch when called from inside it. */
void ig_sim__driver_cancel(struct ig_sim_app *app, struct ig_sim_call *c);
/** Closes the driver's handles (the loop then ends once nothing else is active). */
void ig_sim__driver_close(struct ig_sim_app *app);
/** The engine's token callback. */
void ig_sim__driver_on_token(struct ig_sim_req *r, uint32_t index, int last);

/* ---- expo.c --------------------------------------------------------------------------------- */

struct ig_sim_expo *ig_sim__expo_create(const struct ig_sim_app *app);
void ig_sim__expo_destroy(struct ig_sim_expo *x);
/** Records a finished request's time to first token and end-to-end latency (seconds). */
void ig_sim__expo_observe(struct ig_sim_expo *x, double ttft, double e2e);
/** Appends the Prometheus text page. Returns 0 or IG_ETOOBIG. */
int ig_sim__expo_render(struct ig_sim_expo *x, const struct ig_sim_app *app, ig_buf_t *out);

#endif
