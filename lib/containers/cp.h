/* berth cp: copying files between the host and a container's root filesystem, running or not.
 * Paths inside the container are resolved in its rootfs with openat2 RESOLVE_IN_ROOT (symlinks
 * and ".." cannot lead out of it); a stopped container's overlay is mounted for the copy and
 * unmounted after. Regular files, directories (recursively) and symlinks are copied. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "containers/containers.h"

/* to_container: host_path -> ctr_path; else ctr_path -> host_path. Like docker cp, an existing
 * directory as the destination receives the source under its own name. */
int ctr_copy(struct store *s, struct ctr_record *rec, const char *ctr_path, const char *host_path, bool to_container,
             struct berth_error *err);
