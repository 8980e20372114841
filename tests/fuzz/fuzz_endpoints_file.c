/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the EPP's endpoints-file loader (--endpoints-file, YAML or JSON): arbitrary
 * bytes must load or fail with a positioned message, never crash or leak. A list that loads must
 * also be accepted by the datastore (the loader validates what the datastore checks) and survive
 * a second set with the same list (endpoints kept) and an empty one (all removed).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ig/epp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[1024];
    struct ig_epp_endpoint_list l;

    if (size > IG_EPP_MAX_FILE)
        return 0;
    err[0] = '\0';
    ig_epp_endpoint_list_init(&l);
    if (ig_epp_endpoints_load_string("fuzz.yaml", (const char *)data, size, &l, err, sizeof(err)) != 0) {
        /* a failure always says where: "fuzz.yaml:<line>:<col>: ..." */
        if (strncmp(err, "fuzz.yaml:", 10) != 0)
            abort();
        ig_epp_endpoint_list_dispose(&l);
        return 0;
    }
    ig_epp_datastore_t *ds = ig_epp_datastore_create(IG_EPP_ENGINE_VLLM);
    if (ig_epp_datastore_set(ds, l.v, l.n, err, sizeof(err)) != 0 || ig_epp_datastore_count(ds) != l.n)
        abort(); /* a loaded list is always a valid membership */
    struct ig_epp_snapshot *snap = ig_epp_datastore_snapshot(ds);
    if (ig_epp_datastore_set(ds, l.v, l.n, err, sizeof(err)) != 0 ||
        ig_epp_datastore_set(ds, NULL, 0, err, sizeof(err)) != 0)
        abort();
    for (size_t i = 0; i < snap->n; i++)
        if (snap->v[i]->view.address.len == 0)
            abort(); /* removed endpoints stay readable through the snapshot */
    ig_epp_snapshot_release(snap);
    ig_epp_datastore_destroy(ds);
    ig_epp_endpoint_list_dispose(&l);
    return 0;
}
