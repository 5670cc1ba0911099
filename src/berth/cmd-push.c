/* berth push IMAGE REF: uploads a local image (or an OCI layout's, oci:DIR[:TAG]) to a
 * registry, skipping blobs the registry already has. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "cli-getopt.h"
#include "commands.h"
#include "registry-cli.h"
#include "image/image.h"
#include "registry/oci-layout.h"
#include "registry/reference.h"
#include "registry/transfer.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: berth push [OPTIONS] IMAGE|oci:DIR[:TAG] REGISTRY/NAME[:TAG]\n\n"
                 "IMAGE is a local image (name, tag or id, see berth images) or an OCI layout.\n"
                 "Uploads an image and everything it references (all platforms of a multi-arch index).\n"
                 "Blobs the registry already holds are skipped.\n\n"
                 "Options:\n"
                 "  --mount-from NAME          try cross-repository mounts from this repository first\n"
                 REGISTRY_CLI_TRANSFER_HELP);
}

int cmd_push(int argc, char **argv)
{
    struct registry_cli cli = { .format = "text" };
    const char *mount_from = NULL;
    _cleanup_free_ char *dir = NULL, *mt = NULL, *auto_mount = NULL;   /* before any goto */
    static const struct option opts[] = {
        { "mount-from", required_argument, NULL, 'm' },
        { "help", no_argument, NULL, 'h' },
        REGISTRY_CLI_TRANSFER_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = cli_getopt("berth push", argc, argv, "qh", opts)) != -1) {
        int r = registry_cli_option(&cli, "push", c, optarg);
        if (r < 0)
            goto usage_error;
        if (r > 0)
            continue;
        switch (c) {
        case 'm': mount_from = optarg; break;
        case 'h': usage(stdout); registry_cli_clear(&cli); return 0;
        default: goto usage_error;
        }
    }
    if (optind != argc - 2) {
        fprintf(stderr, "berth push: expected IMAGE and a destination reference (see berth push --help)\n");
        goto usage_error;
    }
    if (registry_cli_check(&cli, "push") < 0)
        goto usage_error;
    const char *image = argv[optind];
    bool layout = !strncmp(image, "oci:", 4);
    const char *tag = NULL;
    if (layout && registry_cli_oci_path("push", NULL, image, &dir, &tag) < 0)
        goto usage_error;
    struct berth_error err = { 0 };
    struct registry_ref ref;
    if (registry_ref_parse(argv[optind + 1], &ref, &err) < 0) {
        fprintf(stderr, "berth push: %s\n", berth_error_message(&err));
        goto usage_error;
    }
    if (ref.digest) {
        fprintf(stderr, "berth push: '%s': push to a tag, not a digest\n", argv[optind + 1]);
        registry_ref_clear(&ref);
        goto usage_error;
    }
    registry_cli_enable_progress(&cli);
    struct blobstore *bs = NULL;          /* the layout's (owned) */
    struct image_store *is = NULL;
    struct image *img = NULL;
    struct registry_client *client = NULL;
    char digest[72] = "";
    uint64_t size = 0;
    struct registry_pushed st;
    int r;
    if (layout) {
        r = oci_layout_open(dir, false, &bs, &err);
        if (r == 0)
            r = oci_layout_find(dir, tag, digest, &mt, &size, &err);
    } else {
        r = image_store_open(NULL, &is, &err);
        if (r == 0)
            r = image_lookup(is, image, &img, &err);
        if (r == 0) {
            snprintf(digest, sizeof(digest), "%s", img->digest);
            mt = strdup(img->media_type);
            /* An image known under another name on the same registry: mount its blobs from there
             * instead of uploading them again. */
            for (char **n = img->names; !mount_from && n && *n; n++) {
                struct registry_ref other;
                if (registry_ref_parse(*n, &other, NULL) < 0)
                    continue;
                if (!strcmp(other.host, ref.host) && strcmp(other.name, ref.name) && (auto_mount = strdup(other.name)))
                    mount_from = auto_mount;
                registry_ref_clear(&other);
            }
        }
    }
    if (r == 0)
        r = registry_client_new(ref.host, &cli.opts, &client, &err);
    if (r == 0)
        r = registry_push(client, bs ? bs : image_store_blobs(is), digest, mt, ref.name, ref.tag, mount_from, &st,
                          &err);
    registry_client_free(client);
    blobstore_free(bs);
    image_free(img);
    image_store_free(is);
    registry_cli_layout_done(dir);
    registry_ref_clear(&ref);
    if (r < 0)
        return registry_cli_fail(&cli, "push", &err);
    if (!strcmp(cli.format, "json")) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "reference", argv[optind + 1], "digest", digest,
                              "blobs_uploaded", (json_int_t) st.blobs_uploaded, "blobs_skipped",
                              (json_int_t) st.blobs_skipped);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else {
        printf("%s\n", digest);
    }
    registry_cli_clear(&cli);
    return 0;
usage_error:
    registry_cli_clear(&cli);
    return 125;
}
