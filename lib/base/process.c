#include "base/process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"

int proc_wait(pid_t pid, int *ret_status)
{
    int st;
    for (;;) {
        if (waitpid(pid, &st, 0) >= 0)
            break;
        if (errno != EINTR)
            return -errno;
    }
    if (ret_status)
        *ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return 0;
}

int proc_run(char *const argv[], struct berth_error *err)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return berth_error_errno(err, -errno, "pipe");
    pid_t pid = fork();
    if (pid < 0) {
        int r = -errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return berth_error_errno(err, r, "fork for %s", argv[0]);
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
        }
        dup2(pipefd[1], STDERR_FILENO);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    char buf[512];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(pipefd[0], buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t) n;
        if (len == sizeof(buf) - 1) {
            char sink[4096];
            while (read(pipefd[0], sink, sizeof(sink)) > 0)
                ;
            break;
        }
    }
    close(pipefd[0]);
    buf[len] = '\0';
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    int status;
    int r = proc_wait(pid, &status);
    if (r < 0)
        return berth_error_errno(err, r, "waiting for %s", argv[0]);
    if (status != 0)
        return berth_error_set(err, -EIO, "%s exited with status %d%s%s", argv[0], status, buf[0] ? ": " : "", buf);
    return 0;
}

int proc_close_fds_from(int from, const int *keep, size_t n_keep)
{
    _cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -errno;
    int self = dirfd(d);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        int fd = atoi(de->d_name);
        if (fd < from || fd == self)
            continue;
        bool kept = false;
        for (size_t i = 0; i < n_keep; i++)
            kept = kept || keep[i] == fd;
        if (!kept)
            close(fd);
    }
    return 0;
}

int proc_find_sibling_binary(const char *name, char *buf, size_t cap)
{
    /* berth-agent -> BERTH_AGENT, berth-vmm -> BERTH_VMM */
    char env[64];
    snprintf(env, sizeof(env), "BERTH_%s", strncmp(name, "berth-", 6) ? name : name + 6);
    for (char *p = env; *p; p++)
        *p = *p == '-' ? '_' : (char) (*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    const char *e = getenv(env);
    if (e && *e) {
        snprintf(buf, cap, "%s", e);
        return access(buf, X_OK) == 0 ? 0 : -ENOENT;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n < 0)
        return -errno;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    /* Installed side by side, or the build tree's src/<name>/<name>. */
    snprintf(buf, cap, "%s/%s", self, name);
    if (access(buf, X_OK) == 0)
        return 0;
    snprintf(buf, cap, "%s/../%s/%s", self, name, name);
    if (access(buf, X_OK) == 0)
        return 0;
    return -ENOENT;
}
