#include "vmm/jail.h"

#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "base/cleanup.h"

int vmm_jail_enter(const struct vmm_jail *j, struct berth_error *err)
{
    if (unshare(CLONE_NEWNS) < 0)
        return berth_error_errno(err, -errno, "jail: unshare(CLONE_NEWNS)");
    /* Nothing done from here may propagate back to the host's mounts. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return berth_error_errno(err, -errno, "jail: making / private");
    if (chdir(j->root) < 0)
        return berth_error_errno(err, -errno, "jail: %s", j->root);
    if (chroot(".") < 0)
        return berth_error_errno(err, -errno, "jail: chroot %s", j->root);
    if (chdir("/") < 0)
        return berth_error_errno(err, -errno, "jail: chdir /");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return berth_error_errno(err, -errno, "jail: no_new_privs");
    if (setgroups(0, NULL) < 0)
        return berth_error_errno(err, -errno, "jail: setgroups");
    if (setresgid(j->gid, j->gid, j->gid) < 0)
        return berth_error_errno(err, -errno, "jail: setresgid %u", (unsigned) j->gid);
    if (setresuid(j->uid, j->uid, j->uid) < 0)
        return berth_error_errno(err, -errno, "jail: setresuid %u", (unsigned) j->uid);
    /* Dropping root must be irreversible. */
    if (j->uid != 0 && setuid(0) == 0)
        return berth_error_set(err, -EPERM, "jail: could regain uid 0");
    return 0;
}

/* What every thread needs: memory, locks, time, signals, exit, plain I/O on open fds. */
static const int common_syscalls[] = {
    SCMP_SYS(read),          SCMP_SYS(write),        SCMP_SYS(readv),         SCMP_SYS(writev),
    SCMP_SYS(pread64),       SCMP_SYS(pwrite64),     SCMP_SYS(preadv),        SCMP_SYS(pwritev),
    SCMP_SYS(preadv2),       SCMP_SYS(pwritev2),     SCMP_SYS(lseek),         SCMP_SYS(fsync),
    SCMP_SYS(fdatasync),     SCMP_SYS(fallocate),    SCMP_SYS(ioctl),         SCMP_SYS(futex),
    SCMP_SYS(mmap),          SCMP_SYS(munmap),       SCMP_SYS(mremap),        SCMP_SYS(brk),
    SCMP_SYS(madvise),       SCMP_SYS(mprotect),     SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
    SCMP_SYS(nanosleep),     SCMP_SYS(gettid),       SCMP_SYS(getpid),        SCMP_SYS(sched_yield),
    SCMP_SYS(rt_sigreturn),  SCMP_SYS(rt_sigprocmask), SCMP_SYS(tgkill),      SCMP_SYS(exit),
    SCMP_SYS(exit_group),    SCMP_SYS(restart_syscall), SCMP_SYS(sendmsg),    SCMP_SYS(recvmsg),
    SCMP_SYS(sendto),        SCMP_SYS(recvfrom),     SCMP_SYS(getrandom),     SCMP_SYS(close),
    SCMP_SYS(fcntl),         SCMP_SYS(getsockopt),   SCMP_SYS(shutdown),
};

/* The event loop also accepts connections, waits, creates vCPU threads and device sockets. */
static const int loop_syscalls[] = {
    SCMP_SYS(epoll_wait),  SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl), SCMP_SYS(accept4),
    SCMP_SYS(timerfd_settime), SCMP_SYS(eventfd2), SCMP_SYS(clone), SCMP_SYS(clone3),
    SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(socket), SCMP_SYS(connect),
    SCMP_SYS(setsockopt), SCMP_SYS(prctl), SCMP_SYS(sched_getaffinity), SCMP_SYS(rt_sigaction),
    SCMP_SYS(unlink), SCMP_SYS(newfstatat), SCMP_SYS(fstat), SCMP_SYS(dup), SCMP_SYS(pipe2),
    /* vCPU threads start under this filter and load their own (filters only ever narrow). */
    SCMP_SYS(seccomp),
};

int vmm_seccomp_apply(enum vmm_thread_kind kind, struct berth_error *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx)
        return berth_error_set(err, -ENOMEM, "seccomp_init");
    int r = 0;
    for (size_t i = 0; i < ARRAY_SIZE(common_syscalls) && r >= 0; i++)
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, common_syscalls[i], 0);
    if (kind == VMM_THREAD_LOOP)
        for (size_t i = 0; i < ARRAY_SIZE(loop_syscalls) && r >= 0; i++)
            r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, loop_syscalls[i], 0);
    /* Filters apply to this thread only (no TSYNC): each thread kind gets its own. */
    if (r >= 0)
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 0);
    if (r >= 0)
        r = seccomp_load(ctx);
    seccomp_release(ctx);
    if (r < 0)
        return berth_error_errno(err, r, "seccomp filter for the %s thread", kind == VMM_THREAD_LOOP ? "event loop"
                                                                                                   : "vCPU");
    return 0;
}
