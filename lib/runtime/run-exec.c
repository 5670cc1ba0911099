/* run (create + start + wait + delete) and exec (a new process in a running container). Both wait
 * for their process as its parent, forwarding the signals a user sends to the runtime. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "runtime/container-internal.h"
#include "runtime/container-load.h"
#include "runtime/cgroup.h"
#include "runtime/security.h"
#include "runtime/sync.h"

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD };

static void forward_mask(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
        sigaddset(set, forwarded[i]);
}

/* Waits for our child pid, relaying signals to it; returns its exit status. */
static int wait_forwarding(pid_t pid, const sigset_t *mask, int *ret_status)
{
    _cleanup_close_ int sfd = signalfd(-1, mask, SFD_CLOEXEC);
    for (;;) {
        int st;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            *ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            return 0;
        }
        if (w < 0 && errno != EINTR)
            return -errno;
        if (sfd < 0) {
            if (waitpid(pid, &st, 0) == pid) {
                *ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
                return 0;
            }
            continue;
        }
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n == sizeof(si) && si.ssi_signo != SIGCHLD)
            kill(pid, (int) si.ssi_signo);
    }
}

static int write_pid_file(const char *path, pid_t pid, struct berth_error *err)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d", (int) pid);
    _cleanup_free_ char *abs = NULL;
    if (path[0] == '/')
        abs = strdup(path);
    else {
        _cleanup_free_ char *cwd = realpath(".", NULL);
        abs = cwd ? fs_path_join(cwd, path) : NULL;
    }
    if (!abs)
        return -ENOMEM;
    int r = fs_write_replace(abs, buf, (size_t) n, 0644, err);
    return r < 0 ? berth_error_prefix(err, r, "--pid-file: ") : 0;
}

