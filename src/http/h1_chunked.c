/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1): an incremental decoder that hands
 * payload out as slices of the caller's input, and the chunk header writer used by the encoders.
 * The decoder is a byte-level state machine except inside chunk data, which is delivered in as
 * few slices as the input allows. It is strict where a lenient reading could frame the body
 * differently from another hop: sizes are bare hex (no sign, no "0x", no whitespace before the
 * CRLF, at most 16 digits), CRLF is required after every chunk, and trailers are validated like
 * header fields and bounded. It stops right after the last CRLF, so pipelined bytes stay unread.
 * A caller that wants the trailers gets the bytes of their field lines as slices too (split
 * wherever the input is), and splits them with ig_h1_trailers_parse once the body is complete.
 */
#include "ig/http.h"

#define SIZE_LINE_MAX  4096  /* chunk-size [ chunk-ext ], CRLF excluded */
#define TRAILERS_MAX   65536 /* the whole trailer section, CRLFs included */
#define HEX_DIGITS_MAX 16    /* a uint64_t */

/* 0 must be the initial state (the decoder is zero-initialised). */
enum {
    CS_SIZE = 0, /* chunk-size digits, at least one */
    CS_SIZE_BWS, /* whitespace after the size: only a chunk extension may follow */
    CS_EXT,      /* ";" chunk-ext up to CR */
    CS_SIZE_LF,  /* the LF after the size line */
    CS_DATA,     /* chunk payload */
    CS_DATA_CR,  /* CRLF after the payload */
    CS_DATA_LF,
    CS_TRAILER, /* start of a trailer line, or the final CRLF */
    CS_TRAILER_NAME,
    CS_TRAILER_VALUE,
    CS_TRAILER_LF,
    CS_FINAL_LF,
    CS_DONE,
    CS_FAILED_PROTO, /* sticky errors: the stream cannot be resynchronised */
    CS_FAILED_BIG,
};

static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (unsigned char)(ch | 0x20);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

