/* hello: prints from ring 0 and ring 3, echoes its command line, and exits through the
 * debug-exit port with the status given by "exit=N" (default 0x15). "loops=N" runs a ring-3
 * loop of N iterations (native speed even where ring 0 is emulated); "spin=1" loops in ring 3
 * forever; "fault=1", "reboot=1", "poweroff=1" end the VM those ways. */
#include "lib/guest.h"

static long user_part(long loops)
{
    puts_serial("hello from ring 3\n");
    volatile uint64_t sum = 0;
    for (long i = 0; i < loops; i++)
        sum += (uint64_t) i;
    printk("ring-3 loop of %lu iterations: sum %lu\n", (unsigned long) loops, (unsigned long) sum);
    return 0;
}

static long spin(long unused __attribute__((unused)))
{
    puts_serial("spinning in ring 3\n");
    for (volatile uint64_t i = 0;; i++)
        ;
    return 0;
}

/* Waits for the ACPI power button (PM1 status bit 8, polled from ring 3), then powers off
 * through \\_S5 like an OS's ACPI driver would. */
static long wait_power_button(long unused __attribute__((unused)))
{
    outw(0x602, 1u << 8); /* PM1 enable: PWRBTN_EN */
    puts_serial("waiting for the power button\n");
    for (;;) {
        for (volatile int i = 0; i < 1000000; i++)
            ;
        uint16_t sts = inw(0x600);
        if (sts & (1u << 8)) {
            outw(0x600, 1u << 8); /* acknowledge */
            puts_serial("power button pressed: powering off\n");
            outw(0x604, (5u << 10) | (1u << 13));
        }
    }
    return 0;
}

void guest_main(void)
{
    char buf[32];
    printk("hello from the berth test guest (%s)\n", guest_boot.protocol == 1 ? "pvh" : "multiboot");
    printk("cmdline: %s\n", guest_boot.cmdline);
    long loops = cmdline_get("loops", buf, sizeof(buf)) ? (long) parse_u64(buf) : 1000;
    user_call(user_part, loops);
    if (cmdline_get("button", buf, sizeof(buf)))
        user_call(wait_power_button, 0);
    if (cmdline_get("spin", buf, sizeof(buf)))
        user_call(spin, 0);
    if (cmdline_get("fault", buf, sizeof(buf))) {
        /* Triple fault on purpose: an empty IDT, then an exception. */
        struct {
            uint16_t limit;
            uint64_t base;
        } __attribute__((packed)) none = { 0, 0 };
        __asm__ volatile("lidt %0; ud2" : : "m"(none));
    }
    if (cmdline_get("reboot", buf, sizeof(buf)))
        outb(0x64, 0xfe);
    if (cmdline_get("poweroff", buf, sizeof(buf)))
        outw(0x604, (5u << 10) | (1u << 13));
    uint32_t code = cmdline_get("exit", buf, sizeof(buf)) ? (uint32_t) parse_u64(buf) : 0x15;
    puts_serial("bye\n");
    debug_exit(code);
}
