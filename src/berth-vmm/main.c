/* berth-vmm: one KVM microVM per process. Thin: parses the command line into a vmm_config and
 * hands over to vmm_run() (lib/vmm/runner.c). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/log.h"
#include "vmm/boot/boot.h"
#include "vmm/config.h"
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
            "  --disk FILE[,ro]     virtio-blk disk (repeatable)\n"
            "  --net TAP            virtio-net on a tap interface (repeatable)\n"
            "  --vsock CID:SOCKET   virtio-vsock with its host side on a Unix socket\n"
            "  --console WHERE      stdio (default), none, socket:PATH, or a file to write\n"
            "  --config FILE.json   read the VM configuration from a JSON file\n"
            "  --api-sock PATH      JSON control socket (configure, start, pause, resume, stop, status, metrics)\n"
            "  --term-grace MS      after SIGTERM, how long the guest gets to power off (default 10000)\n"
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
       OPT_CONFIG, OPT_API_SOCK, OPT_EXTRACT, OPT_TERM_GRACE, OPT_VERSION };

int main(int argc, char **argv)
{
    berth_log_set_program("berth-vmm");
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
        { "config", required_argument, NULL, OPT_CONFIG },
        { "api-sock", required_argument, NULL, OPT_API_SOCK },
        { "term-grace", required_argument, NULL, OPT_TERM_GRACE },
        { "extract-vmlinux", no_argument, NULL, OPT_EXTRACT },
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
    int status = 0;
    r = vmm_run(&cfg, &opts, &status, &err);
    vmm_config_clear(&cfg);
    if (r < 0)
        return fail(&err, VMM_STATUS_USAGE);
    return status;
}
