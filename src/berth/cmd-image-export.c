/* berth image export */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd-image.h"
#include "image/import.h"

int cmd_image_export(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt)
{
    struct berth_error err = { 0 };
    if (image_export(is, argv + optind, (size_t) (argc - optind), opt->output ? opt->output : "-",
                     image_cli_progress(opt->quiet), &err) < 0)
        return image_cli_fail("image export", &err);
    return 0;
}
