#include "vmm/kvm/vcpu.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/kvm/cpuid.h"

/* Only interrupts KVM_RUN (EINTR): the handler does no work. */
#define VCPU_KICK_SIGNAL (SIGRTMIN + 1)

static void vcpu_kick_handler(int sig)
{
    (void) sig;
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;
static void vcpu_install_kick_handler(void)
{
    struct sigaction sa = { .sa_handler = vcpu_kick_handler };
    sigemptyset(&sa.sa_mask);
    sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

const char *vcpu_state_name(enum vcpu_state s)
{
    switch (s) {
    case VCPU_PAUSED:
        return "paused";
    case VCPU_RUNNING:
        return "running";
    case VCPU_FINISHED:
        return "finished";
    }
    return "?";
}

static int vcpu_setup_cpuid(struct vcpu *v, unsigned n, struct berth_error *err)
{
    _cleanup_free_ struct cpuid_table *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    int r = cpuid_get_supported(v->vm->kvm_fd, t, err);
    if (r < 0)
        return r;
    struct cpuid_filter f = { .vcpu_index = v->index, .n_vcpus = n, .mask_unemulated = v->vm->nested_pvm };
    cpuid_filter_apply(t, &f);
    size_t sz = sizeof(struct kvm_cpuid2) + t->n * sizeof(struct kvm_cpuid_entry2);
    _cleanup_free_ struct kvm_cpuid2 *c = calloc(1, sz);
    if (!c)
        return -ENOMEM;
    c->nent = t->n;
    for (uint32_t i = 0; i < t->n; i++) {
        const struct cpuid_entry *e = &t->e[i];
        c->entries[i] = (struct kvm_cpuid_entry2){ .function = e->function, .index = e->index, .flags = e->flags,
                                                   .eax = e->eax, .ebx = e->ebx, .ecx = e->ecx, .edx = e->edx };
    }
    if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
        return berth_error_errno(err, -errno, "vcpu %u: KVM_SET_CPUID2", v->index);
    return 0;
}

#define MSR_IA32_TSC 0x10
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

static int vcpu_setup_msrs(struct vcpu *v, struct berth_error *err)
{
    /* Architectural reset values a firmware would leave; write-back MTRR default so the guest
     * does not run uncached. Each is set on its own: an MSR this KVM refuses is not fatal,
     * except the ones a 64-bit kernel needs. */
    static const struct {
        uint32_t index;
        uint64_t value;
        bool required;
    } msrs[] = {
        { MSR_IA32_SYSENTER_CS, 0, true },  { MSR_IA32_SYSENTER_ESP, 0, true }, { MSR_IA32_SYSENTER_EIP, 0, true },
        { MSR_STAR, 0, true },              { MSR_LSTAR, 0, true },            { MSR_CSTAR, 0, false },
        { MSR_KERNEL_GS_BASE, 0, true },    { MSR_SYSCALL_MASK, 0, true },     { MSR_IA32_TSC, 0, false },
        { MSR_IA32_MISC_ENABLE, 1, false }, { MSR_MTRR_DEF_TYPE, (1u << 11) | 6, false },
    };
    for (size_t i = 0; i < ARRAY_SIZE(msrs); i++) {
        struct {
            struct kvm_msrs hdr;
            struct kvm_msr_entry e;
        } m = { .hdr.nmsrs = 1, .e = { .index = msrs[i].index, .data = msrs[i].value } };
        int r = ioctl(v->fd, KVM_SET_MSRS, &m);
        if (r != 1 && msrs[i].required)
            return berth_error_errno(err, r < 0 ? -errno : -EINVAL, "vcpu %u: KVM_SET_MSRS 0x%x", v->index,
                                     msrs[i].index);
    }
    return 0;
}

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI 4
#define APIC_MODE_EXTINT 7

static int vcpu_setup_lapic(struct vcpu *v, struct berth_error *err)
{
    /* Like a PC firmware: LINT0 takes the 8259's ExtINT, LINT1 delivers NMIs. */
    struct kvm_lapic_state lapic;
    if (ioctl(v->fd, KVM_GET_LAPIC, &lapic) < 0)
        return berth_error_errno(err, -errno, "vcpu %u: KVM_GET_LAPIC", v->index);
    uint32_t lint0, lint1;
    memcpy(&lint0, lapic.regs + APIC_LVT_LINT0, 4);
    memcpy(&lint1, lapic.regs + APIC_LVT_LINT1, 4);
    lint0 = (lint0 & ~0x700u) | (APIC_MODE_EXTINT << 8);
    lint1 = (lint1 & ~0x700u) | (APIC_MODE_NMI << 8);
    memcpy(lapic.regs + APIC_LVT_LINT0, &lint0, 4);
    memcpy(lapic.regs + APIC_LVT_LINT1, &lint1, 4);
    if (ioctl(v->fd, KVM_SET_LAPIC, &lapic) < 0)
        return berth_error_errno(err, -errno, "vcpu %u: KVM_SET_LAPIC", v->index);
    return 0;
}

static int vcpu_setup_fpu(struct vcpu *v, struct berth_error *err)
{
    struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
    if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
        return berth_error_errno(err, -errno, "vcpu %u: KVM_SET_FPU", v->index);
    return 0;
}

int vcpu_create(struct kvm_vm *vm, unsigned index, unsigned n, vcpu_fatal_fn on_fatal, void *opaque,
                struct vcpu **ret, struct berth_error *err)
{
    pthread_once(&kick_once, vcpu_install_kick_handler);
    _cleanup_(vcpu_freep) struct vcpu *v = calloc(1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    v->vm = vm;
    v->index = index;
    v->on_fatal = on_fatal;
    v->opaque = opaque;
    v->state = v->requested = VCPU_PAUSED;
    v->run = MAP_FAILED;
    v->fd = -1;
    pthread_mutex_init(&v->lock, NULL);
    pthread_cond_init(&v->cond, NULL);
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long) index);
    if (v->fd < 0)
        return berth_error_errno(err, -errno, "vcpu %u: KVM_CREATE_VCPU", index);
    (void) fcntl(v->fd, F_SETFD, FD_CLOEXEC);
    v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED)
        return berth_error_errno(err, -errno, "vcpu %u: mmap of kvm_run", index);
    int r = vcpu_setup_cpuid(v, n, err);
    if (r >= 0)
        r = vcpu_setup_msrs(v, err);
    if (r >= 0)
        r = vcpu_setup_fpu(v, err);
    if (r >= 0)
        r = vcpu_setup_lapic(v, err);
    if (r < 0)
        return r;
    if (index == 0 && !vm->tsc_khz) {
        int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
        if (khz > 0)
            vm->tsc_khz = (uint32_t) khz;
    }
    *ret = TAKE_PTR(v);
    return 0;
}

