/* The attach protocol between berth-monitor (server, on the container's attach socket) and berth
 * (`run -i/-t`, `attach`). Header only and libc-free so the static monitor includes it too.
 *
 * The socket is SOCK_SEQPACKET: one packet is one message, its first byte the type.
 *   client -> monitor: 'i' bytes   input for the container (pty or stdin pipe)
 *                      'e'         end of input (closes the stdin pipe; ignored with a pty)
 *                      'w' rows cols (two host-order uint16_t): window size of the pty
 *   monitor -> client: '1' bytes   output (stdout; everything with a pty)
 *                      '2' bytes   stderr
 *                      'x' status  (int32_t, host order) the container exited; the monitor closes
 *                                  the connection right after
 * A client that disconnects (detach keys, killed) changes nothing for the container. */
#pragma once

#define ATTACH_MSG_INPUT 'i'
#define ATTACH_MSG_EOF 'e'
#define ATTACH_MSG_WINSIZE 'w'
#define ATTACH_MSG_STDOUT '1'
#define ATTACH_MSG_STDERR '2'
#define ATTACH_MSG_EXIT 'x'

/* Largest payload of one packet (the type byte comes on top). */
#define ATTACH_MSG_MAX 8192
/* Clients served at once by one monitor. */
#define ATTACH_MAX_CLIENTS 8
