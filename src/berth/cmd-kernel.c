/* berth kernel: the guest kernels berth boots (stock distribution kernels) and their initramfs. */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "base/process.h"
#include "cli-getopt.h"
#include "commands.h"
#include "store/store.h"
#include "vm/backend.h"
#include "vmm/boot/initramfs.h"

static void kernel_usage(FILE *out)
{
    fprintf(out, "Usage: berth kernel prepare [--version VERSION] [--format text|json]\n\n"
                 "Finds the guest kernel (default: the newest /boot/vmlinuz-* with modules) and builds\n"
                 "berth's initramfs for it under $BERTH_ROOT/kernels/VERSION/ (berth-agent as /init and\n"
                 "the virtio modules it loads). Rebuilt when berth-agent is newer.\n");
}

int cmd_kernel(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "berth kernel: a subcommand is needed (prepare; see --help)\n");
        return 125;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        kernel_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "prepare") != 0) {
        fprintf(stderr, "berth kernel: unknown subcommand '%s' (expected prepare)\n", argv[1]);
        return 125;
    }
    const char *version = NULL, *format = "text";
    static const struct option opts[] = {
        { "version", required_argument, NULL, 'v' },
        { "format", required_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = cli_getopt("berth kernel prepare", argc - 1, argv + 1, "v:f:h", opts)) != -1) {
        switch (c) {
        case 'v':
            version = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'h':
            kernel_usage(stdout);
            return 0;
        default:
            return 125;
        }
    }
    if (optind < argc - 1) { /* getopt ran on argv + 1 */
        fprintf(stderr, "berth kernel prepare: unexpected argument '%s' (see --help; a version is --version)\n",
                argv[optind + 1]);
        return 125;
    }
    if (strcmp(format, "text") && strcmp(format, "json")) {
        fprintf(stderr, "berth kernel prepare: unknown --format '%s' (expected text or json)\n", format);
        return 125;
    }
    char agent[PATH_MAX];
    if (proc_find_sibling_binary("berth-agent", agent, sizeof(agent)) < 0) {
        fprintf(stderr, "berth kernel prepare: berth-agent not found beside berth (set BERTH_AGENT)\n");
        return 125;
    }
    struct berth_error err = { 0 };
    struct guest_kernel k = { 0 };
    if (guest_kernel_prepare(berth_root_dir(), version, agent, &k, &err) < 0) {
        fprintf(stderr, "berth kernel prepare: %s\n", berth_error_message(&err));
        return 1;
    }
    if (!strcmp(format, "json")) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "version", k.version, "kernel", k.kernel, "initramfs", k.initramfs);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else {
        printf("version:   %s\nkernel:    %s\ninitramfs: %s\n", k.version, k.kernel, k.initramfs);
    }
    guest_kernel_clear(&k);
    return 0;
}
