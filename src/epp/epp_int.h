/* SPDX-License-Identifier: Apache-2.0 */
/*
 * epp module-private declarations: the scraper's per-endpoint state and helpers shared between the
 * data layer's files.
 */
#ifndef IG_EPP_INT_H
#define IG_EPP_INT_H

#include <yaml.h>

#include "ig/epp.h"
#include "ig/http.h"

/* One endpoint's polling state; lives from its first poll until the endpoint leaves the datastore. */
struct ig_epp__scrape {
    struct ig_epp_scraper *sc;
    struct ig_epp_endpoint *ep;
    ig_http_client_t *client;
    ig_http_cstream_t *cs; /* the poll in flight, or NULL */
    int in_flight;
    uint64_t started_ns;
    uint64_t next_ns;     /* earliest start of the next poll */
    int status;           /* HTTP status of the poll in flight; minus a cancel reason while cancelling */
    int stale_logged;     /* the current stale spell was logged */
    uint16_t client_port; /* metrics port |client| was opened for */
    ig_buf_t page;
    ig_list_t link; /* in the scraper's list */
};

/**
 * Parses "ip:port" / "[v6]:port" with a numeric host and a port 1..65535 into |sa| and |port|.
 * Returns 0 or IG_EINVAL.
 */
int ig_epp__parse_hostport(ig_iov_t text, struct sockaddr_storage *sa, uint16_t *port);

/**
 * Reads a whole file (at most IG_EPP_MAX_FILE bytes) into an owned, NUL-terminated buffer.
 * Returns 0, -errno or IG_ETOOBIG.
 */
int ig_epp__read_file(const char *path, char **data, size_t *len);

/** Formats a message into |err| (NULL-safe, truncating). */
void ig_epp__errf(char *err, size_t errlen, const char *fmt, ...) IG_PRINTF(3, 4);

/*
 * YAML helpers of the file loaders (endpoints, objectives): an error at |node| of file |name| as
 * "name:line:col: message" into |err|; returns IG_EINVAL.
 */
int ig_epp__yaml_fail(char *err, size_t errlen, const char *name, const yaml_node_t *node, const char *fmt, ...)
    IG_PRINTF(5, 6);

static inline ig_iov_t ig_epp__yaml_scalar(const yaml_node_t *n)
{
    return ig_iov(n->data.scalar.value, n->data.scalar.length);
}

static inline int ig_epp__yaml_key_is(const yaml_node_t *n, const char *key)
{
    return n->type == YAML_SCALAR_NODE && ig_iov_eq(ig_epp__yaml_scalar(n), ig_iov_cstr(key));
}

#endif
