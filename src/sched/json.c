/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A validating JSON scanner that builds nothing: it walks a value structurally (iteratively, with
 * a bit stack for nesting, so hostile depth costs no C stack), checks the grammar of RFC 8259, and
 * hands back raw slices. The OpenAI request reader uses it to find a handful of top-level keys in
 * bodies of up to megabytes; string bodies dominate, so the string loop scans 16 bytes at a time
 * with SSE2 where available. UTF-8 is not validated (Go's decoder, which the reference EPP uses,
 * accepts invalid UTF-8 too).
 */
#include "ig/sched.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* 1 for bytes that end the fast part of a string: '"', '\\' and control characters. */
static const uint8_t str_stop[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
};

static inline const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static inline int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void set_err(struct ig_json_error *err, const char *start, const char *at, const char *why)
{
    if (err != NULL) {
        err->offset = (size_t)(at - start);
        err->why = why;
    }
}

/* |p| is at the opening quote. Returns the byte after the closing quote, or NULL. */
static const char *scan_string(const char *p, const char *end, int *escaped, const char **bad, const char **why)
{
    p++;
    for (;;) {
#ifdef __SSE2__
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                       _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));
            int mask = _mm_movemask_epi8(hit);
            if (mask != 0) {
                p += __builtin_ctz((unsigned)mask);
                goto stop;
            }
            p += 16;
        }
#endif
        while (p < end && !str_stop[(unsigned char)*p])
            p++;
#ifdef __SSE2__
    stop:
#endif
        if (p >= end) {
            *bad = p;
            *why = "unterminated string";
            return NULL;
        }
        if (*p == '"')
            return p + 1;
        if (*p != '\\') {
            *bad = p;
            *why = "control character in string";
            return NULL;
        }
        *escaped = 1;
        if (++p >= end) {
            *bad = p;
            *why = "unterminated string";
            return NULL;
        }
        switch (*p) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
            p++;
            break;
        case 'u':
            if (end - p < 5 || hexval(p[1]) < 0 || hexval(p[2]) < 0 || hexval(p[3]) < 0 || hexval(p[4]) < 0) {
                *bad = p;
                *why = "invalid \\u escape";
                return NULL;
            }
            p += 5;
            break;
        default:
            *bad = p;
            *why = "invalid escape";
            return NULL;
        }
    }
}

static const char *scan_number(const char *p, const char *end)
{
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && is_digit(*p))
            p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p >= end || !is_digit(*p))
            return NULL;
        while (p < end && is_digit(*p))
            p++;
    }
    return p;
}

static const char *scan_literal(const char *p, const char *end, const char *lit, size_t n)
{
    if ((size_t)(end - p) < n || memcmp(p, lit, n) != 0)
        return NULL;
    return p + n;
}

