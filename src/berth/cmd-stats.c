/* berth stats: CPU, memory and pids of running containers from their cgroups; refreshed every
 * second on a terminal like docker stats, one sample otherwise or with --no-stream. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "commands.h"
#include "containers/stats.h"
#include "store/store.h"

static const char usage[] =
    "Usage: berth stats [--no-stream] [--format text|json] [NAME...]\n\n"
    "Shows CPU %, memory use and limit, and the number of processes of running containers (all\n"
    "running containers when no NAME is given), read from their cgroups. On a terminal the table\n"
    "refreshes every second until interrupted; with --no-stream, or when the output is not a\n"
    "terminal, it prints one sample. CPU % is of one CPU (200% = two CPUs busy); memory use leaves\n"
    "out reclaimable page cache, as docker stats does; an unlimited container's limit is the host's\n"
    "memory (0 in JSON).\n";

struct sample {
    struct ctr_record rec;
    struct ctr_usage prev, cur;
    bool ok, has_prev; /* this sample read; the previous one too (CPU % needs both) */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static uint64_t host_memory(void)
{
    _cleanup_free_ char *text = NULL;
    if (fs_read_file("/proc/meminfo", 1 << 16, &text, NULL, NULL) < 0)
        return 0;
    const char *p = strstr(text, "MemTotal:");
    return p ? strtoull(p + strlen("MemTotal:"), NULL, 10) * 1024 : 0;
}

static void human(uint64_t v, char *buf, size_t cap)
{
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
    double d = (double) v;
    size_t u = 0;
    while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
        d /= 1024;
        u++;
    }
    snprintf(buf, cap, u ? "%.2f%s" : "%.0f%s", d, units[u]);
}

/* "1.5MiB / 2GiB" */
static void pair(uint64_t a, uint64_t b, char *buf, size_t cap)
{
    char x[32], y[32];
    human(a, x, sizeof(x));
    human(b, y, sizeof(y));
    snprintf(buf, cap, "%s / %s", x, y);
}

/* The containers to show: the named ones (errors printed, *rc = 1), or every running one. */
static int collect(struct store *s, char **names, int n_names, struct sample **ret, size_t *ret_n, int *rc)
{
    struct sample *list = NULL;
    size_t n = 0;
    struct berth_error err = { 0 };
    if (n_names > 0) {
        list = calloc((size_t) n_names, sizeof(*list));
        if (!list)
            return -ENOMEM;
        for (int i = 0; i < n_names; i++) {
            struct ctr_record rec;
            if (ctr_record_find(s, names[i], &rec, &err) < 0) {
                fprintf(stderr, "berth stats: %s\n", berth_error_message(&err));
                berth_error_clear(&err);
                *rc = 1;
                continue;
            }
            ctr_refresh(s, &rec, NULL);
            if (strcmp(rec.state, "running") && strcmp(rec.state, "paused")) {
                fprintf(stderr, "berth stats: container %s is not running (it is %s)\n", rec.name, rec.state);
                ctr_record_clear(&rec);
                *rc = 1;
                continue;
            }
            list[n++].rec = rec;
        }
    } else {
        struct ctr_record *all = NULL;
        size_t n_all = 0;
        if (ctr_record_list(s, &all, &n_all, &err) < 0) {
            fprintf(stderr, "berth stats: %s\n", berth_error_message(&err));
            return -EIO;
        }
        list = calloc(n_all ? n_all : 1, sizeof(*list));
        if (!list) {
            ctr_record_list_free(all, n_all);
            return -ENOMEM;
        }
        for (size_t i = 0; i < n_all; i++) {
            ctr_refresh(s, &all[i], NULL);
            if (!strcmp(all[i].state, "running") || !strcmp(all[i].state, "paused")) {
                list[n++].rec = all[i];
                memset(&all[i], 0, sizeof(all[i]));
            }
        }
        ctr_record_list_free(all, n_all);
    }
    *ret = list;
    *ret_n = n;
    return 0;
}

static void free_samples(struct sample *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        ctr_record_clear(&list[i].rec);
    free(list);
}

static void read_all(struct sample *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        list[i].prev = list[i].cur;
        list[i].has_prev = list[i].ok;
        list[i].ok = ctr_stats(&list[i].rec, &list[i].cur, NULL) == 0;
    }
}

static json_t *sample_json(const struct sample *x, uint64_t wall_ns, uint64_t host_mem)
{
    const struct cgroup_stats *c = &x->cur.cg;
    uint64_t used = ctr_memory_used(c);
    bool limited = c->memory_limit != UINT64_MAX;
    uint64_t lim = limited ? c->memory_limit : host_mem;
    json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:I, s:I, s:I, s:I, s:f, s:I, s:I}", "id", x->rec.id, "name", x->rec.name,
                     "state", x->rec.state, "cpu_percent", x->has_prev ? ctr_cpu_percent(&x->prev.cg, c, wall_ns) : 0.0, "cpu_usage_ns",
                     (json_int_t) c->cpu_usage_ns, "memory_usage", (json_int_t) used, "memory_cache",
                     (json_int_t) c->memory_cache, "memory_limit", (json_int_t) (limited ? c->memory_limit : 0),
                     "memory_percent", lim ? 100.0 * (double) used / (double) lim : 0.0, "pids_current",
                     (json_int_t) c->pids_current, "pids_limit",
                     (json_int_t) (c->pids_limit == UINT64_MAX ? 0 : c->pids_limit));
    json_object_set_new(o, "net_rx_bytes", json_integer((json_int_t) x->cur.net_rx_bytes));
    json_object_set_new(o, "net_tx_bytes", json_integer((json_int_t) x->cur.net_tx_bytes));
    json_object_set_new(o, "block_read_bytes", json_integer((json_int_t) c->io_read_bytes));
    json_object_set_new(o, "block_write_bytes", json_integer((json_int_t) c->io_write_bytes));
    return o;
}