int container_run(const struct container_create_opts *o, bool detach, int *ret_status, struct berth_error *err)
{
    sigset_t mask, old;
    forward_mask(&mask);
    struct container_create_opts fg = *o;
    int pair[2] = { -1, -1 };
    if (!detach) {
        sigprocmask(SIG_BLOCK, &mask, &old);
        /* Without --console-socket a terminal comes back to us and we proxy it (runc's -t). */
        if (!o->console_socket && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0)
            fg.console_fd = &pair[1];
    }
    pid_t pid;
    int r = container_create(&fg, &pid, err);
    if (pair[1] >= 0)
        close(pair[1]);
    int master = r >= 0 && pair[0] >= 0 ? console_recv_master(pair[0]) : -1;
    if (pair[0] >= 0)
        close(pair[0]);
    if (r >= 0) {
        r = container_start(o->root, o->id, err);
        if (r < 0)
            container_delete(o->root, o->id, true, NULL);
    }
    if (r < 0 || detach) {
        if (!detach)
            sigprocmask(SIG_SETMASK, &old, NULL);
        if (master >= 0)
            close(master);
        *ret_status = 0;
        return r;
    }
    int status = 0;
    if (master >= 0) {
        r = console_proxy(master, pid, &mask, &status);
        close(master);
    } else {
        r = wait_forwarding(pid, &mask, &status);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    struct berth_error derr = { 0 };
    int d = container_delete(o->root, o->id, true, &derr);
    if (r < 0)
        return berth_error_errno(err, r, "waiting for container %s", o->id);
    if (d < 0) {
        *err = derr;
        return d;
    }
    *ret_status = status;
    return 0;
}

static bool same_ns(pid_t pid, const char *name)
{
    char a[64], b[64];
    snprintf(a, sizeof(a), "/proc/self/ns/%s", name);
    snprintf(b, sizeof(b), "/proc/%d/ns/%s", (int) pid, name);
    struct stat sa, sb;
    if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
        return true;
    return sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

int container_exec(const struct container_exec_opts *o, int *ret_status, struct berth_error *err)
{
    _cleanup_(container_freep) struct container *c = NULL;
    int r = container_load(o->root, o->id, false, &c, err);
    if (r < 0)
        return r;
    enum container_status s = container_get_status(c);
    if (s != CONTAINER_RUNNING && s != CONTAINER_CREATED)
        return berth_error_set(err, -EINVAL, "cannot exec in container %s: it is %s", o->id, container_status_name(s));
    if ((r = container_load_config(c, err)) < 0)
        return r;
    struct oci_process proc;
    if ((r = oci_process_parse(o->process, "process", &proc, err)) < 0)
        return r;
    int pidfd = -1, sv[2] = { -1, -1 }, console = -1, pair[2] = { -1, -1 };
    pid_t pid = -1;
    sigset_t mask, old;
    forward_mask(&mask);
    bool blocked = false;

    if (proc.terminal && !o->console_socket && o->detach && o->console_fd) {
        if ((console = fcntl(*o->console_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
            r = berth_error_errno(err, -errno, "console fd");
            goto out;
        }
    } else if (proc.terminal && !o->console_socket) {
        if (o->detach) {
            r = berth_error_set(err, -EINVAL, "--tty with --detach needs --console-socket to receive the pty");
            goto out;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
            r = berth_error_errno(err, -errno, "socketpair");
            goto out;
        }
        console = pair[1];
    }
    if (!proc.terminal && o->console_socket) {
        r = berth_error_set(err, -EINVAL, "--console-socket given but the process has no terminal");
        goto out;
    }
    if (proc.capabilities && (r = caps_check_spec(proc.capabilities, err)) < 0) {
        berth_error_prefix(err, r, "process.capabilities: ");
        goto out;
    }
    pidfd = (int) syscall(SYS_pidfd_open, c->pid, 0);
    if (pidfd < 0 || !container_init_alive(c)) {
        r = berth_error_set(err, -ESRCH, "container %s is not running", o->id);
        goto out;
    }
    int nsflags = 0;
    for (int k = 0; k < OCI_NS_COUNT; k++)
        if (!same_ns(c->pid, oci_ns_proc_name(k)))
            nsflags |= oci_ns_clone_flag(k);
    if (o->console_socket && (r = container_connect_console(o->console_socket, &console, err)) < 0)
        goto out;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        r = berth_error_errno(err, -errno, "socketpair");
        goto out;
    }
    struct init_ctx ctx = {
        .cfg = c->cfg,
        .proc = &proc,
        .seccomp = c->cfg->seccomp,
        .id = o->id,
        .sync_fd = sv[1],
        .fifo_fd = -1,
        .console_fd = console,
        .close_fd = c->dir->dirfd,
        .parent_sync_fd = sv[0],
        .preserve_fds = o->preserve_fds,
        .is_exec = true,
        .exec_nsflags = nsflags,
        .target_pidfd = pidfd,
    };
    if (!o->detach) {
        sigprocmask(SIG_BLOCK, &mask, &old);
        blocked = true;
    }
    r = spawn_container_process(&ctx, sv[0], &pid, err);
    close(sv[1]);
    sv[1] = -1;
    if (r < 0)
        goto out;
    if (c->cg && (r = cgroup_enter(c->cg, pid, err)) < 0)
        goto out;
    if ((r = sync_send(sv[0], SYNC_GO, 0, NULL)) < 0) {
        r = berth_error_errno(err, r, "exec: the process exited during setup");
        goto out;
    }
    struct sync_msg m;
    int passed = -1;
    /* The process may hand over its seccomp notify fd (listenerPath) before it execs. */
    while ((r = sync_recv_fd(sv[0], &m, &passed)) == 0 && m.type == SYNC_SECCOMP && passed >= 0) {
        r = seccomp_notify_send(c->cfg->seccomp, o->id, pid, c->pid, c->cfg->bundle, c->cfg->annotations, "running", passed,
                                err);
        close(passed);
        passed = -1;
        if (r < 0 || (r = sync_send(sv[0], SYNC_SECCOMP_DONE, 0, NULL)) < 0) {
            /* Keeps the listener's error if that was it. */
            r = berth_error_errno(err, r, "exec: the process exited during setup");
            goto out;
        }
    }
    if (passed >= 0)
        close(passed);
    if (r == 0) {
        r = m.type == SYNC_ERROR ? berth_error_set(err, m.value < 0 ? m.value : -EIO, "%s", m.text)
                                 : berth_error_set(err, -EBADMSG, "exec: unexpected message %u", m.type);
        goto out;
    }
    r = 0; /* EOF: the socket closed on a successful execve */
    if (o->pid_file && (r = write_pid_file(o->pid_file, pid, err)) < 0)
        goto out;
    /* Release the container's lock before the (possibly long) wait. */
    container_free(TAKE_PTR(c));
    if (o->detach) {
        *ret_status = 0;
        if (o->ret_pid)
            *o->ret_pid = pid;
        pid = -1;
        goto out;
    }
    int master = pair[0] >= 0 ? console_recv_master(pair[0]) : -1;
    if (master >= 0) {
        r = console_proxy(master, pid, &mask, ret_status);
        close(master);
    } else {
        r = wait_forwarding(pid, &mask, ret_status);
    }
    pid = -1;
    if (r < 0)
        r = berth_error_errno(err, r, "exec: waiting");
out:
    if (r < 0 && pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (blocked)
        sigprocmask(SIG_SETMASK, &old, NULL);
    if (pidfd >= 0)
        close(pidfd);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    if (console >= 0)
        close(console);
    if (pair[0] >= 0)
        close(pair[0]);
    oci_process_done(&proc);
    return r;
}
