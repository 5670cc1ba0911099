/* berth-oci: runc's command line over lib/runtime. One file per verb (cmd-<verb>.c). */
#pragma once

#include <stdbool.h>

#include "base/error.h"

struct oci_globals {
    const char *root;
    const char *log;
    const char *log_format;
    bool debug;
    bool systemd_cgroup;
};

extern struct oci_globals oci_globals;

struct oci_command {
    const char *name;
    const char *summary;
    /* argv[0] is the verb; returns the exit code. */
    int (*run)(int argc, char **argv);
    bool sealed; /* runs container code: re-executed from a sealed copy first */
};

extern const struct oci_command oci_commands[];

/* Prints "berth-oci: <message>" on stderr (and to --log); returns 1. */
int cli_fail(const struct berth_error *err, int code);
int cli_failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Exactly one positional argument (the container id) left after options; else a usage error. */
const char *cli_one_id(int argc, char **argv, const char *verb);
/* --systemd-cgroup needs systemd; a clear error when it is not running. */
int cli_check_systemd(void);

int cmd_create(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_kill(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_pause(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_spec(int argc, char **argv);
int cmd_start(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_update(int argc, char **argv);
