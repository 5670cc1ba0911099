/* virtio entropy device (spec 5.4): one queue of device-writable buffers filled from getrandom. */
#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "vmm/devices/virtio/virtio-dev.h"
#include "vmm/devices/virtio/virtio-devices.h"

#define RNG_QUEUE_SIZE 256
/* Bytes handed out per request at most: a guest asking for gigabytes gets them in pieces. */
#define RNG_MAX_PER_REQUEST 65536

struct rng {
    struct virtq_chain chain;
};

static uint32_t fill(struct virtq_chain *c)
{
    uint32_t total = 0;
    for (uint32_t i = c->n_out; i < c->n_out + c->n_in && total < RNG_MAX_PER_REQUEST; i++) {
        size_t want = c->iov[i].iov_len;
        if (want > RNG_MAX_PER_REQUEST - total)
            want = RNG_MAX_PER_REQUEST - total;
        size_t got = 0;
        while (got < want) {
            ssize_t n = getrandom((uint8_t *) c->iov[i].iov_base + got, want - got, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return total + (uint32_t) got;
            }
            got += (size_t) n;
        }
        total += (uint32_t) got;
    }
    return total;
}

static void rng_queue_notify(struct virtio_dev *dev, uint16_t qi)
{
    struct rng *rng = dev->priv;
    struct virtq *q = &dev->queues[0];
    int r;
    while ((r = virtq_pop(q, dev->mem, &rng->chain)) > 0)
        virtq_push(q, rng->chain.head, fill(&rng->chain));
    if (r < 0)
        virtio_dev_set_broken(dev);
    else
        virtio_dev_notify_used(dev, 0);
}

static void rng_free(struct virtio_dev *dev)
{
    free(dev->priv);
}

static const struct virtio_device_ops rng_ops = {
    .name = "rng",
    .device_id = VIRTIO_ID_RNG,
    .queue_notify = rng_queue_notify,
    .free = rng_free,
};

int virtio_rng_new(struct virtio_dev **ret, struct berth_error *err)
{
    struct virtio_dev *dev = calloc(1, sizeof(*dev));
    struct rng *rng = calloc(1, sizeof(*rng));
    if (!dev || !rng) {
        free(dev);
        free(rng);
        return berth_error_set(err, -ENOMEM, "virtio-rng: out of memory");
    }
    int r = virtio_dev_init(dev, &rng_ops, rng, 1, RNG_QUEUE_SIZE, 0);
    if (r < 0) {
        free(dev);
        free(rng);
        return berth_error_errno(err, r, "virtio-rng");
    }
    *ret = dev;
    return 0;
}
