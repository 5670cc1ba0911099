/* virtio block device (spec 5.2) over struct disk: one request queue, requests served
 * synchronously straight between guest memory and the disk backend (no bounce buffers).
 * Request = 16-byte header (type, reserved, sector) in the device-readable part, then data, then
 * one status byte: the last byte of the device-writable part. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/devices/virtio/virtio-blk.h"
#include "vmm/devices/virtio/virtio-dev.h"
#include "vmm/devices/virtio/virtio-devices.h"

#define BLK_QUEUE_SIZE 256
#define BLK_SEG_MAX 126
#define BLK_MAX_DISCARD_SECTORS (1u << 22)      /* 2 GiB per segment */
#define BLK_MAX_WRITE_ZEROES_SECTORS (1u << 16) /* 32 MiB per segment: bounds the work per request */
#define BLK_MAX_DWZ_SEG 32
#define BLK_CONFIG_SIZE 64
/* The disk layer takes at most this many iovecs per call (raw uses preadv's local copy). */
#define BLK_IOV_BATCH 64

struct blk {
    struct disk *disk;
    char serial[VIRTIO_BLK_ID_BYTES];
    uint8_t config[BLK_CONFIG_SIZE];
    struct virtq_chain chain;
    struct iovec data[VIRTQ_CHAIN_MAX];
};

static int disk_io(struct disk *d, uint64_t offset, const struct iovec *iov, size_t n, bool write)
{
    for (size_t i = 0; i < n; i += BLK_IOV_BATCH) {
        size_t cnt = n - i < BLK_IOV_BATCH ? n - i : BLK_IOV_BATCH;
        int r = write ? d->ops->writev(d, offset, iov + i, (int) cnt) : d->ops->readv(d, offset, iov + i, (int) cnt);
        if (r < 0)
            return r;
        for (size_t j = 0; j < cnt; j++)
            offset += iov[i + j].iov_len;
    }
    return 0;
}

static bool sectors_in_range(const struct disk *d, uint64_t sector, uint64_t n_sectors)
{
    uint64_t capacity = d->size / VIRTIO_BLK_SECTOR_SIZE;
    return sector <= capacity && n_sectors <= capacity - sector;
}

static uint8_t do_rw(struct blk *blk, const struct virtq_chain *c, uint64_t sector, bool write, uint32_t *ret_written)
{
    struct disk *d = blk->disk;
    size_t len, n;
    if (write) {
        if (d->read_only)
            return VIRTIO_BLK_S_IOERR;
        len = c->out_len - VIRTIO_BLK_HDR_SIZE;
        n = iov_slice(blk->data, c->iov, c->n_out, VIRTIO_BLK_HDR_SIZE, len);
    } else {
        len = c->in_len - 1;
        n = iov_slice(blk->data, c->iov + c->n_out, c->n_in, 0, len);
    }
    if (len % VIRTIO_BLK_SECTOR_SIZE || !sectors_in_range(d, sector, len / VIRTIO_BLK_SECTOR_SIZE))
        return VIRTIO_BLK_S_IOERR;
    if (disk_io(d, sector * VIRTIO_BLK_SECTOR_SIZE, blk->data, n, write) < 0)
        return VIRTIO_BLK_S_IOERR;
    if (!write)
        *ret_written = (uint32_t) len;
    return VIRTIO_BLK_S_OK;
}

static int write_zeroes(struct disk *d, uint64_t offset, uint64_t len)
{
    static const uint8_t zeroes[65536];
    while (len > 0) {
        size_t chunk = len < sizeof(zeroes) ? (size_t) len : sizeof(zeroes);
        struct iovec iov = { (void *) zeroes, chunk };
        int r = d->ops->writev(d, offset, &iov, 1);
        if (r < 0)
            return r;
        offset += chunk;
        len -= chunk;
    }
    return 0;
}

static uint8_t do_discard_or_zeroes(struct blk *blk, const struct virtq_chain *c, uint32_t type)
{
    struct disk *d = blk->disk;
    if (d->read_only)
        return VIRTIO_BLK_S_IOERR;
    uint64_t len = c->out_len - VIRTIO_BLK_HDR_SIZE;
    if (len == 0 || len % VIRTIO_BLK_DWZ_SEG_SIZE || len / VIRTIO_BLK_DWZ_SEG_SIZE > BLK_MAX_DWZ_SEG)
        return VIRTIO_BLK_S_IOERR;
    bool discard = type == VIRTIO_BLK_T_DISCARD;
    for (uint64_t off = 0; off < len; off += VIRTIO_BLK_DWZ_SEG_SIZE) {
        uint8_t seg[VIRTIO_BLK_DWZ_SEG_SIZE];
        iov_to_buf(c->iov, c->n_out, VIRTIO_BLK_HDR_SIZE + off, seg, sizeof(seg));
        uint64_t sector = get_le64(seg);
        uint32_t n_sectors = get_le32(seg + 8);
        uint32_t flags = get_le32(seg + 12);
        /* Discard defines no flags; write zeroes only "unmap" (spec 5.2.6.1). */
        if (flags & ~(discard ? 0u : VIRTIO_BLK_WZ_F_UNMAP))
            return VIRTIO_BLK_S_UNSUPP;
        if (n_sectors > (discard ? BLK_MAX_DISCARD_SECTORS : BLK_MAX_WRITE_ZEROES_SECTORS) ||
            !sectors_in_range(d, sector, n_sectors))
            return VIRTIO_BLK_S_IOERR;
        uint64_t offset = sector * VIRTIO_BLK_SECTOR_SIZE, bytes = (uint64_t) n_sectors * VIRTIO_BLK_SECTOR_SIZE;
        /* Discard is a hint: a backend without it succeeds doing nothing. Zeroes are written
         * out explicitly, since not every backend's discard guarantees zeroes. */
        int r = discard ? disk_discard(d, offset, bytes) : write_zeroes(d, offset, bytes);
        if (r < 0 && !(discard && r == -EOPNOTSUPP))
            return VIRTIO_BLK_S_IOERR;
    }
    return VIRTIO_BLK_S_OK;
}

