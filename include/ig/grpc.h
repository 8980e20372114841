/* SPDX-License-Identifier: Apache-2.0 */
/*
 * grpc: the gRPC wire layer that does not depend on a transport. Message framing (the 5-byte
 * length prefix) with an incremental deframer, status codes and their names, the grpc-message
 * percent-encoding, the grpc-timeout header, and a protobuf-c allocator backed by a request's
 * arena. Everything here is a pure function over bytes: unit-tested and fuzzed.
 *
 * The client and server streams over HTTP/2 (ig_grpc_call_*, ig_grpc_server_*) build on the
 * http module's HTTP/2 trailers and come in a later section of this header.
 */
#ifndef IG_GRPC_H
#define IG_GRPC_H

#include <protobuf-c/protobuf-c.h>

#include "ig/core.h"

/* ---- status codes ---------------------------------------------------------------------------- */

/* The canonical gRPC status codes (the value of the grpc-status trailer). */
enum ig_grpc_status {
    IG_GRPC_OK = 0,
    IG_GRPC_CANCELLED = 1,
    IG_GRPC_UNKNOWN = 2,
    IG_GRPC_INVALID_ARGUMENT = 3,
    IG_GRPC_DEADLINE_EXCEEDED = 4,
    IG_GRPC_NOT_FOUND = 5,
    IG_GRPC_ALREADY_EXISTS = 6,
    IG_GRPC_PERMISSION_DENIED = 7,
    IG_GRPC_RESOURCE_EXHAUSTED = 8,
    IG_GRPC_FAILED_PRECONDITION = 9,
    IG_GRPC_ABORTED = 10,
    IG_GRPC_OUT_OF_RANGE = 11,
    IG_GRPC_UNIMPLEMENTED = 12,
    IG_GRPC_INTERNAL = 13,
    IG_GRPC_UNAVAILABLE = 14,
    IG_GRPC_DATA_LOSS = 15,
    IG_GRPC_UNAUTHENTICATED = 16,
    IG_GRPC_STATUS_COUNT
};

/** Returns the upper-case name of |code| ("OK", "RESOURCE_EXHAUSTED", ...), "UNKNOWN" when out of range. */
const char *ig_grpc_status_name(int code);
/**
 * Parses a grpc-status value (decimal, no sign or spaces). Returns 0, or IG_EINVAL for anything
 * else. Values above 16 are accepted as they are (a peer may use newer codes); the caller treats
 * them as UNKNOWN.
 */
int ig_grpc_status_parse(ig_iov_t value, int *code);
/**
 * The status to report when a response carries no grpc-status, from its HTTP status (gRPC's
 * "HTTP to gRPC status code mapping"): 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
 * 404 UNIMPLEMENTED, 429/502/503/504 UNAVAILABLE, anything else UNKNOWN.
 */
int ig_grpc_status_from_http(int http_status);
/**
 * Maps an IG_E* error of this module (or of the transport) to the status to send or report:
 * IG_ETOOBIG RESOURCE_EXHAUSTED, IG_EUNSUPPORTED UNIMPLEMENTED, IG_ETIMEDOUT DEADLINE_EXCEEDED,
 * IG_ECANCELED CANCELLED, IG_ECONNECT/IG_ECLOSED/IG_ERESET UNAVAILABLE, IG_EINVAL INVALID_ARGUMENT,
 * 0 OK, anything else INTERNAL.
 */
int ig_grpc_status_from_err(int err);

/** True for application/grpc and its application/grpc+<subtype> / ;parameters forms. */
int ig_grpc_is_content_type(ig_iov_t value);

/* ---- message framing ------------------------------------------------------------------------- */

#define IG_GRPC_PREFIX_LEN 5
/* gRPC's conventional default receive limit. */
#define IG_GRPC_DEFAULT_MAX_MESSAGE (4u * 1024 * 1024)

/** Writes the uncompressed prefix of a |len|-byte message (flag 0, big-endian length) to |out|. */
void ig_grpc_prefix_write(uint8_t out[IG_GRPC_PREFIX_LEN], uint32_t len);
/** Appends prefix + |msg| to |out|. Returns 0, or IG_ETOOBIG (|out|'s cap, or |len| > UINT32_MAX). */
int ig_grpc_frame_append(ig_buf_t *out, const void *msg, size_t len);

/*
 * Incremental deframer for one direction of one stream. Feed it the DATA payload as it arrives,
 * in chunks of any size; every complete message is handed to the callback. Caller-owned storage:
 * ig_grpc_deframer_init / ig_grpc_deframer_dispose.
 */
