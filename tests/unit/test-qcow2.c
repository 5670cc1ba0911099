/* qcow2: round trips, backing chains, discard, resize, bulk overlays, and corrupt images that must
 * fail with an error naming the field rather than crash. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/fs.h"
#include "vmm/disk/disk.h"
#include "vmm/disk/qcow2-priv.h"
#include "vmm/disk/qcow2.h"

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/berth-test-qcow2-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    fs_rm_rf(dir);
    return 0;
}

static char *p(const char *name)
{
    static char buf[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

static void create(const char *name, uint64_t size, unsigned cb, const char *backing)
{
    struct qcow2_create_opts o = {.size = size, .cluster_bits = cb, .backing = backing};
    struct berth_error err = {0};
    unlink(p(name));
    int r = qcow2_create(p(name), &o, &err);
    if (r < 0)
        fail_msg("create %s: %s", name, err.msg);
}

static struct disk *open_rw(const char *name)
{
    struct disk *d = NULL;
    struct berth_error err = {0};
    int r = disk_open(p(name), NULL, false, &d, &err);
    if (r < 0)
        fail_msg("open %s: %s", name, err.msg);
    return d;
}

static void expect_bytes(struct disk *d, uint64_t off, size_t len, uint8_t byte)
{
    uint8_t *buf = malloc(len);
    assert_int_equal(disk_read(d, off, buf, len), 0);
    for (size_t i = 0; i < len; i++)
        if (buf[i] != byte)
            fail_msg("offset %llu: 0x%02x, expected 0x%02x", (unsigned long long) (off + i), buf[i], byte);
    free(buf);
}

static void write_bytes(struct disk *d, uint64_t off, size_t len, uint8_t byte)
{
    uint8_t *buf = malloc(len);
    memset(buf, byte, len);
    assert_int_equal(disk_write(d, off, buf, len), 0);
    free(buf);
}

static void expect_clean(const char *name)
{
    struct qcow2_check_result res;
    struct berth_error err = {0};
    assert_int_equal(qcow2_check(p(name), QCOW2_REPAIR_NONE, &res, &err), 0);
    if (res.corruptions || res.leaks || res.check_errors)
        fail_msg("%s: %llu corruptions, %llu leaks, %llu errors: %s", name, (unsigned long long) res.corruptions,
                 (unsigned long long) res.leaks, (unsigned long long) res.check_errors, res.first_problem);
}

static void test_roundtrip(void **state)
{
    create("a.qcow2", 16 << 20, 0, NULL);
    struct disk *d = open_rw("a.qcow2");
    assert_string_equal(d->ops->format, "qcow2");
    assert_int_equal(d->size, 16 << 20);
    expect_bytes(d, 0, 8192, 0);
    write_bytes(d, 4096, 100, 0xab);
    write_bytes(d, 65536 - 10, 20, 0xcd); /* across a cluster boundary */
    write_bytes(d, 8 << 20, 1 << 20, 0x11);
    expect_bytes(d, 4096, 100, 0xab);
    expect_bytes(d, 0, 4096, 0);
    expect_bytes(d, 65536 - 10, 20, 0xcd);
    uint8_t b[16];
    assert_int_equal(disk_read(d, (16 << 20) - 8, b, 16), -EINVAL);
    assert_int_equal(disk_write(d, UINT64_MAX - 4, b, 16), -EINVAL);
    disk_close(d);
    expect_clean("a.qcow2");
    d = open_rw("a.qcow2");
    expect_bytes(d, 4096, 100, 0xab);
    expect_bytes(d, 4196, 4096, 0);
    expect_bytes(d, 8 << 20, 1 << 20, 0x11);
    disk_close(d);
}

