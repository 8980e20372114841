/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The OpenAI wire format of the simulator: request bodies of /v1/completions and
 * /v1/chat/completions are parsed with jansson (validated field by field, errors worded for the
 * client), and responses, stream chunks and /v1/models are written straight into byte buffers.
 * Stream chunks are assembled from a per-call constant prefix and a per-token tail with memcpy
 * only: no formatting and no allocation per token.
 *
 * A chat conversation becomes engine prompt text with a fixed template, "<|role|>\ncontent\n"
 * per message in order, so conversations that share a history share a cacheable prefix.
 */
#include <inttypes.h>
#include <stdio.h>

#include <jansson.h>

#include "sim_front.h"

/* Every word is IG_SIM_CHARS_PER_TOKEN bytes, so the engine's token rule counts n words as n tokens. */
static const char words[][IG_SIM_CHARS_PER_TOKEN + 1] = {
    " the", " and", " for", " you", " not", " are", " all", " new",
    " was", " can", " has", " one", " our", " out", " day", " get",
};

ig_iov_t ig_sim__oai_word(uint32_t i)
{
    return ig_iov(words[i % IG_ARRAY_LEN(words)], IG_SIM_CHARS_PER_TOKEN);
}

/* ---- JSON output helpers --------------------------------------------------------------------- */

int ig_sim__json_escape(ig_buf_t *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* start of the current run of bytes that need no escape */
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        if (ig_buf_append(b, s + run, i - run) != 0)
            return IG_ETOOBIG;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (ch) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[ch >> 4];
            esc[5] = hex[ch & 15];
            n = 6;
        }
        if (ig_buf_append(b, esc, n) != 0)
            return IG_ETOOBIG;
        run = i + 1;
    }
    return ig_buf_append(b, s + run, len - run);
}

char *ig_sim__json_escape_dup(const char *s)
{
    ig_buf_t b;
    ig_buf_init(&b, (size_t)1 << 20);
    char *out = NULL;
    if (ig_sim__json_escape(&b, s, strlen(s)) == 0 && ig_buf_append(&b, "", 1) == 0)
        out = ig_strdup(ig_buf_data(&b));
    ig_buf_dispose(&b);
    return out != NULL ? out : ig_strdup("");
}

static int append_lit(ig_buf_t *b, const char *s)
{
    return ig_buf_append(b, s, strlen(s));
}

const char *ig_sim__oai_error_type(int status)
{
    switch (status) {
    case 400:
        return "BadRequestError";
    case 404:
        return "NotFoundError";
    case 405:
        return "MethodNotAllowedError";
    case 413:
        return "RequestTooLargeError";
    case 503:
        return "ServiceUnavailableError";
    default:
        return status >= 500 ? "InternalServerError" : "BadRequestError";
    }
}

void ig_sim__oai_error(ig_buf_t *b, int status, const char *message, const char *param)
{
    append_lit(b, "{\"error\":{\"message\":\"");
    ig_sim__json_escape(b, message, strlen(message));
    ig_buf_appendf(b, "\",\"type\":\"%s\",\"param\":", ig_sim__oai_error_type(status));
    if (param != NULL)
        ig_buf_appendf(b, "\"%s\"", param);
    else
        append_lit(b, "null");
    ig_buf_appendf(b, ",\"code\":%d}}", status);
}

/* ---- request parsing ------------------------------------------------------------------------- */

static int fail(struct ig_sim_oai_err *err, const char *param, const char *fmt, ...) IG_PRINTF(3, 4);
static int fail(struct ig_sim_oai_err *err, const char *param, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    err->status = 400;
    err->param = param;
    return IG_EINVAL;
}

