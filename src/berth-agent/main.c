/* berth-agent as PID 1 of the guest initramfs (see agent.h). Every step logs to the console with a
 * "berth-agent:" prefix: the host's tests and `berth vm logs` read those lines. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

void agent_log(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    dprintf(2, "berth-agent: %s\n", buf);
}

static void __attribute__((noreturn)) power_off(const char *why)
{
    agent_log("powering off (%s)", why);
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}

static void mount_or_log(const char *src, const char *target, const char *type, unsigned long flags)
{
    mkdir(target, 0755);
    if (mount(src, target, type, flags, NULL) < 0 && errno != EBUSY)
        agent_log("mount %s on %s: %s", type, target, strerror(errno));
}

static void move_mount_to(const char *from, const char *to)
{
    if (access(to, F_OK) < 0)
        mkdir(to, 0755);
    if (mount(from, to, NULL, MS_MOVE, NULL) < 0)
        agent_log("move %s to %s: %s", from, to, strerror(errno));
}

/* Makes /newroot the root: the classic switch_root without freeing the initramfs (it is small). */
static int switch_root(void)
{
    move_mount_to("/dev", "/newroot/dev");
    move_mount_to("/proc", "/newroot/proc");
    move_mount_to("/sys", "/newroot/sys");
    if (chdir("/newroot") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
        return -errno;
    return 0;
}

static int run_main_process(json_t *config)
{
    int pid;
    int r = agent_spawn(config, 0, 1, 2, &pid);
    if (r < 0) {
        agent_log("cannot start the VM's command: %s", strerror(-r));
        return 127;
    }
    agent_log("started the VM's command as pid %d", pid);
    for (;;) {
        int st;
        pid_t w = wait(&st);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return 127;
        if (w == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        /* Any other child is an orphan PID 1 inherited: reaped and forgotten. */
    }
}

int main(int argc, char **argv)
{
    if (getpid() != 1) {
        fprintf(stderr, "Usage: berth-agent is the /init of berth's guest initramfs and runs only as PID 1 in a VM.\n"
                        "Kernel parameters: berth.root=DEV berth.rootfstype=TYPE berth.config=DEV berth.init=PATH berth.ro\n");
        return argc > 1 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    mount_or_log("devtmpfs", "/dev", "devtmpfs", MS_NOSUID);
    mount_or_log("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    mount_or_log("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    int console = open("/dev/console", O_RDWR | O_CLOEXEC);
    if (console >= 0) {
        dup2(console, 0);
        dup2(console, 1);
        dup2(console, 2);
        if (console > 2)
            close(console);
    }
    agent_log("starting (version %s)", BERTH_VERSION);

    char cmdline[4096] = "";
    int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, cmdline, sizeof(cmdline) - 1);
        cmdline[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    struct agent_cmdline opts;
    agent_cmdline_parse(cmdline, &opts);

    if (agent_load_modules("/lib/berth/modules.order", "/lib/modules") < 0)
        agent_log("some kernel modules did not load; devices may be missing");

    json_t *config = NULL;
    if (opts.config[0]) {
        if (agent_wait_for_device(opts.config, 20) < 0)
            agent_log("config device %s did not appear", opts.config);
        else if (agent_read_config(opts.config, &config) < 0)
            agent_log("config device %s is unreadable; booting without it", opts.config);
    }
    if (agent_wait_for_device(opts.root, 20) < 0)
        power_off("root device did not appear");
    mkdir("/newroot", 0755);
    if (mount(opts.root, "/newroot", opts.rootfstype, opts.rootro ? MS_RDONLY : 0, NULL) < 0) {
        agent_log("mount %s (%s) on /newroot: %s", opts.root, opts.rootfstype, strerror(errno));
        power_off("root filesystem did not mount");
    }
    agent_log("root %s mounted", opts.root);
    if (config) {
        agent_apply_identity(config, "/newroot");
        agent_apply_network(config, "/newroot");
    }
    if (switch_root() < 0)
        power_off("switch_root failed");

    /* The exec server lives beside the workload for the VM's whole life. */
    pid_t server = fork();
    if (server == 0) {
        setsid();
        agent_exec_server();
    }

    json_t *args = config ? json_object_get(config, "args") : NULL;
    if (json_is_array(args) && json_array_size(args) > 0) {
        int status = run_main_process(config);
        agent_log("exit status %d", status);
        if (server > 0)
            kill(server, SIGKILL);
        power_off("the VM's command exited");
    }
    agent_log("handing over to %s", opts.init);
    execl(opts.init, opts.init, (char *) NULL);
    agent_log("cannot run %s: %s", opts.init, strerror(errno));
    power_off("no init to run");
}
