/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 message heads (RFC 9112): the request line or status line and the header block,
 * parsed incrementally and without copying. The caller passes everything received so far; the
 * result is either the head's length with slices into that buffer, IG_EINCOMPLETE, or an error.
 * Every decision depends only on bytes already scanned and on the limits, so feeding a head byte
 * by byte yields the same verdict as feeding it at once, and limits fire while the head is still
 * incomplete. The parser is strict wherever two HTTP implementations could disagree on message
 * boundaries (request smuggling): each such input is IG_EPROTO with a static reason.
 */
#include "ig/http.h"

#include <limits.h>

/* Byte classes, one bit each (see the table below). */
enum {
    C_TCHAR = 1,  /* token: methods and field names */
    C_VALUE = 2,  /* field-value and reason-phrase bytes: HTAB, SP, VCHAR, obs-text */
    C_TARGET = 4, /* request-target and version bytes: VCHAR */
    C_HOST = 8,   /* uri-host [":" port], IP literals and pct-encoding included */
    C_HEX = 16,
};

static const uint8_t ctype[256] = {
    0,  0,  0,  0,  0,  0,  0,  0,  0,  2,  0,  0,  0,  0,  0,  0,  /* 0x00 */
    0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  /* 0x10 */
    2,  15, 6,  7,  15, 15, 15, 15, 14, 14, 15, 15, 14, 15, 15, 6,  /* 0x20 */
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 14, 14, 6,  14, 6,  6,  /* 0x30 */
    6,  31, 31, 31, 31, 31, 31, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 0x40 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 14, 6,  14, 7,  15, /* 0x50 */
    7,  31, 31, 31, 31, 31, 31, 15, 15, 15, 15, 15, 15, 15, 15, 15, /* 0x60 */
    15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 15, 6,  7,  6,  15, 0,  /* 0x70 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 0x80 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 0x90 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 0xa0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 0xb0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 0xc0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 0xd0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 0xe0 */
    2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  /* 0xf0 */
};

#define IS(c, cls) (ctype[(uint8_t)(c)] & (cls))

/* Static reasons; the server maps the two ETOOBIG ones to 414 and 431. */
static const char WHAT_LINE_TOO_LONG[] = "request line too long";
static const char WHAT_STATUS_TOO_LONG[] = "status line too long";
static const char WHAT_HEADERS_TOO_LARGE[] = "headers too large";

/*
 * Limits are capped so that a whole head always fits the int return value; 256 MiB is far above
 * anything a deployment would configure.
 */
#define LIMIT_CAP ((size_t)1 << 28)

struct h1_ctx {
    const char *buf;
    size_t len;
    const char *what;
    struct ig_h1_limits lim;
};

static void ctx_init(struct h1_ctx *c, const char *buf, size_t len, const struct ig_h1_limits *limits)
{
    const struct ig_h1_limits def = IG_H1_LIMITS_DEFAULT;

    c->buf = buf;
    c->len = len;
    c->what = NULL;
    c->lim = limits != NULL ? *limits : def;
    /* A zero field means "default", like the server and client configs. */
    if (c->lim.max_request_line == 0)
        c->lim.max_request_line = def.max_request_line;
    if (c->lim.max_headers == 0)
        c->lim.max_headers = def.max_headers;
    if (c->lim.max_header_bytes == 0)
        c->lim.max_header_bytes = def.max_header_bytes;
    c->lim.max_request_line = IG_MIN(c->lim.max_request_line, LIMIT_CAP);
    c->lim.max_header_bytes = IG_MIN(c->lim.max_header_bytes, LIMIT_CAP);
}

static int fail(struct h1_ctx *c, int err, const char *what)
{
    c->what = what;
    return err;
}

/*
 * The scan of a section reached |end| = min(len, limit): either the input ran out before the
 * limit (wait for more) or the section does not fit its limit (fail now, not when it completes).
 */
static int starve(struct h1_ctx *c, size_t limit, const char *toobig)
{
    if (c->len < limit)
        return IG_EINCOMPLETE;
    return fail(c, IG_ETOOBIG, toobig);
}

