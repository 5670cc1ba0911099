/* Attaching to a container: the client side of berth-monitor's attach socket (attach-proto.h),
 * used by `berth run -i/-t` and `berth attach`. The session copies the caller's input to the
 * container and its output back, puts a terminal in raw mode for a pty container (restored on
 * every return), sends the window size at start and on SIGWINCH, and recognises the detach keys. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "containers/containers.h"

#define CTR_DETACH_KEYS_DEFAULT "ctrl-p,ctrl-q"
#define CTR_DETACH_KEYS_MAX 16

/* The listening socket, bound in ctr_run_dir(id) (created), for the monitor to inherit. */
int ctr_attach_listen(const char *id, int *ret_fd, struct berth_error *err);
/* A connection to a running container's monitor. */
int ctr_attach_connect(const char *id, const char *name, int *ret_fd, struct berth_error *err);

/* "ctrl-p,ctrl-q" style (Docker's --detach-keys): comma-separated single characters or ctrl-X with
 * X one of a-z @ [ \ ] ^ _. An empty text disables detaching (*ret_n = 0). */
int ctr_parse_detach_keys(const char *text, char ret_keys[CTR_DETACH_KEYS_MAX], size_t *ret_n,
                          struct berth_error *err);

struct ctr_attach {
    int sock;
    bool tty;        /* the container has a pty */
    bool send_input; /* forward in_fd to the container */
    char detach_keys[CTR_DETACH_KEYS_MAX];
    size_t n_detach_keys;
    int in_fd, out_fd, err_fd;
    /* Kept across calls of ctr_attach_run: */
    size_t matched;  /* detach keys typed so far, held back */
    bool input_done; /* end of input read */
    /* A packet the socket did not take yet: no more input is read until it goes (backpressure
     * from the container), while its output keeps being read. */
    char pending[1 + 8192];
    size_t n_pending;
    bool resize_pending; /* a window size the socket did not take yet */
};

/* Filters input through the detach keys: copies to out (room: n + CTR_DETACH_KEYS_MAX) what is to
 * be sent, holding back a partial match across calls; *ret_detach when the whole sequence came. */
size_t ctr_attach_filter_input(struct ctr_attach *a, const char *in, size_t n, char *out, bool *ret_detach);

enum ctr_attach_result {
    CTR_ATTACH_EXITED,   /* *ret_value: the container's exit status */
    CTR_ATTACH_DETACHED, /* the detach keys were typed */
    CTR_ATTACH_SIGNALED, /* *ret_value: SIGINT, SIGTERM or SIGHUP came to us: the caller decides */
    CTR_ATTACH_CLOSED,   /* the monitor went away without an exit status */
};

/* Runs the session until one of the results above (>= 0), or -errno. Call again to go on. */
int ctr_attach_run(struct ctr_attach *a, int *ret_value, struct berth_error *err);
