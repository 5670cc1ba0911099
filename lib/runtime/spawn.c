/* Creating the container's processes in their namespaces.
 *
 * Fast path (only new namespaces): one clone3 with every CLONE_NEW* flag; the child is the init.
 * Joining namespaces by path, or a new time namespace with offsets, needs two stages: a first child
 * joins (setns) and unshares, then forks the init with CLONE_PARENT so the runtime stays its parent
 * (run and exec wait for it). The cgroup namespace is unshared by the init itself once the parent
 * has moved it into its cgroup, so that the namespace is rooted there. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "runtime/container-internal.h"
#include "runtime/sync.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static pid_t clone3_fork(uint64_t flags)
{
    /* clone3 wants no exit signal with CLONE_PARENT: the child inherits ours (SIGCHLD). */
    struct clone_args args = { .flags = flags, .exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD };
    return (pid_t) syscall(SYS_clone3, &args, sizeof(args));
}

int userns_write_maps(const struct oci_config *c, pid_t pid, struct berth_error *err)
{
    for (int which = 0; which < 2; which++) {
        const struct oci_idmap *m = which ? c->gid_mappings : c->uid_mappings;
        size_t n = which ? c->n_gid_mappings : c->n_uid_mappings;
        char buf[340 * 36 + 1];
        size_t len = 0;
        for (size_t i = 0; i < n; i++)
            len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n", m[i].container_id,
                                     m[i].host_id, m[i].size);
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int) pid, which ? "gid_map" : "uid_map");
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return berth_error_errno(err, -errno, "linux.%s: open %s", which ? "gidMappings" : "uidMappings", path);
        ssize_t w = write(fd, buf, len);
        int e = errno;
        close(fd);
        if (w != (ssize_t) len)
            return berth_error_errno(err, w < 0 ? -e : -EIO, "linux.%s: the kernel refused the mapping",
                                     which ? "gidMappings" : "uidMappings");
    }
    return 0;
}

static int write_time_offsets(json_t *offsets, struct berth_error *err)
{
    char buf[256];
    size_t len = 0;
    const char *k;
    json_t *v;
    json_object_foreach(offsets, k, v) {
        json_int_t secs = json_integer_value(json_object_get(v, "secs"));
        json_int_t ns = json_integer_value(json_object_get(v, "nanosecs"));
        len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s %lld %lld\n", k, (long long) secs,
                                 (long long) ns);
    }
    int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return berth_error_errno(err, -errno, "linux.timeOffsets: /proc/self/timens_offsets");
    ssize_t w = write(fd, buf, len);
    int e = errno;
    close(fd);
    if (w != (ssize_t) len)
        return berth_error_errno(err, -e, "linux.timeOffsets: the kernel refused the offsets");
    return 0;
}

/* First stage of the two-stage path: join, unshare, then fork the init. */
__attribute__((noreturn)) static void stage1(struct init_ctx *ctx, uint64_t newflags)
{
    struct berth_error err = { 0 };
    const struct oci_config *c = ctx->cfg;
    int fds[OCI_NS_COUNT];
    /* Open every path first: after joining the mount namespace they may no longer resolve. */
    for (int k = 0; k < OCI_NS_COUNT; k++) {
        fds[k] = -1;
        if (!c->ns[k].present || !c->ns[k].path)
            continue;
        fds[k] = open(c->ns[k].path, O_RDONLY | O_CLOEXEC);
        if (fds[k] < 0) {
            berth_error_errno(&err, -errno, "linux.namespaces: %s namespace %s", oci_ns_name(k), c->ns[k].path);
            sync_fail(ctx->sync_fd, err.code, &err);
        }
    }
    for (int k = 0; k < OCI_NS_COUNT; k++) {
        if (fds[k] < 0)
            continue;
        if (setns(fds[k], oci_ns_clone_flag(k)) < 0) {
            berth_error_errno(&err, -errno, "linux.namespaces: joining %s namespace %s", oci_ns_name(k),
                              c->ns[k].path);
            sync_fail(ctx->sync_fd, err.code, &err);
        }
        close(fds[k]);
    }
    if (newflags & CLONE_NEWUSER) {
        if (unshare(CLONE_NEWUSER) < 0) {
            berth_error_errno(&err, -errno, "creating the user namespace");
            sync_fail(ctx->sync_fd, err.code, &err);
        }
        struct sync_msg m;
        if (sync_send(ctx->sync_fd, SYNC_MAPS, 0, NULL) < 0 ||
            sync_expect(ctx->sync_fd, SYNC_MAPS_DONE, &m, &err) < 0)
            _exit(1);
    }
    uint64_t rest = newflags & ~(uint64_t) (CLONE_NEWUSER | CLONE_NEWCGROUP);
    if (rest && unshare((int) rest) < 0) {
        berth_error_errno(&err, -errno, "creating namespaces");
        sync_fail(ctx->sync_fd, err.code, &err);
    }
    if (c->time_offsets && write_time_offsets(c->time_offsets, &err) < 0)
        sync_fail(ctx->sync_fd, err.code, &err);
    bool fork_needed = c->ns[OCI_NS_PID].present || c->ns[OCI_NS_TIME].present;
    if (!fork_needed) {
        sync_send(ctx->sync_fd, SYNC_PID, getpid(), NULL);
        init_main(ctx);
    }
    pid_t pid = clone3_fork(CLONE_PARENT);
    if (pid < 0) {
        berth_error_errno(&err, -errno, "forking the container init");
        sync_fail(ctx->sync_fd, err.code, &err);
    }
    if (pid == 0)
        init_main(ctx);
    sync_send(ctx->sync_fd, SYNC_PID, pid, NULL);
    _exit(0);
}

