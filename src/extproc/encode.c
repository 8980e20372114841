/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Encoders for the ProcessingRequest messages a gateway sends on an ext_proc stream. Each builds
 * the protobuf-c tree in a scratch pool (headers borrow the request's bytes, only names are
 * lower-cased copies), packs it once into the output buffer behind the 5-byte gRPC prefix, and
 * leaves nothing to free.
 */
#include <stdio.h>

#include "ig/extproc.h"

/* protobuf-c's generated names are long; these aliases keep the builders readable. */
typedef Envoy__Config__Core__V3__HeaderValue pb_header_value;
typedef Envoy__Config__Core__V3__HeaderMap pb_header_map;
typedef Envoy__Config__Core__V3__Metadata pb_metadata;
typedef Envoy__Config__Core__V3__Metadata__FilterMetadataEntry pb_md_entry;
typedef Google__Protobuf__Struct pb_struct;
typedef Google__Protobuf__Struct__FieldsEntry pb_field;
typedef Google__Protobuf__Value pb_value;
typedef Google__Protobuf__ListValue pb_list;
typedef Envoy__Service__ExtProc__V3__ProcessingRequest pb_request;
typedef Envoy__Service__ExtProc__V3__HttpHeaders pb_http_headers;
typedef Envoy__Service__ExtProc__V3__HttpBody pb_http_body;
typedef Envoy__Service__ExtProc__V3__HttpTrailers pb_http_trailers;
typedef Envoy__Service__ExtProc__V3__ProtocolConfiguration pb_protocol_config;

int ig_extproc_pack(ig_buf_t *out, const ProtobufCMessage *msg)
{
    size_t size = protobuf_c_message_get_packed_size(msg);
    if (size > UINT32_MAX)
        return IG_ETOOBIG;
    char *p = ig_buf_reserve(out, IG_GRPC_PREFIX_LEN + size);
    if (p == NULL)
        return IG_ETOOBIG;
    ig_grpc_prefix_write((uint8_t *)p, (uint32_t)size);
    size_t n = protobuf_c_message_pack(msg, (uint8_t *)p + IG_GRPC_PREFIX_LEN);
    IG_ASSERT(n == size);
    ig_buf_commit(out, IG_GRPC_PREFIX_LEN + size);
    return 0;
}

/* ---- header maps ----------------------------------------------------------------------------- */

/* Connection-specific headers: they describe our hop to the client, not the request. */
static const ig_iov_t hop_by_hop[] = {
    IG_STRLIT("host"), /* sent as :authority */
    IG_STRLIT("connection"), IG_STRLIT("keep-alive"), IG_STRLIT("proxy-connection"), IG_STRLIT("transfer-encoding"),
    IG_STRLIT("upgrade"),    IG_STRLIT("te"),
};

static int is_hop_by_hop(ig_iov_t name)
{
    for (size_t i = 0; i < IG_ARRAY_LEN(hop_by_hop); i++)
        if (ig_iov_eq_nocase(name, hop_by_hop[i]))
            return 1;
    return 0;
}

/* A header map with room for |cap| entries, all allocated in |pool|. */
struct map_builder {
    pb_header_map map;
    pb_header_value *vals;
    size_t cap;
};

static void map_init(struct map_builder *b, ig_pool_t *pool, size_t cap)
{
    envoy__config__core__v3__header_map__init(&b->map);
    b->cap = cap;
    b->vals = cap != 0 ? ig_pool_alloc(pool, cap * sizeof(*b->vals)) : NULL;
    b->map.headers = cap != 0 ? ig_pool_alloc(pool, cap * sizeof(*b->map.headers)) : NULL;
    b->map.n_headers = 0;
}

/* Adds |key| (NUL-terminated, already lower-case) with |value| in raw_value, as Envoy does. */
static void map_add(struct map_builder *b, char *key, ig_iov_t value)
{
    IG_ASSERT(b->map.n_headers < b->cap);
    pb_header_value *hv = &b->vals[b->map.n_headers];
    envoy__config__core__v3__header_value__init(hv);
    hv->key = key;
    hv->raw_value.data = (uint8_t *)value.base;
    hv->raw_value.len = value.len;
    b->map.headers[b->map.n_headers++] = hv;
}

static char *lower_dup(ig_pool_t *pool, ig_iov_t name)
{
    ig_iov_t d = ig_pool_dup(pool, name);
    for (size_t i = 0; i < d.len; i++) {
        char c = d.base[i];
        if (c >= 'A' && c <= 'Z')
            d.base[i] = (char)(c - 'A' + 'a');
    }
    return d.base;
}

static void map_add_headers(struct map_builder *b, ig_pool_t *pool, const ig_http_headers_t *h)
{
    for (size_t i = 0; h != NULL && i < h->len; i++) {
        if (is_hop_by_hop(h->v[i].name))
            continue;
        map_add(b, lower_dup(pool, h->v[i].name), h->v[i].value);
    }
}

/* ---- metadata -------------------------------------------------------------------------------- */

