/* `berth image SUBCOMMAND` and `berth images`: the dispatcher and the helpers the verbs share. */
#include "cmd-image.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli-getopt.h"
#include "commands.h"

/* The long options of the verbs image_cli_run runs; the shared ones have IMAGE_OPT_ codes. */
static const struct option export_opts[] = {
    { "output", required_argument, NULL, 'o' }, { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
};
static const struct option inspect_opts[] = {
    { "format", required_argument, NULL, IMAGE_OPT_FORMAT }, { "no-trunc", no_argument, NULL, IMAGE_OPT_NO_TRUNC },
    { "help", no_argument, NULL, 'h' },                      { NULL, 0, NULL, 0 },
};
static const struct option prune_opts[] = {
    { "all", no_argument, NULL, 'a' },    { "force", no_argument, NULL, 'f' },
    { "format", required_argument, NULL, IMAGE_OPT_FORMAT }, { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
};
static const struct option rm_opts[] = {
    { "force", no_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
};
static const struct option help_opts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };

/* A row a verb. ls and import check more than their options before they open the store, so they parse their
 * own (main); the others are a row of image_cli_run: options, operands, help text and the verb's function. */
static const struct image_command {
    const char *name, *summary;
    int (*main)(int argc, char **argv);
    struct image_cli_verb verb;
} image_commands[] = {
    { "export", "write images to an OCI archive", NULL,
      { "image export", "o:qh", export_opts, 1, -1, "at least one IMAGE", NULL, cmd_image_export,
        "Usage: berth image export [OPTIONS] IMAGE...\n\n"
        "Writes images (with all their names) as one OCI archive, which `skopeo copy oci-archive:FILE`\n"
        "and `podman load -i FILE` read. The file is written atomically.\n\n"
        "Options:\n"
        "  -o, --output FILE   where to write (default: standard output, which must not be a terminal)\n"
        "  -q, --quiet         no progress display\n"
        "  -h, --help          this help\n" } },
    { "history", "show the layers of an image and how they were made", NULL,
      { "image history", "h", inspect_opts, 1, 1, "exactly one IMAGE", NULL, cmd_image_history,
        "Usage: berth image history [--format text|json] [--no-trunc] IMAGE\n\n"
        "Shows how an image was made, newest step first: the image config's history, with the\n"
        "size of the layer each step produced.\n" } },
    { "import", "import images from an OCI layout, OCI archive, docker archive or root filesystem", cmd_image_import,
      { 0 } },
    /* --format and --no-trunc are taken as history takes them; the output is JSON whatever they say. */
    { "inspect", "show everything about images (JSON)", NULL,
      { "image inspect", "h", inspect_opts, 1, -1, "at least one IMAGE", NULL, cmd_image_inspect,
        "Usage: berth image inspect [--format json] IMAGE...\n\n"
        "Prints a JSON array with one object per image: ids, names, config, layers (with their\n"
        "unpacked directories), history, and how many containers use it.\n" } },
    { "ls", "list images", cmd_image_ls, { 0 } },
    /* -f is taken for docker's sake: prune never asks. */
    { "prune", "remove unused images, blobs and layers", NULL,
      { "image prune", "afh", prune_opts, 0, 0, NULL, NULL, cmd_image_prune,
        "Usage: berth image prune [-a] [--format text|json]\n\n"
        "Removes untagged images no container uses (with -a: every image no container uses), then\n"
        "the blobs and unpacked layers that no image references, and leftovers of interrupted\n"
        "imports. Runs without asking (-f is accepted for docker compatibility).\n\n"
        "Options:\n  -a, --all          also images that have names\n"
        "      --format FMT   text (default) or json\n  -h, --help         this help\n" } },
    { "rm", "remove images or tags", NULL,
      { "image rm", "fh", rm_opts, 1, -1, "at least one IMAGE", NULL, cmd_image_rm,
        "Usage: berth image rm [-f] IMAGE...\n\n"
        "Removes images. Naming an image by one of several tags removes only that tag. An image used\n"
        "by a container is refused; with -f its names go and it stays (unnamed) until the last\n"
        "container using it is gone. Blobs and unpacked layers are freed by 'berth image prune'.\n\n"
        "Options:\n  -f, --force   see above\n  -h, --help    this help\n" } },
    { "tag", "give an image another name", NULL,
      { "image tag", "h", help_opts, 2, -1, "IMAGE NAME[:TAG]...", NULL, cmd_image_tag,
        "Usage: berth image tag IMAGE NAME[:TAG]...\n\n"
        "Gives IMAGE (a name, id or digest) more names. A name another image had moves here.\n" } },
    { NULL, NULL, NULL, { 0 } },
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: berth image COMMAND [OPTIONS]\n\nManage images.\n\nCommands:\n");
    for (const struct image_command *c = image_commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'berth image COMMAND --help' for a command's options. 'berth images' is 'berth image ls'.\n");
}

int cmd_image(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "berth image: a command is needed; run 'berth image --help' for the list\n");
        return 125;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "list"))
        sub = "ls";
    else if (!strcmp(sub, "remove") || !strcmp(sub, "rmi"))
        sub = "rm";
    else if (!strcmp(sub, "load"))
        sub = "import";
    else if (!strcmp(sub, "save"))
        sub = "export";
    for (const struct image_command *c = image_commands; c->name; c++)
        if (!strcmp(c->name, sub))
            return c->main ? c->main(argc - 1, argv + 1) : image_cli_run(&c->verb, argc - 1, argv + 1);
    fprintf(stderr, "berth image: unknown command '%s'; run 'berth image --help' for the list\n", argv[1]);
    return 125;
}

