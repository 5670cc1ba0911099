/* A loaded container (locked state dir + parsed state), shared by the lifecycle verbs. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "oci/config.h"
#include "oci/state.h"
#include "runtime/container.h"

struct cgroup_manager;

struct container {
    struct oci_state_dir *dir;
    json_t *state;
    pid_t pid;
    uint64_t start_time;
    struct cgroup_manager *cg; /* NULL when the container has none */
    struct oci_config *cfg;    /* loaded on demand by container_load_config */
};

int container_load(const char *root, const char *id, bool exclusive, struct container **ret, struct berth_error *err);
int container_load_config(struct container *c, struct berth_error *err);
void container_free(struct container *c);
DEFINE_CLEANUP_FUNC(struct container, container_free)

bool container_init_alive(struct container *c);
enum container_status container_get_status(struct container *c);
json_t *container_state_object(struct container *c);
char *container_state_string(struct container *c);
