/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol-neutral header model shared by HTTP/1.1 and HTTP/2: a pool-backed header list
 * (append, find, remove) and the reason phrases the HTTP/1.1 writer puts on status lines.
 * Header strings are borrowed; only the array lives in the pool, so a list costs one pool
 * allocation per doubling and nothing per header. Also the decimal formatter both writers use for
 * status codes and lengths (no printf on the response path).
 */
#include "http_int.h"

#define HEADERS_INITIAL_CAP 16

void ig_http_headers_add(ig_pool_t *pool, ig_http_headers_t *h, ig_iov_t name, ig_iov_t value)
{
    if (h->len == h->cap) {
        size_t cap = h->cap != 0 ? h->cap * 2 : HEADERS_INITIAL_CAP;
        ig_http_header_t *v = ig_pool_alloc(pool, cap * sizeof(*v));
        /* The old array stays in the pool until it is cleared: arenas do not free piecemeal. */
        if (h->len != 0)
            memcpy(v, h->v, h->len * sizeof(*v));
        h->v = v;
        h->cap = cap;
    }
    h->v[h->len].name = name;
    h->v[h->len].value = value;
    h->len++;
}

ssize_t ig_http_headers_find(const ig_http_headers_t *h, ig_iov_t name, size_t from)
{
    for (size_t i = from; i < h->len; i++)
        if (ig_iov_eq_nocase(h->v[i].name, name))
            return (ssize_t)i;
    return -1;
}

size_t ig_http_headers_remove(ig_http_headers_t *h, ig_iov_t name)
{
    size_t out = 0;

    /* One stable compaction pass: the relative order of the other headers is kept. */
    for (size_t i = 0; i < h->len; i++) {
        if (ig_iov_eq_nocase(h->v[i].name, name))
            continue;
        if (out != i)
            h->v[out] = h->v[i];
        out++;
    }
    size_t removed = h->len - out;
    h->len = out;
    return removed;
}

size_t ig_http__u64_dec(char *out, uint64_t v)
{
    char tmp[IG_HTTP_U64_DEC];
    size_t i = sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    memcpy(out, tmp + i, sizeof(tmp) - i);
    return sizeof(tmp) - i;
}

const char *ig_http_reason(int status)
{
    /* clang-format off */
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
    }
    /* clang-format on */
}
