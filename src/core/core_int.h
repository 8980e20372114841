/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core: module-private declarations (introspection hooks used by the unit tests).
 */
#ifndef IG_CORE_INT_H
#define IG_CORE_INT_H

#include "ig/core.h"

/** Chunks held in the calling thread's pool chunk cache. */
size_t ig_pool__cached_chunks(void);
/** Frees the calling thread's pool chunk cache (also done automatically at thread exit). */
void ig_pool__trim_cache(void);

#endif
