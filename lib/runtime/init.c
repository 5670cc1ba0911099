/* The container's init before it becomes the container's program: everything is set up here,
 * errors go back to the runtime over the sync socket, then it blocks on the exec fifo until
 * `start` and execs. An exec'd process (exec_main) does the per-process part only. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "runtime/container-internal.h"
#include "runtime/hooks.h"
#include "runtime/sync.h"

#define KEYCTL_JOIN_SESSION_KEYRING 1

static int become_root_in_userns(struct berth_error *err)
{
    /* The ids are mapped now; act as the namespace's root so files we create are owned by it. */
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        return berth_error_errno(err, -errno, "becoming root in the user namespace (is 0 mapped?)");
    return 0;
}

static int write_proc(const char *path, const char *value, const char *what, struct berth_error *err)
{
    int r = fs_write_string(path, value);
    if (r < 0)
        return berth_error_errno(err, r, "%s: writing %s", what, path);
    return 0;
}

static int apply_sysctl(const struct oci_config *c, int rootfd, struct berth_error *err)
{
    const char *k;
    json_t *v;
    if (!c->sysctl)
        return 0;
    json_object_foreach(c->sysctl, k, v) {
        char path[512];
        int n = snprintf(path, sizeof(path), "/proc/sys/%s", k);
        if (n < 0 || (size_t) n >= sizeof(path))
            return berth_error_set(err, -EINVAL, "linux.sysctl.%s: key too long", k);
        for (char *p = path + 10; *p; p++)
            if (*p == '.')
                *p = '/';
        _cleanup_close_ int fd = fs_open_in_root(rootfd, path, O_WRONLY, 0, RESOLVE_NO_SYMLINKS);
        if (fd < 0)
            return berth_error_errno(err, fd, "linux.sysctl.%s", k);
        const char *val = json_string_value(v);
        if (write(fd, val, strlen(val)) < 0)
            return berth_error_errno(err, -errno, "linux.sysctl.%s = %s", k, val);
    }
    return 0;
}

static char *state_for_hooks(struct init_ctx *ctx, const char *status)
{
    json_t *s = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", "1.2.0", "id", ctx->id, "status", status,
                          "pid", (int) getpid(), "bundle", ctx->cfg->bundle ? ctx->cfg->bundle : "");
    if (s && ctx->cfg->annotations)
        json_object_set(s, "annotations", ctx->cfg->annotations);
    char *out = s ? json_dumps(s, JSON_COMPACT) : NULL;
    json_decref(s);
    return out;
}

int init_join_cgroup(struct init_ctx *ctx, struct berth_error *err)
{
    if (ctx->cgroup_joined)
        return 0;
    int r;
    if (ctx->cgroup_pending && (r = sync_expect(ctx->sync_fd, SYNC_CGROUP, NULL, err)) < 0)
        return r;
    ctx->cgroup_pending = false;
    ctx->cgroup_joined = true;
    /* Rooted at the cgroup the runtime just moved us into. */
    const struct oci_config *c = ctx->cfg;
    if (c->ns[OCI_NS_CGROUP].present && !c->ns[OCI_NS_CGROUP].path && unshare(CLONE_NEWCGROUP) < 0)
        return berth_error_errno(err, -errno, "creating the cgroup namespace");
    return 0;
}

static int setup_mount_ns(struct init_ctx *ctx, bool userns, int early_fd, int *ret_rootfd, struct berth_error *err)
{
    const struct oci_config *c = ctx->cfg;
    int r;
    _cleanup_close_ int rootfd = -1;
    /* The rootfs and the mounts that do not depend on our cgroup are set up while the runtime
     * moves us into it (that write waits for an RCU grace period, several ms). */
    if ((r = rootfs_prepare(c, early_fd, &rootfd, err)) < 0 || (r = mounts_setup(ctx, rootfd, userns, err)) < 0 ||
        (r = init_join_cgroup(ctx, err)) < 0 || (r = devices_setup(c, rootfd, userns, err)) < 0)
        return r;
    /* cwd is created now: a read-only rootfs would refuse it later. */
    _cleanup_close_ int cwd = rootfs_mkdir_p(rootfd, ctx->proc->cwd, err);
    if (cwd < 0)
        return berth_error_prefix(err, cwd, "process.cwd: ");
    *ret_rootfd = TAKE_FD(rootfd);
    return 0;
}

