/* `berth image SUBCOMMAND` and `berth images`: the dispatcher and the helpers the verbs share. */
#include "cmd-image.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"

static const struct berth_command image_commands[] = {
    { "export", "write images to an OCI archive", cmd_image_export },
    { "history", "show the layers of an image and how they were made", cmd_image_history },
    { "import", "import images from an OCI layout, OCI archive, docker archive or root filesystem", cmd_image_import },
    { "inspect", "show everything about images (JSON)", cmd_image_inspect },
    { "ls", "list images", cmd_image_ls },
    { "prune", "remove unused images, blobs and layers", cmd_image_prune },
    { "rm", "remove images or tags", cmd_image_rm },
    { "tag", "give an image another name", cmd_image_tag },
    { NULL, NULL, NULL },
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: berth image COMMAND [OPTIONS]\n\nManage images.\n\nCommands:\n");
    for (const struct berth_command *c = image_commands; c->name; c++)
        fprintf(out, "  %-10s %s\n", c->name, c->summary);
    fprintf(out, "\nRun 'berth image COMMAND --help' for a command's options. 'berth images' is 'berth image ls'.\n");
}

int cmd_image(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
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
    for (const struct berth_command *c = image_commands; c->name; c++)
        if (!strcmp(c->name, sub))
            return c->run(argc - 1, argv + 1);
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
