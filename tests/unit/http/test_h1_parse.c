/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the HTTP/1.1 head parser (src/http/h1_parse.c). Table-driven: every case is parsed
 * all at once, then fed prefix by prefix (the first non-incomplete verdict must equal the
 * whole-input verdict), and every parse reads an input placed right before a PROT_NONE page, so
 * any read past the end faults. Separate tests cover the limits, including their enforcement on
 * heads that never complete.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "ig/http.h"

#define OK   1 /* expected verdict "complete" in the tables */
#define NHDR 128

/* ---- guard-page placement -------------------------------------------------------------------- */

static char *g_region; /* readable pages followed by one PROT_NONE page */
static size_t g_region_len;

static int setup_guard(void **state)
{
    (void)state;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    g_region_len = 320 * 1024; /* a multiple of the page size, above every input used here */
    char *map = mmap(NULL, g_region_len + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return -1;
    if (mprotect(map + g_region_len, page, PROT_NONE) != 0)
        return -1;
    g_region = map;
    return 0;
}

static int teardown_guard(void **state)
{
    (void)state;
    munmap(g_region, g_region_len + (size_t)sysconf(_SC_PAGESIZE));
    return 0;
}

/* Copies |len| bytes so that they end exactly at the guard page. */
static const char *place(const char *in, size_t len)
{
    assert_true(len <= g_region_len);
    char *dst = g_region + g_region_len - len;
    memmove(dst, in, len);
    return dst;
}

/* ---- request table --------------------------------------------------------------------------- */

struct req_case {
    const char *name;
    const char *in;
    size_t len;  /* 0: strlen(in) */
    int rc;      /* OK or an IG_E* code */
    size_t tail; /* OK: bytes after the head (body, next request) */
    const char *what;
    /* checked for OK */
    enum ig_h1_framing framing;
    uint64_t cl;
    int ka, minor, expect, upgrade;
    const char *host;         /* NULL: not checked */
    const char *method;       /* NULL: not checked */
    const char *target;       /* NULL: not checked */
    int nh;                   /* 0: not checked; else count + 1 */
    const char *hname, *hval; /* a header that must be present with this value */
};

#define H11 " / HTTP/1.1\r\nHost: a\r\n"
/* inputs with a NUL byte carry their length */
#define BIN(lit) lit, .len = sizeof(lit) - 1

static const struct req_case req_cases[] = {
    /* valid */
    {"get", "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", .rc = OK, .ka = 1, .minor = 1, .host = "example.com",
     .method = "GET", .target = "/", .nh = 2},
    {"get-no-space-after-colon", "GET / HTTP/1.1\r\nHost:x\r\n\r\n", .rc = OK, .ka = 1, .minor = 1, .host = "x"},
    {"lower-case-method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", .rc = OK, .ka = 1, .minor = 1, .method = "get"},
    {"origin-form-query", "GET /v1/models?limit=10&x=%20 HTTP/1.1\r\nHost: a\r\n\r\n", .rc = OK, .ka = 1, .minor = 1,
     .target = "/v1/models?limit=10&x=%20"},
    {"absolute-form", "GET http://origin.example:8080/x?y HTTP/1.1\r\nHost: other\r\n\r\n", .rc = OK, .ka = 1,
     .minor = 1, .host = "origin.example:8080", .target = "http://origin.example:8080/x?y"},
    {"absolute-form-https-no-path", "GET HTTPS://Origin.example HTTP/1.1\r\nHost: o\r\n\r\n", .rc = OK, .ka = 1,
     .minor = 1, .host = "Origin.example"},
    {"asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", .rc = OK, .ka = 1, .minor = 1, .target = "*"},
    {"authority-form", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", .rc = OK, .ka = 1,
     .minor = 1, .target = "example.com:443"},
    {"post-content-length", "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", .rc = OK,
     .tail = 5, .framing = IG_H1_BODY_LENGTH, .cl = 5, .ka = 1, .minor = 1},
    {"post-content-length-zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", .rc = OK,
     .framing = IG_H1_BODY_NONE, .ka = 1, .minor = 1},
    {"content-length-ows", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t 42 \t\r\n\r\n", .rc = OK,
     .framing = IG_H1_BODY_LENGTH, .cl = 42, .ka = 1, .minor = 1},
    {"content-length-int64-max", "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 9223372036854775807\r\n\r\n", .rc = OK,
     .framing = IG_H1_BODY_LENGTH, .cl = INT64_MAX, .ka = 1, .minor = 1},
    {"chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", .rc = OK,
     .tail = 15, .framing = IG_H1_BODY_CHUNKED, .ka = 1, .minor = 1},
    {"chunked-case-ows", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:   ChUnKeD  \r\n\r\n", .rc = OK,
     .framing = IG_H1_BODY_CHUNKED, .ka = 1, .minor = 1},
    {"pipelined", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", .rc = OK, .tail = 28, .ka = 1,
     .minor = 1, .target = "/1"},
    {"pipelined-partial-next", "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HT", .rc = OK, .tail = 9, .ka = 1, .minor = 1},
    {"leading-empty-lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", .rc = OK, .ka = 1, .minor = 1,
     .method = "GET"},
    {"http10-no-host", "GET / HTTP/1.0\r\n\r\n", .rc = OK, .ka = 0, .minor = 0, .host = "", .nh = 1},
    {"http10-keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", .rc = OK, .ka = 1, .minor = 0},
    {"http10-keep-alive-case", "GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n", .rc = OK, .ka = 1},
    {"http10-keep-alive-and-close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", .rc = OK, .ka = 0},
    {"http10-content-length", "POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc", .rc = OK, .tail = 3,
     .framing = IG_H1_BODY_LENGTH, .cl = 3},
    {"http11-close", "GET" H11 "Connection: close\r\n\r\n", .rc = OK, .ka = 0, .minor = 1},
    {"http11-close-in-list", "GET" H11 "Connection: foo ,CLOSE\r\n\r\n", .rc = OK, .ka = 0, .minor = 1},
    {"http11-close-second-line", "GET" H11 "Connection: keep-alive\r\nConnection: close\r\n\r\n", .rc = OK, .ka = 0,
     .minor = 1},
    {"expect-continue", "POST" H11 "Content-Length: 1\r\nExpect: 100-continue\r\n\r\n", .rc = OK,
     .framing = IG_H1_BODY_LENGTH, .cl = 1, .ka = 1, .minor = 1, .expect = 1},
    {"expect-continue-case", "POST" H11 "Content-Length: 1\r\nexpect:  100-Continue \r\n\r\n", .rc = OK,
     .framing = IG_H1_BODY_LENGTH, .cl = 1, .ka = 1, .minor = 1, .expect = 1},
    {"expect-other", "POST" H11 "Content-Length: 1\r\nExpect: 200-ok\r\n\r\n", .rc = OK, .framing = IG_H1_BODY_LENGTH,
     .cl = 1, .ka = 1, .minor = 1, .expect = 0},
    {"expect-http10-ignored", "POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n", .rc = OK,
     .framing = IG_H1_BODY_LENGTH, .cl = 1, .expect = 0},
    {"upgrade", "GET" H11 "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n", .rc = OK, .ka = 1, .minor = 1,
     .upgrade = 1},
    {"upgrade-without-connection", "GET" H11 "Upgrade: websocket\r\n\r\n", .rc = OK, .ka = 1, .minor = 1, .upgrade = 0},
    {"value-internal-spaces", "GET" H11 "User-Agent:  curl/8.0  (x86 64)\t \r\n\r\n", .rc = OK, .ka = 1, .minor = 1,
     .hname = "user-agent", .hval = "curl/8.0  (x86 64)"},
    {"value-htab-inside", "GET" H11 "X-A: a\tb\r\n\r\n", .rc = OK, .ka = 1, .minor = 1, .hname = "x-a", .hval = "a\tb"},
    {"value-obs-text", "GET" H11 "X-A: caf\xc3\xa9\r\n\r\n", .rc = OK, .ka = 1, .minor = 1, .hname = "x-a",
     .hval = "caf\xc3\xa9"},
    {"value-empty", "GET" H11 "X-Empty:\r\n\r\n", .rc = OK, .ka = 1, .minor = 1, .hname = "x-empty", .hval = "",
     .nh = 3},
    {"value-only-spaces", "GET" H11 "X-Empty:   \t\r\n\r\n", .rc = OK, .ka = 1, .minor = 1, .hname = "x-empty",
     .hval = ""},
    {"long-value-swar", "GET" H11 "X-Long: 0123456789abcdefghijklmnopqrstuvwxyz0123456789\r\n\r\n", .rc = OK, .ka = 1,
     .minor = 1, .hval = "0123456789abcdefghijklmnopqrstuvwxyz0123456789", .hname = "X-LONG"},
    {"name-case", "GET / HTTP/1.1\r\nHOST: h\r\ncontent-LENGTH: 2\r\n\r\nab", .rc = OK, .tail = 2,
     .framing = IG_H1_BODY_LENGTH, .cl = 2, .ka = 1, .minor = 1, .host = "h"},
    {"host-ipv6-port", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", .rc = OK, .ka = 1, .minor = 1,
     .host = "[::1]:8080"},
    {"host-empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", .rc = OK, .ka = 1, .minor = 1, .host = ""},
    {"tchar-name", "GET" H11 "X-!#$%&'*+.^_`|~: v\r\n\r\n", .rc = OK, .ka = 1, .minor = 1},
    /* incomplete */
    {"incomplete-no-blank-line", "GET / HTTP/1.1\r\nHost: a\r\n", .rc = IG_EINCOMPLETE},
    {"incomplete-cr", "GET / HTTP/1.1\r\nHost: a\r\n\r", .rc = IG_EINCOMPLETE},
    {"incomplete-line", "GET /index.ht", .rc = IG_EINCOMPLETE},
    {"incomplete-empty", "", .rc = IG_EINCOMPLETE},
    /* smuggling: framing headers */
    {"cl-and-te", "POST" H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", .rc = IG_EPROTO,
     .what = "content-length with transfer-encoding"},
    {"te-and-cl", "POST" H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", .rc = IG_EPROTO,
     .what = "content-length with transfer-encoding"},
    {"cl-duplicate-equal", "POST" H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", .rc = IG_EPROTO,
     .what = "duplicate content-length"},
    {"cl-duplicate-different", "POST" H11 "Content-Length: 5\r\ncontent-length: 6\r\n\r\n", .rc = IG_EPROTO,
     .what = "duplicate content-length"},
    {"cl-list", "POST" H11 "Content-Length: 5, 5\r\n\r\n", .rc = IG_EPROTO, .what = "invalid content-length"},
    {"cl-plus", "POST" H11 "Content-Length: +5\r\n\r\n", .rc = IG_EPROTO, .what = "invalid content-length"},
    {"cl-minus", "POST" H11 "Content-Length: -1\r\n\r\n", .rc = IG_EPROTO, .what = "invalid content-length"},
    {"cl-inner-space", "POST" H11 "Content-Length: 1 0\r\n\r\n", .rc = IG_EPROTO, .what = "invalid content-length"},
    {"cl-non-digit", "POST" H11 "Content-Length: 5a\r\n\r\n", .rc = IG_EPROTO, .what = "invalid content-length"},
    {"cl-hex", "POST" H11 "Content-Length: 0x5\r\n\r\n", .rc = IG_EPROTO, .what = "invalid content-length"},
    {"cl-empty", "POST" H11 "Content-Length:\r\n\r\n", .rc = IG_EPROTO, .what = "invalid content-length"},
    {"cl-overflow-int64", "POST" H11 "Content-Length: 9223372036854775808\r\n\r\n", .rc = IG_EPROTO,
     .what = "invalid content-length"},
    {"cl-overflow-u64", "POST" H11 "Content-Length: 99999999999999999999999\r\n\r\n", .rc = IG_EPROTO,
     .what = "invalid content-length"},
    {"te-chunked-gzip", "POST" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", .rc = IG_EPROTO},
    {"te-gzip-chunked", "POST" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", .rc = IG_EPROTO,
     .what = "unsupported transfer-encoding"},
    {"te-xchunked", "POST" H11 "Transfer-Encoding: xchunked\r\n\r\n", .rc = IG_EPROTO,
     .what = "unsupported transfer-encoding"},
    {"te-chunked-suffix", "POST" H11 "Transfer-Encoding: chunkedx\r\n\r\n", .rc = IG_EPROTO},
    {"te-chunked-twice", "POST" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", .rc = IG_EPROTO},
    {"te-two-lines", "POST" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", .rc = IG_EPROTO},
    {"te-identity", "POST" H11 "Transfer-Encoding: identity\r\n\r\n", .rc = IG_EPROTO},
    {"te-empty", "POST" H11 "Transfer-Encoding:\r\n\r\n", .rc = IG_EPROTO},
    {"te-commas", "POST" H11 "Transfer-Encoding: ,\r\n\r\n", .rc = IG_EPROTO},
    {"te-http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .rc = IG_EPROTO,
     .what = "transfer-encoding in HTTP/1.0"},
    {"te-quoted", "POST" H11 "Transfer-Encoding: \"chunked\"\r\n\r\n", .rc = IG_EPROTO},
    /* smuggling: line syntax */
    {"obs-fold", "GET" H11 "X-A: b\r\n c\r\n\r\n", .rc = IG_EPROTO, .what = "obs-fold"},
    {"obs-fold-tab", "GET" H11 "X-A: b\r\n\tc\r\n\r\n", .rc = IG_EPROTO, .what = "obs-fold"},
    {"obs-fold-first-line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", .rc = IG_EPROTO, .what = "obs-fold"},
    {"space-before-colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", .rc = IG_EPROTO, .what = "whitespace before colon"},
    {"tab-before-colon", "POST" H11 "Content-Length\t: 5\r\n\r\n", .rc = IG_EPROTO, .what = "whitespace before colon"},
    {"empty-name", "GET" H11 ": x\r\n\r\n", .rc = IG_EPROTO, .what = "empty header name"},
    {"name-invalid-char", "GET" H11 "X(A): b\r\n\r\n", .rc = IG_EPROTO, .what = "invalid header name"},
    {"name-non-ascii", "GET" H11 "X\xc3\xa9: b\r\n\r\n", .rc = IG_EPROTO, .what = "invalid header name"},
    {"name-nul", BIN("GET" H11 "X\0A: b\r\n\r\n"), .rc = IG_EPROTO, .what = "invalid header name"},
    {"no-colon", "GET" H11 "X-A\r\n\r\n", .rc = IG_EPROTO, .what = "header without colon"},
    {"method-invalid-char", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "invalid method"},
    {"method-empty", " / HTTP/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "invalid method"},
    {"method-tab", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "invalid method"},
    {"bare-lf-request-line", "GET / HTTP/1.1\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "bare LF"},
    {"bare-lf-header", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", .rc = IG_EPROTO, .what = "bare LF"},
    {"bare-lf-end", "GET / HTTP/1.1\r\nHost: a\r\n\n", .rc = IG_EPROTO},
    {"bare-lf-leading", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "bare LF"},
    {"bare-cr-value", "GET" H11 "X-A: a\rb\r\n\r\n", .rc = IG_EPROTO, .what = "bare CR"},
    {"bare-cr-end", "GET / HTTP/1.1\r\nHost: a\r\n\rX", .rc = IG_EPROTO, .what = "bare CR"},
    {"bare-cr-request-line", "GET / HTTP/1.1\rHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "bare CR"},
    {"bare-cr-leading", "\r\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "bare CR"},
    {"nul-value", BIN("GET" H11 "X-A: a\0b\r\n\r\n"), .rc = IG_EPROTO, .what = "control byte in header value"},
    {"ctl-value", "GET" H11 "X-A: a\x01z\r\n\r\n", .rc = IG_EPROTO, .what = "control byte in header value"},
    {"del-value", "GET" H11 "X-A: a\x7fz\r\n\r\n", .rc = IG_EPROTO, .what = "control byte in header value"},
    {"ctl-value-late-swar", "GET" H11 "X-A: 0123456789abcdef\x1b 0123456789\r\n\r\n", .rc = IG_EPROTO},
    {"nul-target", BIN("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = IG_EPROTO},
    {"ctl-target", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO},
    {"nul-method", BIN("G\0T / HTTP/1.1\r\nHost: a\r\n\r\n"), .rc = IG_EPROTO},
    {"target-empty", "GET  HTTP/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "invalid request target"},
    {"target-space", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "invalid request target"},
    {"target-non-ascii", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO},
    {"target-userinfo", "GET http://user@evil/ HTTP/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO,
     .what = "invalid request target"},
    {"target-empty-authority", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO,
     .what = "invalid request target"},
    {"version-missing", "GET /\r\nHost: a\r\n\r\n", .rc = IG_EPROTO},
    {"version-2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "unsupported version"},
    {"version-09", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "unsupported version"},
    {"version-12", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "unsupported version"},
    {"version-lower-case", "GET / http/1.1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "invalid version"},
    {"version-suffix", "GET / HTTP/1.1x\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "invalid version"},
    {"version-trailing-space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", .rc = IG_EPROTO},
    {"version-short", "GET / HTTP/1\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "invalid version"},
    {"missing-host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", .rc = IG_EPROTO, .what = "missing host"},
    {"duplicate-host", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", .rc = IG_EPROTO, .what = "duplicate host"},
    {"duplicate-host-same", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", .rc = IG_EPROTO, .what = "duplicate host"},
    {"host-space-inside", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", .rc = IG_EPROTO, .what = "invalid host"},
    {"host-slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", .rc = IG_EPROTO, .what = "invalid host"},
};

static void check_iov(ig_iov_t got, const char *want)
{
    if (want == NULL)
        return;
    assert_int_equal(got.len, strlen(want));
    if (got.len > 0)
        assert_memory_equal(got.base, want, got.len);
}

static const ig_http_header_t *find_header(const ig_h1_message_t *m, const char *name)
{
    for (size_t i = 0; i < m->num_headers; i++)
        if (m->headers[i].name.len == strlen(name) && strncasecmp(m->headers[i].name.base, name, strlen(name)) == 0)
            return &m->headers[i];
    return NULL;
}

static void check_request(const struct req_case *c, const char *buf, size_t len, int rc, const ig_h1_message_t *m,
                          const char *what)
{
    if (c->rc != OK) {
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d (what=%s)", c->name, rc, c->rc, what ? what : "-");
        if (c->what != NULL && (what == NULL || strcmp(what, c->what) != 0))
            fail_msg("%s: what '%s', want '%s'", c->name, what ? what : "(null)", c->what);
        if (rc != IG_EINCOMPLETE)
            assert_non_null(what);
        assert_int_equal(m->num_headers, NHDR); /* capacity left for the next call */
        return;
    }
    if (rc <= 0)
        fail_msg("%s: rc %d (%s), want complete", c->name, rc, what ? what : "-");
    assert_null(what);
    size_t want = (c->len != 0 ? c->len : strlen(c->in)) - c->tail;
    if ((size_t)rc != want)
        fail_msg("%s: head %d, want %zu", c->name, rc, want);
    if (m->framing != c->framing || m->content_length != c->cl || m->keep_alive != c->ka ||
        m->expect_continue != c->expect || m->upgrade != c->upgrade)
        fail_msg("%s: framing %d cl %llu ka %d expect %d upgrade %d", c->name, m->framing,
                 (unsigned long long)m->content_length, m->keep_alive, m->expect_continue, m->upgrade);
    if (c->minor != 0 || strstr(c->in, "HTTP/1.0") != NULL)
        assert_int_equal(m->minor_version, c->minor);
    check_iov(m->host, c->host);
    check_iov(m->method, c->method);
    check_iov(m->target, c->target);
    if (c->nh != 0)
        assert_int_equal(m->num_headers, (size_t)(c->nh - 1));
    if (c->hname != NULL) {
        const ig_http_header_t *h = find_header(m, c->hname);
        assert_non_null(h);
        check_iov(h->value, c->hval);
    }
    /* every slice points into the caller's buffer */
    for (size_t i = 0; i < m->num_headers; i++) {
        assert_true(m->headers[i].name.base >= buf && m->headers[i].name.base + m->headers[i].name.len <= buf + len);
        assert_true(m->headers[i].value.len == 0 || (m->headers[i].value.base >= buf &&
                                                     m->headers[i].value.base + m->headers[i].value.len <= buf + len));
    }
    assert_true(m->method.base >= buf && m->target.base + m->target.len <= buf + len);
}

static int parse_req(const char *buf, size_t len, const struct ig_h1_limits *lim, ig_h1_message_t *m,
                     ig_http_header_t *hdrs, const char **what)
{
    memset(m, 0xa5, sizeof(*m)); /* the parser must not depend on the previous content */
    m->headers = hdrs;
    m->num_headers = NHDR;
    *what = "stale";
    return ig_h1_parse_request(buf, len, lim, m, what);
}

static void test_request_table(void **state)
{
    (void)state;
    static ig_http_header_t hdrs[NHDR];
    ig_h1_message_t m;
    const char *what;

    for (size_t i = 0; i < IG_ARRAY_LEN(req_cases); i++) {
        const struct req_case *c = &req_cases[i];
        size_t len = c->len != 0 ? c->len : strlen(c->in);

        /* all at once, ending at the guard page */
        const char *buf = place(c->in, len);
        int rc = parse_req(buf, len, NULL, &m, hdrs, &what);
        check_request(c, buf, len, rc, &m, what);

        /* prefix by prefix: incomplete until the verdict, which must be the same */
        for (size_t k = 0; k <= len; k++) {
            const char *pb = place(c->in, k);
            const char *pwhat;
            int prc = parse_req(pb, k, NULL, &m, hdrs, &pwhat);
            if (prc == IG_EINCOMPLETE) {
                assert_int_equal(m.num_headers, NHDR);
                continue;
            }
            if (prc != rc || (rc < 0 && strcmp(pwhat, what) != 0))
                fail_msg("%s: prefix %zu gives %d (%s), whole input %d (%s)", c->name, k, prc, pwhat ? pwhat : "-", rc,
                         what ? what : "-");
            if (rc > 0)
                check_request(c, pb, k, prc, &m, pwhat);
            break;
        }
    }
}

/* ---- response table -------------------------------------------------------------------------- */

struct resp_case {
    const char *name;
    const char *in;
    int is_head;
    int rc;
    size_t tail;
    const char *what;
    int status;
    enum ig_h1_framing framing;
    uint64_t cl;
    int ka, upgrade;
    const char *reason;
};

static const struct resp_case resp_cases[] = {
    {"ok-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", .rc = OK, .tail = 2, .status = 200,
     .framing = IG_H1_BODY_LENGTH, .cl = 2, .ka = 1, .reason = "OK"},
    {"ok-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", .rc = OK, .status = 200,
     .framing = IG_H1_BODY_CHUNKED, .ka = 1},
    {"ok-gzip-chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", .rc = OK, .status = 200,
     .framing = IG_H1_BODY_CHUNKED, .ka = 1},
    {"ok-gzip-until-close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", .rc = OK, .status = 200,
     .framing = IG_H1_BODY_UNTIL_CLOSE, .ka = 0},
    {"ok-until-close", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", .rc = OK, .status = 200,
     .framing = IG_H1_BODY_UNTIL_CLOSE, .ka = 0},
    {"ok-length-zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", .rc = OK, .status = 200,
     .framing = IG_H1_BODY_NONE, .ka = 1},
    {"no-content", "HTTP/1.1 204 No Content\r\n\r\n", .rc = OK, .status = 204, .framing = IG_H1_BODY_NONE, .ka = 1},
    {"not-modified-length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", .rc = OK, .status = 304,
     .framing = IG_H1_BODY_NONE, .cl = 10, .ka = 1},
    {"continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", .rc = OK, .tail = 17, .status = 100,
     .framing = IG_H1_BODY_NONE, .ka = 1, .reason = "Continue"},
    {"switching", "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n", .rc = OK,
     .status = 101, .framing = IG_H1_BODY_NONE, .ka = 1, .upgrade = 1},
    {"head-length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", .is_head = 1, .rc = OK, .status = 200,
     .framing = IG_H1_BODY_NONE, .cl = 10, .ka = 1},
    {"http10-length", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", .rc = OK, .tail = 1, .status = 200,
     .framing = IG_H1_BODY_LENGTH, .cl = 1, .ka = 0},
    {"http10-keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n", .rc = OK,
     .status = 200, .framing = IG_H1_BODY_LENGTH, .cl = 1, .ka = 1},
    {"close", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n", .rc = OK, .status = 200,
     .framing = IG_H1_BODY_LENGTH, .cl = 1, .ka = 0},
    {"no-reason", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", .rc = OK, .status = 404, .ka = 1, .reason = ""},
    {"empty-reason", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", .rc = OK, .status = 404, .ka = 1, .reason = ""},
    {"reason-spaces", "HTTP/1.1 503 Service  Unavailable\r\nContent-Length: 0\r\n\r\n", .rc = OK, .status = 503,
     .ka = 1, .reason = "Service  Unavailable"},
    {"host-ignored", "HTTP/1.1 200 OK\r\nHost: a b\r\nHost: c\r\nContent-Length: 0\r\n\r\n", .rc = OK, .status = 200,
     .ka = 1},
    {"incomplete", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", .rc = IG_EINCOMPLETE},
    {"cl-and-te", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", .rc = IG_EPROTO},
    {"cl-duplicate", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", .rc = IG_EPROTO},
    {"cl-invalid", "HTTP/1.1 200 OK\r\nContent-Length: 1,1\r\n\r\n", .rc = IG_EPROTO},
    {"te-chunked-not-last", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", .rc = IG_EPROTO},
    {"te-chunked-twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
     .rc = IG_EPROTO},
    {"status-short", "HTTP/1.1 20 OK\r\n\r\n", .rc = IG_EPROTO, .what = "invalid status"},
    {"status-long", "HTTP/1.1 2000 OK\r\n\r\n", .rc = IG_EPROTO, .what = "invalid status"},
    {"status-alpha", "HTTP/1.1 abc OK\r\n\r\n", .rc = IG_EPROTO, .what = "invalid status"},
    {"status-099", "HTTP/1.1 099 X\r\n\r\n", .rc = IG_EPROTO, .what = "invalid status"},
    {"status-600", "HTTP/1.1 600 X\r\n\r\n", .rc = IG_EPROTO, .what = "invalid status"},
    {"version-2", "HTTP/2.0 200 OK\r\n\r\n", .rc = IG_EPROTO, .what = "unsupported version"},
    {"version-garbage", "HTTX/1.1 200 OK\r\n\r\n", .rc = IG_EPROTO, .what = "invalid version"},
    {"bare-lf", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", .rc = IG_EPROTO, .what = "bare LF"},
    {"obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", .rc = IG_EPROTO, .what = "obs-fold"},
    {"ctl-reason", "HTTP/1.1 200 O\x01K\r\n\r\n", .rc = IG_EPROTO},
    {"tab-after-version", "HTTP/1.1\t200 OK\r\n\r\n", .rc = IG_EPROTO},
};

static void check_response(const struct resp_case *c, size_t len, int rc, const ig_h1_message_t *m, const char *what)
{
    if (c->rc != OK) {
        if (rc != c->rc)
            fail_msg("%s: rc %d, want %d (what=%s)", c->name, rc, c->rc, what ? what : "-");
        if (c->what != NULL && (what == NULL || strcmp(what, c->what) != 0))
            fail_msg("%s: what '%s', want '%s'", c->name, what ? what : "(null)", c->what);
        return;
    }
    if (rc <= 0)
        fail_msg("%s: rc %d (%s), want complete", c->name, rc, what ? what : "-");
    (void)len;
    if ((size_t)rc != strlen(c->in) - c->tail)
        fail_msg("%s: head %d, want %zu", c->name, rc, strlen(c->in) - c->tail);
    if (m->status != c->status || m->framing != c->framing || m->content_length != c->cl || m->keep_alive != c->ka ||
        m->upgrade != c->upgrade)
        fail_msg("%s: status %d framing %d cl %llu ka %d upgrade %d", c->name, m->status, m->framing,
                 (unsigned long long)m->content_length, m->keep_alive, m->upgrade);
    check_iov(m->reason, c->reason);
}

static void test_response_table(void **state)
{
    (void)state;
    static ig_http_header_t hdrs[NHDR];
    ig_h1_message_t m;
    const char *what;

    for (size_t i = 0; i < IG_ARRAY_LEN(resp_cases); i++) {
        const struct resp_case *c = &resp_cases[i];
        size_t len = strlen(c->in);
        const char *buf = place(c->in, len);

        m.headers = hdrs;
        m.num_headers = NHDR;
        int rc = ig_h1_parse_response(buf, len, NULL, c->is_head, &m, &what);
        check_response(c, len, rc, &m, what);

        for (size_t k = 0; k <= len; k++) {
            const char *pwhat;
            m.num_headers = NHDR;
            int prc = ig_h1_parse_response(place(c->in, k), k, NULL, c->is_head, &m, &pwhat);
            if (prc == IG_EINCOMPLETE)
                continue;
            if (prc != rc || (rc < 0 && strcmp(pwhat, what) != 0))
                fail_msg("%s: prefix %zu gives %d, whole input %d", c->name, k, prc, rc);
            if (rc > 0)
                check_response(c, k, prc, &m, pwhat);
            break;
        }
    }
}

/* ---- limits ---------------------------------------------------------------------------------- */

static char g_big[300 * 1024];

static int req(const char *in, size_t len, const struct ig_h1_limits *lim, ig_http_header_t *hdrs, size_t cap,
               const char **what)
{
    ig_h1_message_t m;
    memset(&m, 0, sizeof(m));
    m.headers = hdrs;
    m.num_headers = cap;
    return ig_h1_parse_request(place(in, len), len, lim, &m, what);
}

static void test_request_line_limit(void **state)
{
    (void)state;
    static ig_http_header_t hdrs[NHDR];
    const char *what;
    struct ig_h1_limits lim = {64, 10, 1024};
    size_t n;

    /* exactly at the limit: 64 bytes of request line */
    n = (size_t)snprintf(g_big, sizeof(g_big), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); /* 4+1+50+9 = 64 */
    assert_int_equal(req(g_big, n, &lim, hdrs, NHDR, &what), (int)n);
    /* one more byte */
    n = (size_t)snprintf(g_big, sizeof(g_big), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_int_equal(req(g_big, n, &lim, hdrs, NHDR, &what), IG_ETOOBIG);
    assert_string_equal(what, "request line too long");

    /* a request line that never ends fails as soon as it passes the default 8192 */
    memcpy(g_big, "GET /", 5);
    memset(g_big + 5, 'a', sizeof(g_big) - 5);
    assert_int_equal(req(g_big, 8000, NULL, hdrs, NHDR, &what), IG_EINCOMPLETE);
    assert_int_equal(req(g_big, 8194, NULL, hdrs, NHDR, &what), IG_ETOOBIG);
    assert_string_equal(what, "request line too long");
    assert_int_equal(req(g_big, sizeof(g_big), NULL, hdrs, NHDR, &what), IG_ETOOBIG);
    /* the verdict does not depend on the bytes past the limit */
    g_big[9000] = '\0';
    assert_int_equal(req(g_big, sizeof(g_big), NULL, hdrs, NHDR, &what), IG_ETOOBIG);

    /* a flood of empty lines counts against the request line */
    for (size_t i = 0; i + 1 < sizeof(g_big); i += 2)
        memcpy(g_big + i, "\r\n", 2);
    assert_int_equal(req(g_big, sizeof(g_big), NULL, hdrs, NHDR, &what), IG_ETOOBIG);
    assert_string_equal(what, "request line too long");
}

static void test_header_limits(void **state)
{
    (void)state;
    static ig_http_header_t hdrs[NHDR];
    const char *what;
    size_t n = 0;

    /* 100 headers pass the default, 101 do not */
    n += (size_t)snprintf(g_big + n, sizeof(g_big) - n, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < 100; i++)
        n += (size_t)snprintf(g_big + n, sizeof(g_big) - n, "X-H%d: %d\r\n", i, i);
    size_t at100 = n;
    n += (size_t)snprintf(g_big + n, sizeof(g_big) - n, "\r\n");
    assert_int_equal(req(g_big, n, NULL, hdrs, NHDR, &what), (int)n);
    n = at100 + (size_t)snprintf(g_big + at100, sizeof(g_big) - at100, "X-Extra: 1\r\n\r\n");
    assert_int_equal(req(g_big, n, NULL, hdrs, NHDR, &what), IG_ETOOBIG);
    assert_string_equal(what, "headers too large");
    /* the caller's capacity is a limit too */
    n = at100 + (size_t)snprintf(g_big + at100, sizeof(g_big) - at100, "\r\n");
    assert_int_equal(req(g_big, n, NULL, hdrs, 99, &what), IG_ETOOBIG);
    assert_string_equal(what, "headers too large");
    assert_int_equal(req(g_big, n, NULL, hdrs, 0, &what), IG_ETOOBIG);

    /* a custom count limit */
    struct ig_h1_limits lim = {8192, 2, 65536};
    const char *three = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    assert_int_equal(req(three, strlen(three), &lim, hdrs, NHDR, &what), IG_ETOOBIG);
    lim.max_headers = 3;
    assert_int_equal(req(three, strlen(three), &lim, hdrs, NHDR, &what), (int)strlen(three));

    /* byte limit: the header block (after the request line, with the final CRLF) */
    const char *blk = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n"; /* block = 9 + 6 + 2 = 17 */
    lim = (struct ig_h1_limits){8192, 100, 17};
    assert_int_equal(req(blk, strlen(blk), &lim, hdrs, NHDR, &what), (int)strlen(blk));
    lim.max_header_bytes = 16;
    assert_int_equal(req(blk, strlen(blk), &lim, hdrs, NHDR, &what), IG_ETOOBIG);
    assert_string_equal(what, "headers too large");

    /* zero fields mean the defaults */
    lim = (struct ig_h1_limits){0, 0, 0};
    assert_int_equal(req(blk, strlen(blk), &lim, hdrs, NHDR, &what), (int)strlen(blk));
}

static void test_unterminated_header_block(void **state)
{
    (void)state;
    static ig_http_header_t hdrs[NHDR];
    const char *what;
    size_t n = 0;

    /* many small headers, no blank line: fails on the count long before 1 MB... */
    n += (size_t)snprintf(g_big, sizeof(g_big), "GET / HTTP/1.1\r\nHost: a\r\n");
    while (n + 16 < sizeof(g_big))
        n += (size_t)snprintf(g_big + n, sizeof(g_big) - n, "X-A: 0123456\r\n");
    assert_int_equal(req(g_big, n, NULL, hdrs, NHDR, &what), IG_ETOOBIG);
    assert_string_equal(what, "headers too large");
    /* ...and on the byte limit when the count is not reached */
    struct ig_h1_limits lim = {8192, 100000, 65536};
    static ig_http_header_t many[20000];
    assert_int_equal(req(g_big, n, &lim, many, IG_ARRAY_LEN(many), &what), IG_ETOOBIG);
    assert_string_equal(what, "headers too large");

    /* one header value that never ends */
    n = (size_t)snprintf(g_big, sizeof(g_big), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(g_big + n, 'v', sizeof(g_big) - n);
    assert_int_equal(req(g_big, 60000, NULL, hdrs, NHDR, &what), IG_EINCOMPLETE);
    assert_int_equal(req(g_big, 16 + 65536, NULL, hdrs, NHDR, &what), IG_ETOOBIG);
    assert_int_equal(req(g_big, sizeof(g_big), NULL, hdrs, NHDR, &what), IG_ETOOBIG);
    assert_string_equal(what, "headers too large");

    /* exactly 64 KiB of header block is accepted */
    size_t hdr = (size_t)snprintf(g_big, sizeof(g_big), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    size_t vlen = 65536 - (hdr - 16) - 4;
    memset(g_big + hdr, 'v', vlen);
    memcpy(g_big + hdr + vlen, "\r\n\r\n", 4);
    n = hdr + vlen + 4;
    assert_int_equal(req(g_big, n, NULL, hdrs, NHDR, &what), (int)n);
    /* one byte more is not */
    memset(g_big + hdr, 'v', vlen + 1);
    memcpy(g_big + hdr + vlen + 1, "\r\n\r\n", 4);
    assert_int_equal(req(g_big, n + 1, NULL, hdrs, NHDR, &what), IG_ETOOBIG);
    assert_string_equal(what, "headers too large");
}

/* A 1 MB request streamed in 4 KiB reads fails with ETOOBIG before the end of the input. */
static void test_streamed_flood(void **state)
{
    (void)state;
    static ig_http_header_t hdrs[NHDR];
    static char flood[1 << 20];
    const char *what = NULL;
    size_t n = (size_t)snprintf(flood, sizeof(flood), "POST / HTTP/1.1\r\nHost: a\r\nX-A: ");
    memset(flood + n, 'x', sizeof(flood) - n);
    int rc = IG_EINCOMPLETE;
    size_t fed = 0;
    ig_h1_message_t m;
    memset(&m, 0, sizeof(m));
    m.headers = hdrs;
    m.num_headers = NHDR;
    while (rc == IG_EINCOMPLETE && fed < sizeof(flood)) {
        fed += 4096;
        rc = ig_h1_parse_request(flood, fed, NULL, &m, &what);
        assert_int_equal(m.num_headers, NHDR);
    }
    assert_int_equal(rc, IG_ETOOBIG);
    assert_true(fed <= 80 * 1024);
}

static void test_message_fields_reset(void **state)
{
    (void)state;
    ig_http_header_t hdrs[4];
    ig_h1_message_t m;
    const char *what;
    const char *post = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nExpect: 100-continue\r\n\r\n";
    const char *get = "GET / HTTP/1.0\r\n\r\n";

    m.headers = hdrs;
    m.num_headers = 4;
    assert_true(ig_h1_parse_request(post, strlen(post), NULL, &m, &what) > 0);
    assert_int_equal(m.num_headers, 3);
    assert_int_equal(m.expect_continue, 1);
    /* a later parse with the same message must not inherit anything */
    m.num_headers = 4;
    assert_true(ig_h1_parse_request(get, strlen(get), NULL, &m, &what) > 0);
    assert_int_equal(m.num_headers, 0);
    assert_int_equal(m.expect_continue, 0);
    assert_int_equal(m.framing, IG_H1_BODY_NONE);
    assert_int_equal(m.content_length, 0);
    assert_int_equal(m.host.len, 0);
    assert_int_equal(m.keep_alive, 0);
    /* what is NULL on success */
    assert_null(what);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_table),
        cmocka_unit_test(test_response_table),
        cmocka_unit_test(test_request_line_limit),
        cmocka_unit_test(test_header_limits),
        cmocka_unit_test(test_unterminated_header_block),
        cmocka_unit_test(test_streamed_flood),
        cmocka_unit_test(test_message_fields_reset),
    };
    return cmocka_run_group_tests(tests, setup_guard, teardown_guard);
}
