/* The virtio-mmio transport and split virtqueue against a fake driver: negotiation rules, queue
 * set-up checks and every hostile ring the device must refuse. The entropy device carries the
 * requests (it only writes into device-writable buffers). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "virtio-fake-driver.h"

static struct fake_guest *new_rng_guest(void)
{
    struct fake_guest *g = malloc(sizeof(*g));
    struct virtio_dev *dev;
    assert_int_equal(virtio_rng_new(&dev, NULL), 0);
    assert_int_equal(fake_guest_init(g, dev), 0);
    return g;
}

static void free_guest(struct fake_guest *g)
{
    fake_guest_fini(g);
    free(g);
}

static bool needs_reset(struct fake_guest *g)
{
    return reg_read(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

static void test_identity_registers(void **state)
{
    struct fake_guest *g = new_rng_guest();
    assert_int_equal(reg_read(g, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
    assert_int_equal(reg_read(g, VIRTIO_MMIO_VERSION), 2);
    assert_int_equal(reg_read(g, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
    assert_int_equal(virtio_mmio_device_id(g->vm), VIRTIO_ID_RNG);
    assert_string_equal(virtio_mmio_device_name(g->vm), "rng");
    assert_true(device_features(g) & FEATURES_V1);
    reg_write(g, VIRTIO_MMIO_QUEUE_SEL, 0);
    assert_int_equal(reg_read(g, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
    reg_write(g, VIRTIO_MMIO_QUEUE_SEL, 7);
    assert_int_equal(reg_read(g, VIRTIO_MMIO_QUEUE_NUM_MAX), 0); /* no such queue */
    /* Sub-word register reads return nothing; config space of a device without one reads 0. */
    uint16_t half = 0xffff;
    virtio_mmio_bus_ops.read(g->vm, VIRTIO_MMIO_MAGIC_VALUE, (uint8_t *) &half, 2);
    assert_int_equal(half, 0);
    uint32_t cfg = 0xffffffff;
    config_read(g, 0, &cfg, 4);
    assert_int_equal(cfg, 0);
    assert_int_equal(virtio_mmio_event_fd(g->vm), -1);
    free_guest(g);
}

