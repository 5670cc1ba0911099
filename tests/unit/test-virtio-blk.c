/* virtio-blk against a raw temp file, driven by the fake driver: every request type, sector bounds,
 * read-only disks, odd chain layouts. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/devices/virtio/virtio-blk.h"
#include "virtio-fake-driver.h"

#define DISK_SECTORS 64

struct blk_env {
    char path[64];
    struct fake_guest g;
};

static struct blk_env *setup_blk(bool read_only, uint64_t features)
{
    struct blk_env *e = calloc(1, sizeof(*e));
    strcpy(e->path, "/tmp/berth-test-vblk-XXXXXX");
    int fd = mkstemp(e->path);
    assert_true(fd >= 0);
    uint8_t sector[512];
    for (int s = 0; s < DISK_SECTORS; s++) {
        memset(sector, 0xa0 + (s & 0xf), sizeof(sector));
        assert_int_equal(write(fd, sector, sizeof(sector)), 512);
    }
    close(fd);
    struct disk *d;
    assert_int_equal(disk_raw_open(e->path, read_only, &d, NULL), 0);
    struct virtio_dev *dev;
    assert_int_equal(virtio_blk_new(d, "berth-serial-0123456789", &dev, NULL), 0);
    assert_int_equal(fake_guest_init(&e->g, dev), 0);
    assert_true(driver_start(&e->g, FEATURES_V1 | features, 1, 16) & VIRTIO_STATUS_FEATURES_OK);
    return e;
}

static void teardown_blk(struct blk_env *e)
{
    fake_guest_fini(&e->g);
    unlink(e->path);
    free(e);
}

static uint64_t make_hdr(struct fake_guest *g, uint32_t type, uint64_t sector)
{
    uint64_t h = fake_alloc(g, 16, 8);
    uint8_t *p = gpa_ptr(g, h);
    put_le32(p, type);
    put_le64(p + 8, sector);
    return h;
}

/* Sends one request (chain already built by the caller), returns the used length and status. */
static uint8_t submit(struct fake_guest *g, const struct fake_buf *bufs, int n, uint32_t *ret_len)
{
    add_chain(g, 0, bufs, n);
    kick(g, 0);
    uint32_t id = 0, len = 0;
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    if (ret_len)
        *ret_len = len;
    const struct fake_buf *last = &bufs[n - 1];
    return *(uint8_t *) gpa_ptr(g, last->gpa + last->len - 1);
}

static uint8_t rw(struct fake_guest *g, uint32_t type, uint64_t sector, uint64_t data, uint32_t len, uint32_t *ret_len)
{
    uint64_t st = fake_alloc(g, 1, 1);
    *(uint8_t *) gpa_ptr(g, st) = 0xff;
    struct fake_buf b[3] = { { make_hdr(g, type, sector), 16, false }, { data, len, type != VIRTIO_BLK_T_OUT }, { st, 1, true } };
    return submit(g, b, 3, ret_len);
}

static void read_file_at(const char *path, off_t off, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, len, off), (ssize_t) len);
    close(fd);
}

static void test_config_and_features(void **state)
{
    struct blk_env *e = setup_blk(false, 0);
    uint64_t cap = 0;
    config_read(&e->g, 0, &cap, 8);
    assert_int_equal(cap, DISK_SECTORS);
    uint32_t blk_size = 0;
    config_read(&e->g, 20, &blk_size, 4);
    assert_int_equal(blk_size, 512);
    uint64_t f = device_features(&e->g);
    assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
    assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
    assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));
    assert_false(f & VIRTIO_BIT(VIRTIO_BLK_F_RO));
    teardown_blk(e);
    e = setup_blk(true, 0);
    f = device_features(&e->g);
    assert_true(f & VIRTIO_BIT(VIRTIO_BLK_F_RO));
    assert_false(f & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
    teardown_blk(e);
}

