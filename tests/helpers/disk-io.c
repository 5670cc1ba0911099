/* disk-io: drives berth's disk layer from e2e tests and benchmarks, one operation per argument.
 *
 *   disk-io [-f FORMAT] FILE OP...
 *     write:OFF:LEN:BYTE   write LEN bytes of BYTE at OFF (sizes take K/M/G)
 *     discard:OFF:LEN      discard
 *     flush                flush
 *     read:OFF:LEN:BYTE    read and compare with BYTE; exit 2 on a mismatch
 *     dump:PATH            write the whole virtual disk to PATH (raw)
 *     crash:SEED:BLOCKS:LOG  forever (SEED grows from run to run): write 4 KiB blocks at random among BLOCKS, flush
 * every 8 writes; after each flush append "gen block..." lines of what is now durable to LOG. Meant to be killed.
 * Errors: one line on stderr, exit 1. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/disk/disk-tools.h"
#include "vmm/disk/disk.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int parse(const char *s, uint64_t *v)
{
    return disk_parse_size(s, v);
}

/* Block content: (block, gen) tag then a pattern from them, so that any 4 KiB is self-checking. */
static void fill_block(uint8_t *b, uint64_t block, uint64_t gen)
{
    memcpy(b, &block, 8);
    memcpy(b + 8, &gen, 8);
    for (size_t i = 16; i < 4096; i++)
        b[i] = (uint8_t) (block * 31 + gen * 7 + i);
}

static int crash_loop(struct disk *d, uint64_t seed, uint64_t blocks, const char *log)
{
    int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (lfd < 0)
        return -errno;
    uint8_t buf[4096];
    uint64_t pending[8];
    /* Generations grow across runs (the seed is the high half), so a later run's writes are
     * always newer than an earlier run's. */
    for (uint64_t gen = (seed << 32) + 1;; gen++) {
        uint64_t block = rnd() % blocks;
        fill_block(buf, block, gen);
        int r = disk_write(d, block * 4096, buf, sizeof(buf));
        if (r < 0)
            return r;
        pending[(gen - 1) % 8] = block;
        if (gen % 8 == 0) {
            r = disk_flush(d);
            if (r < 0)
                return r;
            char line[256];
            int n = snprintf(line, sizeof(line), "%llu", (unsigned long long) gen);
            for (int i = 0; i < 8; i++)
                n += snprintf(line + n, sizeof(line) - (size_t) n, " %llu", (unsigned long long) pending[i]);
            line[n++] = '\n';
            if (write(lfd, line, (size_t) n) != n)
                return -EIO;
        }
    }
}

int main(int argc, char **argv)
{
    const char *fmt = NULL;
    int a = 1;
    if (argc > 2 && !strcmp(argv[1], "-f")) {
        fmt = argv[2];
        a = 3;
    }
    if (argc - a < 1) {
        fprintf(stderr, "usage: disk-io [-f FORMAT] FILE OP...\n");
        return 1;
    }
    const char *path = argv[a++];
    struct berth_error err = {0};
    struct disk *d = NULL;
    bool ro = true;
    for (int i = a; i < argc; i++)
        if (strncmp(argv[i], "read:", 5) && strncmp(argv[i], "dump:", 5))
            ro = false;
    if (disk_open(path, fmt, ro, &d, &err) < 0) {
        fprintf(stderr, "disk-io: %s\n", berth_error_message(&err));
        return 1;
    }
    int status = 0;
    for (; a < argc && status == 0; a++) {
        char *op = strdup(argv[a]), *save = NULL;
        char *name = strtok_r(op, ":", &save);
        char *f[3] = {strtok_r(NULL, ":", &save), strtok_r(NULL, ":", &save), strtok_r(NULL, ":", &save)};
        uint64_t off = 0, len = 0;
        int r = 0;
        if (!strcmp(name, "write") || !strcmp(name, "read")) {
            if (!f[2] || parse(f[0], &off) < 0 || parse(f[1], &len) < 0) {
                fprintf(stderr, "disk-io: bad op %s\n", argv[a]);
                return 1;
            }
            uint8_t byte = (uint8_t) strtoul(f[2], NULL, 0);
            uint8_t *buf = malloc(len ? len : 1);
            if (!strcmp(name, "write")) {
                memset(buf, byte, len);
                r = disk_write(d, off, buf, len);
            } else {
                r = disk_read(d, off, buf, len);
                for (uint64_t k = 0; r >= 0 && k < len; k++)
                    if (buf[k] != byte) {
                        fprintf(stderr, "disk-io: byte %llu is 0x%02x, expected 0x%02x\n",
                                (unsigned long long) (off + k), buf[k], byte);
                        status = 2;
                        break;
                    }
            }
            free(buf);
        } else if (!strcmp(name, "discard")) {
            if (!f[1] || parse(f[0], &off) < 0 || parse(f[1], &len) < 0)
                return 1;
            r = disk_discard(d, off, len);
        } else if (!strcmp(name, "flush")) {
            r = disk_flush(d);
        } else if (!strcmp(name, "dump") && f[0]) {
            FILE *out = fopen(f[0], "wb");
            uint8_t *buf = malloc(1 << 20);
            for (uint64_t o = 0; out && o < d->size && r >= 0; o += 1 << 20) {
                size_t n = d->size - o < (1 << 20) ? (size_t) (d->size - o) : (1 << 20);
                r = disk_read(d, o, buf, n);
                if (r >= 0 && fwrite(buf, 1, n, out) != n)
                    r = -EIO;
            }
            if (!out || fclose(out) != 0)
                r = -EIO;
            free(buf);
        } else if (!strcmp(name, "crash") && f[2]) {
            uint64_t seed = strtoull(f[0], NULL, 0);
            rng = seed * 2654435761u + 1;
            r = crash_loop(d, seed, strtoull(f[1], NULL, 0), f[2]);
        } else {
            fprintf(stderr, "disk-io: unknown op %s\n", argv[a]);
            return 1;
        }
        if (r < 0) {
            fprintf(stderr, "disk-io: %s: %s\n", argv[a], strerror(-r));
            status = 1;
        }
        free(op);
    }
    disk_close(d);
    return status;
}
