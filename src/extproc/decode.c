/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Decoding ext_proc messages: protobuf-c unpacks into the request's arena (bounded relative to the
 * message size), then a ProcessingResponse is summarised into what the gateway acts on: the header
 * mutation with each entry's append rule resolved, the destination from the header and from
 * dynamic metadata, the body mutation and an ImmediateResponse. Also the Struct lookups both sides
 * use for metadata namespaces.
 */
#include "ig/extproc.h"

typedef Envoy__Service__ExtProc__V3__ProcessingResponse pb_response;
typedef Envoy__Service__ExtProc__V3__ProcessingRequest pb_request;
typedef Envoy__Service__ExtProc__V3__CommonResponse pb_common;
typedef Envoy__Service__ExtProc__V3__HeaderMutation pb_mutation;
typedef Envoy__Service__ExtProc__V3__ImmediateResponse pb_immediate;
typedef Envoy__Config__Core__V3__HeaderValueOption pb_header_option;

/*
 * Arena a decode may take: protobuf-c allocates a struct per submessage and pointer arrays per
 * repeated field, so a message of many tiny entries expands several-fold; real messages stay far
 * below this. Past it the decode fails instead of growing the arena without bound.
 */
#define DECODE_EXPANSION 32
#define DECODE_SLACK     (64u * 1024)

static int unpack(ig_pool_t *pool, ig_iov_t msg, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
    struct ig_grpc_pballoc a;
    if (msg.len > IG_EXTPROC_MAX_MESSAGE)
        return IG_ETOOBIG;
    ig_grpc_pballoc_init(&a, pool, msg.len * DECODE_EXPANSION + DECODE_SLACK);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, &a.base, msg.len, (const uint8_t *)msg.base);
    if (m == NULL)
        return a.refused ? IG_ETOOBIG : IG_EPROTO;
    *out = m;
    return 0;
}

int ig_extproc_decode_request(ig_pool_t *pool, ig_iov_t msg, pb_request **out)
{
    ProtobufCMessage *m;
    int rc = unpack(pool, msg, &envoy__service__ext_proc__v3__processing_request__descriptor, &m);
    if (rc == 0)
        *out = (pb_request *)m;
    return rc;
}

int ig_extproc_unpack_response(ig_pool_t *pool, ig_iov_t msg, pb_response **out)
{
    ProtobufCMessage *m;
    int rc = unpack(pool, msg, &envoy__service__ext_proc__v3__processing_response__descriptor, &m);
    if (rc == 0)
        *out = (pb_response *)m;
    return rc;
}

const char *ig_extproc_kind_name(int kind)
{
    static const char *const names[IG_EXTPROC_KIND_COUNT] = {
        [IG_EXTPROC_NONE] = "none",
        [IG_EXTPROC_REQUEST_HEADERS] = "request_headers",
        [IG_EXTPROC_RESPONSE_HEADERS] = "response_headers",
        [IG_EXTPROC_REQUEST_BODY] = "request_body",
        [IG_EXTPROC_RESPONSE_BODY] = "response_body",
        [IG_EXTPROC_REQUEST_TRAILERS] = "request_trailers",
        [IG_EXTPROC_RESPONSE_TRAILERS] = "response_trailers",
        [IG_EXTPROC_IMMEDIATE] = "immediate_response",
    };
    return kind >= 0 && kind < IG_EXTPROC_KIND_COUNT ? names[kind] : "invalid";
}

/* ---- Struct lookups -------------------------------------------------------------------------- */

static int key_eq(const char *key, ig_iov_t want)
{
    return key != NULL && strlen(key) == want.len && memcmp(key, want.base, want.len) == 0;
}

const Google__Protobuf__Value *ig_extproc_struct_get(const Google__Protobuf__Struct *s, ig_iov_t key)
{
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < s->n_fields; i++) {
        const Google__Protobuf__Struct__FieldsEntry *f = s->fields[i];
        if (f != NULL && key_eq(f->key, key))
            return f->value;
    }
    return NULL;
}

