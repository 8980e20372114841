/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the ClientHello server_name parser (ig_tls_sni_parse): arbitrary extension
 * bodies never read out of bounds, and a name it returns lies inside the input, is 1..255 bytes
 * and holds no NUL.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ig/loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *name = NULL;
    size_t len = 0;
    /* A copy of exactly |size| bytes, so a read past the end is caught by ASan. */
    if (size == 0)
        return ig_tls_sni_parse(data, 0, &name, &len) == IG_EPROTO ? 0 : (abort(), 0);
    unsigned char *copy = malloc(size);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    int rc = ig_tls_sni_parse(copy, size, &name, &len);
    if (rc == 0 && (name < copy || name + len > copy + size || len == 0 || len > 255 || memchr(name, 0, len) != NULL))
        abort();
    if (rc != 0 && rc != IG_ENOTFOUND && rc != IG_EPROTO)
        abort();
    free(copy);
    return 0;
}