int process_pass_notify_fd(int sync_fd, int notify_fd, struct berth_error *err)
{
    if (notify_fd < 0)
        return 0;
    int r = sync_send_fd(sync_fd, SYNC_SECCOMP, notify_fd);
    close(notify_fd);
    if (r < 0)
        return berth_error_errno(err, r, "linux.seccomp: passing the notify fd to the runtime");
    return sync_expect(sync_fd, SYNC_SECCOMP_DONE, NULL, err);
}

void init_main(struct init_ctx *ctx)
{
    struct berth_error err = { 0 };
    const struct oci_config *c = ctx->cfg;
    int fd = ctx->sync_fd;
    bool userns = c->ns[OCI_NS_USER].present;
    int r;

    umask(0);
    if (sync_expect(fd, SYNC_GO, NULL, &err) < 0)
        _exit(1);
    _cleanup_close_ int early_fd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (early_fd < 0) {
        berth_error_errno(&err, -errno, "root.path: %s", c->rootfs);
        sync_fail(fd, err.code, &err);
    }
    if (userns && !c->ns[OCI_NS_USER].path && (r = become_root_in_userns(&err)) < 0)
        sync_fail(fd, r, &err);
    if (c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0) {
        berth_error_errno(&err, -errno, "hostname: %s", c->hostname);
        sync_fail(fd, err.code, &err);
    }
    if (c->domainname && setdomainname(c->domainname, strlen(c->domainname)) < 0) {
        berth_error_errno(&err, -errno, "domainname: %s", c->domainname);
        sync_fail(fd, err.code, &err);
    }
    _cleanup_close_ int rootfd = -1;
    if ((r = setup_mount_ns(ctx, userns, early_fd, &rootfd, &err)) < 0)
        sync_fail(fd, r, &err);

    if (c->hooks.n[OCI_HOOK_PRESTART] || c->hooks.n[OCI_HOOK_CREATE_RUNTIME]) {
        if (sync_send(fd, SYNC_HOOKS, 0, NULL) < 0 || sync_expect(fd, SYNC_HOOKS_DONE, NULL, &err) < 0)
            _exit(1);
    }
    if (c->hooks.n[OCI_HOOK_CREATE_CONTAINER]) {
        _cleanup_free_ char *state = state_for_hooks(ctx, "created");
        if (!state || (r = hooks_run(&c->hooks, OCI_HOOK_CREATE_CONTAINER, state, &err)) < 0)
            sync_fail(fd, -EIO, &err);
    }
    int *start_hook_fds = NULL;
    if (c->hooks.n[OCI_HOOK_START_CONTAINER] &&
        (r = hooks_open(&c->hooks, OCI_HOOK_START_CONTAINER, &start_hook_fds, &err)) < 0)
        sync_fail(fd, r, &err);
    if (c->process.has_oom_score_adj) {
        char v[16];
        snprintf(v, sizeof(v), "%d", c->process.oom_score_adj);
        if ((r = write_proc("/proc/self/oom_score_adj", v, "process.oomScoreAdj", &err)) < 0)
            sync_fail(fd, r, &err);
    }
    if ((r = rootfs_pivot(rootfd, ctx->no_pivot, c->rootfs_propagation, &err)) < 0 ||
        (r = apply_sysctl(c, rootfd, &err)) < 0 || (r = rootfs_mask_paths(c, rootfd, &err)) < 0 ||
        (c->rootfs_readonly && (r = rootfs_make_readonly(&err)) < 0))
        sync_fail(fd, r, &err);
    close(TAKE_FD(rootfd));

    if (!ctx->no_new_keyring) {
        char name[64];
        snprintf(name, sizeof(name), "_ses.%.50s", ctx->id);
        /* Keyrings are optional (a user namespace or a seccomp filter may refuse them). */
        syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name);
    }
    const struct oci_process *p = ctx->proc;
    if ((r = process_apply_rlimits(p, &err)) < 0 || (r = process_chdir(p, &err)) < 0)
        sync_fail(fd, r, &err);
    if (!p->terminal && setsid() < 0) {
        berth_error_errno(&err, -errno, "setsid");
        sync_fail(fd, err.code, &err);
    }
    if ((r = process_setup_terminal(p, ctx->console_fd, &err)) < 0)
        sync_fail(fd, r, &err);
    if (ctx->console_fd >= 0)
        close(TAKE_FD(ctx->console_fd));
    _cleanup_free_ char *exe = NULL;
    char **env = NULL;
    if ((r = process_find_executable(p, &exe, &err)) < 0 || (r = process_build_env(p, &env, &err)) < 0)
        sync_fail(fd, r, &err);
    if ((r = process_apply_security(p, ctx->seccomp, fd, &err)) < 0)
        sync_fail(fd, r, &err);
    umask(p->user.has_umask ? p->user.umask : 022);

    if (sync_send(fd, SYNC_READY, 0, NULL) < 0)
        _exit(1);
    close(fd);

    /* Blocked here, in state "created", until `start` writes a byte into the fifo. */
    char byte;
    ssize_t n;
    do
        n = read(ctx->fifo_fd, &byte, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        _exit(1);
    /* ctx->fifo_fd stays open until execve (close-on-exec): start waits for that to run poststart. */

    if (c->hooks.n[OCI_HOOK_START_CONTAINER]) {
        _cleanup_free_ char *state = state_for_hooks(ctx, "running");
        if (!state || hooks_run_fds(&c->hooks, OCI_HOOK_START_CONTAINER, start_hook_fds, state, &err) < 0) {
            fprintf(stderr, "berth-oci: %s\n", berth_error_message(&err));
            _exit(127);
        }
    }
    for (size_t i = 0; start_hook_fds && i < c->hooks.n[OCI_HOOK_START_CONTAINER]; i++)
        close(start_hook_fds[i]);
    process_exec(exe, p, env, ctx->preserve_fds, &err);
    fprintf(stderr, "berth-oci: %s\n", berth_error_message(&err));
    _exit(127);
}

