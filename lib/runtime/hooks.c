#include "runtime/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/process.h"

extern char **environ;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int run_one(const struct oci_hook *h, int fd, const char *name, const char *state_json, struct berth_error *err)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return berth_error_errno(err, -errno, "%s: pipe", name);
    size_t len = strlen(state_json);
    if (len > 65536)
        fcntl(pipefd[1], F_SETPIPE_SZ, (int) (len < (1u << 20) ? len + 1 : 1u << 20));
    pid_t pid = fork();
    if (pid < 0) {
        int r = -errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return berth_error_errno(err, r, "%s: fork", name);
    }
    if (pid == 0) {
        dup2(pipefd[0], STDIN_FILENO);
        /* The hook must not see the runtime's other descriptors. */
        proc_close_fds_from(3, &fd, fd >= 0 ? 1 : 0);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        char *const default_args[] = { (char *) h->path, NULL };
        char *const empty_env[] = { NULL };
        char *const *argv = h->args && h->args[0] ? h->args : default_args;
        char *const *envp = h->env ? h->env : empty_env;
        if (fd >= 0)
            syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
        else
            execve(h->path, argv, envp);
        fprintf(stderr, "%s %s: %s\n", name, h->path, strerror(errno));
        _exit(127);
    }
    close(pipefd[0]);
    /* A hook that does not read its stdin must not block us: write what fits. */
    fcntl(pipefd[1], F_SETFL, O_NONBLOCK);
    /* A hook may exit before reading (e.g. /bin/false): that is an EPIPE for us, never a SIGPIPE
     * that would kill the runtime half-way through start or delete. */
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &pipe_set, &old_mask);
    ssize_t w = write(pipefd[1], state_json, len);
    if (w < 0 && errno == EPIPE) {
        const struct timespec zero = { 0 };
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    close(pipefd[1]);

    int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
    int64_t deadline = h->timeout > 0 && pidfd >= 0 ? now_ms() + (int64_t) h->timeout * 1000 : -1;
    if (pidfd >= 0) {
        for (;;) {
            int timeout = deadline < 0 ? -1 : (int) (deadline - now_ms());
            if (deadline >= 0 && timeout <= 0)
                break;
            struct pollfd p = { .fd = pidfd, .events = POLLIN };
            int n = poll(&p, 1, timeout);
            if (n > 0 || (n < 0 && errno != EINTR))
                break;
        }
        close(pidfd);
    }
    int st;
    pid_t got = waitpid(pid, &st, deadline >= 0 ? WNOHANG : 0);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return berth_error_set(err, -ETIMEDOUT, "%s %s: timed out after %ds", name, h->path, h->timeout);
    }
    if (got < 0)
        return berth_error_errno(err, -errno, "%s %s: wait", name, h->path);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFEXITED(st))
        return berth_error_set(err, -EIO, "%s %s: exited with status %d", name, h->path, WEXITSTATUS(st));
    return berth_error_set(err, -EIO, "%s %s: killed by signal %d", name, h->path, WTERMSIG(st));
}

int hooks_run(const struct oci_hooks *hooks, enum oci_hook_kind kind, const char *state_json,
              struct berth_error *err)
{
    return hooks_run_fds(hooks, kind, NULL, state_json, err);
}

int hooks_open(const struct oci_hooks *hooks, enum oci_hook_kind kind, int **ret, struct berth_error *err)
{
    size_t n = hooks->n[kind];
    int *fds = calloc(n ? n : 1, sizeof(int));
    if (!fds)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        /* Not close-on-exec: a script hook is run by its interpreter as /dev/fd/N. */
        fds[i] = open(hooks->list[kind][i].path, O_PATH);
        if (fds[i] < 0) {
            int r = berth_error_errno(err, -errno, "hooks.%s[%zu] %s", oci_hook_name(kind), i,
                                      hooks->list[kind][i].path);
            while (i-- > 0)
                close(fds[i]);
            free(fds);
            return r;
        }
    }
    *ret = fds;
    return 0;
}

int hooks_run_fds(const struct oci_hooks *hooks, enum oci_hook_kind kind, const int *fds, const char *state_json,
                  struct berth_error *err)
{
    for (size_t i = 0; i < hooks->n[kind]; i++) {
        char name[64];
        snprintf(name, sizeof(name), "hooks.%s[%zu]", oci_hook_name(kind), i);
        int r = run_one(&hooks->list[kind][i], fds ? fds[i] : -1, name, state_json, err);
        if (r < 0)
            return r;
    }
    return 0;
}
