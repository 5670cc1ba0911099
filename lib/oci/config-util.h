/* Small helpers shared by the config.json parsers (private to lib/oci). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Array of strings into a malloc'd NULL-terminated vector of pointers into the JSON.
 * A missing key leaves *ret NULL. */
int oci_json_strv(json_t *obj, const char *key, const char *what, char ***ret, struct berth_error *err);

/* A required string member. */
int oci_json_req_string(json_t *obj, const char *key, const char *what, const char **ret,
                        struct berth_error *err);

/* An optional unsigned 32-bit integer member. */
int oci_json_opt_u32(json_t *obj, const char *key, const char *what, uint32_t *ret, bool *present,
                     struct berth_error *err);
