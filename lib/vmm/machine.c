#include "vmm/machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/boot/entry.h"
#include "vmm/devices/virtio/virtio-mmio.h"
#include "vmm/jail.h"

const char *vmm_state_name(enum vmm_state s)
{
    switch (s) {
    case VMM_STATE_CREATED:
        return "created";
    case VMM_STATE_RUNNING:
        return "running";
    case VMM_STATE_PAUSED:
        return "paused";
    case VMM_STATE_STOPPED:
        return "stopped";
    }
    return "?";
}

const char *vmm_exit_reason_name(enum vmm_exit_reason r)
{
    switch (r) {
    case VMM_EXIT_NONE:
        return "none";
    case VMM_EXIT_POWEROFF:
        return "poweroff";
    case VMM_EXIT_REBOOT:
        return "reboot";
    case VMM_EXIT_DEBUG_EXIT:
        return "debug-exit";
    case VMM_EXIT_TRIPLE_FAULT:
        return "triple-fault";
    case VMM_EXIT_INTERNAL_ERROR:
        return "internal-error";
    case VMM_EXIT_STOPPED:
        return "stopped";
    case VMM_EXIT_MONITOR:
        return "monitor-error";
    }
    return "?";
}

int vmm_eventfd_trigger(void *opaque, uint32_t gsi)
{
    (void) gsi;
    uint64_t one = 1;
    return write((int) (intptr_t) opaque, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

static int sci_set(void *opaque, int level)
{
    struct vmm_machine *m = opaque;
    return kvm_vm_set_irq(m->vm, ACPI_SCI_IRQ, level);
}

static void on_power_event(void *opaque, enum power_event ev, int status)
{
    struct vmm_machine *m = opaque;
    char msg[128];
    switch (ev) {
    case POWER_EVENT_POWEROFF:
        vmm_machine_request_exit(m, VMM_EXIT_POWEROFF, VMM_STATUS_OK, "guest powered off (ACPI S5)");
        break;
    case POWER_EVENT_REBOOT:
        vmm_machine_request_exit(m, VMM_EXIT_REBOOT, VMM_STATUS_OK, "guest rebooted (i8042 reset)");
        break;
    case POWER_EVENT_DEBUG_EXIT:
        snprintf(msg, sizeof(msg), "guest wrote %d to the debug-exit port (status %d)", (status - 1) >> 1, status);
        vmm_machine_request_exit(m, VMM_EXIT_DEBUG_EXIT, status, msg);
        break;
    }
}

static void on_vcpu_fatal(void *opaque, struct vcpu *v, enum vcpu_fatal kind, const char *reason)
{
    struct vmm_machine *m = opaque;
    switch (kind) {
    case VCPU_FATAL_TRIPLE_FAULT:
        vmm_machine_request_exit(m, VMM_EXIT_TRIPLE_FAULT, VMM_STATUS_TRIPLE_FAULT, reason);
        break;
    case VCPU_FATAL_SYSTEM_RESET:
        vmm_machine_request_exit(m, VMM_EXIT_REBOOT, VMM_STATUS_OK, reason);
        break;
    case VCPU_FATAL_SYSTEM_SHUTDOWN:
        vmm_machine_request_exit(m, VMM_EXIT_POWEROFF, VMM_STATUS_OK, reason);
        break;
    case VCPU_FATAL_INTERNAL_ERROR:
        vmm_machine_request_exit(m, VMM_EXIT_INTERNAL_ERROR, VMM_STATUS_INTERNAL_ERROR, reason);
        break;
    case VCPU_FATAL_MONITOR:
        vmm_machine_request_exit(m, VMM_EXIT_MONITOR, VMM_STATUS_MONITOR, reason);
        break;
    }
}

static int vcpu_thread_seccomp(struct vcpu *v)
{
    return vmm_seccomp_apply(VMM_THREAD_VCPU, NULL);
}

static void on_first_output(void *opaque)
{
    struct vmm_machine *m = opaque;
    clock_gettime(CLOCK_MONOTONIC, &m->t_first_output);
}

static int register_pio(struct vmm_machine *m, uint64_t base, uint64_t len, const struct bus_device_ops *ops,
                        void *opaque, const char *name, struct berth_error *err)
{
    int r = bus_register(&m->vm->pio, base, len, ops, opaque, name);
    if (r < 0)
        return berth_error_errno(err, r, "port I/O 0x%llx (%s)", (unsigned long long) base, name);
    return 0;
}

int vmm_machine_create(const struct vmm_config *cfg, int console_fd, struct vmm_machine **ret,
                       struct berth_error *err)
{
    int r = vmm_config_validate(cfg, err);
    if (r < 0)
        return r;
    _cleanup_(vmm_machine_freep) struct vmm_machine *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    pthread_mutex_init(&m->lock, NULL);
    m->exit_fd = m->serial_irq_fd = -1;
    m->vcon_in_fd = m->vcon_out_fd = -1;
    for (unsigned i = 0; i < VMM_MAX_MMIO_DEVICES; i++) {
        m->mmio[i].irq_fd = -1;
        for (unsigned q = 0; q < ARRAY_SIZE(m->mmio[i].notify_fd); q++)
            m->mmio[i].notify_fd[q] = -1;
    }
    m->cfg = *cfg; /* shallow: strings stay owned by the caller's config, which outlives us */
    clock_gettime(CLOCK_MONOTONIC, &m->t_created);

    m->exit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->exit_fd < 0)
        return berth_error_errno(err, -errno, "eventfd");
    r = kvm_vm_create(&m->vm, err);
    if (r < 0)
        return r;
    r = kvm_vm_setup_memory(m->vm, cfg->memory_mib << 20, true, err);
    if (r < 0)
        return r;

    /* Legacy devices. */
    m->serial_irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (m->serial_irq_fd < 0)
        return berth_error_errno(err, -errno, "eventfd");
    r = kvm_vm_add_irqfd(m->vm, m->serial_irq_fd, SERIAL_COM1_IRQ);
    if (r < 0)
        return berth_error_errno(err, r, "KVM_IRQFD for the serial port");
    struct irq_line serial_irq = { .gsi = SERIAL_COM1_IRQ, .trigger = vmm_eventfd_trigger,
                                   .opaque = (void *) (intptr_t) m->serial_irq_fd };
    serial_init(&m->serial, console_fd, serial_irq);
    m->serial.on_first_output = on_first_output;
    m->serial.opaque = m;
    struct power_sink sink = { .event = on_power_event, .opaque = m };
    m->debug_exit.sink = sink;
    m->i8042.sink = sink;
    cmos_init(&m->cmos, cfg->memory_mib << 20);
    acpi_pm_init(&m->acpi_pm, sink, sci_set, m);
    if ((r = register_pio(m, SERIAL_COM1_BASE, 8, &serial_ops, &m->serial, "serial", err)) < 0 ||
        (r = register_pio(m, DEBUG_EXIT_PORT, 4, &debug_exit_ops, &m->debug_exit, "debug-exit", err)) < 0 ||
        (r = register_pio(m, I8042_DATA_PORT, 5, &i8042_ops, &m->i8042, "i8042", err)) < 0 ||
        (r = register_pio(m, CMOS_PORT, 2, &cmos_ops, &m->cmos, "cmos", err)) < 0 ||
        (r = register_pio(m, PCI_CONFIG_PORT, 8, &pci_none_ops, NULL, "pci-none", err)) < 0 ||
        (r = register_pio(m, ACPI_PM1A_EVT_PORT, ACPI_PM1A_EVT_LEN, &acpi_pm_evt_ops, &m->acpi_pm, "pm1a-evt",
                          err)) < 0 ||
        (r = register_pio(m, ACPI_PM1A_CNT_PORT, ACPI_PM1A_CNT_LEN, &acpi_pm_cnt_ops, &m->acpi_pm, "pm1a-cnt",
                          err)) < 0)
        return r;

    m->vcpus = calloc(cfg->cpus, sizeof(*m->vcpus));
    if (!m->vcpus)
        return -ENOMEM;
    for (unsigned i = 0; i < cfg->cpus; i++) {
        r = vcpu_create(m->vm, i, cfg->cpus, on_vcpu_fatal, m, &m->vcpus[i], err);
        if (r < 0)
            return r;
        m->n_vcpus++;
    }
    m->state = VMM_STATE_CREATED;
    *ret = TAKE_PTR(m);
    return 0;
}

int vmm_machine_boot(struct vmm_machine *m, struct berth_error *err)
{
    if (m->state != VMM_STATE_CREATED || m->boot.protocol != BOOT_PROTO_NONE)
        return berth_error_set(err, -EBUSY, "boot: the VM has already booted");
    struct e820_map e820;
    e820_build(m->vm->mem_size, KVM_VM_LOW_RAM_END, &e820);

    struct acpi_virtio_device virtio[VMM_MAX_MMIO_DEVICES];
    for (unsigned i = 0; i < m->n_mmio; i++)
        virtio[i] = (struct acpi_virtio_device){ m->mmio[i].base, VMM_MMIO_WINDOW, m->mmio[i].gsi };
    struct acpi_config acfg = { .n_cpus = m->n_vcpus, .serial = true, .virtio = virtio, .n_virtio = m->n_mmio };
    uint8_t *acpi = guest_memory_ptr(&m->vm->mem, BOOT_ACPI_ADDR, BOOT_ACPI_SIZE);
    if (!acpi)
        return berth_error_set(err, -EFAULT, "guest memory has no room for ACPI tables");
    size_t used = 0;
    int r = acpi_build(&acfg, BOOT_ACPI_ADDR, acpi, BOOT_ACPI_SIZE, &m->rsdp_addr, &used, err);
    if (r < 0)
        return r;

    struct boot_request req = {
        .kernel_path = m->cfg.kernel,
        .initrd_path = m->cfg.initrd,
        .cmdline = m->cfg.cmdline,
        .mem_size = m->vm->mem_size,
        .rsdp_addr = m->rsdp_addr,
        .e820 = &e820,
    };
    r = boot_load(&m->vm->mem, &req, &m->boot, err);
    if (r < 0)
        return r;
    return vcpu_set_boot_state(m->vcpus[0], &m->boot.entry, err);
}

int vmm_machine_start(struct vmm_machine *m, struct berth_error *err)
{
    pthread_mutex_lock(&m->lock);
    if (m->state != VMM_STATE_CREATED || m->boot.protocol == BOOT_PROTO_NONE) {
        enum vmm_state s = m->state;
        pthread_mutex_unlock(&m->lock);
        return berth_error_set(err, -EBUSY, "cannot start: the VM is %s", vmm_state_name(s));
    }
    pthread_mutex_unlock(&m->lock);
    for (unsigned i = 0; i < m->n_vcpus; i++) {
        if (m->seccomp)
            m->vcpus[i]->thread_init = vcpu_thread_seccomp;
        int r = vcpu_start_thread(m->vcpus[i], err);
        if (r < 0)
            return r;
    }
    pthread_mutex_lock(&m->lock);
    m->state = VMM_STATE_RUNNING;
    pthread_mutex_unlock(&m->lock);
    clock_gettime(CLOCK_MONOTONIC, &m->t_started);
    for (unsigned i = 0; i < m->n_vcpus; i++)
        vcpu_request_state(m->vcpus[i], VCPU_RUNNING);
    return 0;
}

int vmm_machine_pause(struct vmm_machine *m, struct berth_error *err)
{
    pthread_mutex_lock(&m->lock);
    if (m->state != VMM_STATE_RUNNING) {
        enum vmm_state s = m->state;
        pthread_mutex_unlock(&m->lock);
        return berth_error_set(err, -EBUSY, "cannot pause: the VM is %s", vmm_state_name(s));
    }
    m->state = VMM_STATE_PAUSED;
    pthread_mutex_unlock(&m->lock);
    for (unsigned i = 0; i < m->n_vcpus; i++)
        vcpu_request_state(m->vcpus[i], VCPU_PAUSED);
    return 0;
}

int vmm_machine_resume(struct vmm_machine *m, struct berth_error *err)
{
    pthread_mutex_lock(&m->lock);
    if (m->state != VMM_STATE_PAUSED) {
        enum vmm_state s = m->state;
        pthread_mutex_unlock(&m->lock);
        return berth_error_set(err, -EBUSY, "cannot resume: the VM is %s", vmm_state_name(s));
    }
    m->state = VMM_STATE_RUNNING;
    pthread_mutex_unlock(&m->lock);
    for (unsigned i = 0; i < m->n_vcpus; i++)
        vcpu_request_state(m->vcpus[i], VCPU_RUNNING);
    return 0;
}

void vmm_machine_request_exit(struct vmm_machine *m, enum vmm_exit_reason reason, int status, const char *message)
{
    pthread_mutex_lock(&m->lock);
    bool first = m->exit_reason == VMM_EXIT_NONE;
    if (first) {
        m->exit_reason = reason;
        m->exit_status = status;
        snprintf(m->exit_message, sizeof(m->exit_message), "%s", message ? message : "");
    }
    pthread_mutex_unlock(&m->lock);
    if (!first)
        return;
    for (unsigned i = 0; i < m->n_vcpus; i++)
        vcpu_request_quit(m->vcpus[i]);
    uint64_t one = 1;
    if (write(m->exit_fd, &one, sizeof(one)) < 0) {
        /* eventfd overflow is impossible with one write; nothing else to do */
    }
}

bool vmm_machine_power_button(struct vmm_machine *m)
{
    return acpi_pm_power_button(&m->acpi_pm);
}

void vmm_machine_finish(struct vmm_machine *m)
{
    for (unsigned i = 0; i < m->n_vcpus; i++) {
        vcpu_free(m->vcpus[i]);
        m->vcpus[i] = NULL;
    }
    m->n_vcpus = 0;
    pthread_mutex_lock(&m->lock);
    m->state = VMM_STATE_STOPPED;
    pthread_mutex_unlock(&m->lock);
}

static double ts_ms(const struct timespec *a, const struct timespec *b)
{
    if (!b->tv_sec && !b->tv_nsec)
        return -1;
    return (double) (b->tv_sec - a->tv_sec) * 1e3 + (double) (b->tv_nsec - a->tv_nsec) / 1e6;
}

json_t *vmm_machine_metrics(struct vmm_machine *m)
{
    json_t *o = json_object();
    json_t *cpus = json_array();
    uint64_t total = 0;
    for (unsigned i = 0; i < m->n_vcpus; i++) {
        struct vcpu *v = m->vcpus[i];
        if (!v)
            continue;
        uint64_t exits = __atomic_load_n(&v->stats.exits, __ATOMIC_RELAXED);
        total += exits;
        enum vcpu_state st = vcpu_get_state(v);
        json_t *c = json_pack("{s:i,s:s,s:I,s:I,s:I}", "index", (int) i, "state", vcpu_state_name(st), "exits",
                              (json_int_t) exits, "io_exits", (json_int_t) v->stats.io_exits, "mmio_exits",
                              (json_int_t) v->stats.mmio_exits);
        /* Registers can only be read while the vCPU is out of KVM_RUN. */
        uint64_t rip;
        if (st == VCPU_PAUSED && vcpu_get_rip(v, &rip) == 0)
            json_object_set_new(c, "rip", json_integer((json_int_t) rip));
        json_array_append_new(cpus, c);
    }
    json_object_set_new(o, "vcpus", cpus);
    json_object_set_new(o, "exits", json_integer((json_int_t) total));
    json_object_set_new(o, "serial_tx_bytes", json_integer((json_int_t) m->serial.tx_bytes));
    json_object_set_new(o, "serial_rx_bytes", json_integer((json_int_t) m->serial.rx_bytes));
    json_object_set_new(o, "memory_bytes", json_integer((json_int_t) (m->vm ? m->vm->mem_size : 0)));
    json_object_set_new(o, "tsc_khz", json_integer(m->vm ? m->vm->tsc_khz : 0));
    json_object_set_new(o, "create_to_start_ms", json_real(ts_ms(&m->t_created, &m->t_started)));
    json_object_set_new(o, "start_to_first_output_ms", json_real(ts_ms(&m->t_started, &m->t_first_output)));
    return o;
}

void vmm_machine_free(struct vmm_machine *m)
{
    if (!m)
        return;
    if (m->vcpus) {
        for (unsigned i = 0; i < m->n_vcpus; i++)
            vcpu_free(m->vcpus[i]);
        free(m->vcpus);
    }
    /* Devices go after the vCPUs (which call into them) have been joined. */
    for (unsigned i = 0; i < VMM_MAX_MMIO_DEVICES; i++) {
        virtio_mmio_free(m->mmio[i].virtio);
        for (unsigned q = 0; q < ARRAY_SIZE(m->mmio[i].notify_fd); q++)
            if (m->mmio[i].notify_fd[q] >= 0)
                close(m->mmio[i].notify_fd[q]);
        if (m->mmio[i].irq_fd >= 0)
            close(m->mmio[i].irq_fd);
    }
    if (m->vm) {
        serial_destroy(&m->serial);
        kvm_vm_free(m->vm);
    }
    if (m->serial_irq_fd >= 0)
        close(m->serial_irq_fd);
    if (m->vcon_in_fd >= 0)
        close(m->vcon_in_fd);
    if (m->vcon_out_fd >= 0)
        close(m->vcon_out_fd);
    if (m->exit_fd >= 0)
        close(m->exit_fd);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
