/* berth-vmm: one KVM microVM per process. Thin: parses the command line into a vmm_config and
 * hands over to vmm_run() (lib/vmm/runner.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "base/process.h"
#include "runtime/cgroup.h"
#include "vmm/boot/boot.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "vmm/machine.h"
#include "vmm/runner.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: berth-vmm --kernel FILE [OPTIONS]\n"
            "       berth-vmm --api-sock PATH [OPTIONS]\n"
            "       berth-vmm --extract-vmlinux BZIMAGE OUTPUT\n"
            "\n"
            "Runs one KVM microVM. The guest's serial console is on stdout unless --console says otherwise;\n"
            "the exit status comes from the guest (see berth-vmm(1) in docs/berth-vmm.md).\n"
            "\n"
            "Options:\n"
            "  --kernel FILE        bzImage, ELF vmlinux (PVH), multiboot or ELF image to boot\n"
            "  --initrd FILE        initial ramdisk\n"
            "  --cmdline STR        kernel command line\n"
            "  --cpus N             vCPUs (1-%d, default 1)\n"
            "  --memory MIB         guest memory in MiB (%d-%llu, default 128)\n"
            "  --disk FILE[,ro][,format=raw|qcow2]\n"
            "                       virtio-blk disk (repeatable); without format= the format is\n"
            "                       probed: give it for any disk a guest has written to\n"
            "  --net TAP            virtio-net on a tap interface (repeatable)\n"
            "  --vsock CID:SOCKET   virtio-vsock with its host side on a Unix socket\n"
            "  --console WHERE      stdio (default), none, socket:PATH, or a file to write; on a terminal,\n"
            "                       stdin is raw and Ctrl-A x stops the VM (Ctrl-A Ctrl-A types Ctrl-A)\n"
            "  --console-log FILE   also append everything the guest prints to FILE\n"
            "  --balloon            add a virtio-balloon device (control socket action \"balloon\")\n"
            "  --config FILE.json   read the VM configuration from a JSON file\n"
            "  --api-sock PATH      JSON control socket (configure, start, pause, resume, stop, status, metrics,\n"
            "                       balloon)\n"
            "  --term-grace MS      after SIGTERM, how long the guest gets to power off (default 10000)\n"
            "  --on-reboot ACTION   stop (default) or restart when the guest reboots\n"
            "  --jail DIR           run the VM chrooted in DIR, in its own mount namespace and cgroup,\n"
            "                       as --jail-uid/--jail-gid (default 65534) under seccomp filters\n"
            "  --extract-vmlinux    write the uncompressed ELF vmlinux of a bzImage and exit\n"
            "  --help, --version\n",
            VMM_MAX_CPUS, VMM_MIN_MEMORY_MIB, (unsigned long long) VMM_MAX_MEMORY_MIB);
}

static void report_line(const char *line)
{
    fprintf(stderr, "berth-vmm: %s\n", line);
}

static int fail(struct berth_error *err, int code)
{
    fprintf(stderr, "berth-vmm: %s\n", berth_error_message(err));
    return code;
}

static int extract_vmlinux(const char *in, const char *out)
{
    struct berth_error err = { 0 };
    _cleanup_free_ char *img = NULL;
    size_t len = 0;
    if (fs_read_file(in, BOOT_MAX_IMAGE_SIZE, &img, &len, &err) < 0)
        return fail(&err, 1);
    _cleanup_free_ uint8_t *elf = NULL;
    size_t elf_len = 0;
    if (boot_extract_vmlinux((const uint8_t *) img, len, &elf, &elf_len, &err) < 0) {
        berth_error_prefix(&err, -EINVAL, "%s: ", in);
        return fail(&err, 1);
    }
    if (fs_write_atomic(out, elf, elf_len, 0644, &err) < 0)
        return fail(&err, 1);
    return 0;
}

enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_CPUS, OPT_MEMORY, OPT_DISK, OPT_NET, OPT_VSOCK, OPT_CONSOLE,
       OPT_CONFIG, OPT_API_SOCK, OPT_EXTRACT, OPT_TERM_GRACE, OPT_VERSION, OPT_JAIL, OPT_JAIL_UID, OPT_JAIL_GID, OPT_ON_REBOOT,
       OPT_CONSOLE_LOG, OPT_BALLOON };

static pid_t jailed_child;

/* The supervisor only forwards: the jailed child decides what a signal means. */
static void forward_signal(int sig)
{
    if (jailed_child > 0)
        kill(jailed_child, sig);
}

/* Runs the VM in a child that jails itself, inside a cgroup of its own with the VM's memory and
 * CPU limits; this (privileged) parent waits, then removes what the chrooted child cannot reach:
 * its cgroup and its sockets. */
