/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Slice helpers for network input, which is never NUL-terminated: ASCII case-insensitive
 * comparison (header names), trimming of optional whitespace and strict decimal parsing.
 * Locale-independent on purpose: header grammar is ASCII.
 */
#include "ig/core.h"

static inline unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

int ig_iov_eq_nocase(ig_iov_t a, ig_iov_t b)
{
    if (a.len != b.len)
        return 0;
    for (size_t i = 0; i < a.len; i++) {
        if (ascii_lower((unsigned char)a.base[i]) != ascii_lower((unsigned char)b.base[i]))
            return 0;
    }
    return 1;
}

ig_iov_t ig_iov_trim(ig_iov_t s)
{
    while (s.len > 0 && (s.base[0] == ' ' || s.base[0] == '\t')) {
        s.base++;
        s.len--;
    }
    while (s.len > 0 && (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t'))
        s.len--;
    if (s.len == 0 && s.base == NULL)
        return IG_IOV_NULL;
    return s;
}

int ig_iov_to_u64(ig_iov_t s, uint64_t *out)
{
    uint64_t v = 0;
    if (s.len == 0)
        return IG_EINVAL;
    for (size_t i = 0; i < s.len; i++) {
        unsigned d = (unsigned char)s.base[i] - (unsigned)'0';
        if (d > 9)
            return IG_EINVAL;
        /* The contract caps values at INT64_MAX so that callers may store them as signed. */
        if (v > ((uint64_t)INT64_MAX - d) / 10)
            return IG_EINVAL;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}
