/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the GenAI "model" scanner of the gateway (gw_model_scan): arbitrary bodies, cut
 * into chunks at positions taken from the input, never read out of bounds, and the result does not
 * depend on where the body was cut.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/gateway/gateway_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] + 1; /* chunk size */
    data++;
    size--;
    if (size == 0)
        return 0;
    char *copy = malloc(size); /* exactly |size| bytes: a read past the end is caught by ASan */
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    struct gw_model_scan whole = {0}, parts = {0};
    gw_model_scan(&whole, copy, size, GW_GENAI_REQ_SCAN);
    for (size_t off = 0; off < size; off += step)
        gw_model_scan(&parts, copy + off, size - off < step ? size - off : step, GW_GENAI_REQ_SCAN);
    if (whole.found != parts.found || whole.val_len != parts.val_len ||
        memcmp(whole.val, parts.val, whole.val_len) != 0 || whole.val_len >= GW_MODEL_LEN)
        abort();
    free(copy);
    return 0;
}
