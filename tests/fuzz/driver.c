/* A small bounded fuzz driver, so every fuzz target also runs in the ordinary test suite (gcc,
 * ASan+UBSan build) without libFuzzer: it replays the seed files given on the command line, then
 * feeds mutated versions of them (bit flips, byte sets, truncation, splices, interesting integers)
 * for BERTH_FUZZ_SECONDS seconds (default 3). Built with clang -fsanitize=fuzzer instead, the same
 * target file links against libFuzzer and this driver is left out.
 * Exit status: 0; a crash or sanitizer report is the failure. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (1 << 20)

struct seed {
    uint8_t *data;
    size_t size;
};

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic per BERTH_FUZZ_SEED so failures can be replayed. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static int load_seed(const char *path, struct seed *s)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    s->data = malloc(MAX_INPUT);
    s->size = s->data ? fread(s->data, 1, MAX_INPUT, f) : 0;
    fclose(f);
    return s->data ? 0 : -1;
}

static size_t mutate(uint8_t *buf, size_t size, size_t cap, const struct seed *seeds, size_t n_seeds)
{
    static const uint64_t interesting[] = { 0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
                                            0x7fffffff, 0x80000000, 0xffffffff, UINT64_MAX,
                                            0x8000000000000000ULL, 512, 4096, 65536 };
    int rounds = 1 + (int) (rnd() % 8);
    for (int i = 0; i < rounds; i++) {
        switch (rnd() % 6) {
        case 0:
            if (size)
                buf[rnd() % size] ^= (uint8_t) (1u << (rnd() % 8));
            break;
        case 1:
            if (size)
                buf[rnd() % size] = (uint8_t) rnd();
            break;
        case 2:
            if (size >= 8) {
                uint64_t v = interesting[rnd() % (sizeof(interesting) / sizeof(interesting[0]))];
                size_t width = (size_t) 1 << (rnd() % 4);
                size_t at = rnd() % (size - width + 1);
                if (rnd() & 1)
                    v = __builtin_bswap64(v) >> (64 - 8 * width);
                memcpy(buf + at, &v, width);
            }
            break;
        case 3:
            if (size)
                size = rnd() % size;
            break;
        case 4:
            if (n_seeds && size < cap) {
                const struct seed *o = &seeds[rnd() % n_seeds];
                if (o->size) {
                    size_t from = rnd() % o->size, at = rnd() % (size + 1);
                    size_t len = 1 + rnd() % (o->size - from);
                    if (at + len > cap)
                        len = cap - at;
                    memcpy(buf + at, o->data + from, len);
                    if (at + len > size)
                        size = at + len;
                }
            }
            break;
        case 5:
            while (size < cap && (rnd() % 4))
                buf[size++] = (uint8_t) rnd();
            break;
        }
    }
    return size;
}

int main(int argc, char **argv)
{
    const char *secs = getenv("BERTH_FUZZ_SECONDS");
    const char *seed_env = getenv("BERTH_FUZZ_SEED");
    double budget = secs ? atof(secs) : 3.0;
    rng_state = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t) time(NULL);
    if (rng_state == 0)
        rng_state = 88172645463325252ULL;
    fprintf(stderr, "fuzz driver: seed %llu, %.1fs\n", (unsigned long long) rng_state, budget);

    struct seed *seeds = calloc((size_t) argc, sizeof(*seeds));
    size_t n_seeds = 0;
    for (int i = 1; i < argc; i++) {
        if (load_seed(argv[i], &seeds[n_seeds]) == 0) {
            LLVMFuzzerTestOneInput(seeds[n_seeds].data, seeds[n_seeds].size);
            n_seeds++;
        } else {
            fprintf(stderr, "fuzz driver: cannot read seed %s\n", argv[i]);
            return 1;
        }
    }
    uint8_t *buf = malloc(MAX_INPUT);
    if (!buf)
        return 1;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned long runs = 0;
    for (;;) {
        size_t size;
        if (n_seeds && (rnd() % 8)) {
            const struct seed *s = &seeds[rnd() % n_seeds];
            memcpy(buf, s->data, s->size);
            size = mutate(buf, s->size, MAX_INPUT, seeds, n_seeds);
        } else {
            size = rnd() % 4096;
            for (size_t i = 0; i < size; i++)
                buf[i] = (uint8_t) rnd();
        }
        /* An exact-size copy lets ASan catch reads one past the input. */
        uint8_t *exact = malloc(size ? size : 1);
        memcpy(exact, buf, size);
        LLVMFuzzerTestOneInput(exact, size);
        free(exact);
        runs++;
        if ((runs & 63) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if ((double) (now.tv_sec - start.tv_sec) + (double) (now.tv_nsec - start.tv_nsec) / 1e9 > budget)
                break;
        }
    }
    fprintf(stderr, "fuzz driver: %lu runs\n", runs);
    for (size_t i = 0; i < n_seeds; i++)
        free(seeds[i].data);
    free(seeds);
    free(buf);
    return 0;
}
