/* The berth-vmm process: one VM, one event loop (epoll on the main thread) that owns the console
 * backend, signals (SIGTERM presses the ACPI power button; a second one, or no answer within
 * the grace period, stops the VM), the machine's exit eventfd and the JSON control socket. */
#pragma once

#include <stdbool.h>

#include "base/error.h"
#include "vmm/config.h"
#include "vmm/jail.h"

struct vmm_run_options {
    const char *api_sock;      /* NULL: no control socket */
    unsigned term_grace_ms;    /* after SIGTERM, how long the guest gets to power off */
    bool reboot_restarts;      /* a guest reboot builds and boots a fresh VM instead of exiting */
    /* When set, the process enters this jail after the VM is built, before its vCPUs start. */
    const struct vmm_jail *jail;
    /* Where one-line reasons go (the binary passes stderr); NULL: nowhere. */
    void (*report)(const char *line);
};

/* Runs until the VM ends. With a kernel in cfg, boots it at once; otherwise waits for
 * "configure" and "start" on the control socket. *ret_status is berth-vmm's exit status. */
int vmm_run(struct vmm_config *cfg, const struct vmm_run_options *opts, int *ret_status, struct berth_error *err);
