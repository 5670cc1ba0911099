/* start, state, kill, delete, pause/resume, update, ps, list. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/strv.h"
#include "runtime/container-load.h"
#include "runtime/hooks.h"
#include "runtime/cgroup.h"
#include "runtime/security.h"

static const struct {
    const char *name;
    int sig;
} signals[] = {
    { "HUP", SIGHUP },   { "INT", SIGINT },       { "QUIT", SIGQUIT }, { "ILL", SIGILL },
    { "TRAP", SIGTRAP }, { "ABRT", SIGABRT },     { "IOT", SIGIOT },   { "BUS", SIGBUS },
    { "FPE", SIGFPE },   { "KILL", SIGKILL },     { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },
    { "USR2", SIGUSR2 }, { "PIPE", SIGPIPE },     { "ALRM", SIGALRM }, { "TERM", SIGTERM },
    { "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
    { "TSTP", SIGTSTP }, { "TTIN", SIGTTIN },     { "TTOU", SIGTTOU }, { "URG", SIGURG },
    { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },     { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
    { "WINCH", SIGWINCH }, { "IO", SIGIO },       { "POLL", SIGPOLL }, { "PWR", SIGPWR },
    { "SYS", SIGSYS },
};

int container_parse_signal(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (*s && !*end)
        return n > 0 && n < NSIG ? (int) n : -EINVAL;
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        if (!strcasecmp(s, signals[i].name))
            return signals[i].sig;
    if (!strncasecmp(s, "RTMIN+", 6)) {
        n = strtol(s + 6, &end, 10);
        if (!*end && n >= 0 && SIGRTMIN + n <= SIGRTMAX)
            return SIGRTMIN + (int) n;
    }
    return -EINVAL;
}

/* A pidfd for the container's init that is certainly that process (start time checked after
 * opening), or -ESRCH. */
static int open_init_pidfd(struct container *c)
{
    if (c->pid <= 0)
        return -ESRCH;
    int fd = (int) syscall(SYS_pidfd_open, c->pid, 0);
    if (fd < 0)
        return -errno;
    if (!container_init_alive(c)) {
        close(fd);
        return -ESRCH;
    }
    return fd;
}

