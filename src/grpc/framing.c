/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gRPC length-prefixed message framing: every message on a gRPC stream is a 1-byte compressed
 * flag, a 4-byte big-endian length and the protobuf bytes. The deframer takes the stream's DATA
 * payload in chunks of any size and hands out whole messages, copying only the messages that
 * straddle a chunk boundary.
 */
#include "ig/grpc.h"

/* Reassembly buffers up to this size are kept for the next split message. */
#define KEEP_BUFFER_MAX (64u * 1024)

void ig_grpc_prefix_write(uint8_t out[IG_GRPC_PREFIX_LEN], uint32_t len)
{
    out[0] = 0; /* never compressed: we offer no grpc-encoding */
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
}

int ig_grpc_frame_append(ig_buf_t *out, const void *msg, size_t len)
{
    if (len > UINT32_MAX)
        return IG_ETOOBIG;
    char *p = ig_buf_reserve(out, IG_GRPC_PREFIX_LEN + len);
    if (p == NULL)
        return IG_ETOOBIG;
    ig_grpc_prefix_write((uint8_t *)p, (uint32_t)len);
    if (len != 0)
        memcpy(p + IG_GRPC_PREFIX_LEN, msg, len);
    ig_buf_commit(out, IG_GRPC_PREFIX_LEN + len);
    return 0;
}

void ig_grpc_deframer_init(ig_grpc_deframer_t *d, size_t max_message)
{
    memset(d, 0, sizeof(*d));
    d->max_message = max_message != 0 ? max_message : IG_GRPC_DEFAULT_MAX_MESSAGE;
    /* The buffer is capped by max_message too, so a split message can never outgrow it. */
    ig_buf_init(&d->_msg, d->max_message);
}

void ig_grpc_deframer_dispose(ig_grpc_deframer_t *d)
{
    ig_buf_dispose(&d->_msg);
}

/* Checks the length of a complete prefix (flag 0) and starts collecting its payload. */
static int start_message(ig_grpc_deframer_t *d)
{
    const uint8_t *h = d->_hdr;
    uint32_t len = ((uint32_t)h[1] << 24) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 8) | (uint32_t)h[4];
    if (len > d->max_message)
        return IG_ETOOBIG;
    d->_need = len;
    d->_in_msg = 1;
    d->_hdr_len = 0;
    return 0;
}

static int deliver(ig_grpc_deframer_t *d, ig_iov_t msg, ig_grpc_message_cb cb, void *arg)
{
    d->_in_msg = 0;
    d->_need = 0;
    return cb(arg, msg);
}

int ig_grpc_deframer_feed(ig_grpc_deframer_t *d, const void *data, size_t len, ig_grpc_message_cb cb, void *arg)
{
    const char *p = data;
    const char *end = p + len;
    int rc = d->_err;

    if (rc != 0)
        return rc;
    while (p < end || (d->_in_msg && d->_need == 0)) {
        if (!d->_in_msg) {
            size_t take = IG_MIN(IG_GRPC_PREFIX_LEN - d->_hdr_len, (size_t)(end - p));
            memcpy(d->_hdr + d->_hdr_len, p, take);
            d->_hdr_len += take;
            p += take;
            /* The flag byte is judged as soon as it arrives, not when the length is complete. */
            if (d->_hdr[0] != 0) {
                rc = d->_hdr[0] == 1 ? IG_EUNSUPPORTED : IG_EPROTO;
                goto fail;
            }
            if (d->_hdr_len < IG_GRPC_PREFIX_LEN)
                break;
            if ((rc = start_message(d)) != 0)
                goto fail;
            continue;
        }
        size_t avail = (size_t)(end - p);
        if (d->_msg.len == 0 && avail >= d->_need) {
            /* The whole payload is in this chunk: hand out a slice, no copy. */
            ig_iov_t msg = ig_iov(p, d->_need);
            p += d->_need;
            if ((rc = deliver(d, msg, cb, arg)) != 0)
                goto fail;
            continue;
        }
        size_t take = IG_MIN(avail, d->_need);
        if ((rc = ig_buf_append(&d->_msg, p, take)) != 0)
            goto fail; /* cannot happen: the cap is max_message and _need fits in it */
        p += take;
        d->_need -= take;
        if (d->_need != 0)
            break;
        rc = deliver(d, ig_iov(ig_buf_data(&d->_msg), d->_msg.len), cb, arg);
        /*
         * Reset only after the callback: the slice it saw points into the buffer. A buffer grown
         * for a large message is released so an idle stream does not keep it.
         */
        if (d->_msg.cap > KEEP_BUFFER_MAX) {
            ig_buf_dispose(&d->_msg);
            ig_buf_init(&d->_msg, d->max_message);
        } else {
            ig_buf_reset(&d->_msg);
        }
        if (rc != 0)
            goto fail;
    }
    return 0;

fail:
    d->_err = rc;
    return rc;
}

int ig_grpc_deframer_finish(const ig_grpc_deframer_t *d)
{
    if (d->_err != 0)
        return d->_err;
    return (d->_in_msg || d->_hdr_len != 0) ? IG_EPROTO : 0;
}
