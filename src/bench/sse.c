/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Server-Sent Events for `infergate bench`: an incremental parser that turns response body bytes,
 * split anywhere, into events (the WHATWG event-stream rules: lines end with CRLF, LF or CR; "data"
 * lines accumulate, one optional space after the colon is dropped; comments and other fields are
 * ignored; a blank line dispatches), and a scanner that reads what the bench needs from an OpenAI
 * stream chunk (token text, usage, [DONE], error) without building a JSON tree: streams carry one
 * chunk per token and the scanner keeps the client cheap at hundreds of thousands of tokens per
 * second.
 */
#include "bench_int.h"

void ig_bench__sse_init(struct ig_bench_sse *p, size_t max)
{
    memset(p, 0, sizeof(*p));
    ig_buf_init(&p->line, max);
    ig_buf_init(&p->data, max);
}

void ig_bench__sse_dispose(struct ig_bench_sse *p)
{
    ig_buf_dispose(&p->line);
    ig_buf_dispose(&p->data);
}

/* One complete line (without its terminator). */
static int on_line(struct ig_bench_sse *p, const char *s, size_t n, ig_bench_sse_cb cb, void *arg)
{
    if (n == 0) {
        if (p->has_data) {
            size_t len = p->data.len;
            if (len > 0 && ig_buf_data(&p->data)[len - 1] == '\n')
                len--; /* the last data line's newline is not part of the data */
            cb(arg, ig_buf_data(&p->data), len);
        }
        ig_buf_reset(&p->data);
        p->has_data = 0;
        return 0;
    }
    if (s[0] == ':')
        return 0; /* comment */
    const char *colon = memchr(s, ':', n);
    size_t name_len = colon != NULL ? (size_t)(colon - s) : n;
    if (name_len != 4 || memcmp(s, "data", 4) != 0)
        return 0; /* event, id, retry and unknown fields: not needed */
    const char *v = colon != NULL ? colon + 1 : s + n;
    size_t vlen = (size_t)(s + n - v);
    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }
    if (ig_buf_append(&p->data, v, vlen) != 0 || ig_buf_append(&p->data, "\n", 1) != 0)
        return IG_ETOOBIG;
    p->has_data = 1;
    return 0;
}

int ig_bench__sse_feed(struct ig_bench_sse *p, const char *in, size_t len, ig_bench_sse_cb cb, void *arg)
{
    size_t i = 0;
    int rc;
    while (i < len) {
        if (p->skip_lf) {
            p->skip_lf = 0;
            if (in[i] == '\n') {
                i++;
                continue;
            }
        }
        /* Find the end of the line in this chunk. */
        size_t j = i;
        while (j < len && in[j] != '\n' && in[j] != '\r')
            j++;
        if (j == len) {
            if (ig_buf_append(&p->line, in + i, len - i) != 0)
                return IG_ETOOBIG;
            return 0;
        }
        if (p->line.len > 0) {
            if (ig_buf_append(&p->line, in + i, j - i) != 0)
                return IG_ETOOBIG;
            rc = on_line(p, ig_buf_data(&p->line), p->line.len, cb, arg);
            ig_buf_reset(&p->line);
        } else {
            rc = on_line(p, in + i, j - i, cb, arg);
        }
        if (rc != 0)
            return rc;
        p->skip_lf = in[j] == '\r';
        i = j + 1;
    }
    return 0;
}

/* ---- chunk scanner --------------------------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/*
 * Finds member |key| (with quotes, e.g. "\"usage\"") and returns a pointer to its value, or NULL.
 * Inside JSON strings every quote is escaped, so the quoted key followed by a colon can only be a
 * member name: a string value such as "text" in {"type":"text"} is skipped because no colon follows.
 */
static const char *find_member(const char *p, const char *end, const char *key)
{
    size_t klen = strlen(key);
    while (p < end) {
        const char *k = memmem(p, (size_t)(end - p), key, klen);
        if (k == NULL)
            return NULL;
        /* an escaped quote (\") is not the start of a key */
        const char *after = skip_ws(k + klen, end);
        if ((k == p || k[-1] != '\\') && after < end && *after == ':')
            return skip_ws(after + 1, end);
        p = k + klen;
    }
    return NULL;
}

/* The raw contents of the string at |p| (which points at its opening quote). */
static int string_at(const char *p, const char *end, ig_iov_t *out)
{
    if (p >= end || *p != '"')
        return 0;
    const char *s = ++p;
    while (p < end && *p != '"') {
        if (*p == '\\')
            p++;
        p++;
    }
    if (p >= end)
        return 0;
    *out = ig_iov(s, (size_t)(p - s));
    return 1;
}

static uint64_t number_at(const char *p, const char *end)
{
    uint64_t v = 0;
    while (p < end && *p >= '0' && *p <= '9' && v < ((uint64_t)1 << 60))
        v = v * 10 + (uint64_t)(*p++ - '0');
    return v;
}

/* The end of the object starting at |p| ('{'), skipping strings; |end| if unterminated. */
static const char *object_end(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        char ch = *p;
        if (ch == '"') {
            ig_iov_t s;
            if (!string_at(p, end, &s))
                return end;
            p = s.base + s.len + 1;
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if ((ch == '}' || ch == ']') && --depth == 0)
            return p + 1;
        p++;
    }
    return end;
}

void ig_bench__chunk_scan(const char *data, size_t len, struct ig_bench_chunk *out)
{
    const char *end = data + len, *v;
    memset(out, 0, sizeof(*out));
    ig_iov_t t = ig_iov_trim(ig_iov(data, len));
    if (ig_iov_eq(t, IG_STRLIT("[DONE]"))) {
        out->done = 1;
        return;
    }
    if ((v = find_member(data, end, "\"error\"")) != NULL && v < end && *v != 'n')
        out->error = 1;
    if ((v = find_member(data, end, "\"usage\"")) != NULL && v < end && *v == '{') {
        const char *uend = object_end(v, end), *n;
        out->has_usage = 1;
        if ((n = find_member(v, uend, "\"prompt_tokens\"")) != NULL)
            out->prompt_tokens = number_at(n, uend);
        if ((n = find_member(v, uend, "\"completion_tokens\"")) != NULL)
            out->completion_tokens = number_at(n, uend);
        if ((n = find_member(v, uend, "\"cached_tokens\"")) != NULL)
            out->cached_tokens = number_at(n, uend);
    }
    if ((v = find_member(data, end, "\"choices\"")) == NULL)
        return;
    /* completions: choices[].text; chat: choices[].delta.content (or message.content) */
    if ((v = find_member(data, end, "\"text\"")) != NULL || (v = find_member(data, end, "\"content\"")) != NULL)
        out->has_text = string_at(v, end, &out->text);
}