static int wait_pidfd(int pidfd, int timeout_ms)
{
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    for (;;) {
        int n = poll(&p, 1, timeout_ms);
        if (n > 0)
            return 0;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

int container_start(const char *root, const char *id, struct berth_error *err)
{
    _cleanup_(container_freep) struct container *c = NULL;
    int r = container_load(root, id, true, &c, err);
    if (r < 0)
        return r;
    enum container_status s = container_get_status(c);
    if (s != CONTAINER_CREATED)
        return berth_error_set(err, -EINVAL, "cannot start container %s: it is %s (only a created container starts)",
                               id, container_status_name(s));
    if ((r = container_load_config(c, err)) < 0)
        return r;
    bool poststart = c->cfg->hooks.n[OCI_HOOK_POSTSTART] > 0;
    /* poststart hooks run once the program runs: a read end of the fifo sees POLLHUP when the
     * init's descriptor closes at its execve. */
    _cleanup_close_ int reader = poststart ? openat(c->dir->dirfd, "exec.fifo", O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
    int fifo = openat(c->dir->dirfd, "exec.fifo", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fifo < 0) {
        if (errno == ENXIO)
            return berth_error_set(err, -ESRCH, "cannot start container %s: its init is gone", id);
        return berth_error_errno(err, -errno, "container %s: exec fifo", id);
    }
    ssize_t w = write(fifo, "0", 1);
    int e = errno;
    close(fifo);
    if (w != 1)
        return berth_error_errno(err, -e, "container %s: signalling start", id);
    unlinkat(c->dir->dirfd, "exec.fifo", 0);
    if (poststart) {
        if (reader >= 0) {
            struct pollfd p = { .fd = reader, .events = 0 };
            while (poll(&p, 1, 10000) < 0 && errno == EINTR)
                ;
        }
        _cleanup_free_ char *state = container_state_string(c);
        struct berth_error herr = { 0 };
        if (state && hooks_run(&c->cfg->hooks, OCI_HOOK_POSTSTART, state, &herr) < 0)
            log_warning("container %s: %s", id, berth_error_message(&herr));
    }
    return 0;
}

int container_state(const char *root, const char *id, json_t **ret, struct berth_error *err)
{
    _cleanup_(container_freep) struct container *c = NULL;
    int r = container_load(root, id, false, &c, err);
    if (r < 0)
        return r;
    json_t *o = container_state_object(c);
    if (!o)
        return -ENOMEM;
    *ret = o;
    return 0;
}

int container_kill(const char *root, const char *id, int sig, bool all, struct berth_error *err)
{
    _cleanup_(container_freep) struct container *c = NULL;
    int r = container_load(root, id, false, &c, err);
    if (r < 0)
        return r;
    if (all && c->cg) {
        r = cgroup_kill_all(c->cg, sig, err);
        if (r < 0)
            return r;
        if (sig == SIGKILL || sig == SIGTERM)
            cgroup_freeze(c->cg, false, NULL);
        return 0;
    }
    _cleanup_close_ int pidfd = open_init_pidfd(c);
    if (pidfd < 0)
        return berth_error_set(err, -ESRCH, "container %s is not running", id);
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
        return berth_error_errno(err, -errno, "container %s: sending signal %d", id, sig);
    return 0;
}

static int kill_and_wait(struct container *c, struct berth_error *err)
{
    _cleanup_close_ int pidfd = open_init_pidfd(c);
    if (pidfd >= 0)
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    if (c->cg) {
        cgroup_kill_all(c->cg, SIGKILL, NULL);
        /* Frozen tasks only die once thawed (cgroup_kill_all thaws what it froze itself). */
        if (cgroup_is_frozen(c->cg) > 0)
            cgroup_freeze(c->cg, false, NULL);
    }
    if (pidfd >= 0 && wait_pidfd(pidfd, 10000) < 0)
        return berth_error_set(err, -ETIMEDOUT, "container %s: init did not die after SIGKILL", c->dir->id);
    return 0;
}

int container_delete(const char *root, const char *id, bool force, struct berth_error *err)
{
    _cleanup_(container_freep) struct container *c = NULL;
    int r = container_load(root, id, true, &c, err);
    if (r == -ENOENT && force && err) {
        /* Nothing to delete: --force makes that fine, as with runc. */
        berth_error_clear(err);
        return 0;
    }
    if (r < 0)
        return r;
    enum container_status s = container_get_status(c);
    if (s != CONTAINER_STOPPED && s != CONTAINER_CREATED && !force)
        return berth_error_set(err, -EBUSY, "cannot delete container %s: it is %s (stop it first, or use --force)",
                               id, container_status_name(s));
    if (s != CONTAINER_STOPPED || c->cg) {
        if ((r = kill_and_wait(c, err)) < 0)
            return r;
    }
    if (container_load_config(c, NULL) == 0 && c->cfg->hooks.n[OCI_HOOK_POSTSTOP]) {
        json_t *o = container_state_object(c);
        if (o)
            json_object_set_new(o, "status", json_string("stopped"));
        _cleanup_free_ char *state = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        struct berth_error herr = { 0 };
        if (state && hooks_run(&c->cfg->hooks, OCI_HOOK_POSTSTOP, state, &herr) < 0)
            log_warning("container %s: %s", id, berth_error_message(&herr));
    }
    if (c->cg && (r = cgroup_destroy(c->cg, err)) < 0)
        return berth_error_prefix(err, r, "container %s: ", id);
    struct oci_state_dir *d = TAKE_PTR(c->dir);
    return oci_state_dir_remove(d, err);
}

int container_pause(const char *root, const char *id, bool pause, struct berth_error *err)
{
    _cleanup_(container_freep) struct container *c = NULL;
    int r = container_load(root, id, true, &c, err);
    if (r < 0)
        return r;
    enum container_status s = container_get_status(c);
    if (pause && s != CONTAINER_RUNNING && s != CONTAINER_CREATED)
        return berth_error_set(err, -EINVAL, "cannot pause container %s: it is %s", id, container_status_name(s));
    if (!pause && s != CONTAINER_PAUSED)
        return berth_error_set(err, -EINVAL, "cannot resume container %s: it is %s", id, container_status_name(s));
    if (!c->cg)
        return berth_error_set(err, -EOPNOTSUPP, "container %s has no cgroup to freeze", id);
    return cgroup_freeze(c->cg, pause, err);
}

int container_update(const char *root, const char *id, json_t *resources, struct berth_error *err)
{
    _cleanup_(container_freep) struct container *c = NULL;
    int r = container_load(root, id, true, &c, err);
    if (r < 0)
        return r;
    if (container_get_status(c) == CONTAINER_STOPPED)
        return berth_error_set(err, -EINVAL, "cannot update container %s: it is stopped", id);
    if (!c->cg)
        return berth_error_set(err, -EOPNOTSUPP, "container %s has no cgroup to update", id);
    if ((r = cgroup_apply(c->cg, resources, err)) < 0)
        return r;
    /* Keep the recorded config in step so a later update or state sees the new limits. */
    json_t *cfg = json_object_get(json_object_get(c->state, "berth"), "config");
    json_t *lnx = json_object_get(cfg, "linux");
    if (json_is_object(lnx)) {
        json_t *old = json_object_get(lnx, "resources");
        if (json_is_object(old))
            json_object_update_recursive(old, resources);
        else
            json_object_set(lnx, "resources", resources);
        return oci_state_write(c->dir, c->state, err);
    }
    return 0;
}

int container_pids(const char *root, const char *id, pid_t **ret, size_t *ret_n, struct berth_error *err)
{
    _cleanup_(container_freep) struct container *c = NULL;
    int r = container_load(root, id, false, &c, err);
    if (r < 0)
        return r;
    if (container_get_status(c) == CONTAINER_STOPPED)
        return berth_error_set(err, -EINVAL, "container %s is not running", id);
    if (c->cg)
        return cgroup_pids(c->cg, ret, ret_n, err);
    pid_t *p = malloc(sizeof(pid_t));
    if (!p)
        return -ENOMEM;
    p[0] = c->pid;
    *ret = p;
    *ret_n = 1;
    return 0;
}

int container_stats(const char *root, const char *id, struct cgroup_stats *ret, struct berth_error *err)
{
    _cleanup_(container_freep) struct container *c = NULL;
    int r = container_load(root, id, false, &c, err);
    if (r < 0)
        return r;
    if (container_get_status(c) == CONTAINER_STOPPED)
        return berth_error_set(err, -EINVAL, "container %s is not running", id);
    if (!c->cg)
        return berth_error_set(err, -EOPNOTSUPP, "container %s has no cgroup to read statistics from", id);
    return cgroup_stats(c->cg, ret, err);
}

int container_list(const char *root, json_t **ret, struct berth_error *err)
{
    _cleanup_strv_ char **ids = NULL;
    int r = oci_state_list(root, &ids, err);
    if (r < 0)
        return r;
    json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    for (size_t i = 0; ids[i]; i++) {
        /* Without the lock: list must not wait for a create in progress. */
        _cleanup_free_ char *dir = fs_path_join(root, ids[i]);
        _cleanup_free_ char *path = dir ? fs_path_join(dir, "state.json") : NULL;
        json_t *st = NULL;
        if (!path || json_load_path(path, 8u << 20, &st, NULL) < 0) {
            json_array_append_new(arr, json_pack("{s:s, s:s, s:i}", "id", ids[i], "status", "creating", "pid", 0));
            continue;
        }
        struct container c = { .state = st };
        struct oci_state_dir d = { .dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), .path = dir, .id = ids[i] };
        c.dir = &d;
        c.pid = (pid_t) json_integer_value(json_object_get(st, "pid"));
        json_t *b = json_object_get(st, "berth");
        c.start_time = (uint64_t) json_integer_value(json_object_get(b, "start_time"));
        json_t *cg = json_object_get(b, "cgroup");
        if (cg && !json_is_null(cg))
            cgroup_manager_from_json(cg, &c.cg, NULL);
        json_t *o = container_state_object(&c);
        if (o)
            json_array_append_new(arr, o);
        if (c.cg)
            cgroup_manager_free(c.cg);
        if (d.dirfd >= 0)
            close(d.dirfd);
        json_decref(st);
    }
    *ret = arr;
    return 0;
}

int container_config_json(const char *root, const char *id, json_t **ret, struct berth_error *err)
{
    _cleanup_(container_freep) struct container *c = NULL;
    int r = container_load(root, id, false, &c, err);
    if (r < 0)
        return r;
    json_t *cfg = json_object_get(json_object_get(c->state, "berth"), "config");
    if (!cfg)
        return berth_error_set(err, -EINVAL, "container %s: state has no config", id);
    *ret = json_incref(cfg);
    return 0;
}
