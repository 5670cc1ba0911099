/* Fuzzes the split-virtqueue parser (and, in blk mode, virtio-blk request parsing) with a guest
 * whose whole RAM is the input. Input layout (little-endian):
 *   0      u8  log2 of the queue size (masked to 0..8)
 *   1      u8  bit 0: event idx, bit 1: indirect descriptors, bit 2: blk requests
 *   2..7   u16 desc, avail, used ring offsets into RAM
 *   8..    RAM contents (at guest address 0x1000; address 0 is outside memory)
 * Every chain the queue accepts is then read and written in full, so ASan sees any iovec that
 * escapes guest memory. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/devices/virtio/queue.h"
#include "vmm/devices/virtio/virtio-blk.h"
#include "vmm/devices/virtio/virtio-dev.h"
#include "vmm/devices/virtio/virtio-devices.h"
#include "vmm/devices/virtio/virtio-mmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_GPA 0x1000
#define RAM_SIZE 65536

static struct virtio_dev *blk_dev;
static struct virtq_chain chain;

static struct virtio_dev *get_blk(void)
{
    if (blk_dev)
        return blk_dev;
    int fd = memfd_create("fuzz-disk", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 65536) < 0)
        abort();
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct disk *d;
    if (disk_raw_open(path, false, &d, NULL) < 0 || virtio_blk_new(d, "fuzz", &blk_dev, NULL) < 0)
        abort();
    close(fd);
    return blk_dev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint8_t *ram = calloc(1, RAM_SIZE);
    if (!ram)
        return 0;
    memcpy(ram, data + 8, size - 8 < RAM_SIZE ? size - 8 : RAM_SIZE);
    struct guest_memory mem = { 0 };
    guest_memory_add_region(&mem, RAM_GPA, RAM_SIZE, ram);

    struct virtq q;
    virtq_reset(&q, 256);
    q.size = (uint16_t) (1u << (data[0] & 7)) ;
    if (data[0] & 8)
        q.size = 256;
    q.desc_addr = RAM_GPA + get_le16(data + 2);
    q.driver_addr = RAM_GPA + get_le16(data + 4);
    q.device_addr = RAM_GPA + get_le16(data + 6);
    bool blk = data[1] & 4;
    if (virtq_enable(&q, &mem, data[1] & 1, data[1] & 2) == 0) {
        for (int i = 0; i < 300; i++) {
            int r = virtq_pop(&q, &mem, &chain);
            if (r <= 0)
                break;
            volatile uint8_t sink = 0;
            for (uint32_t k = 0; k < chain.n_out + chain.n_in; k++) {
                const uint8_t *p = chain.iov[k].iov_base;
                for (size_t j = 0; j < chain.iov[k].iov_len; j += 61)
                    sink ^= p[j];
                if (chain.iov[k].iov_len)
                    sink ^= p[chain.iov[k].iov_len - 1];
            }
            (void) sink;
            uint32_t len = 0;
            if (blk)
                len = virtio_blk_handle_request(get_blk(), &chain);
            else if (chain.n_in)
                memset(chain.iov[chain.n_out].iov_base, 0x5a, chain.iov[chain.n_out].iov_len);
            virtq_push(&q, chain.head, len);
        }
        virtq_needs_interrupt(&q);
        virtq_set_notification(&q, true);
    }
    free(ram);
    return 0;
}
