#include "vmm/acpi/aml.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"

void aml_free(struct aml *a)
{
    free(a->buf);
    *a = (struct aml){ 0 };
}

static int aml_reserve(struct aml *a, size_t n)
{
    if (a->err)
        return a->err;
    if (a->len + n <= a->cap)
        return 0;
    int r = ARRAY_RESERVE(a->buf, a->cap, a->len + n, 256);
    return r < 0 ? (a->err = r) : 0;
}

void aml_bytes(struct aml *a, const void *data, size_t n)
{
    if (aml_reserve(a, n) < 0)
        return;
    memcpy(a->buf + a->len, data, n);
    a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
    aml_bytes(a, &b, 1);
}

static void aml_seg(struct aml *a, const char *s, size_t n)
{
    char seg[4] = { '_', '_', '_', '_' };
    for (size_t i = 0; i < n && i < 4; i++)
        seg[i] = s[i];
    aml_bytes(a, seg, 4);
}

void aml_name(struct aml *a, const char *path)
{
    if (*path == '\\') {
        aml_byte(a, '\\');
        path++;
    }
    size_t nsegs = 0;
    for (const char *p = path; *p; nsegs++) {
        const char *dot = strchr(p, '.');
        p = dot ? dot + 1 : p + strlen(p);
    }
    if (nsegs == 0) {
        aml_byte(a, 0x00); /* NullName */
        return;
    }
    if (nsegs == 2)
        aml_byte(a, 0x2e); /* DualNamePrefix */
    else if (nsegs > 2) {
        aml_byte(a, 0x2f); /* MultiNamePrefix */
        aml_byte(a, (uint8_t) nsegs);
    }
    while (*path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t) (dot - path) : strlen(path);
        aml_seg(a, path, n);
        path += n + (dot ? 1 : 0);
    }
}

void aml_integer(struct aml *a, uint64_t v)
{
    if (v == 0) {
        aml_byte(a, 0x00); /* ZeroOp */
    } else if (v == 1) {
        aml_byte(a, 0x01); /* OneOp */
    } else if (v <= 0xff) {
        aml_byte(a, 0x0a);
        aml_byte(a, (uint8_t) v);
    } else if (v <= 0xffff) {
        uint16_t w = (uint16_t) v;
        aml_byte(a, 0x0b);
        aml_bytes(a, &w, 2);
    } else if (v <= 0xffffffffu) {
        uint32_t d = (uint32_t) v;
        aml_byte(a, 0x0c);
        aml_bytes(a, &d, 4);
    } else {
        aml_byte(a, 0x0e);
        aml_bytes(a, &v, 8);
    }
}

void aml_string(struct aml *a, const char *s)
{
    aml_byte(a, 0x0d);
    aml_bytes(a, s, strlen(s) + 1);
}

static unsigned hexval(char c)
{
    return isdigit((unsigned char) c) ? (unsigned) (c - '0') : (unsigned) (toupper((unsigned char) c) - 'A' + 10);
}

uint32_t aml_eisaid_value(const char *id)
{
    uint32_t v = ((uint32_t) ((id[0] - '@') & 0x1f) << 26) | ((uint32_t) ((id[1] - '@') & 0x1f) << 21) |
                 ((uint32_t) ((id[2] - '@') & 0x1f) << 16) | (hexval(id[3]) << 12) | (hexval(id[4]) << 8) |
                 (hexval(id[5]) << 4) | hexval(id[6]);
    return __builtin_bswap32(v);
}

void aml_eisaid(struct aml *a, const char *id)
{
    uint32_t v = aml_eisaid_value(id);
    aml_byte(a, 0x0c);
    aml_bytes(a, &v, 4);
}

size_t aml_open(struct aml *a, const uint8_t *op, size_t op_len)
{
    aml_bytes(a, op, op_len);
    return a->len;
}

void aml_close(struct aml *a, size_t mark)
{
    if (a->err)
        return;
    size_t n = a->len - mark;
    /* PkgLength counts its own bytes: 1 byte up to 63, then 2, 3 or 4 bytes (low nibble first). */
    size_t k = n + 1 <= 0x3f ? 1 : n + 2 <= 0xfff ? 2 : n + 3 <= 0xfffff ? 3 : 4;
    size_t total = n + k;
    uint8_t enc[4];
    if (k == 1) {
        enc[0] = (uint8_t) total;
    } else {
        enc[0] = (uint8_t) (((k - 1) << 6) | (total & 0xf));
        for (size_t i = 1; i < k; i++)
            enc[i] = (uint8_t) (total >> (4 + 8 * (i - 1)));
    }
    if (aml_reserve(a, k) < 0)
        return;
    memmove(a->buf + mark + k, a->buf + mark, n);
    memcpy(a->buf + mark, enc, k);
    a->len += k;
}

void aml_name_decl(struct aml *a, const char *name)
{
    aml_byte(a, AML_NAME_OP);
    aml_name(a, name);
}

void aml_res_io(struct aml *a, uint16_t base, uint8_t len)
{
    uint8_t d[8] = { 0x47, 0x01, (uint8_t) base, (uint8_t) (base >> 8), (uint8_t) base, (uint8_t) (base >> 8), 1, len };
    aml_bytes(a, d, sizeof(d));
}

void aml_res_irq_noflags(struct aml *a, uint8_t irq)
{
    uint16_t mask = (uint16_t) (1u << irq);
    uint8_t d[3] = { 0x22, (uint8_t) mask, (uint8_t) (mask >> 8) };
    aml_bytes(a, d, sizeof(d));
}

void aml_res_memory32_fixed(struct aml *a, uint32_t base, uint32_t len)
{
    uint8_t d[12] = { 0x86, 0x09, 0x00, 0x01 /* read-write */ };
    memcpy(d + 4, &base, 4);
    memcpy(d + 8, &len, 4);
    aml_bytes(a, d, sizeof(d));
}

void aml_res_interrupt(struct aml *a, uint32_t gsi, int edge, int active_low)
{
    uint8_t d[9] = { 0x89, 0x06, 0x00, (uint8_t) (0x01 | (edge ? 0x02 : 0) | (active_low ? 0x04 : 0)), 0x01 };
    memcpy(d + 5, &gsi, 4);
    aml_bytes(a, d, sizeof(d));
}

void aml_res_end(struct aml *a)
{
    uint8_t d[2] = { 0x79, 0x00 };
    aml_bytes(a, d, sizeof(d));
}
