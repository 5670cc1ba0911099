/* Filesystem helpers: capped reads, atomic writes, recursive create/remove, resolution inside a root. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

/* Reads a whole file, refusing one larger than max bytes. *ret_data is NUL-terminated. */
int fs_read_file(const char *path, size_t max, char **ret_data, size_t *ret_len, struct berth_error *err);

/* Writes data to path atomically: temp file in the same directory, fsync, rename, fsync directory.
 * A reader sees the old file or the new one, never a torn write. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct berth_error *err);

/* The same replace-by-rename without the two fsyncs: for state that does not outlive a boot (an OCI
 * runtime's state.json, pid files), where readers still never see a torn file but waiting for the
 * disk would cost more than the whole container start (several ms per fsync on a busy disk). */
int fs_write_replace(const char *path, const void *data, size_t len, mode_t mode, struct berth_error *err);

/* mkdir -p. Existing directories are fine; an existing non-directory is -ENOTDIR. */
int fs_mkdir_p(const char *path, mode_t mode);

/* rm -rf without crossing into other filesystems' mounts below path (they get -EBUSY). Missing is fine. */
int fs_rm_rf(const char *path);

/* Opens path below root_fd as if root_fd were "/": symlinks and ".." cannot leave the root
 * (openat2 RESOLVE_IN_ROOT). extra_resolve adds RESOLVE_* flags (e.g. RESOLVE_NO_SYMLINKS). */
int fs_open_in_root(int root_fd, const char *path, int flags, mode_t mode, uint64_t extra_resolve);

/* mkdir -p inside root_fd with the same confinement; returns an O_PATH fd of the last directory. */
int fs_mkdir_p_in_root(int root_fd, const char *path, mode_t mode);

/* True when path exists (lstat). */
bool fs_exists(const char *path);

/* Writes a string to an existing file such as a cgroup or /proc knob (no O_CREAT, no truncate games). */
int fs_write_string(const char *path, const char *value);

/* Joins a and b with exactly one '/'; returns NULL on allocation failure. */
char *fs_path_join(const char *a, const char *b);
