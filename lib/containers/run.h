/* The container lifecycle for users: create from an image, start under berth-monitor, stop, kill,
 * remove, exec. Errors name the container and the problem. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"
#include "containers/containers.h"

struct store;

/* Options as `berth run`/`create` take them, kept as JSON in the record (spec) so that start and
 * restart rebuild the same container: {"image", "cmd":[...], "entrypoint":[...]|null, "env":[...],
 * "volumes":[...], "tmpfs":[...], "workdir", "user", "memory", "cpus", "pids_limit", "read_only",
 * "cap_add":[...], "cap_drop":[...], "hostname", "network", "networks":[...], "tty", "interactive"}.
 * Without "network" and "networks", ctr_create records the default from berth.conf
 * (network_default_name). */
int ctr_create(struct store *s, const char *name, json_t *spec, const char *restart, bool auto_remove,
               struct ctr_record *ret, struct berth_error *err);

/* Starts a created or exited container; returns once its process runs. keep_on_exit: the caller
 * (an attached berth run) waits for the exit and applies --rm itself, so the monitor runs no exit
 * hook. */
int ctr_start(struct store *s, struct ctr_record *rec, bool keep_on_exit, struct berth_error *err);

struct ctr_start_opts {
    bool keep_on_exit;
    /* The pty's size for the spec's "tty" (0: the runtime's default). */
    unsigned short rows, cols;
    /* Not NULL: gets a connection to the attach socket (containers/attach.h) made before the
     * container's process runs, so that none of its output is missed. */
    int *ret_attach;
};
int ctr_start_with(struct store *s, struct ctr_record *rec, const struct ctr_start_opts *o, struct berth_error *err);

int ctr_kill(struct store *s, struct ctr_record *rec, int sig, struct berth_error *err);
/* SIGTERM (or the image's stop signal), then SIGKILL after timeout_s; waits for the exit. */
int ctr_stop(struct store *s, struct ctr_record *rec, int timeout_s, struct berth_error *err);
/* Waits until the container exits (timeout_ms < 0: forever); 0 when it did. */
int ctr_wait(struct store *s, struct ctr_record *rec, int timeout_ms, struct berth_error *err);
int ctr_remove(struct store *s, struct ctr_record *rec, bool force, struct berth_error *err);
int ctr_pause(struct store *s, struct ctr_record *rec, bool pause, struct berth_error *err);

/* Sets process.user from USER[:GROUP] (names or ids) as the container's /etc/passwd and /etc/group
 * under rootfs define them; without a group, the user's primary group. */
int ctr_resolve_user(const char *rootfs, const char *user, json_t *process, struct berth_error *err);

/* Runs args in the running container (stdio inherited); *ret_status its exit status. With tty the
 * process gets a pty of our terminal's size, and we copy between it and our stdio (raw mode when
 * stdin is a terminal, window size changes followed) until it exits. */
int ctr_exec(struct ctr_record *rec, json_t *args, json_t *env, const char *cwd, const char *user, bool tty,
             int *ret_status, struct berth_error *err);

/* berth exec -it: runs args with a pty held by a berth-monitor of its own (as a container's console
 * is), so that the client can go away and the process go on. *ret_attach: a connected socket of the
 * attach protocol (containers/attach-proto.h) for the process's terminal and exit status; *ret_pid
 * the process (for signals), *ret_monitor the monitor (our child, to reap once the status came). */
int ctr_exec_monitored(struct ctr_record *rec, json_t *args, json_t *env, const char *cwd, const char *user,
                       int *ret_attach, pid_t *ret_pid, pid_t *ret_monitor, struct berth_error *err);

/* The monitor's exit hook: records the exit, releases the runtime state and the rootfs mount, then
 * applies --rm (unless keep) and the restart policy. */
int ctr_exited(struct store *s, struct ctr_record *rec, bool keep, struct berth_error *err);

/* Paths in the container's directory. */
char *ctr_path(const struct ctr_record *rec, const char *file);
