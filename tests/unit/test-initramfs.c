#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "vmm/boot/initramfs.h"

static void put(const char *dir, const char *rel, const char *content)
{
    _cleanup_free_ char *p = fs_path_join(dir, rel);
    _cleanup_free_ char *parent = strdup(p);
    *strrchr(parent, '/') = '\0';
    assert_int_equal(fs_mkdir_p(parent, 0755), 0);
    assert_int_equal(fs_write_atomic(p, content, strlen(content), 0644, NULL), 0);
}

/* A fake /lib/modules/<version>: virtio_blk depends on virtio, which depends on virtio_ring. */
static char *fake_modules(int with_blk)
{
    char *dir = strdup("/tmp/berth-test-modules-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char dep[1024];
    snprintf(dep, sizeof(dep),
             "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n"
             "kernel/drivers/virtio/virtio_ring.ko:\n"
             "kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n"
             "%s"
             "kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n",
             with_blk ? "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko\n" : "");
    put(dir, "modules.dep", dep);
    put(dir, "modules.builtin",
        "kernel/drivers/net/virtio_net.ko\nkernel/drivers/char/virtio_console.ko\n"
        "kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko\nkernel/drivers/virtio/virtio_balloon.ko\n"
        "kernel/fs/overlayfs/overlay.ko\n");
    put(dir, "kernel/drivers/virtio/virtio.ko", "VIRTIO");
    put(dir, "kernel/drivers/virtio/virtio_ring.ko", "RING");
    put(dir, "kernel/drivers/virtio/virtio_mmio.ko", "MMIO");
    put(dir, "kernel/drivers/block/virtio_blk.ko", "BLK");
    put(dir, "kernel/drivers/char/hw_random/virtio-rng.ko", "RNG");
    return dir;
}

static void test_modules_are_ordered_dependencies_first(void **state)
{
    _cleanup_free_ char *mods = fake_modules(1);
    _cleanup_free_ char *out = fs_path_join(mods, "initramfs.img");
    _cleanup_free_ char *agent = fs_path_join(mods, "agent");
    put(mods, "agent", "#!/bin/sh\n");
    struct berth_error err = { 0 };
    assert_int_equal(initramfs_build(mods, agent, out, &err), 0);

    _cleanup_free_ char *img = NULL;
    size_t len = 0;
    assert_int_equal(fs_read_file(out, 1 << 20, &img, &len, &err), 0);
    assert_memory_equal(img, "070701", 6);
    /* The load order is stored in the archive itself. */
    const char *order = NULL;
    for (size_t i = 0; i + 10 < len; i++)
        if (!memcmp(img + i, "virtio_ring.ko\nvirtio.ko\n", 25)) {
            order = img + i;
            break;
        }
    assert_non_null(order);
    assert_memory_equal(order, "virtio_ring.ko\nvirtio.ko\nvirtio_mmio.ko\nvirtio_blk.ko\nvirtio-rng.ko\n", 67);
    assert_non_null(memmem(img, len, "TRAILER!!!", 10));
    assert_int_equal(fs_rm_rf(mods), 0);
}

static void test_missing_module_is_named(void **state)
{
    _cleanup_free_ char *mods = fake_modules(0);
    _cleanup_free_ char *out = fs_path_join(mods, "initramfs.img");
    _cleanup_free_ char *agent = fs_path_join(mods, "agent");
    put(mods, "agent", "x");
    struct berth_error err = { 0 };
    assert_int_equal(initramfs_build(mods, agent, out, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "virtio_blk is neither a module nor built in"));
    assert_false(fs_exists(out));
    assert_int_equal(fs_rm_rf(mods), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modules_are_ordered_dependencies_first),
        cmocka_unit_test(test_missing_module_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