const Google__Protobuf__Struct *ig_extproc_metadata_ns(const Envoy__Config__Core__V3__Metadata *md, ig_iov_t ns)
{
    if (md == NULL)
        return NULL;
    for (size_t i = 0; i < md->n_filter_metadata; i++) {
        const Envoy__Config__Core__V3__Metadata__FilterMetadataEntry *e = md->filter_metadata[i];
        if (e != NULL && key_eq(e->key, ns))
            return e->value;
    }
    return NULL;
}

ig_iov_t ig_extproc_struct_string(const Google__Protobuf__Struct *s, ig_iov_t ns, ig_iov_t key)
{
    if (ns.len != 0) {
        const Google__Protobuf__Value *v = ig_extproc_struct_get(s, ns);
        if (v == NULL || v->kind_case != GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE)
            return IG_IOV_NULL;
        s = v->struct_value;
    }
    const Google__Protobuf__Value *v = ig_extproc_struct_get(s, key);
    if (v == NULL || v->kind_case != GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE || v->string_value == NULL)
        return IG_IOV_NULL;
    return ig_iov_cstr(v->string_value);
}

/* ---- ProcessingResponse ---------------------------------------------------------------------- */

static int resolve_action(const pb_header_option *o)
{
    int action = (int)o->append_action;
    if (action > IG_EXTPROC_OVERWRITE_IF_EXISTS || action < 0)
        return IG_EXTPROC_OVERWRITE_IF_EXISTS_OR_ADD; /* unknown (newer) action: the safe default */
    if (action != IG_EXTPROC_APPEND_IF_EXISTS_OR_ADD)
        return action;
    /*
     * 0 is both "absent" and APPEND_IF_EXISTS_OR_ADD on the wire. ext_proc decides by the
     * deprecated append flag, which defaults to false there: overwrite unless it says append.
     */
    if (o->append != NULL && o->append->value)
        return IG_EXTPROC_APPEND_IF_EXISTS_OR_ADD;
    return IG_EXTPROC_OVERWRITE_IF_EXISTS_OR_ADD;
}

static void convert_mutation(ig_pool_t *pool, const pb_mutation *m, struct ig_extproc_mutation *out)
{
    memset(out, 0, sizeof(*out));
    if (m == NULL)
        return;
    if (m->n_set_headers != 0)
        out->set = ig_pool_alloc(pool, m->n_set_headers * sizeof(*out->set));
    for (size_t i = 0; i < m->n_set_headers; i++) {
        const pb_header_option *o = m->set_headers[i];
        if (o == NULL || o->header == NULL || o->header->key == NULL || o->header->key[0] == '\0')
            continue; /* nothing to set */
        struct ig_extproc_header_set *hs = &out->set[out->n_set++];
        const Envoy__Config__Core__V3__HeaderValue *hv = o->header;
        hs->name = ig_iov_cstr(hv->key);
        /* raw_value when non-empty, else value: Envoy fills the first, other peers the second. */
        hs->value = hv->raw_value.len != 0 ? ig_iov(hv->raw_value.data, hv->raw_value.len) : ig_iov_cstr(hv->value);
        hs->action = resolve_action(o);
        hs->keep_empty_value = o->keep_empty_value != 0;
    }
    if (m->n_remove_headers != 0)
        out->remove = ig_pool_alloc(pool, m->n_remove_headers * sizeof(*out->remove));
    for (size_t i = 0; i < m->n_remove_headers; i++)
        if (m->remove_headers[i] != NULL && m->remove_headers[i][0] != '\0')
            out->remove[out->n_remove++] = ig_iov_cstr(m->remove_headers[i]);
}

