/* The PC-compatible leftovers a microVM keeps: the QEMU-style debug-exit port, the i8042 (only
 * for its reset line), CMOS/RTC, the ACPI PM1 register blocks (poweroff, power button) and a
 * PCI configuration mechanism that reports no devices. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/devices/bus.h"

enum power_event {
    POWER_EVENT_POWEROFF,   /* ACPI S5 */
    POWER_EVENT_REBOOT,     /* i8042 reset, ACPI reset */
    POWER_EVENT_DEBUG_EXIT, /* status = (value << 1) | 1 */
};

/* Where devices report that the guest wants the machine to end. Called on a vCPU thread. */
struct power_sink {
    void (*event)(void *opaque, enum power_event ev, int status);
    void *opaque;
};

/* isa-debug-exit: a write of v to the port ends the VM with exit status (v << 1) | 1. */
#define DEBUG_EXIT_PORT 0xf4
struct debug_exit {
    struct power_sink sink;
};
extern const struct bus_device_ops debug_exit_ops;

/* i8042 at 0x60/0x64: reads an empty controller; command 0xfe on 0x64 pulses the reset line. */
#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
struct i8042 {
    struct power_sink sink;
};
extern const struct bus_device_ops i8042_ops;

/* CMOS/RTC at 0x70/0x71: the host's UTC time in BCD, and the memory size registers. */
#define CMOS_PORT 0x70
struct cmos {
    pthread_mutex_t lock;
    uint8_t index;
    uint8_t nvram[128];
};
void cmos_init(struct cmos *c, uint64_t mem_size);
extern const struct bus_device_ops cmos_ops;

/* PCI configuration mechanism #1 (0xcf8-0xcff) with no bus behind it: every read is all ones. */
#define PCI_CONFIG_PORT 0xcf8
extern const struct bus_device_ops pci_none_ops;

/* ACPI fixed hardware: PM1a event block (status, enable) and PM1a control block; SCI on IRQ 9. */
#define ACPI_PM1A_EVT_PORT 0x600
#define ACPI_PM1A_EVT_LEN 4
#define ACPI_PM1A_CNT_PORT 0x604
#define ACPI_PM1A_CNT_LEN 2
#define ACPI_SCI_IRQ 9
#define ACPI_SLP_TYP_S5 5
struct acpi_pm {
    pthread_mutex_t lock;
    uint16_t sts, en, cnt;
    struct power_sink sink;
    /* Sets the SCI level (level-triggered). */
    int (*set_sci)(void *opaque, int level);
    void *sci_opaque;
};
void acpi_pm_init(struct acpi_pm *pm, struct power_sink sink, int (*set_sci)(void *, int), void *sci_opaque);
/* Presses the power button: the guest's ACPI driver sees PWRBTN_STS and usually powers off.
 * Returns false when the guest has not enabled the power button event (it cannot hear it). */
bool acpi_pm_power_button(struct acpi_pm *pm);
extern const struct bus_device_ops acpi_pm_evt_ops;
extern const struct bus_device_ops acpi_pm_cnt_ops;
