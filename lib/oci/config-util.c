#include "oci/config-util.h"

#include <errno.h>
#include <stdlib.h>

#include "base/json.h"

int oci_json_strv(json_t *obj, const char *key, const char *what, char ***ret, struct berth_error *err)
{
    json_t *arr = NULL;
    int r = json_opt_array(obj, key, what, &arr, err);
    if (r < 0)
        return r;
    if (!arr) {
        *ret = NULL;
        return 0;
    }
    size_t n = json_array_size(arr);
    if (n > 1u << 16)
        return berth_error_set(err, -E2BIG, "%s.%s: too many entries (%zu)", what, key, n);
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return berth_error_set(err, -ENOMEM, "%s.%s: out of memory", what, key);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_string(e)) {
            free(v);
            return berth_error_set(err, -EINVAL, "%s.%s[%zu]: must be a string", what, key, i);
        }
        v[i] = (char *) json_string_value(e);
    }
    *ret = v;
    return 0;
}

int oci_json_req_string(json_t *obj, const char *key, const char *what, const char **ret,
                        struct berth_error *err)
{
    const char *s = NULL;
    int r = json_opt_string(obj, key, what, &s, err);
    if (r < 0)
        return r;
    if (!s)
        return berth_error_set(err, -EINVAL, "%s.%s: missing", what, key);
    *ret = s;
    return 0;
}

int oci_json_opt_u32(json_t *obj, const char *key, const char *what, uint32_t *ret, bool *present,
                     struct berth_error *err)
{
    int64_t v = -1;
    bool have = false;
    json_t *j = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (j && !json_is_null(j)) {
        if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > UINT32_MAX)
            return berth_error_set(err, -EINVAL, "%s.%s: must be an integer between 0 and 4294967295",
                                   what, key);
        v = json_integer_value(j);
        have = true;
    }
    if (have)
        *ret = (uint32_t) v;
    if (present)
        *present = have;
    return 0;
}