static void print_table(const struct sample *list, size_t n, uint64_t wall_ns, uint64_t host_mem)
{
    printf("%-12s  %-20s  %8s  %-24s  %7s  %-22s  %-22s  %5s\n", "CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT",
           "MEM %", "NET I/O", "BLOCK I/O", "PIDS");
    for (size_t i = 0; i < n; i++) {
        if (!list[i].ok)
            continue;
        const struct cgroup_stats *c = &list[i].cur.cg;
        uint64_t used = ctr_memory_used(c);
        uint64_t lim = c->memory_limit != UINT64_MAX ? c->memory_limit : host_mem;
        char mem[80], net[80], blk[80];
        pair(used, lim, mem, sizeof(mem));
        pair(list[i].cur.net_rx_bytes, list[i].cur.net_tx_bytes, net, sizeof(net));
        pair(c->io_read_bytes, c->io_write_bytes, blk, sizeof(blk));
        printf("%-12.12s  %-20s  %7.2f%%  %-24s  %6.2f%%  %-22s  %-22s  %5llu\n", list[i].rec.id, list[i].rec.name,
               list[i].has_prev ? ctr_cpu_percent(&list[i].prev.cg, c, wall_ns) : 0.0, mem,
               lim ? 100.0 * (double) used / (double) lim : 0.0, net, blk, (unsigned long long) c->pids_current);
    }
}

int cmd_ctr_stats(int argc, char **argv)
{
    bool no_stream = false;
    const char *format = "text";
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (!strcmp(argv[first], "--help") || !strcmp(argv[first], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[first], "--no-stream")) {
            no_stream = true;
        } else if (!strcmp(argv[first], "--format")) {
            if (first + 1 >= argc) {
                fprintf(stderr, "berth stats: --format needs a value (text or json)\n");
                return 125;
            }
            format = argv[++first];
        } else if (!strncmp(argv[first], "--format=", 9)) {
            format = argv[first] + 9;
        } else {
            fprintf(stderr, "berth stats: unknown option '%s' (see --help)\n", argv[first]);
            return 125;
        }
    }
    bool json = !strcmp(format, "json");
    if (!json && strcmp(format, "text")) {
        fprintf(stderr, "berth stats: unknown --format '%s' (expected text or json)\n", format);
        return 125;
    }
    struct berth_error err = { 0 };
    _cleanup_store_ struct store *s = NULL;
    if (ctr_store_open(&s, &err) < 0) {
        fprintf(stderr, "berth stats: %s\n", berth_error_message(&err));
        return 125;
    }
    bool stream = !no_stream && isatty(STDOUT_FILENO);
    uint64_t host_mem = host_memory();
    int rc = 0;
    struct sample *list = NULL;
    size_t n = 0;
    if (collect(s, argv + first, argc - first, &list, &n, &rc) < 0)
        return 125;
    if (n == 0 && argc > first) {
        free_samples(list, n);
        return 1;
    }
    /* CPU % needs two samples: the first one-shot table waits half a second between them. */
    read_all(list, n);
    uint64_t t0 = now_ns();
    struct timespec half = { 0, 500 * 1000 * 1000 };
    nanosleep(&half, NULL);
    for (;;) {
        read_all(list, n);
        uint64_t t1 = now_ns();
        if (stream && !json)
            fputs("\033[2J\033[H", stdout);
        if (json) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                if (list[i].ok)
                    json_array_append_new(arr, sample_json(&list[i], t1 - t0, host_mem));
            json_dumpf(arr, stdout, stream ? JSON_COMPACT : JSON_INDENT(2));
            putchar('\n');
            json_decref(arr);
        } else {
            print_table(list, n, t1 - t0, host_mem);
        }
        fflush(stdout);
        if (!stream)
            break;
        struct timespec second = { 1, 0 };
        nanosleep(&second, NULL);
        t0 = t1;
        if (argc == first) {
            /* Follow containers that start or stop while streaming. */
            struct sample *next = NULL;
            size_t n_next = 0;
            if (collect(s, NULL, 0, &next, &n_next, &rc) == 0) {
                for (size_t i = 0; i < n_next; i++)
                    for (size_t k = 0; k < n; k++)
                        if (!strcmp(next[i].rec.id, list[k].rec.id)) {
                            next[i].cur = list[k].cur;
                            next[i].ok = list[k].ok;
                        }
                free_samples(list, n);
                list = next;
                n = n_next;
            }
        }
    }
    free_samples(list, n);
    return rc;
}
