/* The MMIO and port-I/O buses: vCPU exits are dispatched to the device owning the address.
 * Devices are called from vCPU threads concurrently and do their own locking. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

struct bus_device_ops {
    /* offset is relative to the device's base; len is 1, 2, 4 or 8. */
    void (*read)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
    void (*write)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);
};

struct bus_range {
    uint64_t base;
    uint64_t len;
    const struct bus_device_ops *ops;
    void *opaque;
    const char *name;
};

#define BUS_MAX_RANGES 64

struct bus {
    struct bus_range ranges[BUS_MAX_RANGES];
    size_t n_ranges;
};

/* Registers [base, base+len); overlapping ranges are -EEXIST. Done before vCPUs start. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_device_ops *ops,
                 void *opaque, const char *name);

/* Dispatches an access; -ENOENT when nothing is mapped there (reads then return all ones). */
int bus_read(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len);
int bus_write(const struct bus *bus, uint64_t addr, const uint8_t *data, uint32_t len);
