/* create: parse and check the bundle, spawn the init in its namespaces, put it in its cgroup, let
 * it set itself up (running prestart/createRuntime hooks when it asks), then record the state and
 * the pid file and return. On any failure everything created so far is undone. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "runtime/container-internal.h"
#include "runtime/container-load.h"
#include "runtime/hooks.h"
#include "runtime/cgroup.h"
#include "runtime/security.h"
#include "runtime/sync.h"

int container_connect_console(const char *path, int *ret, struct berth_error *err)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof(addr.sun_path))
        return berth_error_set(err, -ENAMETOOLONG, "--console-socket: path too long: %s", path);
    strcpy(addr.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return berth_error_errno(err, -errno, "--console-socket: socket");
    if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0)
        return berth_error_errno(err, -errno, "--console-socket: connecting to %s", path);
    *ret = TAKE_FD(fd);
    return 0;
}

static int check_config(const struct oci_config *c, const struct container_create_opts *o, struct berth_error *err)
{
    if (!c->has_process)
        return berth_error_set(err, -EINVAL, "config.json: process: missing (nothing to run)");
    if (!c->ns[OCI_NS_MOUNT].present)
        return berth_error_set(err, -EINVAL, "config.json: linux.namespaces: a mount namespace is required");
    if (c->ns[OCI_NS_MOUNT].path)
        return berth_error_set(err, -EOPNOTSUPP, "config.json: linux.namespaces: joining a mount namespace by path is not supported");
    if (c->process.terminal && !o->console_socket && !o->console_fd)
        return berth_error_set(err, -EINVAL, "process.terminal is true: --console-socket is required to receive the pty");
    if (!c->process.terminal && o->console_socket)
        return berth_error_set(err, -EINVAL, "--console-socket given but process.terminal is false");
    int r;
    if (c->process.capabilities && (r = caps_check_spec(c->process.capabilities, err)) < 0)
        return berth_error_prefix(err, r, "config.json: process.capabilities: ");
    if (c->seccomp && (r = seccomp_check_spec(c->seccomp, err)) < 0)
        return berth_error_prefix(err, r, "config.json: linux.seccomp: ");
    return 0;
}

static json_t *build_state(const struct oci_config *c, const char *id, pid_t pid, uint64_t start,
                           struct cgroup_manager *cg, bool systemd)
{
    char created[64];
    oci_timestamp_now(created);
    json_t *b = json_pack("{s:I, s:O, s:b}", "start_time", (json_int_t) start, "config", c->json, "systemd", systemd);
    if (b && cg)
        json_object_set_new(b, "cgroup", cgroup_manager_to_json(cg));
    json_t *s = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:o}", "ociVersion", "1.2.0", "id", id, "pid",
                          (int) pid, "bundle", c->bundle, "rootfs", c->rootfs, "created", created, "owner", "",
                          "berth", b);
    if (s)
        json_object_set_new(s, "annotations", c->annotations ? json_incref(c->annotations) : json_object());
    return s;
}

static char *hook_state(const struct oci_config *c, const char *id, pid_t pid, const char *status)
{
    json_t *s = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", "1.2.0", "id", id, "status", status,
                          "pid", (int) pid, "bundle", c->bundle);
    if (s && c->annotations)
        json_object_set(s, "annotations", c->annotations);
    char *out = s ? json_dumps(s, JSON_COMPACT) : NULL;
    json_decref(s);
    return out;
}

/* Parent side of the init's setup conversation, until it is ready. */
static int wait_ready(const struct oci_config *c, const char *id, pid_t pid, int fd, struct berth_error *err)
{
    for (;;) {
        struct sync_msg m;
        int passed = -1;
        int r = sync_recv_fd(fd, &m, &passed);
        if (r < 0)
            return berth_error_errno(err, r, "container init exited during setup");
        if (m.type == SYNC_SECCOMP && passed >= 0) {
            r = seccomp_notify_send(c->seccomp, id, pid, pid, c->bundle, c->annotations, "creating", passed, err);
            close(passed);
            if (r < 0)
                return r;
            if ((r = sync_send(fd, SYNC_SECCOMP_DONE, 0, NULL)) < 0)
                return berth_error_errno(err, r, "container init exited during setup");
            continue;
        }
        if (passed >= 0)
            close(passed);
        if (m.type == SYNC_ERROR)
            return berth_error_set(err, m.value < 0 ? m.value : -EIO, "%s", m.text);
        if (m.type == SYNC_READY)
            return 0;
        if (m.type != SYNC_HOOKS)
            return berth_error_set(err, -EBADMSG, "container setup: unexpected message %u", m.type);
        _cleanup_free_ char *state = hook_state(c, id, pid, "creating");
        if (!state)
            return -ENOMEM;
        if ((r = hooks_run(&c->hooks, OCI_HOOK_PRESTART, state, err)) < 0 ||
            (r = hooks_run(&c->hooks, OCI_HOOK_CREATE_RUNTIME, state, err)) < 0)
            return r;
        if ((r = sync_send(fd, SYNC_HOOKS_DONE, 0, NULL)) < 0)
            return berth_error_errno(err, r, "container init exited during setup");
    }
}

