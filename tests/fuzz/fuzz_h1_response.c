/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for ig_h1_parse_response: memory safety, slices inside the input, consistent
 * derived fields (bodiless statuses, until-close means no keep-alive), and prefix consistency
 * (any prefix gives IG_EINCOMPLETE or the whole input's verdict). The first input byte selects
 * HEAD and the limits.
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

static int inside(ig_iov_t v, const char *buf, size_t len)
{
    return v.len == 0 || (v.base >= buf && v.base + v.len <= buf + len);
}

static int parse(const char *buf, size_t len, const struct ig_h1_limits *lim, int is_head, ig_h1_message_t *m,
                 ig_http_header_t *hdrs, const char **what)
{
    memset(m, 0, sizeof(*m));
    m->headers = hdrs;
    m->num_headers = 64;
    return ig_h1_parse_response(buf, len, lim, is_head, m, what);
}

static void check_verdict(const char *buf, size_t len, int rc, int is_head, const ig_h1_message_t *m, const char *what)
{
    if (rc > 0) {
        CHECK((size_t)rc <= len && what == NULL);
        CHECK(m->status >= 100 && m->status <= 599);
        CHECK(inside(m->reason, buf, (size_t)rc));
        CHECK(m->num_headers <= 64);
        for (size_t i = 0; i < m->num_headers; i++)
            CHECK(inside(m->headers[i].name, buf, (size_t)rc) && inside(m->headers[i].value, buf, (size_t)rc));
        if (is_head || m->status < 200 || m->status == 204 || m->status == 304)
            CHECK(m->framing == IG_H1_BODY_NONE);
        if (m->framing == IG_H1_BODY_UNTIL_CLOSE)
            CHECK(m->keep_alive == 0);
    } else {
        CHECK(rc == IG_EINCOMPLETE || rc == IG_EPROTO || rc == IG_ETOOBIG);
        CHECK(rc == IG_EINCOMPLETE || what != NULL);
        CHECK(m->num_headers == 64);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t sel = data[0];
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    int is_head = sel & 1;
    struct ig_h1_limits tiny = {24 + (sel >> 3), 1 + ((sel >> 1) & 3), 48 + (size_t)sel};
    const struct ig_h1_limits *lim = (sel & 0x40) ? &tiny : NULL;
    ig_http_header_t hdrs[64];
    ig_h1_message_t m;
    const char *what = "unset";

    int rc = parse(buf, len, lim, is_head, &m, hdrs, &what);
    check_verdict(buf, len, rc, is_head, &m, what);

    size_t step = len <= 512 ? 1 : len / 64;
    for (size_t k = 0; k < len; k += step) {
        char *copy = malloc(k + 1);
        const char *pwhat = "unset";
        memcpy(copy, buf, k);
        int prc = parse(copy, k, lim, is_head, &m, hdrs, &pwhat);
        check_verdict(copy, k, prc, is_head, &m, pwhat);
        free(copy);
        if (prc == IG_EINCOMPLETE)
            continue;
        CHECK(prc == rc);
        CHECK(rc > 0 || strcmp(pwhat, what) == 0);
        break;
    }
    return 0;
}
