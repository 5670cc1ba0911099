/* Legacy devices driven through the bus as a guest driver would. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/devices/bus.h"
#include "vmm/devices/legacy.h"
#include "vmm/devices/serial.h"

static int irqs;
static int count_irq(void *opaque, uint32_t gsi)
{
    irqs++;
    return 0;
}

static uint8_t rd(struct bus *b, uint64_t port)
{
    uint8_t v = 0;
    bus_read(b, port, &v, 1);
    return v;
}
static void wr(struct bus *b, uint64_t port, uint8_t v)
{
    bus_write(b, port, &v, 1);
}

static void test_serial_output_loopback_and_irq(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct serial s;
    serial_init(&s, p[1], (struct irq_line){ .gsi = 4, .trigger = count_irq });
    struct bus bus = { 0 };
    assert_int_equal(bus_register(&bus, SERIAL_COM1_BASE, 8, &serial_ops, &s, "serial"), 0);
    irqs = 0;
    /* Scratch register and IER read back (the 8250 driver's probe). */
    wr(&bus, 0x3ff, 0x5a);
    assert_int_equal(rd(&bus, 0x3ff), 0x5a);
    wr(&bus, 0x3f9, 0x0f);
    assert_int_equal(rd(&bus, 0x3f9), 0x0f);
    assert_int_equal(irqs, 1); /* THRI enabled with an empty transmitter */
    assert_int_equal(rd(&bus, 0x3fa) & 0x0f, 0x02);
    assert_int_equal(rd(&bus, 0x3fa) & 0x0f, 0x01); /* acknowledged by the read */
    wr(&bus, 0x3f9, 0);
    /* Loopback: MCR 0x1a reflects into MSR as 0x90; THR goes to RBR. */
    wr(&bus, 0x3fc, 0x1a);
    assert_int_equal(rd(&bus, 0x3fe) & 0xf0, 0x90);
    wr(&bus, 0x3f8, 'L');
    assert_int_equal(rd(&bus, 0x3fd) & 1, 1);
    assert_int_equal(rd(&bus, 0x3f8), 'L');
    wr(&bus, 0x3fc, 0x08);
    /* Output reaches the fd; the line status always says "transmitter empty". */
    wr(&bus, 0x3f8, 'h');
    wr(&bus, 0x3f8, 'i');
    char out[4] = { 0 };
    assert_int_equal(read(p[0], out, 2), 2);
    assert_string_equal(out, "hi");
    assert_int_equal(rd(&bus, 0x3fd) & 0x60, 0x60);
    /* Input raises an interrupt when RDI is enabled and is read back in order. */
    wr(&bus, 0x3f9, 0x01);
    irqs = 0;
    assert_int_equal(serial_push_input(&s, (const uint8_t *) "ab", 2), 2);
    assert_int_equal(irqs, 1);
    assert_int_equal(rd(&bus, 0x3fa) & 0x0f, 0x04);
    assert_int_equal(rd(&bus, 0x3f8), 'a');
    assert_int_equal(rd(&bus, 0x3f8), 'b');
    assert_int_equal(rd(&bus, 0x3fd) & 1, 0);
    /* The FIFO is bounded. */
    uint8_t many[200];
    memset(many, 'x', sizeof(many));
    assert_int_equal(serial_push_input(&s, many, sizeof(many)), SERIAL_FIFO_SIZE);
    assert_int_equal(serial_input_room(&s), 0);
    /* Divisor latch does not disturb IER. */
    wr(&bus, 0x3fb, 0x80);
    wr(&bus, 0x3f8, 0x01);
    wr(&bus, 0x3f9, 0x00);
    wr(&bus, 0x3fb, 0x03);
    assert_int_equal(rd(&bus, 0x3f9), 0x01);
    assert_int_equal(s.tx_bytes, 2);
    serial_destroy(&s);
    close(p[0]);
    close(p[1]);
}

static int last_event = -1, last_status = -1;
static void sink(void *opaque, enum power_event ev, int status)
{
    last_event = (int) ev;
    last_status = status;
}
static int sci_level = -1;
static int set_sci(void *opaque, int level)
{
    sci_level = level;
    return 0;
}

