/* berth-agent: /init of berth's guest initramfs. It loads the virtio modules, mounts the VM's root
 * disk, applies the per-VM identity (hostname, machine-id, random seed) and then either hands the
 * machine to the image's init or runs the image's command, serving `berth vm exec` meanwhile. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

/* Options from the kernel command line (berth.*=). */
struct agent_cmdline {
    char root[128];       /* berth.root=, default /dev/vda */
    char rootfstype[32];  /* berth.rootfstype=, default ext4 */
    char config[128];     /* berth.config=, a block device holding the VM's JSON config; empty: none */
    char init[256];       /* berth.init=, default /sbin/init */
    bool rootro;          /* berth.ro */
};

void agent_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void agent_cmdline_parse(const char *cmdline, struct agent_cmdline *ret);
int agent_load_modules(const char *order_file, const char *dir);
int agent_wait_for_device(const char *path, int seconds);
/* Reads a JSON object from the start of a block device (NUL or end terminates it). */
int agent_read_config(const char *device, json_t **ret);
/* Hostname, machine-id, random seed, network from the config; the root is mounted at root. */
int agent_apply_identity(json_t *config, const char *root);
/* Brings lo up and configures the interface the host leased an address to (config "network":
 * ip, prefix, gateway, dns, search, mac); writes /etc/resolv.conf into root. */
int agent_apply_network(json_t *config, const char *root);
/* Runs the exec server on the agent channel until the process is killed. Never returns. */
void agent_exec_server(void) __attribute__((noreturn));
/* Spawns argv with the config's env/cwd/uid/gid; returns the pid. */
int agent_spawn(json_t *request, int stdin_fd, int stdout_fd, int stderr_fd, int *ret_pid);