typedef struct ig_grpc_deframer {
    size_t max_message; /* larger messages fail with IG_ETOOBIG */
    /* private */
    uint8_t _hdr[IG_GRPC_PREFIX_LEN];
    size_t _hdr_len; /* prefix bytes held in _hdr */
    size_t _need;    /* payload bytes still missing of the current message */
    int _in_msg;     /* the prefix is complete, the payload is being collected */
    int _err;        /* sticky failure */
    ig_buf_t _msg;   /* payload of a message split across feeds */
} ig_grpc_deframer_t;

/**
 * Called once per complete message. |msg| points into the fed input when the message arrived in
 * one piece, else into the deframer's buffer: valid only during the call. Return 0 to go on, or
 * a negative code to stop; ig_grpc_deframer_feed returns that code and the deframer stays failed.
 * The callback must not feed or dispose the deframer it is called from.
 */
typedef int (*ig_grpc_message_cb)(void *arg, ig_iov_t msg);

/** |max_message| 0 means IG_GRPC_DEFAULT_MAX_MESSAGE. */
void ig_grpc_deframer_init(ig_grpc_deframer_t *d, size_t max_message);
void ig_grpc_deframer_dispose(ig_grpc_deframer_t *d);
/**
 * Consumes |len| bytes (borrowed). Returns 0 when all were consumed (a partial message stays
 * buffered), IG_ETOOBIG when a declared length exceeds max_message (report RESOURCE_EXHAUSTED),
 * IG_EUNSUPPORTED for a compressed message (flag 1: no compression is ever negotiated, report
 * UNIMPLEMENTED), IG_EPROTO for a flag byte other than 0 or 1 (INTERNAL), or the callback's
 * error. After a failure every later call returns the same code.
 */
int ig_grpc_deframer_feed(ig_grpc_deframer_t *d, const void *data, size_t len, ig_grpc_message_cb cb, void *arg);
/**
 * Call when the stream's data ended: returns 0 if it ended on a message boundary, IG_EPROTO when a
 * message was cut short (report INTERNAL), or the sticky failure.
 */
int ig_grpc_deframer_finish(const ig_grpc_deframer_t *d);

/* ---- grpc-message and grpc-timeout headers --------------------------------------------------- */

/**
 * Percent-encodes |msg| for the grpc-message trailer: bytes outside 0x20-0x7e and '%' become %XX
 * (UTF-8 text is encoded byte by byte). Returns the encoded copy, NUL-terminated, in |pool|.
 */
ig_iov_t ig_grpc_message_encode(ig_pool_t *pool, ig_iov_t msg);
/**
 * Decodes a grpc-message value into |pool| (NUL-terminated). A '%' not followed by two hex digits
 * is kept literally, as the gRPC spec asks of decoders; never fails.
 */
ig_iov_t ig_grpc_message_decode(ig_pool_t *pool, ig_iov_t value);

/* Longest grpc-timeout value: 8 digits and a unit, plus a NUL. */
#define IG_GRPC_TIMEOUT_MAX 10
/**
 * Parses a grpc-timeout value ("1-8 digits" + one of H M S m u n) into nanoseconds, saturating at
 * UINT64_MAX. Returns 0, or IG_EINVAL for anything else.
 */
int ig_grpc_timeout_parse(ig_iov_t value, uint64_t *ns);
/**
 * Formats |ns| as a grpc-timeout value in the finest unit that fits in 8 digits, rounding up so
 * the peer's deadline is never earlier than ours. Writes a NUL-terminated string to |out| and
 * returns its length.
 */
size_t ig_grpc_timeout_format(char out[IG_GRPC_TIMEOUT_MAX], uint64_t ns);

/* ---- protobuf-c allocation from an arena ----------------------------------------------------- */

/*
 * A ProtobufCAllocator that takes memory from an ig_pool_t: a decoded message lives until the
 * pool is cleared, and protobuf_c_message_free_unpacked is never needed (its frees are no-ops).
 * |limit| caps what one allocator may take, counted in the pool's 16-byte granules (0: no cap);
 * past it allocations fail and unpacking returns NULL, so a hostile message cannot make the
 * arena grow without bound.
 * Caller-owned; pass &a->base to protobuf-c. The pool is borrowed and must outlive the messages.
 */
struct ig_grpc_pballoc {
    ProtobufCAllocator base;
    ig_pool_t *pool;
    size_t limit;
    size_t used;
    int refused; /* an allocation failed on the limit: the decode failed for size, not syntax */
};

void ig_grpc_pballoc_init(struct ig_grpc_pballoc *a, ig_pool_t *pool, size_t limit);

/* ---- streams over HTTP/2 --------------------------------------------------------------------- */

/*
 * Reserved for the transport half: ig_grpc_call_t (client side of one RPC on an ig_http_client_t
 * HTTP/2 connection: POST with content-type application/grpc and te: trailers, messages framed
 * with ig_grpc_frame_append, responses through an ig_grpc_deframer_t, status from the trailers)
 * and the server side dispatching :path "/<service>/<method>" to handlers on an ig_http_server_t.
 */

#endif
