#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci-cli.h"
#include "runtime/container.h"

/* Options shared by create and run; returns 0, or the exit code to return. */
int cli_parse_create(int argc, char **argv, const char *verb, struct container_create_opts *o, bool *detach);

int cli_parse_create(int argc, char **argv, const char *verb, struct container_create_opts *o, bool *detach)
{
    static const struct option opts[] = {
        { "bundle", required_argument, NULL, 'b' },
        { "pid-file", required_argument, NULL, 'p' },
        { "console-socket", required_argument, NULL, 'c' },
        { "no-pivot", no_argument, NULL, 'P' },
        { "no-new-keyring", no_argument, NULL, 'K' },
        { "preserve-fds", required_argument, NULL, 'F' },
        { "detach", no_argument, NULL, 'd' },
        { "keep", no_argument, NULL, 'k' },
        { "no-subreaper", no_argument, NULL, 'S' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    o->root = oci_globals.root;
    o->bundle = ".";
    o->systemd_cgroup = oci_globals.systemd_cgroup;
    int c;
    while ((c = getopt_long_only(argc, argv, "+b:dh", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->bundle = optarg;
            break;
        case 'p':
            o->pid_file = optarg;
            break;
        case 'c':
            o->console_socket = optarg;
            break;
        case 'P':
            o->no_pivot = true;
            break;
        case 'K':
            o->no_new_keyring = true;
            break;
        case 'F': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 0 || n > 65536)
                return cli_failf("--preserve-fds: '%s' is not a count of descriptors", optarg);
            o->preserve_fds = (int) n;
            break;
        }
        case 'd':
            if (!detach)
                return cli_failf("%s: unknown option --detach", verb);
            *detach = true;
            break;
        case 'k':
        case 'S':
            break;
        case 'h':
            printf("Usage: berth-oci %s [OPTIONS] CONTAINER-ID\n\n"
                   "  -b, --bundle DIR         bundle directory holding config.json (default: .)\n"
                   "  --pid-file FILE          write the container init's pid to FILE\n"
                   "  --console-socket PATH    send the pty master to this unix socket (terminal: true)\n"
                   "  --no-pivot               use MS_MOVE + chroot instead of pivot_root\n"
                   "  --no-new-keyring         keep the caller's session keyring\n"
                   "  --preserve-fds N         pass fds 3..3+N-1 to the container\n%s",
                   verb, detach ? "  -d, --detach             return once the container runs\n" : "");
            return -1;
        default:
            return cli_failf("%s: unknown option '%s'; see 'berth-oci %s --help'", verb, argv[optind - 1], verb);
        }
    }
    o->id = cli_one_id(argc, argv, verb);
    if (!o->id)
        return 1;
    return cli_check_systemd();
}

int cmd_create(int argc, char **argv)
{
    struct container_create_opts o = { 0 };
    int r = cli_parse_create(argc, argv, "create", &o, NULL);
    if (r)
        return r < 0 ? 0 : r;
    struct berth_error err = { 0 };
    pid_t pid;
    r = container_create(&o, &pid, &err);
    return r < 0 ? cli_fail(&err, r) : 0;
}
