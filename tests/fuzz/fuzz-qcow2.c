/* Fuzz target: qcow2 header, extensions, L1/L2 tables, refcounts and compressed clusters, through
 * open (read-only and read-write), reads, writes, discard, flush and check. Any input must give an
 * error or a result, never a crash, a hang or a sanitizer report. Backing files are not opened
 * (a hostile name could point anywhere). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/disk/disk.h"
#include "vmm/disk/qcow2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];

static void load(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) < 0 || (size && pwrite(fd, data, size, 0) != (ssize_t) size))
        _exit(1);
}

static void exercise_reads(struct disk *d)
{
    static uint8_t buf[8192];
    uint64_t offs[] = {0, 4096, d->size / 2, d->size > 8192 ? d->size - 8192 : 0};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        size_t n = d->size - offs[i] < sizeof(buf) ? (size_t) (d->size - offs[i]) : sizeof(buf);
        disk_read(d, offs[i], buf, n);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fd < 0) {
        fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
        if (fd < 0)
            return 0;
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    }
    load(data, size);
    struct qcow2_open_opts o = {.read_only = true, .no_backing = true, .l2_cache_tables = 4};
    struct disk *d = NULL;
    struct berth_error err = {0};
    if (qcow2_open(path, &o, &d, &err) == 0) {
        exercise_reads(d);
        disk_close(d);
    }
    struct qcow2_check_result res;
    berth_error_clear(&err);
    qcow2_check(path, QCOW2_REPAIR_NONE, &res, &err);

    /* The write path: allocation, copy-on-write out of compressed clusters, discard, the
     * ordered flush; then the result must still parse and check. */
    o.read_only = false;
    berth_error_clear(&err);
    if (qcow2_open(path, &o, &d, &err) == 0) {
        static uint8_t buf[4096];
        memset(buf, 0x5a, sizeof(buf));
        uint64_t at = size >= 8 ? (uint64_t) data[size - 1] * 4096 : 0;
        if (d->size >= sizeof(buf)) {
            disk_write(d, 0, buf, sizeof(buf));
            disk_write(d, at % (d->size - sizeof(buf) + 1), buf, 100);
            disk_discard(d, 0, d->size < 65536 ? d->size : 65536);
        }
        disk_flush(d);
        disk_close(d);
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_size < (64 << 20)) {
            berth_error_clear(&err);
            qcow2_check(path, QCOW2_REPAIR_NONE, &res, &err);
        }
    }
    return 0;
}
