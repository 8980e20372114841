/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenAI request reader (the reference EPP's openai-parser): the API kind from the request
 * path, then one validating pass over the body's top-level members that keeps slices of the keys
 * the scheduler needs. Nothing is copied except strings that contain escapes (into the caller's
 * pool). Errors carry the reference's 400 text, "inference error: BadRequest - <why>".
 */
#include "ig/sched.h"

#include <stdio.h>
#include <string.h>

static int has_suffix(ig_iov_t s, const char *suf)
{
    size_t n = strlen(suf);
    return s.len >= n && memcmp(s.base + s.len - n, suf, n) == 0;
}

enum ig_oai_api ig_oai_api_from_path(ig_iov_t path)
{
    const char *q = memchr(path.base, '?', path.len);
    if (q != NULL)
        path.len = (size_t)(q - path.base);
    while (path.len > 1 && path.base[path.len - 1] == '/')
        path.len--;
    /* Order matters: "/chat/completions" also ends in "/completions". */
    if (has_suffix(path, "/conversations"))
        return IG_OAI_CONVERSATIONS;
    if (has_suffix(path, "/responses"))
        return IG_OAI_RESPONSES;
    if (has_suffix(path, "/chat/completions"))
        return IG_OAI_CHAT_COMPLETIONS;
    if (has_suffix(path, "/embeddings"))
        return IG_OAI_EMBEDDINGS;
    return IG_OAI_COMPLETIONS;
}

const char *ig_oai_api_name(enum ig_oai_api api)
{
    static const char *const names[IG_OAI_API_COUNT] = {
        [IG_OAI_COMPLETIONS] = "completions", [IG_OAI_CHAT_COMPLETIONS] = "chat completions",
        [IG_OAI_RESPONSES] = "responses",     [IG_OAI_CONVERSATIONS] = "conversations",
        [IG_OAI_EMBEDDINGS] = "embeddings",
    };
    return (unsigned)api < IG_OAI_API_COUNT ? names[api] : "unknown";
}

static int bad_request(struct ig_sched_error *err, const char *why)
{
    if (err != NULL) {
        snprintf(err->msg, sizeof(err->msg), "inference error: BadRequest - %s", why);
        err->status = 400;
    }
    return IG_EINVAL;
}

static int bad_json(struct ig_sched_error *err, const struct ig_json_error *jerr)
{
    if (err != NULL) {
        snprintf(err->msg, sizeof(err->msg),
                 "inference error: BadRequest - error unmarshaling request body: %s at offset %zu", jerr->why,
                 jerr->offset);
        err->status = 400;
    }
    return IG_EINVAL;
}

/* The span hashed for a value: a string's text without its quotes, anything else as written. */
static ig_iov_t hash_span(const struct ig_json_member *m)
{
    if (m->type == IG_JSON_STRING)
        return ig_iov(m->value.base + 1, m->value.len - 2);
    return m->value;
}

static int array_nonempty(ig_iov_t v)
{
    for (size_t i = 1; i < v.len; i++) {
        char c = v.base[i];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            return c != ']';
    }
    return 0;
}

static int include_usage(ig_iov_t obj)
{
    struct ig_json_iter it;
    struct ig_json_member m;
    int on = 0;
    if (ig_json_obj_begin(&it, obj) != 0)
        return 0;
    while (ig_json_obj_next(&it, &m, NULL) == 1)
        if (ig_json_key_eq(&m, "include_usage"))
            on = m.type == IG_JSON_TRUE;
    return on;
}

enum field {
    F_MODEL = 0,
    F_STREAM,
    F_STREAM_OPTIONS,
    F_CACHE_SALT,
    F_PROMPT,
    F_MESSAGES,
    F_INPUT,
    F_INSTRUCTIONS,
    F_TOOLS,
    F_ITEMS,
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    [F_MODEL] = "model",
    [F_STREAM] = "stream",
    [F_STREAM_OPTIONS] = "stream_options",
    [F_CACHE_SALT] = "cache_salt",
    [F_PROMPT] = "prompt",
    [F_MESSAGES] = "messages",
    [F_INPUT] = "input",
    [F_INSTRUCTIONS] = "instructions",
    [F_TOOLS] = "tools",
    [F_ITEMS] = "items",
};

static int present(const struct ig_json_member *f)
{
    return f->type != IG_JSON_INVALID && f->type != IG_JSON_NULL;
}

int ig_oai_parse(enum ig_oai_api api, const char *body, size_t len, ig_pool_t *pool, struct ig_oai_request *req,
                 struct ig_sched_error *err)
{
    struct ig_json_member f[F_COUNT], m;
    struct ig_json_iter it;
    struct ig_json_error jerr = {0, NULL};
    int rc;

    memset(req, 0, sizeof(*req));
    memset(f, 0, sizeof(f));
    req->api = api;
    if (ig_json_obj_begin(&it, ig_iov(body, len)) != 0) {
        /* Distinguish "not JSON" from "JSON but not an object" as the reference's messages do. */
        const char *p = body;
        if (ig_json_skip(&p, body + len, &jerr) == IG_JSON_INVALID)
            return bad_json(err, &jerr);
        return bad_request(err, "error unmarshaling request body: expected a JSON object");
    }
    while ((rc = ig_json_obj_next(&it, &m, &jerr)) == 1) {
        /* Cheap dispatch on length and first byte before the full compare. */
        for (int i = 0; i < F_COUNT; i++) {
            if ((m.key_escaped || (m.key.len == strlen(field_names[i]) && m.key.base[0] == field_names[i][0])) &&
                ig_json_key_eq(&m, field_names[i])) {
                f[i] = m; /* a repeated key: the last one wins, as in Go's decoder */
                break;
            }
        }
    }
    if (rc < 0)
        return bad_json(err, &jerr);
    for (const char *p = it.p; p < body + len; p++) {
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            jerr.why = "invalid character after top-level value";
            jerr.offset = (size_t)(p - body);
            return bad_json(err, &jerr);
        }
    }

    if (f[F_MODEL].type != IG_JSON_STRING || ig_json_string(f[F_MODEL].value, pool, &req->model) != 0 ||
        req->model.len == 0)
        return bad_request(err, "model not found in request body");
    req->model_raw = f[F_MODEL].value;
    req->stream = f[F_STREAM].type == IG_JSON_TRUE;
    if (f[F_STREAM_OPTIONS].type == IG_JSON_OBJECT)
        req->include_usage = include_usage(f[F_STREAM_OPTIONS].value);
    if (f[F_CACHE_SALT].type == IG_JSON_STRING && ig_json_string(f[F_CACHE_SALT].value, pool, &req->cache_salt) != 0)
        return bad_request(err, "invalid cache_salt");

    switch (api) {
    case IG_OAI_CHAT_COMPLETIONS:
        if (f[F_MESSAGES].type != IG_JSON_ARRAY || !array_nonempty(f[F_MESSAGES].value))
            return bad_request(err, "invalid chat completions request: messages must be a non-empty array");
        req->prefix[req->n_prefix++] = f[F_MESSAGES].value;
        break;
    case IG_OAI_COMPLETIONS:
        if (!present(&f[F_PROMPT]))
            return bad_request(err, "invalid completions request: prompt is required");
        req->prefix[req->n_prefix++] = hash_span(&f[F_PROMPT]);
        break;
    case IG_OAI_RESPONSES:
        if (!present(&f[F_INPUT]))
            return bad_request(err, "invalid responses request: input is required");
        if (present(&f[F_INSTRUCTIONS]))
            req->prefix[req->n_prefix++] = f[F_INSTRUCTIONS].value;
        if (present(&f[F_TOOLS]))
            req->prefix[req->n_prefix++] = f[F_TOOLS].value;
        req->prefix[req->n_prefix++] = f[F_INPUT].value;
        break;
    case IG_OAI_CONVERSATIONS:
        if (!present(&f[F_ITEMS]))
            return bad_request(err, "invalid conversations request: items is required");
        req->prefix[req->n_prefix++] = f[F_ITEMS].value;
        break;
    case IG_OAI_EMBEDDINGS:
        if (!present(&f[F_INPUT]))
            return bad_request(err, "invalid embeddings request: input is required");
        req->prefix[req->n_prefix++] = f[F_INPUT].value;
        break;
    default:
        return bad_request(err, "unknown API kind");
    }
    for (size_t i = 0; i < req->n_prefix; i++)
        req->prefix_len += req->prefix[i].len;
    return 0;
}
