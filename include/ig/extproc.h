/* SPDX-License-Identifier: Apache-2.0 */
/*
 * extproc: the Envoy ext_proc messages of the Endpoint Picker Protocol (gateway <-> EPP), as
 * protobuf-c structs generated from proto/. This part is the codec both sides share:
 *
 *  - encoders for what a gateway sends (ProcessingRequest: request/response headers, body chunks,
 *    trailers), each appended to an ig_buf_t with its 5-byte gRPC prefix, ready for the stream;
 *  - a decoder that turns one ProcessingResponse (a complete message, without prefix) into an
 *    ig_extproc_response: the header mutation, the picked destination, streamed body chunks and
 *    an ImmediateResponse, as slices into the request's arena;
 *  - the endpoint list parser ("ip:port,[v6]:port"), Struct lookups for metadata namespaces, and
 *    a generic decode of ProcessingRequest / pack of any message for the EPP side.
 *
 * Everything is pure (no I/O): unit-tested and fuzzed. Decoded data lives in the pool passed in,
 * so it is released with the request; nothing here needs freeing.
 */
#ifndef IG_EXTPROC_H
#define IG_EXTPROC_H

#include <sys/socket.h>

#include "envoy/service/ext_proc/v3/external_processor.pb-c.h"
#include "ig/core.h"
#include "ig/grpc.h"
#include "ig/http.h"

/* HTTP/2 :path of the one RPC. */
#define IG_EXTPROC_PATH "/envoy.service.ext_proc.v3.ExternalProcessor/Process"

/* Metadata namespace and keys of the Endpoint Picker Protocol. */
#define IG_EXTPROC_NS_LB             "envoy.lb"
#define IG_EXTPROC_NS_SUBSET         "envoy.lb.subset_hint"
#define IG_EXTPROC_KEY_DEST          "x-gateway-destination-endpoint"
#define IG_EXTPROC_KEY_SERVED        "x-gateway-destination-endpoint-served"
#define IG_EXTPROC_KEY_SUBSET        "x-gateway-destination-endpoint-subset"
#define IG_EXTPROC_KEY_DEST_FALLBACK "x-gateway-destination-endpoint-fallback"

/* Largest message the decoder accepts by default (the gRPC default receive limit). */
#define IG_EXTPROC_MAX_MESSAGE IG_GRPC_DEFAULT_MAX_MESSAGE

/* ---- encoding what the gateway sends ----------------------------------------------------------- */

/*
 * Optional subset hint (metadata_context.filter_metadata["envoy.lb.subset_hint"]
 * ["x-gateway-destination-endpoint-subset"] = ListValue of "ip:port" strings). Pass the same
 * value to every request-direction encoder of a stream, since an EPP re-reads it per message;
 * NULL sends none. |v| and its strings are borrowed.
 */
struct ig_extproc_subset {
    const ig_iov_t *v;
    size_t len;
};

/*
 * All encoders append one framed ProcessingRequest to |out| and return 0, or IG_ETOOBIG when |out|
 * is at its cap (|out| is then unchanged). |scratch| holds temporary strings and structs
 * (lower-cased names, the message tree) and may be the request's pool. Input is borrowed.
 */

/**
 * request_headers: the four pseudo-headers :method :scheme :authority :path from |req| (":scheme"
 * "http" when empty), then every header of |req| with a lower-case key and the value in raw_value.
 * Host (carried as :authority) and hop-by-hop headers (connection, keep-alive, proxy-connection,
 * transfer-encoding, upgrade, te) are not sent. |end_of_stream|: the request has no body.
 * |first| adds protocol_config (request and response body mode FULL_DUPLEX_STREAMED), which
 * belongs on the first message of a stream only.
 */
int ig_extproc_encode_request_headers(ig_buf_t *out, ig_pool_t *scratch, const ig_http_request_t *req,
                                      int end_of_stream, int first, const struct ig_extproc_subset *subset);
/** request_body: one chunk (may be empty, e.g. the final end_of_stream marker). */
int ig_extproc_encode_request_body(ig_buf_t *out, ig_pool_t *scratch, const void *data, size_t len, int end_of_stream,
                                   const struct ig_extproc_subset *subset);
/** request_trailers (they imply the end of the body). */
int ig_extproc_encode_request_trailers(ig_buf_t *out, ig_pool_t *scratch, const ig_http_headers_t *trailers,
                                       const struct ig_extproc_subset *subset);
/**
 * response_headers: ":status" then the headers of |resp|, and metadata_context.filter_metadata
 * ["envoy.lb"]["x-gateway-destination-endpoint-served"] = |served| (the "ip:port" actually
 * dialled) unless |served| is empty.
 */
