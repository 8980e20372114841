/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for ig_h1_parse_request (and, for chunked requests, the body decoder). Besides
 * memory safety it checks the parser's contract: slices stay inside the input, errors carry a
 * reason, and any prefix of the input gives either IG_EINCOMPLETE or the whole input's verdict.
 * The first input byte picks the limits so that both the defaults and tiny limits are explored.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ig/http.h"

#define CHECK(x)                                                                                                       \
    do {                                                                                                               \
        if (!(x))                                                                                                      \
            __builtin_trap();                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse(const char *buf, size_t len, const struct ig_h1_limits *lim, ig_h1_message_t *m,
                 ig_http_header_t *hdrs, size_t cap, const char **what)
{
    memset(m, 0, sizeof(*m));
    m->headers = hdrs;
    m->num_headers = cap;
    return ig_h1_parse_request(buf, len, lim, m, what);
}

static int inside(ig_iov_t v, const char *buf, size_t len)
{
    return v.len == 0 || (v.base >= buf && v.base + v.len <= buf + len);
}

static void check_verdict(const char *buf, size_t len, int rc, const ig_h1_message_t *m, size_t cap, const char *what)
{
    if (rc > 0) {
        CHECK((size_t)rc <= len);
        CHECK(what == NULL);
        CHECK(m->num_headers <= cap);
        CHECK(m->minor_version == 0 || m->minor_version == 1);
        CHECK(m->method.len > 0 && inside(m->method, buf, (size_t)rc));
        CHECK(m->target.len > 0 && inside(m->target, buf, (size_t)rc));
        CHECK(inside(m->host, buf, (size_t)rc));
        for (size_t i = 0; i < m->num_headers; i++) {
            CHECK(m->headers[i].name.len > 0 && inside(m->headers[i].name, buf, (size_t)rc));
            CHECK(inside(m->headers[i].value, buf, (size_t)rc));
        }
        CHECK(m->framing == IG_H1_BODY_NONE || m->framing == IG_H1_BODY_LENGTH || m->framing == IG_H1_BODY_CHUNKED);
        CHECK(m->framing != IG_H1_BODY_LENGTH || (m->content_length > 0 && m->content_length <= INT64_MAX));
    } else {
        CHECK(rc == IG_EINCOMPLETE || rc == IG_EPROTO || rc == IG_ETOOBIG);
        CHECK(rc == IG_EINCOMPLETE || what != NULL);
        CHECK(m->num_headers == cap);
    }
}

static void discard(void *arg, const char *d, size_t n)
{
    (void)d;
    *(size_t *)arg += n;
}

static void run(const char *buf, size_t len, const struct ig_h1_limits *lim, size_t cap)
{
    ig_http_header_t hdrs[128];
    ig_h1_message_t m;
    const char *what = "unset";
    int rc = parse(buf, len, lim, &m, hdrs, cap, &what);
    check_verdict(buf, len, rc, &m, cap, what);

    if (rc > 0 && m.framing == IG_H1_BODY_CHUNKED) {
        ig_h1_chunked_t d;
        size_t body = len - (size_t)rc, got = 0;
        ig_h1_chunked_init(&d);
        int crc = ig_h1_chunked_decode(&d, buf + rc, &body, discard, &got);
        CHECK(crc == 0 || crc == 1 || crc == IG_EPROTO || crc == IG_ETOOBIG);
        CHECK(body <= len - (size_t)rc && got <= body);
    }

    /* prefixes: every one for small inputs, a sample otherwise (each in an exact-size copy) */
    size_t step = len <= 512 ? 1 : len / 64;
    for (size_t k = 0; k < len; k += step) {
        char *copy = malloc(k + 1);
        const char *pwhat = "unset";
        memcpy(copy, buf, k);
        int prc = parse(copy, k, lim, &m, hdrs, cap, &pwhat);
        check_verdict(copy, k, prc, &m, cap, pwhat);
        free(copy);
        if (prc == IG_EINCOMPLETE)
            continue;
        CHECK(prc == rc);
        CHECK(rc > 0 || strcmp(pwhat, what) == 0);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* the first byte selects limits and header capacity; the rest is the request */
    uint8_t sel = data[0];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    struct ig_h1_limits tiny = {32 + (sel & 31), 1 + ((sel >> 5) & 7), 64 + (size_t)(sel & 0xf) * 16};

    if (sel & 0x80)
        run(buf, len, &tiny, 1 + (sel & 15));
    else
        run(buf, len, NULL, 128);
    return 0;
}
