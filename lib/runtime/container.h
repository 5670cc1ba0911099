/* The OCI container lifecycle behind berth-oci's verbs (and berth's containers). Each call is one
 * runtime invocation: no process of ours stays behind after create/start (no monitor). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

enum container_status {
    CONTAINER_CREATING,
    CONTAINER_CREATED,
    CONTAINER_RUNNING,
    CONTAINER_PAUSED,
    CONTAINER_STOPPED,
};

const char *container_status_name(enum container_status s);

struct container_create_opts {
    const char *root;  /* state root (--root) */
    const char *id;
    const char *bundle;
    const char *pid_file;       /* may be NULL */
    const char *console_socket; /* may be NULL */
    bool no_pivot, no_new_keyring, systemd_cgroup;
    int preserve_fds;
    const char *cgroup_root; /* NULL: /sys/fs/cgroup (tests pass a private cgroup2 mount) */
    const int *console_fd;   /* run in the foreground: our end for the pty when there is no socket */
};

/* create: the init is set up and blocked until start; *ret_pid is its pid. Any failure leaves no
 * process, cgroup or state behind. */
int container_create(const struct container_create_opts *o, pid_t *ret_pid, struct berth_error *err);
int container_start(const char *root, const char *id, struct berth_error *err);

/* run = create + start; without detach, waits for the init (forwarding signals to it), deletes
 * the container and returns its exit status (128+N when killed by signal N) in *ret_status. */
int container_run(const struct container_create_opts *o, bool detach, int *ret_status, struct berth_error *err);

/* Receives the pty master that a container with process.terminal sent over sock (the peer of
 * console_fd), without blocking: -EAGAIN when none was sent. */
int console_recv_master(int sock);

/* The runtime-spec state object (status computed now). */
int container_state(const char *root, const char *id, json_t **ret, struct berth_error *err);
int container_kill(const char *root, const char *id, int sig, bool all, struct berth_error *err);
int container_delete(const char *root, const char *id, bool force, struct berth_error *err);
int container_pause(const char *root, const char *id, bool pause, struct berth_error *err);
int container_update(const char *root, const char *id, json_t *resources, struct berth_error *err);
int container_pids(const char *root, const char *id, pid_t **ret, size_t *ret_n, struct berth_error *err);
struct cgroup_stats;
/* CPU, memory and pids counters from the container's cgroup(s); -EINVAL when it is stopped. */
int container_stats(const char *root, const char *id, struct cgroup_stats *ret, struct berth_error *err);
/* Every container under root as a JSON array of state objects (plus "created", "owner"). */
int container_list(const char *root, json_t **ret, struct berth_error *err);

struct container_exec_opts {
    const char *root, *id;
    json_t *process; /* a runtime-spec process object */
    const char *pid_file, *console_socket;
    bool detach;
    int preserve_fds;
    /* With detach and no console_socket: our end of a socket pair for the pty master (as
     * container_create_opts.console_fd), for a caller that keeps the terminal itself. */
    const int *console_fd;
    pid_t *ret_pid; /* with detach, may be NULL: the process's pid (it stays our child) */
};
/* Runs a process in the container's namespaces and cgroup. Without detach, waits and returns its
 * exit status; with detach, returns once it runs (*ret_status = 0). */
int container_exec(const struct container_exec_opts *o, int *ret_status, struct berth_error *err);

/* The config.json kept in a container's state (for exec's defaults). */
int container_config_json(const char *root, const char *id, json_t **ret, struct berth_error *err);

/* Signal by name ("KILL", "SIGKILL") or number; -EINVAL when unknown. */
int container_parse_signal(const char *s);

/* Re-executes the running binary from a sealed memfd copy unless it already runs from one, so a
 * container can never reach (and overwrite) the runtime's binary through /proc/PID/exe
 * (CVE-2019-5736). Returns only on failure, or 0 when already sealed. */
int runtime_ensure_sealed_binary(char **argv, char **envp, struct berth_error *err);