/* Serves one request; returns the number of bytes written into the device-writable part. */
uint32_t virtio_blk_handle_request(struct virtio_dev *dev, const struct virtq_chain *c)
{
    struct blk *blk = dev->priv;
    uint8_t hdr[VIRTIO_BLK_HDR_SIZE];
    /* Without a status byte there is no way to answer: the chain is returned untouched. */
    if (c->in_len < 1)
        return 0;
    uint32_t written = 0;
    uint8_t status;
    if (c->out_len < VIRTIO_BLK_HDR_SIZE) {
        status = VIRTIO_BLK_S_IOERR;
    } else {
        iov_to_buf(c->iov, c->n_out, 0, hdr, sizeof(hdr));
        uint32_t type = get_le32(hdr);
        uint64_t sector = get_le64(hdr + 8);
        switch (type) {
        case VIRTIO_BLK_T_IN:
        case VIRTIO_BLK_T_OUT:
            status = do_rw(blk, c, sector, type == VIRTIO_BLK_T_OUT, &written);
            break;
        case VIRTIO_BLK_T_FLUSH:
            status = disk_flush(blk->disk) < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
            break;
        case VIRTIO_BLK_T_GET_ID: {
            uint64_t room = c->in_len - 1;
            size_t n = room < sizeof(blk->serial) ? (size_t) room : sizeof(blk->serial);
            written = (uint32_t) buf_to_iov(c->iov + c->n_out, c->n_in, 0, blk->serial, n);
            status = VIRTIO_BLK_S_OK;
            break;
        }
        case VIRTIO_BLK_T_DISCARD:
        case VIRTIO_BLK_T_WRITE_ZEROES:
            status = do_discard_or_zeroes(blk, c, type);
            break;
        default:
            status = VIRTIO_BLK_S_UNSUPP;
            break;
        }
    }
    buf_to_iov(c->iov + c->n_out, c->n_in, c->in_len - 1, &status, 1);
    return written + 1;
}

static void blk_queue_notify(struct virtio_dev *dev, uint16_t qi)
{
    struct blk *blk = dev->priv;
    struct virtq *q = &dev->queues[0];
    int r;
    for (;;) {
        while ((r = virtq_pop(q, dev->mem, &blk->chain)) > 0)
            virtq_push(q, blk->chain.head, virtio_blk_handle_request(dev, &blk->chain));
        if (r < 0)
            break;
        /* Event idx: re-arm, then look again so a request queued meanwhile is not missed. */
        virtq_set_notification(q, true);
        if (virtq_pending(q) == 0)
            break;
    }
    if (r < 0)
        virtio_dev_set_broken(dev);
    else
        virtio_dev_notify_used(dev, 0);
}

static void blk_free(struct virtio_dev *dev)
{
    struct blk *blk = dev->priv;
    if (blk) {
        disk_close(blk->disk);
        free(blk);
    }
}

static const struct virtio_device_ops blk_ops = {
    .name = "blk",
    .device_id = VIRTIO_ID_BLOCK,
    .queue_notify = blk_queue_notify,
    .free = blk_free,
};

int virtio_blk_new(struct disk *disk, const char *serial, struct virtio_dev **ret, struct berth_error *err)
{
    struct virtio_dev *dev = calloc(1, sizeof(*dev));
    struct blk *blk = calloc(1, sizeof(*blk));
    if (!dev || !blk) {
        free(dev);
        free(blk);
        disk_close(disk);
        return berth_error_set(err, -ENOMEM, "virtio-blk: out of memory");
    }
    blk->disk = disk;
    /* 20 bytes, NUL-padded only when shorter (spec 5.2.6). */
    if (serial)
        memcpy(blk->serial, serial, strnlen(serial, sizeof(blk->serial)));
    uint64_t features = VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) |
                        VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
    if (disk->read_only)
        features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
    else
        features |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
    int r = virtio_dev_init(dev, &blk_ops, blk, 1, BLK_QUEUE_SIZE, features);
    if (r < 0) {
        free(dev);
        disk_close(disk);
        free(blk);
        return berth_error_errno(err, r, "virtio-blk");
    }
    uint8_t *cfg = blk->config;
    put_le64(cfg + 0, disk->size / VIRTIO_BLK_SECTOR_SIZE); /* capacity */
    put_le32(cfg + 12, BLK_SEG_MAX);                        /* seg_max */
    put_le32(cfg + 20, VIRTIO_BLK_SECTOR_SIZE);             /* blk_size */
    put_le32(cfg + 36, BLK_MAX_DISCARD_SECTORS);            /* max_discard_sectors */
    put_le32(cfg + 40, BLK_MAX_DWZ_SEG);                    /* max_discard_seg */
    put_le32(cfg + 44, 1);                                  /* discard_sector_alignment */
    put_le32(cfg + 48, BLK_MAX_WRITE_ZEROES_SECTORS);       /* max_write_zeroes_sectors */
    put_le32(cfg + 52, BLK_MAX_DWZ_SEG);                    /* max_write_zeroes_seg */
    dev->config = cfg;
    dev->config_size = BLK_CONFIG_SIZE;
    *ret = dev;
    return 0;
}
