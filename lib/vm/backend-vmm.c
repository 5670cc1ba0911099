/* The berth-vmm backend: our own monitor, one process per VM, detached from the caller. The
 * agent channel is vsock (host side: a Unix socket, Firecracker-style CONNECT protocol). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/process.h"
#include "vm/backend.h"

static const char *vmm_cmdline_extra(void)
{
    return "";
}

static int vmm_launch(const struct vm_launch *l, pid_t *ret_pid, struct berth_error *err)
{
    char vmm[PATH_MAX];
    if (proc_find_sibling_binary("berth-vmm", vmm, sizeof(vmm)) < 0)
        return berth_error_set(err, -ENOENT, "berth-vmm not found beside berth (set BERTH_VMM)");
    char cpus[16], mem[32], disk_root[PATH_MAX + 16], disk_cfg[PATH_MAX + 24], vsock[PATH_MAX + 16],
        console[PATH_MAX + 8];
    snprintf(cpus, sizeof(cpus), "%u", l->rec->cpus);
    snprintf(mem, sizeof(mem), "%llu", (unsigned long long) l->rec->memory_mib);
    /* Formats always given: the guest writes these files, berth-vmm must never probe them. */
    snprintf(disk_root, sizeof(disk_root), "%s,format=qcow2", l->disk);
    snprintf(disk_cfg, sizeof(disk_cfg), "%s,ro,format=raw", l->config_img);
    snprintf(vsock, sizeof(vsock), "%u:%s", l->rec->cid, l->agent_sock);
    /* The same console protocol as the QEMU backend: an interactive socket (berth vm console) and
     * a log appended across boots (berth vm logs). */
    snprintf(console, sizeof(console), "socket:%s", l->console_sock);
    char *argv[32] = { vmm, "--kernel", (char *) l->kernel, "--initrd", (char *) l->initramfs, "--cmdline",
                       (char *) l->cmdline, "--cpus", cpus, "--memory", mem, "--disk", disk_root, "--disk",
                       disk_cfg, "--vsock", vsock, "--console", console, "--console-log", (char *) l->console_log,
                       "--api-sock", (char *) l->control_sock };
    size_t k = 23;
    if (l->tap) {
        argv[k++] = "--net";
        argv[k++] = (char *) l->tap;
    }
    if (l->rec->balloon)
        argv[k++] = "--balloon"; /* driven by berth vm balloon over the API socket */
    argv[k] = NULL;
    _cleanup_free_ char *log_path = fs_path_join(l->run_dir, "vmm.log");
    if (!log_path)
        return berth_error_set(err, -ENOMEM, "out of memory");
    unlink(l->control_sock);
    unlink(l->console_sock);

    /* Double fork: the monitor is reparented away from the caller and outlives it. */
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return berth_error_errno(err, -errno, "pipe");
    pid_t mid = fork();
    if (mid < 0) {
        int r = -errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return berth_error_errno(err, r, "fork");
    }
    if (mid == 0) {
        setsid();
        pid_t pid = fork();
        if (pid != 0) {
            ssize_t w = write(pipefd[1], &pid, sizeof(pid));
            _exit(w == (ssize_t) sizeof(pid) && pid > 0 ? 0 : 1);
        }
        int devnull = open("/dev/null", O_RDWR);
        int logfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0640);
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(logfd >= 0 ? logfd : devnull, 2);
        execv(vmm, argv);
        dprintf(2, "cannot run %s: %s\n", vmm, strerror(errno));
        _exit(127);
    }
    close(pipefd[1]);
    pid_t pid = -1;
    ssize_t n = read(pipefd[0], &pid, sizeof(pid));
    close(pipefd[0]);
    waitpid(mid, NULL, 0);
    if (n != (ssize_t) sizeof(pid) || pid <= 0)
        return berth_error_set(err, -EIO, "VM %s: could not start berth-vmm", l->rec->name);

    /* Ready when the API socket exists; an early exit is a configuration error: report its log. */
    for (int i = 0; i < 100; i++) {
        if (fs_exists(l->control_sock))
            break;
        if (kill(pid, 0) < 0) {
            _cleanup_free_ char *log = NULL;
            fs_read_file(log_path, 4096, &log, NULL, NULL);
            if (log)
                log[strcspn(log, "\n")] = '\0';
            return berth_error_set(err, -EIO, "VM %s: berth-vmm exited at start: %s", l->rec->name,
                                   log && *log ? log : "(no message)");
        }
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    char pidline[32];
    int len = snprintf(pidline, sizeof(pidline), "%d\n", (int) pid);
    fs_write_atomic(l->pid_file, pidline, (size_t) len, 0644, NULL);
    *ret_pid = pid;
    return 0;
}

const struct vm_backend_ops vm_backend_berth_vmm = {
    .name = "berth-vmm",
    .agent_transport = VM_AGENT_VSOCK_UDS,
    .launch = vmm_launch,
    .cmdline_extra = vmm_cmdline_extra,
};
