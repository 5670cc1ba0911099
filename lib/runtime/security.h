/* Process security settings applied in the container's init just before execve.
 * Contract between the container lifecycle and the capability/seccomp code. */
#pragma once

#include <jansson.h>

#include "base/error.h"

/* Validation at create time, so a bad spec fails before any process exists. */
int caps_check_spec(json_t *capabilities, struct berth_error *err);
int seccomp_check_spec(json_t *seccomp, struct berth_error *err);

/* Applies process.capabilities (bounding, effective, permitted, inheritable, ambient). The caller
 * has already switched uid/gid with PR_SET_KEEPCAPS semantics handled here. NULL drops everything. */
int caps_apply(json_t *capabilities, struct berth_error *err);

/* Builds and loads linux.seccomp (all actions, arg conditions, flags, architectures). NULL is a
 * no-op. Called after no_new_privileges is set when requested. */
int seccomp_apply(json_t *seccomp, struct berth_error *err);
