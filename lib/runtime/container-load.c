/* Loading a container's state and computing its status. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "runtime/container-load.h"
#include "runtime/cgroup.h"
#include "runtime/security.h"

const char *container_status_name(enum container_status s)
{
    static const char *const names[] = { "creating", "created", "running", "paused", "stopped" };
    return s <= CONTAINER_STOPPED ? names[s] : "unknown";
}

void container_free(struct container *c)
{
    if (!c)
        return;
    if (c->cg)
        cgroup_manager_free(c->cg);
    oci_runtime_config_free(c->cfg);
    json_decref(c->state);
    oci_state_dir_free(c->dir);
    free(c);
}

int container_load(const char *root, const char *id, bool exclusive, struct container **ret, struct berth_error *err)
{
    _cleanup_(container_freep) struct container *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    int r = oci_state_dir_open(root, id, exclusive, &c->dir, err);
    if (r < 0)
        return r;
    if ((r = oci_state_read(c->dir, &c->state, err)) < 0)
        return r;
    json_t *b = json_object_get(c->state, "berth");
    c->pid = (pid_t) json_integer_value(json_object_get(c->state, "pid"));
    c->start_time = (uint64_t) json_integer_value(json_object_get(b, "start_time"));
    json_t *cg = json_object_get(b, "cgroup");
    if (cg && !json_is_null(cg) && (r = cgroup_manager_from_json(cg, &c->cg, err)) < 0)
        return berth_error_prefix(err, r, "container %s: ", id);
    *ret = TAKE_PTR(c);
    return 0;
}

int container_load_config(struct container *c, struct berth_error *err)
{
    if (c->cfg)
        return 0;
    json_t *cfg = json_object_get(json_object_get(c->state, "berth"), "config");
    if (!cfg)
        return berth_error_set(err, -EINVAL, "container %s: state has no config", c->dir->id);
    const char *bundle = json_string_value(json_object_get(c->state, "bundle"));
    int r = oci_config_from_json(cfg, NULL, "config.json", &c->cfg, err);
    if (r < 0)
        return r;
    if (bundle && !(c->cfg->bundle = strdup(bundle)))
        return -ENOMEM;
    return 0;
}

bool container_init_alive(struct container *c)
{
    if (c->pid <= 0)
        return false;
    uint64_t st = 0;
    bool zombie = false;
    if (oci_proc_start_time(c->pid, &st, &zombie) < 0)
        return false;
    return !zombie && st == c->start_time;
}

enum container_status container_get_status(struct container *c)
{
    if (!container_init_alive(c))
        return CONTAINER_STOPPED;
    struct stat st;
    if (fstatat(c->dir->dirfd, "exec.fifo", &st, 0) == 0)
        return CONTAINER_CREATED;
    if (c->cg && cgroup_is_frozen(c->cg) == 1)
        return CONTAINER_PAUSED;
    return CONTAINER_RUNNING;
}

json_t *container_state_object(struct container *c)
{
    enum container_status s = container_get_status(c);
    json_t *o = json_pack("{s:s, s:s, s:s, s:i}", "ociVersion", "1.2.0", "id", c->dir->id, "status",
                          container_status_name(s), "pid", s == CONTAINER_STOPPED ? 0 : (int) c->pid);
    if (!o)
        return NULL;
    static const char *const copy[] = { "bundle", "rootfs", "created", "owner", "annotations" };
    for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++) {
        json_t *v = json_object_get(c->state, copy[i]);
        if (v)
            json_object_set(o, copy[i], v);
    }
    return o;
}

char *container_state_string(struct container *c)
{
    json_t *o = container_state_object(c);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}
