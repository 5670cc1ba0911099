/* The QEMU backend: qemu-system-x86_64 -M microvm with ACPI (so a stock kernel finds the
 * virtio-mmio devices), daemonized, with QMP, an interactive console socket that also logs to
 * console.log, and the agent channel on a virtio-serial port. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/process.h"
#include "base/strv.h"
#include "vm/backend.h"

/* Under TCG the guest TSC ticks at the host's rate and the kernel must be told it, or its clocks
 * and timers are off by orders of magnitude. */
static const char *qemu_cmdline_extra(void)
{
    static char extra[64];
    char why[256];
    if (vm_kvm_is_fast(why, sizeof(why)))
        return "";
    _cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
    double mhz = 0;
    char line[256];
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "cpu MHz", 7) && strchr(line, ':')) {
            mhz = atof(strchr(line, ':') + 1);
            break;
        }
    if (mhz <= 0)
        mhz = 2000;
    snprintf(extra, sizeof(extra), "tsc_early_khz=%ld", (long) (mhz * 1000));
    return extra;
}

static int push_fmt(char ***argv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int push_fmt(char ***argv, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -ENOMEM;
    int r = strv_push(argv, s);
    free(s);
    return r;
}

static int qemu_launch(const struct vm_launch *l, pid_t *ret_pid, struct berth_error *err)
{
    char why[256];
    bool kvm = vm_kvm_is_fast(why, sizeof(why));
    _cleanup_strv_ char **argv = NULL;
    int r = 0;
    const char *fixed[] = { "qemu-system-x86_64", "-M", "microvm,acpi=on,rtc=on", "-nodefaults", "-no-user-config",
                            "-display", "none", "-no-reboot", "-daemonize", NULL };
    for (size_t i = 0; r == 0 && fixed[i]; i++)
        r = strv_push(&argv, fixed[i]);
    if (r == 0)
        r = push_fmt(&argv, "-name") ?: push_fmt(&argv, "berth-%s,process=berth-vm-%s", l->rec->id, l->rec->name);
    if (r == 0)
        r = push_fmt(&argv, "-accel") ?: push_fmt(&argv, kvm ? "kvm" : "tcg,tb-size=64");
    if (r == 0)
        r = push_fmt(&argv, "-cpu") ?: push_fmt(&argv, kvm ? "host" : "max");
    if (r == 0)
        r = push_fmt(&argv, "-m") ?: push_fmt(&argv, "%llu", (unsigned long long) l->rec->memory_mib);
    if (r == 0)
        r = push_fmt(&argv, "-smp") ?: push_fmt(&argv, "%u", l->rec->cpus);
    if (r == 0)
        r = push_fmt(&argv, "-kernel") ?: push_fmt(&argv, "%s", l->kernel);
    if (r == 0)
        r = push_fmt(&argv, "-initrd") ?: push_fmt(&argv, "%s", l->initramfs);
    if (r == 0)
        r = push_fmt(&argv, "-append") ?: push_fmt(&argv, "%s", l->cmdline);
    /* The root disk first: the guest names it vda. */
    if (r == 0)
        r = push_fmt(&argv, "-drive") ?: push_fmt(&argv, "id=root,file=%s,format=qcow2,if=none,cache=writeback", l->disk);
    if (r == 0)
        r = push_fmt(&argv, "-device") ?: push_fmt(&argv, "virtio-blk-device,drive=root");
    if (r == 0)
        r = push_fmt(&argv, "-drive") ?: push_fmt(&argv, "id=cfg,file=%s,format=raw,if=none,readonly=on", l->config_img);
    if (r == 0)
        r = push_fmt(&argv, "-device") ?: push_fmt(&argv, "virtio-blk-device,drive=cfg");
    if (r == 0)
        r = push_fmt(&argv, "-device") ?: push_fmt(&argv, "virtio-rng-device");
    if (r == 0)
        r = push_fmt(&argv, "-chardev") ?: push_fmt(&argv, "socket,id=con,path=%s,server=on,wait=off,logfile=%s,logappend=on",
                                                     l->console_sock, l->console_log);
    if (r == 0)
        r = push_fmt(&argv, "-serial") ?: push_fmt(&argv, "chardev:con");
    if (r == 0)
        r = push_fmt(&argv, "-device") ?: push_fmt(&argv, "virtio-serial-device");
    if (r == 0)
        r = push_fmt(&argv, "-chardev") ?: push_fmt(&argv, "socket,id=agent,path=%s,server=on,wait=off", l->agent_sock);
    if (r == 0)
        r = push_fmt(&argv, "-device") ?: push_fmt(&argv, "virtserialport,chardev=agent,name=berth.agent");
    if (r == 0 && l->tap) {
        r = push_fmt(&argv, "-netdev") ?: push_fmt(&argv, "tap,id=net0,ifname=%s,script=no,downscript=no", l->tap);
        if (r == 0)
            r = push_fmt(&argv, "-device") ?: push_fmt(&argv, "virtio-net-device,netdev=net0,mac=%s", l->rec->mac);
    }
    /* After every other device: the slots before it keep their place (vda stays the root). Deflate
     * on OOM as berth-vmm's balloon offers it: a guest short of memory takes pages back. */
    if (r == 0 && l->rec->balloon)
        r = push_fmt(&argv, "-device") ?: push_fmt(&argv, "virtio-balloon-device,deflate-on-oom=on");
    if (r == 0)
        r = push_fmt(&argv, "-qmp") ?: push_fmt(&argv, "unix:%s,server=on,wait=off", l->control_sock);
    if (r == 0)
        r = push_fmt(&argv, "-pidfile") ?: push_fmt(&argv, "%s", l->pid_file);
    if (r < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");

    unlink(l->pid_file);
    r = proc_run(argv, err);
    if (r < 0)
        return berth_error_prefix(err, r, "starting VM %s with qemu: ", l->rec->name);
    _cleanup_free_ char *pid_text = NULL;
    r = fs_read_file(l->pid_file, 64, &pid_text, NULL, err);
    if (r < 0)
        return berth_error_prefix(err, r, "VM %s: qemu started but wrote no pid file: ", l->rec->name);
    pid_t pid = (pid_t) atoi(pid_text);
    if (pid <= 0)
        return berth_error_set(err, -EIO, "VM %s: bad qemu pid file %s", l->rec->name, l->pid_file);
    *ret_pid = pid;
    return 0;
}

const struct vm_backend_ops vm_backend_qemu = {
    .name = "qemu",
    .agent_transport = VM_AGENT_SERIAL_SOCKET,
    .launch = qemu_launch,
    .cmdline_extra = qemu_cmdline_extra,
};
