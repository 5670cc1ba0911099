#include <string.h>

#include "vmm/devices/legacy.h"

static void debug_exit_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    struct debug_exit *d = opaque;
    uint32_t v = 0;
    memcpy(&v, data, len > 4 ? 4 : len);
    if (d->sink.event)
        d->sink.event(d->sink.opaque, POWER_EVENT_DEBUG_EXIT, (int) (((v << 1) | 1) & 0xff));
}

static void debug_exit_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    memset(data, 0, len);
}

const struct bus_device_ops debug_exit_ops = { .read = debug_exit_read, .write = debug_exit_write };
