/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Durations as agentgateway reads them: Go's time.ParseDuration syntax ("10s", "1m30s", "250ms",
 * "1.5h", "0"), a sequence of decimal numbers each with a unit (ns, us, µs, μs, ms, s, m, h),
 * negative values rejected, at most 2^63-1 ns. Formatting follows Go's Duration.String so the
 * config dump prints defaults the way agentgateway documents them ("10m0s").
 */
#include "ig/config.h"

#include <stdio.h>
#include <string.h>

struct unit {
    const char *name;
    uint64_t ns;
};

static const struct unit units[] = {
    {"ns", 1ULL},           {"us", 1000ULL},      {"\xc2\xb5s", 1000ULL}, /* U+00B5 micro sign */
    {"\xce\xbcs", 1000ULL},                                               /* U+03BC Greek mu */
    {"ms", 1000000ULL},     {"s", 1000000000ULL}, {"m", 60ULL * 1000000000ULL}, {"h", 3600ULL * 1000000000ULL},
};

#define MAX_NS ((uint64_t)INT64_MAX)

int ig_config_parse_duration(ig_iov_t s, uint64_t *ns, const char **why)
{
    const char *p = s.base, *end = s.base + s.len;
    uint64_t total = 0;
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    if (p < end && (*p == '-' || *p == '+')) {
        if (*p == '-' && !(end - p == 2 && p[1] == '0')) {
            *why = "negative durations are not allowed";
            return IG_EINVAL;
        }
        p++;
    }
    if (end - p == 1 && *p == '0') {
        *ns = 0;
        return 0;
    }
    if (p == end) {
        *why = "empty duration";
        return IG_EINVAL;
    }
    while (p < end) {
        uint64_t whole = 0, frac = 0, scale = 1;
        int digits = 0, overflow = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (whole > (MAX_NS - (uint64_t)(*p - '0')) / 10)
                overflow = 1;
            else
                whole = whole * 10 + (uint64_t)(*p - '0');
            p++;
            digits++;
        }
        if (p < end && *p == '.') {
            p++;
            while (p < end && *p >= '0' && *p <= '9') {
                /* Digits past nanosecond precision of the largest unit do not matter. */
                if (scale < 10000000000000ULL) {
                    frac = frac * 10 + (uint64_t)(*p - '0');
                    scale *= 10;
                }
                p++;
                digits++;
            }
        }
        if (digits == 0) {
            *why = "expected a number";
            return IG_EINVAL;
        }
        if (overflow) {
            *why = "too large";
            return IG_EINVAL;
        }
        const struct unit *u = NULL;
        size_t ulen = 0;
        for (size_t i = 0; i < IG_ARRAY_LEN(units); i++) {
            size_t l = strlen(units[i].name);
            /* Longest match first matters for "ms" vs "m". */
            if ((size_t)(end - p) >= l && memcmp(p, units[i].name, l) == 0 && l > ulen) {
                u = &units[i];
                ulen = l;
            }
        }
        if (u == NULL) {
            *why = p == end ? "missing unit (ns, us, ms, s, m, h)" : "unknown unit (expected ns, us, ms, s, m, h)";
            return IG_EINVAL;
        }
        p += ulen;
        if (whole > MAX_NS / u->ns) {
            *why = "too large";
            return IG_EINVAL;
        }
        uint64_t v = whole * u->ns;
        /* frac / scale * unit, without overflow: unit <= 3.6e12 and scale <= 1e13. */
        long double f = (long double)frac * (long double)u->ns / (long double)scale;
        v += (uint64_t)f;
        if (v > MAX_NS || total > MAX_NS - v) {
            *why = "too large";
            return IG_EINVAL;
        }
        total += v;
    }
    *ns = total;
    return 0;
}

/* Writes |v| / 10^prec with trailing zeros of the fraction removed. */
static size_t put_frac(char *buf, size_t len, uint64_t v, int prec)
{
    char tmp[32];
    uint64_t whole = v, frac = 0, pow = 1;
    for (int i = 0; i < prec; i++)
        pow *= 10;
    whole = v / pow;
    frac = v % pow;
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)whole);
    if (frac != 0) {
        char fb[24];
        int w = prec;
        while (frac % 10 == 0) {
            frac /= 10;
            w--;
        }
        snprintf(fb, sizeof(fb), ".%0*llu", w, (unsigned long long)frac);
        n = snprintf(tmp, sizeof(tmp), "%llu%s", (unsigned long long)whole, fb);
    }
    (void)n;
    return (size_t)snprintf(buf, len, "%s", tmp);
}

char *ig_config_format_duration(uint64_t ns, char *buf, size_t len)
{
    if (len == 0)
        return buf;
    if (ns == 0) {
        snprintf(buf, len, "0s");
        return buf;
    }
    if (ns < 1000ULL) {
        snprintf(buf, len, "%lluns", (unsigned long long)ns);
        return buf;
    }
    if (ns < 1000000ULL) {
        size_t n = put_frac(buf, len, ns, 3);
        snprintf(buf + IG_MIN(n, len - 1), len - IG_MIN(n, len - 1), "\xc2\xb5s");
        return buf;
    }
    if (ns < 1000000000ULL) {
        size_t n = put_frac(buf, len, ns, 6);
        snprintf(buf + IG_MIN(n, len - 1), len - IG_MIN(n, len - 1), "ms");
        return buf;
    }
    uint64_t h = ns / (3600ULL * 1000000000ULL);
    uint64_t rem = ns % (3600ULL * 1000000000ULL);
    uint64_t m = rem / (60ULL * 1000000000ULL);
    uint64_t sns = rem % (60ULL * 1000000000ULL);
    char secs[40];
    put_frac(secs, sizeof(secs), sns, 9);
    if (h > 0)
        snprintf(buf, len, "%lluh%llum%ss", (unsigned long long)h, (unsigned long long)m, secs);
    else if (m > 0)
        snprintf(buf, len, "%llum%ss", (unsigned long long)m, secs);
    else
        snprintf(buf, len, "%ss", secs);
    return buf;
}
