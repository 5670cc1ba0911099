#include <string.h>

#include "vmm/devices/legacy.h"

#define PM1_STS_PWRBTN (1u << 8)
#define PM1_STS_WAK (1u << 15)
#define PM1_EN_PWRBTN (1u << 8)
#define PM1_CNT_SCI_EN (1u << 0)
#define PM1_CNT_SLP_EN (1u << 13)
#define PM1_CNT_SLP_TYP_SHIFT 10

void acpi_pm_init(struct acpi_pm *pm, struct power_sink sink, int (*set_sci)(void *, int), void *sci_opaque)
{
    memset(pm, 0, sizeof(*pm));
    pthread_mutex_init(&pm->lock, NULL);
    pm->sink = sink;
    pm->set_sci = set_sci;
    pm->sci_opaque = sci_opaque;
    /* No SMI command port: the machine is always in ACPI mode. */
    pm->cnt = PM1_CNT_SCI_EN;
}

static void acpi_pm_update_sci_locked(struct acpi_pm *pm)
{
    int level = (pm->sts & pm->en & PM1_EN_PWRBTN) ? 1 : 0;
    if (pm->set_sci)
        pm->set_sci(pm->sci_opaque, level);
}

bool acpi_pm_power_button(struct acpi_pm *pm)
{
    pthread_mutex_lock(&pm->lock);
    pm->sts |= PM1_STS_PWRBTN;
    bool heard = (pm->en & PM1_EN_PWRBTN) != 0;
    acpi_pm_update_sci_locked(pm);
    pthread_mutex_unlock(&pm->lock);
    return heard;
}

static void put16(uint8_t *data, uint32_t len, uint16_t v)
{
    memset(data, 0, len);
    memcpy(data, &v, len < 2 ? len : 2);
}

static void acpi_pm_evt_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    struct acpi_pm *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    if (offset == 0 && len == 4) {
        uint32_t v = pm->sts | ((uint32_t) pm->en << 16);
        memcpy(data, &v, 4);
    } else if (offset < 2) {
        put16(data, len, (uint16_t) (pm->sts >> (offset * 8)));
    } else {
        put16(data, len, (uint16_t) (pm->en >> ((offset - 2) * 8)));
    }
    pthread_mutex_unlock(&pm->lock);
}

static void acpi_pm_evt_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    struct acpi_pm *pm = opaque;
    uint32_t v = 0;
    memcpy(&v, data, len > 4 ? 4 : len);
    pthread_mutex_lock(&pm->lock);
    if (offset == 0) {
        pm->sts &= (uint16_t) ~v; /* write 1 to clear */
        if (len == 4)
            pm->en = (uint16_t) (v >> 16);
    } else if (offset == 2) {
        pm->en = (uint16_t) v;
    }
    acpi_pm_update_sci_locked(pm);
    pthread_mutex_unlock(&pm->lock);
}

static void acpi_pm_cnt_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    struct acpi_pm *pm = opaque;
    pthread_mutex_lock(&pm->lock);
    put16(data, len, (uint16_t) (pm->cnt >> (offset * 8)));
    pthread_mutex_unlock(&pm->lock);
}

static void acpi_pm_cnt_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    struct acpi_pm *pm = opaque;
    uint16_t v = 0;
    memcpy(&v, data, len > 2 ? 2 : len);
    if (offset != 0)
        return;
    pthread_mutex_lock(&pm->lock);
    pm->cnt = (uint16_t) ((v & ~PM1_CNT_SLP_EN) | PM1_CNT_SCI_EN);
    bool off = (v & PM1_CNT_SLP_EN) && ((v >> PM1_CNT_SLP_TYP_SHIFT) & 7) == ACPI_SLP_TYP_S5;
    pthread_mutex_unlock(&pm->lock);
    if (off && pm->sink.event)
        pm->sink.event(pm->sink.opaque, POWER_EVENT_POWEROFF, 0);
}

const struct bus_device_ops acpi_pm_evt_ops = { .read = acpi_pm_evt_read, .write = acpi_pm_evt_write };
const struct bus_device_ops acpi_pm_cnt_ops = { .read = acpi_pm_cnt_read, .write = acpi_pm_cnt_write };
