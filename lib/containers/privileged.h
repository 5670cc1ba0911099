/* `berth run --privileged`: the container gets every capability, no seccomp filter, the host's
 * device nodes with device-cgroup access to all devices, and /proc and /sys without the masked
 * and read-only paths (as Docker's --privileged). */
#pragma once

#include <jansson.h>

#include "base/error.h"

/* Changes cfg (a config.json built for the container) for a privileged container. */
int ctr_apply_privileged(json_t *cfg, struct berth_error *err);
