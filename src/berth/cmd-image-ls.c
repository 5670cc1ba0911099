/* berth images / berth image ls */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/strv.h"
#include "cmd-image.h"
#include "image/reference.h"

static json_t *image_json(const struct image *img)
{
    json_t *names = json_array();
    for (size_t i = 0; img->names[i]; i++)
        json_array_append_new(names, json_string(img->names[i]));
    return json_pack("{s:s, s:s, s:o, s:I, s:s?, s:I, s:i, s:i}", "id", img->config_digest, "digest", img->digest,
                     "names", names, "size", (json_int_t) img->size, "created", img->created, "added",
                     (json_int_t) img->added, "layers", (int) img->n_layers, "containers", (int) img->n_holds);
}

/* filter is "docker.io/library/busybox:" (any tag) or a full "name:tag". */
static bool name_matches(const char *name, const char *filter)
{
    size_t n = strlen(filter);
    return filter[n - 1] == ':' ? !strncmp(name, filter, n) : !strcmp(name, filter);
}

int cmd_image_ls(int argc, char **argv)
{
    static const struct option opts[] = {
        { "all", no_argument, NULL, 'a' },   { "quiet", no_argument, NULL, 'q' },
        { "no-trunc", no_argument, NULL, IMAGE_OPT_NO_TRUNC }, { "format", required_argument, NULL, IMAGE_OPT_FORMAT },
        { "help", no_argument, NULL, 'h' },  { NULL, 0, NULL, 0 },
    };
    /* -a is accepted for docker's sake: untagged images are listed anyway. */
    static const struct image_cli_verb verb = {
        "images", "aqh", opts, 0, 1, NULL, NULL, NULL,
        "Usage: berth images [OPTIONS] [REPOSITORY[:TAG]]\n       berth image ls [OPTIONS] [REPOSITORY[:TAG]]\n\n"
        "Lists the images in the store, newest first, one line per name; with REPOSITORY, only\n"
        "the names in it (with that tag, when given), as docker images does.\n\n"
        "Options:\n"
        "  -a, --all             also list untagged images (default: they are listed too)\n"
        "  -q, --quiet           print image ids only\n"
        "      --no-trunc        full ids\n"
        "      --format FORMAT   text (default) or json\n"
        "  -h, --help            this help\n",
    };
    struct image_cli_opts opt = { .format = OUT_TEXT };
    int r = image_cli_parse(&verb, argc, argv, &opt, NULL);
    if (r >= 0)
        return r;
    /* The filter: "docker.io/library/busybox:" (any tag) or the full "name:tag". */
    _cleanup_free_ char *filter = NULL;
    if (optind < argc) {
        struct berth_error perr = { 0 };
        _cleanup_image_ref_ struct image_ref *ref = NULL;
        if (image_ref_parse(argv[optind], &ref, &perr) < 0) {
            fprintf(stderr, "berth images: %s\n", berth_error_message(&perr));
            return 125;
        }
        const char *last = strrchr(argv[optind], '/');
        bool tagged = strchr(last ? last : argv[optind], ':') != NULL;
        _cleanup_free_ char *name = image_ref_name(ref);
        if (!name || asprintf(&filter, "%s:%s", name, tagged && ref->tag ? ref->tag : "") < 0)
            return 1;
    }
    _cleanup_image_store_ struct image_store *is = image_cli_open("images");
    if (!is)
        return 1;
    struct berth_error err = { 0 };
    struct image **list = NULL;
    size_t n = 0;
    if (image_list(is, &list, &n, &err) < 0)
        return image_cli_fail("images", &err);
    if (filter) {
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) {
            bool match = false;
            for (size_t k = 0; list[i]->names[k] && !match; k++)
                match = name_matches(list[i]->names[k], filter);
            if (match)
                list[kept++] = list[i];
            else
                image_free(list[i]);
        }
        n = kept;
    }
    if (opt.format == OUT_JSON) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, image_json(list[i]));
        json_dumpf(a, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(a);
        image_list_free(list, n);
        return 0;
    }
    if (!opt.quiet)
        printf("%-40s %-16s %-14s %-16s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
    for (size_t i = 0; i < n; i++) {
        const struct image *img = list[i];
        char id[80];
        snprintf(id, sizeof(id), "%.*s", opt.no_trunc ? 71 : 12,
                 opt.no_trunc ? img->config_digest : img->config_digest + 7);
        if (opt.quiet) {
            printf("%s\n", id);
            continue;
        }
        char created[48], size[32];
        int64_t t = image_cli_parse_time(img->created);
        image_cli_ago(t ? t : img->added, created, sizeof(created));
        image_cli_size(img->size, size, sizeof(size));
        size_t nn = strv_length(img->names);
        for (size_t k = 0; k < (nn ? nn : 1); k++) {
            /* The image matched by one of its names; its other names are other repositories. */
            if (filter && !name_matches(img->names[k], filter))
                continue;
            char repo[300] = "<none>", tag[140] = "<none>";
            if (nn) {
                const char *name = img->names[k];
                const char *slash = strrchr(name, '/');
                const char *colon = strrchr(slash ? slash : name, ':');
                if (colon) {
                    snprintf(repo, sizeof(repo), "%.*s", (int) (colon - name), name);
                    snprintf(tag, sizeof(tag), "%s", colon + 1);
                } else {
                    snprintf(repo, sizeof(repo), "%s", name);
                }
            }
            printf("%-40s %-16s %-14s %-16s %s\n", repo, tag, id, created, size);
        }
    }
    image_list_free(list, n);
    return 0;
}
