/* berth image import */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strv.h"
#include "cmd-image.h"
#include "image/import.h"
#include "image/unpack.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: berth image import [OPTIONS] PATH [NAME[:TAG]]\n"
            "       berth image import --rootfs [OPTIONS] DIR|TAR [NAME[:TAG]]\n\n"
            "Imports images into the store and unpacks their layers. PATH is an OCI image layout\n"
            "directory, an OCI archive (skopeo copy oci-archive:, podman save --format oci-archive) or\n"
            "a docker archive (docker save, podman save); compressed archives are fine. The images keep\n"
            "the names the source gives them; NAME renames a single image. With --rootfs, DIR or TAR is\n"
            "a root filesystem that becomes a one-layer image.\n\n"
            "Options:\n"
            "      --type TYPE          oci-dir, oci-archive or docker-archive (default: detected)\n"
            "      --rootfs             PATH is a root filesystem (directory or tar)\n"
            "      --cmd ARG            (--rootfs) config Cmd; repeat for each argument\n"
            "      --entrypoint ARG     (--rootfs) config Entrypoint; repeat for each argument\n"
            "  -e, --env KEY=VALUE      (--rootfs) config Env; repeat (default: PATH only)\n"
            "  -w, --workdir DIR        (--rootfs) config WorkingDir\n"
            "      --platform OS/ARCH   the image to take from a multi-platform index (default: linux/host)\n"
            "      --no-unpack          record only; layers are unpacked on first use\n"
            "      --max-layer-size N   refuse layers that uncompress to more than N (e.g. 10G)\n"
            "  -q, --quiet              no progress display\n"
            "      --format FORMAT      text (default) or json (the digests and names imported)\n"
            "  -h, --help               this help\n");
}

int cmd_image_import(int argc, char **argv)
{
    static const struct option opts[] = {
        { "type", required_argument, NULL, 't' },    { "rootfs", no_argument, NULL, 'R' },
        { "cmd", required_argument, NULL, 'C' },     { "entrypoint", required_argument, NULL, 'E' },
        { "env", required_argument, NULL, 'e' },     { "workdir", required_argument, NULL, 'w' },
        { "platform", required_argument, NULL, 'P' }, { "no-unpack", no_argument, NULL, 'N' },
        { "max-layer-size", required_argument, NULL, 'M' }, { "quiet", no_argument, NULL, 'q' },
        { "format", required_argument, NULL, 'f' },  { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    enum out_format fmt = OUT_TEXT;
    bool rootfs = false, quiet = false;
    struct image_import_options io = { 0 };
    _cleanup_strv_ char **cmd = NULL, **entrypoint = NULL, **env = NULL;
    const char *workdir = NULL;
    char os[64] = "", arch[64] = "";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "e:w:qh", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (!strcmp(optarg, "oci-dir") || !strcmp(optarg, "oci"))
                io.format = IMAGE_FORMAT_OCI_DIR;
            else if (!strcmp(optarg, "oci-archive"))
                io.format = IMAGE_FORMAT_OCI_ARCHIVE;
            else if (!strcmp(optarg, "docker-archive"))
                io.format = IMAGE_FORMAT_DOCKER_ARCHIVE;
            else {
                fprintf(stderr, "berth image import: unknown --type '%s' (oci-dir, oci-archive, docker-archive)\n", optarg);
                return 125;
            }
            break;
        case 'R':
            rootfs = true;
            break;
        case 'C':
            if (strv_push(&cmd, optarg) < 0)
                return 1;
            break;
        case 'E':
            if (strv_push(&entrypoint, optarg) < 0)
                return 1;
            break;
        case 'e':
            if (!strchr(optarg, '=')) {
                fprintf(stderr, "berth image import: --env '%s' is not KEY=VALUE\n", optarg);
                return 125;
            }
            if (strv_push(&env, optarg) < 0)
                return 1;
            break;
        case 'w':
            workdir = optarg;
            break;
        case 'P': {
            const char *slash = strchr(optarg, '/');
            if (!slash || slash == optarg || !slash[1] || (size_t) (slash - optarg) >= sizeof(os) ||
                strlen(slash + 1) >= sizeof(arch)) {
                fprintf(stderr, "berth image import: --platform '%s' is not OS/ARCH (e.g. linux/amd64)\n", optarg);
                return 125;
            }
            snprintf(os, sizeof(os), "%.*s", (int) (slash - optarg), optarg);
            snprintf(arch, sizeof(arch), "%s", slash + 1);
            break;
        }
        case 'N':
            io.add.no_unpack = true;
            break;
        case 'M':
            if (parse_size(optarg, &io.add.max_layer_bytes) < 0 || io.add.max_layer_bytes == 0) {
                fprintf(stderr, "berth image import: --max-layer-size '%s' is not a size (e.g. 512M, 10G)\n", optarg);
                return 125;
            }
            break;
        case 'q':
            quiet = true;
            break;
        case 'f':
            if (image_cli_format("image import", optarg, &fmt) < 0)
                return 125;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 125;
        }
    }
    if (optind >= argc || argc - optind > 2) {
        fprintf(stderr, "berth image import: expected PATH [NAME]; see --help\n");
        return 125;
    }
    if (!rootfs && (cmd || entrypoint || env || workdir)) {
        fprintf(stderr, "berth image import: --cmd, --entrypoint, --env and --workdir go with --rootfs\n");
        return 125;
    }
    const char *path = argv[optind];
    const char *name = argc - optind == 2 ? argv[optind + 1] : NULL;
    if (os[0]) {
        io.add.os = os;
        io.add.architecture = arch;
    }
    io.add.progress = image_cli_progress(quiet);
    io.name = name;
    _cleanup_image_store_ struct image_store *is = image_cli_open("image import");
    if (!is)
        return 1;
    struct berth_error err = { 0 };
    struct image_import_result res = { 0 };
    if (rootfs) {
        struct image_rootfs_options ro = {
            .name = name, .cmd = cmd, .entrypoint = entrypoint, .env = env, .working_dir = workdir, .add = io.add,
        };
        if (os[0])
            ro.architecture = arch;
        _cleanup_free_ char *digest = NULL;
        if (image_import_rootfs(is, path, &ro, &digest, &err) < 0)
            return image_cli_fail("image import", &err);
        if (strv_push(&res.digests, digest) < 0 || (name && strv_push(&res.names, name) < 0))
            return 1;
    } else if (image_import(is, path, &io, &res, &err) < 0) {
        return image_cli_fail("image import", &err);
    }
    if (fmt == OUT_JSON) {
        json_t *d = json_array(), *n = json_array();
        for (size_t i = 0; res.digests && res.digests[i]; i++)
            json_array_append_new(d, json_string(res.digests[i]));
        for (size_t i = 0; res.names && res.names[i]; i++)
            json_array_append_new(n, json_string(res.names[i]));
        json_t *o = json_pack("{s:o, s:o}", "digests", d, "names", n);
        json_dumpf(o, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(o);
    } else {
        for (size_t i = 0; res.names && res.names[i]; i++)
            printf("Loaded image: %s\n", res.names[i]);
        for (size_t i = 0; res.digests && res.digests[i]; i++)
            if (!res.names || !res.names[0])
                printf("Loaded image: %s\n", res.digests[i]);
    }
    image_import_result_clear(&res);
    return 0;
}
