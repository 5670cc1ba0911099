/* qcow2 internals shared by the qcow2-*.c files (not for other modules). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"
#include "vmm/disk/disk.h"
#include "vmm/disk/qcow2.h"

/* Incompatible feature bits. */
#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)

/* Header extension types. */
#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_FEATURE_NAMES 0x6803f857u

/* L1/L2 entry bits. */
#define QCOW2_OFLAG_COPIED (1ull << 63)
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO (1ull << 0)
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ull     /* bits 9-55 */
#define QCOW2_L1_RESERVED 0x7f000000000001ffull     /* bits 0-8 and 56-62 */
#define QCOW2_L2_STD_RESERVED 0x3f000000000001feull /* bits 1-8 and 56-61 */
#define QCOW2_RT_RESERVED 0x1ffull

#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104
/* Implementation limits, as QEMU's: 32 MiB of L1 table, 8 MiB of refcount table. */
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_RT_BYTES (8u << 20)
/* The byte a writer locks (F_OFD_SETLK) to keep other writers out: past any real data, and clear
 * of the bytes QEMU's own image locking uses (100..299). */
#define QCOW2_LOCK_OFFSET 0x7fffffff00000000ll
/* 2^55 bytes: the largest virtual size whose clusters all stay addressable. */
#define QCOW2_MAX_VIRTUAL_SIZE (1ull << 55)

/* A bounded write-back cache of cluster-sized tables (L2 tables, refcount blocks) keyed by their
 * offset in the file. */
struct qcow2_cache_entry {
    uint64_t offset; /* 0: free slot */
    uint64_t lru;
    bool dirty;
    uint8_t *data;
};

struct qcow2_cache {
    struct qcow2_cache_entry *e;
    unsigned n;
    uint64_t tick;
    bool is_l2; /* evicting a dirty L2 table first makes refcounts durable */
};

/* A host range whose refcount drops once the tables that referenced it are durable. */
struct qcow2_free {
    uint64_t offset;
    uint64_t len;
};
/* Past this many queued frees, the write or discard that queued them flushes. */
#define QCOW2_MAX_PENDING 65536

struct qcow2 {
    struct disk *disk; /* back pointer (for size) */
    int fd;
    char *path;
    bool read_only;
    pthread_mutex_t lock;

    /* header */
    unsigned version;
    unsigned cluster_bits;
    uint64_t cluster_size;
    uint64_t size;
    uint64_t incompatible, compatible, autoclear;
    unsigned refcount_order;
    unsigned header_length;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    char *backing_name;   /* as stored */
    char *backing_format; /* from the extension, or NULL */
    char *backing_root;   /* confinement of the backing chain (realpath), or NULL */

    uint64_t l1_offset;
    uint32_t l1_size;
    uint64_t *l1;                      /* host order */
    uint32_t l1_dirty_lo, l1_dirty_hi; /* dirty range [lo, hi) */

    uint64_t rt_offset;
    uint32_t rt_clusters;
    uint64_t rt_entries;
    uint64_t *rt; /* host order */
    bool rt_dirty;
    bool rt_moved; /* rt_offset/rt_clusters changed: header needs the new location */

    uint64_t l2_entries; /* entries per L2 table */
    uint64_t rb_entries; /* refcounts per refcount block */
    uint64_t refcount_max;

    uint64_t file_size;  /* bytes at open, grown by our allocations */
    uint64_t alloc_next; /* where the next cluster is allocated: always past old data */

    struct qcow2_cache l2_cache;
    struct qcow2_cache rb_cache;

    struct qcow2_free *pending;
    size_t n_pending, cap_pending;

    struct disk *backing;

    /* compressed cluster reads */
    uint8_t *cbuf;      /* compressed input, up to 2 clusters */
    uint8_t *dbuf;      /* decompressed cluster */
    uint64_t dbuf_desc; /* descriptor dbuf holds, 0: none */
    uint8_t *cow_buf;   /* one cluster for copy-on-write */
    uint8_t *zero_buf;  /* one cluster of zeroes */
};