/* ASCII case-insensitive comparison of a token against a lower-case literal. */
static int token_eq(const char *s, size_t len, const char *lower, size_t lower_len)
{
    if (len != lower_len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (unsigned char)(ch + ('a' - 'A'));
        if (ch != (unsigned char)lower[i])
            return 0;
    }
    return 1;
}
#define TOKEN_EQ(s, len, lit) token_eq((s), (len), (lit), sizeof(lit) - 1)

static int is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

/*
 * Advances |p| over field-value bytes in [p, end). Eight bytes at a time: a word is skipped
 * whole when none of its bytes is below 0x20 or equal to 0x7f (HTAB, which is allowed, sends the
 * word through the byte loop). Loads stay inside [p, end).
 */
static size_t scan_value(const char *buf, size_t p, size_t end)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, buf + p, 8);
        uint64_t lt20 = (w - ones * 0x20) & ~w & highs;
        uint64_t x7f = w ^ (ones * 0x7f);
        uint64_t eq7f = (x7f - ones) & ~x7f & highs;
        if ((lt20 | eq7f) != 0)
            break;
        p += 8;
    }
    while (p < end && IS(buf[p], C_VALUE))
        p++;
    return p;
}

/* Maps the byte that ended a line's scan to a reason. */
static const char *bad_byte_reason(char ch, const char *other)
{
    if (ch == '\n')
        return "bare LF";
    if (ch == '\r')
        return "bare CR";
    return other;
}

/* |v| is a version token "HTTP/x.y": sets the minor version, or fails. */
static int check_version(struct h1_ctx *c, const char *v, size_t n, int *minor)
{
    if (n == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' &&
        v[7] <= '9') {
        if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
            return fail(c, IG_EPROTO, "unsupported version");
        *minor = v[7] - '0';
        return 0;
    }
    return fail(c, IG_EPROTO, "invalid version");
}

/* Skips empty lines before a request line (RFC 9112 2.2); they count against the line limit. */
static int skip_empty_lines(struct h1_ctx *c, size_t limit, size_t end, size_t *pos)
{
    size_t p = 0;

    for (;;) {
        if (p >= end)
            return starve(c, limit, WHAT_LINE_TOO_LONG);
        if (c->buf[p] == '\n')
            return fail(c, IG_EPROTO, "bare LF");
        if (c->buf[p] != '\r')
            break;
        if (p + 1 >= end)
            return starve(c, limit, WHAT_LINE_TOO_LONG);
        if (c->buf[p + 1] != '\n')
            return fail(c, IG_EPROTO, "bare CR");
        p += 2;
    }
    *pos = p;
    return 0;
}

/* method SP request-target SP HTTP-version CRLF; returns the offset after the CRLF. */
static int parse_request_line(struct h1_ctx *c, ig_h1_message_t *msg, size_t *pos)
{
    const char *buf = c->buf;
    size_t limit = c->lim.max_request_line + 2; /* the line plus its CRLF */
    size_t end = IG_MIN(c->len, limit);
    size_t p, start;
    int rc;

    if ((rc = skip_empty_lines(c, limit, end, &p)) != 0)
        return rc;

    start = p;
    while (p < end && IS(buf[p], C_TCHAR))
        p++;
    if (p >= end)
        return starve(c, limit, WHAT_LINE_TOO_LONG);
    if (buf[p] != ' ' || p == start)
        return fail(c, IG_EPROTO, bad_byte_reason(buf[p], "invalid method"));
    msg->method = ig_iov(buf + start, p - start);

    start = ++p;
    while (p < end && IS(buf[p], C_TARGET))
        p++;
    if (p >= end)
        return starve(c, limit, WHAT_LINE_TOO_LONG);
    if (buf[p] != ' ' || p == start)
        return fail(c, IG_EPROTO, bad_byte_reason(buf[p], "invalid request target"));
    msg->target = ig_iov(buf + start, p - start);

    start = ++p;
    while (p < end && IS(buf[p], C_TARGET))
        p++;
    if (p >= end)
        return starve(c, limit, WHAT_LINE_TOO_LONG);
    if (buf[p] == ' ')
        return fail(c, IG_EPROTO, "invalid request target"); /* a space inside the target */
    if (buf[p] != '\r')
        return fail(c, IG_EPROTO, bad_byte_reason(buf[p], "control byte in request line"));
    if (p + 1 >= end)
        return starve(c, limit, WHAT_LINE_TOO_LONG);
    if (buf[p + 1] != '\n')
        return fail(c, IG_EPROTO, "bare CR");
    if ((rc = check_version(c, buf + start, p - start, &msg->minor_version)) != 0)
        return rc;
    *pos = p + 2;
    return 0;
}

