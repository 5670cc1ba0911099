#include "vmm/devices/bus.h"

#include <errno.h>
#include <string.h>

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_device_ops *ops,
                 void *opaque, const char *name)
{
    if (len == 0 || base + len < base || !ops)
        return -EINVAL;
    if (bus->n_ranges >= BUS_MAX_RANGES)
        return -ENOSPC;
    for (size_t i = 0; i < bus->n_ranges; i++) {
        const struct bus_range *r = &bus->ranges[i];
        if (base < r->base + r->len && r->base < base + len)
            return -EEXIST;
    }
    bus->ranges[bus->n_ranges++] = (struct bus_range){ base, len, ops, opaque, name };
    return 0;
}

static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, uint32_t len)
{
    for (size_t i = 0; i < bus->n_ranges; i++) {
        const struct bus_range *r = &bus->ranges[i];
        if (addr >= r->base && addr - r->base < r->len && len <= r->len - (addr - r->base))
            return r;
    }
    return NULL;
}

int bus_read(const struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len)
{
    const struct bus_range *r = bus_find(bus, addr, len);
    if (!r || !r->ops->read) {
        memset(data, 0xff, len);
        return -ENOENT;
    }
    r->ops->read(r->opaque, addr - r->base, data, len);
    return 0;
}

int bus_write(const struct bus *bus, uint64_t addr, const uint8_t *data, uint32_t len)
{
    const struct bus_range *r = bus_find(bus, addr, len);
    if (!r || !r->ops->write)
        return -ENOENT;
    r->ops->write(r->opaque, addr - r->base, data, len);
    return 0;
}
