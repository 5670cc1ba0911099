#include <stddef.h>

#include "oci-cli.h"

/* Sorted by name: --help prints them in this order. */
const struct oci_command oci_commands[] = {
    { "create", "create a container (its process waits for start)", cmd_create, true },
    { "delete", "delete a container and everything it holds", cmd_delete, false },
    { "exec", "run a new process inside a container", cmd_exec, true },
    { "features", "print the features this runtime supports (JSON)", cmd_features, false },
    { "kill", "send a signal to a container's init (or all its processes)", cmd_kill, false },
    { "list", "list containers", cmd_list, false },
    { "pause", "freeze every process of a container", cmd_pause, false },
    { "ps", "list the processes of a container", cmd_ps, false },
    { "resume", "thaw a paused container", cmd_resume, false },
    { "run", "create and start a container", cmd_run, true },
    { "spec", "write a default config.json", cmd_spec, false },
    { "start", "start the program of a created container", cmd_start, false },
    { "state", "print a container's state (JSON)", cmd_state, false },
    { "update", "change a container's cgroup limits", cmd_update, false },
    { NULL, NULL, NULL, false },
};