/* Metadata with one namespace |ns| holding one field |key| = |value|. */
struct md_builder {
    pb_metadata md;
    pb_md_entry entry;
    pb_md_entry *entries[1];
    pb_struct ns_struct;
    pb_field field;
    pb_field *fields[1];
    pb_value value;
};

static void md_init(struct md_builder *b, const char *ns, const char *key)
{
    envoy__config__core__v3__metadata__init(&b->md);
    envoy__config__core__v3__metadata__filter_metadata_entry__init(&b->entry);
    google__protobuf__struct__init(&b->ns_struct);
    google__protobuf__struct__fields_entry__init(&b->field);
    google__protobuf__value__init(&b->value);
    b->entry.key = (char *)ns;
    b->entry.value = &b->ns_struct;
    b->entries[0] = &b->entry;
    b->md.n_filter_metadata = 1;
    b->md.filter_metadata = b->entries;
    b->field.key = (char *)key;
    b->field.value = &b->value;
    b->fields[0] = &b->field;
    b->ns_struct.n_fields = 1;
    b->ns_struct.fields = b->fields;
}

/* Builds the subset hint metadata in |pool|; NULL when there is none. */
static pb_metadata *subset_metadata(ig_pool_t *pool, const struct ig_extproc_subset *subset)
{
    if (subset == NULL)
        return NULL;
    struct md_builder *b = ig_pool_alloc(pool, sizeof(*b));
    md_init(b, IG_EXTPROC_NS_SUBSET, IG_EXTPROC_KEY_SUBSET);
    pb_list *list = ig_pool_alloc(pool, sizeof(*list));
    google__protobuf__list_value__init(list);
    list->n_values = subset->len;
    if (subset->len != 0) {
        pb_value *vals = ig_pool_alloc(pool, subset->len * sizeof(*vals));
        list->values = ig_pool_alloc(pool, subset->len * sizeof(*list->values));
        for (size_t i = 0; i < subset->len; i++) {
            google__protobuf__value__init(&vals[i]);
            vals[i].kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
            vals[i].string_value = ig_pool_dup(pool, subset->v[i]).base;
            list->values[i] = &vals[i];
        }
    }
    b->value.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
    b->value.list_value = list;
    return &b->md;
}

/* ---- request direction ----------------------------------------------------------------------- */

static ig_iov_t or_default(ig_iov_t v, ig_iov_t def)
{
    return v.len != 0 ? v : def;
}

static int encode_request_headers(ig_buf_t *out, ig_pool_t *scratch, const ig_http_request_t *req, int end_of_stream,
                                  pb_protocol_config *pc, const struct ig_extproc_subset *subset)
{
    struct map_builder mb;
    pb_http_headers hh;
    pb_request pr;

    map_init(&mb, scratch, 4 + req->headers.len);
    map_add(&mb, ":method", req->method);
    map_add(&mb, ":scheme", or_default(req->scheme, IG_STRLIT("http")));
    map_add(&mb, ":authority", req->authority);
    map_add(&mb, ":path", req->path);
    map_add_headers(&mb, scratch, &req->headers);

    envoy__service__ext_proc__v3__http_headers__init(&hh);
    hh.headers = &mb.map;
    hh.end_of_stream = end_of_stream != 0;

    envoy__service__ext_proc__v3__processing_request__init(&pr);
    pr.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_HEADERS;
    pr.request_headers = &hh;
    pr.metadata_context = subset_metadata(scratch, subset);
    pr.protocol_config = pc;
    return ig_extproc_pack(out, &pr.base);
}

int ig_extproc_encode_request_headers(ig_buf_t *out, ig_pool_t *scratch, const ig_http_request_t *req,
                                      int end_of_stream, int first, const struct ig_extproc_subset *subset)
{
    if (first)
        return ig_extproc_encode_request_headers_mode(out, scratch, req, end_of_stream,
                                                      IG_EXTPROC_MODE_FULL_DUPLEX_STREAMED,
                                                      IG_EXTPROC_MODE_FULL_DUPLEX_STREAMED, subset);
    return encode_request_headers(out, scratch, req, end_of_stream, NULL, subset);
}

int ig_extproc_encode_request_headers_mode(ig_buf_t *out, ig_pool_t *scratch, const ig_http_request_t *req,
                                           int end_of_stream, int request_body_mode, int response_body_mode,
                                           const struct ig_extproc_subset *subset)
{
    pb_protocol_config pc;
    envoy__service__ext_proc__v3__protocol_configuration__init(&pc);
    pc.request_body_mode =
        (Envoy__Extensions__Filters__Http__ExtProc__V3__ProcessingMode__BodySendMode)request_body_mode;
    pc.response_body_mode =
        (Envoy__Extensions__Filters__Http__ExtProc__V3__ProcessingMode__BodySendMode)response_body_mode;
    return encode_request_headers(out, scratch, req, end_of_stream, &pc, subset);
}

