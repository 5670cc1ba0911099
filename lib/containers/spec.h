/* The container's config.json from its image config and the run options (see run.h for the
 * options' JSON form). User names are resolved later, against the mounted rootfs. */
#pragma once

#include <jansson.h>

#include "base/error.h"

int ctr_build_config(json_t *spec, json_t *image_config, const char *id, json_t **ret, struct berth_error *err);
