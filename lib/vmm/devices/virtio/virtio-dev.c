/* The generic half of every virtio device: initialisation, backend epoll set, interrupts. */
#include "vmm/devices/virtio/virtio-dev.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "vmm/devices/virtio/virtio-devices.h"
#include "vmm/devices/virtio/virtio-mmio.h"

int virtio_dev_init(struct virtio_dev *dev, const struct virtio_device_ops *ops, void *priv,
                    uint16_t n_queues, uint16_t queue_max, uint64_t features)
{
    /* ops and priv first: virtio_dev_free must be able to release priv whatever fails next. */
    *dev = (struct virtio_dev){
        .ops = ops,
        .priv = priv,
        .device_features = features | VIRTIO_BIT(VIRTIO_F_VERSION_1) |
                           VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX),
        .epoll_fd = -1,
    };
    int r = -pthread_mutex_init(&dev->lock, NULL);
    if (r < 0)
        return r;
    if (n_queues > VIRTIO_MAX_QUEUES || queue_max == 0 || (queue_max & (queue_max - 1)))
        return -EINVAL;
    dev->n_queues = n_queues;
    for (uint16_t i = 0; i < n_queues; i++)
        virtq_reset(&dev->queues[i], queue_max);
    return 0;
}

void virtio_dev_free(struct virtio_dev *dev)
{
    if (!dev)
        return;
    if (dev->ops && dev->ops->free)
        dev->ops->free(dev);
    if (dev->epoll_fd >= 0)
        close(dev->epoll_fd);
    pthread_mutex_destroy(&dev->lock);
    free(dev);
}

int virtio_dev_events_init(struct virtio_dev *dev)
{
    if (dev->epoll_fd < 0) {
        dev->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (dev->epoll_fd < 0)
            return -errno;
    }
    return 0;
}

static int watch_ctl(struct virtio_dev *dev, int op, int fd, uint32_t events, uint64_t data)
{
    int r = virtio_dev_events_init(dev);
    if (r < 0)
        return r;
    struct epoll_event ev = { .events = events, .data.u64 = data };
    return epoll_ctl(dev->epoll_fd, op, fd, &ev) < 0 ? -errno : 0;
}

int virtio_dev_watch(struct virtio_dev *dev, int fd, uint32_t events, uint64_t data)
{
    int r = watch_ctl(dev, EPOLL_CTL_ADD, fd, events, data);
    if (r == -EEXIST)
        r = watch_ctl(dev, EPOLL_CTL_MOD, fd, events, data);
    return r;
}

int virtio_dev_rewatch(struct virtio_dev *dev, int fd, uint32_t events, uint64_t data)
{
    int r = watch_ctl(dev, EPOLL_CTL_MOD, fd, events, data);
    if (r == -ENOENT)
        r = watch_ctl(dev, EPOLL_CTL_ADD, fd, events, data);
    return r;
}

void virtio_dev_unwatch(struct virtio_dev *dev, int fd)
{
    if (dev->epoll_fd >= 0)
        epoll_ctl(dev->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
}

static void raise_irq(struct virtio_dev *dev, uint32_t bit)
{
    __atomic_or_fetch(&dev->isr, bit, __ATOMIC_SEQ_CST);
    irq_line_trigger(&dev->irq);
}

void virtio_dev_notify_used(struct virtio_dev *dev, uint16_t q)
{
    if (q < dev->n_queues && virtq_needs_interrupt(&dev->queues[q]))
        raise_irq(dev, VIRTIO_MMIO_INT_VRING);
}

void virtio_dev_config_changed(struct virtio_dev *dev)
{
    dev->config_generation++;
    if (dev->status & VIRTIO_STATUS_DRIVER_OK)
        raise_irq(dev, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_dev_set_broken(struct virtio_dev *dev)
{
    if (dev->status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    dev->status |= VIRTIO_STATUS_NEEDS_RESET;
    /* The device stops all work (and stops watching its backends) until the driver resets it. */
    if (dev->activated && dev->ops->reset)
        dev->ops->reset(dev);
    dev->activated = false;
    raise_irq(dev, VIRTIO_MMIO_INT_CONFIG);
}

bool virtio_dev_live(const struct virtio_dev *dev)
{
    return dev->activated && (dev->status & VIRTIO_STATUS_DRIVER_OK) &&
           !(dev->status & VIRTIO_STATUS_NEEDS_RESET);
}
