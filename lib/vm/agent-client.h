/* The host end of the berth-agent channel (lib/sandbox/agent-proto.h): `berth vm exec` and
 * graceful stop. */
#pragma once

#include <jansson.h>

#include "base/error.h"
#include "vm/backend.h"

/* Connects to the agent of a running VM: the QEMU virtio-serial socket, or the berth-vmm vsock
 * Unix socket with "CONNECT 1024". Retries for up to timeout_ms while the guest boots. */
int vm_agent_connect(enum vm_agent_transport transport, const char *sock_path, int timeout_ms, int *ret_fd,
                     struct berth_error *err);

/* Runs request ({"args":[...], ...}) in the guest; copies in_fd to its stdin (in_fd < 0: none),
 * its stdout/stderr to out_fd/err_fd. *ret_status: the process's exit status. */
int vm_agent_exec(int chan, json_t *request, int in_fd, int out_fd, int err_fd, int *ret_status,
                  struct berth_error *err);
