#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/devices/bus.h"
#include "vmm/kvm/guest-memory.h"

static uint8_t low[4096], high[4096];

static void test_ranges_must_lie_in_one_region(void **state)
{
    struct guest_memory mem = { 0 };
    assert_int_equal(guest_memory_add_region(&mem, 0, sizeof(low), low), 0);
    assert_int_equal(guest_memory_add_region(&mem, 0x10000, sizeof(high), high), 0);
    assert_int_equal(guest_memory_add_region(&mem, 0x800, 16, high), -EEXIST);
    assert_int_equal(guest_memory_add_region(&mem, UINT64_MAX - 4, 16, high), -EINVAL);

    assert_ptr_equal(guest_memory_ptr(&mem, 0, 4096), low);
    assert_ptr_equal(guest_memory_ptr(&mem, 0x10010, 16), high + 16);
    assert_null(guest_memory_ptr(&mem, 4000, 200));          /* runs off the end */
    assert_null(guest_memory_ptr(&mem, 0x5000, 1));           /* hole */
    assert_null(guest_memory_ptr(&mem, UINT64_MAX, 2));       /* wraps */
    assert_null(guest_memory_ptr(&mem, 0x10000, UINT64_MAX)); /* absurd length */
    assert_non_null(guest_memory_ptr(&mem, 4096, 0));         /* empty range at the end */

    uint32_t v = 0xdeadbeef, back = 0;
    assert_int_equal(guest_memory_write(&mem, 0x10ffc, &v, 4), 0);
    assert_int_equal(guest_memory_read(&mem, 0x10ffc, &back, 4), 0);
    assert_int_equal(back, v);
    assert_int_equal(guest_memory_write(&mem, 0x10ffe, &v, 4), -EFAULT);
}

static uint64_t last_offset;
static void record_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    last_offset = offset;
    *(uint8_t *) opaque = data[0];
}
static void fixed_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    memset(data, 0x5a, len);
}
static const struct bus_device_ops test_ops = { .read = fixed_read, .write = record_write };

static void test_bus_dispatch(void **state)
{
    struct bus bus = { 0 };
    uint8_t seen = 0;
    assert_int_equal(bus_register(&bus, 0xd0000000, 0x200, &test_ops, &seen, "dev0"), 0);
    assert_int_equal(bus_register(&bus, 0xd0000100, 0x200, &test_ops, &seen, "overlap"), -EEXIST);
    uint8_t byte = 7;
    assert_int_equal(bus_write(&bus, 0xd0000010, &byte, 1), 0);
    assert_int_equal(seen, 7);
    assert_int_equal(last_offset, 0x10);
    uint32_t word = 0;
    assert_int_equal(bus_read(&bus, 0xd00001fc, (uint8_t *) &word, 4), 0);
    assert_int_equal(word, 0x5a5a5a5a);
    assert_int_equal(bus_read(&bus, 0xd00001fe, (uint8_t *) &word, 4), -ENOENT);
    assert_int_equal(word, 0xffffffff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges_must_lie_in_one_region),
        cmocka_unit_test(test_bus_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