/* exec: join every namespace of the container's init at once, then fork into its pid namespace. */
__attribute__((noreturn)) static void exec_stage1(struct init_ctx *ctx)
{
    struct berth_error err = { 0 };
    if (ctx->exec_nsflags && setns(ctx->target_pidfd, ctx->exec_nsflags) < 0) {
        berth_error_errno(&err, -errno, "joining the container's namespaces");
        sync_fail(ctx->sync_fd, err.code, &err);
    }
    close(ctx->target_pidfd);
    pid_t pid = clone3_fork(CLONE_PARENT);
    if (pid < 0) {
        berth_error_errno(&err, -errno, "forking into the container");
        sync_fail(ctx->sync_fd, err.code, &err);
    }
    if (pid == 0)
        exec_main(ctx);
    sync_send(ctx->sync_fd, SYNC_PID, pid, NULL);
    _exit(0);
}

static void child_close_parent_fds(struct init_ctx *ctx)
{
    if (ctx->close_fd >= 0)
        close(ctx->close_fd);
    if (ctx->parent_sync_fd >= 0)
        close(ctx->parent_sync_fd);
}

int spawn_container_process(struct init_ctx *ctx, int parent_fd, pid_t *ret_pid, struct berth_error *err)
{
    const struct oci_config *c = ctx->cfg;
    uint64_t newflags = 0;
    bool join = false;
    for (int k = 0; k < OCI_NS_COUNT; k++) {
        if (!c->ns[k].present)
            continue;
        if (c->ns[k].path)
            join = true;
        else if (k != OCI_NS_CGROUP)
            newflags |= (uint64_t) (unsigned) oci_ns_clone_flag(k);
    }
    bool two_stage = ctx->is_exec || join || (c->time_offsets && json_object_size(c->time_offsets));

    if (!two_stage) {
        pid_t pid = clone3_fork(newflags);
        if (pid < 0)
            return berth_error_errno(err, -errno, "creating the container process (clone3)");
        if (pid == 0) {
            child_close_parent_fds(ctx);
            init_main(ctx);
        }
        if (newflags & CLONE_NEWUSER) {
            int r = userns_write_maps(c, pid, err);
            if (r < 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                return r;
            }
        }
        *ret_pid = pid;
        return 0;
    }

    pid_t pid1 = clone3_fork(0);
    if (pid1 < 0)
        return berth_error_errno(err, -errno, "creating the container process (clone3)");
    if (pid1 == 0) {
        child_close_parent_fds(ctx);
        if (ctx->is_exec)
            exec_stage1(ctx);
        stage1(ctx, newflags);
    }
    pid_t pid = -1;
    int r = 0;
    while (pid < 0) {
        struct sync_msg m;
        r = sync_recv(parent_fd, &m);
        if (r < 0) {
            r = berth_error_errno(err, r, "container process exited during setup");
            break;
        }
        if (m.type == SYNC_ERROR) {
            r = berth_error_set(err, m.value < 0 ? m.value : -EIO, "%s", m.text);
            break;
        }
        if (m.type == SYNC_MAPS) {
            r = userns_write_maps(c, pid1, err);
            if (r < 0)
                break;
            sync_send(parent_fd, SYNC_MAPS_DONE, 0, NULL);
        } else if (m.type == SYNC_PID) {
            pid = m.value;
        } else {
            r = berth_error_set(err, -EBADMSG, "container setup: unexpected message %u", m.type);
            break;
        }
    }
    if (r < 0) {
        kill(pid1, SIGKILL);
        waitpid(pid1, NULL, 0);
        return r;
    }
    if (pid != pid1)
        waitpid(pid1, NULL, 0);
    *ret_pid = pid;
    return 0;
}
