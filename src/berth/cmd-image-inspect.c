/* berth image inspect, berth image history */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "cmd-image.h"
#include "image/image-internal.h"

static json_t *inspect_one(struct image_store *is, const struct image *img, struct berth_error *err)
{
    _cleanup_json_ json_t *cfg = NULL;
    if (image_get_config(is, img, &cfg, err) < 0)
        return NULL;
    json_t *tags = json_array(), *layers = json_array(), *diff_ids = json_array();
    for (size_t i = 0; img->names[i]; i++)
        json_array_append_new(tags, json_string(img->names[i]));
    for (size_t i = 0; i < img->n_layers; i++) {
        const struct image_layer *l = &img->layers[i];
        _cleanup_free_ char *path = image_layer_path(is, l->diff_id);
        bool unpacked = image_store_layer_unpacked(is, l->diff_id) == 1;
        json_array_append_new(layers, json_pack("{s:s, s:s, s:s, s:I, s:s?}", "Digest", l->digest, "DiffID",
                                                l->diff_id, "MediaType", l->media_type, "Size", (json_int_t) l->size,
                                                "Path", unpacked ? path : NULL));
        json_array_append_new(diff_ids, json_string(l->diff_id));
    }
    json_t *config = json_object_get(cfg, "config");
    json_t *history = json_object_get(cfg, "history");
    return json_pack("{s:s, s:s, s:s, s:o, s:s?, s:s?, s:s?, s:I, s:O?, s:{s:s, s:o}, s:o, s:O?, s:i}", "Id",
                     img->config_digest, "Digest", img->digest, "MediaType", img->media_type, "RepoTags", tags,
                     "Created", img->created, "Architecture", img->architecture, "Os", img->os, "Size",
                     (json_int_t) img->size, "Config", json_is_object(config) ? config : NULL, "RootFS", "Type",
                     "layers", "Layers", diff_ids, "LayerBlobs", layers, "History",
                     json_is_array(history) ? history : NULL, "Containers", (int) img->n_holds);
}

int cmd_image_inspect(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt)
{
    json_t *out = json_array();
    int rc = 0;
    for (int i = optind; i < argc; i++) {
        struct berth_error err = { 0 };
        _cleanup_image_ struct image *img = NULL;
        json_t *o = NULL;
        if (image_lookup(is, argv[i], &img, &err) < 0 || !(o = inspect_one(is, img, &err))) {
            rc = image_cli_fail("image inspect", &err);
            continue;
        }
        json_array_append_new(out, o);
    }
    json_dumpf(out, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(out);
    return rc;
}

int cmd_image_history(struct image_store *is, int argc, char **argv, const struct image_cli_opts *opt)
{
    bool no_trunc = opt->no_trunc;
    struct berth_error err = { 0 };
    _cleanup_image_ struct image *img = NULL;
    _cleanup_json_ json_t *cfg = NULL;
    if (image_lookup(is, argv[optind], &img, &err) < 0 || image_get_config(is, img, &cfg, &err) < 0)
        return image_cli_fail("image history", &err);
    json_t *hist = json_object_get(cfg, "history");
    json_t *rows = json_array();
    size_t layer = 0;
    if (json_is_array(hist) && json_array_size(hist) > 0) {
        size_t i;
        json_t *h;
        json_array_foreach(hist, i, h) {
            bool empty = json_is_true(json_object_get(h, "empty_layer"));
            json_int_t size = 0;
            const char *digest = NULL;
            if (!empty && layer < img->n_layers) {
                size = (json_int_t) img->layers[layer].size;
                digest = img->layers[layer].digest;
                layer++;
            }
            const char *created = json_string_value(json_object_get(h, "created"));
            const char *by = json_string_value(json_object_get(h, "created_by"));
            const char *comment = json_string_value(json_object_get(h, "comment"));
            json_array_insert_new(rows, 0, json_pack("{s:s?, s:s?, s:s?, s:I, s:s?, s:b}", "created", created,
                                                     "created_by", by, "comment", comment, "size", size, "layer",
                                                     digest, "empty_layer", empty));
        }
    } else {
        for (size_t i = 0; i < img->n_layers; i++)
            json_array_insert_new(rows, 0, json_pack("{s:n, s:n, s:n, s:I, s:s, s:b}", "created", "created_by",
                                                     "comment", "size", (json_int_t) img->layers[i].size, "layer",
                                                     img->layers[i].digest, "empty_layer", 0));
    }
    if (opt->format == OUT_JSON) {
        json_dumpf(rows, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(rows);
        return 0;
    }
    printf("%-14s %-16s %-48s %-10s %s\n", "LAYER", "CREATED", "CREATED BY", "SIZE", "COMMENT");
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        const char *digest = json_string_value(json_object_get(row, "layer"));
        const char *by = json_string_value(json_object_get(row, "created_by"));
        const char *comment = json_string_value(json_object_get(row, "comment"));
        char created[48], size[32], id[80];
        image_cli_ago(image_cli_parse_time(json_string_value(json_object_get(row, "created"))), created,
                      sizeof(created));
        image_cli_size((uint64_t) json_integer_value(json_object_get(row, "size")), size, sizeof(size));
        snprintf(id, sizeof(id), "%.*s", no_trunc ? 71 : 12, digest ? (no_trunc ? digest : digest + 7) : "<missing>");
        printf("%-14s %-16s %-48.*s %-10s %s\n", id, created, no_trunc ? 4096 : 48, by ? by : "", size,
               comment ? comment : "");
    }
    json_decref(rows);
    return 0;
}
