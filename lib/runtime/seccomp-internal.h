/* The seccomp filter builder without the load, for tests and the fuzz target. */
#pragma once

#include <jansson.h>
#include <seccomp.h>

#include "base/error.h"

/* Validates linux.seccomp and builds the libseccomp context (caller releases it). */
int seccomp_build(json_t *seccomp, scmp_filter_ctx *ret, struct berth_error *err);