int cmd_images(int argc, char **argv)
{
    return cmd_image_ls(argc, argv);
}

int image_cli_format(const char *verb, const char *s, enum out_format *ret)
{
    if (!strcmp(s, "json"))
        *ret = OUT_JSON;
    else if (!strcmp(s, "text") || !strcmp(s, "table"))
        *ret = OUT_TEXT;
    else {
        fprintf(stderr, "berth %s: unknown --format '%s' (expected text or json)\n", verb, s);
        return -1;
    }
    return 0;
}

int image_cli_parse(const struct image_cli_verb *verb, int argc, char **argv, struct image_cli_opts *opt, void *data)
{
    int c, r;
    optind = 1;
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "berth %s", verb->name);
    while ((c = cli_getopt(cmd, argc, argv, verb->shortopts, verb->longopts)) != -1) {
        bool *flag = c == 'a'                  ? &opt->all
                     : c == 'f'                ? &opt->force
                     : c == 'q'                ? &opt->quiet
                     : c == IMAGE_OPT_NO_TRUNC ? &opt->no_trunc
                                               : NULL;
        if (flag) {
            *flag = true;
        } else if (c == 'o') {
            opt->output = optarg;
        } else if (c == IMAGE_OPT_FORMAT) {
            if (image_cli_format(verb->name, optarg, &opt->format) < 0)
                return 125;
        } else if (c == 'h') {
            fputs(verb->help, stdout);
            return 0;
        } else if (c == '?' || !verb->option) { /* cli_getopt said what was wrong */
            return 125;
        } else if ((r = verb->option(c, optarg, data)) != 0) {
            return r;
        }
    }
    int n = argc - optind;
    if (n >= verb->min_args && (verb->max_args < 0 || n <= verb->max_args))
        return -1;
    if (verb->expected)
        fprintf(stderr, "berth %s: expected %s; see --help\n", verb->name, verb->expected);
    else
        fprintf(stderr, "berth %s: unexpected argument '%s'\n", verb->name, argv[optind + verb->max_args]);
    return 125;
}

int image_cli_run(const struct image_cli_verb *verb, int argc, char **argv)
{
    struct image_cli_opts opt = { .format = OUT_TEXT };
    int r = image_cli_parse(verb, argc, argv, &opt, NULL);
    if (r >= 0)
        return r;
    _cleanup_image_store_ struct image_store *is = image_cli_open(verb->name);
    return is ? verb->run(is, argc, argv, &opt) : 1;
}

struct image_store *image_cli_open(const char *verb)
{
    struct image_store *is = NULL;
    struct berth_error err = { 0 };
    if (image_store_open(NULL, &is, &err) < 0) {
        fprintf(stderr, "berth %s: %s\n", verb, berth_error_message(&err));
        return NULL;
    }
    return is;
}

int image_cli_fail(const char *verb, const struct berth_error *err)
{
    fprintf(stderr, "berth %s: %s\n", verb, berth_error_message(err));
    return 1;
}

void image_cli_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *units[] = { "B", "kB", "MB", "GB", "TB" };
    double v = (double) bytes;
    size_t u = 0;
    while (v >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1000;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long) bytes);
    else
        snprintf(buf, len, "%.3g %s", v, units[u]);
}

int64_t image_cli_parse_time(const char *s)
{
    if (!s)
        return 0;
    struct tm tm = { 0 };
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return 0;
    return (int64_t) timegm(&tm);
}

void image_cli_ago(int64_t when, char *buf, size_t len)
{
    if (when <= 0) {
        snprintf(buf, len, "unknown");
        return;
    }
    int64_t d = (int64_t) time(NULL) - when;
    if (d < 0)
        d = 0;
    struct {
        int64_t secs;
        const char *unit;
    } steps[] = { { 365 * 86400, "year" }, { 30 * 86400, "month" }, { 7 * 86400, "week" }, { 86400, "day" },
                  { 3600, "hour" },       { 60, "minute" } };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (d >= steps[i].secs) {
            int64_t n = d / steps[i].secs;
            snprintf(buf, len, "%lld %s%s ago", (long long) n, steps[i].unit, n == 1 ? "" : "s");
            return;
        }
    snprintf(buf, len, "%lld second%s ago", (long long) d, d == 1 ? "" : "s");
}

static void draw(const struct image_progress_event *ev, void *userdata)
{
    static const char *phase[] = { "Copying blobs", "Unpacking layer", "Writing" };
    char size[32];
    image_cli_size(ev->bytes, size, sizeof(size));
    if (ev->phase == IMAGE_PROGRESS_UNPACK)
        fprintf(stderr, "\r\033[K%s %u/%u: %s", phase[ev->phase], ev->item, ev->items, size);
    else if (ev->items)
        fprintf(stderr, "\r\033[K%s: %s (%u/%u)", phase[ev->phase], size, ev->item, ev->items);
    else
        fprintf(stderr, "\r\033[K%s: %s", phase[ev->phase], size);
    if (ev->done && (ev->phase != IMAGE_PROGRESS_UNPACK || ev->item == ev->items))
        fputc('\n', stderr);
    fflush(stderr);
}

const struct image_progress *image_cli_progress(bool quiet)
{
    static const struct image_progress p = { draw, NULL };
    if (quiet || !isatty(STDERR_FILENO))
        return NULL;
    return &p;
}