enum ig_json_type ig_json_skip(const char **pp, const char *end, struct ig_json_error *err)
{
    const char *start = *pp, *p = skip_ws(*pp, end), *bad = NULL, *why = NULL;
    uint64_t is_obj[IG_JSON_MAX_DEPTH / 64] = {0};
    int depth = 0, escaped = 0;
    enum ig_json_type type = IG_JSON_INVALID;

value:
    if (p >= end) {
        bad = p;
        why = "unexpected end of input";
        goto fail;
    }
    if (type == IG_JSON_INVALID) {
        switch (*p) {
        case '{':
            type = IG_JSON_OBJECT;
            break;
        case '[':
            type = IG_JSON_ARRAY;
            break;
        case '"':
            type = IG_JSON_STRING;
            break;
        case 't':
            type = IG_JSON_TRUE;
            break;
        case 'f':
            type = IG_JSON_FALSE;
            break;
        case 'n':
            type = IG_JSON_NULL;
            break;
        default:
            type = IG_JSON_NUMBER;
            break;
        }
    }
    switch (*p) {
    case '{':
    case '[':
        if (depth >= IG_JSON_MAX_DEPTH) {
            bad = p;
            why = "nesting too deep";
            goto fail;
        }
        if (*p == '{')
            is_obj[depth / 64] |= UINT64_C(1) << (depth % 64);
        else
            is_obj[depth / 64] &= ~(UINT64_C(1) << (depth % 64));
        depth++;
        p = skip_ws(p + 1, end);
        if (p < end && (*p == '}' || *p == ']')) {
            if ((*p == '}') != ((is_obj[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1)) {
                bad = p;
                why = "mismatched bracket";
                goto fail;
            }
            depth--;
            p++;
            goto next;
        }
        if ((is_obj[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1)
            goto key;
        goto value;
    case '"':
        p = scan_string(p, end, &escaped, &bad, &why);
        if (p == NULL)
            goto fail;
        goto next;
    case 't':
        bad = p;
        p = scan_literal(p, end, "true", 4);
        break;
    case 'f':
        bad = p;
        p = scan_literal(p, end, "false", 5);
        break;
    case 'n':
        bad = p;
        p = scan_literal(p, end, "null", 4);
        break;
    default:
        bad = p;
        p = scan_number(p, end);
        break;
    }
    if (p == NULL) {
        why = "invalid value";
        goto fail;
    }
    goto next;

key:
    if (p >= end || *p != '"') {
        bad = p;
        why = p >= end ? "unexpected end of input" : "expected a string key";
        goto fail;
    }
    p = scan_string(p, end, &escaped, &bad, &why);
    if (p == NULL)
        goto fail;
    p = skip_ws(p, end);
    if (p >= end || *p != ':') {
        bad = p;
        why = "expected ':'";
        goto fail;
    }
    p = skip_ws(p + 1, end);
    goto value;

next:
    if (depth == 0) {
        *pp = p;
        return type;
    }
    p = skip_ws(p, end);
    if (p >= end) {
        bad = p;
        why = "unexpected end of input";
        goto fail;
    }
    {
        int obj = (int)((is_obj[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1);
        if (*p == ',') {
            p = skip_ws(p + 1, end);
            if (obj)
                goto key;
            goto value;
        }
        if (*p == (obj ? '}' : ']')) {
            depth--;
            p++;
            goto next;
        }
        bad = p;
        why = obj ? "expected ',' or '}'" : "expected ',' or ']'";
    }
fail:
    set_err(err, start, bad, why);
    return IG_JSON_INVALID;
}

int ig_json_obj_begin(struct ig_json_iter *it, ig_iov_t obj)
{
    const char *p = skip_ws(obj.base, obj.base + obj.len);
    it->start = obj.base;
    it->end = obj.base + obj.len;
    if (p >= it->end || *p != '{')
        return IG_EINVAL;
    it->p = p + 1;
    it->first = 1;
    return 0;
}

int ig_json_obj_next(struct ig_json_iter *it, struct ig_json_member *m, struct ig_json_error *err)
{
    const char *p = skip_ws(it->p, it->end), *bad = NULL, *why = NULL;
    if (p >= it->end) {
        set_err(err, it->start, p, "unexpected end of input");
        return IG_EINVAL;
    }
    if (*p == '}' && it->first) {
        it->p = p + 1;
        return 0;
    }
    if (!it->first) {
        if (*p == '}') {
            it->p = p + 1;
            return 0;
        }
        if (*p != ',') {
            set_err(err, it->start, p, "expected ',' or '}'");
            return IG_EINVAL;
        }
        p = skip_ws(p + 1, it->end);
    }
    it->first = 0;
    if (p >= it->end || *p != '"') {
        set_err(err, it->start, p, p >= it->end ? "unexpected end of input" : "expected a string key");
        return IG_EINVAL;
    }
    int escaped = 0;
    const char *kend = scan_string(p, it->end, &escaped, &bad, &why);
    if (kend == NULL) {
        set_err(err, it->start, bad, why);
        return IG_EINVAL;
    }
    m->key = ig_iov(p + 1, (size_t)(kend - p - 2));
    m->key_escaped = escaped;
    p = skip_ws(kend, it->end);
    if (p >= it->end || *p != ':') {
        set_err(err, it->start, p, "expected ':'");
        return IG_EINVAL;
    }
    p = skip_ws(p + 1, it->end);
    const char *v = p;
    struct ig_json_error e2;
    m->type = ig_json_skip(&p, it->end, &e2);
    if (m->type == IG_JSON_INVALID) {
        set_err(err, it->start, v + e2.offset, e2.why);
        return IG_EINVAL;
    }
    m->value = ig_iov(v, (size_t)(p - v));
    it->p = p;
    return 1;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static uint32_t hex4(const char *p)
{
    return (uint32_t)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 | hexval(p[3]));
}

/*
 * Decodes the inside of a validated string (|s|, |n| without quotes) into |o|, which has room for
 * |n| bytes (a decoded string is never longer than its escaped form). Returns the decoded length.
 */
static size_t decode(const char *s, size_t n, char *o)
{
    size_t i = 0, k = 0;
    while (i < n) {
        if (s[i] != '\\') {
            o[k++] = s[i++];
            continue;
        }
        char c = s[i + 1];
        i += 2;
        switch (c) {
        case 'b':
            o[k++] = '\b';
            break;
        case 'f':
            o[k++] = '\f';
            break;
        case 'n':
            o[k++] = '\n';
            break;
        case 'r':
            o[k++] = '\r';
            break;
        case 't':
            o[k++] = '\t';
            break;
        case 'u': {
            uint32_t cp = hex4(s + i);
            i += 4;
            if (cp >= 0xd800 && cp < 0xdc00 && i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u') {
                uint32_t lo = hex4(s + i + 2);
                if (lo >= 0xdc00 && lo < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                }
            }
            if (cp >= 0xd800 && cp < 0xe000)
                cp = 0xfffd;
            k += put_utf8(o + k, cp);
            break;
        }
        default: /* '"', '\\', '/' */
            o[k++] = c;
            break;
        }
    }
    return k;
}

int ig_json_key_eq(const struct ig_json_member *m, const char *key)
{
    size_t kl = strlen(key);
    if (!m->key_escaped)
        return m->key.len == kl && memcmp(m->key.base, key, kl) == 0;
    char buf[128];
    if (m->key.len > sizeof(buf))
        return 0; /* an escaped key this long cannot decode to one of ours */
    size_t n = decode(m->key.base, m->key.len, buf);
    return n == kl && memcmp(buf, key, kl) == 0;
}

int ig_json_string(ig_iov_t raw, ig_pool_t *pool, ig_iov_t *out)
{
    const char *p = raw.base, *end = raw.base + raw.len, *bad, *why;
    int escaped = 0;
    if (raw.len < 2 || *p != '"')
        return IG_EINVAL;
    const char *q = scan_string(p, end, &escaped, &bad, &why);
    if (q != end)
        return IG_EINVAL;
    if (!escaped) {
        *out = ig_iov(raw.base + 1, raw.len - 2);
        return 0;
    }
    if (pool == NULL)
        return IG_EINVAL;
    char *o = ig_pool_alloc(pool, raw.len - 1);
    size_t n = decode(raw.base + 1, raw.len - 2, o);
    o[n] = '\0';
    *out = ig_iov(o, n);
    return 0;
}
