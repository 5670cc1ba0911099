/* The attach session as berth run -i/-t and berth attach drive it (cmd-attach.c). */
#pragma once

#include <jansson.h>

#include "containers/attach.h"

struct store;

#define ATTACH_CLI_DETACHED (-1)

/* Runs the session to its end: SIGINT and SIGTERM go to the container, SIGHUP (our terminal went
 * away) detaches. Returns the container's exit status, ATTACH_CLI_DETACHED, or 125 after printing
 * an error. */
int attach_cli_session(struct store *s, struct ctr_record *rec, struct ctr_attach *a, const char *verb);

/* Fills the terminal-facing part of a from the container's spec: pty or not, input forwarded
 * (interactive and wanted), our stdio. */
void attach_cli_setup(struct ctr_attach *a, const struct ctr_record *rec, bool want_input);

/* berth start -a [-i]: starts the container connected to its attach socket, then the session;
 * returns berth's exit status. */
int attach_cli_start(const char *what, bool interactive, const char *detach_keys);

/* berth exec -it: the process runs under a monitor of its own (ctr_exec_monitored) and a (detach
 * keys parsed, the rest zero) is connected to it as berth attach is; SIGINT, SIGTERM and SIGHUP go
 * to the process. Returns its exit status, 0 after the detach keys (it goes on), or 125/126/127
 * after printing an error. */
int attach_cli_exec(struct ctr_attach *a, struct ctr_record *rec, json_t *args, json_t *env, const char *cwd,
                    const char *user);
