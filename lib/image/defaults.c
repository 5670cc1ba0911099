#include "image/defaults.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/json.h"
#include "base/strv.h"

void image_defaults_clear(struct image_defaults *d)
{
    strv_free(d->env);
    strv_free(d->entrypoint);
    strv_free(d->cmd);
    free(d->working_dir);
    free(d->user);
    free(d->stop_signal);
    strv_free(d->exposed_ports);
    strv_free(d->labels);
    strv_free(d->volumes);
    memset(d, 0, sizeof(*d));
}

static int string_array(json_t *cfg, const char *key, char ***ret, struct berth_error *err)
{
    json_t *a = json_object_get(cfg, key);
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a))
        return berth_error_set(err, -EINVAL, "image config: config.%s: must be an array of strings", key);
    _cleanup_strv_ char **v = calloc(1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        if (!json_is_string(e))
            return berth_error_set(err, -EINVAL, "image config: config.%s[%zu]: must be a string", key, i);
        if (strv_push(&v, json_string_value(e)) < 0)
            return -ENOMEM;
    }
    *ret = TAKE_PTR(v);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Keys of an object ({"80/tcp": {}}); for labels "key=value". */
static int object_keys(json_t *cfg, const char *key, bool with_values, char ***ret, struct berth_error *err)
{
    _cleanup_strv_ char **v = calloc(1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    json_t *o = json_object_get(cfg, key);
    if (o && !json_is_null(o)) {
        if (!json_is_object(o))
            return berth_error_set(err, -EINVAL, "image config: config.%s: must be an object", key);
        const char *k;
        json_t *val;
        json_object_foreach(o, k, val) {
            _cleanup_free_ char *s = NULL;
            if (with_values) {
                if (!json_is_string(val))
                    return berth_error_set(err, -EINVAL, "image config: config.%s.%s: must be a string", key, k);
                if (asprintf(&s, "%s=%s", k, json_string_value(val)) < 0)
                    return -ENOMEM;
            } else if (!(s = strdup(k))) {
                return -ENOMEM;
            }
            if (strv_push(&v, s) < 0)
                return -ENOMEM;
        }
    }
    qsort(v, strv_length(v), sizeof(char *), cmp_str);
    *ret = TAKE_PTR(v);
    return 0;
}

static int dup_string(json_t *cfg, const char *key, const char *dflt, char **ret, struct berth_error *err)
{
    const char *s = NULL;
    int r = json_opt_string(cfg, key, "image config: config", &s, err);
    if (r < 0)
        return r;
    if ((!s || !*s) && dflt)
        s = dflt;
    if (!s)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

int image_defaults_from_config(json_t *config, struct image_defaults *ret, struct berth_error *err)
{
    struct image_defaults d = { 0 };
    json_t *cfg = json_object_get(config, "config");
    if (cfg && !json_is_null(cfg) && !json_is_object(cfg))
        return berth_error_set(err, -EINVAL, "image config: config: must be an object");
    if (!cfg || json_is_null(cfg))
        cfg = NULL;
    json_t *empty = json_object();
    if (!empty)
        return -ENOMEM;
    json_t *c = cfg ? cfg : empty;
    int r = string_array(c, "Env", &d.env, err);
    if (r == 0)
        r = string_array(c, "Entrypoint", &d.entrypoint, err);
    if (r == 0)
        r = string_array(c, "Cmd", &d.cmd, err);
    if (r == 0)
        r = dup_string(c, "WorkingDir", "/", &d.working_dir, err);
    if (r == 0)
        r = dup_string(c, "User", "", &d.user, err);
    if (r == 0)
        r = dup_string(c, "StopSignal", NULL, &d.stop_signal, err);
    if (r == 0)
        r = object_keys(c, "ExposedPorts", false, &d.exposed_ports, err);
    if (r == 0)
        r = object_keys(c, "Labels", true, &d.labels, err);
    if (r == 0)
        r = object_keys(c, "Volumes", false, &d.volumes, err);
    json_decref(empty);
    if (r == 0 && !d.env && !(d.env = calloc(1, sizeof(char *))))
        r = -ENOMEM;
    if (r == 0) {
        for (size_t i = 0; d.env[i]; i++)
            if (!strchr(d.env[i], '='))
                r = berth_error_set(err, -EINVAL, "image config: config.Env[%zu]: '%s' is not KEY=value", i, d.env[i]);
    }
    if (r == 0 && strv_env_find(d.env, "PATH") < 0 && strv_push(&d.env, IMAGE_DEFAULT_PATH) < 0)
        r = -ENOMEM;
    if (r < 0) {
        image_defaults_clear(&d);
        return r == -ENOMEM ? berth_error_set(err, r, "out of memory") : r;
    }
    *ret = d;
    return 0;
}

int image_defaults_argv(const struct image_defaults *d, char *const *entrypoint_override, char *const *cmd_override,
                        char ***ret, struct berth_error *err)
{
    char *const *ep = entrypoint_override ? entrypoint_override : d->entrypoint;
    char *const *cmd = cmd_override && cmd_override[0] ? cmd_override : entrypoint_override ? NULL : d->cmd;
    _cleanup_strv_ char **argv = calloc(1, sizeof(char *));
    if (!argv)
        return berth_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; ep && ep[i]; i++)
        if (strv_push(&argv, ep[i]) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
    for (size_t i = 0; cmd && cmd[i]; i++)
        if (strv_push(&argv, cmd[i]) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
    if (!argv[0])
        return berth_error_set(err, -EINVAL, "no command: the image has neither Entrypoint nor Cmd, give one");
    *ret = TAKE_PTR(argv);
    return 0;
}
