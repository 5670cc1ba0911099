/* The build driver: parses the Containerfile, then runs each step against the cache. */
#include "build/build.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "base/strv.h"
#include "build/build-internal.h"
#include "build/cache.h"
#include "build/stage-plan.h"
#include "image/manifest.h"
#include "image/reference.h"

#define CONTAINERFILE_MAX (1u << 20)

void build_result_clear(struct build_result *r)
{
    free(r->digest);
    free(r->id);
    *r = (struct build_result){ 0 };
}

void build_out(struct build_state *st, const char *fmt, ...)
{
    if (!st->opts->out)
        return;
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    st->opts->out(st->opts->userdata, buf);
}

static const char *lookup_var(struct build_state *st, const char *name, size_t n)
{
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(json_object_get(st->config, "config"), "Env"), i, x) {
        const char *s = json_string_value(x);
        if (s && !strncmp(s, name, n) && s[n] == '=')
            return s + n + 1;
    }
    for (char **a = st->args; a && *a; a++)
        if (!strncmp(*a, name, n) && (*a)[n] == '=')
            return *a + n + 1;
    return NULL;
}

static bool is_name_char(char c, bool first)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9');
}

int build_expand(struct build_state *st, const char *s, char **ret)
{
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);
    if (!out)
        return -ENOMEM;
    for (const char *p = s; *p;) {
        const char *val = NULL;
        size_t vlen = 0;
        if (p[0] == '\\' && p[1] == '$') {
            val = "$";
            vlen = 1;
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end) {
                free(out);
                return -EINVAL;
            }
            val = lookup_var(st, p + 2, (size_t) (end - p - 2));
            vlen = val ? strlen(val) : 0;
            p = end + 1;
        } else if (p[0] == '$' && is_name_char(p[1], true)) {
            const char *q = p + 1;
            while (is_name_char(*q, false))
                q++;
            val = lookup_var(st, p + 1, (size_t) (q - p - 1));
            vlen = val ? strlen(val) : 0;
            p = q;
        } else {
            val = p++;
            vlen = 1;
        }
        if (ARRAY_RESERVE(out, cap, n + vlen + 1, 0) < 0) {
            free(out);
            return -ENOMEM;
        }
        if (vlen)
            memcpy(out + n, val, vlen);
        n += vlen;
    }
    out[n] = '\0';
    *ret = out;
    return 0;
}

static void now_rfc3339(char buf[32])
{
    time_t t = time(NULL);
    struct tm tm;
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
}

static int load_image(struct build_state *st, const char *what, struct berth_error *err)
{
    _cleanup_image_ struct image *img = NULL;
    int r = image_lookup(st->is, what, &img, err);
    if (r < 0)
        return r;
    json_t *cfg = NULL;
    r = image_get_config(st->is, img, &cfg, err);
    if (r < 0)
        return r;
    json_t *layers = json_array();
    for (size_t i = 0; layers && i < img->n_layers; i++)
        json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", img->layers[i].media_type, "digest",
                                                img->layers[i].digest, "size", (json_int_t) img->layers[i].size));
    char *digest = strdup(img->digest);
    if (!layers || !digest) {
        json_decref(cfg);
        json_decref(layers);
        free(digest);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    json_decref(st->config);
    json_decref(st->layers);
    free(st->image);
    st->config = cfg;
    st->layers = layers;
    st->image = digest;
    return 0;
}

