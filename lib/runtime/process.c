/* The last steps before the container's program runs: terminal, rlimits, cwd, executable lookup,
 * environment, identity and privileges, fd hygiene, execve. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "runtime/container-internal.h"
#include "runtime/cgroup.h"
#include "runtime/security.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static int send_fd(int sock, int fd, const char *name)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof(cbuf));
    struct iovec iov = { .iov_base = (void *) name, .iov_len = strlen(name) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return -errno;
    return 0;
}

int process_setup_terminal(const struct oci_process *p, int console_fd, struct berth_error *err)
{
    if (!p->terminal)
        return 0;
    _cleanup_close_ int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        return berth_error_errno(err, -errno, "process.terminal: opening /dev/ptmx in the container");
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        return berth_error_errno(err, -errno, "process.terminal: unlocking the pty");
    /* TIOCGPTPEER opens the peer without a path lookup in the container's /dev/pts. */
    _cleanup_close_ int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        return berth_error_errno(err, -errno, "process.terminal: opening the pty peer");
    if (p->console_height && p->console_width) {
        struct winsize ws = { .ws_row = (unsigned short) p->console_height, .ws_col = (unsigned short) p->console_width };
        ioctl(slave, TIOCSWINSZ, &ws);
    }
    unsigned n = 0;
    char name[64] = "/dev/pts/?";
    if (ioctl(master, TIOCGPTN, &n) == 0)
        snprintf(name, sizeof(name), "/dev/pts/%u", n);
    if (console_fd < 0)
        return berth_error_set(err, -EINVAL, "process.terminal: no --console-socket to send the pty to");
    int r = send_fd(console_fd, master, name);
    if (r < 0)
        return berth_error_errno(err, r, "--console-socket: sending the pty");
    if (setsid() < 0 && errno != EPERM)
        return berth_error_errno(err, -errno, "setsid");
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        return berth_error_errno(err, -errno, "process.terminal: TIOCSCTTY");
    for (int fd = 0; fd < 3; fd++)
        if (dup2(slave, fd) < 0)
            return berth_error_errno(err, -errno, "process.terminal: dup2");
    return 0;
}

int process_apply_rlimits(const struct oci_process *p, struct berth_error *err)
{
    for (size_t i = 0; i < p->n_rlimits; i++) {
        const struct oci_rlimit *l = &p->rlimits[i];
        struct rlimit rl = { .rlim_cur = l->soft, .rlim_max = l->hard };
        if (setrlimit(l->resource, &rl) == 0)
            continue;
        int e = errno;
        struct rlimit cur = { 0 };
        getrlimit(l->resource, &cur);
        return berth_error_set(err, -e,
                               "process.rlimits: %s soft %llu hard %llu refused: %s (the hard limit here is %llu "
                               "and raising it needs CAP_SYS_RESOURCE)",
                               l->name, (unsigned long long) l->soft, (unsigned long long) l->hard, strerror(e),
                               (unsigned long long) cur.rlim_max);
    }
    return 0;
}

int process_chdir(const struct oci_process *p, struct berth_error *err)
{
    /* Resolved inside the container's root without magic links: /proc/self/fd/N cannot point the
     * process at a descriptor of the runtime (CVE-2024-21626). */
    _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return berth_error_errno(err, -errno, "opening /");
    _cleanup_close_ int fd = fs_open_in_root(root, p->cwd, O_PATH | O_DIRECTORY, 0, 0);
    if (fd < 0)
        return berth_error_errno(err, fd, "process.cwd: %s", p->cwd);
    if (fchdir(fd) < 0)
        return berth_error_errno(err, -errno, "process.cwd: %s", p->cwd);
    return 0;
}

static const char *env_get(char *const *env, const char *name)
{
    long i = env ? strv_env_find(env, name) : -1;
    return i >= 0 ? strchr(env[i], '=') + 1 : NULL;
}

static bool is_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

int process_find_executable(const struct oci_process *p, char **ret, struct berth_error *err)
{
    const char *name = p->args[0];
    if (strchr(name, '/')) {
        struct stat st;
        if (stat(name, &st) < 0)
            return berth_error_errno(err, -errno, "exec: %s", name);
        if (!S_ISREG(st.st_mode) || access(name, X_OK) < 0)
            return berth_error_set(err, -EACCES, "exec: %s: not an executable file", name);
        *ret = strdup(name);
        return *ret ? 0 : -ENOMEM;
    }
    const char *path = env_get(p->env, "PATH");
    _cleanup_free_ char *copy = strdup(path ? path : DEFAULT_PATH);
    if (!copy)
        return -ENOMEM;
    char *save = NULL;
    for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        _cleanup_free_ char *full = fs_path_join(*dir ? dir : ".", name);
        if (!full)
            return -ENOMEM;
        if (is_executable(full)) {
            *ret = TAKE_PTR(full);
            return 0;
        }
    }
    return berth_error_set(err, -ENOENT, "exec: \"%s\": executable file not found in $PATH", name);
}

