/* Containers as users see them (`berth run`, `berth ps`, ...), on top of the OCI runtime library
 * (lib/runtime) and the image store. Records live in the state database (module "containers");
 * each container's bundle, overlay upper/work dirs, log and exit file live in
 * $BERTH_ROOT/containers/<id>/; the runtime's own state under $BERTH_RUNTIME_DIR/oci.
 *
 * While a container runs, a tiny monitor (berth-monitor, static, well under 1 MiB RSS) is its
 * parent through PR_SET_CHILD_SUBREAPER: it writes the container's output to the log with
 * timestamps and records the exit status and time in exit.json, so they are known even when no
 * berth command was running. berth commands fold exit.json into the database when they look. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

struct store;

#define CTR_NAME_MAX 63

struct ctr_record {
    char id[65];
    char name[CTR_NAME_MAX + 1];
    char image[256];          /* the reference given */
    char image_digest[80];
    json_t *spec;             /* the run options (for restart and inspect) */
    char state[16];           /* created, running, paused, exited */
    pid_t monitor_pid;
    int exit_code;            /* -1 unknown */
    int64_t created, started, finished;
    char restart[16];         /* no, on-failure, always */
    int restarts;
    bool auto_remove;
};

int ctr_store_open(struct store **ret, struct berth_error *err);
/* Inserts (id generated); a taken name is -EEXIST "the container name X is already in use". */
int ctr_record_insert(struct store *s, struct ctr_record *rec, struct berth_error *err);
/* By name, id, or unambiguous id prefix. */
int ctr_record_find(struct store *s, const char *what, struct ctr_record *ret, struct berth_error *err);
int ctr_record_list(struct store *s, struct ctr_record **ret, size_t *ret_n, struct berth_error *err);
int ctr_record_update(struct store *s, const struct ctr_record *rec, struct berth_error *err);
/* The run options only (berth network connect|disconnect change a container's networks). */
int ctr_record_update_spec(struct store *s, const struct ctr_record *rec, struct berth_error *err);
int ctr_record_delete(struct store *s, const char *id, struct berth_error *err);
void ctr_record_clear(struct ctr_record *rec);
void ctr_record_list_free(struct ctr_record *list, size_t n);
bool ctr_name_is_valid(const char *name);
json_t *ctr_record_to_json(const struct ctr_record *rec);

char *ctr_dir(const char *id);        /* $BERTH_ROOT/containers/<id> */
char *ctr_oci_root(void);             /* $BERTH_RUNTIME_DIR/oci */
char *ctr_run_dir(const char *id);    /* $BERTH_RUNTIME_DIR/containers/<id>: the attach socket */

/* Folds what the monitor recorded (exit.json) and the runtime state into rec and the database. */
int ctr_refresh(struct store *s, struct ctr_record *rec, struct berth_error *err);
