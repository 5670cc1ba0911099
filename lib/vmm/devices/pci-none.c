#include <string.h>

#include "vmm/devices/legacy.h"

/* "No device": the host bridge itself is absent, so probing finds no PCI bus at all. */
static void pci_none_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    memset(data, 0xff, len);
}

static void pci_none_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
}

const struct bus_device_ops pci_none_ops = { .read = pci_none_read, .write = pci_none_write };
