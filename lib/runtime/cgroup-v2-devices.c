/* cgroup v2 has no devices.allow/deny files: device access is decided by an eBPF program of type
 * BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup. We generate that program from the spec's
 * rules. Rules are evaluated last-to-first and the first match decides, which gives the same
 * result as applying them in order to v1's devices controller. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "runtime/cgroup-internal.h"

#define MAX_INSNS 8192

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    struct bpf_insn i = { .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm };
    return i;
}

static long sys_bpf(int cmd, union bpf_attr *attr)
{
    return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

/* Registers: r2 = device type, r3 = requested access bits, r4 = major, r5 = minor. */
static size_t emit_rule(struct bpf_insn *p, const struct cgroup_dev_rule *d)
{
    uint32_t acc = 0;
    for (const char *a = d->access; *a; a++)
        acc |= *a == 'r' ? BPF_DEVCG_ACC_READ : *a == 'w' ? BPF_DEVCG_ACC_WRITE : BPF_DEVCG_ACC_MKNOD;
    size_t n = 0;
    /* The block is: checks (each jumps to the block's end on mismatch), then r0 = verdict; exit. */
    size_t checks = (d->type != 'a') + 3 + (d->major >= 0) + (d->minor >= 0);
    size_t len = checks + 2;
#define SKIP ((int16_t) (len - n - 1))
    if (d->type != 'a') {
        int32_t t = d->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
        p[n] = insn(BPF_JMP | BPF_JNE | BPF_K, 2, 0, SKIP, t);
        n++;
    }
    p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, 0, 3, 0, 0);
    if (d->allow) {
        /* An allow rule matches when every requested access is among the rule's. */
        p[n++] = insn(BPF_ALU64 | BPF_AND | BPF_K, 0, 0, 0, (int32_t) (~acc & 7));
        p[n] = insn(BPF_JMP | BPF_JNE | BPF_K, 0, 0, SKIP, 0);
        n++;
    } else {
        /* A deny rule matches when any requested access is among the rule's. */
        p[n++] = insn(BPF_ALU64 | BPF_AND | BPF_K, 0, 0, 0, (int32_t) acc);
        p[n] = insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, SKIP, 0);
        n++;
    }
    if (d->major >= 0) {
        p[n] = insn(BPF_JMP | BPF_JNE | BPF_K, 4, 0, SKIP, (int32_t) d->major);
        n++;
    }
    if (d->minor >= 0) {
        p[n] = insn(BPF_JMP | BPF_JNE | BPF_K, 5, 0, SKIP, (int32_t) d->minor);
        n++;
    }
#undef SKIP
    p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, d->allow ? 1 : 0);
    p[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    return n;
}

int cgroup_v2_devices_program(const struct cgroup_dev_rule *rules, size_t n_rules, struct bpf_insn **ret,
                              size_t *ret_n)
{
    if (n_rules > (MAX_INSNS - 16) / 9)
        return -E2BIG;
    struct bpf_insn *p = calloc(16 + 9 * n_rules, sizeof(*p));
    if (!p)
        return -ENOMEM;
    size_t n = 0;
    p[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, 2, 1, offsetof(struct bpf_cgroup_dev_ctx, access_type), 0);
    p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_X, 3, 2, 0, 0);
    p[n++] = insn(BPF_ALU64 | BPF_AND | BPF_K, 2, 0, 0, 0xffff);
    p[n++] = insn(BPF_ALU64 | BPF_RSH | BPF_K, 3, 0, 0, 16);
    p[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, 4, 1, offsetof(struct bpf_cgroup_dev_ctx, major), 0);
    p[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, 5, 1, offsetof(struct bpf_cgroup_dev_ctx, minor), 0);
    for (size_t i = n_rules; i-- > 0;)
        n += emit_rule(p + n, &rules[i]);
    /* Nothing matched: v1 starts from "allow all", so do we (specs begin with a deny-all rule). */
    p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
    p[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    *ret = p;
    *ret_n = n;
    return 0;
}

/* Ids of the device programs attached to the cgroup now (so an update can replace them). */
static int query_attached(int cgfd, uint32_t *ids, uint32_t *n)
{
    union bpf_attr a;
    memset(&a, 0, sizeof(a));
    a.query.target_fd = (uint32_t) cgfd;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = (uint64_t) (uintptr_t) ids;
    a.query.prog_cnt = *n;
    if (sys_bpf(BPF_PROG_QUERY, &a) < 0)
        return -errno;
    *n = a.query.prog_cnt;
    return 0;
}

int cgroup_v2_devices_apply(struct cgroup_manager *m, const struct cgroup_dev_rule *rules, size_t n_rules,
                            struct berth_error *err)
{
    if (n_rules == 0)
        return 0;
    _cleanup_free_ struct bpf_insn *prog = NULL;
    size_t n = 0;
    int r = cgroup_v2_devices_program(rules, n_rules, &prog, &n);
    if (r < 0)
        return berth_error_errno(err, r, "linux.resources.devices: building the eBPF device filter");

    _cleanup_close_ int cgfd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgfd < 0)
        return berth_error_errno(err, -errno, "cgroup: opening %s", m->dir);

    /* Load without a verifier log first: with one, a log longer than the buffer fails the load
     * (ENOSPC) even though the program is fine. The log is only wanted to explain a refusal. */
    static char log[4096];
    union bpf_attr a;
    int progfd_raw = -1;
    for (int attempt = 0; attempt < 2 && progfd_raw < 0; attempt++) {
        memset(&a, 0, sizeof(a));
        a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        a.insns = (uint64_t) (uintptr_t) prog;
        a.insn_cnt = (uint32_t) n;
        a.license = (uint64_t) (uintptr_t) "Apache-2.0";
        log[0] = '\0';
        if (attempt == 1) {
            a.log_buf = (uint64_t) (uintptr_t) log;
            a.log_size = sizeof(log);
            a.log_level = 1;
        }
        progfd_raw = (int) sys_bpf(BPF_PROG_LOAD, &a);
        if (progfd_raw < 0 && attempt == 0 && errno != EINVAL && errno != EACCES)
            break;
    }
    _cleanup_close_ int progfd = progfd_raw;
    if (progfd < 0)
        return berth_error_errno(err, -errno, "linux.resources.devices: loading the eBPF device filter (%.200s)", log);

    uint32_t old[64];
    uint32_t n_old = ARRAY_SIZE(old);
    if (query_attached(cgfd, old, &n_old) < 0)
        n_old = 0;

    memset(&a, 0, sizeof(a));
    a.target_fd = (uint32_t) cgfd;
    a.attach_bpf_fd = (uint32_t) progfd;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = BPF_F_ALLOW_MULTI;
    if (sys_bpf(BPF_PROG_ATTACH, &a) < 0)
        return berth_error_errno(err, -errno, "linux.resources.devices: attaching the eBPF device filter to %s", m->dir);

    /* Every attached program must allow an access, so the old filter goes once the new one is in. */
    for (uint32_t i = 0; i < n_old; i++) {
        union bpf_attr g;
        memset(&g, 0, sizeof(g));
        g.prog_id = old[i];
        _cleanup_close_ int ofd = (int) sys_bpf(BPF_PROG_GET_FD_BY_ID, &g);
        if (ofd < 0)
            continue;
        memset(&g, 0, sizeof(g));
        g.target_fd = (uint32_t) cgfd;
        g.attach_bpf_fd = (uint32_t) ofd;
        g.attach_type = BPF_CGROUP_DEVICE;
        sys_bpf(BPF_PROG_DETACH, &g);
    }
    return 0;
}