int ig_extproc_encode_response_headers(ig_buf_t *out, ig_pool_t *scratch, const ig_http_response_t *resp,
                                       int end_of_stream, ig_iov_t served);
int ig_extproc_encode_response_body(ig_buf_t *out, ig_pool_t *scratch, const void *data, size_t len, int end_of_stream);
int ig_extproc_encode_response_trailers(ig_buf_t *out, ig_pool_t *scratch, const ig_http_headers_t *trailers);

/*
 * Protocol variants beyond the FULL_DUPLEX_STREAMED default, for a gateway that keeps the picker
 * out of the response's data path. Body modes are ProcessingMode.BodySendMode values.
 */
enum ig_extproc_body_mode {
    IG_EXTPROC_MODE_NONE = 0,
    IG_EXTPROC_MODE_STREAMED = 1,
    IG_EXTPROC_MODE_BUFFERED = 2,
    IG_EXTPROC_MODE_BUFFERED_PARTIAL = 3,
    IG_EXTPROC_MODE_FULL_DUPLEX_STREAMED = 4,
};
/* ProcessingRequest.observability_mode: the processor must not answer this message. */
#define IG_EXTPROC_F_OBSERVE 1u

/**
 * ig_extproc_encode_request_headers for the first message of a stream, with protocol_config
 * announcing |request_body_mode| and |response_body_mode| (enum ig_extproc_body_mode).
 */
int ig_extproc_encode_request_headers_mode(ig_buf_t *out, ig_pool_t *scratch, const ig_http_request_t *req,
                                           int end_of_stream, int request_body_mode, int response_body_mode,
                                           const struct ig_extproc_subset *subset);
/** The response-direction encoders with |flags| (IG_EXTPROC_F_OBSERVE). */
int ig_extproc_encode_response_headers_ex(ig_buf_t *out, ig_pool_t *scratch, const ig_http_response_t *resp,
                                          int end_of_stream, ig_iov_t served, unsigned flags);
int ig_extproc_encode_response_body_ex(ig_buf_t *out, ig_pool_t *scratch, const void *data, size_t len,
                                       int end_of_stream, unsigned flags);
int ig_extproc_encode_response_trailers_ex(ig_buf_t *out, ig_pool_t *scratch, const ig_http_headers_t *trailers,
                                           unsigned flags);

/**
 * Appends any protobuf-c message framed with the gRPC prefix (the EPP side uses it for its
 * ProcessingResponse). Returns 0, or IG_ETOOBIG.
 */
int ig_extproc_pack(ig_buf_t *out, const ProtobufCMessage *msg);

/* ---- decoding -------------------------------------------------------------------------------- */

/**
 * Unpacks a ProcessingRequest (EPP side) from |msg| (one complete message without the prefix,
 * borrowed; bytes fields may point into it) into |pool|. Returns 0, or IG_EPROTO for bytes that
 * are not a valid message, IG_ETOOBIG when decoding would take more than 8x |msg| (+64 KiB) of
 * arena. protobuf-c strings inside are NUL-terminated and owned by |pool|.
 */
int ig_extproc_decode_request(ig_pool_t *pool, ig_iov_t msg, Envoy__Service__ExtProc__V3__ProcessingRequest **out);
/** The same for a raw ProcessingResponse, for callers that need fields the summary leaves out. */
int ig_extproc_unpack_response(ig_pool_t *pool, ig_iov_t msg, Envoy__Service__ExtProc__V3__ProcessingResponse **out);

enum ig_extproc_kind {
    IG_EXTPROC_NONE = 0, /* no oneof member set: a protocol error for the caller */
    IG_EXTPROC_REQUEST_HEADERS,
    IG_EXTPROC_RESPONSE_HEADERS,
    IG_EXTPROC_REQUEST_BODY,
    IG_EXTPROC_RESPONSE_BODY,
    IG_EXTPROC_REQUEST_TRAILERS,
    IG_EXTPROC_RESPONSE_TRAILERS,
    IG_EXTPROC_IMMEDIATE,
    IG_EXTPROC_KIND_COUNT
};
const char *ig_extproc_kind_name(int kind);

/* HeaderValueOption.append_action, plus what a set entry means when it has none. */
enum ig_extproc_append {
    IG_EXTPROC_APPEND_IF_EXISTS_OR_ADD = 0,
    IG_EXTPROC_ADD_IF_ABSENT = 1,
    IG_EXTPROC_OVERWRITE_IF_EXISTS_OR_ADD = 2,
    IG_EXTPROC_OVERWRITE_IF_EXISTS = 3,
};