static void vcpu_fatal(struct vcpu *v, enum vcpu_fatal kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void vcpu_fatal(struct vcpu *v, enum vcpu_fatal kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (v->on_fatal)
        v->on_fatal(v->opaque, v, kind, msg);
}

int vcpu_get_rip(struct vcpu *v, uint64_t *ret)
{
    struct kvm_regs regs;
    if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
        return -errno;
    *ret = regs.rip;
    return 0;
}

static uint64_t vcpu_rip(struct vcpu *v)
{
    struct kvm_regs regs;
    return ioctl(v->fd, KVM_GET_REGS, &regs) < 0 ? 0 : regs.rip;
}

static void vcpu_handle_io(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint8_t *data = (uint8_t *) run + run->io.data_offset;
    v->stats.io_exits++;
    for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
        int r = run->io.direction == KVM_EXIT_IO_OUT ? bus_write(&v->vm->pio, run->io.port, data, run->io.size)
                                                     : bus_read(&v->vm->pio, run->io.port, data, run->io.size);
        if (r < 0)
            v->stats.unhandled_io++;
    }
}

static void vcpu_handle_mmio(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint32_t len = run->mmio.len <= 8 ? run->mmio.len : 8;
    v->stats.mmio_exits++;
    int r = run->mmio.is_write ? bus_write(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len)
                               : bus_read(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len);
    if (r < 0)
        v->stats.unhandled_io++;
}

