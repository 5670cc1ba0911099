/* JSON helpers over jansson: capped loading with positioned errors, typed field access. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

/* Loads a JSON file of at most max bytes; errors say "path:line:column: reason". */
int json_load_path(const char *path, size_t max, json_t **ret, struct berth_error *err);

/* Parses a buffer; what names the source in error messages. */
int json_load_buffer(const char *data, size_t len, const char *what, json_t **ret, struct berth_error *err);

/* Typed optional fields of an object. A missing key (or JSON null) leaves *ret untouched and
 * returns 0; a key of the wrong type is -EINVAL with "what.key: must be a <type>". */
int json_opt_string(json_t *obj, const char *key, const char *what, const char **ret, struct berth_error *err);
int json_opt_bool(json_t *obj, const char *key, const char *what, bool *ret, struct berth_error *err);
int json_opt_int64(json_t *obj, const char *key, const char *what, int64_t *ret, struct berth_error *err);
int json_opt_uint64(json_t *obj, const char *key, const char *what, uint64_t *ret, struct berth_error *err);
int json_opt_object(json_t *obj, const char *key, const char *what, json_t **ret, struct berth_error *err);
int json_opt_array(json_t *obj, const char *key, const char *what, json_t **ret, struct berth_error *err);

/* Writes v atomically to path, pretty-printed. */
int json_write_path(const char *path, json_t *v, struct berth_error *err);

/* jansson (>= 2.9) provides json_decrefp for its json_auto_t. */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))
