/* What an image config contributes to a container's runtime config (for `berth run`):
 * the "config" object of the OCI image spec (Env, Entrypoint, Cmd, WorkingDir, User,
 * ExposedPorts, Labels, StopSignal, Volumes). */
#pragma once

#include <jansson.h>

#include "base/error.h"

struct image_defaults {
    char **env;           /* "KEY=value"; PATH gets the usual default when the image sets none */
    char **entrypoint;    /* may be NULL */
    char **cmd;           /* may be NULL */
    char *working_dir;    /* "/" when unset */
    char *user;           /* "" when unset: root */
    char *stop_signal;    /* NULL when unset */
    char **exposed_ports; /* "80/tcp", sorted */
    char **labels;        /* "key=value", sorted by key */
    char **volumes;       /* "/data", sorted */
};

#define IMAGE_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* Extracts the defaults from an image config document (the whole config blob). Every vector is
 * NULL-terminated and non-NULL except entrypoint and cmd. */
int image_defaults_from_config(json_t *config, struct image_defaults *ret, struct berth_error *err);
void image_defaults_clear(struct image_defaults *d);

/* The process argv as docker computes it: entrypoint (or the override; an empty override clears
 * it) followed by cmd (or the override; with an entrypoint override the image's cmd is dropped).
 * An empty result is -EINVAL ("no command"). */
int image_defaults_argv(const struct image_defaults *d, char *const *entrypoint_override, char *const *cmd_override,
                        char ***ret, struct berth_error *err);