static void test_write_then_read(void **state)
{
    struct blk_env *e = setup_blk(false, 0);
    struct fake_guest *g = &e->g;
    uint64_t data = fake_alloc(g, 1024, 512);
    for (int i = 0; i < 1024; i++)
        ((uint8_t *) gpa_ptr(g, data))[i] = (uint8_t) (i * 7);
    uint32_t len;
    assert_int_equal(rw(g, VIRTIO_BLK_T_OUT, 3, data, 1024, &len), VIRTIO_BLK_S_OK);
    assert_int_equal(len, 1);
    uint8_t file[1024];
    read_file_at(e->path, 3 * 512, file, sizeof(file));
    assert_memory_equal(file, gpa_ptr(g, data), 1024);

    uint64_t back = fake_alloc(g, 1024, 512);
    assert_int_equal(rw(g, VIRTIO_BLK_T_IN, 3, back, 1024, &len), VIRTIO_BLK_S_OK);
    assert_int_equal(len, 1025);
    assert_memory_equal(gpa_ptr(g, back), gpa_ptr(g, data), 1024);
    /* The sector after is untouched. */
    assert_int_equal(rw(g, VIRTIO_BLK_T_IN, 5, back, 512, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(((uint8_t *) gpa_ptr(g, back))[0], 0xa5);
    assert_int_equal(rw(g, VIRTIO_BLK_T_FLUSH, 0, back, 0, NULL), VIRTIO_BLK_S_OK);
    teardown_blk(e);
}

static void test_bounds_and_bad_requests(void **state)
{
    struct blk_env *e = setup_blk(false, 0);
    struct fake_guest *g = &e->g;
    uint64_t data = fake_alloc(g, 1024, 512);
    /* Last sector is fine, one past it is not, nor a range that wraps. */
    assert_int_equal(rw(g, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, data, 512, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(rw(g, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, data, 1024, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(rw(g, VIRTIO_BLK_T_OUT, DISK_SECTORS, data, 512, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(rw(g, VIRTIO_BLK_T_IN, UINT64_MAX, data, 512, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(rw(g, VIRTIO_BLK_T_IN, UINT64_MAX / 512, data, 512, NULL), VIRTIO_BLK_S_IOERR);
    /* Not a whole number of sectors. */
    assert_int_equal(rw(g, VIRTIO_BLK_T_IN, 0, data, 100, NULL), VIRTIO_BLK_S_IOERR);
    /* Unknown type. */
    assert_int_equal(rw(g, 99, 0, data, 512, NULL), VIRTIO_BLK_S_UNSUPP);
    /* Header shorter than 16 bytes. */
    uint64_t st = fake_alloc(g, 1, 1);
    struct fake_buf shortb[2] = { { make_hdr(g, VIRTIO_BLK_T_IN, 0), 8, false }, { st, 1, true } };
    assert_int_equal(submit(g, shortb, 2, NULL), VIRTIO_BLK_S_IOERR);
    /* No device-writable byte for the status: returned with length 0, device still fine. */
    struct fake_buf nostatus[1] = { { make_hdr(g, VIRTIO_BLK_T_IN, 0), 16, false } };
    add_chain(g, 0, nostatus, 1);
    kick(g, 0);
    uint32_t id, len = 99;
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 0);
    assert_false(reg_read(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    teardown_blk(e);
}

static void test_read_only_refuses_writes(void **state)
{
    struct blk_env *e = setup_blk(true, 0);
    struct fake_guest *g = &e->g;
    uint64_t data = fake_alloc(g, 512, 512);
    memset(gpa_ptr(g, data), 0x11, 512);
    assert_int_equal(rw(g, VIRTIO_BLK_T_OUT, 0, data, 512, NULL), VIRTIO_BLK_S_IOERR);
    uint8_t file[512];
    read_file_at(e->path, 0, file, sizeof(file));
    assert_int_equal(file[0], 0xa0);
    assert_int_equal(rw(g, VIRTIO_BLK_T_IN, 0, data, 512, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(((uint8_t *) gpa_ptr(g, data))[0], 0xa0);
    teardown_blk(e);
}

static void test_get_id(void **state)
{
    struct blk_env *e = setup_blk(false, 0);
    struct fake_guest *g = &e->g;
    uint64_t id = fake_alloc(g, 20, 8);
    uint32_t len;
    assert_int_equal(rw(g, VIRTIO_BLK_T_GET_ID, 0, id, 20, &len), VIRTIO_BLK_S_OK);
    assert_int_equal(len, 21);
    assert_memory_equal(gpa_ptr(g, id), "berth-serial-0123456", 20); /* 20 bytes, no NUL */
    teardown_blk(e);
}

static uint8_t dwz(struct fake_guest *g, uint32_t type, uint64_t sector, uint32_t n, uint32_t flags)
{
    uint64_t seg = fake_alloc(g, 16, 8);
    uint8_t *p = gpa_ptr(g, seg);
    put_le64(p, sector);
    put_le32(p + 8, n);
    put_le32(p + 12, flags);
    uint64_t st = fake_alloc(g, 1, 1);
    struct fake_buf b[3] = { { make_hdr(g, type, 0), 16, false }, { seg, 16, false }, { st, 1, true } };
    return submit(g, b, 3, NULL);
}

static void test_discard_and_write_zeroes(void **state)
{
    struct blk_env *e = setup_blk(false, 0);
    struct fake_guest *g = &e->g;
    assert_int_equal(dwz(g, VIRTIO_BLK_T_WRITE_ZEROES, 10, 2, 0), VIRTIO_BLK_S_OK);
    uint8_t file[1536], zero[1024] = { 0 };
    read_file_at(e->path, 10 * 512, file, sizeof(file));
    assert_memory_equal(file, zero, 1024);
    assert_int_equal(file[1024], 0xac); /* sector 12 untouched */
    assert_int_equal(dwz(g, VIRTIO_BLK_T_WRITE_ZEROES, 20, 1, VIRTIO_BLK_WZ_F_UNMAP), VIRTIO_BLK_S_OK);
    assert_int_equal(dwz(g, VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_OK);
    /* Discard has no flags; ranges past the end fail. */
    assert_int_equal(dwz(g, VIRTIO_BLK_T_DISCARD, 0, 8, 1), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(dwz(g, VIRTIO_BLK_T_DISCARD, DISK_SECTORS - 1, 2, 0), VIRTIO_BLK_S_IOERR);
    assert_int_equal(dwz(g, VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX, 1, 0), VIRTIO_BLK_S_IOERR);
    teardown_blk(e);
}

static void test_many_segments_and_split_header(void **state)
{
    struct blk_env *e = setup_blk(false, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
    struct fake_guest *g = &e->g;
    /* 100 data segments of 256 bytes (50 sectors), more than one disk-layer batch. */
    enum { SEGS = 100 };
    struct fake_buf *b = calloc(SEGS + 3, sizeof(*b));
    uint64_t hdr = make_hdr(g, VIRTIO_BLK_T_IN, 4);
    b[0] = (struct fake_buf){ hdr, 8, false }; /* header split across two descriptors */
    b[1] = (struct fake_buf){ hdr + 8, 8, false };
    for (int i = 0; i < SEGS; i++)
        b[2 + i] = (struct fake_buf){ fake_alloc(g, 256, 8), 256, true };
    uint64_t st = fake_alloc(g, 1, 1);
    b[SEGS + 2] = (struct fake_buf){ st, 1, true };
    add_indirect(g, 0, b, SEGS + 3);
    kick(g, 0);
    uint32_t id, len;
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, SEGS * 256 + 1);
    assert_int_equal(*(uint8_t *) gpa_ptr(g, st), VIRTIO_BLK_S_OK);
    /* Segment 2 holds the first half of sector 5. */
    assert_int_equal(*(uint8_t *) gpa_ptr(g, b[4].gpa), 0xa5);
    assert_int_equal(*(uint8_t *) gpa_ptr(g, b[2 + SEGS - 1].gpa + 255), 0xa0 + ((4 + SEGS / 2 - 1) & 0xf));
    free(b);
    teardown_blk(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_and_features),
        cmocka_unit_test(test_write_then_read),
        cmocka_unit_test(test_bounds_and_bad_requests),
        cmocka_unit_test(test_read_only_refuses_writes),
        cmocka_unit_test(test_get_id),
        cmocka_unit_test(test_discard_and_write_zeroes),
        cmocka_unit_test(test_many_segments_and_split_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