/* Runs until a request (pause/quit) or a fatal exit; returns true when the vCPU must finish. */
static bool vcpu_run_loop(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    for (;;) {
        if (__atomic_load_n(&v->requested, __ATOMIC_ACQUIRE) != VCPU_RUNNING ||
            __atomic_load_n(&v->quit, __ATOMIC_ACQUIRE))
            return false;
        int r = ioctl(v->fd, KVM_RUN, 0);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                return false;
            vcpu_fatal(v, VCPU_FATAL_MONITOR, "vcpu %u: KVM_RUN failed: %s", v->index, strerror(errno));
            return true;
        }
        __atomic_add_fetch(&v->stats.exits, 1, __ATOMIC_RELAXED);
        switch (run->exit_reason) {
        case KVM_EXIT_IO:
            vcpu_handle_io(v);
            break;
        case KVM_EXIT_MMIO:
            vcpu_handle_mmio(v);
            break;
        case KVM_EXIT_INTR:
            return false;
        case KVM_EXIT_HLT:
            /* The in-kernel LAPIC handles HLT; reaching here means the guest stopped for good. */
            vcpu_fatal(v, VCPU_FATAL_INTERNAL_ERROR, "vcpu %u: guest halted at rip 0x%llx", v->index,
                       (unsigned long long) vcpu_rip(v));
            return true;
        case KVM_EXIT_SHUTDOWN:
            vcpu_fatal(v, VCPU_FATAL_TRIPLE_FAULT, "vcpu %u: triple fault at rip 0x%llx", v->index,
                       (unsigned long long) vcpu_rip(v));
            return true;
        case KVM_EXIT_SYSTEM_EVENT:
            if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
                vcpu_fatal(v, VCPU_FATAL_SYSTEM_RESET, "vcpu %u: guest reset", v->index);
            else
                vcpu_fatal(v, VCPU_FATAL_SYSTEM_SHUTDOWN, "vcpu %u: guest system event %u", v->index,
                           run->system_event.type);
            return true;
        case KVM_EXIT_INTERNAL_ERROR:
            vcpu_fatal(v, VCPU_FATAL_INTERNAL_ERROR, "vcpu %u: KVM internal error (suberror %u%s) at rip 0x%llx",
                       v->index, run->internal.suberror,
                       run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? ", emulation failure" : "",
                       (unsigned long long) vcpu_rip(v));
            return true;
        case KVM_EXIT_FAIL_ENTRY:
            vcpu_fatal(v, VCPU_FATAL_INTERNAL_ERROR, "vcpu %u: KVM entry failure (hardware reason 0x%llx)",
                       v->index, (unsigned long long) run->fail_entry.hardware_entry_failure_reason);
            return true;
        default:
            vcpu_fatal(v, VCPU_FATAL_INTERNAL_ERROR, "vcpu %u: unhandled KVM exit %u at rip 0x%llx", v->index,
                       run->exit_reason, (unsigned long long) vcpu_rip(v));
            return true;
        }
    }
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, VCPU_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    char name[16];
    snprintf(name, sizeof(name), "vcpu%u", v->index);
    pthread_setname_np(pthread_self(), name);
    if (v->thread_init && v->thread_init(v) < 0) {
        vcpu_fatal(v, VCPU_FATAL_MONITOR, "vcpu %u: thread set-up failed", v->index);
        pthread_mutex_lock(&v->lock);
        v->quit = true;
    } else {
        pthread_mutex_lock(&v->lock);
    }
    for (;;) {
        while (!v->quit && v->requested != VCPU_RUNNING) {
            if (v->state != VCPU_PAUSED) {
                v->state = VCPU_PAUSED;
                pthread_cond_broadcast(&v->cond);
            }
            pthread_cond_wait(&v->cond, &v->lock);
        }
        if (v->quit)
            break;
        if (v->state != VCPU_RUNNING) {
            v->state = VCPU_RUNNING;
            pthread_cond_broadcast(&v->cond);
        }
        /* Cleared under the lock: a requester sets it under the same lock after changing
         * `requested`, so a request is never lost between here and KVM_RUN. */
        v->run->immediate_exit = 0;
        pthread_mutex_unlock(&v->lock);
        bool done = vcpu_run_loop(v);
        pthread_mutex_lock(&v->lock);
        if (done)
            v->quit = true;
    }
    v->state = VCPU_FINISHED;
    pthread_cond_broadcast(&v->cond);
    pthread_mutex_unlock(&v->lock);
    return NULL;
}

int vcpu_start_thread(struct vcpu *v, struct berth_error *err)
{
    /* The thread starts with every signal blocked; it unblocks only the kick. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int r = pthread_create(&v->thread, NULL, vcpu_thread, v);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0)
        return berth_error_errno(err, -r, "vcpu %u: pthread_create", v->index);
    v->thread_started = true;
    return 0;
}

static void vcpu_kick_locked(struct vcpu *v)
{
    v->run->immediate_exit = 1;
    pthread_cond_broadcast(&v->cond);
    if (v->thread_started && !pthread_equal(pthread_self(), v->thread))
        pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_request_state(struct vcpu *v, enum vcpu_state want)
{
    pthread_mutex_lock(&v->lock);
    __atomic_store_n(&v->requested, want, __ATOMIC_RELEASE);
    if (want != VCPU_RUNNING)
        vcpu_kick_locked(v);
    else
        pthread_cond_broadcast(&v->cond);
    while (v->thread_started && v->state != want && v->state != VCPU_FINISHED) {
        if (want == VCPU_PAUSED)
            vcpu_kick_locked(v);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&v->cond, &v->lock, &ts);
    }
    pthread_mutex_unlock(&v->lock);
}

void vcpu_request_quit(struct vcpu *v)
{
    pthread_mutex_lock(&v->lock);
    __atomic_store_n(&v->quit, true, __ATOMIC_RELEASE);
    vcpu_kick_locked(v);
    pthread_mutex_unlock(&v->lock);
}

enum vcpu_state vcpu_get_state(struct vcpu *v)
{
    pthread_mutex_lock(&v->lock);
    enum vcpu_state s = v->state;
    pthread_mutex_unlock(&v->lock);
    return s;
}

void vcpu_free(struct vcpu *v)
{
    if (!v)
        return;
    if (v->thread_started) {
        vcpu_request_quit(v);
        /* The kick can land just before KVM_RUN; immediate_exit covers that, and repeated
         * kicks cover a thread blocked elsewhere. */
        for (;;) {
            pthread_mutex_lock(&v->lock);
            bool finished = v->state == VCPU_FINISHED;
            if (!finished)
                vcpu_kick_locked(v);
            pthread_mutex_unlock(&v->lock);
            if (finished)
                break;
            usleep(1000);
        }
        pthread_join(v->thread, NULL);
    }
    if (v->run != MAP_FAILED && v->run)
        munmap(v->run, v->vm->run_size);
    if (v->fd >= 0)
        close(v->fd);
    pthread_mutex_destroy(&v->lock);
    pthread_cond_destroy(&v->cond);
    free(v);
}
