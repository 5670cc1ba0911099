/* virtio-mmio version 2 transport (spec 4.2.2): registers, feature negotiation, status machine and
 * queue configuration. Device logic sits behind dev->ops; every entry point takes dev->lock. */
#include "vmm/devices/virtio/virtio-mmio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/devices/virtio/virtio-dev.h"
#include "vmm/devices/virtio/virtio-devices.h"

struct virtio_mmio {
    struct virtio_dev *dev;
    uint32_t device_features_sel;
    uint32_t driver_features_sel;
    uint32_t queue_sel;
    uint32_t shm_sel;
};

int virtio_mmio_new(struct virtio_dev *dev, const struct guest_memory *mem, struct irq_line irq,
                    struct virtio_mmio **ret, struct berth_error *err)
{
    struct virtio_mmio *vm = calloc(1, sizeof(*vm));
    if (!vm) {
        virtio_dev_free(dev);
        return berth_error_set(err, -ENOMEM, "virtio-mmio: out of memory");
    }
    dev->mem = mem;
    dev->irq = irq;
    vm->dev = dev;
    *ret = vm;
    return 0;
}

void virtio_mmio_free(struct virtio_mmio *vm)
{
    if (!vm)
        return;
    virtio_dev_free(vm->dev);
    free(vm);
}

static struct virtq *selected_queue(struct virtio_mmio *vm)
{
    return vm->queue_sel < vm->dev->n_queues ? &vm->dev->queues[vm->queue_sel] : NULL;
}

static void device_reset(struct virtio_dev *dev)
{
    if (dev->ops->reset)
        dev->ops->reset(dev);
    for (uint16_t i = 0; i < dev->n_queues; i++)
        virtq_reset(&dev->queues[i], dev->queues[i].max_size);
    dev->driver_features = 0;
    dev->status = 0;
    __atomic_store_n(&dev->isr, 0, __ATOMIC_SEQ_CST);
    dev->activated = false;
}

static void activate(struct virtio_dev *dev)
{
    for (uint16_t i = 0; i < dev->n_queues; i++) {
        struct virtq *q = &dev->queues[i];
        if (q->broken) {
            virtio_dev_set_broken(dev);
            return;
        }
    }
    dev->activated = true;
    if (dev->ops->activate && dev->ops->activate(dev) < 0) {
        virtio_dev_set_broken(dev);
        return;
    }
    /* Buffers the driver queued before DRIVER_OK are processed now. */
    for (uint16_t i = 0; i < dev->n_queues; i++)
        if (dev->queues[i].ready && virtio_dev_live(dev) && dev->ops->queue_notify)
            dev->ops->queue_notify(dev, i);
}

static void write_status(struct virtio_dev *dev, uint32_t v)
{
    if (v == 0) {
        device_reset(dev);
        return;
    }
    uint32_t old = dev->status;
    /* Only reset clears bits (spec 2.1.2); NEEDS_RESET belongs to the device. */
    v = (v & ~VIRTIO_STATUS_NEEDS_RESET) | old;
    uint32_t added = v & ~old;
    if (added & VIRTIO_STATUS_FEATURES_OK) {
        bool subset = (dev->driver_features & ~dev->device_features) == 0;
        bool v1 = dev->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1);
        bool ok = subset && v1 && (old & VIRTIO_STATUS_DRIVER) &&
                  (!dev->ops->features_ok || dev->ops->features_ok(dev, dev->driver_features));
        if (!ok) {
            /* The driver re-reads Status, sees FEATURES_OK missing and gives up (spec 3.1.1). */
            v &= ~VIRTIO_STATUS_FEATURES_OK;
            added &= ~VIRTIO_STATUS_FEATURES_OK;
        }
    }
    if ((added & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FEATURES_OK)) {
        v &= ~VIRTIO_STATUS_DRIVER_OK;
        added &= ~VIRTIO_STATUS_DRIVER_OK;
    }
    dev->status = v;
    if ((added & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_NEEDS_RESET))
        activate(dev);
}

static void queue_ready(struct virtio_dev *dev, struct virtq *q, uint32_t v)
{
    if (v == 0) {
        q->ready = false;
        return;
    }
    if (q->ready)
        return;
    if (virtq_enable(q, dev->mem, virtio_dev_has(dev, VIRTIO_F_EVENT_IDX),
                     virtio_dev_has(dev, VIRTIO_F_INDIRECT_DESC)) < 0) {
        /* Sizes or ring addresses outside guest memory: nothing sane can follow. */
        q->broken = true;
        virtio_dev_set_broken(dev);
    }
}

static void set_half(uint64_t *field, bool high, uint32_t v)
{
    if (high)
        *field = (*field & 0xffffffffull) | (uint64_t) v << 32;
    else
        *field = (*field & ~0xffffffffull) | v;
}

static uint32_t read_reg(struct virtio_mmio *vm, uint64_t off)
{
    struct virtio_dev *dev = vm->dev;
    struct virtq *q = selected_queue(vm);
    switch (off) {
    case VIRTIO_MMIO_MAGIC_VALUE:
        return VIRTIO_MMIO_MAGIC;
    case VIRTIO_MMIO_VERSION:
        return 2;
    case VIRTIO_MMIO_DEVICE_ID:
        return dev->ops->device_id;
    case VIRTIO_MMIO_VENDOR_ID:
        return VIRTIO_MMIO_VENDOR;
    case VIRTIO_MMIO_DEVICE_FEATURES:
        return vm->device_features_sel < 2 ? (uint32_t) (dev->device_features >> (32 * vm->device_features_sel)) : 0;
    case VIRTIO_MMIO_QUEUE_NUM_MAX:
        return q ? q->max_size : 0;
    case VIRTIO_MMIO_QUEUE_READY:
        return q ? q->ready : 0;
    case VIRTIO_MMIO_INTERRUPT_STATUS:
        return __atomic_load_n(&dev->isr, __ATOMIC_SEQ_CST);
    case VIRTIO_MMIO_STATUS:
        return dev->status;
    case VIRTIO_MMIO_SHM_LEN_LOW:
    case VIRTIO_MMIO_SHM_LEN_HIGH:
        /* No shared memory regions: a length of all ones says the region does not exist. */
        return 0xffffffffu;
    case VIRTIO_MMIO_CONFIG_GENERATION:
        return dev->config_generation;
    default:
        return 0;
    }
}

