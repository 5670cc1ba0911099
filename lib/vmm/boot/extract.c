/* vmlinux out of a bzImage: the setup header's payload_offset/payload_length locate the
 * compressed kernel inside the protected-mode part; its magic says the compressor. The result
 * must be an ELF image and is capped at BOOT_MAX_IMAGE_SIZE. */
#include <errno.h>
#include <lz4.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "base/cleanup.h"
#include "vmm/boot/boot.h"
#include "vmm/boot/bzimage.h"

struct growbuf {
    uint8_t *data;
    size_t len, cap;
};

static int grow(struct growbuf *b, size_t want)
{
    if (want <= b->cap)
        return 0;
    if (want > BOOT_MAX_IMAGE_SIZE)
        return -EFBIG;
    size_t cap = b->cap ? b->cap : 16 << 20;
    while (cap < want)
        cap *= 2;
    if (cap > BOOT_MAX_IMAGE_SIZE)
        cap = BOOT_MAX_IMAGE_SIZE;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

static int inflate_gzip(const uint8_t *in, size_t len, struct growbuf *out)
{
    z_stream z = { 0 };
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -ENOMEM;
    z.next_in = (Bytef *) in;
    z.avail_in = (uInt) len;
    int r = 0, zr;
    do {
        if ((r = grow(out, out->len + (1 << 20))) < 0)
            break;
        z.next_out = out->data + out->len;
        z.avail_out = (uInt) (out->cap - out->len);
        zr = inflate(&z, Z_NO_FLUSH);
        out->len = out->cap - z.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
            r = -EINVAL;
            break;
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0) {
            r = -EINVAL;
            break;
        }
    } while (zr != Z_STREAM_END);
    inflateEnd(&z);
    return r;
}

static int inflate_lzma(const uint8_t *in, size_t len, bool xz, struct growbuf *out)
{
    lzma_stream s = LZMA_STREAM_INIT;
    lzma_ret lr = xz ? lzma_stream_decoder(&s, UINT64_MAX, 0) : lzma_alone_decoder(&s, UINT64_MAX);
    if (lr != LZMA_OK)
        return -ENOMEM;
    s.next_in = in;
    s.avail_in = len;
    int r = 0;
    for (;;) {
        if ((r = grow(out, out->len + (1 << 20))) < 0)
            break;
        s.next_out = out->data + out->len;
        s.avail_out = out->cap - out->len;
        lr = lzma_code(&s, LZMA_FINISH);
        out->len = out->cap - s.avail_out;
        if (lr == LZMA_STREAM_END)
            break;
        if (lr != LZMA_OK && lr != LZMA_BUF_ERROR) {
            r = -EINVAL;
            break;
        }
        if (lr == LZMA_BUF_ERROR && s.avail_in == 0 && s.avail_out != 0) {
            /* Legacy .lzma streams without an end marker end when the input does. */
            if (!xz && out->len > 0)
                break;
            r = -EINVAL;
            break;
        }
    }
    lzma_end(&s);
    return r;
}

static int inflate_zstd(const uint8_t *in, size_t len, struct growbuf *out)
{
    ZSTD_DStream *ds = ZSTD_createDStream();
    if (!ds)
        return -ENOMEM;
    ZSTD_initDStream(ds);
    ZSTD_inBuffer ib = { in, len, 0 };
    int r = 0;
    for (;;) {
        if ((r = grow(out, out->len + (1 << 20))) < 0)
            break;
        ZSTD_outBuffer ob = { out->data + out->len, out->cap - out->len, 0 };
        size_t z = ZSTD_decompressStream(ds, &ob, &ib);
        out->len += ob.pos;
        if (ZSTD_isError(z)) {
            r = -EINVAL;
            break;
        }
        if (z == 0)
            break;
        if (ib.pos == ib.size && ob.pos < ob.size) {
            r = -EINVAL;
            break;
        }
    }
    ZSTD_freeDStream(ds);
    return r;
}

