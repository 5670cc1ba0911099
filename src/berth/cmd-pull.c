/* berth pull REF: fetches an image (the host's platform from a multi-arch index) into the local
 * image store (tagged HOST/NAME:TAG, layers unpacked), or into an OCI layout with --dest. */
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
#include "store/store.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: berth pull [OPTIONS] REGISTRY/NAME[:TAG|@DIGEST]\n\n"
                 "Downloads an image from a registry. Blobs already stored locally are not fetched again;\n"
                 "an interrupted download resumes where it stopped.\n\n"
                 "Options:\n"
                 "  --platform OS/ARCH[/VARIANT]  image to pick from a multi-arch index (default: this host)\n"
                 "  --dest oci:DIR[:TAG]       write into an OCI image layout instead of the image store\n"
                 REGISTRY_CLI_TRANSFER_HELP);
}

int cmd_pull(int argc, char **argv)
{
    struct registry_cli cli = { .format = "text" };
    const char *dest = NULL;
    _cleanup_free_ char *dest_dir = NULL, *recorded = NULL;   /* before any goto */
    static const struct option opts[] = {
        { "platform", required_argument, NULL, 'p' },
        { "dest", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        REGISTRY_CLI_TRANSFER_OPTIONS,
        { NULL, 0, NULL, 0 },
    };
    int c;
    optind = 1;
    while ((c = cli_getopt("berth pull", argc, argv, "qh", opts)) != -1) {
        int r = registry_cli_option(&cli, "pull", c, optarg);
        if (r < 0)
            goto usage_error;
        if (r > 0)
            continue;
        switch (c) {
        case 'p': cli.platform = optarg; break;
        case 'd': dest = optarg; break;
        case 'h': usage(stdout); registry_cli_clear(&cli); return 0;
        default: goto usage_error;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "berth pull: expected one image reference (see berth pull --help)\n");
        goto usage_error;
    }
    if (registry_cli_check(&cli, "pull") < 0)
        goto usage_error;
    struct berth_error err = { 0 };
    struct registry_platform plat;
    if (cli.platform) {
        if (registry_platform_parse(cli.platform, &plat, &err) < 0) {
            fprintf(stderr, "berth pull: %s\n", berth_error_message(&err));
            goto usage_error;
        }
    } else {
        registry_platform_host(&plat);
    }
    const char *dest_tag = NULL;
    if (dest && registry_cli_oci_path("pull", "--dest", dest, &dest_dir, &dest_tag) < 0)
        goto usage_error;
    struct registry_ref ref;
    if (registry_ref_parse(argv[optind], &ref, &err) < 0) {
        fprintf(stderr, "berth pull: %s\n", berth_error_message(&err));
        goto usage_error;
    }
    registry_cli_enable_progress(&cli);
    struct registry_client *client = NULL;
    struct blobstore *bs = NULL;           /* the OCI layout's (owned) or the image store's */
    struct image_store *is = NULL;
    struct registry_pulled out;
    int r;
    if (dest_dir) {
        r = oci_layout_open(dest_dir, true, &bs, &err);
    } else {
        /* The shared lock keeps an image prune from removing blobs not recorded yet. */
        r = image_store_open(NULL, &is, &err);
        if (r == 0)
            r = image_store_lock_shared(is, &err);
    }
    if (r == 0)
        r = registry_client_new(ref.host, &cli.opts, &client, &err);
    if (r == 0)
        r = registry_pull(client, ref.name, registry_ref_target(&ref), &plat, bs ? bs : image_store_blobs(is), &out,
                          &err);
    if (r == 0 && dest_dir)
        r = oci_layout_tag(dest_dir, out.media_type, out.digest, out.size,
                           dest_tag ? dest_tag : (ref.tag ? ref.tag : "latest"), &err);
    if (r == 0 && is) {
        _cleanup_free_ char *tagged = NULL;
        if (ref.tag && asprintf(&tagged, "%s/%s:%s", ref.host, ref.name, ref.tag) < 0)
            tagged = NULL;
        struct image_add_options ao = { .os = plat.os, .architecture = plat.arch };
        r = image_store_add(is, out.digest, tagged, &ao, &recorded, &err);
    }
    if (is)
        image_store_unlock(is);
    registry_client_free(client);
    blobstore_free(bs);
    image_store_free(is);
    registry_cli_layout_done(dest_dir);
    registry_ref_clear(&ref);
    if (r < 0)
        return registry_cli_fail(&cli, "pull", &err);
    if (!strcmp(cli.format, "json")) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "reference", argv[optind], "digest", out.digest,
                              "index_digest", out.top_digest, "media_type", out.media_type, "blobs_fetched",
                              (json_int_t) out.blobs_fetched, "blobs_present", (json_int_t) out.blobs_present);
        if (recorded)
            json_object_set_new(o, "image", json_string(recorded));
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else {
        printf("%s\n", out.digest);
    }
    registry_cli_clear(&cli);
    return 0;
usage_error:
    registry_cli_clear(&cli);
    return 125;
}
