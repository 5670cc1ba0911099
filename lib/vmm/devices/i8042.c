#include <string.h>

#include "vmm/devices/legacy.h"

#define I8042_CMD_RESET 0xfe

static void i8042_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    /* Status 0: output buffer empty, input buffer empty: no keyboard ever answers. */
    memset(data, 0, len);
}

static void i8042_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    struct i8042 *k = opaque;
    /* The device spans 0x60-0x64; only the command port's reset pulse matters. */
    if (offset == I8042_CMD_PORT - I8042_DATA_PORT && data[0] == I8042_CMD_RESET && k->sink.event)
        k->sink.event(k->sink.opaque, POWER_EVENT_REBOOT, 0);
}

const struct bus_device_ops i8042_ops = { .read = i8042_read, .write = i8042_write };
