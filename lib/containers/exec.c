/* berth exec: a new process in a running container, either as our child (stdio inherited, or a pty
 * proxied by us) or, for -it, under a berth-monitor of its own that holds the pty, so that the
 * client can detach and the process go on (Docker's exec detach keys). */
#include "containers/run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/process.h"
#include "containers/monitor.h"
#include "runtime/container.h"

/* The runtime-spec process of the container's config with the exec's changes, and the runtime
 * root (berth-oci's) that holds the container. */
static int exec_process(struct ctr_record *rec, json_t *args, json_t *env, const char *cwd, const char *user,
                        bool tty, char **ret_oci, json_t **ret, struct berth_error *err)
{
    if (!strcmp(rec->state, "paused")) /* its processes are frozen: a new one would hang in setns */
        return berth_error_set(err, -EINVAL, "container %s is paused: unpause it first", rec->name);
    if (strcmp(rec->state, "running"))
        return berth_error_set(err, -EINVAL, "container %s is not running", rec->name);
    _cleanup_free_ char *oci = ctr_oci_root();
    if (!oci)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_json_ json_t *cfg = NULL;
    int r = container_config_json(oci, rec->id, &cfg, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *process = json_deep_copy(json_object_get(cfg, "process"));
    if (!process)
        return berth_error_set(err, -EINVAL, "container %s: its config has no process", rec->name);
    json_object_set(process, "args", args);
    json_object_set_new(process, "terminal", json_boolean(tty));
    json_object_del(process, "consoleSize");
    struct winsize ws;
    if (tty && (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) &&
        ws.ws_row && ws.ws_col)
        /* Set before the process runs, so that its first look at the size is right. */
        json_object_set_new(process, "consoleSize", json_pack("{s:i, s:i}", "height", (int) ws.ws_row,
                                                              "width", (int) ws.ws_col));
    if (cwd)
        json_object_set_new(process, "cwd", json_string(cwd));
    if (env) {
        json_t *penv = json_object_get(process, "env");
        size_t i;
        json_t *x;
        json_array_foreach(env, i, x) json_array_append(penv, x);
    }
    if (user) {
        /* Names as berth run takes them, from the running container's own files. */
        _cleanup_free_ char *rootfs = ctr_path(rec, "rootfs");
        if (!rootfs)
            return berth_error_set(err, -ENOMEM, "out of memory");
        if (!*user)
            return berth_error_set(err, -EINVAL, "--user '': expected USER[:GROUP] (names or ids)");
        r = ctr_resolve_user(rootfs, user, process, err);
        if (r < 0)
            return r;
    }
    *ret = TAKE_PTR(process);
    *ret_oci = TAKE_PTR(oci);
    return 0;
}

int ctr_exec(struct ctr_record *rec, json_t *args, json_t *env, const char *cwd, const char *user, bool tty,
             int *ret_status, struct berth_error *err)
{
    _cleanup_free_ char *oci = NULL;
    _cleanup_json_ json_t *process = NULL;
    int r = exec_process(rec, args, env, cwd, user, tty, &oci, &process, err);
    if (r < 0)
        return r;
    struct container_exec_opts o = { .root = oci, .id = rec->id, .process = process };
    return container_exec(&o, ret_status, err);
}

/* In the forked child: starts the process with its pty master coming to us, then becomes its
 * berth-monitor (fd 3 the master, fd 7 the client). Tells the parent "OK PID" or the error on sync. */
static _Noreturn void exec_monitor_child(const char *monitor, const char *oci, const char *id, json_t *process,
                                         int client, int sync)
{
    setsid(); /* the user's terminal going away must not reach the monitor */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3; fd++)
        dup2(devnull, fd);
    struct berth_error cerr = { 0 };
    int console[2] = { -1, -1 }, master = -1;
    pid_t pid = 0;
    int status = 0, q = 0;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) < 0)
        q = berth_error_errno(&cerr, -errno, "socketpair");
    struct container_exec_opts o = { .root = oci, .id = id, .process = process, .detach = true,
                                     .console_fd = &console[1], .ret_pid = &pid };
    if (q == 0)
        q = container_exec(&o, &status, &cerr);
    if (q == 0 && (master = console_recv_master(console[0])) < 0)
        q = berth_error_errno(&cerr, master, "receiving the exec's pty");
    int fds[5] = { master, -1, -1, -1, client };
    if (q == 0 && ctr_move_monitor_fds(fds, 5) < 0)
        q = berth_error_errno(&cerr, -errno, "passing fds to berth-monitor");
    if (q < 0) {
        const char *m = berth_error_message(&cerr);
        ssize_t w = write(sync, m, strlen(m));
        (void) w;
        if (pid > 0)
            kill(pid, SIGKILL);
        _exit(1);
    }
    char pid_text[16], ok[32];
    snprintf(pid_text, sizeof(pid_text), "%d", (int) pid);
    int n = snprintf(ok, sizeof(ok), "OK %d", (int) pid);
    ssize_t w = write(sync, ok, (size_t) n);
    (void) w;
    char *argv[] = { (char *) monitor, "--pid", pid_text, "--tty", "--client", NULL };
    execv(monitor, argv);
    _exit(127);
}

int ctr_exec_monitored(struct ctr_record *rec, json_t *args, json_t *env, const char *cwd, const char *user,
                       int *ret_attach, pid_t *ret_pid, pid_t *ret_monitor, struct berth_error *err)
{
    char monitor[PATH_MAX];
    if (proc_find_sibling_binary("berth-monitor", monitor, sizeof(monitor)) < 0)
        return berth_error_set(err, -ENOENT, "berth-monitor not found beside berth");
    _cleanup_free_ char *oci = NULL;
    _cleanup_json_ json_t *process = NULL;
    int r = exec_process(rec, args, env, cwd, user, true, &oci, &process, err);
    if (r < 0)
        return r;
    int sv[2], sync[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return berth_error_errno(err, -errno, "socketpair");
    if (pipe2(sync, O_CLOEXEC) < 0) {
        r = berth_error_errno(err, -errno, "pipe");
        close(sv[0]);
        close(sv[1]);
        return r;
    }
    pid_t mon = fork();
    if (mon == 0) {
        close(sync[0]);
        close(sv[0]);
        exec_monitor_child(monitor, oci, rec->id, process, sv[1], sync[1]);
    }
    if (mon < 0)
        r = berth_error_errno(err, -errno, "fork");   /* before the closes below change errno */
    close(sv[1]);
    close(sync[1]);
    if (mon < 0) {
        close(sv[0]);
        close(sync[0]);
        return r;
    }
    char msg[1024];
    ssize_t n;
    while ((n = read(sync[0], msg, sizeof(msg) - 1)) < 0 && errno == EINTR)
        ;
    close(sync[0]);
    msg[n > 0 ? n : 0] = '\0';
    int pid = 0;
    if (n < 4 || sscanf(msg, "OK %d", &pid) != 1 || pid <= 0) {
        close(sv[0]);
        waitpid(mon, NULL, 0);
        return berth_error_set(err, -EIO, "%s", n > 0 ? msg : "exec: the process could not be started");
    }
    *ret_attach = sv[0];
    *ret_pid = (pid_t) pid;
    *ret_monitor = mon;
    return 0;
}
