/* OCI hooks: each hook runs with the container state JSON on its stdin, within its timeout. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "oci/config.h"

/* Runs hooks of one kind in order. The first failing hook stops the list and is the error
 * ("hooks.prestart[0] /path: exited with status 1" / "...: timed out after 5s"). */
int hooks_run(const struct oci_hooks *hooks, enum oci_hook_kind kind, const char *state_json,
              struct berth_error *err);

/* Hooks that run after pivot_root (startContainer) still resolve in the runtime's namespace: their
 * binaries are opened (O_PATH) before, and run through these descriptors. */
int hooks_open(const struct oci_hooks *hooks, enum oci_hook_kind kind, int **ret, struct berth_error *err);
int hooks_run_fds(const struct oci_hooks *hooks, enum oci_hook_kind kind, const int *fds, const char *state_json,
                  struct berth_error *err);