/* HTTP-version SP 3DIGIT SP [reason-phrase] CRLF (a missing SP before an empty reason is tolerated). */
static int parse_status_line(struct h1_ctx *c, ig_h1_message_t *msg, size_t *pos)
{
    const char *buf = c->buf;
    size_t limit = c->lim.max_request_line + 2;
    size_t end = IG_MIN(c->len, limit);
    size_t p = 0, start;
    int rc, status = 0;

    while (p < end && IS(buf[p], C_TARGET))
        p++;
    if (p >= end)
        return starve(c, limit, WHAT_STATUS_TOO_LONG);
    if (buf[p] != ' ')
        return fail(c, IG_EPROTO, bad_byte_reason(buf[p], "invalid status line"));
    if ((rc = check_version(c, buf, p, &msg->minor_version)) != 0)
        return rc;
    p++;

    for (int i = 0; i < 3; i++, p++) {
        if (p >= end)
            return starve(c, limit, WHAT_STATUS_TOO_LONG);
        if (buf[p] < '0' || buf[p] > '9')
            return fail(c, IG_EPROTO, "invalid status");
        status = status * 10 + (buf[p] - '0');
    }
    if (status < 100 || status > 599)
        return fail(c, IG_EPROTO, "invalid status");
    msg->status = status;

    if (p >= end)
        return starve(c, limit, WHAT_STATUS_TOO_LONG);
    if (buf[p] == ' ')
        p++;
    else if (buf[p] != '\r')
        return fail(c, IG_EPROTO, bad_byte_reason(buf[p], "invalid status"));
    start = p;
    p = scan_value(buf, p, end);
    if (p >= end)
        return starve(c, limit, WHAT_STATUS_TOO_LONG);
    if (buf[p] != '\r')
        return fail(c, IG_EPROTO, bad_byte_reason(buf[p], "control byte in status line"));
    if (p + 1 >= end)
        return starve(c, limit, WHAT_STATUS_TOO_LONG);
    if (buf[p + 1] != '\n')
        return fail(c, IG_EPROTO, "bare CR");
    msg->reason = ig_iov(buf + start, p - start);
    *pos = p + 2;
    return 0;
}

/*
 * field-line CRLF ... CRLF from |*pos|. The block (its lines and the final empty line) must fit
 * max_header_bytes, and the count min(max_headers, capacity). On success |*pos| is the end of
 * the head and msg->num_headers the count.
 */
