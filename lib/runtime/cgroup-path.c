/* Where a container's cgroup lives: cgroupsPath (absolute, relative, systemd's slice:prefix:name)
 * turned into one path below each hierarchy's root. Pure string work, unit-tested. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "runtime/cgroup-internal.h"

/* Appends component to a growing "/a/b" path, rejecting "." and ".." so that a path can never
 * climb out of the hierarchy it is joined to. */
static int push_component(char **path, const char *comp, size_t len, struct berth_error *err)
{
    if (len == 0)
        return 0;
    if ((len == 1 && comp[0] == '.') || (len == 2 && comp[0] == '.' && comp[1] == '.'))
        return berth_error_set(err, -EINVAL, "cgroupsPath: '.' and '..' components are not allowed");
    size_t old = *path ? strlen(*path) : 0;
    char *n = realloc(*path, old + len + 2);
    if (!n)
        return -ENOMEM;
    n[old] = '/';
    memcpy(n + old + 1, comp, len);
    n[old + 1 + len] = '\0';
    *path = n;
    return 0;
}

/* Appends every component of s (split on '/') to *path. */
static int push_path(char **path, const char *s, struct berth_error *err)
{
    while (*s) {
        const char *slash = strchr(s, '/');
        size_t len = slash ? (size_t) (slash - s) : strlen(s);
        int r = push_component(path, s, len, err);
        if (r < 0)
            return r;
        s += len;
        while (*s == '/')
            s++;
    }
    return 0;
}

static int finish(char **path, char **ret)
{
    if (!*path) {
        *path = strdup("/");
        if (!*path)
            return -ENOMEM;
    }
    *ret = TAKE_PTR(*path);
    return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int cgroup_expand_slice(const char *slice, char **ret, struct berth_error *err)
{
    if (!*slice || strcmp(slice, "-.slice") == 0) {
        char *s = strdup("");
        if (!s)
            return -ENOMEM;
        *ret = s;
        return 0;
    }
    if (!has_suffix(slice, ".slice") || strchr(slice, '/'))
        return berth_error_set(err, -EINVAL, "cgroupsPath: invalid systemd slice name '%s'", slice);
    size_t base_len = strlen(slice) - strlen(".slice");
    if (base_len == 0 || slice[0] == '-' || slice[base_len - 1] == '-' || strstr(slice, "--"))
        return berth_error_set(err, -EINVAL, "cgroupsPath: invalid systemd slice name '%s'", slice);
    /* Every '-' opens a nesting level: a-b.slice lives inside a.slice. */
    _cleanup_free_ char *out = NULL;
    size_t out_len = 0;
    for (size_t i = 0; i <= base_len; i++) {
        if (i != base_len && slice[i] != '-')
            continue;
        size_t add = 1 + i + strlen(".slice");
        char *n = realloc(out, out_len + add + 1);
        if (!n)
            return -ENOMEM;
        out = n;
        out[out_len] = '/';
        memcpy(out + out_len + 1, slice, i);
        memcpy(out + out_len + 1 + i, ".slice", strlen(".slice"));
        out_len += add;
        out[out_len] = '\0';
    }
    *ret = TAKE_PTR(out);
    return 0;
}

int cgroup_systemd_path(const char *spec, char **ret, struct berth_error *err)
{
    const char *c1 = strchr(spec, ':');
    const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c1 || !c2 || strchr(c2 + 1, ':'))
        return berth_error_set(err, -EINVAL,
                               "cgroupsPath: '%s' is not in the systemd form slice:prefix:name", spec);
    _cleanup_free_ char *slice = strndup(spec, (size_t) (c1 - spec));
    _cleanup_free_ char *prefix = strndup(c1 + 1, (size_t) (c2 - c1 - 1));
    const char *name = c2 + 1;
    if (!slice || !prefix)
        return -ENOMEM;
    if (!*name || strchr(name, '/') || strchr(prefix, '/'))
        return berth_error_set(err, -EINVAL, "cgroupsPath: invalid systemd unit name in '%s'", spec);
    _cleanup_free_ char *parent = NULL;
    int r = cgroup_expand_slice(*slice ? slice : "system.slice", &parent, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *unit = NULL;
    if (has_suffix(name, ".slice"))
        unit = strdup(name);
    else if (asprintf(&unit, "%s%s%s.scope", prefix, *prefix ? "-" : "", name) < 0)
        unit = NULL;
    if (!unit)
        return -ENOMEM;
    char *out = NULL;
    if (asprintf(&out, "%s/%s", parent, unit) < 0)
        return -ENOMEM;
    *ret = out;
    return 0;
}

int cgroup_resolve_path(const char *cgroups_path, const char *id, int version, const char *own,
                        char **ret, struct berth_error *err)
{
    _cleanup_free_ char *path = NULL;
    int r;
    if (!cgroups_path || !*cgroups_path) {
        if (!id || !*id || strchr(id, '/') || strcmp(id, ".") == 0 || strcmp(id, "..") == 0)
            return berth_error_set(err, -EINVAL, "cgroup: invalid container id '%s'", id ? id : "");
        r = push_path(&path, "berth", err);
        if (r >= 0)
            r = push_path(&path, id, err);
    } else if (cgroups_path[0] == '/') {
        r = push_path(&path, cgroups_path, err);
    } else {
        /* Relative: v1 nests under our own cgroup; v2 puts it beside ours (a sibling), since
         * our own cgroup holds processes and so cannot enable controllers for children. */
        _cleanup_free_ char *base = strdup(own && *own ? own : "/");
        if (!base)
            return -ENOMEM;
        if (version == 2) {
            char *slash = strrchr(base, '/');
            if (slash)
                *slash = '\0';
        }
        r = push_path(&path, base, err);
        if (r >= 0)
            r = push_path(&path, cgroups_path, err);
    }
    if (r < 0)
        return r;
    if (!path)
        return berth_error_set(err, -EINVAL, "cgroupsPath: '%s' names the root cgroup", cgroups_path);
    return finish(&path, ret);
}

int cgroup_parse_proc_cgroup(const char *text, const char *controller, char **ret)
{
    const char *line = text;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t) (end - line) : strlen(line);
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t) (c1 + 1 - line)) : NULL;
        if (c2) {
            bool match = false;
            if (!controller) {
                match = c2 == c1 + 1 && c1 - line == 1 && line[0] == '0';
            } else {
                const char *p = c1 + 1;
                size_t clen = strlen(controller);
                while (p < c2) {
                    const char *comma = memchr(p, ',', (size_t) (c2 - p));
                    const char *stop = comma ? comma : c2;
                    if ((size_t) (stop - p) == clen && memcmp(p, controller, clen) == 0)
                        match = true;
                    p = stop + 1;
                }
            }
            if (match) {
                char *s = strndup(c2 + 1, len - (size_t) (c2 + 1 - line));
                if (!s)
                    return -ENOMEM;
                *ret = s;
                return 0;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return -ENOENT;
}
