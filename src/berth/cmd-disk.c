/* berth disk create|info|convert|resize|check: disk images (raw, qcow2) without a VM. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-getopt.h"
#include "base/cleanup.h"
#include "commands.h"
#include "vmm/disk/disk-tools.h"
#include "vmm/disk/disk.h"
#include "vmm/disk/qcow2.h"

#define EXIT_USAGE 125

static int fail(const char *sub, const struct berth_error *err)
{
    fprintf(stderr, "berth disk %s: %s\n", sub, berth_error_message(err));
    return 1;
}

static int usage_error(const char *sub, const char *msg)
{
    fprintf(stderr, "berth disk %s: %s; see 'berth disk %s --help'\n", sub, msg, sub);
    return EXIT_USAGE;
}

static int bad_size(const char *sub, const char *value, const char *examples)
{
    fprintf(stderr, "berth disk %s: SIZE '%s' is not a size (e.g. %s); see 'berth disk %s --help'\n", sub, value,
            examples, sub);
    return EXIT_USAGE;
}

/* The options of every subcommand, parsed in one place: each subcommand says which it takes. */
enum {
    OPT_DISK_FORMAT = 1 << 0,    /* -f, --disk-format raw|qcow2 (the input's; absent: probed) */
    OPT_OUTPUT = 1 << 1,         /* --format text|json (what berth prints) */
    OPT_OUTPUT_FORMAT = 1 << 2,  /* -O, --output-format raw|qcow2 */
    OPT_BACKING = 1 << 3,        /* -b, --backing FILE */
    OPT_BACKING_FORMAT = 1 << 4, /* -F, --backing-format raw|qcow2 */
    OPT_CLUSTER_SIZE = 1 << 5,   /* -c, --cluster-size SIZE */
    OPT_REFCOUNT_BITS = 1 << 6,  /* -r, --refcount-bits N (create) */
    OPT_SYNC = 1 << 7,           /* -s, --sync */
    OPT_REPAIR = 1 << 8,         /* -r, --repair leaks|all (check) */
};

static const struct {
    unsigned bit;
    struct option opt;
    const char *shortopt;
} disk_options[] = {
    {OPT_DISK_FORMAT, {"disk-format", required_argument, NULL, 'f'}, "f:"},
    {OPT_OUTPUT, {"format", required_argument, NULL, 'o'}, ""},
    {OPT_OUTPUT_FORMAT, {"output-format", required_argument, NULL, 'O'}, "O:"},
    {OPT_BACKING, {"backing", required_argument, NULL, 'b'}, "b:"},
    {OPT_BACKING_FORMAT, {"backing-format", required_argument, NULL, 'F'}, "F:"},
    {OPT_CLUSTER_SIZE, {"cluster-size", required_argument, NULL, 'c'}, "c:"},
    {OPT_REFCOUNT_BITS, {"refcount-bits", required_argument, NULL, 'r'}, "r:"},
    {OPT_SYNC, {"sync", no_argument, NULL, 's'}, "s"},
    {OPT_REPAIR, {"repair", required_argument, NULL, 'r'}, "r:"},
};
#define N_DISK_OPTIONS (sizeof(disk_options) / sizeof(disk_options[0]))

struct disk_args {
    /* in */
    const char *sub;
    unsigned accepts;  /* OPT_* */
    const char *usage; /* --help text */
    /* out, defaults as set by the caller */
    const char *disk_format, *output, *output_format;
    struct qcow2_create_opts create;
    enum qcow2_repair repair;
};

static bool is_disk_format(const char *f)
{
    return !strcmp(f, "raw") || !strcmp(f, "qcow2");
}