static int run_jailed(struct vmm_config *cfg, struct vmm_run_options *opts, struct vmm_jail *jail)
{
    struct berth_error err = { 0 };
    struct stat st;
    if (stat(jail->root, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "berth-vmm: --jail %s: not a directory\n", jail->root);
        return VMM_STATUS_USAGE;
    }
    int go[2];
    if (pipe2(go, O_CLOEXEC) < 0) {
        perror("berth-vmm: pipe");
        return VMM_STATUS_MONITOR;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("berth-vmm: fork");
        return VMM_STATUS_MONITOR;
    }
    if (pid == 0) {
        close(go[1]);
        char c;
        /* Wait until the parent has put us in our cgroup: guest memory is charged there. */
        if (read(go[0], &c, 1) != 1)
            _exit(VMM_STATUS_MONITOR);
        close(go[0]);
        int status = 0;
        opts->jail = jail;
        if (vmm_run(cfg, opts, &status, &err) < 0) {
            fprintf(stderr, "berth-vmm: %s\n", berth_error_message(&err));
            _exit(VMM_STATUS_USAGE);
        }
        _exit(status);
    }
    close(go[0]);
    jailed_child = pid;
    /* The jailed child's seccomp filter may refuse to restore the terminal: do it here too. */
    struct termios tty;
    bool tty_saved = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &tty) == 0;
    struct sigaction sa = { .sa_handler = forward_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    char id[64], path[96];
    snprintf(id, sizeof(id), "vm-%d", (int) pid);
    snprintf(path, sizeof(path), "/berth-vmm/%s", id);
    struct cgroup_manager *cg = NULL;
    char res_json[256];
    snprintf(res_json, sizeof(res_json),
             "{\"memory\":{\"limit\":%llu},\"cpu\":{\"quota\":%u,\"period\":100000},\"pids\":{\"limit\":%u}}",
             (unsigned long long) ((cfg->memory_mib + 256) << 20), cfg->cpus * 100000u, cfg->cpus + 16);
    json_t *res = json_loads(res_json, 0, NULL);
    int r = cgroup_manager_new(path, id, false, NULL, &cg, &err);
    if (r >= 0)
        r = cgroup_enter(cg, pid, &err);
    if (r >= 0)
        r = cgroup_apply(cg, res, &err);
    json_decref(res);
    if (r < 0) {
        fprintf(stderr, "berth-vmm: jail cgroup: %s\n", berth_error_message(&err));
        kill(pid, SIGKILL);
    } else if (write(go[1], "g", 1) != 1) {
        kill(pid, SIGKILL);
    }
    close(go[1]);
    int status = 0;
    proc_wait(pid, &status);
    jailed_child = 0;
    if (tty_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &tty);
    if (cg) {
        berth_error_clear(&err);
        cgroup_destroy(cg, &err);
        cgroup_manager_free(cg);
    }
    /* The chrooted child could not unlink its sockets: they are outside its root. */
    if (opts->api_sock)
        unlink(opts->api_sock);
    if (cfg->console == VMM_CONSOLE_SOCKET && cfg->console_path)
        unlink(cfg->console_path);
    if (cfg->vsock_socket)
        unlink(cfg->vsock_socket);
    return r < 0 ? VMM_STATUS_MONITOR : status;
}

