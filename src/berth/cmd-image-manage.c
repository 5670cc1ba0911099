/* berth image tag, berth image rm, berth image prune */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cmd-image.h"

int cmd_image_tag(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt)
{
    for (int i = optind + 1; i < argc; i++) {
        struct berth_error err = { 0 };
        if (image_tag(is, argv[optind], argv[i], &err) < 0)
            return image_cli_fail("image tag", &err);
    }
    return 0;
}

int cmd_image_rm(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt)
{
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        struct berth_error err = { 0 };
        int removed = 0;
        if (image_remove(is, argv[i], opt->force, &removed, &err) < 0) {
            rc = image_cli_fail("image rm", &err);
            continue;
        }
        printf("%s: %s\n", removed ? "Deleted" : "Untagged", argv[i]);
    }
    return rc;
}

int cmd_image_prune(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt)
{
    struct berth_error err = { 0 };
    struct image_prune_result res = { 0 };
    if (image_store_prune(is, opt->all, &res, &err) < 0)
        return image_cli_fail("image prune", &err);
    if (opt->format == OUT_JSON) {
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