static int encode_body(ig_buf_t *out, int request_case, const void *data, size_t len, int end_of_stream,
                       pb_metadata *md, unsigned flags)
{
    pb_http_body hb;
    pb_request pr;

    envoy__service__ext_proc__v3__http_body__init(&hb);
    hb.body.data = (uint8_t *)data;
    hb.body.len = len;
    hb.end_of_stream = end_of_stream != 0;
    envoy__service__ext_proc__v3__processing_request__init(&pr);
    pr.request_case = request_case;
    pr.request_body = &hb; /* same union slot as response_body */
    pr.metadata_context = md;
    pr.observability_mode = (flags & IG_EXTPROC_F_OBSERVE) != 0;
    return ig_extproc_pack(out, &pr.base);
}

int ig_extproc_encode_request_body(ig_buf_t *out, ig_pool_t *scratch, const void *data, size_t len, int end_of_stream,
                                   const struct ig_extproc_subset *subset)
{
    return encode_body(out, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_BODY, data, len,
                       end_of_stream, subset_metadata(scratch, subset), 0);
}

static int encode_trailers(ig_buf_t *out, ig_pool_t *scratch, int request_case, const ig_http_headers_t *trailers,
                           pb_metadata *md, unsigned flags)
{
    struct map_builder mb;
    pb_http_trailers ht;
    pb_request pr;

    map_init(&mb, scratch, trailers != NULL ? trailers->len : 0);
    map_add_headers(&mb, scratch, trailers);
    envoy__service__ext_proc__v3__http_trailers__init(&ht);
    ht.trailers = &mb.map;
    envoy__service__ext_proc__v3__processing_request__init(&pr);
    pr.request_case = request_case;
    pr.request_trailers = &ht; /* same union slot as response_trailers */
    pr.metadata_context = md;
    pr.observability_mode = (flags & IG_EXTPROC_F_OBSERVE) != 0;
    return ig_extproc_pack(out, &pr.base);
}

int ig_extproc_encode_request_trailers(ig_buf_t *out, ig_pool_t *scratch, const ig_http_headers_t *trailers,
                                       const struct ig_extproc_subset *subset)
{
    return encode_trailers(out, scratch, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_REQUEST_TRAILERS,
                           trailers, subset_metadata(scratch, subset), 0);
}

/* ---- response direction ---------------------------------------------------------------------- */

int ig_extproc_encode_response_headers(ig_buf_t *out, ig_pool_t *scratch, const ig_http_response_t *resp,
                                       int end_of_stream, ig_iov_t served)
{
    return ig_extproc_encode_response_headers_ex(out, scratch, resp, end_of_stream, served, 0);
}

int ig_extproc_encode_response_headers_ex(ig_buf_t *out, ig_pool_t *scratch, const ig_http_response_t *resp,
                                          int end_of_stream, ig_iov_t served, unsigned flags)
{
    struct map_builder mb;
    struct md_builder md;
    pb_http_headers hh;
    pb_request pr;
    char status[16];

    int n = snprintf(status, sizeof(status), "%d", resp->status);
    map_init(&mb, scratch, 1 + resp->headers.len);
    map_add(&mb, ":status", ig_iov(status, n > 0 ? (size_t)n : 0));
    map_add_headers(&mb, scratch, &resp->headers);

    envoy__service__ext_proc__v3__http_headers__init(&hh);
    hh.headers = &mb.map;
    hh.end_of_stream = end_of_stream != 0;

    envoy__service__ext_proc__v3__processing_request__init(&pr);
    pr.request_case = ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_HEADERS;
    pr.response_headers = &hh;
    pr.observability_mode = (flags & IG_EXTPROC_F_OBSERVE) != 0;
    if (served.len != 0) {
        /* The served endpoint is a plain string value (not a list), as the protocol requires. */
        md_init(&md, IG_EXTPROC_NS_LB, IG_EXTPROC_KEY_SERVED);
        md.value.kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
        md.value.string_value = ig_pool_dup(scratch, served).base;
        pr.metadata_context = &md.md;
    }
    return ig_extproc_pack(out, &pr.base);
}

int ig_extproc_encode_response_body(ig_buf_t *out, ig_pool_t *scratch, const void *data, size_t len, int end_of_stream)
{
    return ig_extproc_encode_response_body_ex(out, scratch, data, len, end_of_stream, 0);
}

int ig_extproc_encode_response_body_ex(ig_buf_t *out, ig_pool_t *scratch, const void *data, size_t len,
                                       int end_of_stream, unsigned flags)
{
    (void)scratch;
    return encode_body(out, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_BODY, data, len,
                       end_of_stream, NULL, flags);
}

int ig_extproc_encode_response_trailers(ig_buf_t *out, ig_pool_t *scratch, const ig_http_headers_t *trailers)
{
    return ig_extproc_encode_response_trailers_ex(out, scratch, trailers, 0);
}

int ig_extproc_encode_response_trailers_ex(ig_buf_t *out, ig_pool_t *scratch, const ig_http_headers_t *trailers,
                                           unsigned flags)
{
    return encode_trailers(out, scratch, ENVOY__SERVICE__EXT_PROC__V3__PROCESSING_REQUEST__REQUEST_RESPONSE_TRAILERS,
                           trailers, NULL, flags);
}