int container_create(const struct container_create_opts *o, pid_t *ret_pid, struct berth_error *err)
{
    _cleanup_(oci_runtime_config_freep) struct oci_config *c = NULL;
    int r = oci_config_load_bundle(o->bundle, &c, err);
    if (r < 0)
        return r;
    if ((r = check_config(c, o, err)) < 0)
        return r;

    struct oci_state_dir *dir = NULL;
    if ((r = oci_state_dir_create(o->root, o->id, &dir, err)) < 0)
        return r;
    struct cgroup_manager *cg = NULL;
    pid_t pid = -1;
    int sv[2] = { -1, -1 }, fifo = -1, console = -1;
    bool cg_entered = false;

    if (mkfifoat(dir->dirfd, "exec.fifo", 0600) < 0) {
        r = berth_error_errno(err, -errno, "creating the exec fifo");
        goto fail;
    }
    fifo = openat(dir->dirfd, "exec.fifo", O_RDWR | O_CLOEXEC);
    if (fifo < 0) {
        r = berth_error_errno(err, -errno, "opening the exec fifo");
        goto fail;
    }
    if (o->console_socket && (r = container_connect_console(o->console_socket, &console, err)) < 0)
        goto fail;
    if (!o->console_socket && o->console_fd && c->process.terminal &&
        (console = fcntl(*o->console_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
        r = berth_error_errno(err, -errno, "console");
        goto fail;
    }
    if ((r = cgroup_manager_new(c->cgroups_path, o->id, o->systemd_cgroup, o->cgroup_root, &cg, err)) < 0)
        goto fail;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        r = berth_error_errno(err, -errno, "socketpair");
        goto fail;
    }
    struct init_ctx ctx = {
        .cfg = c,
        .proc = &c->process,
        .seccomp = c->seccomp,
        .id = o->id,
        .sync_fd = sv[1],
        .fifo_fd = fifo,
        .console_fd = console,
        .close_fd = dir->dirfd,
        .parent_sync_fd = sv[0],
        .preserve_fds = o->preserve_fds,
        .no_pivot = o->no_pivot,
        .no_new_keyring = o->no_new_keyring,
        .target_pidfd = -1,
        .cgroup_pending = true,
    };
    r = spawn_container_process(&ctx, sv[0], &pid, err);
    close(sv[1]);
    sv[1] = -1;
    if (r < 0)
        goto fail;
    /* GO first: the init prepares its rootfs and mounts while we move it into its cgroup (the
     * first cgroup.procs write waits for an RCU grace period); it waits for SYNC_CGROUP before
     * anything that depends on the cgroup (init_join_cgroup). */
    if ((r = sync_send(sv[0], SYNC_GO, 0, NULL)) < 0) {
        r = berth_error_errno(err, r, "container init exited during setup");
        goto fail;
    }
    if (cg) {
        cg_entered = true;
        if ((r = cgroup_enter(cg, pid, err)) < 0 || (r = cgroup_apply(cg, c->resources, err)) < 0) {
            /* The init may have failed first (and so vanished from under the cgroup write). */
            struct sync_msg m;
            if (recv(sv[0], &m, sizeof(m), MSG_DONTWAIT) > 0 && m.type == SYNC_ERROR) {
                berth_error_clear(err);
                r = berth_error_set(err, m.value < 0 ? m.value : -EIO, "%.*s", (int) sizeof(m.text) - 1, m.text);
            } else {
                berth_error_prefix(err, r, "cgroup: ");
            }
            goto fail;
        }
    }
    /* A failed send means the init is gone: wait_ready reports the error it left behind. */
    sync_send(sv[0], SYNC_CGROUP, 0, NULL);
    if ((r = wait_ready(c, o->id, pid, sv[0], err)) < 0)
        goto fail;

    uint64_t start = 0;
    if (oci_proc_start_time(pid, &start, NULL) < 0) {
        r = berth_error_set(err, -ESRCH, "container init exited during setup");
        goto fail;
    }
    json_t *state = build_state(c, o->id, pid, start, cg, o->systemd_cgroup);
    if (!state) {
        r = -ENOMEM;
        goto fail;
    }
    r = oci_state_write(dir, state, err);
    json_decref(state);
    if (r < 0)
        goto fail;
    if (o->pid_file) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%d", (int) pid);
        char *abs = o->pid_file[0] == '/' ? strdup(o->pid_file) : realpath(".", NULL);
        if (abs && o->pid_file[0] != '/') {
            char *j = fs_path_join(abs, o->pid_file);
            free(abs);
            abs = j;
        }
        if (!abs) {
            r = -ENOMEM;
            goto fail;
        }
        r = fs_write_replace(abs, buf, (size_t) n, 0644, err);
        free(abs);
        if (r < 0) {
            berth_error_prefix(err, r, "--pid-file: ");
            goto fail;
        }
    }
    close(sv[0]);
    close(fifo);
    if (console >= 0)
        close(console);
    if (cg)
        cgroup_manager_free(cg);
    oci_state_dir_free(dir);
    *ret_pid = pid;
    return 0;

fail:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (cg) {
        if (cg_entered || pid > 0)
            cgroup_destroy(cg, NULL);
        cgroup_manager_free(cg);
    }
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    if (fifo >= 0)
        close(fifo);
    if (console >= 0)
        close(console);
    oci_state_dir_remove(dir, NULL);
    return r;
}