static void test_power_devices(void **state)
{
    struct power_sink ps = { sink, NULL };
    struct debug_exit de = { ps };
    struct i8042 kbd = { ps };
    struct acpi_pm pm;
    acpi_pm_init(&pm, ps, set_sci, NULL);
    struct bus bus = { 0 };
    assert_int_equal(bus_register(&bus, DEBUG_EXIT_PORT, 4, &debug_exit_ops, &de, "debug-exit"), 0);
    assert_int_equal(bus_register(&bus, I8042_DATA_PORT, 5, &i8042_ops, &kbd, "i8042"), 0);
    assert_int_equal(bus_register(&bus, ACPI_PM1A_EVT_PORT, 4, &acpi_pm_evt_ops, &pm, "evt"), 0);
    assert_int_equal(bus_register(&bus, ACPI_PM1A_CNT_PORT, 2, &acpi_pm_cnt_ops, &pm, "cnt"), 0);

    uint32_t v = 21;
    bus_write(&bus, DEBUG_EXIT_PORT, (uint8_t *) &v, 4);
    assert_int_equal(last_event, POWER_EVENT_DEBUG_EXIT);
    assert_int_equal(last_status, 43);

    last_event = -1;
    wr(&bus, 0x60, 0xfe); /* data port: not a reset */
    assert_int_equal(last_event, -1);
    assert_int_equal(rd(&bus, 0x64), 0);
    wr(&bus, 0x64, 0xfe);
    assert_int_equal(last_event, POWER_EVENT_REBOOT);

    /* Power button: not heard until enabled, then SCI until the status is cleared. */
    last_event = -1;
    assert_false(acpi_pm_power_button(&pm));
    uint16_t en = 1 << 8;
    bus_write(&bus, ACPI_PM1A_EVT_PORT + 2, (uint8_t *) &en, 2);
    assert_int_equal(sci_level, 1);
    uint16_t sts = 0;
    bus_read(&bus, ACPI_PM1A_EVT_PORT, (uint8_t *) &sts, 2);
    assert_true(sts & (1 << 8));
    bus_write(&bus, ACPI_PM1A_EVT_PORT, (uint8_t *) &sts, 2);
    assert_int_equal(sci_level, 0);
    assert_true(acpi_pm_power_button(&pm));
    assert_int_equal(sci_level, 1);
    /* SCI_EN reads as set; S5 with SLP_EN powers off, another sleep type does not. */
    uint16_t cnt = 0;
    bus_read(&bus, ACPI_PM1A_CNT_PORT, (uint8_t *) &cnt, 2);
    assert_true(cnt & 1);
    cnt = (3 << 10) | (1 << 13);
    bus_write(&bus, ACPI_PM1A_CNT_PORT, (uint8_t *) &cnt, 2);
    assert_int_equal(last_event, -1);
    cnt = (ACPI_SLP_TYP_S5 << 10) | (1 << 13);
    bus_write(&bus, ACPI_PM1A_CNT_PORT, (uint8_t *) &cnt, 2);
    assert_int_equal(last_event, POWER_EVENT_POWEROFF);
}

static void test_cmos_and_pci(void **state)
{
    struct cmos c;
    cmos_init(&c, 256ULL << 20);
    struct bus bus = { 0 };
    assert_int_equal(bus_register(&bus, CMOS_PORT, 2, &cmos_ops, &c, "cmos"), 0);
    assert_int_equal(bus_register(&bus, PCI_CONFIG_PORT, 8, &pci_none_ops, NULL, "pci"), 0);
    wr(&bus, 0x70, 0x0b);
    assert_int_equal(rd(&bus, 0x71), 0x02);
    wr(&bus, 0x70, 0x34);
    uint16_t above = rd(&bus, 0x71);
    wr(&bus, 0x70, 0x35);
    above |= (uint16_t) (rd(&bus, 0x71) << 8);
    assert_int_equal(above, (256 - 16) * 16);
    wr(&bus, 0x70, 0x08);
    uint8_t month = rd(&bus, 0x71);
    assert_true(month >= 1 && month <= 0x12 && (month & 0xf) <= 9);
    uint32_t v = 0x80000000, back = 0;
    bus_write(&bus, 0xcf8, (uint8_t *) &v, 4);
    bus_read(&bus, 0xcfc, (uint8_t *) &back, 4);
    assert_int_equal(back, 0xffffffff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serial_output_loopback_and_irq),
        cmocka_unit_test(test_power_devices),
        cmocka_unit_test(test_cmos_and_pci),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
