/* berth vm: microVMs from images, templates and disks (lib/vm). One function per subcommand. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "base/tty.h"
#include "cli-getopt.h"
#include "commands.h"
#include "net/attach.h"
#include "runtime/cgroup.h"
#include "store/store.h"
#include "vm/balloon.h"
#include "vm/lifecycle.h"
#include "vm/vm.h"
#include "vmm/disk/disk-tools.h"

#define VM_ERR(sub, ...)                                                                                           \
    do {                                                                                                           \
        fprintf(stderr, "berth vm %s: ", sub);                                                                     \
        fprintf(stderr, __VA_ARGS__);                                                                              \
        fputc('\n', stderr);                                                                                       \
    } while (0)

static int check_format(const char *sub, const char *format)
{
    if (strcmp(format, "text") && strcmp(format, "json")) {
        VM_ERR(sub, "unknown --format '%s' (expected text or json)", format);
        return -1;
    }
    return 0;
}

static int vm_getopt(const char *sub, int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "berth vm %s", sub);
    return cli_getopt(cmd, argc, argv, shortopts, longopts);
}

static void print_json(json_t *v)
{
    json_dumpf(v, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    putchar('\n');
}

/* Opens the database and finds the VM; prints the error itself. */
static int open_and_find(const char *sub, const char *what, struct store **ret_s, struct vm_record *ret)
{
    struct berth_error err = { 0 };
    if (vm_store_open(ret_s, &err) < 0 || vm_record_find(*ret_s, what, ret, &err) < 0 ||
        vm_refresh_state(*ret_s, ret, &err) < 0) {
        VM_ERR(sub, "%s", berth_error_message(&err));
        return err.code == -ENOENT ? 1 : 125;
    }
    return 0;
}

static const char create_usage[] =
    "Usage: berth vm create NAME (--image IMAGE | --disk FILE | --template NAME) [OPTIONS] [-- COMMAND [ARG...]]\n\n"
    "Creates a VM. Its disk is a thin qcow2 overlay: on the image's gold template (an ext4 file system\n"
    "made once per image and size), on a named template, or on an existing raw/qcow2 FILE, which stays\n"
    "untouched. With a COMMAND the VM runs it and powers off when it exits; without one it runs the\n"
    "image's entrypoint and command, or boots its /sbin/init.\n\n"
    "Options:\n"
    "  --image IMAGE        an image in the store (berth images)\n"
    "  --disk FILE          an existing disk image as the VM's base\n"
    "  --template NAME      a template (berth vm template ls)\n"
    "  --cpus N             vCPUs (default 1)\n"
    "  --memory MIB         memory in MiB (default 256)\n"
    "  --disk-size SIZE     root file system size for --image (default 1G)\n"
    "  --backend B          auto (default), berth-vmm or qemu\n"
    "  --kernel VERSION     guest kernel version (default: the newest installed)\n"
    "  --cmdline STR        extra kernel command-line parameters\n"
    "  --hostname NAME      the guest's hostname (default: the VM name)\n"
    "  --network NET        a berth network for a virtio-net interface, or none (default: berth.conf's\n"
    "                       default_network, else the network 'berth', created on first use)\n"
    "  -p, --publish [HOSTIP:]HOSTPORT:PORT[/tcp|udp]  publish a guest port (needs a network)\n"
    "  --ip ADDR            a static address on that network (inside its subnet, not its gateway),\n"
    "                       reserved for the VM from now until berth vm rm, across stops\n"
    "  --network-alias NAME another DNS name of the VM on that network, for the containers and VMs\n"
    "                       there (repeatable; container name rules; unique on the network), also\n"
    "                       reserved until berth vm rm\n"
    "  --balloon            a memory balloon device (virtio-balloon, driven by berth vm balloon)\n"
    "  --start              start it right away\n"
    "  --format text|json   output\n"
    "  --help               this text\n";

