/* RUN: the command runs in a berth container on the current step's image, without a network
 * unless asked; the container's overlay upper dir (its changes, deletions as whiteouts) becomes
 * the step's layer. The container is removed whatever happens. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/strv.h"
#include "build/build-internal.h"
#include "build/layer.h"
#include "containers/run.h"
#include "store/store.h"

json_t *build_argv(const struct cf_instruction *in, const char *text)
{
    if (in->exec)
        return json_deep_copy(in->exec);
    return json_pack("[s, s, s]", "/bin/sh", "-c", text);
}

json_t *build_run_env(struct build_state *st)
{
    json_t *env = json_deep_copy(json_object_get(json_object_get(st->config, "config"), "Env"));
    if (!json_is_array(env)) {
        json_decref(env);
        env = json_array();
    }
    for (char **a = st->args; env && a && *a; a++) {
        const char *eq = strchr(*a, '=');
        size_t k = eq ? (size_t) (eq - *a) : strlen(*a);
        size_t i;
        json_t *x;
        bool found = false;
        json_array_foreach(env, i, x) {
            const char *s = json_string_value(x);
            if (s && !strncmp(s, *a, k) && s[k] == '=')
                found = true;
        }
        if (!found && eq)
            json_array_append_new(env, json_string(*a));
    }
    return env;
}

/* Sends the container's log (JSON lines, {"log": text, ...}) to the output; keeps the last line. */
static void relay_output(struct build_state *st, const struct ctr_record *rec, char *last, size_t last_size)
{
    _cleanup_free_ char *path = ctr_path(rec, "container.log");
    _cleanup_fclose_ FILE *f = path ? fopen(path, "re") : NULL;
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        json_t *j = json_loads(line, 0, NULL);
        const char *text = json_string_value(json_object_get(j, "log"));
        if (text) {
            _cleanup_free_ char *t = strdup(text);
            if (t) {
                size_t n = strlen(t);
                while (n && (t[n - 1] == '\n' || t[n - 1] == '\r'))
                    t[--n] = '\0';
                build_out(st, "%s", t);
                if (n)
                    snprintf(last, last_size, "%s", t);
            }
        }
        json_decref(j);
    }
    free(line);
}

int build_run_step(struct build_state *st, const struct cf_instruction *in, char ret_diff_id[72], char **ret_digest,
                   uint64_t *ret_size, struct berth_error *err)
{
    json_t *cfg = json_object_get(st->config, "config");
    _cleanup_json_ json_t *spec = json_pack("{s:s, s:o, s:[], s:o, s:s}", "image", st->image, "cmd",
                                            build_run_argv(in), "entrypoint", "env", build_run_env(st),
                                            "network", st->opts->network ? st->opts->network : "none");
    if (!spec)
        return berth_error_set(err, -ENOMEM, "out of memory");
    const char *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
    const char *user = json_string_value(json_object_get(cfg, "User"));
    if (wd && *wd)
        json_object_set_new(spec, "workdir", json_string(wd));
    if (user && *user)
        json_object_set_new(spec, "user", json_string(user));

    _cleanup_store_ struct store *s = NULL;
    int r = ctr_store_open(&s, err);
    if (r < 0)
        return r;
    struct ctr_record rec = { 0 };
    r = ctr_create(s, NULL, spec, "no", false, &rec, err);
    if (r < 0)
        return r;
    r = ctr_start(s, &rec, true, err);
    if (r == 0)
        r = ctr_wait(s, &rec, -1, err);
    if (r == 0)
        r = ctr_refresh(s, &rec, err);
    char last[256] = "";
    relay_output(st, &rec, last, sizeof(last));
    if (r == 0 && rec.exit_code != 0)
        r = berth_error_set(err, -ECANCELED, "'%s' exited with code %d%s%s%s", in->args, rec.exit_code,
                            *last ? " (last output: \"" : "", last, *last ? "\")" : "");
    if (r == 0) {
        _cleanup_free_ char *upper = ctr_path(&rec, "upper");
        _cleanup_close_ int ufd = upper ? open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        struct layer_writer *lw = NULL;
        struct layer_tree_opts o = { .whiteouts = true, .uid = -1, .gid = -1 };
        if (ufd < 0)
            r = berth_error_errno(err, -errno, "%s", upper ? upper : "upper dir");
        if (r == 0)
            r = layer_writer_begin(image_store_blobs(st->is), &lw, err);
        if (r == 0) {
            r = layer_writer_add_tree(lw, ufd, ".", "", &o, err);
            if (r < 0)
                layer_writer_abort(lw);
            else
                r = layer_writer_finish(lw, ret_diff_id, ret_digest, ret_size, err);
        }
    }
    struct berth_error rerr = { 0 };
    int q = ctr_remove(s, &rec, true, &rerr);
    if (q < 0 && r == 0)
        r = berth_error_set(err, q, "removing the build container: %s", berth_error_message(&rerr));
    ctr_record_clear(&rec);
    return r;
}
