#include "base/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"

int json_load_buffer(const char *data, size_t len, const char *what, json_t **ret, struct berth_error *err)
{
    json_error_t jerr;
    json_t *v = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return berth_error_set(err, -EINVAL, "%s:%d:%d: %s", what, jerr.line, jerr.column, jerr.text);
    *ret = v;
    return 0;
}

int json_load_path(const char *path, size_t max, json_t **ret, struct berth_error *err)
{
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    int r = fs_read_file(path, max, &data, &len, err);
    if (r < 0)
        return r;
    return json_load_buffer(data, len, path, ret, err);
}

static json_t *field(json_t *obj, const char *key)
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

int json_opt_string(json_t *obj, const char *key, const char *what, const char **ret, struct berth_error *err)
{
    json_t *v = field(obj, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return berth_error_set(err, -EINVAL, "%s.%s: must be a string", what, key);
    *ret = json_string_value(v);
    return 0;
}

int json_opt_bool(json_t *obj, const char *key, const char *what, bool *ret, struct berth_error *err)
{
    json_t *v = field(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return berth_error_set(err, -EINVAL, "%s.%s: must be true or false", what, key);
    *ret = json_is_true(v);
    return 0;
}

int json_opt_int64(json_t *obj, const char *key, const char *what, int64_t *ret, struct berth_error *err)
{
    json_t *v = field(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v))
        return berth_error_set(err, -EINVAL, "%s.%s: must be an integer", what, key);
    *ret = json_integer_value(v);
    return 0;
}

int json_opt_uint64(json_t *obj, const char *key, const char *what, uint64_t *ret, struct berth_error *err)
{
    json_t *v = field(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return berth_error_set(err, -EINVAL, "%s.%s: must be a non-negative integer", what, key);
    *ret = (uint64_t) json_integer_value(v);
    return 0;
}

int json_opt_object(json_t *obj, const char *key, const char *what, json_t **ret, struct berth_error *err)
{
    json_t *v = field(obj, key);
    if (!v)
        return 0;
    if (!json_is_object(v))
        return berth_error_set(err, -EINVAL, "%s.%s: must be an object", what, key);
    *ret = v;
    return 0;
}

int json_opt_array(json_t *obj, const char *key, const char *what, json_t **ret, struct berth_error *err)
{
    json_t *v = field(obj, key);
    if (!v)
        return 0;
    if (!json_is_array(v))
        return berth_error_set(err, -EINVAL, "%s.%s: must be an array", what, key);
    *ret = v;
    return 0;
}

int json_write_path(const char *path, json_t *v, struct berth_error *err)
{
    _cleanup_free_ char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!s)
        return berth_error_set(err, -ENOMEM, "%s: cannot serialise JSON", path);
    size_t len = strlen(s);
    s[len] = '\0';
    _cleanup_free_ char *withnl = malloc(len + 2);
    if (!withnl)
        return berth_error_set(err, -ENOMEM, "%s: out of memory", path);
    memcpy(withnl, s, len);
    withnl[len] = '\n';
    return fs_write_atomic(path, withnl, len + 1, 0644, err);
}
