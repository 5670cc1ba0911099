#include "commands.h"

#include <stddef.h>

/* Keep sorted by name: `berth --help` prints them in this order. */
const struct berth_command berth_commands[] = {
    { "disk", "create, inspect, convert, resize and check disk images", cmd_disk },
    { "image", "manage images (import, export, ls, inspect, tag, rm, prune, history)", cmd_image },
    { "images", "list images (berth image ls)", cmd_images },
    { "kernel", "prepare guest kernels and berth's initramfs", cmd_kernel },
    { "login", "store credentials for a registry", cmd_login },
    { "logout", "forget credentials for a registry", cmd_logout },
    { "network", "manage networks (bridge, addresses, DNS, published ports)", cmd_network },
    { "pull", "download an image from a registry", cmd_pull },
    { "push", "upload an image to a registry", cmd_push },
    { "registry", "run an OCI image registry (serve, gc)", cmd_registry },
    { "image", "manage images (import, export, ls, inspect, tag, rm, prune, history)", cmd_image },
    { "images", "list images (berth image ls)", cmd_images },
    { "version", "print berth's version", cmd_version },
    { "vm", "manage microVMs (create, start, stop, exec, clone, ...)", cmd_vm },
    { NULL, NULL, NULL },
};
