/* Messages between the runtime (parent) and a container process it is setting up, over a
 * SOCK_SEQPACKET socketpair: one message per packet, errors travel back as text. */
#pragma once

#include <stdint.h>

#include "base/error.h"

enum sync_type {
    SYNC_GO = 1,       /* parent -> child: ids mapped (exec: cgroup joined too): set up */
    SYNC_MAPS,         /* child -> parent: write my uid/gid maps (value: unused) */
    SYNC_MAPS_DONE,    /* parent -> child */
    SYNC_PID,          /* child -> parent: value is the process that will run the container */
    SYNC_HOOKS,        /* child -> parent: run prestart/createRuntime hooks now */
    SYNC_HOOKS_DONE,   /* parent -> child */
    SYNC_READY,        /* child -> parent: set up, waiting for start (or about to exec) */
    SYNC_ERROR,        /* child -> parent: text is the message, value the -errno */
    SYNC_CGROUP,       /* parent -> init: moved into its cgroup, resources applied */
    SYNC_SECCOMP,      /* child -> parent: the seccomp notify fd (SCM_RIGHTS), for listenerPath */
    SYNC_SECCOMP_DONE, /* parent -> child: the listener has it */
};

struct sync_msg {
    uint32_t type;
    int32_t value;
    char text[BERTH_ERROR_MAX];
};

int sync_send(int fd, enum sync_type type, int value, const char *text);
/* Sends a message carrying one descriptor (SCM_RIGHTS). */
int sync_send_fd(int fd, enum sync_type type, int passfd);
/* Receives one message; EOF (the peer died) is -EPIPE. A descriptor that came with it is closed. */
int sync_recv(int fd, struct sync_msg *ret);
/* The same, handing over the descriptor that came with the message (close-on-exec; -1 if none). */
int sync_recv_fd(int fd, struct sync_msg *ret, int *ret_fd);
/* Receives one message and checks it has the expected type; SYNC_ERROR becomes the error it
 * carries (copied to err). */
int sync_expect(int fd, enum sync_type type, struct sync_msg *ret, struct berth_error *err);
/* From a child: reports err (or code) to the parent and exits. */
__attribute__((noreturn)) void sync_fail(int fd, int code, const struct berth_error *err);