static int parse_headers(struct h1_ctx *c, ig_h1_message_t *msg, size_t *pos)
{
    const char *buf = c->buf;
    size_t p = *pos;
    size_t limit = p + c->lim.max_header_bytes;
    size_t end = IG_MIN(c->len, limit);
    size_t max_count = IG_MIN(c->lim.max_headers, msg->num_headers);
    size_t n = 0;

    for (;;) {
        size_t name, vstart, vend;

        if (p >= end)
            return starve(c, limit, WHAT_HEADERS_TOO_LARGE);
        if (buf[p] == '\r') {
            if (p + 1 >= end)
                return starve(c, limit, WHAT_HEADERS_TOO_LARGE);
            if (buf[p + 1] != '\n')
                return fail(c, IG_EPROTO, "bare CR");
            msg->num_headers = n;
            *pos = p + 2;
            return 0;
        }
        if (is_ows(buf[p]))
            return fail(c, IG_EPROTO, "obs-fold");

        name = p;
        while (p < end && IS(buf[p], C_TCHAR))
            p++;
        if (p >= end)
            return starve(c, limit, WHAT_HEADERS_TOO_LARGE);
        if (buf[p] != ':') {
            if (is_ows(buf[p]) && p > name)
                return fail(c, IG_EPROTO, "whitespace before colon");
            if (buf[p] == '\r' || buf[p] == '\n')
                return fail(c, IG_EPROTO, "header without colon");
            return fail(c, IG_EPROTO, "invalid header name");
        }
        if (p == name)
            return fail(c, IG_EPROTO, "empty header name");
        if (n >= max_count)
            return fail(c, IG_ETOOBIG, WHAT_HEADERS_TOO_LARGE);
        msg->headers[n].name = ig_iov(buf + name, p - name);

        p++;
        while (p < end && is_ows(buf[p]))
            p++;
        vstart = p;
        p = scan_value(buf, p, end);
        if (p >= end)
            return starve(c, limit, WHAT_HEADERS_TOO_LARGE);
        if (buf[p] != '\r')
            return fail(c, IG_EPROTO, bad_byte_reason(buf[p], "control byte in header value"));
        if (p + 1 >= end)
            return starve(c, limit, WHAT_HEADERS_TOO_LARGE);
        if (buf[p + 1] != '\n')
            return fail(c, IG_EPROTO, "bare CR");
        vend = p;
        while (vend > vstart && is_ows(buf[vend - 1]))
            vend--;
        msg->headers[n].value = ig_iov(buf + vstart, vend - vstart);
        n++;
        p += 2;
    }
}

/* ---- derived fields -------------------------------------------------------------------------- */

/* What the framing-relevant headers said, accumulated over the header list. */
struct h1_fields {
    int cl_count;
    uint64_t cl;
    int te_count;        /* Transfer-Encoding lines */
    int te_codings;      /* codings over all lines */
    int te_chunked_last; /* the last coding seen is "chunked" */
    int te_only_chunked; /* exactly one coding, "chunked" */
    int host_count;
    ig_iov_t host;
    int conn_close, conn_keep_alive, conn_upgrade;
    int upgrade;
    int expect_continue;
};