/* LZ4 "legacy" frames (what the kernel's lz4 compressor writes): magic 0x184C2102, then blocks of
 * a 32-bit compressed size and data, each decompressing to at most 8 MiB; a repeated magic may
 * start a new stream and the input may end with the uncompressed size. */
#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20)

static int inflate_lz4_legacy(const uint8_t *in, size_t len, struct growbuf *out)
{
    size_t off = 4;
    while (off + 4 <= len) {
        uint32_t n = rd32(in + off);
        if (n == LZ4_LEGACY_MAGIC) {
            off += 4;
            continue;
        }
        off += 4;
        if (n > len - off || n > LZ4_COMPRESSBOUND(LZ4_LEGACY_BLOCK)) {
            /* A trailing size field (the uncompressed length) ends the stream. */
            if (off == len)
                break;
            return -EINVAL;
        }
        int r = grow(out, out->len + LZ4_LEGACY_BLOCK);
        if (r < 0)
            return r;
        int d = LZ4_decompress_safe((const char *) in + off, (char *) out->data + out->len, (int) n,
                                    (int) LZ4_LEGACY_BLOCK);
        if (d < 0)
            return -EINVAL;
        out->len += (size_t) d;
        off += n;
    }
    return out->len ? 0 : -EINVAL;
}

int boot_extract_vmlinux(const uint8_t *img, size_t len, uint8_t **ret_data, size_t *ret_len, struct berth_error *err)
{
    struct bzimage_header h;
    int r = bzimage_parse_header(img, len, &h);
    if (r == -ENOEXEC)
        return berth_error_set(err, -ENOEXEC, "not a bzImage (no HdrS setup header)");
    if (r < 0)
        return berth_error_set(err, r, "corrupt bzImage setup header");
    if (h.version < 0x208 || h.payload_length == 0)
        return berth_error_set(err, -ENOTSUP, "bzImage protocol %u.%02u has no payload fields (2.08+ needed)",
                               h.version >> 8, h.version & 0xff);
    uint64_t off = (uint64_t) h.kernel_offset + h.payload_offset;
    if (off > len || h.payload_length > len - off)
        return berth_error_set(err, -EINVAL, "bzImage payload (offset %u, length %u) lies outside the file",
                               h.payload_offset, h.payload_length);
    const uint8_t *p = img + off;
    size_t n = h.payload_length;
    struct growbuf out = { 0 };
    const char *kind;
    if (n >= 2 && p[0] == 0x1f && (p[1] == 0x8b || p[1] == 0x9e)) {
        kind = "gzip";
        r = inflate_gzip(p, n, &out);
    } else if (n >= 6 && !memcmp(p, "\xfd" "7zXZ", 6)) {
        kind = "xz";
        r = inflate_lzma(p, n, true, &out);
    } else if (n >= 4 && !memcmp(p, "\x28\xb5\x2f\xfd", 4)) {
        kind = "zstd";
        r = inflate_zstd(p, n, &out);
    } else if (n >= 4 && rd32(p) == LZ4_LEGACY_MAGIC) {
        kind = "lz4";
        r = inflate_lz4_legacy(p, n, &out);
    } else if (n >= 3 && p[0] == 0x5d && p[1] == 0 && p[2] == 0) {
        kind = "lzma";
        r = inflate_lzma(p, n, false, &out);
    } else {
        return berth_error_set(err, -ENOTSUP, "bzImage payload compression not supported (gzip, xz, lzma, zstd, lz4 are)");
    }
    if (r < 0) {
        free(out.data);
        return berth_error_set(err, r, "bzImage %s payload: %s", kind,
                               r == -EFBIG ? "larger than the 1 GiB limit" : "corrupt stream");
    }
    if (out.len < 4 || memcmp(out.data, "\x7f" "ELF", 4) != 0) {
        free(out.data);
        return berth_error_set(err, -EINVAL, "bzImage %s payload is not an ELF vmlinux", kind);
    }
    *ret_data = out.data;
    *ret_len = out.len;
    return 0;
}
