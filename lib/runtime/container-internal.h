/* Pieces of the container lifecycle shared between its files (not a public interface). */
#pragma once

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"
#include "oci/config.h"

/* What the init (or an exec'd process) needs; filled by the parent before it forks. */
struct init_ctx {
    const struct oci_config *cfg;
    const struct oci_process *proc; /* the process to run */
    json_t *seccomp;                /* linux.seccomp to load, may be NULL */
    const char *id;
    int sync_fd;    /* child end of the sync socketpair */
    int fifo_fd;    /* exec fifo, O_RDWR (init only; -1 for exec) */
    int console_fd; /* connected --console-socket, -1 */
    int close_fd;   /* a parent-only fd the child closes first (state dir lock), -1 */
    int parent_sync_fd; /* the parent's end, closed in the child */
    int preserve_fds;
    bool no_pivot, no_new_keyring;
    bool is_exec;
    int exec_nsflags;  /* exec: namespaces to join through pidfd */
    int target_pidfd;  /* exec: the container's init */
    /* create: the parent moves the init into its cgroup while the init already sets up its
     * mounts; init_join_cgroup waits for that (SYNC_CGROUP) before the first step that needs it. */
    bool cgroup_pending;
    bool cgroup_joined;
};

/* Starts the init (create) or exec process. Returns in the parent with the pid of the process
 * that will run the container's program; it blocks on SYNC_GO (and SYNC_MAPS in between). Children
 * never return. userns_pid is the process whose /proc/PID/{uid,gid}_map were written. */
int spawn_container_process(struct init_ctx *ctx, int parent_fd, pid_t *ret_pid, struct berth_error *err);

/* Connects to a --console-socket. */
int container_connect_console(const char *path, int *ret, struct berth_error *err);

/* Foreground terminal (console-proxy.c): copy between the pty master (console_recv_master, in
 * container.h) and our stdio until pid exits. */
int console_proxy(int master, pid_t pid, const sigset_t *mask, int *ret_status);

/* Writes uid_map/gid_map of pid from the config. */
int userns_write_maps(const struct oci_config *c, pid_t pid, struct berth_error *err);

/* In the init: waits until the parent has moved us into our cgroup (once), then unshares the cgroup
 * namespace if the config asks for one, so that it is rooted there. Idempotent. */
int init_join_cgroup(struct init_ctx *ctx, struct berth_error *err);

/* Init process body, after namespaces exist. Never returns. */
__attribute__((noreturn)) void init_main(struct init_ctx *ctx);
/* exec'd process body, after joining the container. Never returns. */
__attribute__((noreturn)) void exec_main(struct init_ctx *ctx);

/* Mount namespace setup, in order (rootfs.c, mounts.c, devices.c). */
int rootfs_prepare(const struct oci_config *c, int early_fd, int *ret_rootfd, struct berth_error *err);
/* Calls init_join_cgroup before the first mount that depends on our cgroup ("cgroup" mounts read
 * /proc/self/cgroup; tmpcopyup writes pages that must be charged to the container). */
int mounts_setup(struct init_ctx *ctx, int rootfd, bool userns, struct berth_error *err);
int devices_setup(const struct oci_config *c, int rootfd, bool userns, struct berth_error *err);
int rootfs_pivot(int rootfd, bool no_pivot, unsigned long propagation, struct berth_error *err);
int rootfs_mask_paths(const struct oci_config *c, int rootfd, struct berth_error *err);
int rootfs_make_readonly(struct berth_error *err);
/* Creates directories of path inside rootfd (confined) and returns an O_PATH fd of it. */
int rootfs_mkdir_p(int rootfd, const char *path, struct berth_error *err);

/* Process attributes applied right before exec (process.c). */
int process_setup_terminal(const struct oci_process *p, int console_fd, struct berth_error *err);
int process_apply_rlimits(const struct oci_process *p, struct berth_error *err);
int process_chdir(const struct oci_process *p, struct berth_error *err);
/* Resolves args[0] through PATH (from env) inside the current root; *ret malloc'd. */
int process_find_executable(const struct oci_process *p, char **ret, struct berth_error *err);
/* Environment with HOME added when missing (malloc'd vector; strings borrowed or owned in *ret_owned). */
int process_build_env(const struct oci_process *p, char ***ret, struct berth_error *err);
/* User, groups, capabilities, no_new_privs and seccomp, in the order that keeps each possible.
 * With SCMP_ACT_NOTIFY the notify fd goes to the runtime over sync_fd (process_pass_notify_fd). */
int process_apply_security(const struct oci_process *p, json_t *seccomp, int sync_fd, struct berth_error *err);
/* Hands a seccomp notify fd to the runtime (which gives it to listenerPath's agent) and waits
 * until it has; closes it. No-op for -1. */
int process_pass_notify_fd(int sync_fd, int notify_fd, struct berth_error *err);
/* Closes everything above stdio + preserved fds at exec, resets signals, and execs. */
int process_exec(const char *path, const struct oci_process *p, char **env, int preserve_fds,
                 struct berth_error *err);