/* Content-Length = 1*DIGIT, at most INT64_MAX (the request model carries it as int64_t). */
static int parse_content_length(ig_iov_t v, uint64_t *out)
{
    uint64_t n = 0;

    if (v.len == 0)
        return IG_EPROTO;
    for (size_t i = 0; i < v.len; i++) {
        unsigned d = (unsigned)(unsigned char)v.base[i] - '0';
        if (d > 9)
            return IG_EPROTO;
        if (n > ((uint64_t)INT64_MAX - d) / 10)
            return IG_EPROTO;
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

/*
 * Calls |fn| for each non-empty element of a comma-separated list (RFC 9110 5.6.1), OWS trimmed.
 * Returns the first non-zero value |fn| returns.
 */
static int for_each_element(ig_iov_t v, int (*fn)(struct h1_fields *f, const char *s, size_t n), struct h1_fields *f)
{
    size_t i = 0;

    while (i < v.len) {
        size_t s = i, e;
        while (i < v.len && v.base[i] != ',')
            i++;
        e = i;
        while (s < e && is_ows(v.base[s]))
            s++;
        while (e > s && is_ows(v.base[e - 1]))
            e--;
        if (e > s) {
            int rc = fn(f, v.base + s, e - s);
            if (rc != 0)
                return rc;
        }
        i++; /* past the comma */
    }
    return 0;
}

static int on_connection_token(struct h1_fields *f, const char *s, size_t n)
{
    if (TOKEN_EQ(s, n, "close"))
        f->conn_close = 1;
    else if (TOKEN_EQ(s, n, "keep-alive"))
        f->conn_keep_alive = 1;
    else if (TOKEN_EQ(s, n, "upgrade"))
        f->conn_upgrade = 1;
    return 0;
}

static int on_transfer_coding(struct h1_fields *f, const char *s, size_t n)
{
    /* Nothing may follow "chunked": a coding after it would leave the message length undefined. */
    if (f->te_chunked_last)
        return IG_EPROTO;
    f->te_chunked_last = TOKEN_EQ(s, n, "chunked");
    f->te_codings++;
    return 0;
}

static int valid_host(ig_iov_t v)
{
    for (size_t i = 0; i < v.len; i++)
        if (!IS(v.base[i], C_HOST))
            return 0;
    return 1;
}

/* |is_request|: Host is validated on requests only (a response's Host means nothing to us). */
static int collect_fields(struct h1_ctx *c, const ig_h1_message_t *msg, int is_request, struct h1_fields *f)
{
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < msg->num_headers; i++) {
        ig_iov_t name = msg->headers[i].name, value = msg->headers[i].value;

        switch (name.len) {
        case 4:
            if (is_request && TOKEN_EQ(name.base, name.len, "host")) {
                if (++f->host_count > 1)
                    return fail(c, IG_EPROTO, "duplicate host");
                if (!valid_host(value))
                    return fail(c, IG_EPROTO, "invalid host");
                f->host = value;
            }
            break;
        case 6:
            if (TOKEN_EQ(name.base, name.len, "expect") && TOKEN_EQ(value.base, value.len, "100-continue"))
                f->expect_continue = 1;
            break;
        case 7:
            if (TOKEN_EQ(name.base, name.len, "upgrade") && value.len > 0)
                f->upgrade = 1;
            break;
        case 10:
            if (TOKEN_EQ(name.base, name.len, "connection"))
                for_each_element(value, on_connection_token, f);
            break;
        case 14:
            if (TOKEN_EQ(name.base, name.len, "content-length")) {
                /* Even equal duplicates are refused: a peer that sends two may be probing for a
                 * front end that honours the other one. */
                if (++f->cl_count > 1)
                    return fail(c, IG_EPROTO, "duplicate content-length");
                if (parse_content_length(value, &f->cl) != 0)
                    return fail(c, IG_EPROTO, "invalid content-length");
            }
            break;
        case 17:
            if (TOKEN_EQ(name.base, name.len, "transfer-encoding")) {
                int before = f->te_codings;
                f->te_count++;
                if (for_each_element(value, on_transfer_coding, f) != 0)
                    return fail(c, IG_EPROTO, "chunked not last transfer-coding");
                if (f->te_codings == before)
                    return fail(c, IG_EPROTO, "empty transfer-encoding");
            }
            break;
        default:
            break;
        }
    }
    f->te_only_chunked = f->te_count == 1 && f->te_codings == 1 && f->te_chunked_last;
    if (f->cl_count > 0 && f->te_count > 0)
        return fail(c, IG_EPROTO, "content-length with transfer-encoding");
    /* RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing. */
    if (f->te_count > 0 && msg->minor_version == 0)
        return fail(c, IG_EPROTO, "transfer-encoding in HTTP/1.0");
    return 0;
}

static int keep_alive(const ig_h1_message_t *msg, const struct h1_fields *f)
{
    if (f->conn_close)
        return 0;
    return msg->minor_version == 1 ? 1 : f->conn_keep_alive;
}

/*
 * The authority of an absolute-form target ("http://host:port/path"), which takes precedence
 * over Host (RFC 9112 3.2.2). Returns 1 with |*auth| set, 0 for other forms, or IG_EPROTO.
 */
static int absolute_authority(ig_iov_t t, ig_iov_t *auth)
{
    size_t skip;

    if (t.len >= 7 && token_eq(t.base, 7, "http://", 7))
        skip = 7;
    else if (t.len >= 8 && token_eq(t.base, 8, "https://", 8))
        skip = 8;
    else
        return 0;
    size_t e = skip;
    while (e < t.len && t.base[e] != '/' && t.base[e] != '?' && t.base[e] != '#')
        e++;
    *auth = ig_iov(t.base + skip, e - skip);
    /* Empty authorities and userinfo (RFC 9110 4.2.4) are refused. */
    if (auth->len == 0 || !valid_host(*auth) || memchr(auth->base, '@', auth->len) != NULL)
        return IG_EPROTO;
    return 1;
}

static void message_reset(ig_h1_message_t *msg)
{
    ig_http_header_t *headers = msg->headers;
    size_t cap = msg->num_headers;

    memset(msg, 0, sizeof(*msg));
    msg->headers = headers;
    msg->num_headers = cap;
}

/* Leaves the capacity in num_headers on failure, so the caller can simply call again. */
static int finish(struct h1_ctx *c, ig_h1_message_t *msg, size_t cap, int rc, const char **what)
{
    if (rc < 0)
        msg->num_headers = cap;
    if (what != NULL)
        *what = c->what;
    return rc;
}

int ig_h1_parse_request(const char *buf, size_t len, const struct ig_h1_limits *limits, ig_h1_message_t *msg,
                        const char **what)
{
    struct h1_ctx c;
    struct h1_fields f;
    size_t cap = msg->num_headers, pos = 0;
    int rc;

    ctx_init(&c, buf, len, limits);
    message_reset(msg);
    if ((rc = parse_request_line(&c, msg, &pos)) != 0 || (rc = parse_headers(&c, msg, &pos)) != 0 ||
        (rc = collect_fields(&c, msg, 1, &f)) != 0)
        goto out;

    if (f.te_count > 0 && !f.te_only_chunked) {
        /* A request body in another coding cannot be delimited by us (RFC 9112 6.3, item 4). */
        rc = fail(&c, IG_EPROTO, "unsupported transfer-encoding");
        goto out;
    }
    if (msg->minor_version == 1 && f.host_count == 0) {
        rc = fail(&c, IG_EPROTO, "missing host");
        goto out;
    }
    rc = absolute_authority(msg->target, &msg->host);
    if (rc < 0) {
        rc = fail(&c, IG_EPROTO, "invalid request target");
        goto out;
    }
    if (rc == 0)
        msg->host = f.host;

    if (f.te_count > 0) {
        msg->framing = IG_H1_BODY_CHUNKED;
    } else if (f.cl_count > 0) {
        msg->content_length = f.cl;
        msg->framing = f.cl > 0 ? IG_H1_BODY_LENGTH : IG_H1_BODY_NONE;
    }
    msg->keep_alive = keep_alive(msg, &f);
    msg->expect_continue = f.expect_continue && msg->minor_version == 1; /* RFC 9110 10.1.1 */
    msg->upgrade = f.conn_upgrade && f.upgrade;
    rc = (int)pos;
out:
    return finish(&c, msg, cap, rc, what);
}

int ig_h1_parse_response(const char *buf, size_t len, const struct ig_h1_limits *limits, int is_head,
                         ig_h1_message_t *msg, const char **what)
{
    struct h1_ctx c;
    struct h1_fields f;
    size_t cap = msg->num_headers, pos = 0;
    int rc;

    ctx_init(&c, buf, len, limits);
    message_reset(msg);
    if ((rc = parse_status_line(&c, msg, &pos)) != 0 || (rc = parse_headers(&c, msg, &pos)) != 0 ||
        (rc = collect_fields(&c, msg, 0, &f)) != 0)
        goto out;

    msg->keep_alive = keep_alive(msg, &f);
    msg->upgrade = f.conn_upgrade && f.upgrade;
    if (f.cl_count > 0)
        msg->content_length = f.cl;
    if (msg->status < 200 || msg->status == 204 || msg->status == 304 || is_head) {
        msg->framing = IG_H1_BODY_NONE; /* RFC 9112 6.3, item 1 */
    } else if (f.te_count > 0) {
        if (f.te_chunked_last) {
            msg->framing = IG_H1_BODY_CHUNKED;
        } else {
            msg->framing = IG_H1_BODY_UNTIL_CLOSE; /* RFC 9112 6.3, item 4 */
            msg->keep_alive = 0;
        }
    } else if (f.cl_count > 0) {
        msg->framing = f.cl > 0 ? IG_H1_BODY_LENGTH : IG_H1_BODY_NONE;
    } else {
        msg->framing = IG_H1_BODY_UNTIL_CLOSE;
        msg->keep_alive = 0;
    }
    rc = (int)pos;
out:
    return finish(&c, msg, cap, rc, what);
}