static int from_scratch(struct build_state *st, struct berth_error *err)
{
    json_decref(st->config);
    json_decref(st->layers);
    free(st->image);
    st->config = st->layers = NULL;
    st->image = NULL;
    json_t *cfg = json_pack("{s:s, s:s, s:{}, s:{s:s, s:[]}, s:[]}", "architecture", oci_host_architecture(), "os",
                            "linux", "config", "rootfs", "type", "layers", "diff_ids", "history");
    json_t *layers = json_array();
    if (!cfg || !layers) {
        json_decref(cfg);
        json_decref(layers);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    st->config = cfg;
    st->layers = layers;
    return 0;
}

/* Records the current config and layers as a new image (untagged) and makes it current. */
static int commit_image(struct build_state *st, const char *created_by, const char *diff_id, const char *layer_digest,
                        uint64_t layer_size, struct berth_error *err)
{
    char now[32];
    now_rfc3339(now);
    json_object_set_new(st->config, "created", json_string(now));
    json_t *hist = json_object_get(st->config, "history");
    if (!json_is_array(hist)) {
        hist = json_array();
        json_object_set_new(st->config, "history", hist);
    }
    json_t *h = json_pack("{s:s, s:s}", "created", now, "created_by", created_by);
    if (!diff_id)
        json_object_set_new(h, "empty_layer", json_true());
    json_array_append_new(hist, h);
    if (diff_id) {
        json_t *rootfs = json_object_get(st->config, "rootfs");
        if (!json_is_object(rootfs)) {
            rootfs = json_pack("{s:s, s:[]}", "type", "layers", "diff_ids");
            json_object_set_new(st->config, "rootfs", rootfs);
        }
        json_array_append_new(json_object_get(rootfs, "diff_ids"), json_string(diff_id));
        json_array_append_new(st->layers, json_pack("{s:s, s:s, s:I}", "mediaType", MEDIA_OCI_LAYER_GZIP, "digest",
                                                    layer_digest, "size", (json_int_t) layer_size));
    }
    _cleanup_free_ char *cfg_data = json_dumps(st->config, JSON_COMPACT | JSON_SORT_KEYS);
    if (!cfg_data)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_free_ char *cfg_digest = NULL;
    int r = blobstore_put(image_store_blobs(st->is), cfg_data, strlen(cfg_data), NULL, &cfg_digest, err);
    if (r < 0)
        return r;
    _cleanup_json_ json_t *m = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:O}", "schemaVersion", 2, "mediaType",
                                         MEDIA_OCI_MANIFEST, "config", "mediaType", MEDIA_OCI_CONFIG, "digest",
                                         cfg_digest, "size", (json_int_t) strlen(cfg_data), "layers", st->layers);
    _cleanup_free_ char *m_data = m ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (!m_data)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_free_ char *m_digest = NULL;
    r = blobstore_put(image_store_blobs(st->is), m_data, strlen(m_data), NULL, &m_digest, err);
    if (r < 0)
        return r;
    char *digest = NULL;
    r = image_store_add(st->is, m_digest, NULL, NULL, &digest, err);
    if (r < 0)
        return r;
    free(st->image);
    st->image = digest;
    return 0;
}

static int set_env_entry(json_t *cfg, const char *key, const char *value)
{
    json_t *env = json_object_get(cfg, "Env");
    if (!json_is_array(env)) {
        env = json_array();
        json_object_set_new(cfg, "Env", env);
    }
    size_t k = strlen(key), i;
    json_t *x;
    _cleanup_free_ char *kv = NULL;
    if (asprintf(&kv, "%s=%s", key, value) < 0)
        return -ENOMEM;
    json_array_foreach(env, i, x) {
        const char *s = json_string_value(x);
        if (s && !strncmp(s, key, k) && s[k] == '=')
            return json_array_set_new(env, i, json_string(kv));
    }
    return json_array_append_new(env, json_string(kv));
}

