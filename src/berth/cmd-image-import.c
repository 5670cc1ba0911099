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

/* The options only import takes. */
struct import_args {
    struct image_import_options io;
    bool rootfs;
    char **cmd, **entrypoint, **env;
    const char *workdir;
    char os[64], arch[64];
};

static void import_args_clear(struct import_args *a)
{
    strv_free(a->cmd);
    strv_free(a->entrypoint);
    strv_free(a->env);
}

static int import_option(int c, const char *arg, void *data)
{
    struct import_args *a = data;
    switch (c) {
    case 't':
        if (!strcmp(arg, "oci-dir") || !strcmp(arg, "oci"))
            a->io.format = IMAGE_FORMAT_OCI_DIR;
        else if (!strcmp(arg, "oci-archive"))
            a->io.format = IMAGE_FORMAT_OCI_ARCHIVE;
        else if (!strcmp(arg, "docker-archive"))
            a->io.format = IMAGE_FORMAT_DOCKER_ARCHIVE;
        else {
            fprintf(stderr, "berth image import: unknown --type '%s' (oci-dir, oci-archive, docker-archive)\n", arg);
            return 125;
        }
        break;
    case 'R':
        a->rootfs = true;
        break;
    case 'C':
        if (strv_push(&a->cmd, arg) < 0)
            return 1;
        break;
    case 'E':
        if (strv_push(&a->entrypoint, arg) < 0)
            return 1;
        break;
    case 'e':
        if (!strchr(arg, '=')) {
            fprintf(stderr, "berth image import: --env '%s' is not KEY=VALUE\n", arg);
            return 125;
        }
        if (strv_push(&a->env, arg) < 0)
            return 1;
        break;
    case 'w':
        if (arg[0] != '/') {
            /* every container of the image would fail its start on it (process.cwd must be absolute) */
            fprintf(stderr, "berth image import: --workdir '%s': expected an absolute path\n", arg);
            return 125;
        }
        a->workdir = arg;
        break;
    case 'P': {
        const char *slash = strchr(arg, '/');
        if (!slash || slash == arg || !slash[1] || (size_t) (slash - arg) >= sizeof(a->os) ||
            strlen(slash + 1) >= sizeof(a->arch)) {
            fprintf(stderr, "berth image import: --platform '%s' is not OS/ARCH (e.g. linux/amd64)\n", arg);
            return 125;
        }
        snprintf(a->os, sizeof(a->os), "%.*s", (int) (slash - arg), arg);
        snprintf(a->arch, sizeof(a->arch), "%s", slash + 1);
        break;
    }
    case 'N':
        a->io.add.no_unpack = true;
        break;
    case 'M':
        if (parse_size(arg, &a->io.add.max_layer_bytes) < 0 || a->io.add.max_layer_bytes == 0) {
            fprintf(stderr, "berth image import: --max-layer-size '%s' is not a size (e.g. 512M, 10G)\n", arg);
            return 125;
        }
        break;
    }
    return 0;
}

int cmd_image_import(int argc, char **argv)
{
    static const struct option opts[] = {
        { "type", required_argument, NULL, 't' },    { "rootfs", no_argument, NULL, 'R' },
        { "cmd", required_argument, NULL, 'C' },     { "entrypoint", required_argument, NULL, 'E' },
        { "env", required_argument, NULL, 'e' },     { "workdir", required_argument, NULL, 'w' },
        { "platform", required_argument, NULL, 'P' }, { "no-unpack", no_argument, NULL, 'N' },
        { "max-layer-size", required_argument, NULL, 'M' }, { "quiet", no_argument, NULL, 'q' },
        { "format", required_argument, NULL, IMAGE_OPT_FORMAT }, { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static const struct image_cli_verb verb = {
        "image import", "e:w:qh", opts, 1, 2, "PATH [NAME]", import_option, NULL,
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
        "  -h, --help               this help\n",
    };
    _cleanup_(import_args_clear) struct import_args a = { 0 };
    struct image_cli_opts opt = { .format = OUT_TEXT };
    int r = image_cli_parse(&verb, argc, argv, &opt, &a);
    if (r >= 0)
        return r;
    if (!a.rootfs && (a.cmd || a.entrypoint || a.env || a.workdir)) {
        fprintf(stderr, "berth image import: --cmd, --entrypoint, --env and --workdir go with --rootfs\n");
        return 125;
    }
    const char *path = argv[optind];
    const char *name = argc - optind == 2 ? argv[optind + 1] : NULL;
    if (a.os[0]) {
        a.io.add.os = a.os;
        a.io.add.architecture = a.arch;
    }
    a.io.add.progress = image_cli_progress(opt.quiet);
    a.io.name = name;
    _cleanup_image_store_ struct image_store *is = image_cli_open("image import");
    if (!is)
        return 1;
    struct berth_error err = { 0 };
    struct image_import_result res = { 0 };
    if (a.rootfs) {
        struct image_rootfs_options ro = {
            .name = name, .cmd = a.cmd, .entrypoint = a.entrypoint, .env = a.env, .working_dir = a.workdir,
            .add = a.io.add,
        };
        if (a.os[0])
            ro.architecture = a.arch;
        _cleanup_free_ char *digest = NULL;
        if (image_import_rootfs(is, path, &ro, &digest, &err) < 0)
            return image_cli_fail("image import", &err);
        if (strv_push(&res.digests, digest) < 0 || (name && strv_push(&res.names, name) < 0))
            return 1;
    } else if (image_import(is, path, &a.io, &res, &err) < 0) {
        return image_cli_fail("image import", &err);
    }
    if (opt.format == OUT_JSON) {
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
