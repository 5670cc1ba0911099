/* virtio-balloon with the fake driver: target through config space, inflate gives pages back
 * (they read as zeroes afterwards), deflate, the statistics buffer round trip. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "virtio-fake-driver.h"

static struct fake_guest *setup_balloon(void)
{
    struct fake_guest *g = calloc(1, sizeof(*g));
    struct virtio_dev *dev;
    assert_int_equal(virtio_balloon_new(&dev, NULL), 0);
    assert_int_equal(fake_guest_init(g, dev), 0);
    uint64_t f = device_features(g);
    assert_true(f & VIRTIO_BIT(1)); /* STATS_VQ */
    assert_true(f & VIRTIO_BIT(2)); /* DEFLATE_ON_OOM */
    assert_true(driver_start(g, FEATURES_V1 | VIRTIO_BIT(1), 3, 16) & VIRTIO_STATUS_FEATURES_OK);
    return g;
}

static void send_pfns(struct fake_guest *g, uint32_t qi, const uint32_t *pfns, int n)
{
    uint64_t buf = fake_alloc(g, 4u * (uint32_t) n, 4);
    memcpy(gpa_ptr(g, buf), pfns, 4u * (uint32_t) n);
    struct fake_buf b = { buf, 4u * (uint32_t) n, false };
    add_chain(g, qi, &b, 1);
    kick(g, qi);
    uint32_t id, len;
    assert_int_equal(used_next(g, qi, &id, &len), 1);
}

static void test_target_and_actual(void **state)
{
    struct fake_guest *g = setup_balloon();
    struct virtio_dev *dev = virtio_mmio_device(g->vm);
    uint32_t gen = reg_read(g, VIRTIO_MMIO_CONFIG_GENERATION);
    assert_int_equal(virtio_balloon_set_target(dev, 256), 0);
    uint32_t num_pages = 0;
    config_read(g, 0, &num_pages, 4);
    assert_int_equal(num_pages, 256);
    assert_true(reg_read(g, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    assert_int_not_equal(reg_read(g, VIRTIO_MMIO_CONFIG_GENERATION), gen);
    /* The driver reports actual; it cannot change the target. */
    uint32_t v = 3;
    virtio_mmio_bus_ops.write(g->vm, VIRTIO_MMIO_CONFIG + 4, (uint8_t *) &v, 4);
    v = 1;
    virtio_mmio_bus_ops.write(g->vm, VIRTIO_MMIO_CONFIG + 0, (uint8_t *) &v, 4);
    struct virtio_balloon_info info;
    assert_int_equal(virtio_balloon_info(dev, &info), 0);
    assert_int_equal(info.target_pages, 256);
    assert_int_equal(info.actual_pages, 3);
    assert_false(info.stats_valid);
    /* Not a balloon. */
    struct virtio_dev *rng;
    assert_int_equal(virtio_rng_new(&rng, NULL), 0);
    assert_int_equal(virtio_balloon_set_target(rng, 1), -EINVAL);
    virtio_dev_free(rng);
    fake_guest_fini(g);
    free(g);
}

static void test_inflate_deflate(void **state)
{
    struct fake_guest *g = setup_balloon();
    struct virtio_dev *dev = virtio_mmio_device(g->vm);
    uint64_t pages = fake_alloc(g, 3 * 4096, 4096);
    memset(gpa_ptr(g, pages), 0xaa, 3 * 4096);
    uint32_t first = (uint32_t) (pages >> 12);
    /* Two contiguous pages, one apart, and two frames that are not guest RAM. */
    uint32_t pfns[] = { first, first + 1, 0x10, first + 2, 0xffffffff };
    send_pfns(g, 0, pfns, 5);
    static const uint8_t zero[3 * 4096];
    assert_memory_equal(gpa_ptr(g, pages), zero, sizeof(zero));
    struct virtio_balloon_info info;
    virtio_balloon_info(dev, &info);
    assert_int_equal(info.inflated_pages, 3);
    /* Pages come back usable. */
    memset(gpa_ptr(g, pages), 0x55, 4096);
    send_pfns(g, 1, pfns, 1);
    virtio_balloon_info(dev, &info);
    assert_int_equal(info.inflated_pages, 2);
    assert_int_equal(((uint8_t *) gpa_ptr(g, pages))[0], 0x55);
    fake_guest_fini(g);
    free(g);
}

static void test_stats(void **state)
{
    struct fake_guest *g = setup_balloon();
    struct virtio_dev *dev = virtio_mmio_device(g->vm);
    uint64_t buf = fake_alloc(g, 30, 2);
    uint8_t *p = gpa_ptr(g, buf);
    put_le16(p, VIRTIO_BALLOON_S_MEMFREE);
    put_le64(p + 2, 123456);
    put_le16(p + 10, VIRTIO_BALLOON_S_MEMTOT);
    put_le64(p + 12, 999999);
    put_le16(p + 20, 77); /* unknown tag: ignored */
    put_le64(p + 22, 1);
    struct fake_buf b = { buf, 30, false };
    add_chain(g, 2, &b, 1);
    kick(g, 2);
    uint32_t id, len;
    /* The device keeps the buffer until it wants a new report. */
    assert_int_equal(used_next(g, 2, &id, &len), 0);
    struct virtio_balloon_info info;
    assert_int_equal(virtio_balloon_info(dev, &info), 0);
    assert_true(info.stats_valid);
    assert_int_equal(info.stats[VIRTIO_BALLOON_S_MEMFREE], 123456);
    assert_int_equal(info.stats[VIRTIO_BALLOON_S_MEMTOT], 999999);
    assert_true(info.stats[VIRTIO_BALLOON_S_SWAP_IN] == UINT64_MAX);
    /* ...and asking for stats returned it for a refill. */
    assert_int_equal(used_next(g, 2, &id, &len), 1);
    fake_guest_fini(g);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_target_and_actual),
        cmocka_unit_test(test_inflate_deflate),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
