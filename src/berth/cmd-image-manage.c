/* berth image tag, berth image rm, berth image prune */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cmd-image.h"

static int no_options(const char *verb, int argc, char **argv, const char *help)
{
    static const struct option opts[] = { { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 } };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return 0;
        }
        fputs(help, stderr);
        return 125;
    }
    return -1;
}

int cmd_image_tag(int argc, char **argv)
{
    static const char help[] = "Usage: berth image tag IMAGE NAME[:TAG]...\n\n"
                               "Gives IMAGE (a name, id or digest) more names. A name another image had moves here.\n";
    int r = no_options("image tag", argc, argv, help);
    if (r >= 0)
        return r;
    if (argc - optind < 2) {
        fprintf(stderr, "berth image tag: expected IMAGE NAME[:TAG]...; see --help\n");
        return 125;
    }
    _cleanup_image_store_ struct image_store *is = image_cli_open("image tag");
    if (!is)
        return 1;
    for (int i = optind + 1; i < argc; i++) {
        struct berth_error err = { 0 };
        if (image_tag(is, argv[optind], argv[i], &err) < 0)
            return image_cli_fail("image tag", &err);
    }
    return 0;
}

int cmd_image_rm(int argc, char **argv)
{
    static const struct option opts[] = {
        { "force", no_argument, NULL, 'f' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
    };
    static const char help[] =
        "Usage: berth image rm [-f] IMAGE...\n\n"
        "Removes images. Naming an image by one of several tags removes only that tag. An image used\n"
        "by a container is refused; with -f its names go and it stays (unnamed) until the last\n"
        "container using it is gone. Blobs and unpacked layers are freed by 'berth image prune'.\n\n"
        "Options:\n  -f, --force   see above\n  -h, --help    this help\n";
    bool force = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            force = true;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            fputs(help, stderr);
            return 125;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "berth image rm: expected at least one IMAGE; see --help\n");
        return 125;
    }
    _cleanup_image_store_ struct image_store *is = image_cli_open("image rm");
    if (!is)
        return 1;
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        struct berth_error err = { 0 };
        int removed = 0;
        if (image_remove(is, argv[i], force, &removed, &err) < 0) {
            rc = image_cli_fail("image rm", &err);
            continue;
        }
        printf("%s: %s\n", removed ? "Deleted" : "Untagged", argv[i]);
    }
    return rc;
}

int cmd_image_prune(int argc, char **argv)
{
    static const struct option opts[] = {
        { "all", no_argument, NULL, 'a' },    { "force", no_argument, NULL, 'f' },
        { "format", required_argument, NULL, 'F' }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const char help[] =
        "Usage: berth image prune [-a] [--format text|json]\n\n"
        "Removes untagged images no container uses (with -a: every image no container uses), then\n"
        "the blobs and unpacked layers that no image references, and leftovers of interrupted\n"
        "imports. Runs without asking (-f is accepted for docker compatibility).\n\n"
        "Options:\n  -a, --all          also images that have names\n"
        "      --format FMT   text (default) or json\n  -h, --help         this help\n";
    bool all = false;
    enum out_format fmt = OUT_TEXT;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "afh", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            all = true;
            break;
        case 'f':
            break;
        case 'F':
            if (image_cli_format("image prune", optarg, &fmt) < 0)
                return 125;
            break;
        case 'h':
            fputs(help, stdout);
            return 0;
        default:
            fputs(help, stderr);
            return 125;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "berth image prune: unexpected argument '%s'\n", argv[optind]);
        return 125;
    }
    _cleanup_image_store_ struct image_store *is = image_cli_open("image prune");
    if (!is)
        return 1;
    struct berth_error err = { 0 };
    struct image_prune_result res = { 0 };
    if (image_store_prune(is, all, &res, &err) < 0)
        return image_cli_fail("image prune", &err);
    if (fmt == OUT_JSON) {
        json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "images", (json_int_t) res.images, "blobs",
                              (json_int_t) res.blobs, "layers", (json_int_t) res.layers, "bytes",
                              (json_int_t) res.bytes);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else {
        char size[32];
        image_cli_size(res.bytes, size, sizeof(size));
        printf("Removed %zu images, %zu blobs, %zu layers; freed %s\n", res.images, res.blobs, res.layers, size);
    }
    return 0;
}
