/* The serial console's host side: stdio, a file (output only), a Unix socket berth-vmm listens
 * on (one client at a time: output to it, input from it), or none. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "vmm/config.h"

struct vmm_console {
    enum vmm_console_kind kind;
    int out_fd;     /* what the UART writes to (-1: nothing yet) */
    int in_fd;      /* input to poll (-1: none) */
    int listen_fd;  /* socket console */
    char *socket_path;
};

int vmm_console_open(struct vmm_console *c, const struct vmm_config *cfg, struct berth_error *err);
/* Accepts a client on the socket console, replacing the previous one; returns its fd. */
int vmm_console_accept(struct vmm_console *c);
void vmm_console_close(struct vmm_console *c);

/* A listening, non-blocking, close-on-exec Unix stream socket at path. */
int vmm_unix_listen(const char *path, struct berth_error *err);
