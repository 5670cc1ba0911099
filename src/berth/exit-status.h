/* The exit status of `berth run` and `berth exec` when the command could not be started, as docker
 * and podman document them: 127 the command was not found, 126 it was found but cannot be executed
 * (a directory, a file without the x bit, a bad format, a working directory that does not exist
 * for exec), otherwise `fallback` (125: berth's own error). */
#pragma once

#include <errno.h>
#include <string.h>

#include "base/error.h"

static inline int cli_start_failure_status(const struct berth_error *err, int fallback)
{
    const char *m = berth_error_message(err);
    /* The runtime names the program it looked for as "exec: PROG...", or "exec PROG" when execve
     * itself failed; the code does not survive the trip from a container's monitor, the text does. */
    const char *e = strstr(m, "exec: ");
    if (e)
        return err->code == -ENOENT || strstr(e, "No such file") || strstr(e, "not found") ? 127 : 126;
    return fallback;
}
