/* qcow2 header: parse and validate every field before it is used; build v3 headers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "vmm/disk/qcow2-priv.h"

ssize_t qcow2_pread(int fd, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *) buf + done, len - done, (off_t) (off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            break;
        done += (size_t) n;
    }
    return (ssize_t) done;
}

int qcow2_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *) buf + done, len - done, (off_t) (off + done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        done += (size_t) n;
    }
    return 0;
}

bool qcow2_probe_fd(int fd)
{
    uint8_t magic[4];
    return qcow2_pread(fd, magic, 4, 0) == 4 && be32_load(magic) == QCOW2_MAGIC;
}

static const char *const incompat_names[] = {
    "dirty bit", "corrupt bit", "external data file", "compression type", "extended L2 entries",
};

const char *qcow2_incompat_name(unsigned bit)
{
    return bit < ARRAY_SIZE(incompat_names) ? incompat_names[bit] : NULL;
}

uint64_t qcow2_l1_needed(uint64_t size, unsigned cluster_bits)
{
    unsigned shift = cluster_bits + (cluster_bits - 3); /* bytes covered by one L2 table */
    return (size + (1ull << shift) - 1) >> shift;
}

/* The name an image's own feature name table gives an incompatible bit, if any. */
static void feature_name(const uint8_t *table, uint32_t len, unsigned bit, char *out, size_t outlen)
{
    out[0] = '\0';
    for (uint32_t i = 0; table && i + 48 <= len; i += 48) {
        if (table[i] == 0 && table[i + 1] == bit) {
            size_t n = strnlen((const char *) table + i + 2, 46);
            snprintf(out, outlen, "%.*s", (int) n, (const char *) table + i + 2);
            for (char *p = out; *p; p++)
                if ((unsigned char) *p < 0x20 || (unsigned char) *p > 0x7e)
                    *p = '?';
            return;
        }
    }
}

static int range_in_file(uint64_t off, uint64_t len, uint64_t file_size)
{
    return off <= file_size && len <= file_size - off;
}

/* Header extensions: between the header and the end of cluster 0. */
static int parse_extensions(struct qcow2 *q, const uint8_t *c0, uint64_t c0_len, const uint8_t **ret_names,
                            uint32_t *ret_names_len, struct berth_error *err)
{
    uint64_t pos = q->header_length;
    bool seen_format = false;
    for (unsigned n = 0;; n++) {
        if (n > 1024)
            return berth_error_set(err, -EINVAL, "%s: header extensions: too many", q->path);
        if (pos + 8 > c0_len)
            return berth_error_set(err, -EINVAL, "%s: header extensions: run past the first cluster", q->path);
        uint32_t type = be32_load(c0 + pos), len = be32_load(c0 + pos + 4);
        if (type == QCOW2_EXT_END)
            return 0;
        if (len > c0_len - pos - 8)
            return berth_error_set(err, -EINVAL, "%s: header extension 0x%08x: length %u runs past the first cluster",
                                   q->path, type, len);
        const uint8_t *data = c0 + pos + 8;
        if (type == QCOW2_EXT_BACKING_FORMAT) {
            if (seen_format)
                return berth_error_set(err, -EINVAL, "%s: backing format extension appears twice", q->path);
            seen_format = true;
            if (len == 0 || len > 31 || memchr(data, 0, len))
                return berth_error_set(err, -EINVAL, "%s: backing format extension: invalid name", q->path);
            q->backing_format = strndup((const char *) data, len);
            if (!q->backing_format)
                return -ENOMEM;
        } else if (type == QCOW2_EXT_FEATURE_NAMES) {
            *ret_names = data;
            *ret_names_len = len;
        }
        pos += 8 + (((uint64_t) len + 7) & ~7ull);
    }
}

static int check_incompatible(struct qcow2 *q, const uint8_t *names, uint32_t names_len, struct berth_error *err)
{
    uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT;
    uint64_t bad = q->incompatible & ~known;
    if (!bad)
        return 0;
    unsigned bit = (unsigned) __builtin_ctzll(bad);
    char name[64];
    feature_name(names, names_len, bit, name, sizeof(name));
    const char *ours = qcow2_incompat_name(bit);
    if (!name[0] && ours)
        snprintf(name, sizeof(name), "%s", ours);
    if (name[0])
        return berth_error_set(err, -ENOTSUP, "%s: incompatible_features: unsupported feature '%s' (bit %u)", q->path,
                               name, bit);
    return berth_error_set(err, -ENOTSUP, "%s: incompatible_features: unknown feature bit %u", q->path, bit);
}