static void test_single_writer(void **state)
{
    create("lock.qcow2", 1 << 20, 0, NULL);
    struct disk *d = open_rw("lock.qcow2"), *d2 = NULL;
    struct berth_error err = {0};
    assert_int_equal(disk_open(p("lock.qcow2"), NULL, false, &d2, &err), -EBUSY);
    assert_non_null(strstr(err.msg, "in use"));
    /* Readers are not kept out. */
    assert_int_equal(disk_open(p("lock.qcow2"), NULL, true, &d2, &err), 0);
    disk_close(d2);
    disk_close(d);
    d = open_rw("lock.qcow2");
    disk_close(d);
}

static void test_backing_cow_and_discard(void **state)
{
    create("base.qcow2", 4 << 20, 0, NULL);
    struct disk *d = open_rw("base.qcow2");
    write_bytes(d, 0, 4 << 20, 0x77);
    disk_close(d);
    create("mid.qcow2", 0, 0, "base.qcow2");
    create("top.qcow2", 0, 12, "mid.qcow2"); /* different cluster size than its backing */
    d = open_rw("top.qcow2");
    assert_int_equal(d->size, 4 << 20);
    expect_bytes(d, 0, 4 << 20, 0x77);
    write_bytes(d, 100, 10, 0x01); /* partial cluster: the rest comes from the backing file */
    expect_bytes(d, 0, 100, 0x77);
    expect_bytes(d, 100, 10, 0x01);
    expect_bytes(d, 110, 8192, 0x77);
    /* Discard over a backing file must read zeroes (zero clusters), not the backing data. */
    assert_int_equal(disk_discard(d, 8192, 3 * 4096 + 100), 0);
    expect_bytes(d, 8192, 3 * 4096 + 100, 0);
    expect_bytes(d, 8192 + 3 * 4096 + 100, 100, 0x77);
    assert_int_equal(disk_flush(d), 0);
    disk_close(d);
    expect_clean("top.qcow2");
    expect_clean("base.qcow2");
    d = open_rw("top.qcow2");
    expect_bytes(d, 8192, 3 * 4096 + 100, 0);
    expect_bytes(d, 100, 10, 0x01);
    disk_close(d);
    /* The backing file is untouched. */
    d = open_rw("base.qcow2");
    expect_bytes(d, 0, 4 << 20, 0x77);
    /* Discard without backing file: unallocated, space punched. */
    assert_int_equal(disk_discard(d, 0, 2 << 20), 0);
    expect_bytes(d, 0, 2 << 20, 0);
    disk_close(d);
    expect_clean("base.qcow2");
}

static void test_small_clusters_resize(void **state)
{
    /* 512-byte clusters and 64-bit refcounts: the refcount table has to grow, and growing the
     * disk moves the L1 table. */
    struct qcow2_create_opts o = {.size = 1 << 20, .cluster_bits = 9, .refcount_bits = 64};
    struct berth_error err = {0};
    assert_int_equal(qcow2_create(p("small.qcow2"), &o, &err), 0);
    struct disk *d = open_rw("small.qcow2");
    write_bytes(d, 0, 1 << 20, 0x5a);
    disk_close(d);
    expect_clean("small.qcow2");
    assert_int_equal(qcow2_resize(p("small.qcow2"), 64 << 20, &err), 0);
    expect_clean("small.qcow2");
    d = open_rw("small.qcow2");
    assert_int_equal(d->size, 64 << 20);
    expect_bytes(d, 0, 1 << 20, 0x5a);
    write_bytes(d, 60 << 20, 3 << 20, 0xa5);
    expect_bytes(d, 60 << 20, 3 << 20, 0xa5);
    expect_bytes(d, 1 << 20, 4096, 0);
    disk_close(d);
    expect_clean("small.qcow2");
    assert_int_equal(qcow2_resize(p("small.qcow2"), 1 << 20, &err), -ENOTSUP);
}