static char *home_of(uid_t uid)
{
    _cleanup_fclose_ FILE *f = fopen("/etc/passwd", "re");
    char line[1024];
    while (f && fgets(line, sizeof(line), f)) {
        char *fields[7] = { 0 };
        char *save = NULL, *s = line;
        int n = 0;
        for (char *t = strsep(&s, ":"); t && n < 7; t = strsep(&s, ":"))
            fields[n++] = t;
        (void) save;
        if (n >= 6 && (uid_t) strtoul(fields[2], NULL, 10) == uid && fields[5][0] == '/')
            return strdup(fields[5]);
    }
    return strdup("/");
}

int process_build_env(const struct oci_process *p, char ***ret, struct berth_error *err)
{
    _cleanup_strv_ char **env = calloc(1, sizeof(char *));
    if (!env)
        return -ENOMEM;
    for (size_t i = 0; p->env && p->env[i]; i++)
        if (strv_push(&env, p->env[i]) < 0)
            return -ENOMEM;
    if (strv_env_find(env, "HOME") < 0) {
        _cleanup_free_ char *home = home_of(p->user.uid);
        _cleanup_free_ char *kv = NULL;
        if (!home || asprintf(&kv, "HOME=%s", home) < 0)
            return -ENOMEM;
        if (strv_push(&env, kv) < 0)
            return -ENOMEM;
    }
    (void) err;
    *ret = TAKE_PTR(env);
    return 0;
}

static int switch_user(const struct oci_process *p, struct berth_error *err)
{
    const struct oci_user *u = &p->user;
    gid_t *gids = NULL;
    int r;
    if (u->n_additional_gids) {
        gids = calloc(u->n_additional_gids, sizeof(gid_t));
        if (!gids)
            return -ENOMEM;
        for (size_t i = 0; i < u->n_additional_gids; i++)
            gids[i] = u->additional_gids[i];
    }
    r = setgroups(u->n_additional_gids, gids);
    free(gids);
    /* A user namespace with setgroups "deny" refuses; the process then has no extra groups anyway. */
    if (r < 0 && !(errno == EPERM && u->n_additional_gids == 0))
        return berth_error_errno(err, -errno, "process.user.additionalGids: setgroups");
    if (setresgid(u->gid, u->gid, u->gid) < 0)
        return berth_error_errno(err, -errno, "process.user.gid: setgid %u (is it mapped?)", u->gid);
    r = caps_keep_for_setuid(err);
    if (r < 0)
        return r;
    if (setresuid(u->uid, u->uid, u->uid) < 0)
        return berth_error_errno(err, -errno, "process.user.uid: setuid %u (is it mapped?)", u->uid);
    return 0;
}

/* Loads the filter and, with SCMP_ACT_NOTIFY, hands the notify fd over at once: any later call of
 * ours that the filter notifies would otherwise wait for an agent that does not have it yet. */
static int load_seccomp(json_t *seccomp, int sync_fd, struct berth_error *err)
{
    int notify_fd = -1;
    int r = seccomp_apply(seccomp, &notify_fd, err);
    if (r < 0)
        return r;
    return process_pass_notify_fd(sync_fd, notify_fd, err);
}

int process_apply_security(const struct oci_process *p, json_t *seccomp, int sync_fd, struct berth_error *err)
{
    int r;
    /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we still have it. */
    if (!p->no_new_privileges && seccomp && (r = load_seccomp(seccomp, sync_fd, err)) < 0)
        return r;
    if ((r = switch_user(p, err)) < 0)
        return r;
    if ((r = caps_apply(p->capabilities, err)) < 0)
        return r;
    if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return berth_error_errno(err, -errno, "process.noNewPrivileges");
    if (p->no_new_privileges && seccomp && (r = load_seccomp(seccomp, sync_fd, err)) < 0)
        return r;
    return 0;
}

int process_exec(const char *path, const struct oci_process *p, char **env, int preserve_fds,
                 struct berth_error *err)
{
    /* Nothing of the runtime's crosses into the container but stdio and --preserve-fds. */
    for (int fd = 3; fd < 3 + preserve_fds; fd++) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0)
            fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
    if (close_range(3 + (unsigned) preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        return berth_error_errno(err, -errno, "close_range");
    sigset_t none;
    sigemptyset(&none);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, p->args, env);
    return berth_error_errno(err, -errno, "exec %s", path);
}
