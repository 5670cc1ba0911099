/* config.json "hooks": the six lifecycle hook lists. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "oci/config-util.h"
#include "oci/config.h"

static const char *const hook_names[OCI_HOOK_COUNT] = {
    [OCI_HOOK_PRESTART] = "prestart",
    [OCI_HOOK_CREATE_RUNTIME] = "createRuntime",
    [OCI_HOOK_CREATE_CONTAINER] = "createContainer",
    [OCI_HOOK_START_CONTAINER] = "startContainer",
    [OCI_HOOK_POSTSTART] = "poststart",
    [OCI_HOOK_POSTSTOP] = "poststop",
};

const char *oci_hook_name(enum oci_hook_kind k)
{
    return k < OCI_HOOK_COUNT ? hook_names[k] : "?";
}

int oci_hooks_parse(json_t *hooks, const char *what, struct oci_hooks *h, struct berth_error *err)
{
    memset(h, 0, sizeof(*h));
    if (!hooks || json_is_null(hooks))
        return 0;
    if (!json_is_object(hooks))
        return berth_error_set(err, -EINVAL, "%s: must be an object", what);
    int r = 0;
    for (int k = 0; k < OCI_HOOK_COUNT; k++) {
        json_t *arr = NULL;
        if ((r = json_opt_array(hooks, hook_names[k], what, &arr, err)) < 0)
            goto fail;
        if (!arr)
            continue;
        size_t n = json_array_size(arr);
        if (n > 256) {
            r = berth_error_set(err, -E2BIG, "%s.%s: too many hooks", what, hook_names[k]);
            goto fail;
        }
        h->list[k] = calloc(n ? n : 1, sizeof(struct oci_hook));
        if (!h->list[k]) {
            r = -ENOMEM;
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(arr, i);
            char field[128];
            snprintf(field, sizeof(field), "%s.%s[%zu]", what, hook_names[k], i);
            struct oci_hook *hk = &h->list[k][i];
            h->n[k]++;
            if (!json_is_object(e)) {
                r = berth_error_set(err, -EINVAL, "%s: must be an object", field);
                goto fail;
            }
            if ((r = oci_json_req_string(e, "path", field, &hk->path, err)) < 0)
                goto fail;
            if (hk->path[0] != '/') {
                r = berth_error_set(err, -EINVAL, "%s.path: '%s' must be an absolute path", field, hk->path);
                goto fail;
            }
            if ((r = oci_json_strv(e, "args", field, &hk->args, err)) < 0 ||
                (r = oci_json_strv(e, "env", field, &hk->env, err)) < 0)
                goto fail;
            int64_t t = 0;
            if ((r = json_opt_int64(e, "timeout", field, &t, err)) < 0)
                goto fail;
            if (json_object_get(e, "timeout") && t <= 0) {
                r = berth_error_set(err, -EINVAL, "%s.timeout: must be greater than zero", field);
                goto fail;
            }
            hk->timeout = t > 86400 ? 86400 : (int) t;
        }
    }
    return 0;
fail:
    oci_hooks_done(h);
    return r;
}

void oci_hooks_done(struct oci_hooks *h)
{
    for (int k = 0; k < OCI_HOOK_COUNT; k++) {
        for (size_t i = 0; i < h->n[k]; i++) {
            free(h->list[k][i].args);
            free(h->list[k][i].env);
        }
        free(h->list[k]);
    }
    memset(h, 0, sizeof(*h));
}
