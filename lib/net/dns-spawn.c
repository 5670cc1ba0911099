/* Starting and stopping the per-network resolver process. berth has no daemon: the first
 * workload attached to a network spawns `berth network dns NAME` (detached, its own session),
 * which holds a lock on its pid file for as long as it runs. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/process.h"
#include "net/network.h"
#include "store/store.h"

char *dns_pid_path(const char *network)
{
    char name[NET_NAME_MAX + 16];
    snprintf(name, sizeof(name), "net/dns-%s.pid", network);
    return fs_path_join(berth_runtime_dir(), name);
}

/* > 0: the pid of the running resolver; 0: none. */
static pid_t dns_running(const char *pidpath)
{
    _cleanup_close_ int fd = open(pidpath, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (flock(fd, LOCK_SH | LOCK_NB) == 0)
        return 0; /* nobody holds it */
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return -1; /* starting: locked, pid not written yet */
    buf[n] = 0;
    long pid = strtol(buf, NULL, 10);
    return pid > 0 ? (pid_t) pid : -1;
}

/* The berth binary: ourselves when we are berth, else $BERTH_BIN, else the berth next to us in
 * the build tree, else PATH. */
static int berth_binary(char *out, size_t len)
{
    const char *env = getenv("BERTH_BIN");
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return 0;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = 0;
        char copy[PATH_MAX];
        snprintf(copy, sizeof(copy), "%s", self);
        if (!strcmp(basename(copy), "berth")) {
            snprintf(out, len, "%s", self);
            return 0;
        }
    }
    snprintf(out, len, "berth");
    return 0;
}

int dns_ensure_running(const char *network, struct berth_error *err)
{
    _cleanup_free_ char *pidpath = dns_pid_path(network);
    if (!pidpath)
        return berth_error_set(err, -ENOMEM, "out of memory");
    if (dns_running(pidpath) != 0)
        return 0;
    _cleanup_free_ char *dir = fs_path_join(berth_runtime_dir(), "net");
    if (!dir)
        return berth_error_set(err, -ENOMEM, "out of memory");
    int r = fs_mkdir_p(dir, 0700);
    if (r < 0)
        return berth_error_errno(err, r, "%s", dir);
    char logname[NET_NAME_MAX + 16];
    snprintf(logname, sizeof(logname), "dns-%s.log", network);
    _cleanup_free_ char *logpath = fs_path_join(dir, logname);
    if (!logpath)
        return berth_error_set(err, -ENOMEM, "out of memory");
    char bin[PATH_MAX];
    berth_binary(bin, sizeof(bin));

    pid_t child = fork();
    if (child < 0)
        return berth_error_errno(err, -errno, "fork");
    if (child == 0) {
        /* Detach: own session, then a grandchild so the resolver is never our zombie. */
        setsid();
        if (fork() != 0)
            _exit(0);
        int devnull = open("/dev/null", O_RDWR);
        int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        if (log >= 0)
            dup2(log, 2);
        close_range(3, ~0U, 0);
        char *argv[] = { bin, "network", "dns", (char *) network, NULL };
        execvp(bin, argv);
        _exit(127);
    }
    int status = 0;
    proc_wait(child, &status);
    /* Wait until it serves, so the workload's first lookup does not race the resolver's start. */
    for (int i = 0; i < 300; i++) {
        if (dns_running(pidpath) > 0)
            return 0;
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return berth_error_set(err, -ETIMEDOUT, "the DNS resolver of network '%s' did not start (%s network dns %s); see %s",
                           network, bin, network, logpath);
}

int dns_stop(const char *network)
{
    _cleanup_free_ char *pidpath = dns_pid_path(network);
    if (!pidpath)
        return -ENOMEM;
    pid_t pid = dns_running(pidpath);
    if (pid <= 0)
        return 0;
    kill(pid, SIGTERM);
    for (int i = 0; i < 200 && dns_running(pidpath) > 0; i++) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    return 0;
}