/* Parses the options of a->sub; -1: go on with the operands at optind, else the exit status. */
static int disk_parse_args(struct disk_args *a, int argc, char **argv)
{
    struct option longopts[N_DISK_OPTIONS + 2];
    char shortopts[2 * N_DISK_OPTIONS + 2] = "";
    size_t n = 0;
    for (size_t i = 0; i < N_DISK_OPTIONS; i++)
        if (a->accepts & disk_options[i].bit) {
            longopts[n++] = disk_options[i].opt;
            strcat(shortopts, disk_options[i].shortopt);
        }
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    strcat(shortopts, "h");
    optind = 1;
    int c;
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "berth disk %s", a->sub);
    while ((c = cli_getopt(cmd, argc, argv, shortopts, longopts)) != -1) {
        switch (c) {
        case 'f':
            if (!is_disk_format(optarg))
                return usage_error(a->sub, "-f must be raw or qcow2");
            a->disk_format = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
                fprintf(stderr, "berth disk %s: unknown --format '%s' (expected text or json)\n", a->sub, optarg);
                return EXIT_USAGE;
            }
            a->output = optarg;
            break;
        case 'O':
            if (!is_disk_format(optarg))
                return usage_error(a->sub, "-O must be raw or qcow2");
            a->output_format = optarg;
            break;
        case 'b':
            a->create.backing = optarg;
            break;
        case 'F':
            if (!is_disk_format(optarg))
                return usage_error(a->sub, "-F must be raw or qcow2");
            a->create.backing_format = optarg;
            break;
        case 'c': {
            uint64_t v;
            if (disk_parse_size(optarg, &v) < 0 || v < 512 || v > (2u << 20) || (v & (v - 1)))
                return usage_error(a->sub, "--cluster-size must be a power of two from 512 to 2M");
            a->create.cluster_bits = (unsigned) __builtin_ctzll(v);
            break;
        }
        case 'r':
            if (a->accepts & OPT_REPAIR) {
                if (!strcmp(optarg, "leaks"))
                    a->repair = QCOW2_REPAIR_LEAKS;
                else if (!strcmp(optarg, "all"))
                    a->repair = QCOW2_REPAIR_ALL;
                else
                    return usage_error(a->sub, "--repair takes 'leaks' or 'all'");
            } else {
                char *end;
                unsigned long v = strtoul(optarg, &end, 10);
                if (*end || v == 0 || v > 64 || (v & (v - 1)))
                    return usage_error(a->sub, "--refcount-bits must be 1, 2, 4, 8, 16, 32 or 64");
                a->create.refcount_bits = (unsigned) v;
            }
            break;
        case 's':
            a->create.sync = true;
            break;
        case 'h':
            fputs(a->usage, stdout);
            return 0;
        default:
            return EXIT_USAGE; /* cli_getopt said what was wrong */
        }
    }
    return -1;
}

/* A SIZE operand; prefix '+' allowed when rel is non-NULL (and reported through it). */
static int parse_size_operand(const char *s, bool *rel, uint64_t *ret)
{
    if (rel)
        *rel = s[0] == '+';
    return disk_parse_size(rel && *rel ? s + 1 : s, ret);
}

static int disk_create(int argc, char **argv)
{
    struct disk_args a = {
        .sub = "create",
        .accepts = OPT_DISK_FORMAT | OPT_BACKING | OPT_BACKING_FORMAT | OPT_CLUSTER_SIZE | OPT_REFCOUNT_BITS | OPT_SYNC,
        .usage = "Usage: berth disk create [-f raw|qcow2] [-b BACKING [-F FORMAT]] [--cluster-size SIZE]\n"
                 "                         [--refcount-bits N] [--sync] FILE [SIZE]\n\n"
                 "Creates a new disk image (qcow2 v3 by default). SIZE takes K, M, G, T suffixes (binary);\n"
                 "with a backing file it defaults to the backing file's size. A relative BACKING name is\n"
                 "relative to FILE's directory. FILE must not exist.\n",
        .disk_format = "qcow2",
    };
    int status = disk_parse_args(&a, argc, argv);
    if (status >= 0)
        return status;
    if (optind >= argc || argc - optind > 2)
        return usage_error("create", "expected FILE [SIZE]");
    const char *path = argv[optind];
    bool has_size = optind + 1 < argc;
    if (has_size && parse_size_operand(argv[optind + 1], NULL, &a.create.size) < 0)
        return bad_size("create", argv[optind + 1], "10G, 512M, 1048576");
    struct berth_error err = {0};
    if (!strcmp(a.disk_format, "raw")) {
        if (a.create.backing)
            return usage_error("create", "raw images cannot have a backing file");
        if (!has_size)
            return usage_error("create", "raw images need a SIZE");
        if (disk_create_raw(path, a.create.size, &err) < 0)
            return fail("create", &err);
        return 0;
    }
    if (!a.create.backing && !has_size)
        return usage_error("create", "a SIZE is needed without a backing file");
    if (qcow2_create(path, &a.create, &err) < 0)
        return fail("create", &err);
    return 0;
}