/* *aliases (a strv the caller frees) holds the --network-alias values o->aliases points to. */
static int parse_create_opts(const char *sub, int argc, char **argv, struct vm_create_opts *o, bool *start,
                             const char **format, json_t **args, char ***aliases, const char *usage)
{
    enum { O_IMAGE = 256, O_DISK, O_TEMPLATE, O_CPUS, O_MEMORY, O_DISK_SIZE, O_BACKEND, O_KERNEL, O_CMDLINE,
           O_HOSTNAME, O_START, O_FORMAT, O_COUNT, O_PREFIX, O_NETWORK, O_BALLOON, O_IP, O_NETWORK_ALIAS };
    static const struct option opts[] = {
        { "image", required_argument, NULL, O_IMAGE },       { "disk", required_argument, NULL, O_DISK },
        { "template", required_argument, NULL, O_TEMPLATE }, { "cpus", required_argument, NULL, O_CPUS },
        { "memory", required_argument, NULL, O_MEMORY },     { "disk-size", required_argument, NULL, O_DISK_SIZE },
        { "backend", required_argument, NULL, O_BACKEND },   { "kernel", required_argument, NULL, O_KERNEL },
        { "cmdline", required_argument, NULL, O_CMDLINE },   { "hostname", required_argument, NULL, O_HOSTNAME },
        { "start", no_argument, NULL, O_START },             { "format", required_argument, NULL, O_FORMAT },
        { "network", required_argument, NULL, O_NETWORK }, { "publish", required_argument, NULL, 'p' },
        { "balloon", no_argument, NULL, O_BALLOON },         { "ip", required_argument, NULL, O_IP },
        { "network-alias", required_argument, NULL, O_NETWORK_ALIAS },
        { "help", no_argument, NULL, 'h' },                  { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = vm_getopt(sub, argc, argv, "hp:", opts)) != -1) {
        char *end = NULL;
        switch (c) {
        case O_IMAGE:
            o->image = optarg;
            break;
        case O_DISK:
            o->disk = optarg;
            break;
        case O_TEMPLATE:
            o->template_name = optarg;
            break;
        case O_CPUS:
            o->cpus = (unsigned) strtoul(optarg, &end, 10);
            if (!*optarg || *end || o->cpus == 0) {
                VM_ERR(sub, "--cpus '%s': expected a number of vCPUs, at least 1", optarg);
                return 125;
            }
            break;
        case O_MEMORY:
            o->memory_mib = strtoull(optarg, &end, 10);
            if (!*optarg || *end || o->memory_mib == 0) {
                VM_ERR(sub, "--memory '%s': expected MiB, e.g. 512", optarg);
                return 125;
            }
            break;
        case O_DISK_SIZE:
            if (disk_parse_size(optarg, &o->disk_size) < 0) {
                VM_ERR(sub, "--disk-size '%s': expected a size such as 2G or 512M", optarg);
                return 125;
            }
            break;
        case O_BACKEND:
            o->backend = optarg;
            break;
        case O_KERNEL:
            o->kernel_version = optarg;
            break;
        case O_CMDLINE:
            o->cmdline_extra = optarg;
            break;
        case O_HOSTNAME:
            o->hostname = optarg;
            break;
        case O_START:
            *start = true;
            break;
        case O_NETWORK:
            o->network = optarg;
            break;
        case O_BALLOON:
            o->balloon = true;
            break;
        case O_IP:
            o->ip = optarg;
            break;
        case O_NETWORK_ALIAS:
            if (strv_push(aliases, optarg) < 0) {
                VM_ERR(sub, "out of memory");
                return 125;
            }
            o->aliases = (const char *const *) *aliases;
            o->n_aliases = strv_length(*aliases);
            break;
        case 'p': {
            struct net_port port;
            struct berth_error perr = { 0 };
            if (net_port_parse(optarg, &port, &perr) < 0) {
                VM_ERR(sub, "-p: %s", berth_error_message(&perr));
                return 125;
            }
            if (!o->ports)
                o->ports = json_array();
            json_array_append_new(o->ports, json_string(optarg));
            break;
        }
        case O_FORMAT:
            *format = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            return 125;
        }
    }
    if (check_format(sub, *format) < 0)
        return 125;
    if (o->backend && strcmp(o->backend, "auto") && strcmp(o->backend, "qemu") && strcmp(o->backend, "berth-vmm")) {
        VM_ERR(sub, "unknown --backend '%s' (expected auto, berth-vmm or qemu)", o->backend);
        return 125;
    }
    if (args) {
        if (optind >= argc) {
            VM_ERR(sub, "a VM name is needed (see --help)");
            return 125;
        }
        o->name = argv[optind++];
        if (optind < argc) {
            *args = json_array();
            for (int i = optind; i < argc; i++)
                json_array_append_new(*args, json_string(argv[i]));
            o->args = *args;
        }
    }
    return 0;
}

/* What the per-VM subcommands share: their options, and where inspect collects its output. */
struct vm_each {
    bool force;
    int timeout;
    const char *format;
    json_t *out;
};

/* The options simple_opts can take; each verb names the ones it accepts. */
/* VM_OPT_NAMES_OPTIONAL: the verb has a meaning without names (stats: every running VM). */
enum { VM_OPT_FORCE = 1, VM_OPT_TIME = 2, VM_OPT_FORMAT = 4, VM_OPT_NAMES_OPTIONAL = 8 };

static int act_start(struct store *s, struct vm_record *rec, struct vm_each *o, struct berth_error *err);

static int do_start(struct store *s, struct vm_record *rec)
{
    struct berth_error err = { 0 };
    if (act_start(s, rec, NULL, &err) < 0) {
        VM_ERR("start", "%s", berth_error_message(&err));
        return 1;
    }
    return 0;
}

static int vm_cmd_create(int argc, char **argv)
{
    struct vm_create_opts o = { 0 };
    bool start = false;
    const char *format = "text";
    _cleanup_json_ json_t *args = NULL;
    _cleanup_strv_ char **aliases = NULL;
    int r = parse_create_opts("create", argc, argv, &o, &start, &format, &args, &aliases, create_usage);
    _cleanup_json_ _owner_ json_t *ports = o.ports;
    if (r)
        return r < 0 ? 0 : r;
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    struct vm_record rec;
    if (vm_store_open(&s, &err) < 0 || vm_create(s, &o, &rec, &err) < 0) {
        VM_ERR("create", "%s", berth_error_message(&err));
        return err.code == -ENOENT ? 1 : 125;
    }
    r = start ? do_start(s, &rec) : 0;
    if (!strcmp(format, "json")) {
        _cleanup_json_ json_t *j = vm_record_to_json(&rec);
        print_json(j);
    } else {
        printf("%s\n", rec.id);
    }
    vm_record_clear(&rec);
    return r;
}

static int simple_opts(const char *sub, int argc, char **argv, const char *usage, unsigned accept, struct vm_each *o)
{
    static const struct option opts[] = {
        { "force", no_argument, NULL, 'f' },         { "time", required_argument, NULL, 't' },
        { "format", required_argument, NULL, 'F' },  { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = vm_getopt(sub, argc, argv, "ft:h", opts)) != -1) {
        switch (c) {
        case 'f':
            if (!(accept & VM_OPT_FORCE))
                goto bad;
            o->force = true;
            break;
        case 't': {
            char *end;
            if (!(accept & VM_OPT_TIME))
                goto bad;
            o->timeout = (int) strtol(optarg, &end, 10);
            if (!*optarg || *end || o->timeout < 0 || o->timeout > 3600) {
                VM_ERR(sub, "--time '%s': expected seconds (0-3600)", optarg);
                return 125;
            }
            break;
        }
        case 'F':
            if (!(accept & VM_OPT_FORMAT))
                goto bad;
            o->format = optarg;
            if (check_format(sub, o->format) < 0)
                return 125;
            break;
        case 'h':
            fputs(usage, stdout);
            return -1;
        default:
            return 125; /* getopt said what was wrong */
        bad:
            /* An option this verb does not take: say so rather than fail silently. */
            VM_ERR(sub, "option %s is not accepted here (see --help)",
                   c == 'f' ? "--force" : c == 't' ? "--time" : "--format");
            return 125;
        }
    }
    if (optind >= argc && !(accept & VM_OPT_NAMES_OPTIONAL)) {
        VM_ERR(sub, "a VM name is needed (see --help)");
        return 125;
    }
    return 0;
}

