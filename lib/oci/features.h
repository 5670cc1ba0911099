/* The runtime-spec "features" document (features.md) that `berth-oci features` prints: what this
 * build of berth-oci accepts in a config.json. */
#pragma once

#include <jansson.h>

#include "base/error.h"

/* Builds the document: ociVersionMin/Max, hooks, mountOptions, linux.namespaces, capabilities,
 * cgroup (v1, v2, systemd), seccomp (actions, operators, archs, flags), apparmor/selinux/intelRdt
 * (disabled), mountExtensions, and annotations (libseccomp version). The caller owns *ret;
 * `berth-oci features` prints it with json_dumps(..., JSON_INDENT(2)). */
int oci_features_json(json_t **ret, struct berth_error *err);
