#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "vmm/devices/legacy.h"

static uint8_t bcd(int v)
{
    return (uint8_t) (((v / 10) << 4) | (v % 10));
}

void cmos_init(struct cmos *c, uint64_t mem_size)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->nvram[0x0a] = 0x26; /* 32.768 kHz base, 1024 Hz rate, no update in progress */
    c->nvram[0x0b] = 0x02; /* 24-hour mode, BCD */
    c->nvram[0x0d] = 0x80; /* valid RAM and time */
    /* Memory between 1 and 16 MiB in KiB, and above 16 MiB in 64 KiB units (as PC BIOSes did). */
    uint64_t ext = mem_size > (1 << 20) ? (mem_size - (1 << 20)) >> 10 : 0;
    if (ext > 0xffff)
        ext = 0xffff;
    c->nvram[0x17] = c->nvram[0x30] = (uint8_t) ext;
    c->nvram[0x18] = c->nvram[0x31] = (uint8_t) (ext >> 8);
    uint64_t above = mem_size > (16 << 20) ? (mem_size - (16 << 20)) >> 16 : 0;
    if (above > 0xffff)
        above = 0xffff;
    c->nvram[0x34] = (uint8_t) above;
    c->nvram[0x35] = (uint8_t) (above >> 8);
}

static uint8_t cmos_time_reg(uint8_t index)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    switch (index) {
    case 0x00:
        return bcd(tm.tm_sec);
    case 0x02:
        return bcd(tm.tm_min);
    case 0x04:
        return bcd(tm.tm_hour);
    case 0x06:
        return bcd(tm.tm_wday + 1);
    case 0x07:
        return bcd(tm.tm_mday);
    case 0x08:
        return bcd(tm.tm_mon + 1);
    case 0x09:
        return bcd(tm.tm_year % 100);
    case 0x32:
        return bcd(19 + tm.tm_year / 100);
    default:
        return 0;
    }
}

static void cmos_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    struct cmos *c = opaque;
    memset(data, 0, len);
    if (offset != 1)
        return;
    pthread_mutex_lock(&c->lock);
    uint8_t idx = c->index & 0x7f;
    bool is_time = idx == 0 || idx == 2 || idx == 4 || (idx >= 6 && idx <= 9) || idx == 0x32;
    data[0] = is_time ? cmos_time_reg(idx) : c->nvram[idx];
    if (idx == 0x0c)
        c->nvram[0x0c] = 0; /* reading C acknowledges interrupts */
    pthread_mutex_unlock(&c->lock);
}

static void cmos_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    struct cmos *c = opaque;
    pthread_mutex_lock(&c->lock);
    if (offset == 0)
        c->index = data[0]; /* bit 7 is the NMI mask */
    else if ((c->index & 0x7f) >= 0x0e || (c->index & 0x7f) == 0x0b)
        c->nvram[c->index & 0x7f] = data[0];
    pthread_mutex_unlock(&c->lock);
}

const struct bus_device_ops cmos_ops = { .read = cmos_read, .write = cmos_write };
