/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the ext_proc decoders. The input is one message (no gRPC prefix), decoded
 * as a ProcessingResponse (the gateway side) and as a ProcessingRequest (the EPP side). Every
 * slice of the summary is read so ASan sees any bad pointer, destinations go through the endpoint
 * list parser, and a decoded request must re-pack to the size protobuf-c predicts for it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ig/extproc.h"

#define CHECK(x)                                                                                                       \
    do {                                                                                                               \
        if (!(x))                                                                                                      \
            __builtin_trap();                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink;

static void touch(ig_iov_t v)
{
    CHECK(v.len == 0 || v.base != NULL);
    for (size_t i = 0; i < v.len; i++)
        sink ^= (uint8_t)v.base[i];
}

static void touch_mutation(const struct ig_extproc_mutation *m)
{
    for (size_t i = 0; i < m->n_set; i++) {
        touch(m->set[i].name);
        touch(m->set[i].value);
        CHECK(m->set[i].name.len != 0);
        CHECK(m->set[i].action >= 0 && m->set[i].action <= IG_EXTPROC_OVERWRITE_IF_EXISTS);
    }
    for (size_t i = 0; i < m->n_remove; i++)
        touch(m->remove[i]);
}

static void endpoints(ig_iov_t v)
{
    struct ig_extproc_endpoint ep[4];
    size_t n = ig_extproc_parse_endpoints(v, ep, IG_ARRAY_LEN(ep));
    CHECK(n <= IG_ARRAY_LEN(ep));
    for (size_t i = 0; i < n; i++) {
        CHECK(ep[i].text[0] != '\0' && strlen(ep[i].text) < sizeof(ep[i].text));
        CHECK(ep[i].addr.ss_family == AF_INET || ep[i].addr.ss_family == AF_INET6);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ig_pool_t pool;
    ig_pool_init(&pool);
    /* A private copy of exactly |size| bytes, so reads past the end are caught. */
    char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    ig_iov_t msg = ig_iov(copy, size);

    struct ig_extproc_response r;
    int rc = ig_extproc_decode_response(&pool, msg, &r);
    CHECK(rc == 0 || rc == IG_EPROTO || rc == IG_ETOOBIG);
    if (rc == 0) {
        CHECK(r.kind >= IG_EXTPROC_NONE && r.kind < IG_EXTPROC_KIND_COUNT);
        CHECK(r.msg != NULL);
        touch_mutation(&r.headers);
        touch_mutation(&r.immediate.headers);
        touch(r.body);
        touch(r.immediate.body);
        touch(r.immediate.details);
        touch(r.dest_header);
        touch(r.dest_metadata);
        endpoints(r.dest_header);
        endpoints(r.dest_metadata);
        endpoints(msg);
    }

    Envoy__Service__ExtProc__V3__ProcessingRequest *pr;
    rc = ig_extproc_decode_request(&pool, msg, &pr);
    CHECK(rc == 0 || rc == IG_EPROTO || rc == IG_ETOOBIG);
    if (rc == 0) {
        (void)ig_extproc_metadata_ns(pr->metadata_context, IG_STRLIT(IG_EXTPROC_NS_SUBSET));
        touch(ig_extproc_struct_string(ig_extproc_metadata_ns(pr->metadata_context, IG_STRLIT(IG_EXTPROC_NS_LB)),
                                       IG_IOV_NULL, IG_STRLIT(IG_EXTPROC_KEY_SERVED)));
        /* Re-encoding what was decoded gives a message that decodes again to the same size. */
        ig_buf_t out;
        ig_buf_init(&out, 0);
        CHECK(ig_extproc_pack(&out, &pr->base) == 0);
        CHECK(out.len >= IG_GRPC_PREFIX_LEN);
        Envoy__Service__ExtProc__V3__ProcessingRequest *again;
        ig_iov_t body = ig_iov(ig_buf_data(&out) + IG_GRPC_PREFIX_LEN, out.len - IG_GRPC_PREFIX_LEN);
        /*
         * protobuf-c keeps unknown fields and re-emits them as it parsed them, including a zero
         * field number hidden in a multi-byte tag, which it then rejects in canonical form; so
         * the second decode may fail, but when it succeeds the size must be a fixed point.
         */
        rc = ig_extproc_decode_request(&pool, body, &again);
        if (rc == 0)
            CHECK(protobuf_c_message_get_packed_size(&again->base) == body.len);
        ig_buf_dispose(&out);
    }
    free(copy);
    ig_pool_dispose(&pool);
    return 0;
}