int qcow2_header_load(struct qcow2 *q, struct berth_error *err)
{
    struct stat st;
    if (fstat(q->fd, &st) < 0)
        return berth_error_errno(err, -errno, "%s: stat", q->path);
    if (!S_ISREG(st.st_mode))
        return berth_error_set(err, -EINVAL, "%s: not a regular file", q->path);
    q->file_size = (uint64_t) st.st_size;

    uint8_t h[QCOW2_V3_HEADER_LEN] = {0};
    ssize_t n = qcow2_pread(q->fd, h, sizeof(h), 0);
    if (n < 0)
        return berth_error_errno(err, (int) n, "%s: read header", q->path);
    if (n < QCOW2_V2_HEADER_LEN || be32_load(h) != QCOW2_MAGIC)
        return berth_error_set(err, -EINVAL, "%s: magic: not a qcow2 image", q->path);
    q->version = be32_load(h + 4);
    if (q->version != 2 && q->version != 3)
        return berth_error_set(err, -ENOTSUP, "%s: version: %u is not supported (2 or 3)", q->path, q->version);
    uint64_t backing_off = be64_load(h + 8);
    uint32_t backing_len = be32_load(h + 16);
    q->cluster_bits = be32_load(h + 20);
    if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
        return berth_error_set(err, -EINVAL, "%s: cluster_bits: %u is outside %d..%d", q->path, q->cluster_bits,
                               QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
    q->cluster_size = 1ull << q->cluster_bits;
    q->size = be64_load(h + 24);
    uint32_t crypt = be32_load(h + 32);
    q->l1_size = be32_load(h + 36);
    q->l1_offset = be64_load(h + 40);
    q->rt_offset = be64_load(h + 48);
    q->rt_clusters = be32_load(h + 56);
    q->nb_snapshots = be32_load(h + 60);
    q->snapshots_offset = be64_load(h + 64);
    if (q->version == 3) {
        if (n < QCOW2_V3_HEADER_LEN)
            return berth_error_set(err, -EINVAL, "%s: header: file too short for a version 3 header", q->path);
        q->incompatible = be64_load(h + 72);
        q->compatible = be64_load(h + 80);
        q->autoclear = be64_load(h + 88);
        q->refcount_order = be32_load(h + 96);
        q->header_length = be32_load(h + 100);
        if (q->header_length < QCOW2_V3_HEADER_LEN || q->header_length % 8 || q->header_length > q->cluster_size)
            return berth_error_set(err, -EINVAL, "%s: header_length: %u is invalid", q->path, q->header_length);
        if (q->refcount_order > 6)
            return berth_error_set(err, -EINVAL, "%s: refcount_order: %u is above 6", q->path, q->refcount_order);
    } else {
        q->refcount_order = 4;
        q->header_length = QCOW2_V2_HEADER_LEN;
    }
    if (crypt != 0)
        return berth_error_set(err, -ENOTSUP, "%s: crypt_method: encrypted images (method %u) are not supported",
                               q->path, crypt);
    if (q->size > QCOW2_MAX_VIRTUAL_SIZE)
        return berth_error_set(err, -EINVAL, "%s: size: %llu bytes is absurd (limit 2^55)", q->path,
                               (unsigned long long) q->size);

    /* Cluster 0 holds the extensions and the backing name. */
    uint64_t c0_len = q->cluster_size < q->file_size ? q->cluster_size : q->file_size;
    _cleanup_free_ uint8_t *c0 = calloc(1, q->cluster_size);
    if (!c0)
        return -ENOMEM;
    n = qcow2_pread(q->fd, c0, c0_len, 0);
    if (n < 0)
        return berth_error_errno(err, (int) n, "%s: read header cluster", q->path);
    c0_len = (uint64_t) n;
    const uint8_t *names = NULL;
    uint32_t names_len = 0;
    if (q->version == 3) {
        int r = parse_extensions(q, c0, c0_len, &names, &names_len, err);
        if (r < 0)
            return r;
    }
    int r = check_incompatible(q, names, names_len, err);
    if (r < 0)
        return r;

    if (backing_off) {
        if (backing_len == 0 || backing_len > 1023)
            return berth_error_set(err, -EINVAL, "%s: backing_file_size: %u is invalid (1..1023)", q->path,
                                   backing_len);
        if (backing_off >= c0_len || backing_len > c0_len - backing_off)
            return berth_error_set(err, -EINVAL, "%s: backing_file_offset: name lies outside the first cluster",
                                   q->path);
        if (memchr(c0 + backing_off, 0, backing_len))
            return berth_error_set(err, -EINVAL, "%s: backing file name contains a NUL byte", q->path);
        q->backing_name = strndup((const char *) c0 + backing_off, backing_len);
        if (!q->backing_name)
            return -ENOMEM;
    }

    /* L1 table: big enough for the size, not absurd, aligned, inside the file, off cluster 0. */
    uint64_t l1_need = qcow2_l1_needed(q->size, q->cluster_bits);
    if (q->l1_size < l1_need)
        return berth_error_set(err, -EINVAL, "%s: l1_size: %u entries cannot map the virtual size (%llu needed)",
                               q->path, q->l1_size, (unsigned long long) l1_need);
    if ((uint64_t) q->l1_size * 8 > QCOW2_MAX_L1_BYTES)
        return berth_error_set(err, -EINVAL, "%s: l1_size: %u entries is absurd", q->path, q->l1_size);
    if (q->l1_size) {
        if (q->l1_offset & (q->cluster_size - 1) || q->l1_offset == 0)
            return berth_error_set(err, -EINVAL,
                                   "%s: l1_table_offset: 0x%llx is not a cluster boundary past the header", q->path,
                                   (unsigned long long) q->l1_offset);
        if (!range_in_file(q->l1_offset, (uint64_t) q->l1_size * 8, q->file_size))
            return berth_error_set(err, -EINVAL,
                                   "%s: l1_table_offset: L1 table (0x%llx, %u entries) lies past the end of the file",
                                   q->path, (unsigned long long) q->l1_offset, q->l1_size);
    }
    /* Refcount table. */
    if (q->rt_clusters == 0)
        return berth_error_set(err, -EINVAL, "%s: refcount_table_clusters: 0", q->path);
    if ((uint64_t) q->rt_clusters << q->cluster_bits > QCOW2_MAX_RT_BYTES)
        return berth_error_set(err, -EINVAL, "%s: refcount_table_clusters: %u is absurd", q->path, q->rt_clusters);
    if (q->rt_offset & (q->cluster_size - 1) || q->rt_offset == 0)
        return berth_error_set(err, -EINVAL,
                               "%s: refcount_table_offset: 0x%llx is not a cluster boundary past the header", q->path,
                               (unsigned long long) q->rt_offset);
    if (!range_in_file(q->rt_offset, (uint64_t) q->rt_clusters << q->cluster_bits, q->file_size))
        return berth_error_set(err, -EINVAL, "%s: refcount_table_offset: refcount table lies past the end of the file",
                               q->path);
    if (q->nb_snapshots) {
        if (q->nb_snapshots > 65536)
            return berth_error_set(err, -EINVAL, "%s: nb_snapshots: %u is absurd", q->path, q->nb_snapshots);
        if (q->snapshots_offset & (q->cluster_size - 1) || q->snapshots_offset == 0 ||
            q->snapshots_offset >= q->file_size)
            return berth_error_set(err, -EINVAL, "%s: snapshots_offset: 0x%llx is invalid", q->path,
                                   (unsigned long long) q->snapshots_offset);
    }

    q->l2_entries = q->cluster_size / 8;
    q->rb_entries = (q->cluster_size * 8) >> q->refcount_order;
    q->refcount_max = q->refcount_order == 6 ? UINT64_MAX : (1ull << (1u << q->refcount_order)) - 1;

    q->l1 = calloc(q->l1_size ? q->l1_size : 1, 8);
    q->rt_entries = ((uint64_t) q->rt_clusters << q->cluster_bits) / 8;
    q->rt = calloc(q->rt_entries, 8);
    if (!q->l1 || !q->rt)
        return -ENOMEM;
    if (q->l1_size) {
        n = qcow2_pread(q->fd, q->l1, (size_t) q->l1_size * 8, q->l1_offset);
        if (n != (ssize_t) q->l1_size * 8)
            return berth_error_errno(err, n < 0 ? (int) n : -EIO, "%s: read L1 table", q->path);
        for (uint32_t i = 0; i < q->l1_size; i++)
            q->l1[i] = __builtin_bswap64(q->l1[i]);
    }
    n = qcow2_pread(q->fd, q->rt, q->rt_entries * 8, q->rt_offset);
    if (n != (ssize_t) (q->rt_entries * 8))
        return berth_error_errno(err, n < 0 ? (int) n : -EIO, "%s: read refcount table", q->path);
    for (uint64_t i = 0; i < q->rt_entries; i++) {
        q->rt[i] = __builtin_bswap64(q->rt[i]);
        uint64_t off = q->rt[i] & ~QCOW2_RT_RESERVED;
        if (!off)
            continue;
        if (q->rt[i] & QCOW2_RT_RESERVED || off & (q->cluster_size - 1))
            return berth_error_set(err, -EINVAL, "%s: refcount table entry %llu: offset 0x%llx is not cluster aligned",
                                   q->path, (unsigned long long) i, (unsigned long long) q->rt[i]);
        if (!range_in_file(off, q->cluster_size, q->file_size))
            return berth_error_set(err, -EINVAL,
                                   "%s: refcount table entry %llu: refcount block 0x%llx lies past the end of the file",
                                   q->path, (unsigned long long) i, (unsigned long long) off);
    }
    return 0;
}

int qcow2_header_build(uint8_t *buf, uint64_t cluster_size, unsigned cluster_bits, uint64_t size,
                       unsigned refcount_order, uint32_t l1_size, uint64_t l1_offset, uint64_t rt_offset,
                       uint32_t rt_clusters, const char *backing, const char *backing_format)
{
    static const struct {
        uint8_t type, bit;
        const char *name;
    } features[] = {
        {0, 0, "dirty bit"},        {0, 1, "corrupt bit"},         {0, 2, "external data file"},
        {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
        {2, 0, "bitmaps"},          {2, 1, "raw external data"},
    };
    size_t blen = backing ? strlen(backing) : 0;
    size_t flen = backing_format ? strlen(backing_format) : 0;
    if (blen > 1023 || flen > 31)
        return -ENAMETOOLONG;
    size_t ext = (backing && flen ? 8 + ((flen + 7) & ~7u) : 0) + 8;
    size_t names = 8 + ARRAY_SIZE(features) * 48;
    /* The feature name table is a courtesy: left out when the cluster is too small for it. */
    bool with_names = QCOW2_V3_HEADER_LEN + ext + names + blen <= cluster_size;
    if (!with_names && QCOW2_V3_HEADER_LEN + ext + blen > cluster_size)
        return -ENAMETOOLONG;

    be32_store(buf, QCOW2_MAGIC);
    be32_store(buf + 4, 3);
    be32_store(buf + 20, cluster_bits);
    be64_store(buf + 24, size);
    be32_store(buf + 36, l1_size);
    be64_store(buf + 40, l1_offset);
    be64_store(buf + 48, rt_offset);
    be32_store(buf + 56, rt_clusters);
    be32_store(buf + 96, refcount_order);
    be32_store(buf + 100, QCOW2_V3_HEADER_LEN);
    size_t pos = QCOW2_V3_HEADER_LEN;
    if (backing && flen) {
        be32_store(buf + pos, QCOW2_EXT_BACKING_FORMAT);
        be32_store(buf + pos + 4, (uint32_t) flen);
        memcpy(buf + pos + 8, backing_format, flen);
        pos += 8 + ((flen + 7) & ~7u);
    }
    if (with_names) {
        be32_store(buf + pos, QCOW2_EXT_FEATURE_NAMES);
        be32_store(buf + pos + 4, (uint32_t) (ARRAY_SIZE(features) * 48));
        pos += 8;
        for (size_t i = 0; i < ARRAY_SIZE(features); i++, pos += 48) {
            buf[pos] = features[i].type;
            buf[pos + 1] = features[i].bit;
            memcpy(buf + pos + 2, features[i].name, strlen(features[i].name));
        }
    }
    pos += 8; /* end of extensions: type 0, length 0 */
    if (backing) {
        be64_store(buf + 8, pos);
        be32_store(buf + 16, (uint32_t) blen);
        memcpy(buf + pos, backing, blen);
        pos += blen;
    }
    return (int) pos;
}
