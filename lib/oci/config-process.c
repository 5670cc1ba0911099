/* config.json "process": args, env, cwd, user, rlimits, terminal, capabilities, oomScoreAdj. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "base/json.h"
#include "oci/config-util.h"
#include "oci/config.h"

static const struct {
    const char *name;
    int resource;
} rlimit_names[] = {
    { "RLIMIT_AS", RLIMIT_AS },         { "RLIMIT_CORE", RLIMIT_CORE },
    { "RLIMIT_CPU", RLIMIT_CPU },       { "RLIMIT_DATA", RLIMIT_DATA },
    { "RLIMIT_FSIZE", RLIMIT_FSIZE },   { "RLIMIT_LOCKS", RLIMIT_LOCKS },
    { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
    { "RLIMIT_NICE", RLIMIT_NICE },     { "RLIMIT_NOFILE", RLIMIT_NOFILE },
    { "RLIMIT_NPROC", RLIMIT_NPROC },   { "RLIMIT_RSS", RLIMIT_RSS },
    { "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME },
    { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING }, { "RLIMIT_STACK", RLIMIT_STACK },
};

int oci_rlimit_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++)
        if (!strcmp(rlimit_names[i].name, name))
            return rlimit_names[i].resource;
    return -1;
}

static int parse_rlimits(json_t *proc, const char *what, struct oci_process *p, struct berth_error *err)
{
    json_t *arr = NULL;
    int r = json_opt_array(proc, "rlimits", what, &arr, err);
    if (r < 0 || !arr)
        return r;
    size_t n = json_array_size(arr);
    if (n > 64)
        return berth_error_set(err, -E2BIG, "%s.rlimits: too many entries", what);
    p->rlimits = calloc(n ? n : 1, sizeof(*p->rlimits));
    if (!p->rlimits)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        char field[64];
        snprintf(field, sizeof(field), "%s.rlimits[%zu]", what, i);
        if (!json_is_object(e))
            return berth_error_set(err, -EINVAL, "%s: must be an object", field);
        struct oci_rlimit *l = &p->rlimits[i];
        r = oci_json_req_string(e, "type", field, &l->name, err);
        if (r < 0)
            return r;
        l->resource = oci_rlimit_from_name(l->name);
        if (l->resource < 0)
            return berth_error_set(err, -EINVAL, "%s.type: unknown rlimit '%s'", field, l->name);
        json_t *soft = json_object_get(e, "soft"), *hard = json_object_get(e, "hard");
        if (!soft || !hard)
            return berth_error_set(err, -EINVAL, "%s (%s): soft and hard are required", field, l->name);
        r = json_opt_uint64(e, "soft", field, &l->soft, err);
        if (r >= 0)
            r = json_opt_uint64(e, "hard", field, &l->hard, err);
        if (r < 0)
            return r;
        if (l->soft > l->hard)
            return berth_error_set(err, -EINVAL, "%s (%s): soft limit %llu is above hard limit %llu",
                                   field, l->name, (unsigned long long) l->soft,
                                   (unsigned long long) l->hard);
        for (size_t j = 0; j < i; j++)
            if (p->rlimits[j].resource == l->resource)
                return berth_error_set(err, -EINVAL, "%s: %s given twice", field, l->name);
        p->n_rlimits++;
    }
    return 0;
}

static int parse_user(json_t *proc, const char *what, struct oci_user *u, struct berth_error *err)
{
    json_t *user = NULL;
    char field[128];
    snprintf(field, sizeof(field), "%s.user", what);
    int r = json_opt_object(proc, "user", what, &user, err);
    if (r < 0 || !user)
        return r;
    if ((r = oci_json_opt_u32(user, "uid", field, &u->uid, NULL, err)) < 0 ||
        (r = oci_json_opt_u32(user, "gid", field, &u->gid, NULL, err)) < 0 ||
        (r = oci_json_opt_u32(user, "umask", field, &u->umask, &u->has_umask, err)) < 0)
        return r;
    if (u->has_umask && u->umask > 0777)
        return berth_error_set(err, -EINVAL, "%s.umask: %o is not a file mode mask", field, u->umask);
    const char *username = NULL;
    if ((r = json_opt_string(user, "username", field, &username, err)) < 0)
        return r;
    json_t *gids = NULL;
    if ((r = json_opt_array(user, "additionalGids", field, &gids, err)) < 0)
        return r;
    if (gids) {
        size_t n = json_array_size(gids);
        if (n > 65536)
            return berth_error_set(err, -E2BIG, "%s.additionalGids: too many entries", field);
        u->additional_gids = calloc(n ? n : 1, sizeof(uint32_t));
        if (!u->additional_gids)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
            json_t *g = json_array_get(gids, i);
            if (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > UINT32_MAX)
                return berth_error_set(err, -EINVAL, "%s.additionalGids[%zu]: must be a gid", field, i);
            u->additional_gids[i] = (uint32_t) json_integer_value(g);
        }
        u->n_additional_gids = n;
    }
    return 0;
}

int oci_process_parse(json_t *proc, const char *what, struct oci_process *p, struct berth_error *err)
{
    memset(p, 0, sizeof(*p));
    if (!json_is_object(proc))
        return berth_error_set(err, -EINVAL, "%s: must be an object", what);
    int r;
    char field[128];
    if ((r = json_opt_bool(proc, "terminal", what, &p->terminal, err)) < 0)
        goto fail;
    json_t *cs = NULL;
    if ((r = json_opt_object(proc, "consoleSize", what, &cs, err)) < 0)
        goto fail;
    if (cs) {
        snprintf(field, sizeof(field), "%s.consoleSize", what);
        uint32_t h = 0, w = 0;
        if ((r = oci_json_opt_u32(cs, "height", field, &h, NULL, err)) < 0 ||
            (r = oci_json_opt_u32(cs, "width", field, &w, NULL, err)) < 0)
            goto fail;
        p->console_height = h > 65535 ? 65535 : h;
        p->console_width = w > 65535 ? 65535 : w;
    }
    if ((r = oci_json_strv(proc, "args", what, &p->args, err)) < 0)
        goto fail;
    if (!p->args || !p->args[0]) {
        r = berth_error_set(err, -EINVAL, "%s.args: must name the program to run (it is %s)", what,
                            p->args ? "empty" : "missing");
        goto fail;
    }
    if (!p->args[0][0]) {
        r = berth_error_set(err, -EINVAL, "%s.args[0]: must not be empty", what);
        goto fail;
    }
    if ((r = json_opt_string(proc, "commandLine", what, &(const char *){ NULL }, err)) < 0)
        goto fail;
    if ((r = oci_json_strv(proc, "env", what, &p->env, err)) < 0)
        goto fail;
    for (size_t i = 0; p->env && p->env[i]; i++)
        if (!strchr(p->env[i], '=') || p->env[i][0] == '=') {
            r = berth_error_set(err, -EINVAL, "%s.env[%zu]: '%s' is not KEY=VALUE", what, i, p->env[i]);
            goto fail;
        }
    p->cwd = "/";
    if ((r = json_opt_string(proc, "cwd", what, &p->cwd, err)) < 0)
        goto fail;
    if (p->cwd[0] != '/') {
        r = berth_error_set(err, -EINVAL, "%s.cwd: '%s' must be an absolute path", what, p->cwd);
        goto fail;
    }
    if ((r = parse_user(proc, what, &p->user, err)) < 0)
        goto fail;
    if ((r = json_opt_object(proc, "capabilities", what, &p->capabilities, err)) < 0)
        goto fail;
    if ((r = parse_rlimits(proc, what, p, err)) < 0)
        goto fail;
    if ((r = json_opt_bool(proc, "noNewPrivileges", what, &p->no_new_privileges, err)) < 0)
        goto fail;
    int64_t oom = 0;
    json_t *oomj = json_object_get(proc, "oomScoreAdj");
    if (oomj && !json_is_null(oomj)) {
        if ((r = json_opt_int64(proc, "oomScoreAdj", what, &oom, err)) < 0)
            goto fail;
        if (oom < -1000 || oom > 1000) {
            r = berth_error_set(err, -EINVAL, "%s.oomScoreAdj: %lld is outside -1000..1000", what,
                                (long long) oom);
            goto fail;
        }
        p->has_oom_score_adj = true;
        p->oom_score_adj = (int) oom;
    }
    return 0;
fail:
    oci_process_done(p);
    return r;
}

void oci_process_done(struct oci_process *p)
{
    free(p->args);
    free(p->env);
    free(p->rlimits);
    free(p->user.additional_gids);
    memset(p, 0, sizeof(*p));
}
