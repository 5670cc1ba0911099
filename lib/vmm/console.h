/* The guest console's host side, shared by the UART and virtio-console: where output goes
 * (stdout, a file, the client of a Unix socket berth-vmm listens on, or nowhere) plus an optional
 * log that gets everything, and where input comes from (stdin, put in raw mode when it is a
 * terminal, or the socket's client).
 *
 * Output: with a socket or a log, the devices write into a pipe (the "hub") that the event loop
 * drains and fans out (log first, then the client; a client that does not keep up loses bytes,
 * the log never does). Otherwise they write straight to stdout or the file.
 * Input: the event loop reads it and hands it to both devices; virtio-console reads its share
 * from a pipe (vc_in), the UART through serial_push_input. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>

#include "base/error.h"
#include "vmm/config.h"

/* Typed on a raw terminal: Ctrl-A x stops the VM, Ctrl-A Ctrl-A sends one Ctrl-A. */
#define VMM_CONSOLE_ESCAPE 0x01

struct vmm_console {
    enum vmm_console_kind kind;
    int out_fd;     /* stdout or the file (-1: none) */
    int in_fd;      /* stdin (-1: none) */
    int listen_fd;  /* socket console */
    int client_fd;  /* the socket console's current client (-1: none) */
    int log_fd;     /* --console-log (-1: none) */
    int hub_r, hub_w;     /* output pipe, when there is a socket or a log */
    int vc_in_r, vc_in_w; /* virtio-console's input pipe (-1: no virtio-console) */
    char *socket_path;
    bool raw;             /* stdin is a terminal we put in raw mode */
    bool escape_pending;  /* the last byte typed was the escape */
    struct termios saved;
};

int vmm_console_open(struct vmm_console *c, const struct vmm_config *cfg, struct berth_error *err);
/* Where the devices write the guest's output (-1: nowhere). */
int vmm_console_guest_fd(const struct vmm_console *c);
/* Accepts a client on the socket console, replacing the previous one; returns its fd. */
int vmm_console_accept(struct vmm_console *c);
/* Drops the socket client (it hung up). */
void vmm_console_drop_client(struct vmm_console *c);
/* Moves what the devices wrote into the hub to the log, stdout/file and the client. */
void vmm_console_drain(struct vmm_console *c);
/* Applies the escape sequence to bytes typed on a raw terminal, in place; returns the bytes left
 * for the guest, or -1 when the user asked to stop the VM (Ctrl-A x). Without a raw terminal
 * the bytes pass untouched. */
ssize_t vmm_console_filter_input(struct vmm_console *c, uint8_t *buf, size_t len);
void vmm_console_close(struct vmm_console *c);

/* Puts the terminal on stdin back the way berth-vmm found it; async-signal-safe (for handlers of
 * fatal signals). A no-op unless vmm_console_open made it raw. */
void vmm_console_restore_tty(void);

/* A listening, non-blocking, close-on-exec Unix stream socket at path. */
int vmm_unix_listen(const char *path, struct berth_error *err);
