/* The seccomp filter of `berth run`: a default profile (a deny-list of system calls that reach
 * kernel state containers do not own, some re-allowed when the container holds the capability
 * that guards them), `--security-opt seccomp=unconfined`, or a profile file in the OCI or Docker
 * format. See docs/containers.md ("Seccomp"). */
#pragma once

#include <jansson.h>

#include "base/error.h"

/* Handles one --security-opt value ("seccomp=unconfined", "seccomp=FILE" or "seccomp:FILE",
 * "no-new-privileges"), recording it in the run options (spec["seccomp"]: "unconfined" or the
 * profile document as read). A file that is missing or not JSON is an error naming it. */
int ctr_security_opt(json_t *spec, const char *opt, struct berth_error *err);

/* The linux.seccomp object for a container whose capability set (bounding) is caps: the default
 * profile when the run options name none, the given profile (Docker's includes/excludes and
 * archMap resolved for this host and caps), or NULL (*ret) for unconfined. */
int ctr_seccomp_config(json_t *spec, json_t *caps, json_t **ret, struct berth_error *err);

/* The default profile for a capability set (caps: JSON array of "CAP_..." names). */
json_t *ctr_seccomp_default(json_t *caps);
