/* A 16550A-compatible UART (8250 family) at COM1: enough of the register set for Linux's 8250
 * driver (including its loopback probe) and earlyprintk. Output goes to an fd; input is pushed
 * by the event loop. The interrupt is an edge on irq each time a condition becomes pending. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/devices/bus.h"
#include "vmm/devices/irq.h"

#define SERIAL_COM1_BASE 0x3f8
#define SERIAL_COM1_IRQ 4
#define SERIAL_FIFO_SIZE 64

struct serial {
    pthread_mutex_t lock;
    uint8_t ier, iir_thre_pending, lcr, mcr, lsr_extra, msr, scr, dll, dlm, fcr;
    uint8_t rx[SERIAL_FIFO_SIZE];
    unsigned rx_head, rx_len;
    int out_fd;          /* -1: output dropped */
    struct irq_line irq;
    uint64_t tx_bytes, rx_bytes;
    bool seen_output;
    /* Called (outside the lock) on the first byte written by the guest, for the first-byte metric. */
    void (*on_first_output)(void *opaque);
    void *opaque;
};

extern const struct bus_device_ops serial_ops;

void serial_init(struct serial *s, int out_fd, struct irq_line irq);
void serial_destroy(struct serial *s);

/* Redirects output (a socket console's new client); -1 drops it. */
void serial_set_output(struct serial *s, int out_fd);

/* Queues bytes typed by the user; returns how many fit in the FIFO. */
size_t serial_push_input(struct serial *s, const uint8_t *data, size_t len);

/* Room left in the receive FIFO (the event loop stops reading input when it is 0). */
size_t serial_input_room(struct serial *s);