/* ENV, LABEL, EXPOSE, WORKDIR, USER, ENTRYPOINT, CMD: the config only. */
static int apply_metadata(struct build_state *st, const struct cf_instruction *in, const char *text,
                          struct berth_error *err)
{
    json_t *cfg = json_object_get(st->config, "config");
    if (!json_is_object(cfg)) {
        cfg = json_object();
        json_object_set_new(st->config, "config", cfg);
    }
    _cleanup_strv_ char **w = NULL;
    switch (in->op) {
    case CF_ENV:
    case CF_LABEL:
        if (cf_split_words(text, &w) < 0)
            return berth_error_set(err, -EINVAL, "unbalanced quotes");
        if (in->op == CF_ENV && w[0] && !strchr(w[0], '=')) {
            /* The old form: ENV KEY VALUE WITH SPACES. */
            const char *v = text + strlen(w[0]);
            while (*v == ' ' || *v == '\t')
                v++;
            return set_env_entry(cfg, w[0], v) < 0 ? berth_error_set(err, -ENOMEM, "out of memory") : 0;
        }
        for (char **p = w; *p; p++) {
            char *eq = strchr(*p, '=');
            if (!eq || eq == *p)
                return berth_error_set(err, -EINVAL, "'%s': expected KEY=VALUE", *p);
            *eq = '\0';
            if (in->op == CF_ENV) {
                if (set_env_entry(cfg, *p, eq + 1) < 0)
                    return berth_error_set(err, -ENOMEM, "out of memory");
            } else {
                json_t *labels = json_object_get(cfg, "Labels");
                if (!json_is_object(labels)) {
                    labels = json_object();
                    json_object_set_new(cfg, "Labels", labels);
                }
                json_object_set_new(labels, *p, json_string(eq + 1));
            }
        }
        return 0;
    case CF_EXPOSE: {
        if (cf_split_words(text, &w) < 0)
            return berth_error_set(err, -EINVAL, "unbalanced quotes");
        json_t *ports = json_object_get(cfg, "ExposedPorts");
        if (!json_is_object(ports)) {
            ports = json_object();
            json_object_set_new(cfg, "ExposedPorts", ports);
        }
        for (char **p = w; *p; p++) {
            char *end;
            long port = strtol(*p, &end, 10);
            if (end == *p || port < 1 || port > 65535 || (*end && strcmp(end, "/tcp") && strcmp(end, "/udp")))
                return berth_error_set(err, -EINVAL, "'%s': expected PORT[/tcp|/udp]", *p);
            char key[32];
            snprintf(key, sizeof(key), "%ld%s", port, *end ? end : "/tcp");
            json_object_set_new(ports, key, json_object());
        }
        return 0;
    }
    case CF_WORKDIR: {
        const char *cur = json_string_value(json_object_get(cfg, "WorkingDir"));
        _cleanup_free_ char *p = text[0] == '/' ? strdup(text) : fs_path_join(cur && *cur ? cur : "/", text);
        if (!p)
            return berth_error_set(err, -ENOMEM, "out of memory");
        json_object_set_new(cfg, "WorkingDir", json_string(p));
        return 0;
    }
    case CF_USER:
        json_object_set_new(cfg, "User", json_string(text));
        return 0;
    case CF_ENTRYPOINT:
        json_object_set_new(cfg, "Entrypoint", build_argv(in, text));
        /* As docker does: a new entrypoint drops the base image's Cmd. */
        json_object_del(cfg, "Cmd");
        return 0;
    case CF_CMD:
        json_object_set_new(cfg, "Cmd", build_argv(in, text));
        return 0;
    default:
        return berth_error_set(err, -EINVAL, "internal: not a metadata instruction");
    }
}