static void test_feature_negotiation(void **state)
{
    struct fake_guest *g = new_rng_guest();
    /* A feature the device did not offer: FEATURES_OK stays clear. */
    assert_false(driver_negotiate(g, FEATURES_V1 | VIRTIO_BIT(VIRTIO_F_RING_PACKED)) & VIRTIO_STATUS_FEATURES_OK);
    /* Legacy drivers (no VERSION_1) are refused. */
    assert_false(driver_negotiate(g, 0) & VIRTIO_STATUS_FEATURES_OK);
    /* DRIVER_OK without FEATURES_OK is ignored. */
    reg_write(g, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
    assert_false(reg_read(g, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK);
    assert_true(driver_negotiate(g, FEATURES_V1) & VIRTIO_STATUS_FEATURES_OK);
    /* Features cannot change once FEATURES_OK is set. */
    reg_write(g, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    reg_write(g, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffff);
    assert_int_equal(virtio_mmio_device(g->vm)->driver_features, FEATURES_V1);
    /* Reset clears everything. */
    reg_write(g, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(reg_read(g, VIRTIO_MMIO_STATUS), 0);
    assert_int_equal(virtio_mmio_device(g->vm)->driver_features, 0);
    free_guest(g);
}

/* One rng request of len bytes through a direct descriptor; returns the used length. */
static uint32_t rng_request(struct fake_guest *g, uint32_t len, uint64_t *ret_gpa)
{
    uint64_t buf = fake_alloc(g, len, 8);
    struct fake_buf b = { buf, len, true };
    add_chain(g, 0, &b, 1);
    kick(g, 0);
    uint32_t id = 0, used_len = 0;
    assert_int_equal(used_next(g, 0, &id, &used_len), 1);
    if (ret_gpa)
        *ret_gpa = buf;
    return used_len;
}

static void test_rng_fills_buffers(void **state)
{
    struct fake_guest *g = new_rng_guest();
    assert_true(driver_start(g, FEATURES_V1, 1, 16) & VIRTIO_STATUS_FEATURES_OK);
    uint64_t gpa;
    assert_int_equal(rng_request(g, 64, &gpa), 64);
    static const uint8_t zero[64];
    assert_memory_not_equal(gpa_ptr(g, gpa), zero, 64);
    assert_int_equal(g->irqs, 1);
    assert_int_equal(reg_read(g, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
    reg_write(g, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
    assert_int_equal(reg_read(g, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    /* Many requests wrap the rings several times. */
    for (int i = 0; i < 40; i++)
        assert_int_equal(rng_request(g, 16, NULL), 16);
    /* Indirect descriptors, split over two buffers. */
    uint64_t a = fake_alloc(g, 8, 8), b = fake_alloc(g, 8, 8);
    struct fake_buf bufs[2] = { { a, 8, true }, { b, 8, true } };
    assert_true(driver_start(g, FEATURES_V1 | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC), 1, 16) & VIRTIO_STATUS_FEATURES_OK);
    g->q[0].avail_idx = g->q[0].used_seen = g->q[0].next_desc = 0;
    add_indirect(g, 0, bufs, 2);
    virtio_mmio_queue_notify(g->vm, 0); /* the ioeventfd path */
    uint32_t id, len;
    assert_int_equal(used_next(g, 0, &id, &len), 1);
    assert_int_equal(len, 16);
    assert_false(needs_reset(g));
    free_guest(g);
}

static void test_queue_setup_is_checked(void **state)
{
    struct fake_guest *g = new_rng_guest();
    /* Not a power of two. */
    driver_negotiate(g, FEATURES_V1);
    queue_setup(g, 0, 12);
    assert_true(needs_reset(g));
    /* Larger than QueueNumMax. */
    driver_negotiate(g, FEATURES_V1);
    queue_setup(g, 0, 512);
    assert_true(needs_reset(g));
    /* Rings outside guest memory. */
    driver_negotiate(g, FEATURES_V1);
    reg_write(g, VIRTIO_MMIO_QUEUE_SEL, 0);
    reg_write(g, VIRTIO_MMIO_QUEUE_NUM, 16);
    reg_write(g, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
    reg_write(g, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t) FAKE_RAM_GPA);
    reg_write(g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t) FAKE_RAM_GPA + 4096);
    reg_write(g, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_true(needs_reset(g));
    assert_int_equal(reg_read(g, VIRTIO_MMIO_QUEUE_READY), 0);
    /* A used ring running off the end of RAM. */
    driver_negotiate(g, FEATURES_V1);
    reg_write(g, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t) FAKE_RAM_GPA);
    reg_write(g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t) (FAKE_RAM_GPA + FAKE_RAM_SIZE - 64));
    reg_write(g, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_true(needs_reset(g));
    /* Misaligned descriptor table. */
    driver_negotiate(g, FEATURES_V1);
    reg_write(g, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t) FAKE_RAM_GPA + 8);
    reg_write(g, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t) FAKE_RAM_GPA + 4096);
    reg_write(g, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_true(needs_reset(g));
    /* And a good set-up after reset works. */
    assert_true(driver_start(g, FEATURES_V1, 1, 16) & VIRTIO_STATUS_FEATURES_OK);
    assert_false(needs_reset(g));
    assert_int_equal(rng_request(g, 8, NULL), 8);
    free_guest(g);
}

/* Brings up a fresh rng device; the test then corrupts its ring and kicks. */
static struct fake_guest *started(uint64_t features)
{
    struct fake_guest *g = new_rng_guest();
    assert_true(driver_start(g, FEATURES_V1 | features, 1, 8) & VIRTIO_STATUS_FEATURES_OK);
    return g;
}

static void expect_broken(struct fake_guest *g)
{
    kick(g, 0);
    assert_true(needs_reset(g));
    assert_int_equal(used_idx(g, 0), 0);
    /* Config interrupt tells the driver. */
    assert_true(reg_read(g, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG);
    /* Further kicks do nothing until reset. */
    kick(g, 0);
    assert_int_equal(used_idx(g, 0), 0);
    free_guest(g);
}

static void test_hostile_head_index(void **state)
{
    struct fake_guest *g = started(0);
    avail_publish(g, 0, 8); /* queue has 8 descriptors: 0..7 */
    expect_broken(g);
}

static void test_hostile_avail_jump(void **state)
{
    struct fake_guest *g = started(0);
    uint64_t buf = fake_alloc(g, 8, 8);
    put_desc(g, g->q[0].desc, 0, buf, 8, VIRTQ_DESC_F_WRITE, 0);
    uint16_t *avail = gpa_ptr(g, g->q[0].avail);
    avail[1] = 9; /* 9 buffers on an 8-entry queue */
    expect_broken(g);
}

static void test_hostile_loop(void **state)
{
    struct fake_guest *g = started(0);
    uint64_t buf = fake_alloc(g, 8, 8);
    put_desc(g, g->q[0].desc, 0, buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    put_desc(g, g->q[0].desc, 1, buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
    avail_publish(g, 0, 0);
    expect_broken(g);
}

static void test_hostile_next_out_of_range(void **state)
{
    struct fake_guest *g = started(0);
    uint64_t buf = fake_alloc(g, 8, 8);
    put_desc(g, g->q[0].desc, 0, buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 200);
    avail_publish(g, 0, 0);
    expect_broken(g);
}

static void test_hostile_buffer_outside_memory(void **state)
{
    struct fake_guest *g = started(0);
    struct fake_buf b = { FAKE_RAM_GPA + FAKE_RAM_SIZE - 4, 8, true };
    add_chain(g, 0, &b, 1);
    expect_broken(g);
}

static void test_hostile_buffer_wraps(void **state)
{
    struct fake_guest *g = started(0);
    struct fake_buf b = { UINT64_MAX - 3, 8, true };
    add_chain(g, 0, &b, 1);
    expect_broken(g);
}

static void test_hostile_direction_order(void **state)
{
    struct fake_guest *g = started(0);
    uint64_t buf = fake_alloc(g, 16, 8);
    struct fake_buf b[2] = { { buf, 8, true }, { buf + 8, 8, false } }; /* writable before readable */
    add_chain(g, 0, b, 2);
    expect_broken(g);
}

static void test_hostile_indirect_not_negotiated(void **state)
{
    struct fake_guest *g = started(0);
    struct fake_buf b = { fake_alloc(g, 8, 8), 8, true };
    add_indirect(g, 0, &b, 1);
    expect_broken(g);
}

static void test_hostile_indirect_bad_size(void **state)
{
    struct fake_guest *g = started(VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
    uint64_t table = fake_alloc(g, 32, 16);
    put_desc(g, g->q[0].desc, 0, table, 24, VIRTQ_DESC_F_INDIRECT, 0); /* not a multiple of 16 */
    avail_publish(g, 0, 0);
    expect_broken(g);
}

static void test_hostile_indirect_nested(void **state)
{
    struct fake_guest *g = started(VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
    uint64_t table = fake_alloc(g, 16, 16), inner = fake_alloc(g, 16, 16);
    put_desc(g, inner, 0, fake_alloc(g, 8, 8), 8, VIRTQ_DESC_F_WRITE, 0);
    put_desc(g, table, 0, inner, 16, VIRTQ_DESC_F_INDIRECT, 0);
    put_desc(g, g->q[0].desc, 0, table, 16, VIRTQ_DESC_F_INDIRECT, 0);
    avail_publish(g, 0, 0);
    expect_broken(g);
}

static void test_hostile_indirect_loop(void **state)
{
    struct fake_guest *g = started(VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
    uint64_t table = fake_alloc(g, 32, 16), buf = fake_alloc(g, 8, 8);
    put_desc(g, table, 0, buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    put_desc(g, table, 1, buf, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
    put_desc(g, g->q[0].desc, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    avail_publish(g, 0, 0);
    expect_broken(g);
}

static void test_hostile_indirect_with_next(void **state)
{
    struct fake_guest *g = started(VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC));
    uint64_t table = fake_alloc(g, 16, 16);
    put_desc(g, table, 0, fake_alloc(g, 8, 8), 8, VIRTQ_DESC_F_WRITE, 0);
    put_desc(g, g->q[0].desc, 0, table, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    avail_publish(g, 0, 0);
    expect_broken(g);
}

static void test_broken_device_recovers_after_reset(void **state)
{
    struct fake_guest *g = started(0);
    avail_publish(g, 0, 100);
    kick(g, 0);
    assert_true(needs_reset(g));
    reg_write(g, VIRTIO_MMIO_STATUS, 0);
    assert_int_equal(reg_read(g, VIRTIO_MMIO_STATUS), 0);
    memset(&g->q[0], 0, sizeof(g->q[0]));
    assert_true(driver_start(g, FEATURES_V1, 1, 8) & VIRTIO_STATUS_FEATURES_OK);
    assert_int_equal(rng_request(g, 4, NULL), 4);
    free_guest(g);
}

static void test_interrupt_suppression(void **state)
{
    struct fake_guest *g = started(0);
    uint16_t *avail = gpa_ptr(g, g->q[0].avail);
    avail[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
    rng_request(g, 4, NULL);
    assert_int_equal(g->irqs, 0);
    avail[0] = 0;
    rng_request(g, 4, NULL);
    assert_int_equal(g->irqs, 1);
    free_guest(g);

    /* Event idx: an interrupt only when used idx passes used_event. */
    g = started(VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
    avail = gpa_ptr(g, g->q[0].avail);
    avail[2 + 8] = 2; /* used_event: wake me when entry 2 is used (the third) */
    rng_request(g, 4, NULL);
    rng_request(g, 4, NULL);
    assert_int_equal(g->irqs, 0);
    rng_request(g, 4, NULL);
    assert_int_equal(g->irqs, 1);
    rng_request(g, 4, NULL);
    assert_int_equal(g->irqs, 1);
    /* The device asks to be kicked for the next buffer: avail_event = its next index. */
    uint16_t avail_event;
    memcpy(&avail_event, (uint8_t *) gpa_ptr(g, g->q[0].used) + 4 + 8 * 8, 2);
    assert_int_equal(avail_event, 4);
    free_guest(g);
}

static void test_virtq_direct(void **state)
{
    /* The queue API on its own, as the fuzz target drives it. */
    static uint8_t ram[8192] __attribute__((aligned(16)));
    struct guest_memory mem = { 0 };
    assert_int_equal(guest_memory_add_region(&mem, 0, sizeof(ram), ram), 0);
    struct virtq q;
    virtq_reset(&q, 4);
    q.desc_addr = 0;
    q.driver_addr = 64;
    q.device_addr = 128;
    assert_int_equal(virtq_enable(&q, &mem, false, false), 0);
    assert_int_equal(virtq_pending(&q), 0);
    struct virtq_chain *c = malloc(sizeof(*c));
    assert_int_equal(virtq_pop(&q, &mem, c), 0);
    /* Two-descriptor chain: 10 readable bytes then 20 writable. */
    uint8_t d[16] = { 0 };
    uint64_t a = 1024;
    uint32_t l = 10;
    uint16_t f = VIRTQ_DESC_F_NEXT, n = 1;
    memcpy(d, &a, 8), memcpy(d + 8, &l, 4), memcpy(d + 12, &f, 2), memcpy(d + 14, &n, 2);
    memcpy(ram, d, 16);
    a = 2048, l = 20, f = VIRTQ_DESC_F_WRITE, n = 0;
    memcpy(d, &a, 8), memcpy(d + 8, &l, 4), memcpy(d + 12, &f, 2), memcpy(d + 14, &n, 2);
    memcpy(ram + 16, d, 16);
    uint16_t *avail = (uint16_t *) (ram + 64);
    avail[2] = 0;
    avail[1] = 1;
    assert_int_equal(virtq_pop(&q, &mem, c), 1);
    assert_int_equal(c->n_out, 1);
    assert_int_equal(c->n_in, 1);
    assert_int_equal(c->out_len, 10);
    assert_int_equal(c->in_len, 20);
    assert_ptr_equal(c->iov[1].iov_base, ram + 2048);
    assert_int_equal(virtq_push(&q, c->head, 20), 0);
    assert_int_equal(*(uint16_t *) (ram + 130), 1);
    assert_true(virtq_needs_interrupt(&q));
    assert_false(virtq_needs_interrupt(&q)); /* nothing new pushed */
    assert_int_equal(virtq_push(&q, 9, 0), -EINVAL);
    virtq_set_notification(&q, false);
    assert_int_equal(*(uint16_t *) (ram + 128), VIRTQ_USED_F_NO_NOTIFY);
    virtq_set_notification(&q, true);
    assert_int_equal(*(uint16_t *) (ram + 128), 0);

    /* iov helpers across descriptor boundaries. */
    uint8_t x[4] = { 1, 2, 3, 4 }, y[4] = { 0 };
    struct iovec iov[2] = { { ram + 4000, 2 }, { ram + 5000, 2 } };
    assert_int_equal(buf_to_iov(iov, 2, 1, x, 4), 3);
    assert_int_equal(iov_to_buf(iov, 2, 1, y, 4), 3);
    assert_memory_equal(x, y, 3);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity_registers),
        cmocka_unit_test(test_feature_negotiation),
        cmocka_unit_test(test_rng_fills_buffers),
        cmocka_unit_test(test_queue_setup_is_checked),
        cmocka_unit_test(test_hostile_head_index),
        cmocka_unit_test(test_hostile_avail_jump),
        cmocka_unit_test(test_hostile_loop),
        cmocka_unit_test(test_hostile_next_out_of_range),
        cmocka_unit_test(test_hostile_buffer_outside_memory),
        cmocka_unit_test(test_hostile_buffer_wraps),
        cmocka_unit_test(test_hostile_direction_order),
        cmocka_unit_test(test_hostile_indirect_not_negotiated),
        cmocka_unit_test(test_hostile_indirect_bad_size),
        cmocka_unit_test(test_hostile_indirect_nested),
        cmocka_unit_test(test_hostile_indirect_loop),
        cmocka_unit_test(test_hostile_indirect_with_next),
        cmocka_unit_test(test_broken_device_recovers_after_reset),
        cmocka_unit_test(test_interrupt_suppression),
        cmocka_unit_test(test_virtq_direct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
