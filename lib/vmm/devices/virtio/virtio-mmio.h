/* virtio 1.2 over MMIO (spec section 4.2, "version 2" register layout): the transport the VMM
 * maps on its bus. The transport knows registers, feature negotiation, status and queue set-up;
 * what a device does with its queues lives behind struct virtio_device_ops (virtio-dev.h), so the
 * same devices could sit behind another transport.
 *
 * How the VMM wires one device (all before the vCPUs start):
 *
 *     struct virtio_dev *dev;                        // from a constructor in virtio-devices.h
 *     virtio_blk_new(disk, "serial", &dev, err);
 *     struct virtio_mmio *vm;
 *     virtio_mmio_new(dev, &guest_mem, (struct irq_line){ .gsi = 5, .trigger = .., .opaque = .. },
 *                     &vm, err);                     // takes dev, even on failure
 *     bus_register(&mmio_bus, base, VIRTIO_MMIO_SIZE, &virtio_mmio_bus_ops, vm, "virtio-blk");
 *     // ACPI: a DSDT device _HID "LNRO0005" with Memory32Fixed(base, VIRTIO_MMIO_SIZE) and an
 *     //       edge-triggered Interrupt(gsi); virtio_mmio_device_id(vm) names it.
 *     // ioeventfd (optional, faster): KVM_IOEVENTFD on base + VIRTIO_MMIO_QUEUE_NOTIFY, 4 bytes,
 *     //       one per queue with KVM_IOEVENTFD_FLAG_DATAMATCH on the queue index; when the
 *     //       eventfd fires, the event loop calls virtio_mmio_queue_notify(vm, index). Without
 *     //       it, the vCPU's MMIO write reaches the same code through the bus.
 *     // backends: if virtio_mmio_event_fd(vm) >= 0, add it to the event loop (EPOLLIN) and call
 *     //       virtio_mmio_handle_events(vm) when it is readable. It is one epoll fd per device
 *     //       that stands for everything the device waits on (tap, console input, vsock sockets
 *     //       that come and go), so the loop never needs to know a device's fds.
 *     ...
 *     virtio_mmio_free(vm);                          // after the vCPUs and the loop stopped
 *
 * Threads: MMIO accesses (vCPU threads), virtio_mmio_queue_notify and virtio_mmio_handle_events
 * (event loop) may run concurrently; each device serialises them behind its own mutex. Interrupts
 * are raised through the irq_line (an irqfd in the VMM, a counter in unit tests) from whichever
 * thread completed the work. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "vmm/devices/bus.h"
#include "vmm/devices/irq.h"
#include "vmm/kvm/guest-memory.h"

/* Size of one device's register window (registers up to 0xff, device config from 0x100). */
#define VIRTIO_MMIO_SIZE 0x200
/* Offset of QueueNotify: the address to attach an ioeventfd to. */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050

struct virtio_dev;
struct virtio_mmio;

/* Wraps dev in an MMIO transport using mem for every guest access and irq for its interrupt.
 * Takes ownership of dev (it is freed on failure too). */
int virtio_mmio_new(struct virtio_dev *dev, const struct guest_memory *mem, struct irq_line irq,
                    struct virtio_mmio **ret, struct berth_error *err);

/* Frees the transport and its device (closing the device's backends). NULL is fine. */
void virtio_mmio_free(struct virtio_mmio *vm);

/* The bus callbacks; opaque is the struct virtio_mmio *. */
extern const struct bus_device_ops virtio_mmio_bus_ops;

/* The ioeventfd path: the guest wrote queue_index to QueueNotify. Out-of-range indexes and
 * queues that are not ready are ignored. */
void virtio_mmio_queue_notify(struct virtio_mmio *vm, uint32_t queue_index);

/* One fd (an epoll set) that becomes readable when a backend of the device has work (tap frame,
 * console input, vsock connection or data); -1 when the device has no backend fds (blk, rng). */
int virtio_mmio_event_fd(const struct virtio_mmio *vm);

/* Services whatever the backends have ready; never blocks. */
void virtio_mmio_handle_events(struct virtio_mmio *vm);

/* Device identity, for ACPI names and logs: VIRTIO_ID_* and a short name ("blk", "net", ...). */
uint32_t virtio_mmio_device_id(const struct virtio_mmio *vm);
const char *virtio_mmio_device_name(const struct virtio_mmio *vm);
/* The device behind the transport (for device-specific controls such as the balloon target). */
struct virtio_dev *virtio_mmio_device(struct virtio_mmio *vm);

/* Device status as the driver last wrote it (VIRTIO_STATUS_* bits), for metrics and tests. */
uint32_t virtio_mmio_status(const struct virtio_mmio *vm);

/* Register offsets (spec 4.2.2). */
enum {
    VIRTIO_MMIO_MAGIC_VALUE = 0x000,
    VIRTIO_MMIO_VERSION = 0x004,
    VIRTIO_MMIO_DEVICE_ID = 0x008,
    VIRTIO_MMIO_VENDOR_ID = 0x00c,
    VIRTIO_MMIO_DEVICE_FEATURES = 0x010,
    VIRTIO_MMIO_DEVICE_FEATURES_SEL = 0x014,
    VIRTIO_MMIO_DRIVER_FEATURES = 0x020,
    VIRTIO_MMIO_DRIVER_FEATURES_SEL = 0x024,
    VIRTIO_MMIO_QUEUE_SEL = 0x030,
    VIRTIO_MMIO_QUEUE_NUM_MAX = 0x034,
    VIRTIO_MMIO_QUEUE_NUM = 0x038,
    VIRTIO_MMIO_QUEUE_READY = 0x044,
    VIRTIO_MMIO_INTERRUPT_STATUS = 0x060,
    VIRTIO_MMIO_INTERRUPT_ACK = 0x064,
    VIRTIO_MMIO_STATUS = 0x070,
    VIRTIO_MMIO_QUEUE_DESC_LOW = 0x080,
    VIRTIO_MMIO_QUEUE_DESC_HIGH = 0x084,
    VIRTIO_MMIO_QUEUE_DRIVER_LOW = 0x090,
    VIRTIO_MMIO_QUEUE_DRIVER_HIGH = 0x094,
    VIRTIO_MMIO_QUEUE_DEVICE_LOW = 0x0a0,
    VIRTIO_MMIO_QUEUE_DEVICE_HIGH = 0x0a4,
    VIRTIO_MMIO_SHM_SEL = 0x0ac,
    VIRTIO_MMIO_SHM_LEN_LOW = 0x0b0,
    VIRTIO_MMIO_SHM_LEN_HIGH = 0x0b4,
    VIRTIO_MMIO_SHM_BASE_LOW = 0x0b8,
    VIRTIO_MMIO_SHM_BASE_HIGH = 0x0bc,
    VIRTIO_MMIO_QUEUE_RESET = 0x0c0,
    VIRTIO_MMIO_CONFIG_GENERATION = 0x0fc,
    VIRTIO_MMIO_CONFIG = 0x100,
};

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x48545242u /* "BRTH" */

/* InterruptStatus bits. */
#define VIRTIO_MMIO_INT_VRING 0x1u
#define VIRTIO_MMIO_INT_CONFIG 0x2u