static inline uint64_t be64_load(const void *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
static inline uint32_t be32_load(const void *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
static inline uint16_t be16_load(const void *p)
{
    uint16_t v;
    __builtin_memcpy(&v, p, 2);
    return __builtin_bswap16(v);
}
static inline void be64_store(void *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    __builtin_memcpy(p, &v, 8);
}
static inline void be32_store(void *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    __builtin_memcpy(p, &v, 4);
}
static inline void be16_store(void *p, uint16_t v)
{
    v = __builtin_bswap16(v);
    __builtin_memcpy(p, &v, 2);
}

/* Full pread/pwrite (EINTR, short transfers). pread_full returns bytes read (short at EOF). */
ssize_t qcow2_pread(int fd, void *buf, size_t len, uint64_t off);
int qcow2_pwrite(int fd, const void *buf, size_t len, uint64_t off);

/* qcow2-header.c: parses and validates the header of an open file into q. */
int qcow2_header_load(struct qcow2 *q, struct berth_error *err);
/* Name of an incompatible feature bit (for error messages). */
const char *qcow2_incompat_name(unsigned bit);
/* L1 entries needed for a virtual size. */
uint64_t qcow2_l1_needed(uint64_t size, unsigned cluster_bits);
/* Writes a v3 header (and extensions, backing name) into buf (cluster-sized, zeroed);
 * returns the bytes used or -ENAMETOOLONG when it does not fit. */
int qcow2_header_build(uint8_t *buf, uint64_t cluster_size, unsigned cluster_bits, uint64_t size,
                       unsigned refcount_order, uint32_t l1_size, uint64_t l1_offset, uint64_t rt_offset,
                       uint32_t rt_clusters, const char *backing, const char *backing_format);

/* qcow2-cache.c */
int qcow2_cache_init(struct qcow2_cache *c, unsigned n, uint64_t table_size, bool is_l2);
void qcow2_cache_free(struct qcow2_cache *c);
/* The table at offset, loaded (or zeroed when fresh: a newly allocated cluster). The pointer is
 * valid until the next qcow2_cache_get on the same cache. */
int qcow2_cache_get(struct qcow2 *q, struct qcow2_cache *c, uint64_t offset, bool fresh, uint8_t **ret);
/* Marks the table holding p (any pointer inside it) dirty. */
void qcow2_cache_dirty(struct qcow2_cache *c, const void *p, uint64_t table_size);
bool qcow2_cache_any_dirty(const struct qcow2_cache *c);
int qcow2_cache_write_dirty(struct qcow2 *q, struct qcow2_cache *c);

/* qcow2-refcount.c */
uint64_t qcow2_refcount_get_entry(const uint8_t *block, uint64_t index, unsigned order);
void qcow2_refcount_set_entry(uint8_t *block, uint64_t index, unsigned order, uint64_t value);
int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster_index, uint64_t *ret);
/* Adds delta (+1/-1) to the refcount of every cluster overlapping [offset, offset+len). */
int qcow2_refcount_update(struct qcow2 *q, uint64_t offset, uint64_t len, int delta);
/* Allocates n contiguous fresh clusters past every existing one, with refcount 1. */
int qcow2_alloc_clusters(struct qcow2 *q, uint64_t n, uint64_t *ret_offset);
/* Finds where allocation starts: past the end of file and past any leaked refcount there. */
int qcow2_alloc_init(struct qcow2 *q);
/* Writes dirty refcount blocks and table (and moves the header's pointer), then fdatasync. */
int qcow2_refcounts_persist(struct qcow2 *q);
/* Queues a host range whose refcounts drop at the next flush. */
int qcow2_free_later(struct qcow2 *q, uint64_t offset, uint64_t len);

/* qcow2-map.c: guest cluster -> L2 entry. */
enum qcow2_kind { QCOW2_UNALLOCATED, QCOW2_ZERO, QCOW2_NORMAL, QCOW2_COMPRESSED };
struct qcow2_map {
    enum qcow2_kind kind;
    uint64_t entry;           /* raw L2 entry */
    uint64_t host;            /* NORMAL (or ZERO with preallocation): host cluster offset */
    uint64_t c_offset, c_len; /* COMPRESSED: host byte range */
};
/* Decodes and validates an L2 entry (what names the place for errors). */
int qcow2_decode_l2(struct qcow2 *q, uint64_t entry, struct qcow2_map *ret, struct berth_error *err);
/* Looks the guest cluster up. With alloc, creates its L2 table if missing and returns a pointer
 * to the entry inside the cached table (valid until the next L2 cache access). */
int qcow2_map_get(struct qcow2 *q, uint64_t vcluster, bool alloc, struct qcow2_map *ret, uint64_t **ret_slot,
                  struct berth_error *err);
/* Validates a host range for a data cluster (alignment, inside the file, not on metadata). */
int qcow2_check_host(struct qcow2 *q, uint64_t host, const char *what, struct berth_error *err);
/* Reads and inflates a compressed cluster into q->dbuf. */
int qcow2_read_compressed(struct qcow2 *q, const struct qcow2_map *m, struct berth_error *err);

/* qcow2-check.c: sets every refcount to its reference count and clears the dirty bit (for images
 * left dirty by lazy refcounts). q must be open read-write, allocation initialised. */
int qcow2_rebuild_refcounts(struct qcow2 *q, struct berth_error *err);

/* qcow2-io.c */
int qcow2_flush_locked(struct qcow2 *q);
extern const struct disk_ops qcow2_ops;

/* qcow2-backing.c: opens the backing chain of q; chain holds the files already open above it. */
struct qcow2_chain {
    dev_t dev[QCOW2_MAX_BACKING_DEPTH + 1];
    ino_t ino[QCOW2_MAX_BACKING_DEPTH + 1];
    unsigned depth;
};
int qcow2_open_backing(struct qcow2 *q, struct qcow2_chain *chain, struct berth_error *err);
int qcow2_open_chain(const char *path, const struct qcow2_open_opts *opts, struct qcow2_chain *chain, struct disk **ret,
                     struct berth_error *err);
/* Resolves a backing name relative to the directory of the image that names it. */
char *qcow2_backing_path(const char *image_path, const char *backing_name);