static void human(uint64_t v, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double d = (double) v;
    unsigned u = 0;
    while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        d /= 1024;
        u++;
    }
    snprintf(buf, len, u ? "%.3g %s" : "%.0f %s", d, units[u]);
}

static void print_info_text(json_t *o, bool top)
{
    char h1[32], h2[32];
    human((uint64_t) json_integer_value(json_object_get(o, "virtual-size")), h1, sizeof(h1));
    human((uint64_t) json_integer_value(json_object_get(o, "actual-size")), h2, sizeof(h2));
    printf("%simage: %s\n", top ? "" : "\n", json_string_value(json_object_get(o, "filename")));
    printf("file format: %s\n", json_string_value(json_object_get(o, "format")));
    printf("virtual size: %s (%lld bytes)\n", h1, (long long) json_integer_value(json_object_get(o, "virtual-size")));
    printf("disk size: %s\n", h2);
    json_t *cs = json_object_get(o, "cluster-size");
    if (cs)
        printf("cluster_size: %lld\n", (long long) json_integer_value(cs));
    json_t *bf = json_object_get(o, "backing-filename");
    if (bf) {
        printf("backing file: %s (actual path: %s)\n", json_string_value(bf),
               json_string_value(json_object_get(o, "full-backing-filename")));
        json_t *bff = json_object_get(o, "backing-filename-format");
        if (bff)
            printf("backing file format: %s\n", json_string_value(bff));
    }
    json_t *data = json_object_get(json_object_get(o, "format-specific"), "data");
    if (data) {
        printf("Format specific information:\n    compat: %s\n    lazy refcounts: %s\n    refcount bits: %lld\n"
               "    corrupt: %s\n    snapshots: %lld\n",
               json_string_value(json_object_get(data, "compat")),
               json_is_true(json_object_get(data, "lazy-refcounts")) ? "true" : "false",
               (long long) json_integer_value(json_object_get(data, "refcount-bits")),
               json_is_true(json_object_get(data, "corrupt")) ? "true" : "false",
               (long long) json_integer_value(json_object_get(data, "snapshots")));
    }
    if (json_is_true(json_object_get(o, "dirty-flag")))
        printf("dirty flag: set\n");
}

static int disk_info(int argc, char **argv)
{
    struct disk_args a = {
        .sub = "info",
        .accepts = OPT_DISK_FORMAT | OPT_OUTPUT,
        .usage = "Usage: berth disk info [-f raw|qcow2] [--format text|json] FILE\n\n"
                 "Shows an image's format, virtual size, size on disk, cluster size and its whole backing\n"
                 "chain. Without -f the format is probed from the content.\n",
        .output = "text",
    };
    int status = disk_parse_args(&a, argc, argv);
    if (status >= 0)
        return status;
    if (optind + 1 != argc)
        return usage_error("info", "expected one FILE");
    const char *fmt = a.disk_format, *out = a.output;
    struct berth_error err = {0};
    json_t *o = NULL;
    if (disk_info_json(argv[optind], fmt, &o, &err) < 0)
        return fail("info", &err);
    if (!strcmp(out, "json")) {
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    } else {
        print_info_text(o, true);
        json_t *chain = json_object_get(o, "backing-chain");
        size_t i;
        json_t *v;
        json_array_foreach(chain, i, v) print_info_text(v, false);
        json_t *be = json_object_get(o, "backing-error");
        if (be)
            printf("\nbacking chain broken: %s\n", json_string_value(be));
    }
    json_decref(o);
    return 0;
}

