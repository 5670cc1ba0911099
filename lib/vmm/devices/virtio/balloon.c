/* virtio memory balloon (spec 5.5): queue 0 inflate, 1 deflate, 2 statistics. Inflated pages
 * (4 KiB page frame numbers from the guest) are handed back to the host kernel with madvise, so
 * the guest's RSS drops; deflated ones simply fault back in as zeroes when the guest touches
 * them. The statistics buffer is held by the device and given back when the host wants a fresh
 * report (spec 5.5.6.3). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmm/devices/virtio/virtio-dev.h"
#include "vmm/devices/virtio/virtio-devices.h"

#define BALLOON_QUEUE_SIZE 256
#define BALLOON_INFLATEQ 0
#define BALLOON_DEFLATEQ 1
#define BALLOON_STATSQ 2
#define BALLOON_PAGE_SHIFT 12
#define BALLOON_PAGE_SIZE (1u << BALLOON_PAGE_SHIFT)
#define VIRTIO_BALLOON_F_MUST_TELL_HOST 0
#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define BALLOON_CONFIG_SIZE 16
#define BALLOON_STAT_SIZE 10
#define BALLOON_N_STATS 16

struct balloon {
    uint8_t config[BALLOON_CONFIG_SIZE];
    uint64_t inflated;
    bool remove_unsupported; /* MADV_REMOVE failed once: private memory, use DONTNEED */
    uint64_t stats[BALLOON_N_STATS];
    bool stats_valid;
    bool stats_held;
    uint16_t stats_head;
    struct virtq_chain chain;
};

/* Gives [hva, hva + len) back to the host: MADV_REMOVE frees shared (memfd/file) memory too,
 * MADV_DONTNEED is what private anonymous memory needs. */
static void discard_range(struct balloon *b, void *hva, size_t len)
{
    if (!b->remove_unsupported && madvise(hva, len, MADV_REMOVE) == 0)
        return;
    b->remove_unsupported = true;
    madvise(hva, len, MADV_DONTNEED);
}

static void handle_pfns(struct virtio_dev *dev, const struct virtq_chain *c, bool inflate)
{
    struct balloon *b = dev->priv;
    uint8_t *run_start = NULL;
    size_t run_len = 0;
    for (uint64_t off = 0; off + 4 <= c->out_len; off += 4) {
        uint8_t raw[4];
        iov_to_buf(c->iov, c->n_out, off, raw, 4);
        uint64_t gpa = (uint64_t) get_le32(raw) << BALLOON_PAGE_SHIFT;
        /* A frame outside guest RAM is ignored: never madvise what is not the guest's. */
        uint8_t *hva = guest_memory_ptr(dev->mem, gpa, BALLOON_PAGE_SIZE);
        if (!hva)
            continue;
        if (inflate) {
            b->inflated++;
            if (run_start && hva == run_start + run_len) {
                run_len += BALLOON_PAGE_SIZE;
                continue;
            }
            if (run_start)
                discard_range(b, run_start, run_len);
            run_start = hva;
            run_len = BALLOON_PAGE_SIZE;
        } else if (b->inflated > 0) {
            b->inflated--;
        }
    }
    if (run_start)
        discard_range(b, run_start, run_len);
}

static void handle_stats(struct virtio_dev *dev, const struct virtq_chain *c)
{
    struct balloon *b = dev->priv;
    for (size_t i = 0; i < BALLOON_N_STATS; i++)
        b->stats[i] = UINT64_MAX;
    for (uint64_t off = 0; off + BALLOON_STAT_SIZE <= c->out_len; off += BALLOON_STAT_SIZE) {
        uint8_t raw[BALLOON_STAT_SIZE];
        iov_to_buf(c->iov, c->n_out, off, raw, sizeof(raw));
        uint16_t tag = get_le16(raw);
        if (tag < BALLOON_N_STATS)
            b->stats[tag] = get_le64(raw + 2);
    }
    b->stats_valid = true;
}