/* Appends the text of a message's content: a string, null, or an array of {type:"text", text} parts. */
static int render_content(json_t *content, ig_buf_t *prompt, struct ig_sim_oai_err *err)
{
    if (content == NULL || json_is_null(content))
        return 0;
    if (json_is_string(content)) {
        if (ig_buf_append(prompt, json_string_value(content), json_string_length(content)) != 0)
            return fail(err, "messages", "messages are too long");
        return 0;
    }
    if (!json_is_array(content))
        return fail(err, "messages", "message content must be a string or an array of content parts");
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        json_t *type = json_object_get(part, "type");
        json_t *text = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type))
            return fail(err, "messages", "each content part must be an object with a \"type\"");
        if (strcmp(json_string_value(type), "text") != 0)
            return fail(err, "messages", "content part type \"%.64s\" is not supported (only \"text\")",
                        json_string_value(type));
        if (!json_is_string(text))
            return fail(err, "messages", "a text content part needs a string \"text\"");
        if (ig_buf_append(prompt, json_string_value(text), json_string_length(text)) != 0)
            return fail(err, "messages", "messages are too long");
    }
    return 0;
}

static int render_messages(json_t *messages, ig_buf_t *prompt, struct ig_sim_oai_err *err)
{
    if (messages == NULL)
        return fail(err, "messages", "\"messages\" is required");
    if (!json_is_array(messages) || json_array_size(messages) == 0)
        return fail(err, "messages", "\"messages\" must be a non-empty array");
    size_t i;
    json_t *msg;
    json_array_foreach(messages, i, msg)
    {
        json_t *role = json_object_get(msg, "role");
        if (!json_is_object(msg) || !json_is_string(role))
            return fail(err, "messages", "each message must be an object with a string \"role\"");
        if (ig_buf_append(prompt, "<|", 2) != 0 ||
            ig_buf_append(prompt, json_string_value(role), json_string_length(role)) != 0 ||
            ig_buf_append(prompt, "|>\n", 3) != 0)
            return fail(err, "messages", "messages are too long");
        int rc = render_content(json_object_get(msg, "content"), prompt, err);
        if (rc != 0)
            return rc;
        if (ig_buf_append(prompt, "\n", 1) != 0)
            return fail(err, "messages", "messages are too long");
    }
    return 0;
}

static int read_prompt(json_t *p, ig_buf_t *prompt, struct ig_sim_oai_err *err)
{
    if (p == NULL)
        return fail(err, "prompt", "\"prompt\" is required");
    if (json_is_array(p)) {
        if (json_array_size(p) != 1 || !json_is_string(json_array_get(p, 0)))
            return fail(err, "prompt", "\"prompt\" must be a string or an array of one string");
        p = json_array_get(p, 0);
    }
    if (!json_is_string(p))
        return fail(err, "prompt", "\"prompt\" must be a string or an array of one string");
    if (ig_buf_append(prompt, json_string_value(p), json_string_length(p)) != 0)
        return fail(err, "prompt", "\"prompt\" is too long");
    return 0;
}