/* Runs act on every VM named from argv[optind] on; each failure is one line; the exit code is
 * the last failure's (1 for a failed action, as open_and_find says for a lookup). */
static int for_each_vm(const char *sub, int argc, char **argv,
                       int (*act)(struct store *s, struct vm_record *rec, struct vm_each *o, struct berth_error *err),
                       struct vm_each *o)
{
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        _cleanup_store_ struct store *s = NULL;
        struct vm_record rec;
        int r = open_and_find(sub, argv[i], &s, &rec);
        if (r) {
            rc = r;
            continue;
        }
        struct berth_error err = { 0 };
        r = act(s, &rec, o, &err);
        if (r < 0) {
            VM_ERR(sub, "%s", berth_error_message(&err));
            rc = 1;
        }
        vm_record_clear(&rec);
    }
    return rc;
}

static int act_start(struct store *s, struct vm_record *rec, struct vm_each *o, struct berth_error *err)
{
    char why[256] = "";
    int r = vm_start(s, rec, why, err);
    if (r == 0)
        fprintf(stderr, "started VM %s with %s\n", rec->name, why);
    return r;
}

static int act_stop(struct store *s, struct vm_record *rec, struct vm_each *o, struct berth_error *err)
{
    return vm_stop(s, rec, o->force, o->timeout, err);
}

static int act_restart(struct store *s, struct vm_record *rec, struct vm_each *o, struct berth_error *err)
{
    int r = !strcmp(rec->state, "running") ? vm_stop(s, rec, false, o->timeout, err) : 0;
    return r < 0 ? r : act_start(s, rec, o, err);
}

static int act_rm(struct store *s, struct vm_record *rec, struct vm_each *o, struct berth_error *err)
{
    return vm_remove(s, rec, o->force, err);
}

static int act_inspect(struct store *s, struct vm_record *rec, struct vm_each *o, struct berth_error *err)
{
    json_t *j = vm_record_to_json(rec);
    /* The balloon's live state beside its configuration ("balloon": true): null when the VM does
     * not run or has none. */
    json_t *b = NULL;
    if (rec->balloon && vm_balloon_get(rec, &b, NULL) < 0)
        b = NULL;
    json_object_set_new(j, "balloon_state", b ? b : json_null());
    json_array_append_new(o->out, j);
    return 0;
}

/* The verbs that only run one action on each VM named: a row each. */
static const struct {
    const char *name;
    const char *usage;
    unsigned accept;
    int (*act)(struct store *s, struct vm_record *rec, struct vm_each *o, struct berth_error *err);
} vm_each_verbs[] = {
    { "start", "Usage: berth vm start NAME...\n\nStarts VMs, printing which backend runs each and why.\n", 0,
      act_start },
    { "stop",
      "Usage: berth vm stop [--force] [--time SECONDS] NAME...\n\n"
      "Asks each guest to power off (through berth-agent), waits up to --time seconds (default 10),\n"
      "then stops the monitor. --force stops it at once.\n",
      VM_OPT_FORCE | VM_OPT_TIME, act_stop },
    { "restart", "Usage: berth vm restart [--time SECONDS] NAME...\n\nStops (if running) and starts VMs.\n",
      VM_OPT_TIME, act_restart },
    { "rm", "Usage: berth vm rm [--force] NAME...\n\nRemoves VMs and their files. A running VM needs --force.\n",
      VM_OPT_FORCE, act_rm },
};

/* berth vm start|stop|restart|rm: argv[0] is the verb, which picks its row. */
static int vm_cmd_each(int argc, char **argv)
{
    size_t i = 0;
    while (i + 1 < sizeof(vm_each_verbs) / sizeof(vm_each_verbs[0]) && strcmp(vm_each_verbs[i].name, argv[0]))
        i++;
    struct vm_each o = { .timeout = 10 };
    int r = simple_opts(argv[0], argc, argv, vm_each_verbs[i].usage, vm_each_verbs[i].accept, &o);
    if (r)
        return r < 0 ? 0 : r;
    return for_each_vm(argv[0], argc, argv, vm_each_verbs[i].act, &o);
}

static int vm_cmd_ls(int argc, char **argv)
{
    static const char usage[] = "Usage: berth vm ls [-q] [--format text|json]\n\n"
                                "Lists VMs (-q, --quiet: their short ids only, one per line, as berth ps -q).\n";
    const char *format = "text";
    bool quiet = false;
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'F' }, { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 } };
    int c;
    optind = 1;
    while ((c = vm_getopt("ls", argc, argv, "qh", opts)) != -1) {
        if (c == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (c == 'q') {
            quiet = true;
            continue;
        }
        if (c != 'F')
            return 125;
        format = optarg;
    }
    if (optind < argc) {
        VM_ERR("ls", "unexpected argument '%s' (see --help)", argv[optind]);
        return 125;
    }
    if (check_format("ls", format) < 0)
        return 125;
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    struct vm_record *list = NULL;
    size_t n = 0;
    if (vm_store_open(&s, &err) < 0 || vm_record_list(s, &list, &n, &err) < 0) {
        VM_ERR("ls", "%s", berth_error_message(&err));
        return 125;
    }
    json_t *arr = json_array();
    quiet = quiet && !strcmp(format, "text");
    if (!strcmp(format, "text") && !quiet)
        printf("%-12s  %-20s  %-8s  %-14s  %4s  %8s  %s\n", "ID", "NAME", "STATE", "BACKEND", "CPUS", "MEMORY", "SOURCE");
    for (size_t i = 0; i < n; i++) {
        vm_refresh_state(s, &list[i], NULL);
        if (!strcmp(format, "json")) {
            json_array_append_new(arr, vm_record_to_json(&list[i]));
            continue;
        }
        if (quiet) {
            printf("%.12s\n", list[i].id);
            continue;
        }
        char mem[32];
        snprintf(mem, sizeof(mem), "%lluM", (unsigned long long) list[i].memory_mib);
        printf("%-12.12s  %-20s  %-8s  %-14s  %4u  %8s  %s\n", list[i].id, list[i].name, list[i].state,
               list[i].running_backend[0] && !strcmp(list[i].state, "running") ? list[i].running_backend : list[i].backend,
               list[i].cpus, mem, list[i].image[0] ? list[i].image : list[i].template_name[0] ? list[i].template_name : "disk");
    }
    if (!strcmp(format, "json"))
        print_json(arr);
    json_decref(arr);
    vm_record_list_free(list, n);
    return 0;
}