struct ig_extproc_header_set {
    ig_iov_t name;  /* as sent (the caller compares without case) */
    ig_iov_t value; /* raw_value when non-empty, else value */
    int action;     /* enum ig_extproc_append, already resolved (see ig_extproc_decode_response) */
    int keep_empty_value;
};

struct ig_extproc_mutation {
    struct ig_extproc_header_set *set;
    size_t n_set;
    ig_iov_t *remove;
    size_t n_remove;
};

enum ig_extproc_body {
    IG_EXTPROC_BODY_NONE = 0, /* no body mutation: pass the matching original chunk unchanged */
    IG_EXTPROC_BODY_STREAMED, /* streamed_response: |body| replaces the body, |body_eos| ends it */
    IG_EXTPROC_BODY_REPLACE,  /* body_mutation.body: whole replacement */
    IG_EXTPROC_BODY_CLEAR,    /* body_mutation.clear_body */
};

/* A decoded ProcessingResponse, summarised for the gateway. All slices live in the pool. */
struct ig_extproc_response {
    int kind; /* enum ig_extproc_kind */
    /* CommonResponse (headers/body answers), or the TrailersResponse's mutation */
    int common_status; /* CONTINUE 0 / CONTINUE_AND_REPLACE 1 */
    int clear_route_cache;
    struct ig_extproc_mutation headers;
    int body_kind; /* enum ig_extproc_body */
    ig_iov_t body;
    int body_eos;
    /* the pick: header from set_headers and dynamic_metadata["envoy.lb"] string; empty when absent */
    ig_iov_t dest_header;
    ig_iov_t dest_metadata;
    /* ImmediateResponse (kind IG_EXTPROC_IMMEDIATE) */
    struct {
        int status; /* HTTP status as sent; 0 when absent (callers map it) */
        struct ig_extproc_mutation headers;
        ig_iov_t body;
        ig_iov_t details;
        int has_grpc_status;
        uint32_t grpc_status;
    } immediate;
    const Google__Protobuf__Struct *dynamic_metadata;           /* NULL when absent */
    const Envoy__Service__ExtProc__V3__ProcessingResponse *msg; /* the whole message */
};

/**
 * Decodes one ProcessingResponse (|msg| borrowed, complete, no prefix) into |out| using |pool|.
 * set_headers entries without append_action and without the deprecated append flag resolve to
 * OVERWRITE_IF_EXISTS_OR_ADD (ext_proc's default); with append=true and no action, to
 * APPEND_IF_EXISTS_OR_ADD. Returns 0, or IG_EPROTO (not a valid message), IG_ETOOBIG (as
 * ig_extproc_decode_request).
 */
int ig_extproc_decode_response(ig_pool_t *pool, ig_iov_t msg, struct ig_extproc_response *out);

/** The destination to use: the header when present, else the metadata value; empty when neither. */
static inline ig_iov_t ig_extproc_destination(const struct ig_extproc_response *r)
{
    return r->dest_header.len != 0 ? r->dest_header : r->dest_metadata;
}

/**
 * Looks up |s|[|ns|] (a Struct value) [|key|] and returns it when it is a string, else an empty
 * slice. Works for dynamic_metadata and for one Metadata.filter_metadata namespace (pass
 * ig_extproc_metadata_ns()'s result with an empty |ns|).
 */
ig_iov_t ig_extproc_struct_string(const Google__Protobuf__Struct *s, ig_iov_t ns, ig_iov_t key);
/** Returns the Struct of namespace |ns| in |md|'s filter_metadata, or NULL. */
const Google__Protobuf__Struct *ig_extproc_metadata_ns(const Envoy__Config__Core__V3__Metadata *md, ig_iov_t ns);
/** Returns the value of field |key| of |s|, or NULL. */
const Google__Protobuf__Value *ig_extproc_struct_get(const Google__Protobuf__Struct *s, ig_iov_t key);

/* ---- endpoint lists -------------------------------------------------------------------------- */

/* Longest "[v6]:port" text kept for an endpoint, NUL included. */
#define IG_EXTPROC_ENDPOINT_TEXT_MAX 56

struct ig_extproc_endpoint {
    struct sockaddr_storage addr; /* AF_INET or AF_INET6 with the port */
    socklen_t addr_len;
    char text[IG_EXTPROC_ENDPOINT_TEXT_MAX]; /* the entry as received, trimmed */
};

/**
 * Parses a destination value "ip:port" or "ip:port,ip:port,..." (IPv6 as "[addr]:port"): splits on
 * ',', trims spaces, and skips entries that are not a literal address with a port 1-65535 rather
 * than failing. Fills up to |max| entries of |out| in order; returns how many.
 */
size_t ig_extproc_parse_endpoints(ig_iov_t value, struct ig_extproc_endpoint *out, size_t max);

#endif