static void balloon_queue_notify(struct virtio_dev *dev, uint16_t qi)
{
    struct balloon *b = dev->priv;
    struct virtq *q = &dev->queues[qi];
    int r;
    bool pushed = false;
    while ((r = virtq_pop(q, dev->mem, &b->chain)) > 0) {
        if (qi == BALLOON_STATSQ) {
            handle_stats(dev, &b->chain);
            if (b->stats_held) {
                /* Only one buffer is ever outstanding; a second one is returned at once. */
                virtq_push(q, b->stats_head, 0);
                pushed = true;
            }
            b->stats_held = true;
            b->stats_head = b->chain.head;
            continue;
        }
        handle_pfns(dev, &b->chain, qi == BALLOON_INFLATEQ);
        virtq_push(q, b->chain.head, 0);
        pushed = true;
    }
    if (r < 0)
        virtio_dev_set_broken(dev);
    else if (pushed)
        virtio_dev_notify_used(dev, qi);
}

static void balloon_config_write(struct virtio_dev *dev, uint32_t offset, const uint8_t *data, uint32_t len)
{
    struct balloon *b = dev->priv;
    /* Only "actual" (offset 4) belongs to the driver; num_pages is ours. */
    for (uint32_t i = 0; i < len; i++)
        if (offset + i >= 4 && offset + i < 8)
            b->config[offset + i] = data[i];
}

static void balloon_reset(struct virtio_dev *dev)
{
    struct balloon *b = dev->priv;
    b->stats_held = false;
    put_le32(b->config + 4, 0);
}

static void balloon_free(struct virtio_dev *dev)
{
    free(dev->priv);
}

static const struct virtio_device_ops balloon_ops = {
    .name = "balloon",
    .device_id = VIRTIO_ID_BALLOON,
    .queue_notify = balloon_queue_notify,
    .config_write = balloon_config_write,
    .reset = balloon_reset,
    .free = balloon_free,
};

int virtio_balloon_new(struct virtio_dev **ret, struct berth_error *err)
{
    struct virtio_dev *dev = calloc(1, sizeof(*dev));
    struct balloon *b = calloc(1, sizeof(*b));
    if (!dev || !b) {
        free(dev);
        free(b);
        return berth_error_set(err, -ENOMEM, "virtio-balloon: out of memory");
    }
    uint64_t features = VIRTIO_BIT(VIRTIO_BALLOON_F_STATS_VQ) | VIRTIO_BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
    int r = virtio_dev_init(dev, &balloon_ops, b, 3, BALLOON_QUEUE_SIZE, features);
    if (r < 0) {
        virtio_dev_free(dev);
        return berth_error_errno(err, r, "virtio-balloon");
    }
    for (size_t i = 0; i < BALLOON_N_STATS; i++)
        b->stats[i] = UINT64_MAX;
    dev->config = b->config;
    dev->config_size = BALLOON_CONFIG_SIZE;
    *ret = dev;
    return 0;
}

int virtio_balloon_set_target(struct virtio_dev *dev, uint32_t target_pages)
{
    if (dev->ops != &balloon_ops)
        return -EINVAL;
    struct balloon *b = dev->priv;
    pthread_mutex_lock(&dev->lock);
    put_le32(b->config, target_pages);
    virtio_dev_config_changed(dev);
    pthread_mutex_unlock(&dev->lock);
    return 0;
}

int virtio_balloon_info(struct virtio_dev *dev, struct virtio_balloon_info *ret)
{
    if (dev->ops != &balloon_ops)
        return -EINVAL;
    struct balloon *b = dev->priv;
    pthread_mutex_lock(&dev->lock);
    ret->target_pages = get_le32(b->config);
    ret->actual_pages = get_le32(b->config + 4);
    ret->inflated_pages = b->inflated;
    memcpy(ret->stats, b->stats, sizeof(ret->stats));
    ret->stats_valid = b->stats_valid;
    /* Hand the statistics buffer back: the guest refills it with a fresh report. */
    if (b->stats_held && virtio_dev_live(dev)) {
        b->stats_held = false;
        virtq_push(&dev->queues[BALLOON_STATSQ], b->stats_head, 0);
        virtio_dev_notify_used(dev, BALLOON_STATSQ);
    }
    pthread_mutex_unlock(&dev->lock);
    return 0;
}