static int vm_cmd_inspect(int argc, char **argv)
{
    static const char usage[] = "Usage: berth vm inspect [--format json] NAME...\n\n"
                                "Prints VMs' configuration and state as JSON (the only format; --format json is\n"
                                "accepted so scripts can say so, as with every other verb).\n";
    struct vm_each o = { .format = "json" };
    int r = simple_opts("inspect", argc, argv, usage, VM_OPT_FORMAT, &o);
    if (r)
        return r < 0 ? 0 : r;
    if (strcmp(o.format, "json")) {
        VM_ERR("inspect", "--format %s: inspect prints JSON only", o.format);
        return 125;
    }
    o.out = json_array();
    r = for_each_vm("inspect", argc, argv, act_inspect, &o);
    print_json(o.out);
    json_decref(o.out);
    return r;
}

static int vm_cmd_exec(int argc, char **argv)
{
    static const char usage[] =
        "Usage: berth vm exec [-i] [-e KEY=VALUE]... [-w DIR] NAME COMMAND [ARG...]\n\n"
        "Runs COMMAND in a running VM through its berth-agent; the exit status is COMMAND's.\n"
        "  -i, --interactive   pass standard input\n";
    bool interactive = false;
    _cleanup_json_ json_t *env = NULL;
    const char *cwd = NULL;
    static const struct option opts[] = {
        { "interactive", no_argument, NULL, 'i' }, { "env", required_argument, NULL, 'e' },
        { "workdir", required_argument, NULL, 'w' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    int c;
    optind = 1;
    while ((c = vm_getopt("exec", argc, argv, "+ie:w:h", opts)) != -1) {
        switch (c) {
        case 'i':
            interactive = true;
            break;
        case 'e':
            if (!strchr(optarg, '=')) {
                VM_ERR("exec", "-e '%s': expected KEY=VALUE", optarg);
                return 125;
            }
            if (!env)
                env = json_pack("[s]", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
            json_array_append_new(env, json_string(optarg));
            break;
        case 'w':
            cwd = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return 125;
        }
    }
    if (argc - optind < 2) {
        VM_ERR("exec", "a VM name and a command are needed (see --help)");
        return 125;
    }
    _cleanup_store_ struct store *s = NULL;
    struct vm_record rec;
    int r = open_and_find("exec", argv[optind], &s, &rec);
    if (r)
        return r;
    _cleanup_json_ json_t *req = json_pack("{s:[]}", "args");
    for (int i = optind + 1; i < argc; i++)
        json_array_append_new(json_object_get(req, "args"), json_string(argv[i]));
    if (env)
        json_object_set(req, "env", env);
    if (cwd)
        json_object_set_new(req, "cwd", json_string(cwd));
    struct berth_error err = { 0 };
    int status = 0;
    r = vm_exec(&rec, req, interactive ? 0 : -1, 1, 2, &status, &err);
    vm_record_clear(&rec);
    if (r < 0) {
        VM_ERR("exec", "%s", berth_error_message(&err));
        return 125;
    }
    return status;
}

static int vm_cmd_logs(int argc, char **argv)
{
    static const char usage[] = "Usage: berth vm logs [-f] [--tail N] NAME\n\nPrints the VM's console history; -f follows it while the VM runs.\n";
    bool follow = false;
    long tail = -1;
    static const struct option opts[] = {
        { "follow", no_argument, NULL, 'f' }, { "tail", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    int c;
    optind = 1;
    while ((c = vm_getopt("logs", argc, argv, "fn:h", opts)) != -1) {
        char *end;
        switch (c) {
        case 'f':
            follow = true;
            break;
        case 'n':
            tail = strtol(optarg, &end, 10);
            if (!*optarg || *end || tail < 0) {
                VM_ERR("logs", "--tail '%s': expected a number of lines", optarg);
                return 125;
            }
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            return 125;
        }
    }
    if (optind >= argc) {
        VM_ERR("logs", "a VM name is needed (see --help)");
        return 125;
    }
    if (argc - optind > 1) {
        VM_ERR("logs", "one VM at a time ('%s' and '%s' given; see --help)", argv[optind], argv[optind + 1]);
        return 125;
    }
    _cleanup_store_ struct store *s = NULL;
    struct vm_record rec;
    int r = open_and_find("logs", argv[optind], &s, &rec);
    if (r)
        return r;
    _cleanup_free_ char *dir = vm_dir(rec.id);
    _cleanup_free_ char *log = dir ? fs_path_join(dir, "console.log") : NULL;
    _cleanup_close_ int fd = log ? open(log, O_RDONLY | O_CLOEXEC) : -1;
    if (fd >= 0 && tail >= 0) {
        /* Start of the last N lines: scan back from the end, a final newline closing the last line. */
        off_t size = lseek(fd, 0, SEEK_END), pos = size;
        long seen = 0;
        char ch;
        while (tail > 0 && pos > 0 && pread(fd, &ch, 1, pos - 1) == 1) {
            if (ch == '\n' && pos != size && ++seen == tail)
                break;
            pos--;
        }
        lseek(fd, pos, SEEK_SET);
    }
    for (;;) {
        char buf[65536];
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : 0;
        if (n > 0) {
            fwrite(buf, 1, (size_t) n, stdout);
            continue;
        }
        fflush(stdout);
        if (!follow)
            break;
        vm_refresh_state(s, &rec, NULL);
        if (strcmp(rec.state, "running") != 0)
            break;
        if (fd < 0 && log)
            fd = open(log, O_RDONLY | O_CLOEXEC);
        struct timespec ts = { 0, 200 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    vm_record_clear(&rec);
    return 0;
}

static int vm_cmd_console(int argc, char **argv)
{
    static const char usage[] = "Usage: berth vm console NAME\n\nAttaches to the serial console of a running VM. Detach with Ctrl-].\n";
    struct vm_each o = { 0 };
    int r = simple_opts("console", argc, argv, usage, 0, &o);
    if (r)
        return r < 0 ? 0 : r;
    if (argc - optind > 1) {
        VM_ERR("console", "one VM at a time ('%s' and '%s' given; see --help)", argv[optind], argv[optind + 1]);
        return 125;
    }
    _cleanup_store_ struct store *s = NULL;
    struct vm_record rec;
    r = open_and_find("console", argv[optind], &s, &rec);
    if (r)
        return r;
    bool running = !strcmp(rec.state, "running");
    _cleanup_free_ char *run = vm_run_dir(rec.id);
    vm_record_clear(&rec);
    if (!running) {
        VM_ERR("console", "VM %s is not running (its console history: berth vm logs %s)", argv[optind], argv[optind]);
        return 1;
    }
    _cleanup_free_ char *path = run ? fs_path_join(run, "console") : NULL;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (!path || strlen(path) >= sizeof(addr.sun_path))
        return 125;
    strcpy(addr.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *) &addr, sizeof(addr)) < 0) {
        VM_ERR("console", "cannot attach to %s: %s", path, strerror(errno));
        return 1;
    }
    struct termios saved;
    bool tty = tty_enter_raw(0, TCSANOW, &saved);
    if (tty) {
        fprintf(stderr, "attached to %s (detach: Ctrl-])\r\n", argv[optind]);
    }
    bool in_open = true;
    for (;;) {
        struct pollfd p[2] = { { fd, POLLIN, 0 }, { 0, in_open ? POLLIN : 0, 0 } };
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        char buf[4096];
        if (p[0].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n <= 0)
                break;
            if (write(1, buf, (size_t) n) < 0)
                break;
        }
        if (p[1].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(0, buf, sizeof(buf));
            if (n <= 0) {
                in_open = false;
                if (!tty)
                    break;
                continue;
            }
            if (tty && memchr(buf, 0x1d, (size_t) n))
                break;
            if (write(fd, buf, (size_t) n) < 0)
                break;
        }
    }
    if (tty) {
        tcsetattr(0, TCSANOW, &saved);
        fprintf(stderr, "\ndetached\n");
    }
    return 0;
}

static int vm_cmd_stats(int argc, char **argv)
{
    static const char usage[] = "Usage: berth vm stats [--format text|json] [NAME...]\n\n"
                                "CPU time, memory and disk use of VMs (without names: every running VM, as berth stats).\n";
    struct vm_each o = { .format = "text" };
    int r = simple_opts("stats", argc, argv, usage, VM_OPT_FORMAT | VM_OPT_NAMES_OPTIONAL, &o);
    if (r)
        return r < 0 ? 0 : r;
    const char *format = o.format;
    _cleanup_strv_ char **running = NULL;
    if (optind >= argc) {
        struct berth_error err = { 0 };
        _cleanup_store_ struct store *s = NULL;
        struct vm_record *list = NULL;
        size_t n = 0;
        if (vm_store_open(&s, &err) < 0 || vm_record_list(s, &list, &n, &err) < 0) {
            VM_ERR("stats", "%s", berth_error_message(&err));
            return 125;
        }
        for (size_t i = 0; i < n; i++)
            if (vm_refresh_state(s, &list[i], NULL) == 0 && !strcmp(list[i].state, "running") &&
                strv_push(&running, list[i].id) < 0)
                r = -ENOMEM;
        vm_record_list_free(list, n);
        if (r < 0)
            return 125;
        argv = running;
        argc = (int) strv_length(running);
        optind = 0;
    }
    json_t *arr = json_array();
    int rc = 0;
    if (!strcmp(format, "text"))
        printf("%-20s  %-8s  %12s  %12s  %12s  %12s\n", "NAME", "STATE", "CPU(s)", "MEM USAGE", "MEM LIMIT", "DISK");
    for (int i = optind; i < argc; i++) {
        _cleanup_store_ struct store *s = NULL;
        struct vm_record rec;
        r = open_and_find("stats", argv[i], &s, &rec);
        if (r) {
            rc = r;
            continue;
        }
        struct cgroup_stats st = { 0 };
        _cleanup_free_ char *run = vm_run_dir(rec.id);
        _cleanup_free_ char *cg = run ? fs_path_join(run, "cgroup.json") : NULL;
        _cleanup_json_ json_t *state = NULL;
        struct cgroup_manager *m = NULL;
        if (!strcmp(rec.state, "running") && cg && json_load_path(cg, 1 << 20, &state, NULL) == 0 &&
            cgroup_manager_from_json(state, &m, NULL) == 0) {
            cgroup_stats(m, &st, NULL);
            cgroup_manager_free(m);
        }
        _cleanup_free_ char *dir = vm_dir(rec.id);
        _cleanup_free_ char *disk = dir ? fs_path_join(dir, "disk.qcow2") : NULL;
        struct stat dst = { 0 };
        if (disk)
            stat(disk, &dst);
        uint64_t disk_bytes = (uint64_t) dst.st_blocks * 512;
        if (!strcmp(format, "json")) {
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "id", rec.id, "name", rec.name,
                                                 "state", rec.state, "cpu_usage_ns", (json_int_t) st.cpu_usage_ns,
                                                 "memory_usage", (json_int_t) st.memory_usage, "memory_limit",
                                                 (json_int_t) (st.memory_limit == UINT64_MAX ? 0 : st.memory_limit),
                                                 "disk_usage", (json_int_t) disk_bytes));
        } else {
            printf("%-20s  %-8s  %12.2f  %11lluM  %11lluM  %11lluM\n", rec.name, rec.state, st.cpu_usage_ns / 1e9,
                   (unsigned long long) (st.memory_usage >> 20),
                   (unsigned long long) (st.memory_limit == UINT64_MAX ? 0 : st.memory_limit >> 20),
                   (unsigned long long) (disk_bytes >> 20));
        }
        vm_record_clear(&rec);
    }
    if (!strcmp(format, "json"))
        print_json(arr);
    json_decref(arr);
    return rc;
}

static const char balloon_usage[] =
    "Usage: berth vm balloon [--format text|json] NAME [SIZE] [--wait [--timeout SECONDS]]\n\n"
    "Sets how much of a running VM's memory its guest gives back to the host through the memory\n"
    "balloon: SIZE such as 16M or 1G (whole MiB, at most the VM's memory), 0 to deflate it all.\n"
    "The guest's driver inflates or deflates in the background: \"actual\" follows the target. Without\n"
    "SIZE, prints the balloon's target and actual size. The VM must have been created with a balloon\n"
    "(berth vm create --balloon); both backends, berth-vmm and qemu, drive it.\n\n"
    "Options:\n"
    "  --format text|json   json: the balloon's state (target_mib, actual_mib, target_pages, actual_pages,\n"
    "                       and memory_mib; on berth-vmm also inflated_pages and the guest's stats)\n"
    "  --wait               return once the guest's actual size has reached the target (progress is\n"
    "                       shown on a terminal); exit status 1 with one line naming the target and\n"
    "                       the actual size if the guest stops following it\n"
    "  --timeout SECONDS    with --wait: how long the actual size may stay unchanged short of the\n"
    "                       target before the guest counts as not following (default 30)\n"
    "  --help               this text\n";

/* SIZE of berth vm balloon: whole MiB. */
static int parse_balloon_size(const char *text, uint64_t *ret_mib)
{
    uint64_t bytes;
    if (text[0] == '-' || disk_parse_size(text, &bytes) < 0) {
        VM_ERR("balloon", "SIZE '%s': expected a size such as 16M or 1G (0 deflates the balloon)", text);
        return -1;
    }
    if (bytes % (1 << 20)) {
        VM_ERR("balloon", "SIZE '%s': not a whole number of MiB (e.g. 16M; a bare number is bytes)", text);
        return -1;
    }
    *ret_mib = bytes >> 20;
    return 0;
}

/* --timeout of berth vm balloon: whole seconds, 1 to a day. */
static int parse_balloon_timeout(const char *text, unsigned *ret_s)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = text[0] >= '0' && text[0] <= '9' ? strtoul(text, &end, 10) : 0;
    if (!end || *end || errno || v < 1 || v > 86400) {
        VM_ERR("balloon", "--timeout '%s': expected whole seconds from 1 to 86400", text);
        return -1;
    }
    *ret_s = (unsigned) v;
    return 0;
}

/* --wait on a terminal: the actual size as it moves, on one line rewritten in place. */
static void balloon_progress(const json_t *b, void *userdata)
{
    const char *name = userdata;
    printf("\r\033[KVM %s: balloon actual %lld MiB, target %lld MiB...", name,
           (long long) json_integer_value(json_object_get(b, "actual_mib")),
           (long long) json_integer_value(json_object_get(b, "target_mib")));
    fflush(stdout);
}

/* argv[*i] is --NAME VALUE or --NAME=VALUE: 1 with *ret (and *i past a separate value), 0 when it
 * is another argument, -1 (said) when the value is missing. what: the value, for that message. */
static int balloon_opt(int argc, char **argv, int *i, const char *name, const char *what, const char **ret)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) || (a[n] != '\0' && a[n] != '='))
        return 0;
    if (a[n] == '=') {
        *ret = a + n + 1;
    } else if (*i + 1 < argc) {
        *ret = argv[++*i];
    } else {
        VM_ERR("balloon", "%s needs a value (%s)", name, what);
        return -1;
    }
    return 1;
}