/* A crash must not leave the user's terminal raw: put it back, then die of the same signal. */
static void fatal_signal(int sig)
{
    vmm_console_restore_tty();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    berth_log_set_program("berth-vmm");
    static const int fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGQUIT, SIGHUP };
    for (size_t i = 0; i < ARRAY_SIZE(fatal); i++)
        signal(fatal[i], fatal_signal);
    static const struct option longopts[] = {
        { "kernel", required_argument, NULL, OPT_KERNEL },
        { "initrd", required_argument, NULL, OPT_INITRD },
        { "cmdline", required_argument, NULL, OPT_CMDLINE },
        { "cpus", required_argument, NULL, OPT_CPUS },
        { "memory", required_argument, NULL, OPT_MEMORY },
        { "disk", required_argument, NULL, OPT_DISK },
        { "net", required_argument, NULL, OPT_NET },
        { "vsock", required_argument, NULL, OPT_VSOCK },
        { "console", required_argument, NULL, OPT_CONSOLE },
        { "console-log", required_argument, NULL, OPT_CONSOLE_LOG },
        { "balloon", no_argument, NULL, OPT_BALLOON },
        { "config", required_argument, NULL, OPT_CONFIG },
        { "api-sock", required_argument, NULL, OPT_API_SOCK },
        { "term-grace", required_argument, NULL, OPT_TERM_GRACE },
        { "extract-vmlinux", no_argument, NULL, OPT_EXTRACT },
        { "jail", required_argument, NULL, OPT_JAIL },
        { "on-reboot", required_argument, NULL, OPT_ON_REBOOT },
        { "jail-uid", required_argument, NULL, OPT_JAIL_UID },
        { "jail-gid", required_argument, NULL, OPT_JAIL_GID },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        { 0 },
    };
    struct vmm_config cfg;
    vmm_config_init(&cfg);
    struct berth_error err = { 0 };
    struct vmm_run_options opts = { .term_grace_ms = 10000, .report = report_line };
    const char *config_file = NULL;
    bool extract = false;
    struct vmm_jail jail = { .uid = 65534, .gid = 65534 };
    uint64_t v;
    int c, r = 0;
    /* Command-line options override the file; collect them after reading it, so parse twice. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == OPT_CONFIG)
            config_file = optarg;
        else if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (c == OPT_VERSION) {
            printf("berth-vmm %s\n", BERTH_VERSION);
            return 0;
        } else if (c == '?') {
            fprintf(stderr, "berth-vmm: unknown or incomplete option '%s'; see berth-vmm --help\n", argv[optind - 1]);
            return VMM_STATUS_USAGE;
        }
    }
    if (config_file) {
        _cleanup_json_ json_t *j = NULL;
        if (json_load_path(config_file, 1 << 20, &j, &err) < 0 || vmm_config_from_json(j, config_file, &cfg, &err) < 0) {
            vmm_config_clear(&cfg);
            return fail(&err, VMM_STATUS_USAGE);
        }
    }
    optind = 1;
    while (r >= 0 && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_KERNEL:
            free(cfg.kernel);
            cfg.kernel = strdup(optarg);
            break;
        case OPT_INITRD:
            free(cfg.initrd);
            cfg.initrd = strdup(optarg);
            break;
        case OPT_CMDLINE:
            free(cfg.cmdline);
            cfg.cmdline = strdup(optarg);
            break;
        case OPT_CPUS:
            r = vmm_parse_uint(optarg, 1, VMM_MAX_CPUS, "--cpus", &v, &err);
            cfg.cpus = (unsigned) v;
            break;
        case OPT_MEMORY:
            r = vmm_parse_uint(optarg, VMM_MIN_MEMORY_MIB, VMM_MAX_MEMORY_MIB, "--memory", &v, &err);
            cfg.memory_mib = v;
            break;
        case OPT_DISK:
            r = vmm_config_add_disk(&cfg, optarg, &err);
            break;
        case OPT_NET:
            r = vmm_config_add_net(&cfg, optarg, &err);
            break;
        case OPT_VSOCK:
            r = vmm_config_set_vsock(&cfg, optarg, &err);
            break;
        case OPT_CONSOLE:
            r = vmm_config_set_console(&cfg, optarg, &err);
            break;
        case OPT_CONSOLE_LOG:
            free(cfg.console_log);
            cfg.console_log = strdup(optarg);
            break;
        case OPT_BALLOON:
            cfg.balloon = true;
            break;
        case OPT_API_SOCK:
            opts.api_sock = optarg;
            break;
        case OPT_TERM_GRACE:
            r = vmm_parse_uint(optarg, 0, 3600000, "--term-grace", &v, &err);
            opts.term_grace_ms = (unsigned) v;
            break;
        case OPT_EXTRACT:
            extract = true;
            break;
        case OPT_JAIL:
            jail.root = optarg;
            break;
        case OPT_ON_REBOOT:
            if (!strcmp(optarg, "restart"))
                opts.reboot_restarts = true;
            else if (strcmp(optarg, "stop") != 0)
                r = berth_error_set(&err, -EINVAL, "--on-reboot: '%s' is not stop or restart", optarg);
            break;
        case OPT_JAIL_UID:
            r = vmm_parse_uint(optarg, 0, UINT32_MAX - 1, "--jail-uid", &v, &err);
            jail.uid = (uid_t) v;
            break;
        case OPT_JAIL_GID:
            r = vmm_parse_uint(optarg, 0, UINT32_MAX - 1, "--jail-gid", &v, &err);
            jail.gid = (gid_t) v;
            break;
        default:
            break;
        }
    }
    if (r < 0) {
        vmm_config_clear(&cfg);
        return fail(&err, VMM_STATUS_USAGE);
    }
    if (extract) {
        vmm_config_clear(&cfg);
        if (argc - optind != 2) {
            fprintf(stderr, "berth-vmm: --extract-vmlinux needs BZIMAGE OUTPUT\n");
            return VMM_STATUS_USAGE;
        }
        return extract_vmlinux(argv[optind], argv[optind + 1]);
    }
    if (optind < argc) {
        fprintf(stderr, "berth-vmm: unexpected argument '%s'; see berth-vmm --help\n", argv[optind]);
        vmm_config_clear(&cfg);
        return VMM_STATUS_USAGE;
    }
    if (jail.root) {
        /* Bad input is reported before forking, by the same checks the child would make. */
        if (cfg.kernel && vmm_config_validate(&cfg, &err) < 0) {
            vmm_config_clear(&cfg);
            return fail(&err, VMM_STATUS_USAGE);
        }
        int st = run_jailed(&cfg, &opts, &jail);
        vmm_config_clear(&cfg);
        return st;
    }
    int status = 0;
    r = vmm_run(&cfg, &opts, &status, &err);
    vmm_config_clear(&cfg);
    if (r < 0)
        return fail(&err, VMM_STATUS_USAGE);
    return status;
}