static int disk_convert_cmd(int argc, char **argv)
{
    struct disk_args a = {
        .sub = "convert",
        .accepts = OPT_DISK_FORMAT | OPT_OUTPUT_FORMAT | OPT_CLUSTER_SIZE,
        .usage = "Usage: berth disk convert [-f raw|qcow2] -O raw|qcow2 [--cluster-size SIZE] SRC DST\n\n"
                 "Copies SRC (its whole backing chain flattened) into a new image DST, leaving zero\n"
                 "blocks unallocated. DST must not exist.\n",
    };
    int status = disk_parse_args(&a, argc, argv);
    if (status >= 0)
        return status;
    if (!a.output_format)
        return usage_error("convert", "-O FORMAT is required");
    if (optind + 2 != argc)
        return usage_error("convert", "expected SRC DST");
    struct berth_error err = {0};
    if (disk_convert(argv[optind], a.disk_format, argv[optind + 1], a.output_format, a.create.cluster_bits, &err) < 0)
        return fail("convert", &err);
    return 0;
}

static int disk_resize_cmd(int argc, char **argv)
{
    struct disk_args a = {
        .sub = "resize",
        .accepts = OPT_DISK_FORMAT,
        .usage = "Usage: berth disk resize [-f raw|qcow2] FILE [+]SIZE\n\n"
                 "Grows an image to SIZE (or by SIZE with '+'). Shrinking is refused. The image must not\n"
                 "be in use.\n",
    };
    int status = disk_parse_args(&a, argc, argv);
    if (status >= 0)
        return status;
    if (optind + 2 != argc)
        return usage_error("resize", "expected FILE SIZE");
    const char *path = argv[optind], *fmt = a.disk_format;
    bool rel;
    uint64_t size;
    if (parse_size_operand(argv[optind + 1], &rel, &size) < 0)
        return bad_size("resize", argv[optind + 1], "20G, +1G");
    struct berth_error err = {0};
    if (rel) {
        _cleanup_disk_ struct disk *d = NULL;
        if (disk_open(path, fmt, true, &d, &err) < 0)
            return fail("resize", &err);
        if (size > UINT64_MAX - d->size)
            return usage_error("resize", "SIZE overflows");
        size += d->size;
    }
    if (disk_resize(path, fmt, size, &err) < 0)
        return fail("resize", &err);
    return 0;
}