static int vm_cmd_balloon(int argc, char **argv)
{
    const char *format = "text", *pos[2] = { NULL, NULL };
    const char *timeout_arg = NULL;
    bool wait = false;
    int n_pos = 0, r;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(balloon_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--wait")) {
            wait = true;
        } else if ((r = balloon_opt(argc, argv, &i, "--timeout", "seconds", &timeout_arg)) != 0) {
            if (r < 0)
                return 125;
        } else if ((r = balloon_opt(argc, argv, &i, "--format", "text or json", &format)) != 0) {
            if (r < 0 || check_format("balloon", format) < 0)
                return 125;
        } else if (!strncmp(a, "--", 2)) {
            VM_ERR("balloon", "unknown option '%s' (see --help)", a);
            return 125;
        } else if (n_pos == 2) {
            VM_ERR("balloon", "unexpected argument '%s': one VM and one SIZE (see --help)", a);
            return 125;
        } else {
            pos[n_pos++] = a; /* "-16M" too: a SIZE, refused below with its reason */
        }
    }
    if (!pos[0]) {
        VM_ERR("balloon", "a VM name is needed (see --help)");
        return 125;
    }
    uint64_t target = 0;
    if (pos[1] && parse_balloon_size(pos[1], &target) < 0)
        return 125;
    unsigned timeout_s = 30;
    if (timeout_arg && !wait) {
        VM_ERR("balloon", "--timeout goes with --wait (see --help)");
        return 125;
    }
    if (timeout_arg && parse_balloon_timeout(timeout_arg, &timeout_s) < 0)
        return 125;
    _cleanup_store_ struct store *s = NULL;
    struct vm_record rec;
    r = open_and_find("balloon", pos[0], &s, &rec);
    if (r)
        return r;
    struct berth_error err = { 0 };
    _cleanup_json_ json_t *b = NULL;
    r = pos[1] ? vm_balloon_set(&rec, target, &b, &err) : vm_balloon_get(&rec, &b, &err);
    if (r == 0 && wait) {
        /* Without SIZE: the target set before. */
        bool show = !strcmp(format, "text") && isatty(STDOUT_FILENO);
        json_decref(TAKE_PTR(b));
        r = vm_balloon_wait(&rec, timeout_s * 1000, show ? balloon_progress : NULL, rec.name, &b, &err);
        if (show) {
            fputs("\r\033[K", stdout);
            fflush(stdout);
        }
    }
    if (r < 0) {
        VM_ERR("balloon", "%s", berth_error_message(&err));
        vm_record_clear(&rec);
        return 1;
    }
    if (!strcmp(format, "json")) {
        print_json(b);
    } else {
        printf("VM %s: balloon target %lld MiB, actual %lld MiB (of %llu MiB)\n", rec.name,
               (long long) json_integer_value(json_object_get(b, "target_mib")),
               (long long) json_integer_value(json_object_get(b, "actual_mib")),
               (unsigned long long) rec.memory_mib);
    }
    vm_record_clear(&rec);
    return 0;
}