static int is_tchar(unsigned char ch)
{
    if ((ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'))
        return 1;
    return ch != 0 && memchr("!#$%&'*+-.^_`|~", ch, 15) != NULL;
}

/* HTAB, SP, VCHAR and obs-text: what may appear in a field value or a chunk extension. */
static int is_value_byte(unsigned char ch)
{
    return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

int ig_h1_chunked_decode(ig_h1_chunked_t *d, const char *in, size_t *in_len,
                         void (*on_data)(void *arg, const char *data, size_t len), void *arg)
{
    return ig_h1_chunked_decode_trailers(d, in, in_len, on_data, NULL, arg);
}

int ig_h1_chunked_decode_trailers(ig_h1_chunked_t *d, const char *in, size_t *in_len,
                                  void (*on_data)(void *arg, const char *data, size_t len),
                                  void (*on_trailer)(void *arg, const char *data, size_t len), void *arg)
{
    size_t len = *in_len, p = 0;
    int rc = 0;
    /* Start of the trailer field bytes of this input not yet handed to |on_trailer| (none: SIZE_MAX). */
    size_t ts =
        d->_state == CS_TRAILER_NAME || d->_state == CS_TRAILER_VALUE || d->_state == CS_TRAILER_LF ? 0 : SIZE_MAX;

    while (p < len) {
        unsigned char ch = (unsigned char)in[p];

        switch (d->_state) {
        case CS_SIZE: {
            int v = hex_value(ch);
            if (v >= 0) {
                if (++d->_hex_digits > HEX_DIGITS_MAX)
                    goto proto;
                d->_remaining = (d->_remaining << 4) | (uint64_t)v;
            } else if (d->_hex_digits == 0) {
                goto proto; /* empty size, or a sign */
            } else if (ch == ';') {
                d->_state = CS_EXT;
            } else if (ch == ' ' || ch == '\t') {
                d->_state = CS_SIZE_BWS;
            } else if (ch == '\r') {
                d->_state = CS_SIZE_LF;
            } else {
                goto proto;
            }
            break;
        }
        case CS_SIZE_BWS:
            if (ch == ';')
                d->_state = CS_EXT;
            else if (ch != ' ' && ch != '\t')
                goto proto;
            break;
        case CS_EXT:
            if (ch == '\r')
                d->_state = CS_SIZE_LF;
            else if (!is_value_byte(ch))
                goto proto;
            break;
        case CS_SIZE_LF:
            if (ch != '\n')
                goto proto;
            d->_line = 0;
            d->_hex_digits = 0;
            d->_state = d->_remaining > 0 ? CS_DATA : CS_TRAILER;
            p++;
            continue;
        case CS_DATA: {
            size_t n = len - p;
            if ((uint64_t)n > d->_remaining)
                n = (size_t)d->_remaining;
            if (on_data != NULL)
                on_data(arg, in + p, n);
            d->_remaining -= n;
            p += n;
            if (d->_remaining == 0)
                d->_state = CS_DATA_CR;
            continue;
        }
        case CS_DATA_CR:
            if (ch != '\r')
                goto proto;
            d->_state = CS_DATA_LF;
            p++;
            continue;
        case CS_DATA_LF:
            if (ch != '\n')
                goto proto;
            d->_state = CS_SIZE;
            p++;
            continue;
        case CS_TRAILER:
            if (ch == '\r') {
                d->_state = CS_FINAL_LF;
                if (ts != SIZE_MAX && on_trailer != NULL)
                    on_trailer(arg, in + ts, p - ts); /* the field lines end; the empty line is not theirs */
                ts = SIZE_MAX;
            } else if (is_tchar(ch)) {
                d->_state = CS_TRAILER_NAME;
                if (ts == SIZE_MAX)
                    ts = p;
            } else {
                goto proto; /* obs-fold, empty name, control byte */
            }
            break;
        case CS_TRAILER_NAME:
            if (ch == ':')
                d->_state = CS_TRAILER_VALUE;
            else if (!is_tchar(ch))
                goto proto; /* includes whitespace before the colon */
            break;
        case CS_TRAILER_VALUE:
            if (ch == '\r')
                d->_state = CS_TRAILER_LF;
            else if (!is_value_byte(ch))
                goto proto;
            break;
        case CS_TRAILER_LF:
            if (ch != '\n')
                goto proto;
            d->_state = CS_TRAILER;
            break;
        case CS_FINAL_LF:
            if (ch != '\n')
                goto proto;
            d->_state = CS_DONE;
            p++;
            rc = 1;
            goto out;
        case CS_DONE:
            rc = 1;
            goto out;
        case CS_FAILED_BIG:
            rc = IG_ETOOBIG;
            goto out;
        default:
            goto proto;
        }

        /*
         * Size lines (CR excluded) and the trailer section (CRLFs included) are bounded while
         * they are still incomplete.
         */
        d->_line++;
        if (d->_state >= CS_TRAILER ? d->_line > TRAILERS_MAX : d->_state < CS_SIZE_LF && d->_line > SIZE_LINE_MAX) {
            d->_state = CS_FAILED_BIG;
            rc = IG_ETOOBIG;
            goto out;
        }
        p++;
    }
    if (d->_state == CS_DONE)
        rc = 1;
    else if (d->_state == CS_FAILED_BIG)
        rc = IG_ETOOBIG;
    else if (d->_state == CS_FAILED_PROTO)
        rc = IG_EPROTO;
out:
    /* A field line cut by the end of the input: what arrived so far (the rest comes next call). */
    if (ts != SIZE_MAX && rc >= 0 && on_trailer != NULL && p > ts)
        on_trailer(arg, in + ts, p - ts);
    *in_len = p;
    return rc;
proto:
    d->_state = CS_FAILED_PROTO;
    *in_len = p;
    return IG_EPROTO;
}

int ig_h1_trailers_parse(const char *buf, size_t len, size_t max, ig_pool_t *pool, ig_http_headers_t *out)
{
    size_t p = 0;
    int n = 0;
    while (p < len) {
        const char *line = buf + p;
        const char *eol = memchr(line, '\r', len - p);
        const char *colon = memchr(line, ':', eol != NULL ? (size_t)(eol - line) : len - p);
        /* The decoder validated the lines: a miss here means the caller joined them wrongly. */
        if (eol == NULL || colon == NULL || colon == line || (size_t)(eol - buf) + 1 >= len || eol[1] != '\n')
            return IG_EPROTO;
        if ((size_t)n >= max)
            return IG_ETOOBIG;
        const char *v = colon + 1, *ve = eol;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        ig_http_headers_add(pool, out, ig_pool_dup(pool, ig_iov(line, (size_t)(colon - line))),
                            ig_pool_dup(pool, ig_iov(v, (size_t)(ve - v))));
        n++;
        p = (size_t)(eol - buf) + 2;
    }
    return n;
}

size_t ig_h1_chunk_header(char *out, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[2 * sizeof(size_t)];
    size_t n = 0, i = 0;

    do {
        tmp[n++] = hex[len & 0xf];
        len >>= 4;
    } while (len != 0);
    while (n > 0)
        out[i++] = tmp[--n];
    out[i++] = '\r';
    out[i++] = '\n';
    return i;
}
