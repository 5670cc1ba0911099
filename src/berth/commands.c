#include "commands.h"

#include <stddef.h>

/* Keep sorted by name: `berth --help` prints them in this order. */
const struct berth_command berth_commands[] = {
    { "disk", "create, inspect, convert, resize and check disk images", cmd_disk },
    { "registry", "run an OCI image registry (serve, gc)", cmd_registry },
    { "version", "print berth's version", cmd_version },
    { NULL, NULL, NULL },
};