static const char clone_usage[] =
    "Usage: berth vm clone TEMPLATE --count N [--name-prefix P] [--cpus N] [--memory MIB] [--backend B] [--balloon]\n"
    "                      [--network NET [--ip ADDR] [--network-alias NAME]...] [--start]\n\n"
    "Creates N VMs from a template, named P-1, P-2, ... (the first free numbers; P defaults to the\n"
    "template's name). Each is a thin overlay with its own identity: hostname, MAC address, vsock CID,\n"
    "machine-id, and a fresh random seed at every boot.\n\n"
    "  --network NET          the berth network of every clone, or none (default: as berth vm create)\n"
    "  --ip ADDR              a static address on it, reserved until berth vm rm (--count 1 only)\n"
    "  --network-alias NAME   another DNS name on it (repeatable; --count 1 only)\n"
    "  --start                start each clone once they are all made (one failing does not stop the others)\n"
    "  --format json          {template, created, seconds, names[, started]} instead of the summary line\n";

static int vm_cmd_clone(int argc, char **argv)
{
    unsigned count = 0;
    const char *prefix = NULL;
    /* --count and --name-prefix first, the rest as for create */
    _cleanup_strv_ char **rest = NULL;
    strv_push(&rest, argv[0]);
    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "--count") || !strcmp(argv[i], "-n")) && i + 1 < argc) {
            char *end;
            count = (unsigned) strtoul(argv[++i], &end, 10);
            if (!*argv[i] || *end || count == 0) {
                VM_ERR("clone", "--count '%s': expected a number of clones, at least 1", argv[i]);
                return 125;
            }
        } else if (!strcmp(argv[i], "--name-prefix") && i + 1 < argc) {
            prefix = argv[++i];
        } else {
            strv_push(&rest, argv[i]);
        }
    }
    struct vm_create_opts o = { 0 };
    bool start = false;
    const char *format = "text";
    _cleanup_strv_ char **aliases = NULL;
    int r = parse_create_opts("clone", (int) strv_length(rest), rest, &o, &start, &format, NULL, &aliases,
                              clone_usage);
    if (r)
        return r < 0 ? 0 : r;
    if (optind >= (int) strv_length(rest)) {
        VM_ERR("clone", "a template name is needed (see --help)");
        return 125;
    }
    if (count == 0) {
        VM_ERR("clone", "--count N is needed");
        return 125;
    }
    const char *template_name = rest[optind];
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    unsigned made = 0;
    _cleanup_strv_ char **names = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (vm_store_open(&s, &err) < 0 || vm_clone(s, template_name, count, prefix, &o, &made, &names, &err) < 0) {
        VM_ERR("clone", "%s (%u of %u clones made)", berth_error_message(&err), made, count);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* --start: each clone in turn, as berth vm start would; one that fails is named and the
     * others still start (they are made and listed either way) */
    unsigned started = 0, failed = 0;
    for (char **n = names; start && n && *n; n++) {
        struct vm_record rec;
        if (vm_record_find(s, *n, &rec, &err) < 0) {
            VM_ERR("clone", "%s: %s", *n, berth_error_message(&err));
            berth_error_clear(&err);
            failed++;
            continue;
        }
        if (do_start(s, &rec) == 0)
            started++;
        else
            failed++;
        vm_record_clear(&rec);
    }
    if (!strcmp(format, "json")) {
        _cleanup_json_ json_t *j = json_pack("{s:s, s:i, s:f, s:o}", "template", template_name, "created", (int) made,
                                             "seconds", secs, "names", json_array());
        for (char **n = names; j && n && *n; n++)
            json_array_append_new(json_object_get(j, "names"), json_string(*n));
        if (j && start)
            json_object_set_new(j, "started", json_integer(started));
        print_json(j);
    } else {
        printf("created %u VMs from template %s in %.3fs (%.2f ms per clone)\n", made, template_name, secs,
               made ? secs * 1000 / made : 0);
        if (start)
            printf("started %u of them%s\n", started, failed ? " (see the errors above)" : "");
    }
    return failed ? 1 : 0;
}

