/* Process security settings applied in the container's init just before execve.
 * Contract between the container lifecycle and the capability/seccomp code. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "base/error.h"

/* Validation at create time, so a bad spec fails before any process exists. */
int caps_check_spec(json_t *capabilities, struct berth_error *err);
int seccomp_check_spec(json_t *seccomp, struct berth_error *err);

/* Applies process.capabilities (bounding, effective, permitted, inheritable, ambient). The caller
 * has already switched uid/gid with PR_SET_KEEPCAPS semantics handled here. NULL drops everything.
 * Order in the container's init:  caps_keep_for_setuid();  setgroups/setresgid/setresuid;
 * caps_apply();  execve. (caps_apply re-raises the permitted set into effective, drops the
 * bounding set, sets effective/permitted/inheritable, then ambient, and clears KEEPCAPS.) */
int caps_apply(json_t *capabilities, struct berth_error *err);

/* PR_SET_KEEPCAPS: call before switching away from uid 0 so the permitted set survives it. */
int caps_keep_for_setuid(struct berth_error *err);

/* "CAP_NET_ADMIN" (case-insensitive) -> 12, or -EINVAL; and back (NULL when unknown). */
int caps_from_name(const char *name);
const char *caps_to_name(int cap);
/* Number of capabilities berth knows by name (numbers 0 .. caps_count()-1). */
int caps_count(void);

/* Builds and loads linux.seccomp (all actions, arg conditions, flags, architectures). NULL is a
 * no-op. Called after no_new_privileges is set when requested. The filter is loaded without
 * forcing no_new_privs, so without it the caller must still hold CAP_SYS_ADMIN: load it before
 * dropping capabilities in that case, and as late as possible otherwise (everything the init
 * does after this call is subject to the filter). Unknown syscall names are skipped (as runc);
 * unknown actions, operators, architectures or flags are errors naming the field. With
 * SCMP_ACT_NOTIFY rules (which need listenerPath), *ret_notify_fd receives the listener fd the
 * kernel created (close-on-exec), to be handed to the agent; otherwise it is -1. */
int seccomp_apply(json_t *seccomp, int *ret_notify_fd, struct berth_error *err);

/* True when a rule of linux.seccomp uses SCMP_ACT_NOTIFY. */
bool seccomp_uses_notify(json_t *seccomp);

/* Runtime side of linux.seccomp.listenerPath: connects to the agent's socket (AF_UNIX,
 * SOCK_STREAM), sends it the container process state (runtime-spec: ociVersion, fds
 * ["seccompFd"], pid (the process under the filter), metadata = listenerMetadata, state: the
 * container's, with its init's pid and the given status) with notify_fd as SCM_RIGHTS in the same
 * sendmsg, and closes the connection. Errors name listenerPath. */
int seccomp_notify_send(json_t *seccomp, const char *id, pid_t pid, pid_t init_pid, const char *bundle,
                        json_t *annotations, const char *status, int notify_fd, struct berth_error *err);

/* Names berth accepts, for `features`: NULL-terminated static arrays. */
extern const char *const seccomp_action_names[];
extern const char *const seccomp_operator_names[];
extern const char *const seccomp_arch_names[];
extern const char *const seccomp_flag_names[];
