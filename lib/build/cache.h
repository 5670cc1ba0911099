/* The build cache (state database, module "build"): a step's cache key -> the manifest digest of
 * the image it produced. Entries whose image was removed since are simply misses. */
#pragma once

#include "base/error.h"

struct store;

/* 1 and *ret_image (malloc'd) on a hit, 0 on a miss. */
int build_cache_lookup(struct store *s, const char *key, char **ret_image, struct berth_error *err);
int build_cache_store(struct store *s, const char *key, const char *image, struct berth_error *err);