static int vm_cmd_template(int argc, char **argv)
{
    static const char usage[] =
        "Usage: berth vm template create NAME (--from VM | --image IMAGE [--disk-size SIZE])\n"
        "       berth vm template ls [--format text|json]\n"
        "       berth vm template rm NAME\n\n"
        "Templates are standalone qcow2 files under $BERTH_ROOT/templates; VMs are cloned from them\n"
        "with berth vm clone. A template from a VM copies its (stopped) disk, flattened.\n";
    if (argc < 2) {
        VM_ERR("template", "a subcommand is needed (create, ls or rm; see --help)");
        return 125;
    }
    /* Anywhere after the subcommand, as for every other verb: help is printed, nothing is done. */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    if (vm_store_open(&s, &err) < 0) {
        VM_ERR("template", "%s", berth_error_message(&err));
        return 125;
    }
    if (!strcmp(argv[1], "ls")) {
        const char *format = "text";
        for (int i = 2; i < argc; i++) {
            if (!strncmp(argv[i], "--format=", 9)) {
                format = argv[i] + 9;
            } else if (!strcmp(argv[i], "--format")) {
                if (i + 1 >= argc) {
                    VM_ERR("template ls", "--format needs a value (text or json)");
                    return 125;
                }
                format = argv[++i];
            } else {
                VM_ERR("template ls", "unknown %s '%s' (see --help)", argv[i][0] == '-' ? "option" : "argument",
                       argv[i]);
                return 125;
            }
        }
        if (check_format("template ls", format) < 0)
            return 125;
        _cleanup_strv_ char **names = NULL;
        if (vm_template_list(&names, &err) < 0) {
            VM_ERR("template ls", "%s", berth_error_message(&err));
            return 125;
        }
        json_t *arr = json_array();
        for (char **n = names; n && *n; n++) {
            if (!strcmp(format, "json"))
                json_array_append_new(arr, json_pack("{s:s}", "name", *n));
            else
                printf("%s\n", *n);
        }
        if (!strcmp(format, "json"))
            print_json(arr);
        json_decref(arr);
        return 0;
    }
    if (!strcmp(argv[1], "rm")) {
        if (argc < 3) {
            VM_ERR("template rm", "a template name is needed (see --help)");
            return 125;
        }
        for (int i = 2; i < argc; i++)
            if (argv[i][0] == '-') {
                VM_ERR("template rm", "unknown option '%s' (see --help)", argv[i]);
                return 125;
            }
        int rc = 0;
        for (int i = 2; i < argc; i++)
            if (vm_template_remove(s, argv[i], &err) < 0) {
                VM_ERR("template rm", "%s", berth_error_message(&err));
                berth_error_clear(&err);
                rc = 1;
            }
        return rc;
    }
    if (!strcmp(argv[1], "create")) {
        const char *from = NULL, *image = NULL, *name = NULL;
        uint64_t size = 0;
        for (int i = 2; i < argc; i++) {
            bool takes_value = !strcmp(argv[i], "--from") || !strcmp(argv[i], "--image") ||
                               !strcmp(argv[i], "--disk-size");
            if (takes_value && i + 1 >= argc) {
                VM_ERR("template create", "%s needs a value (see --help)", argv[i]);
                return 125;
            }
            if (!strcmp(argv[i], "--from"))
                from = argv[++i];
            else if (!strcmp(argv[i], "--image"))
                image = argv[++i];
            else if (!strcmp(argv[i], "--disk-size")) {
                if (disk_parse_size(argv[++i], &size) < 0) {
                    VM_ERR("template create", "--disk-size '%s': expected a size such as 2G", argv[i]);
                    return 125;
                }
            } else if (argv[i][0] == '-') {
                VM_ERR("template create", "unknown option '%s' (see --help)", argv[i]);
                return 125;
            } else if (name) {
                VM_ERR("template create", "one template name only ('%s' and '%s'; see --help)", name, argv[i]);
                return 125;
            } else {
                name = argv[i];
            }
        }
        if (!name) {
            VM_ERR("template create", "a template name is needed (see --help)");
            return 125;
        }
        if (vm_template_create(s, name, from, image, size, &err) < 0) {
            VM_ERR("template create", "%s", berth_error_message(&err));
            return err.code == -ENOENT ? 1 : 125;
        }
        printf("%s\n", name);
        return 0;
    }
    VM_ERR("template", "unknown subcommand '%s' (expected create, ls or rm)", argv[1]);
    return 125;
}

