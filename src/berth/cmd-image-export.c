/* berth image export */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd-image.h"
#include "image/import.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: berth image export [OPTIONS] IMAGE...\n\n"
                 "Writes images (with all their names) as one OCI archive, which `skopeo copy oci-archive:FILE`\n"
                 "and `podman load -i FILE` read. The file is written atomically.\n\n"
                 "Options:\n"
                 "  -o, --output FILE   where to write (default: standard output, which must not be a terminal)\n"
                 "  -q, --quiet         no progress display\n"
                 "  -h, --help          this help\n");
}

int cmd_image_export(int argc, char **argv)
{
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' }, { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },         { NULL, 0, NULL, 0 },
    };
    const char *output = "-";
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 125;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "berth image export: expected at least one IMAGE; see --help\n");
        return 125;
    }
    _cleanup_image_store_ struct image_store *is = image_cli_open("image export");
    if (!is)
        return 1;
    struct berth_error err = { 0 };
    if (image_export(is, argv + optind, (size_t) (argc - optind), output, image_cli_progress(quiet), &err) < 0)
        return image_cli_fail("image export", &err);
    return 0;
}