static int declare_arg(struct build_state *st, const char *text, struct berth_error *err)
{
    _cleanup_free_ char *name = strdup(text);
    if (!name)
        return berth_error_set(err, -ENOMEM, "out of memory");
    char *eq = strchr(name, '=');
    const char *def = NULL;
    if (eq) {
        *eq = '\0';
        def = eq + 1;
    }
    size_t n = strlen(name);
    if (!n || !is_name_char(name[0], true))
        return berth_error_set(err, -EINVAL, "'%s': expected NAME[=DEFAULT]", text);
    for (size_t i = 1; i < n; i++)
        if (!is_name_char(name[i], false))
            return berth_error_set(err, -EINVAL, "'%s': expected NAME[=DEFAULT]", text);
    const char *val = def;
    for (char **b = st->opts->build_args; b && *b; b++)
        if (!strncmp(*b, name, n) && (*b)[n] == '=')
            val = *b + n + 1;
    if (!val)
        return 0;
    _cleanup_free_ char *kv = NULL;
    if (asprintf(&kv, "%s=%s", name, val) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    long at = strv_env_find(st->args, name);
    if (at >= 0) {
        free(st->args[at]);
        st->args[at] = TAKE_PTR(kv);
        return 0;
    }
    return strv_push(&st->args, kv) < 0 ? berth_error_set(err, -ENOMEM, "out of memory") : 0;
}

static bool stage_name_valid(const char *name)
{
    if (!((*name >= 'a' && *name <= 'z') || (*name >= 'A' && *name <= 'Z')) || strlen(name) > 128)
        return false;
    for (const char *s = name; *s; s++)
        if (!is_name_char(*s, false) && *s != '.' && *s != '-')
            return false;
    return true;
}

/* "IMAGE [AS NAME]": *ret_image and *ret_name point into words (NULL name when none). */
static int parse_from(char **words, const char **ret_image, const char **ret_name, struct berth_error *err)
{
    size_t n = strv_length(words);
    if (n && !strncmp(words[0], "--", 2))
        return berth_error_set(err, -EINVAL, "unsupported option '%s'", words[0]);
    if (n == 1) {
        *ret_image = words[0];
        *ret_name = NULL;
        return 0;
    }
    if (n == 3 && !strcasecmp(words[1], "as")) {
        if (!stage_name_valid(words[2]))
            return berth_error_set(err, -EINVAL, "'%s': a stage name starts with a letter, then letters, digits, "
                                   "'_', '.', '-'", words[2]);
        *ret_image = words[0];
        *ret_name = words[2];
        return 0;
    }
    return berth_error_set(err, -EINVAL, "expected IMAGE [AS NAME]");
}

/* Ends the current stage (if any), recording its image for COPY --from and FROM. */
static int end_stage(struct build_state *st, struct berth_error *err)
{
    if (!st->in_stage)
        return 0; /* before the first FROM, or after a skipped stage */
    st->in_stage = false;
    if (!st->image) {
        int r = commit_image(st, "FROM scratch", NULL, NULL, 0, err);
        if (r < 0)
            return r;
    }
    if (ARRAY_RESERVE(st->stages, st->cap_stages, st->n_stages + 1, 4) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    struct build_stage *n = st->stages;
    n[st->n_stages].name = TAKE_PTR(st->cur_stage_name);
    n[st->n_stages].image = strdup(st->image);
    st->n_stages++;
    return n[st->n_stages - 1].image ? 0 : berth_error_set(err, -ENOMEM, "out of memory");
}

/* A stage the build does not need: recorded without an image, so stage indexes stay right. */
static int skip_stage(struct build_state *st, const struct cf_instruction *in, struct berth_error *err)
{
    int r = end_stage(st, err);
    if (r < 0)
        return r;
    _cleanup_strv_ char **words = NULL;
    const char *image = NULL, *name = NULL;
    if (cf_split_words(in->args, &words) < 0 || parse_from(words, &image, &name, err) < 0)
        name = NULL;
    if (ARRAY_RESERVE(st->stages, st->cap_stages, st->n_stages + 1, 4) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");
    struct build_stage *n = st->stages;
    n[st->n_stages].image = NULL;
    n[st->n_stages].name = name ? strdup(name) : NULL;
    st->n_stages++;
    berth_error_clear(err);
    return 0;
}

static int begin_stage(struct build_state *st, const char *text, struct berth_error *err)
{
    _cleanup_strv_ char **words = NULL;
    if (cf_split_words(text, &words) < 0)
        return berth_error_set(err, -EINVAL, "FROM: unbalanced quotes");
    const char *image = NULL, *name = NULL;
    int r = parse_from(words, &image, &name, err);
    if (r < 0)
        return berth_error_prefix(err, r, "FROM: ");
    if ((r = end_stage(st, err)) < 0)
        return r;
    for (size_t i = 0; name && i < st->n_stages; i++)
        if (st->stages[i].name && !strcasecmp(st->stages[i].name, name))
            return berth_error_set(err, -EINVAL, "FROM: the stage name '%s' is used twice", name);
    if (name && !(st->cur_stage_name = strdup(name)))
        return berth_error_set(err, -ENOMEM, "out of memory");
    st->in_stage = true;
    /* A previous stage's name wins over an image of the same name, as in Docker. */
    for (size_t i = st->n_stages; i-- > 0;)
        if (st->stages[i].name && !strcasecmp(st->stages[i].name, image) && st->stages[i].image) {
            r = load_image(st, st->stages[i].image, err);
            return r < 0 ? berth_error_prefix(err, r, "FROM: ") : 0;
        }
    if (!strcmp(image, "scratch"))
        return from_scratch(st, err);
    r = load_image(st, image, err);
    return r < 0 ? berth_error_prefix(err, r, "FROM: ") : 0;
}

static void cache_key(const char *parent, const char *what, const char *extra, char out[72])
{
    _cleanup_free_ char *s = NULL;
    if (asprintf(&s, "%s\n%s\n%s", parent ? parent : "scratch", what, extra ? extra : "") < 0) {
        out[0] = '\0';
        return;
    }
    digest_of_buffer(s, strlen(s), out);
}

static int run_step(struct build_state *st, const struct cf_instruction *in, size_t idx, size_t n_steps,
                    struct build_result *res, struct berth_error *err)
{
    _cleanup_free_ char *text = NULL;
    /* RUN text goes to the shell as written: the shell expands variables (ARGs are in its env). */
    if (in->op == CF_RUN || in->op == CF_CMD || in->op == CF_ENTRYPOINT)
        text = strdup(in->args);
    else if (build_expand(st, in->args, &text) < 0)
        return berth_error_set(err, -EINVAL, "bad variable reference in '%s'", in->args);
    if (!text)
        return berth_error_set(err, -ENOMEM, "out of memory");
    build_out(st, "STEP %zu/%zu: %s %s", idx + 1, n_steps, in->keyword, text);
    res->steps++;
    if (in->op == CF_ARG)
        return declare_arg(st, text, err);
    if (in->op == CF_FROM)
        return begin_stage(st, text, err);
    _cleanup_free_ char *created_by = NULL;
    if (asprintf(&created_by, "%s %s", in->keyword, text) < 0)
        return berth_error_set(err, -ENOMEM, "out of memory");

    /* The cache key. */
    char extra[72] = "", key[72];
    _cleanup_free_ char *extra_s = NULL;
    int r = 0;
    if (in->op == CF_COPY || in->op == CF_ADD) {
        r = build_copy(st, in, true, extra, NULL, NULL, err);
        if (r < 0)
            return berth_error_prefix(err, r, "%s: ", in->keyword);
    } else if (in->op == CF_RUN) {
        json_t *env = build_run_env(st);
        /* The argv holds the heredoc bodies, which the instruction text does not. */
        json_t *argv = build_run_argv(in), *key_doc = NULL;
        if (env && argv) {
            key_doc = json_pack("[o, o]", env, argv); /* takes both, also when it fails */
        } else {
            json_decref(env);
            json_decref(argv);
        }
        extra_s = key_doc ? json_dumps(in->n_heredocs ? key_doc : json_array_get(key_doc, 0), JSON_COMPACT) : NULL;
        json_decref(key_doc);
        if (!extra_s)
            return berth_error_set(err, -ENOMEM, "out of memory");
    }
    cache_key(st->image, created_by, extra_s ? extra_s : extra, key);
    /* The cache shares the image store's database handle. */
    struct store *db = image_store_db(st->is);
    if (!st->opts->no_cache) {
        _cleanup_free_ char *hit = NULL;
        struct berth_error probe = { 0 };
        if (build_cache_lookup(db, key, &hit, &probe) > 0 && load_image(st, hit, &probe) == 0) {
            _cleanup_image_ struct image *img = NULL;
            char short_id[13] = "";
            if (image_lookup(st->is, hit, &img, NULL) == 0)
                snprintf(short_id, sizeof(short_id), "%.12s", img->config_digest + 7);
            build_out(st, "--> Using cache %s", short_id);
            res->cached++;
            return 0;
        }
    }

    char diff_id[72];
    _cleanup_free_ char *layer_digest = NULL;
    uint64_t layer_size = 0;
    switch (in->op) {
    case CF_COPY:
    case CF_ADD:
        r = build_copy(st, in, false, diff_id, &layer_digest, &layer_size, err);
        if (r < 0)
            return berth_error_prefix(err, r, "%s: ", in->keyword);
        break;
    case CF_RUN:
        if (!st->image) {
            r = commit_image(st, "FROM scratch", NULL, NULL, 0, err);
            if (r < 0)
                return r;
        }
        r = build_run_step(st, in, diff_id, &layer_digest, &layer_size, err);
        if (r < 0)
            return berth_error_prefix(err, r, "RUN: ");
        break;
    default:
        r = apply_metadata(st, in, text, err);
        if (r < 0)
            return berth_error_prefix(err, r, "%s: ", in->keyword);
    }
    r = commit_image(st, created_by, layer_digest ? diff_id : NULL, layer_digest, layer_size, err);
    if (r < 0)
        return r;
    /* Recorded with --no-cache too: the next build may use it. */
    r = build_cache_store(db, key, st->image, err);
    if (r < 0)
        return r;
    _cleanup_image_ struct image *img = NULL;
    if (image_lookup(st->is, st->image, &img, NULL) == 0)
        build_out(st, "--> %.12s", img->config_digest + 7);
    return 0;
}

int build_run(const struct build_options *opts, struct build_result *ret, struct berth_error *err)
{
    if (!opts->file || !opts->context)
        return berth_error_set(err, -EINVAL, "a Containerfile and a context directory are needed");
    if (opts->tag) {
        _cleanup_image_ref_ struct image_ref *ref = NULL;
        int r = image_ref_parse(opts->tag, &ref, err);
        if (r < 0)
            return r;
        if (ref->digest)
            return berth_error_set(err, -EINVAL, "-t %s: cannot tag with a digest", opts->tag);
    }
    for (char **b = opts->build_args; b && *b; b++)
        if (!strchr(*b, '=') || **b == '=')
            return berth_error_set(err, -EINVAL, "--build-arg '%s': expected KEY=VALUE", *b);
    _cleanup_free_ char *text = NULL;
    size_t len = 0;
    int r = fs_read_file(opts->file, CONTAINERFILE_MAX, &text, &len, err);
    if (r < 0)
        return r;
    _cleanup_containerfile_ struct containerfile *cf = NULL;
    r = containerfile_parse(opts->file, text, len, &cf, err);
    if (r < 0)
        return r;
    _cleanup_close_ int ctx = open(opts->context, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ctx < 0)
        return berth_error_errno(err, -errno, "build context %s", opts->context);
    struct build_state st = { .opts = opts, .cf = cf, .context_fd = ctx };
    _cleanup_free_ bool *plan = NULL;
    size_t end = 0, n_steps = 0, step = 0;
    if ((r = build_plan(cf, opts->target, &plan, &end, err)) < 0)
        return r;
    for (size_t i = 0; i < end; i++)
        n_steps += plan[i];
    if ((r = build_ignore_load(ctx, &st.ignore, err)) < 0)
        return r;
    r = image_store_open(NULL, &st.is, err);
    struct build_result res = { 0 };
    for (size_t i = 0; r == 0 && i < end; i++) {
        if (!plan[i]) {
            if (cf->ins[i].op == CF_FROM)
                r = skip_stage(&st, &cf->ins[i], err);
            continue;
        }
        r = run_step(&st, &cf->ins[i], step++, n_steps, &res, err);
        if (r < 0)
            r = berth_error_prefix(err, r, "%s:%u: ", cf->path, cf->ins[i].line);
    }
    if (r == 0 && !st.image)
        r = commit_image(&st, "FROM scratch", NULL, NULL, 0, err);
    if (r == 0 && opts->tag)
        r = image_tag(st.is, st.image, opts->tag, err);
    if (r == 0) {
        _cleanup_image_ struct image *img = NULL;
        r = image_lookup(st.is, st.image, &img, err);
        if (r == 0) {
            res.digest = strdup(img->digest);
            res.id = strdup(img->config_digest);
            if (!res.digest || !res.id)
                r = berth_error_set(err, -ENOMEM, "out of memory");
        }
    }
    json_decref(st.config);
    json_decref(st.layers);
    free(st.image);
    strv_free(st.args);
    image_store_free(st.is);
    build_ignore_free(st.ignore);
    for (size_t i = 0; i < st.n_stages; i++) {
        free(st.stages[i].name);
        free(st.stages[i].image);
    }
    free(st.stages);
    free(st.cur_stage_name);
    if (r < 0) {
        build_result_clear(&res);
        return r;
    }
    *ret = res;
    return 0;
}
