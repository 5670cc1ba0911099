#include "commands.h"

#include <stddef.h>

/* Keep sorted by name: `berth --help` prints them in this order. */
const struct berth_command berth_commands[] = {
    { "build", "build an image from a Containerfile", cmd_build },
    { "container", "manage containers (prune)", cmd_ctr_container },
    { "container-exited", "(internal: run by berth-monitor)", cmd_ctr_container_exited },
    { "create", "create a container from an image", cmd_ctr_create },
    { "disk", "create, inspect, convert, resize and check disk images", cmd_disk },
    { "exec", "run a command in a running container", cmd_ctr_exec },
    { "image", "manage images (import, export, ls, inspect, tag, rm, prune, history)", cmd_image },
    { "image", "manage images (import, export, ls, inspect, tag, rm, prune, history)", cmd_image },
    { "images", "list images (berth image ls)", cmd_images },
    { "images", "list images (berth image ls)", cmd_images },
    { "inspect", "show containers' configuration and state", cmd_ctr_inspect },
    { "kernel", "prepare guest kernels and berth's initramfs", cmd_kernel },
    { "kill", "send a signal to containers", cmd_ctr_kill },
    { "login", "store credentials for a registry", cmd_login },
    { "logout", "forget credentials for a registry", cmd_logout },
    { "logs", "print a container's output", cmd_ctr_logs },
    { "network", "manage networks (bridge, addresses, DNS, published ports)", cmd_network },
    { "pause", "freeze containers", cmd_ctr_pause },
    { "ps", "list containers", cmd_ctr_ps },
    { "pull", "download an image from a registry", cmd_pull },
    { "push", "upload an image to a registry", cmd_push },
    { "registry", "run an OCI image registry (serve, gc)", cmd_registry },
    { "restart", "restart containers", cmd_ctr_restart },
    { "rm", "remove containers", cmd_ctr_rm },
    { "run", "run a container from an image", cmd_ctr_run },
    { "start", "start containers", cmd_ctr_start },
    { "stop", "stop containers", cmd_ctr_stop },
    { "unpause", "thaw containers", cmd_ctr_unpause },
    { "version", "print berth's version", cmd_version },
    { "vm", "manage microVMs (create, start, stop, exec, clone, ...)", cmd_vm },
    { "wait", "wait for containers to exit", cmd_ctr_wait },
    { NULL, NULL, NULL },
};