/* An optional integer field: absent or null leaves *out alone. */
static int read_int(json_t *root, const char *name, int64_t *out, struct ig_sim_oai_err *err)
{
    json_t *v = json_object_get(root, name);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return fail(err, name, "\"%s\" must be an integer", name);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int read_bool(json_t *root, const char *name, int *out, struct ig_sim_oai_err *err)
{
    json_t *v = json_object_get(root, name);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return fail(err, name, "\"%s\" must be a boolean", name);
    *out = json_is_true(v);
    return 0;
}

int ig_sim__oai_parse(enum ig_sim_api api, const char *body, size_t len, struct ig_sim_oai_req *out, ig_buf_t *prompt,
                      struct ig_sim_oai_err *err)
{
    memset(out, 0, sizeof(*out));
    out->max_tokens = -1;
    ig_buf_reset(prompt);

    if (len == 0)
        return fail(err, NULL, "the request body is empty: a JSON object is expected");
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (root == NULL)
        return fail(err, NULL, "malformed JSON body: %.160s (line %d, column %d)", jerr.text, jerr.line, jerr.column);
    int rc;
    if (!json_is_object(root)) {
        rc = fail(err, NULL, "the request body must be a JSON object");
        goto out;
    }

    json_t *model = json_object_get(root, "model");
    if (model != NULL && !json_is_null(model)) {
        if (!json_is_string(model)) {
            rc = fail(err, "model", "\"model\" must be a string");
            goto out;
        }
        out->has_model = 1;
        out->model_len = IG_MIN(json_string_length(model), sizeof(out->model) - 1);
        memcpy(out->model, json_string_value(model), out->model_len);
        if (json_string_length(model) > IG_SIM_MAX_MODEL_LEN)
            out->model_len = IG_SIM_MAX_MODEL_LEN + 1; /* matches no served name: 404 */
    }

    if ((rc = read_bool(root, "stream", &out->stream, err)) != 0)
        goto out;
    json_t *so = json_object_get(root, "stream_options");
    if (so != NULL && !json_is_null(so)) {
        if (!json_is_object(so)) {
            rc = fail(err, "stream_options", "\"stream_options\" must be an object");
            goto out;
        }
        if (!out->stream) {
            rc = fail(err, "stream_options", "\"stream_options\" is only allowed when \"stream\" is true");
            goto out;
        }
        if ((rc = read_bool(so, "include_usage", &out->include_usage, err)) != 0)
            goto out;
    }

    if ((rc = read_int(root, "max_tokens", &out->max_tokens, err)) != 0)
        goto out;
    if (api == IG_SIM_API_CHAT && (rc = read_int(root, "max_completion_tokens", &out->max_tokens, err)) != 0)
        goto out;
    if (out->max_tokens != -1 && out->max_tokens < 1) {
        rc = fail(err, "max_tokens", "\"max_tokens\" must be at least 1, got %" PRId64, out->max_tokens);
        goto out;
    }
    int64_t n = 1;
    if ((rc = read_int(root, "n", &n, err)) != 0)
        goto out;
    if (n != 1) {
        rc = fail(err, "n", "only \"n\": 1 is supported");
        goto out;
    }

    if (api == IG_SIM_API_CHAT)
        rc = render_messages(json_object_get(root, "messages"), prompt, err);
    else
        rc = read_prompt(json_object_get(root, "prompt"), prompt, err);
out:
    json_decref(root);
    return rc;
}

/* ---- responses ------------------------------------------------------------------------------- */

static const char *object_name(const struct ig_sim_call *c, int chunk)
{
    if (c->api == IG_SIM_API_CHAT)
        return chunk ? "chat.completion.chunk" : "chat.completion";
    return "text_completion";
}

ig_iov_t ig_sim__oai_chunk_prefix(ig_pool_t *pool, const struct ig_sim_call *c, const char *model_json)
{
    char *p = ig_pool_printf(pool,
                             "data: {\"id\":\"%s\",\"object\":\"%s\",\"created\":%" PRIu64
                             ",\"model\":\"%s\",\"choices\":[{\"index\":0,",
                             c->id, object_name(c, 1), c->created, model_json);
    return ig_iov_cstr(p);
}

int ig_sim__oai_chunk(ig_buf_t *b, const struct ig_sim_call *c, uint32_t i, int last)
{
    static const char tail_more[] = "\",\"logprobs\":null,\"finish_reason\":null}]}\n\n";
    static const char tail_last[] = "\",\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n";
    static const char chat_tail_more[] = "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
    static const char chat_tail_last[] = "\"},\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n";
    static const char chat_first[] = "\"delta\":{\"role\":\"assistant\",\"content\":\"";
    static const char chat_next[] = "\"delta\":{\"content\":\"";
    static const char text_head[] = "\"text\":\"";

    const char *head, *tail;
    size_t head_len, tail_len;
    if (c->api == IG_SIM_API_CHAT) {
        head = i == 0 ? chat_first : chat_next;
        head_len = i == 0 ? sizeof(chat_first) - 1 : sizeof(chat_next) - 1;
        tail = last ? chat_tail_last : chat_tail_more;
        tail_len = last ? sizeof(chat_tail_last) - 1 : sizeof(chat_tail_more) - 1;
    } else {
        head = text_head;
        head_len = sizeof(text_head) - 1;
        tail = last ? tail_last : tail_more;
        tail_len = last ? sizeof(tail_last) - 1 : sizeof(tail_more) - 1;
    }
    ig_iov_t w = ig_sim__oai_word(i);
    size_t need = c->prefix.len + head_len + w.len + tail_len;
    char *p = ig_buf_reserve(b, need);
    if (p == NULL)
        return IG_ETOOBIG;
    memcpy(p, c->prefix.base, c->prefix.len);
    p += c->prefix.len;
    memcpy(p, head, head_len);
    p += head_len;
    memcpy(p, w.base, w.len);
    p += w.len;
    memcpy(p, tail, tail_len);
    ig_buf_commit(b, need);
    return 0;
}

static int append_usage(ig_buf_t *b, const struct ig_sim_call *c)
{
    return ig_buf_appendf(b,
                          "\"usage\":{\"prompt_tokens\":%" PRIu32 ",\"completion_tokens\":%" PRIu32
                          ",\"total_tokens\":%" PRIu32 ",\"prompt_tokens_details\":{\"cached_tokens\":%" PRIu32 "}}",
                          c->prompt_tokens, c->generated, c->prompt_tokens + c->generated, c->cached_tokens);
}

int ig_sim__oai_usage_chunk(ig_buf_t *b, const struct ig_sim_call *c, const char *model_json)
{
    int rc = ig_buf_appendf(
        b, "data: {\"id\":\"%s\",\"object\":\"%s\",\"created\":%" PRIu64 ",\"model\":\"%s\",\"choices\":[],", c->id,
        object_name(c, 1), c->created, model_json);
    if (rc == 0)
        rc = append_usage(b, c);
    if (rc == 0)
        rc = append_lit(b, "}\n\n");
    return rc;
}

int ig_sim__oai_response(ig_buf_t *b, const struct ig_sim_call *c, const char *model_json)
{
    int rc =
        ig_buf_appendf(b, "{\"id\":\"%s\",\"object\":\"%s\",\"created\":%" PRIu64 ",\"model\":\"%s\",\"choices\":[",
                       c->id, object_name(c, 0), c->created, model_json);
    if (rc == 0)
        rc = append_lit(b, c->api == IG_SIM_API_CHAT ? "{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\""
                                                     : "{\"index\":0,\"text\":\"");
    if (rc != 0)
        return rc;
    size_t n = (size_t)c->generated * IG_SIM_CHARS_PER_TOKEN;
    char *p = ig_buf_reserve(b, n);
    if (p == NULL)
        return IG_ETOOBIG;
    for (uint32_t i = 0; i < c->generated; i++)
        memcpy(p + (size_t)i * IG_SIM_CHARS_PER_TOKEN, ig_sim__oai_word(i).base, IG_SIM_CHARS_PER_TOKEN);
    ig_buf_commit(b, n);
    rc = append_lit(b, c->api == IG_SIM_API_CHAT ? "\"},\"logprobs\":null,\"finish_reason\":\"length\"}],"
                                                 : "\",\"logprobs\":null,\"finish_reason\":\"length\"}],");
    if (rc == 0)
        rc = append_usage(b, c);
    if (rc == 0)
        rc = append_lit(b, "}");
    return rc;
}

int ig_sim__oai_models(ig_buf_t *b, const struct ig_sim_app *app)
{
    const struct ig_sim_config *cfg = app->cfg;
    int rc = append_lit(b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; rc == 0 && i <= cfg->num_loras; i++) {
        const char *name = app->model_json[i];
        rc = ig_buf_appendf(b,
                            "%s{\"id\":\"%s\",\"object\":\"model\",\"created\":%" PRIu64
                            ",\"owned_by\":\"infergate\",\"root\":\"%s\",\"parent\":",
                            i == 0 ? "" : ",", name, app->created, name);
        if (rc == 0 && i == 0)
            rc = ig_buf_appendf(b, "null,\"max_model_len\":%" PRIu32 "}", cfg->max_model_len);
        else if (rc == 0)
            rc = ig_buf_appendf(b, "\"%s\"}", app->model_json[0]);
    }
    if (rc == 0)
        rc = append_lit(b, "]}");
    return rc;
}
