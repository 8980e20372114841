/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The values gRPC carries in HTTP/2 headers and trailers: grpc-status codes and their names,
 * content-type recognition, the percent-encoded grpc-message and the grpc-timeout format.
 */
#include <stdio.h>

#include "ig/grpc.h"

static const char *const status_names[IG_GRPC_STATUS_COUNT] = {
    [IG_GRPC_OK] = "OK",
    [IG_GRPC_CANCELLED] = "CANCELLED",
    [IG_GRPC_UNKNOWN] = "UNKNOWN",
    [IG_GRPC_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
    [IG_GRPC_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
    [IG_GRPC_NOT_FOUND] = "NOT_FOUND",
    [IG_GRPC_ALREADY_EXISTS] = "ALREADY_EXISTS",
    [IG_GRPC_PERMISSION_DENIED] = "PERMISSION_DENIED",
    [IG_GRPC_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
    [IG_GRPC_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
    [IG_GRPC_ABORTED] = "ABORTED",
    [IG_GRPC_OUT_OF_RANGE] = "OUT_OF_RANGE",
    [IG_GRPC_UNIMPLEMENTED] = "UNIMPLEMENTED",
    [IG_GRPC_INTERNAL] = "INTERNAL",
    [IG_GRPC_UNAVAILABLE] = "UNAVAILABLE",
    [IG_GRPC_DATA_LOSS] = "DATA_LOSS",
    [IG_GRPC_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *ig_grpc_status_name(int code)
{
    if (code < 0 || code >= IG_GRPC_STATUS_COUNT)
        return "UNKNOWN";
    return status_names[code];
}

int ig_grpc_status_parse(ig_iov_t value, int *code)
{
    uint64_t v;
    /* Anything wider than a few digits is not a status; the bound keeps the int conversion safe. */
    if (value.len > 9 || ig_iov_to_u64(value, &v) != 0)
        return IG_EINVAL;
    *code = (int)v;
    return 0;
}

int ig_grpc_status_from_http(int http_status)
{
    switch (http_status) {
    case 400:
        return IG_GRPC_INTERNAL;
    case 401:
        return IG_GRPC_UNAUTHENTICATED;
    case 403:
        return IG_GRPC_PERMISSION_DENIED;
    case 404:
        return IG_GRPC_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return IG_GRPC_UNAVAILABLE;
    default:
        return IG_GRPC_UNKNOWN;
    }
}

int ig_grpc_status_from_err(int err)
{
    switch (err) {
    case 0:
        return IG_GRPC_OK;
    case IG_ETOOBIG:
        return IG_GRPC_RESOURCE_EXHAUSTED;
    case IG_EUNSUPPORTED:
        return IG_GRPC_UNIMPLEMENTED;
    case IG_ETIMEDOUT:
        return IG_GRPC_DEADLINE_EXCEEDED;
    case IG_ECANCELED:
        return IG_GRPC_CANCELLED;
    case IG_ECONNECT:
    case IG_ECLOSED:
    case IG_ERESET:
        return IG_GRPC_UNAVAILABLE;
    case IG_EINVAL:
        return IG_GRPC_INVALID_ARGUMENT;
    default:
        return IG_GRPC_INTERNAL;
    }
}

int ig_grpc_is_content_type(ig_iov_t value)
{
    static const char base[] = "application/grpc";
    const size_t n = sizeof(base) - 1;
    if (value.len < n || !ig_iov_eq_nocase(ig_iov(value.base, n), ig_iov(base, n)))
        return 0;
    /* "application/grpc", "application/grpc+proto", "application/grpc; charset=..." */
    return value.len == n || value.base[n] == '+' || value.base[n] == ';';
}

/* ---- grpc-message ---------------------------------------------------------------------------- */

static int needs_escape(unsigned char c)
{
    return c < 0x20 || c > 0x7e || c == '%';
}

ig_iov_t ig_grpc_message_encode(ig_pool_t *pool, ig_iov_t msg)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < msg.len; i++)
        n += needs_escape((unsigned char)msg.base[i]) ? 3 : 1;
    char *out = ig_pool_alloc(pool, n + 1);
    char *w = out;
    for (size_t i = 0; i < msg.len; i++) {
        unsigned char c = (unsigned char)msg.base[i];
        if (needs_escape(c)) {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 0xf];
        } else {
            *w++ = (char)c;
        }
    }
    *w = '\0';
    return ig_iov(out, n);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

ig_iov_t ig_grpc_message_decode(ig_pool_t *pool, ig_iov_t value)
{
    char *out = ig_pool_alloc(pool, value.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < value.len; i++) {
        char c = value.base[i];
        if (c == '%' && i + 2 < value.len) {
            int hi = hex_value(value.base[i + 1]);
            int lo = hex_value(value.base[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out[n++] = (char)(hi << 4 | lo);
                i += 2;
                continue;
            }
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return ig_iov(out, n);
}

/* ---- grpc-timeout ---------------------------------------------------------------------------- */

/* Nanoseconds per unit, finest first. */
static const struct {
    char unit;
    uint64_t ns;
} timeout_units[] = {
    {'n', 1ull},
    {'u', 1000ull},
    {'m', 1000000ull},
    {'S', 1000000000ull},
    {'M', 60ull * 1000000000ull},
    {'H', 3600ull * 1000000000ull},
};

#define TIMEOUT_MAX_DIGITS 8
#define TIMEOUT_MAX_VALUE  99999999ull

int ig_grpc_timeout_parse(ig_iov_t value, uint64_t *ns)
{
    uint64_t v;
    if (value.len < 2 || value.len > TIMEOUT_MAX_DIGITS + 1)
        return IG_EINVAL;
    if (ig_iov_to_u64(ig_iov(value.base, value.len - 1), &v) != 0)
        return IG_EINVAL;
    char unit = value.base[value.len - 1];
    for (size_t i = 0; i < IG_ARRAY_LEN(timeout_units); i++) {
        if (timeout_units[i].unit != unit)
            continue;
        /* 99999999 hours is ~3.6e20 ns: saturate rather than wrap. */
        *ns = v > UINT64_MAX / timeout_units[i].ns ? UINT64_MAX : v * timeout_units[i].ns;
        return 0;
    }
    return IG_EINVAL;
}

size_t ig_grpc_timeout_format(char out[IG_GRPC_TIMEOUT_MAX], uint64_t ns)
{
    size_t i = 0;
    uint64_t v = ns;
    for (; i < IG_ARRAY_LEN(timeout_units); i++) {
        uint64_t per = timeout_units[i].ns;
        v = ns / per + (ns % per != 0); /* round up */
        if (v <= TIMEOUT_MAX_VALUE)
            break;
    }
    if (i == IG_ARRAY_LEN(timeout_units)) {
        i--;
        v = TIMEOUT_MAX_VALUE; /* beyond ~11400 years: the largest expressible value */
    }
    int n = snprintf(out, IG_GRPC_TIMEOUT_MAX, "%llu%c", (unsigned long long)v, timeout_units[i].unit);
    return n > 0 ? (size_t)n : 0;
}