static void convert_common(ig_pool_t *pool, const pb_common *c, struct ig_extproc_response *out)
{
    if (c == NULL)
        return;
    out->common_status = (int)c->status;
    out->clear_route_cache = c->clear_route_cache != 0;
    convert_mutation(pool, c->header_mutation, &out->headers);
    const Envoy__Service__ExtProc__V3__BodyMutation *bm = c->body_mutation;
    if (bm == NULL)
        return;
    switch (bm->mutation_case) {
    case ENVOY__SERVICE__EXT_PROC__V3__BODY_MUTATION__MUTATION_STREAMED_RESPONSE:
        out->body_kind = IG_EXTPROC_BODY_STREAMED;
        if (bm->streamed_response != NULL) {
            out->body = ig_iov(bm->streamed_response->body.data, bm->streamed_response->body.len);
            out->body_eos = bm->streamed_response->end_of_stream != 0;
        }
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__BODY_MUTATION__MUTATION_BODY:
        out->body_kind = IG_EXTPROC_BODY_REPLACE;
        out->body = ig_iov(bm->body.data, bm->body.len);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__BODY_MUTATION__MUTATION_CLEAR_BODY:
        out->body_kind = bm->clear_body ? IG_EXTPROC_BODY_CLEAR : IG_EXTPROC_BODY_NONE;
        break;
    default:
        break;
    }
}

static void convert_immediate(ig_pool_t *pool, const pb_immediate *im, struct ig_extproc_response *out)
{
    if (im == NULL)
        return;
    out->immediate.status = im->status != NULL ? (int)im->status->code : 0;
    convert_mutation(pool, im->headers, &out->immediate.headers);
    out->immediate.body = ig_iov(im->body.data, im->body.len);
    out->immediate.details = ig_iov_cstr(im->details);
    if (im->grpc_status != NULL) {
        out->immediate.has_grpc_status = 1;
        out->immediate.grpc_status = im->grpc_status->status;
    }
}

int ig_extproc_decode_response(ig_pool_t *pool, ig_iov_t msg, struct ig_extproc_response *out)
{
    pb_response *m;
    memset(out, 0, sizeof(*out));
    int rc = ig_extproc_unpack_response(pool, msg, &m);
    if (rc != 0)
        return rc;
    out->msg = m;
    out->dynamic_metadata = m->dynamic_metadata;

    switch (m->response_case) {
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_REQUEST_HEADERS:
        out->kind = IG_EXTPROC_REQUEST_HEADERS;
        convert_common(pool, m->request_headers != NULL ? m->request_headers->response : NULL, out);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_RESPONSE_HEADERS:
        out->kind = IG_EXTPROC_RESPONSE_HEADERS;
        convert_common(pool, m->response_headers != NULL ? m->response_headers->response : NULL, out);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_REQUEST_BODY:
        out->kind = IG_EXTPROC_REQUEST_BODY;
        convert_common(pool, m->request_body != NULL ? m->request_body->response : NULL, out);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_RESPONSE_BODY:
        out->kind = IG_EXTPROC_RESPONSE_BODY;
        convert_common(pool, m->response_body != NULL ? m->response_body->response : NULL, out);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_REQUEST_TRAILERS:
        out->kind = IG_EXTPROC_REQUEST_TRAILERS;
        if (m->request_trailers != NULL)
            convert_mutation(pool, m->request_trailers->header_mutation, &out->headers);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_RESPONSE_TRAILERS:
        out->kind = IG_EXTPROC_RESPONSE_TRAILERS;
        if (m->response_trailers != NULL)
            convert_mutation(pool, m->response_trailers->header_mutation, &out->headers);
        break;
    case ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_RESPONSE__RESPONSE_IMMEDIATE_RESPONSE:
        out->kind = IG_EXTPROC_IMMEDIATE;
        convert_immediate(pool, m->immediate_response, out);
        break;
    default:
        out->kind = IG_EXTPROC_NONE;
        break;
    }

    /* The pick: the first set_headers entry of that name, and the envoy.lb metadata string. */
    for (size_t i = 0; i < out->headers.n_set; i++) {
        if (ig_iov_eq_nocase(out->headers.set[i].name, IG_STRLIT(IG_EXTPROC_KEY_DEST))) {
            out->dest_header = out->headers.set[i].value;
            break;
        }
    }
    out->dest_metadata =
        ig_extproc_struct_string(m->dynamic_metadata, IG_STRLIT(IG_EXTPROC_NS_LB), IG_STRLIT(IG_EXTPROC_KEY_DEST));
    return 0;
}
