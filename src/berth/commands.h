/* The berth CLI's command table: one entry per verb, one file per verb (cmd-<verb>.c). */
#pragma once

#include <stddef.h>

struct berth_command {
    const char *name;
    const char *summary;
    /* argv[0] is the verb itself; returns the process exit code. */
    int (*run)(int argc, char **argv);
};

extern const struct berth_command berth_commands[];

int cmd_build(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_disk(int argc, char **argv);
int cmd_login(int argc, char **argv);
int cmd_logout(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_registry(int argc, char **argv);
int cmd_image(int argc, char **argv);
int cmd_images(int argc, char **argv);
int cmd_kernel(int argc, char **argv);
int cmd_network(int argc, char **argv);
int cmd_ctr_attach(int argc, char **argv);
int cmd_ctr_container(int argc, char **argv);
int cmd_ctr_container_exited(int argc, char **argv);
int cmd_ctr_create(int argc, char **argv);
/* start, stop, restart, kill, rm, pause, unpause, wait, inspect, logs: argv[0] picks the verb. */
int cmd_ctr_each(int argc, char **argv);
int cmd_ctr_exec(int argc, char **argv);
int cmd_ctr_ps(int argc, char **argv);
int cmd_ctr_run(int argc, char **argv);
int cmd_ctr_stats(int argc, char **argv);
int cmd_ctr_top(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_vm(int argc, char **argv);