static void write_reg(struct virtio_mmio *vm, uint64_t off, uint32_t v)
{
    struct virtio_dev *dev = vm->dev;
    struct virtq *q = selected_queue(vm);
    /* Queue registers may only change while the queue is disabled and the driver not yet live. */
    bool q_writable = q && !q->ready && !(dev->status & VIRTIO_STATUS_DRIVER_OK);
    switch (off) {
    case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
        vm->device_features_sel = v;
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES:
        if (vm->driver_features_sel < 2 && !(dev->status & VIRTIO_STATUS_FEATURES_OK))
            set_half(&dev->driver_features, vm->driver_features_sel == 1, v);
        break;
    case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
        vm->driver_features_sel = v;
        break;
    case VIRTIO_MMIO_QUEUE_SEL:
        vm->queue_sel = v;
        break;
    case VIRTIO_MMIO_QUEUE_NUM:
        if (q_writable)
            q->size = v > 0xffff ? 0 : (uint16_t) v; /* checked when the queue is made ready */
        break;
    case VIRTIO_MMIO_QUEUE_READY:
        if (q && (dev->status & VIRTIO_STATUS_FEATURES_OK) && !(dev->status & VIRTIO_STATUS_NEEDS_RESET))
            queue_ready(dev, q, v);
        break;
    case VIRTIO_MMIO_QUEUE_NOTIFY:
        if (v < dev->n_queues && virtio_dev_live(dev) && dev->queues[v].ready && dev->ops->queue_notify)
            dev->ops->queue_notify(dev, (uint16_t) v);
        break;
    case VIRTIO_MMIO_INTERRUPT_ACK:
        __atomic_and_fetch(&dev->isr, ~v, __ATOMIC_SEQ_CST);
        break;
    case VIRTIO_MMIO_STATUS:
        write_status(dev, v);
        break;
    case VIRTIO_MMIO_QUEUE_DESC_LOW:
    case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        if (q_writable)
            set_half(&q->desc_addr, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
    case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
        if (q_writable)
            set_half(&q->driver_addr, off == VIRTIO_MMIO_QUEUE_DRIVER_HIGH, v);
        break;
    case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
    case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
        if (q_writable)
            set_half(&q->device_addr, off == VIRTIO_MMIO_QUEUE_DEVICE_HIGH, v);
        break;
    case VIRTIO_MMIO_SHM_SEL:
        vm->shm_sel = v;
        break;
    default:
        /* Read-only and unknown registers: writes are ignored. */
        break;
    }
}

static void mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    struct virtio_mmio *vm = opaque;
    struct virtio_dev *dev = vm->dev;
    memset(data, 0, len);
    pthread_mutex_lock(&dev->lock);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t c = offset - VIRTIO_MMIO_CONFIG;
        if (dev->config && c < dev->config_size && len <= dev->config_size - c)
            memcpy(data, dev->config + c, len);
    } else if (len == 4 && offset % 4 == 0) {
        /* Registers are 32-bit wide and accessed as such (spec 4.2.2.2). */
        uint32_t v = read_reg(vm, offset);
        memcpy(data, &v, 4);
    }
    pthread_mutex_unlock(&dev->lock);
}

static void mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    struct virtio_mmio *vm = opaque;
    struct virtio_dev *dev = vm->dev;
    pthread_mutex_lock(&dev->lock);
    if (offset >= VIRTIO_MMIO_CONFIG) {
        uint64_t c = offset - VIRTIO_MMIO_CONFIG;
        if (dev->config && c < dev->config_size && len <= dev->config_size - c && dev->ops->config_write)
            dev->ops->config_write(dev, (uint32_t) c, data, len);
    } else if (len == 4 && offset % 4 == 0) {
        uint32_t v;
        memcpy(&v, data, 4);
        write_reg(vm, offset, v);
    }
    pthread_mutex_unlock(&dev->lock);
}

const struct bus_device_ops virtio_mmio_bus_ops = {
    .read = mmio_read,
    .write = mmio_write,
};

void virtio_mmio_queue_notify(struct virtio_mmio *vm, uint32_t queue_index)
{
    uint32_t v = queue_index;
    mmio_write(vm, VIRTIO_MMIO_QUEUE_NOTIFY, (const uint8_t *) &v, 4);
}

int virtio_mmio_event_fd(const struct virtio_mmio *vm)
{
    return vm->dev->epoll_fd;
}

void virtio_mmio_handle_events(struct virtio_mmio *vm)
{
    struct virtio_dev *dev = vm->dev;
    pthread_mutex_lock(&dev->lock);
    if (dev->ops->handle_events)
        dev->ops->handle_events(dev);
    pthread_mutex_unlock(&dev->lock);
}

uint32_t virtio_mmio_device_id(const struct virtio_mmio *vm)
{
    return vm->dev->ops->device_id;
}

const char *virtio_mmio_device_name(const struct virtio_mmio *vm)
{
    return vm->dev->ops->name;
}

struct virtio_dev *virtio_mmio_device(struct virtio_mmio *vm)
{
    return vm->dev;
}

uint32_t virtio_mmio_status(const struct virtio_mmio *vm)
{
    return vm->dev->status;
}
