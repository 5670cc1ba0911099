/* qcow2-bench: library-level benchmarks of berth's qcow2 layer (no guest, no VMM).
 *
 *   qcow2-bench io FILE [--write] [--count N] [--bs BYTES] [--step BYTES | --random]
 *       N synchronous requests of BS bytes; offsets advance by STEP modulo the disk size (the
 *       pattern `qemu-img bench -S STEP` uses) or are uniformly random. Prints "iops=N".
 *   qcow2-bench clone BASE DIR N [--threads T]
 *       Creates N thin qcow2 overlays DIR/clone-<i>.qcow2 on BASE through one template, in T
 *       threads. Prints "per_overlay_us=N". */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmm/disk/disk.h"
#include "vmm/disk/qcow2.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int bench_io(int argc, char **argv)
{
    const char *path = argv[0];
    bool write = false, random = false;
    uint64_t count = 100000, bs = 4096, step = 4096;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--write"))
            write = true;
        else if (!strcmp(argv[i], "--random"))
            random = true;
        else if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--bs") && i + 1 < argc)
            bs = strtoull(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--step") && i + 1 < argc)
            step = strtoull(argv[++i], NULL, 0);
        else {
            fprintf(stderr, "qcow2-bench io: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct disk *d = NULL;
    struct berth_error err = {0};
    if (disk_open(path, NULL, !write, &d, &err) < 0) {
        fprintf(stderr, "qcow2-bench: %s\n", berth_error_message(&err));
        return 1;
    }
    uint8_t *buf = aligned_alloc(4096, bs);
    memset(buf, 0x5a, bs);
    uint64_t blocks = d->size / bs, off = 0, rng = 0x9e3779b97f4a7c15ull;
    double t0 = now();
    for (uint64_t i = 0; i < count; i++) {
        if (random) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            off = (rng % blocks) * bs;
        }
        int r = write ? disk_write(d, off, buf, bs) : disk_read(d, off, buf, bs);
        if (r < 0) {
            fprintf(stderr, "qcow2-bench: %s at %llu: %s\n", write ? "write" : "read", (unsigned long long) off,
                    strerror(-r));
            return 1;
        }
        if (!random) {
            /* As qemu-img bench (7.2) wraps: modulo the disk size, so with a size and step that
             * are multiples of BS every request stays BS-aligned. (Wrapping modulo size - BS + 1,
             * as this did before, made every later request straddle two pages: twice the page
             * cache work and twice the writeback of qemu's aligned requests.) */
            off = (off + step) % d->size;
            if (off + bs > d->size)
                off = 0;
        }
    }
    double t = now() - t0;
    disk_close(d); /* includes the final flush, like qemu-img bench's close */
    printf("iops=%.0f seconds=%.3f\n", (double) count / t, t);
    free(buf);
    return 0;
}

struct job {
    const struct qcow2_template *t;
    const char *dir;
    int first, n, failed;
};

static void *clone_thread(void *arg)
{
    struct job *j = arg;
    char path[4096];
    for (int i = j->first; i < j->first + j->n; i++) {
        struct berth_error err = {0};
        snprintf(path, sizeof(path), "%s/clone-%d.qcow2", j->dir, i);
        if (qcow2_template_create(j->t, path, &err) < 0) {
            fprintf(stderr, "qcow2-bench: %s\n", berth_error_message(&err));
            j->failed++;
        }
    }
    return NULL;
}

static int bench_clone(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *base = argv[0], *dir = argv[1];
    int n = atoi(argv[2]), threads = 1;
    if (argc >= 5 && !strcmp(argv[3], "--threads"))
        threads = atoi(argv[4]);
    if (threads < 1 || threads > 64 || n < 1)
        return 2;
    double t0 = now();
    struct qcow2_create_opts o = {.backing = base};
    struct qcow2_template *t = NULL;
    struct berth_error err = {0};
    if (qcow2_template_new(&o, NULL, &t, &err) < 0) {
        fprintf(stderr, "qcow2-bench: %s\n", berth_error_message(&err));
        return 1;
    }
    pthread_t th[64];
    struct job jobs[64];
    int per = n / threads, failed = 0;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct job){.t = t, .dir = dir, .first = i * per, .n = i == threads - 1 ? n - i * per : per};
        pthread_create(&th[i], NULL, clone_thread, &jobs[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        failed += jobs[i].failed;
    }
    double total = now() - t0; /* template preparation included */
    qcow2_template_free(t);
    printf("per_overlay_us=%.1f seconds=%.3f failed=%d\n", total * 1e6 / n, total, failed);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "io"))
        return bench_io(argc - 2, argv + 2);
    if (argc >= 3 && !strcmp(argv[1], "clone"))
        return bench_clone(argc - 2, argv + 2);
    fprintf(stderr, "usage: qcow2-bench io FILE [--write] [--count N] [--bs B] [--step S | --random]\n"
                    "       qcow2-bench clone BASE DIR N [--threads T]\n");
    return 2;
}