static const struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} vm_subcommands[] = {
    { "balloon", "give a running VM's memory back to the host (memory balloon)", vm_cmd_balloon },
    { "clone", "create VMs in bulk from a template", vm_cmd_clone },
    { "console", "attach to a VM's serial console", vm_cmd_console },
    { "create", "create a VM from an image, template or disk", vm_cmd_create },
    { "exec", "run a command in a running VM", vm_cmd_exec },
    { "inspect", "show a VM's configuration and state", vm_cmd_inspect },
    { "logs", "print a VM's console history", vm_cmd_logs },
    { "ls", "list VMs", vm_cmd_ls },
    { "restart", "stop and start VMs", vm_cmd_each },
    { "rm", "remove VMs", vm_cmd_each },
    { "start", "start VMs", vm_cmd_each },
    { "stats", "resource use of VMs", vm_cmd_stats },
    { "stop", "stop VMs", vm_cmd_each },
    { "template", "manage VM templates (create, ls, rm)", vm_cmd_template },
};

int cmd_vm(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "berth vm: a command is needed; run 'berth vm --help' for the list\n");
        return 125;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *out = stdout;
        fprintf(out, "Usage: berth vm COMMAND [OPTIONS]\n\nMicroVMs from images, templates and disks.\n\nCommands:\n");
        for (size_t i = 0; i < sizeof(vm_subcommands) / sizeof(vm_subcommands[0]); i++)
            fprintf(out, "  %-10s %s\n", vm_subcommands[i].name, vm_subcommands[i].summary);
        fprintf(out, "\nRun 'berth vm COMMAND --help' for a command's options.\n");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < sizeof(vm_subcommands) / sizeof(vm_subcommands[0]); i++)
        if (!strcmp(vm_subcommands[i].name, argv[1]))
            return vm_subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "berth vm: unknown command '%s'; run 'berth vm --help' for the list\n", argv[1]);
    return 125;
}