void exec_main(struct init_ctx *ctx)
{
    struct berth_error err = { 0 };
    int fd = ctx->sync_fd;
    const struct oci_process *p = ctx->proc;
    int r;
    if (sync_expect(fd, SYNC_GO, NULL, &err) < 0)
        _exit(1);
    if ((r = process_apply_rlimits(p, &err)) < 0 || (r = process_chdir(p, &err)) < 0)
        sync_fail(fd, r, &err);
    if (!p->terminal && setsid() < 0) {
        berth_error_errno(&err, -errno, "setsid");
        sync_fail(fd, err.code, &err);
    }
    if ((r = process_setup_terminal(p, ctx->console_fd, &err)) < 0)
        sync_fail(fd, r, &err);
    if (ctx->console_fd >= 0)
        close(TAKE_FD(ctx->console_fd));
    _cleanup_free_ char *exe = NULL;
    char **env = NULL;
    if ((r = process_find_executable(p, &exe, &err)) < 0 || (r = process_build_env(p, &env, &err)) < 0 ||
        (r = process_apply_security(p, ctx->seccomp, fd, &err)) < 0)
        sync_fail(fd, r, &err);
    umask(p->user.has_umask ? p->user.umask : 022);
    /* The sync socket is close-on-exec: the runtime sees EOF once the program runs. */
    r = process_exec(exe, p, env, ctx->preserve_fds, &err);
    sync_fail(fd, r, &err);
}