static void test_refcount_entries(void **state)
{
    uint8_t b[64] = {0};
    for (unsigned order = 0; order <= 6; order++) {
        memset(b, 0, sizeof(b));
        uint64_t max = order == 6 ? UINT64_MAX : (1ull << (1u << order)) - 1;
        for (uint64_t i = 0; i < 8; i++)
            qcow2_refcount_set_entry(b, i, order, i & max);
        qcow2_refcount_set_entry(b, 3, order, max);
        for (uint64_t i = 0; i < 8; i++)
            assert_int_equal(qcow2_refcount_get_entry(b, i, order), i == 3 ? max : (i & max));
    }
}

struct clone_job {
    const struct qcow2_template *t;
    int first, n, failures;
};

static void *clone_thread(void *arg)
{
    struct clone_job *j = arg;
    for (int i = j->first; i < j->first + j->n; i++) {
        char path[256]; /* not p(): its buffers are not per thread */
        snprintf(path, sizeof(path), "%s/clone-%d.qcow2", dir, i);
        struct berth_error err = {0};
        if (qcow2_template_create(j->t, path, &err) < 0)
            j->failures++;
    }
    return NULL;
}

static void test_template_parallel(void **state)
{
    create("gold.qcow2", 8 << 20, 0, NULL);
    struct disk *d = open_rw("gold.qcow2");
    write_bytes(d, 0, 65536, 0x42);
    disk_close(d);
    struct qcow2_create_opts o = {.backing = "gold.qcow2", .backing_format = "qcow2"};
    struct qcow2_template *t = NULL;
    struct berth_error err = {0};
    assert_int_equal(qcow2_template_new(&o, dir, &t, &err), 0);
    pthread_t th[4];
    struct clone_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct clone_job){.t = t, .first = i * 25, .n = 25};
        pthread_create(&th[i], NULL, clone_thread, &jobs[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    /* An existing path is refused, not overwritten. */
    assert_int_equal(qcow2_template_create(t, p("clone-0.qcow2"), &err), -EEXIST);
    qcow2_template_free(t);
    d = open_rw("clone-99.qcow2");
    expect_bytes(d, 0, 65536, 0x42);
    write_bytes(d, 0, 10, 0x01);
    disk_close(d);
    expect_clean("clone-99.qcow2");
    expect_clean("clone-7.qcow2");
}

/* Corrupt images: poke a big-endian value into a copy of a good image. */
static void poke(const char *name, uint64_t off, uint64_t v, int width)
{
    int fd = open(p(name), O_RDWR);
    assert_true(fd >= 0);
    uint8_t b[8];
    if (width == 8)
        be64_store(b, v);
    else
        be32_store(b, (uint32_t) v);
    assert_int_equal(pwrite(fd, b, (size_t) width, (off_t) off), width);
    close(fd);
}

static uint64_t peek64(const char *name, uint64_t off)
{
    int fd = open(p(name), O_RDONLY);
    uint8_t b[8];
    assert_int_equal(pread(fd, b, 8, (off_t) off), 8);
    close(fd);
    return be64_load(b);
}

static void expect_open_error(const char *name, const char *needle)
{
    struct disk *d = NULL;
    struct berth_error err = {0};
    int r = disk_open(p(name), "qcow2", true, &d, &err);
    if (r >= 0)
        fail_msg("%s opened, expected an error with '%s'", name, needle);
    if (!strstr(err.msg, needle))
        fail_msg("%s: error '%s' lacks '%s'", name, err.msg, needle);
}

static void fresh(const char *name)
{
    create(name, 1 << 20, 0, NULL);
    struct disk *d = open_rw(name);
    write_bytes(d, 0, 4096, 0x99);
    disk_close(d);
}

static void test_corrupt_headers(void **state)
{
    fresh("c.qcow2");
    poke("c.qcow2", 0, 0x12345678, 4);
    expect_open_error("c.qcow2", "magic");
    fresh("c.qcow2");
    poke("c.qcow2", 4, 7, 4);
    expect_open_error("c.qcow2", "version");
    fresh("c.qcow2");
    poke("c.qcow2", 20, 40, 4);
    expect_open_error("c.qcow2", "cluster_bits");
    fresh("c.qcow2");
    poke("c.qcow2", 24, UINT64_MAX, 8);
    expect_open_error("c.qcow2", "size");
    fresh("c.qcow2");
    poke("c.qcow2", 40, 1ull << 40, 8);
    expect_open_error("c.qcow2", "L1 table");
    fresh("c.qcow2");
    poke("c.qcow2", 40, 65536 + 8, 8);
    expect_open_error("c.qcow2", "l1_table_offset");
    fresh("c.qcow2");
    poke("c.qcow2", 36, 0xffffffff, 4);
    expect_open_error("c.qcow2", "l1_size");
    fresh("c.qcow2");
    poke("c.qcow2", 48, 1ull << 40, 8);
    expect_open_error("c.qcow2", "refcount_table_offset");
    fresh("c.qcow2");
    poke("c.qcow2", 72, 1ull << 20, 8);
    expect_open_error("c.qcow2", "unknown feature bit 20");
    fresh("c.qcow2");
    poke("c.qcow2", 72, 1ull << 4, 8);
    expect_open_error("c.qcow2", "extended L2 entries");
    fresh("c.qcow2");
    poke("c.qcow2", 100, 12, 4);
    expect_open_error("c.qcow2", "header_length");
    fresh("c.qcow2");
    poke("c.qcow2", 32, 1, 4);
    expect_open_error("c.qcow2", "crypt_method");
    fresh("c.qcow2");
    poke("c.qcow2", 96, 9, 4);
    expect_open_error("c.qcow2", "refcount_order");
    /* A refcount table entry pointing past the end of the file. */
    fresh("c.qcow2");
    poke("c.qcow2", peek64("c.qcow2", 48), 1ull << 40, 8);
    expect_open_error("c.qcow2", "refcount table entry 0");
    /* Corrupt bit: read-only is fine, read-write is refused. */
    fresh("c.qcow2");
    poke("c.qcow2", 72, 2, 8);
    struct disk *d = NULL;
    struct berth_error err = {0};
    assert_int_equal(disk_open(p("c.qcow2"), NULL, true, &d, &err), 0);
    disk_close(d);
    assert_int_equal(disk_open(p("c.qcow2"), NULL, false, &d, &err), -EUCLEAN);
    assert_non_null(strstr(err.msg, "corrupt"));
}

static void test_corrupt_tables(void **state)
{
    struct berth_error err = {0};
    struct qcow2_check_result res;
    uint8_t buf[4096];
    /* An L2 entry pointing beyond the end of the file: the read fails, check counts it. */
    fresh("t.qcow2");
    uint64_t l2 = peek64("t.qcow2", peek64("t.qcow2", 40)) & QCOW2_OFFSET_MASK;
    assert_true(l2 != 0);
    poke("t.qcow2", l2, (1ull << 45) | QCOW2_OFLAG_COPIED, 8);
    struct disk *d = NULL;
    assert_int_equal(disk_open(p("t.qcow2"), NULL, true, &d, &err), 0);
    assert_int_equal(disk_read(d, 0, buf, sizeof(buf)), -EUCLEAN);
    expect_bytes(d, 65536, 4096, 0); /* the rest of the disk still reads */
    disk_close(d);
    assert_int_equal(qcow2_check(p("t.qcow2"), QCOW2_REPAIR_NONE, &res, &err), 0);
    assert_true(res.corruptions >= 1);
    assert_non_null(strstr(res.first_problem, "beyond the end of the file"));
    /* Unaligned data cluster. */
    fresh("t.qcow2");
    poke("t.qcow2", l2, (l2 + 512) | QCOW2_OFLAG_COPIED, 8);
    assert_int_equal(disk_open(p("t.qcow2"), NULL, true, &d, &err), 0);
    assert_int_equal(disk_read(d, 0, buf, sizeof(buf)), -EUCLEAN);
    disk_close(d);
    /* A data cluster on top of the header must never be written through. */
    fresh("t.qcow2");
    poke("t.qcow2", l2 + 8, peek64("t.qcow2", 48) | QCOW2_OFLAG_COPIED, 8);
    assert_int_equal(disk_open(p("t.qcow2"), NULL, false, &d, &err), 0);
    memset(buf, 0xee, sizeof(buf));
    assert_int_equal(disk_write(d, 65536, buf, sizeof(buf)), -EUCLEAN);
    disk_close(d);
    /* L1 entry to an L2 table past the end of the file. */
    fresh("t.qcow2");
    poke("t.qcow2", peek64("t.qcow2", 40), (1ull << 44) | QCOW2_OFLAG_COPIED, 8);
    assert_int_equal(disk_open(p("t.qcow2"), NULL, true, &d, &err), 0);
    assert_int_equal(disk_read(d, 0, buf, sizeof(buf)), -EUCLEAN);
    disk_close(d);
    /* Refcount overflow: two references to one cluster with 1-bit refcounts. */
    struct qcow2_create_opts o = {.size = 1 << 20, .refcount_bits = 1};
    unlink(p("o.qcow2"));
    assert_int_equal(qcow2_create(p("o.qcow2"), &o, &err), 0);
    d = open_rw("o.qcow2");
    write_bytes(d, 0, 4096, 0x99);
    disk_close(d);
    l2 = peek64("o.qcow2", peek64("o.qcow2", 40)) & QCOW2_OFFSET_MASK;
    poke("o.qcow2", l2 + 8, peek64("o.qcow2", l2), 8);
    assert_int_equal(qcow2_check(p("o.qcow2"), QCOW2_REPAIR_NONE, &res, &err), 0);
    assert_true(res.corruptions >= 1);
    assert_non_null(strstr(res.first_problem, "refcount overflow"));
}

static void test_backing_loop(void **state)
{
    /* x -> y -> x: two overlays made to name each other. */
    create("b1.qcow2", 1 << 20, 0, NULL);
    create("x.qcow2", 0, 0, "b1.qcow2");
    create("y.qcow2", 0, 0, "x.qcow2");
    assert_int_equal(rename(p("y.qcow2"), p("b1.qcow2")), 0);
    expect_open_error("x.qcow2", "backing-file loop");
    /* A file that names itself. */
    create("self.qcow2", 1 << 20, 0, NULL);
    create("self2.qcow2", 0, 0, "self.qcow2");
    rename(p("self2.qcow2"), p("self.qcow2"));
    expect_open_error("self.qcow2", "loop");
    /* Confinement: a chain that leaves the allowed directory is refused. */
    struct berth_error err = {0};
    struct disk *d = NULL;
    mkdir(p("jail"), 0755);
    create("outside.qcow2", 1 << 20, 0, NULL);
    create("jail/inside.qcow2", 0, 0, "../outside.qcow2");
    create("jail/ok.qcow2", 1 << 20, 0, NULL);
    create("jail/top.qcow2", 0, 0, "ok.qcow2");
    struct qcow2_open_opts o = {.read_only = true, .backing_root = p("jail")};
    assert_int_equal(qcow2_open(p("jail/inside.qcow2"), &o, &d, &err), -EPERM);
    assert_non_null(strstr(err.msg, "lies outside"));
    assert_int_equal(qcow2_open(p("jail/top.qcow2"), &o, &d, &err), 0);
    disk_close(d);
    /* A missing backing file is named. */
    create("m.qcow2", 1 << 20, 0, NULL);
    create("n.qcow2", 0, 0, "m.qcow2");
    unlink(p("m.qcow2"));
    expect_open_error("n.qcow2", "m.qcow2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_single_writer),
        cmocka_unit_test(test_backing_cow_and_discard),
        cmocka_unit_test(test_small_clusters_resize),
        cmocka_unit_test(test_refcount_entries),
        cmocka_unit_test(test_template_parallel),
        cmocka_unit_test(test_corrupt_headers),
        cmocka_unit_test(test_corrupt_tables),
        cmocka_unit_test(test_backing_loop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
