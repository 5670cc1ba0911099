#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/disk/disk.h"

static void test_raw_roundtrip_and_bounds(void **state)
{
    char path[] = "/tmp/berth-test-raw-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);

    struct disk *d = NULL;
    struct berth_error err = { 0 };
    assert_int_equal(disk_open(path, NULL, false, &d, &err), 0);
    assert_string_equal(d->ops->format, "raw");
    assert_int_equal(d->size, 1 << 20);

    char buf[4096], back[4096];
    memset(buf, 0xab, sizeof(buf));
    assert_int_equal(disk_write(d, 8192, buf, sizeof(buf)), 0);
    assert_int_equal(disk_read(d, 8192, back, sizeof(back)), 0);
    assert_memory_equal(buf, back, sizeof(buf));
    assert_int_equal(disk_flush(d), 0);

    /* Past the end and overflowing ranges are refused, not wrapped. */
    assert_int_equal(disk_read(d, (1 << 20) - 100, back, sizeof(back)), -EINVAL);
    assert_int_equal(disk_write(d, UINT64_MAX - 10, buf, sizeof(buf)), -EINVAL);

    assert_int_equal(disk_discard(d, 8192, 4096), 0);
    assert_int_equal(disk_read(d, 8192, back, sizeof(back)), 0);
    memset(buf, 0, sizeof(buf));
    assert_memory_equal(buf, back, sizeof(buf));
    disk_close(d);

    assert_int_equal(disk_open(path, NULL, true, &d, &err), 0);
    assert_int_equal(disk_write(d, 0, buf, 512), -EROFS);
    disk_close(d);
    unlink(path);

    assert_int_equal(disk_open(path, NULL, false, &d, &err), -ENOENT);
    assert_non_null(strstr(err.msg, path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raw_roundtrip_and_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
