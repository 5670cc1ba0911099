/* A whole microVM, built by a visible sequence of calls:
 *   vmm_machine_create()       KVM VM, memory, legacy devices, vCPUs (threads paused)
 *   vmm_machine_add_mmio()     virtio-mmio devices (each gets a 0x200 window and an irqfd line)
 *   vmm_machine_boot()         ACPI tables, kernel/initrd/cmdline, boot registers
 *   (the process may now enter its jail: every file is open, no vCPU thread exists yet)
 *   vmm_machine_start()        vCPU threads start and run
 * then pause/resume, and an exit (guest poweroff, reboot, debug-exit, triple fault, internal
 * error, stop request) that the owner learns about through exit_fd. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "vmm/acpi/acpi.h"
#include "vmm/boot/boot.h"
#include "vmm/config.h"
#include "vmm/devices/irq.h"
#include "vmm/devices/legacy.h"
#include "vmm/devices/serial.h"
#include "vmm/kvm/vcpu.h"
#include "vmm/kvm/vm.h"

/* virtio-mmio windows: one 4 KiB slot each (the device uses the first 0x200 bytes). */
#define VMM_MMIO_BASE 0xd0000000ULL
#define VMM_MMIO_SLOT 0x1000ULL
#define VMM_MMIO_WINDOW 0x200u
#define VMM_MAX_MMIO_DEVICES 16

enum vmm_state { VMM_STATE_CREATED, VMM_STATE_RUNNING, VMM_STATE_PAUSED, VMM_STATE_STOPPED };

enum vmm_exit_reason {
    VMM_EXIT_NONE,
    VMM_EXIT_POWEROFF,
    VMM_EXIT_REBOOT,
    VMM_EXIT_DEBUG_EXIT,
    VMM_EXIT_TRIPLE_FAULT,
    VMM_EXIT_INTERNAL_ERROR,
    VMM_EXIT_STOPPED,   /* stop request from the control socket or a signal */
    VMM_EXIT_MONITOR,   /* the monitor itself failed */
};

/* berth-vmm's exit status for each reason (debug-exit: the guest's (value << 1) | 1). */
#define VMM_STATUS_OK 0
#define VMM_STATUS_USAGE 2
#define VMM_STATUS_TRIPLE_FAULT 4
#define VMM_STATUS_INTERNAL_ERROR 6
#define VMM_STATUS_MONITOR 8

struct virtio_mmio;
struct virtio_dev;

struct vmm_mmio_device {
    uint64_t base;
    uint32_t gsi;
    int irq_fd;
    char name[32];
    struct virtio_mmio *virtio;
    /* ioeventfds on QueueNotify, one per queue (datamatch on the index): the event loop calls
     * virtio_mmio_queue_notify() when one fires, so the vCPU never exits to userspace for it. */
    int notify_fd[8];
    unsigned n_notify;
};

struct vmm_machine {
    struct vmm_config cfg;
    struct kvm_vm *vm;
    struct vcpu **vcpus;
    unsigned n_vcpus;
    enum vmm_state state;
    pthread_mutex_t lock;

    struct serial serial;
    int serial_irq_fd;
    struct debug_exit debug_exit;
    struct i8042 i8042;
    struct cmos cmos;
    struct acpi_pm acpi_pm;

    struct vmm_mmio_device mmio[VMM_MAX_MMIO_DEVICES];
    unsigned n_mmio;
    /* virtio-console's backend (input, output), set by the caller between create and
     * attach_devices; owned here until the device takes them (-1: no virtio-console). */
    int vcon_in_fd, vcon_out_fd;
    /* The balloon (--balloon), owned by its MMIO transport; NULL without one. */
    struct virtio_dev *balloon;

    struct boot_result boot;
    uint64_t rsdp_addr;

    /* The first exit wins; exit_fd (eventfd) becomes readable then. */
    int exit_fd;
    enum vmm_exit_reason exit_reason;
    int exit_status;
    char exit_message[512];

    struct timespec t_created, t_started, t_first_output;
    /* vCPU threads install their seccomp filter (set when the process is jailed). */
    bool seccomp;
};

/* Builds everything up to the vCPUs; console_fd is where the UART writes (-1: nowhere). */
int vmm_machine_create(const struct vmm_config *cfg, int console_fd, struct vmm_machine **ret,
                       struct berth_error *err);

/* Puts a virtio device behind an MMIO transport at the next slot (0x200-byte window, irqfd
 * line, ioeventfds on QueueNotify). Takes dev, also on failure. Before vmm_machine_boot(). */
int vmm_machine_attach_virtio(struct vmm_machine *m, struct virtio_dev *dev, const char *name,
                              struct berth_error *err);

/* Attaches what the configuration asks for: --disk (virtio-blk over raw/qcow2), --net (virtio-net
 * on a tap), --vsock, a virtio-rng that every VM gets, then a virtio-console when vcon_out_fd is
 * set and a virtio-balloon with --balloon (after the rng, so earlier slots keep their place). */
int vmm_machine_attach_devices(struct vmm_machine *m, struct berth_error *err);

int vmm_machine_boot(struct vmm_machine *m, struct berth_error *err);
int vmm_machine_start(struct vmm_machine *m, struct berth_error *err);
int vmm_machine_pause(struct vmm_machine *m, struct berth_error *err);
int vmm_machine_resume(struct vmm_machine *m, struct berth_error *err);

/* Ends the machine (idempotent, any thread): records the reason if none yet, stops the vCPUs. */
void vmm_machine_request_exit(struct vmm_machine *m, enum vmm_exit_reason reason, int status, const char *message);

/* Presses the ACPI power button; false when the guest does not listen for it. */
bool vmm_machine_power_button(struct vmm_machine *m);

/* Joins the vCPU threads after an exit and moves to VMM_STATE_STOPPED. */
void vmm_machine_finish(struct vmm_machine *m);

/* irq_line trigger writing to the eventfd in opaque (an irqfd): safe from any thread. */
int vmm_eventfd_trigger(void *opaque, uint32_t gsi);

const char *vmm_state_name(enum vmm_state s);
const char *vmm_exit_reason_name(enum vmm_exit_reason r);

/* Metrics as a JSON object (exits per vCPU, serial bytes, timings). */
json_t *vmm_machine_metrics(struct vmm_machine *m);

void vmm_machine_free(struct vmm_machine *m);
DEFINE_CLEANUP_FUNC(struct vmm_machine, vmm_machine_free)
