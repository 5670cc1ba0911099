/* Container state files under the runtime root (--root, default /run/berth-oci):
 * ROOT/ID/state.json (written atomically) and ROOT/ID/exec.fifo (exists while the container is
 * "created"). Every command on one id holds a flock on ROOT/ID, so concurrent commands serialise. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/cleanup.h"
#include "base/error.h"

#define OCI_STATE_DEFAULT_ROOT "/run/berth-oci"

/* An open, locked container state directory. */
struct oci_state_dir {
    int dirfd; /* O_DIRECTORY fd of ROOT/ID, holding the flock */
    char *path;  /* ROOT/ID */
    char *id;
};

/* Creates ROOT/ID (ROOT with parents), locked exclusively. An existing id is -EEXIST with
 * "container ID already exists". */
int oci_state_dir_create(const char *root, const char *id, struct oci_state_dir **ret, struct berth_error *err);

/* Opens and locks ROOT/ID (exclusive or shared). A missing container is -ENOENT with
 * "container ID does not exist". */
int oci_state_dir_open(const char *root, const char *id, bool exclusive, struct oci_state_dir **ret,
                       struct berth_error *err);

/* Reads ROOT/ID/state.json. */
int oci_state_read(struct oci_state_dir *d, json_t **ret, struct berth_error *err);
/* Writes ROOT/ID/state.json atomically. */
int oci_state_write(struct oci_state_dir *d, json_t *state, struct berth_error *err);

/* ROOT/ID/<name> (malloc'd). */
char *oci_state_path(struct oci_state_dir *d, const char *name);

/* Removes ROOT/ID and everything in it; d is closed and freed. */
int oci_state_dir_remove(struct oci_state_dir *d, struct berth_error *err);

void oci_state_dir_free(struct oci_state_dir *d);
DEFINE_CLEANUP_FUNC(struct oci_state_dir, oci_state_dir_free)

/* Every container id under root (sorted, malloc'd vector). */
int oci_state_list(const char *root, char ***ret, struct berth_error *err);

/* Start time of pid (field 22 of /proc/PID/stat) and whether it is a zombie or gone. Returns
 * -ESRCH when there is no such process. */
int oci_proc_start_time(pid_t pid, uint64_t *ret_start, bool *ret_zombie);

/* RFC 3339 UTC timestamp with nanoseconds, as runc writes "created". */
void oci_timestamp_now(char buf[64]);
