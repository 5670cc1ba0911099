/* A vCPU: one thread that only runs KVM_RUN and dispatches I/O exits on the VM's buses. Its
 * state machine (paused, running, finished) is driven by other threads through
 * vcpu_request_state(); a request that must interrupt KVM_RUN sets immediate_exit and kicks the
 * thread with a signal whose handler does nothing. */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/cleanup.h"
#include "base/error.h"
#include "vmm/boot/entry.h"
#include "vmm/kvm/vm.h"

enum vcpu_state { VCPU_PAUSED, VCPU_RUNNING, VCPU_FINISHED };

/* Why a vCPU ended the machine on its own. */
enum vcpu_fatal {
    VCPU_FATAL_TRIPLE_FAULT,
    VCPU_FATAL_INTERNAL_ERROR, /* KVM internal error, emulation failure, entry failure */
    VCPU_FATAL_SYSTEM_RESET,
    VCPU_FATAL_SYSTEM_SHUTDOWN,
    VCPU_FATAL_MONITOR,        /* KVM_RUN itself failed */
};

struct vcpu;
/* Called on the vCPU thread when it stops the machine by itself; reason is a full sentence. */
typedef void (*vcpu_fatal_fn)(void *opaque, struct vcpu *v, enum vcpu_fatal kind, const char *reason);

struct vcpu_stats {
    uint64_t exits, io_exits, mmio_exits, unhandled_io;
};

struct vcpu {
    struct kvm_vm *vm;
    unsigned index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum vcpu_state state;     /* what the thread is doing (under lock) */
    enum vcpu_state requested; /* what others asked for (under lock, read atomically by the thread) */
    bool quit;
    vcpu_fatal_fn on_fatal;
    void *opaque;
    /* Run first on the new thread (e.g. its seccomp filter); a failure finishes the vCPU. */
    int (*thread_init)(struct vcpu *v);
    struct vcpu_stats stats;
};

/* Creates vCPU index of n: CPUID (filtered), MSRs, FPU, LAPIC LINT0/LINT1 wiring. */
int vcpu_create(struct kvm_vm *vm, unsigned index, unsigned n, vcpu_fatal_fn on_fatal, void *opaque,
                struct vcpu **ret, struct berth_error *err);

/* Sets the registers for the boot CPU's first instruction. */
int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *entry, struct berth_error *err);

/* Starts the thread, paused. */
int vcpu_start_thread(struct vcpu *v, struct berth_error *err);

/* Asks for VCPU_RUNNING or VCPU_PAUSED and waits until the thread is there (or finished). */
void vcpu_request_state(struct vcpu *v, enum vcpu_state want);

/* Asks the thread to finish without waiting (safe from any thread, including the vCPU's own). */
void vcpu_request_quit(struct vcpu *v);

/* Finishes and joins the thread, then frees. */
void vcpu_free(struct vcpu *v);
DEFINE_CLEANUP_FUNC(struct vcpu, vcpu_free)

enum vcpu_state vcpu_get_state(struct vcpu *v);
/* The instruction pointer; only while the vCPU is paused. */
int vcpu_get_rip(struct vcpu *v, uint64_t *ret);
const char *vcpu_state_name(enum vcpu_state s);
