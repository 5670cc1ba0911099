/* berth build */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/strv.h"
#include "build/build.h"
#include "cmd-image.h"
#include "cli-getopt.h"
#include "commands.h"

static void build_usage(FILE *out)
{
    fprintf(out,
            "Usage: berth build [OPTIONS] CONTEXT\n\n"
            "Builds an image from a Containerfile (a Dockerfile subset: FROM [AS], COPY [--from], ADD, RUN, ENV,\n"
            "WORKDIR, USER, EXPOSE, LABEL, ENTRYPOINT, CMD, ARG) with CONTEXT as the directory COPY reads from\n"
            "(minus what CONTEXT/.dockerignore excludes).\n"
            "Each step is cached by content; RUN steps run in a berth container without a network.\n\n"
            "Options:\n"
            "  -f, --file FILE          the Containerfile (default: CONTEXT/Containerfile, then\n"
            "                           CONTEXT/Dockerfile)\n"
            "  -t, --tag NAME[:TAG]     name the result\n"
            "      --build-arg K[=V]    value for ARG K (K alone: berth's own K, if set); repeat\n"
            "      --target STAGE       build up to the end of stage STAGE (FROM IMAGE AS STAGE)\n"
            "      --no-cache           run every step again\n"
            "      --network NET        network for RUN steps: none (default), host, or a berth network\n"
            "  -q, --quiet              print only the image id\n"
            "      --format FORMAT      text (default) or json (id, digest, names, steps, cached;\n"
            "                           progress goes to stderr)\n"
            "  -h, --help               this help\n");
}

struct build_cli_out {
    FILE *f;
};

static void build_print(void *userdata, const char *line)
{
    struct build_cli_out *o = userdata;
    if (o->f) {
        fprintf(o->f, "%s\n", line);
        fflush(o->f);
    }
}

int cmd_build(int argc, char **argv)
{
    static const struct option opts[] = {
        { "file", required_argument, NULL, 'f' },      { "tag", required_argument, NULL, 't' },
        { "build-arg", required_argument, NULL, 'B' }, { "no-cache", no_argument, NULL, 'N' },
        { "network", required_argument, NULL, 'n' },   { "quiet", no_argument, NULL, 'q' },
        { "format", required_argument, NULL, 'F' },    { "help", no_argument, NULL, 'h' },
        { "target", required_argument, NULL, 'T' },
        { NULL, 0, NULL, 0 },
    };
    struct build_options bo = { 0 };
    _cleanup_strv_ char **args = NULL;
    enum out_format fmt = OUT_TEXT;
    bool quiet = false;
    int c;
    optind = 1;
    while ((c = cli_getopt("berth build", argc, argv, "f:t:qh", opts)) != -1) {
        switch (c) {
        case 'f':
            bo.file = optarg;
            break;
        case 't':
            bo.tag = optarg;
            break;
        case 'B':
            if (*optarg && !strchr(optarg, '=')) {
                /* docker: --build-arg K takes K from berth's environment, and is no value when unset */
                const char *v = getenv(optarg);
                _cleanup_free_ char *kv = NULL;
                if (v && (asprintf(&kv, "%s=%s", optarg, v) < 0 || strv_push(&args, kv) < 0))
                    return 1;
                break;
            }
            if (strv_push(&args, optarg) < 0)
                return 1;
            break;
        case 'N':
            bo.no_cache = true;
            break;
        case 'T':
            bo.target = optarg;
            break;
        case 'n':
            bo.network = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'F':
            if (image_cli_format("build", optarg, &fmt) < 0)
                return 125;
            break;
        case 'h':
            build_usage(stdout);
            return 0;
        default: /* cli_getopt said what was wrong */
            return 125;
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "berth build: expected exactly one CONTEXT directory (see --help)\n");
        return 125;
    }
    bo.context = argv[optind];
    struct stat sb;
    if (stat(bo.context, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "berth build: build context '%s' is not a directory\n", bo.context);
        return 125;
    }
    _cleanup_free_ char *deflt = NULL;
    if (!bo.file) {
        deflt = fs_path_join(bo.context, "Containerfile");
        if (deflt && !fs_exists(deflt)) {
            free(deflt);
            deflt = fs_path_join(bo.context, "Dockerfile");
        }
        if (!deflt)
            return 1;
        bo.file = deflt;
    }
    bo.build_args = args;
    struct build_cli_out out = { .f = quiet ? NULL : fmt == OUT_JSON ? stderr : stdout };
    bo.out = build_print;
    bo.userdata = &out;
    struct berth_error err = { 0 };
    struct build_result res = { 0 };
    if (build_run(&bo, &res, &err) < 0) {
        fprintf(stderr, "berth build: %s\n", berth_error_message(&err));
        return 1;
    }
    if (fmt == OUT_JSON) {
        json_t *j = json_pack("{s:s, s:s, s:[], s:i, s:i}", "id", res.id, "digest", res.digest, "names", "steps",
                              (int) res.steps, "cached", (int) res.cached);
        if (j && bo.tag)
            json_array_append_new(json_object_get(j, "names"), json_string(bo.tag));
        char *s = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else if (quiet) {
        printf("%s\n", res.id);
    } else {
        if (bo.tag)
            printf("Successfully tagged %s\n", bo.tag);
        printf("%.12s\n", res.id + 7);
    }
    build_result_clear(&res);
    return 0;
}