static int disk_check(int argc, char **argv)
{
    struct disk_args a = {
        .sub = "check",
        .accepts = OPT_DISK_FORMAT | OPT_OUTPUT | OPT_REPAIR,
        .usage = "Usage: berth disk check [-f qcow2] [--repair leaks|all] [--format text|json] FILE\n\n"
                 "Checks a qcow2 image's refcounts against its references. Exit status, as qemu-img's:\n"
                 "0 consistent, 1 the check could not complete, 2 corruptions found, 3 only leaked\n"
                 "clusters found (harmless), 63 format without checks. --repair leaks lowers leaked\n"
                 "refcounts; --repair all rebuilds every refcount from the tables. The image must not be\n"
                 "in use while it is repaired; the result describes it after the repair.\n",
        .output = "text",
    };
    int status = disk_parse_args(&a, argc, argv);
    if (status >= 0)
        return status;
    if (optind + 1 != argc)
        return usage_error("check", "expected one FILE");
    const char *fmt = a.disk_format, *out = a.output;
    enum qcow2_repair repair = a.repair;
    const char *path = argv[optind];
    struct berth_error err = {0};
    if (!fmt && disk_probe(path, &fmt, &err) < 0) {
        fail("check", &err);
        return 1;
    }
    if (strcmp(fmt, "qcow2")) {
        fprintf(stderr, "berth disk check: %s: format '%s' has no metadata to check\n", path, fmt);
        return 63;
    }
    struct qcow2_check_result res;
    int r = qcow2_check(path, repair, &res, &err);
    if (r < 0) {
        fail("check", &err);
        return r == -ENOTSUP ? 63 : 1;
    }
    status = res.check_errors ? 1 : res.corruptions ? 2 : res.leaks > res.leaks_fixed ? 3 : 0;
    if (!strcmp(out, "json")) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b}", "filename", path, "format", "qcow2",
                              "check-errors", (json_int_t) res.check_errors, "corruptions",
                              (json_int_t) res.corruptions, "leaks", (json_int_t) res.leaks, "leaks-fixed",
                              (json_int_t) res.leaks_fixed, "image-end-offset", (json_int_t) res.image_end_offset,
                              "allocated-clusters", (json_int_t) res.allocated_clusters, "total-clusters",
                              (json_int_t) res.total_clusters, "refcounts-rebuilt", (int) res.refcounts_rebuilt);
        if (res.first_problem[0])
            json_object_set_new(o, "first-problem", json_string(res.first_problem));
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
        json_decref(o);
    } else {
        if (res.refcounts_rebuilt)
            printf("Refcounts were rebuilt from the tables.\n");
        if (res.corruptions)
            printf("%llu errors were found on the image (first: %s)\nData may be corrupted, or further writes to "
                   "the image may corrupt it.\n",
                   (unsigned long long) res.corruptions, res.first_problem);
        if (res.leaks)
            printf("%llu leaked clusters were found on the image%s\n", (unsigned long long) res.leaks,
                   res.leaks_fixed ? " and repaired" : ".\nThis means waste of disk space, but no harm to data.");
        if (res.check_errors)
            printf("%llu internal errors occurred during the check.\n", (unsigned long long) res.check_errors);
        if (!res.corruptions && !res.leaks && !res.check_errors)
            printf("No errors were found on the image.\n");
        printf("%llu/%llu = %.2f%% allocated\nImage end offset: %llu\n", (unsigned long long) res.allocated_clusters,
               (unsigned long long) res.total_clusters,
               res.total_clusters ? 100.0 * (double) res.allocated_clusters / (double) res.total_clusters : 0.0,
               (unsigned long long) res.image_end_offset);
    }
    return status;
}

static const struct {
    const char *name, *summary;
    int (*run)(int argc, char **argv);
} subcommands[] = {
    {"check", "check a qcow2 image's consistency (like qemu-img check)", disk_check},
    {"convert", "copy an image into a new one of another format", disk_convert_cmd},
    {"create", "create an image (qcow2, optionally on a backing file; or raw)", disk_create},
    {"info", "show an image's format, sizes and backing chain", disk_info},
    {"resize", "grow an image", disk_resize_cmd},
};

int cmd_disk(int argc, char **argv)
{
    opterr = 0;
    if (argc < 2) {
        fprintf(stderr, "berth disk: a command is needed; run 'berth disk --help' for the list\n");
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *f = stdout;
        fprintf(f, "Usage: berth disk COMMAND [OPTIONS]\n\nDisk images (raw and qcow2) for VMs.\n\nCommands:\n");
        for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
            fprintf(f, "  %-10s %s\n", subcommands[i].name, subcommands[i].summary);
        fprintf(f, "\nRun 'berth disk COMMAND --help' for a command's options.\n");
        return 0;
    }
    for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
        if (!strcmp(argv[1], subcommands[i].name))
            return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "berth disk: unknown command '%s'; run 'berth disk --help' for the list\n", argv[1]);
    return EXIT_USAGE;
}
