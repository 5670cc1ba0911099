/* Wiring virtio devices (lib/vmm/devices/virtio) into a machine: an MMIO slot, an irqfd for the
 * interrupt line and ioeventfds for queue notifications; then the devices the configuration asks
 * for. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/devices/virtio/virtio-dev.h"
#include "vmm/devices/virtio/virtio-devices.h"
#include "vmm/devices/virtio/virtio-mmio.h"
#include "vmm/disk/disk.h"
#include "vmm/machine.h"

/* GSIs of the IOAPIC left free by the legacy devices (4 serial, 8 RTC, 9 SCI, 12 mouse). */
static const uint32_t mmio_gsis[VMM_MAX_MMIO_DEVICES] = { 5, 6, 7, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23 };

int vmm_machine_attach_virtio(struct vmm_machine *m, struct virtio_dev *dev, const char *name,
                              struct berth_error *err)
{
    if (m->state != VMM_STATE_CREATED || m->boot.protocol != BOOT_PROTO_NONE) {
        virtio_dev_free(dev);
        return berth_error_set(err, -EBUSY, "%s: devices are attached before boot", name);
    }
    if (m->n_mmio >= VMM_MAX_MMIO_DEVICES) {
        virtio_dev_free(dev);
        return berth_error_set(err, -ENOSPC, "%s: at most %d virtio-mmio devices", name, VMM_MAX_MMIO_DEVICES);
    }
    struct vmm_mmio_device *d = &m->mmio[m->n_mmio];
    d->base = VMM_MMIO_BASE + m->n_mmio * VMM_MMIO_SLOT;
    d->gsi = mmio_gsis[m->n_mmio];
    snprintf(d->name, sizeof(d->name), "%s", name);
    /* Counted now so that vmm_machine_free() releases whatever this function got so far. */
    m->n_mmio++;
    d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->irq_fd < 0) {
        virtio_dev_free(dev);
        return berth_error_errno(err, -errno, "%s: eventfd", name);
    }
    int r = kvm_vm_add_irqfd(m->vm, d->irq_fd, d->gsi);
    if (r < 0) {
        virtio_dev_free(dev);
        return berth_error_errno(err, r, "%s: KVM_IRQFD for GSI %u", name, d->gsi);
    }
    uint16_t n_queues = dev->n_queues;
    struct irq_line irq = { .gsi = d->gsi, .trigger = vmm_eventfd_trigger, .opaque = (void *) (intptr_t) d->irq_fd };
    r = virtio_mmio_new(dev, &m->vm->mem, irq, &d->virtio, err);
    if (r < 0)
        return berth_error_prefix(err, r, "%s: ", name);
    r = bus_register(&m->vm->mmio, d->base, VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops, d->virtio, d->name);
    if (r < 0)
        return berth_error_errno(err, r, "%s: MMIO window at 0x%llx", name, (unsigned long long) d->base);
    for (uint16_t q = 0; q < n_queues && q < ARRAY_SIZE(d->notify_fd); q++) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            return berth_error_errno(err, -errno, "%s: eventfd", name);
        d->notify_fd[q] = fd;
        d->n_notify = q + 1u;
        r = kvm_vm_add_ioeventfd(m->vm, fd, d->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, false, q);
        if (r < 0)
            return berth_error_errno(err, r, "%s: KVM_IOEVENTFD for queue %u", name, q);
    }
    return 0;
}

int vmm_machine_attach_devices(struct vmm_machine *m, struct berth_error *err)
{
    const struct vmm_config *c = &m->cfg;
    char name[32];
    int r;
    for (unsigned i = 0; i < c->n_disks; i++) {
        struct disk *disk = NULL;
        r = disk_open(c->disks[i].path, c->disks[i].format, c->disks[i].read_only, &disk, err);
        if (r < 0)
            return berth_error_prefix(err, r, "disk %s: ", c->disks[i].path);
        struct virtio_dev *dev = NULL;
        char serial[21];
        snprintf(serial, sizeof(serial), "berth-disk%u", i);
        r = virtio_blk_new(disk, serial, &dev, err);
        if (r < 0)
            return berth_error_prefix(err, r, "disk %s: ", c->disks[i].path);
        snprintf(name, sizeof(name), "virtio-blk%u", i);
        if ((r = vmm_machine_attach_virtio(m, dev, name, err)) < 0)
            return r;
    }
    for (unsigned i = 0; i < c->n_nets; i++) {
        int fd = -1;
        r = virtio_net_open_tap(c->nets[i], &fd, err);
        if (r < 0)
            return berth_error_prefix(err, r, "net %s: ", c->nets[i]);
        struct virtio_dev *dev = NULL;
        r = virtio_net_new(fd, NULL, &dev, err);
        if (r < 0)
            return berth_error_prefix(err, r, "net %s: ", c->nets[i]);
        snprintf(name, sizeof(name), "virtio-net%u", i);
        if ((r = vmm_machine_attach_virtio(m, dev, name, err)) < 0)
            return r;
    }
    if (c->vsock_cid) {
        struct virtio_dev *dev = NULL;
        r = virtio_vsock_new(c->vsock_cid, c->vsock_socket, &dev, err);
        if (r < 0)
            return berth_error_prefix(err, r, "vsock %s: ", c->vsock_socket);
        if ((r = vmm_machine_attach_virtio(m, dev, "virtio-vsock", err)) < 0)
            return r;
    }
    struct virtio_dev *rng = NULL;
    r = virtio_rng_new(&rng, err);
    if (r < 0)
        return r;
    if ((r = vmm_machine_attach_virtio(m, rng, "virtio-rng", err)) < 0)
        return r;
    if (m->vcon_out_fd >= 0) {
        struct virtio_dev *con = NULL;
        r = virtio_console_new(m->vcon_in_fd, m->vcon_out_fd, &con, err);
        m->vcon_in_fd = m->vcon_out_fd = -1; /* the device owns them now, also on failure */
        if (r < 0 || (r = vmm_machine_attach_virtio(m, con, "virtio-console", err)) < 0)
            return r;
    }
    if (c->balloon) {
        struct virtio_dev *b = NULL;
        if ((r = virtio_balloon_new(&b, err)) < 0 || (r = vmm_machine_attach_virtio(m, b, "virtio-balloon", err)) < 0)
            return r;
        m->balloon = b;
    }
    return 0;
}
