#include "net/nft.h"

#include <errno.h>
#include <jansson.h>
#include <nftables/libnftables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/array.h"
#include "base/cleanup.h"
#include "base/strv.h"
#include "net/cidr.h"

#define TABLE "ip berth"

DEFINE_CLEANUP_FUNC(struct nft_ctx, nft_ctx_free)

static int nft_ctx_make(struct nft_ctx **ret, bool json, struct berth_error *err)
{
    struct nft_ctx *ctx = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!ctx)
        return berth_error_set(err, -ENOMEM, "nftables: cannot create a context");
    nft_ctx_buffer_output(ctx);
    nft_ctx_buffer_error(ctx);
    if (json)
        nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
    *ret = ctx;
    return 0;
}

static void first_line(const char *in, char *out, size_t len)
{
    snprintf(out, len, "%s", in ? in : "");
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = 0;
}

int nft_run(const char *cmds, struct berth_error *err)
{
    _cleanup_(nft_ctx_freep) struct nft_ctx *ctx = NULL;
    int r = nft_ctx_make(&ctx, false, err);
    if (r < 0)
        return r;
    if (nft_run_cmd_from_buffer(ctx, cmds) != 0) {
        char line[512];
        first_line(nft_ctx_get_error_buffer(ctx), line, sizeof(line));
        return berth_error_set(err, -EIO, "nftables: %s", line[0] ? line : "command failed");
    }
    return 0;
}

int nft_ensure_base(struct berth_error *err)
{
    return nft_run("add table " TABLE "\n"
                   "add chain " TABLE " prerouting { type nat hook prerouting priority -100; policy accept; }\n"
                   "add chain " TABLE " output { type nat hook output priority -100; policy accept; }\n"
                   "add chain " TABLE " postrouting { type nat hook postrouting priority 100; policy accept; }\n"
                   "add chain " TABLE " forward { type filter hook forward priority 0; policy accept; }\n"
                   "add chain " TABLE " input { type filter hook input priority 0; policy accept; }\n",
                   err);
}

int nft_network_add(const struct net_network *nw, struct berth_error *err)
{
    char sub[32], gw[INET_ADDRSTRLEN];
    cidr_format(&nw->subnet, sub, sizeof(sub));
    cidr_format_ip(nw->gateway, gw);
    char cmds[2048];
    int n;
    if (nw->internal)
        n = snprintf(cmds, sizeof(cmds),
                     "add rule " TABLE " forward iifname \"%1$s\" oifname != \"%1$s\" drop comment \"net:%2$s\"\n"
                     "add rule " TABLE " forward oifname \"%1$s\" iifname != \"%1$s\" drop comment \"net:%2$s\"\n"
                     /* The host's other addresses are outside too; the resolver on the gateway is not. */
                     "add rule " TABLE " input iifname \"%1$s\" ip daddr != %3$s drop comment \"net:%2$s\"\n",
                     nw->bridge, nw->name, gw);
    else
        n = snprintf(cmds, sizeof(cmds),
                     /* Other berth networks are unreachable: only the host, outside, and itself. */
                     "add rule " TABLE " forward iifname \"%1$s\" oifname \"berth*\" oifname != \"%1$s\" drop comment \"net:%2$s\"\n"
                     "add rule " TABLE " postrouting ip saddr %3$s ip daddr != %3$s masquerade comment \"net:%2$s\"\n"
                     /* Host-local sources (127.0.0.1 after an output DNAT) must not reach the
                      * workload as-is: its reply would go to its own loopback. */
                     "add rule " TABLE " postrouting oifname \"%1$s\" ip saddr 127.0.0.0/8 masquerade comment \"net:%2$s\"\n",
                     nw->bridge, nw->name, sub);
    if (n < 0 || (size_t) n >= sizeof(cmds))
        return berth_error_set(err, -ENAMETOOLONG, "network '%s': rule text too long", nw->name);
    return nft_run(cmds, err);
}

int nft_ports_add(const char *workload, uint32_t ip, const struct net_port *ports, size_t n, struct berth_error *err)
{
    if (n == 0)
        return 0;
    size_t cap = 512 * n + 64;
    _cleanup_free_ char *cmds = malloc(cap);
    if (!cmds)
        return berth_error_set(err, -ENOMEM, "out of memory");
    size_t off = 0;
    char ipbuf[INET_ADDRSTRLEN];
    cidr_format_ip(ip, ipbuf);
    for (size_t i = 0; i < n; i++) {
        const struct net_port *p = &ports[i];
        const char *proto = p->proto == IPPROTO_UDP ? "udp" : "tcp";
        char match[96];
        if (p->host_ip[0])
            snprintf(match, sizeof(match), "ip daddr %s", p->host_ip);
        else
            snprintf(match, sizeof(match), "fib daddr type local");
        static const char *const chains[] = { "prerouting", "output" };
        for (size_t c = 0; c < 2; c++) {
            int k = snprintf(cmds + off, cap - off,
                             "add rule " TABLE " %s %s %s dport %u dnat to %s:%u comment \"wl:%s\"\n", chains[c],
                             match, proto, p->host_port, ipbuf, p->port, workload);
            if (k < 0 || (size_t) k >= cap - off)
                return berth_error_set(err, -ENAMETOOLONG, "published ports: rule text too long");
            off += (size_t) k;
        }
    }
    return nft_run(cmds, err);
}

/* Lists the table as JSON; *ret_root NULL when the table does not exist. */
static int list_table(json_t **ret_root, struct berth_error *err)
{
    _cleanup_(nft_ctx_freep) struct nft_ctx *ctx = NULL;
    int r = nft_ctx_make(&ctx, true, err);
    if (r < 0)
        return r;
    if (nft_run_cmd_from_buffer(ctx, "list table " TABLE) != 0) {
        const char *e = nft_ctx_get_error_buffer(ctx);
        if (e && (strstr(e, "No such file") || strstr(e, "does not exist"))) {
            *ret_root = NULL;
            return 0;
        }
        char line[512];
        first_line(e, line, sizeof(line));
        return berth_error_set(err, -EIO, "nftables: %s", line);
    }
    const char *out = nft_ctx_get_output_buffer(ctx);
    json_error_t jerr;
    json_t *root = json_loads(out ? out : "{}", 0, &jerr);
    if (!root)
        return berth_error_set(err, -EBADMSG, "nftables: unreadable JSON listing: %s", jerr.text);
    *ret_root = root;
    return 0;
}

typedef int (*rule_fn)(const char *chain, int64_t handle, const char *comment, void *userdata);

static int foreach_rule(json_t *root, rule_fn fn, void *userdata)
{
    json_t *items = json_object_get(root, "nftables");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        json_t *rule = json_object_get(it, "rule");
        if (!rule)
            continue;
        const char *chain = json_string_value(json_object_get(rule, "chain"));
        const char *comment = json_string_value(json_object_get(rule, "comment"));
        json_t *h = json_object_get(rule, "handle");
        if (!chain || !comment || !json_is_integer(h))
            continue;
        int r = fn(chain, json_integer_value(h), comment, userdata);
        if (r < 0)
            return r;
    }
    return 0;
}

struct delete_ctx {
    const char *tag;
    char *cmds;
    size_t len, cap;
};

static int collect_delete(const char *chain, int64_t handle, const char *comment, void *userdata)
{
    struct delete_ctx *d = userdata;
    if (strcmp(comment, d->tag))
        return 0;
    char line[160];
    int k = snprintf(line, sizeof(line), "delete rule " TABLE " %s handle %lld\n", chain, (long long) handle);
    if (ARRAY_RESERVE(d->cmds, d->cap, d->len + (size_t) k + 1, 256) < 0)
        return -ENOMEM;
    memcpy(d->cmds + d->len, line, (size_t) k + 1);
    d->len += (size_t) k;
    return 0;
}

int nft_delete_tagged(const char *tag, struct berth_error *err)
{
    /* A concurrent berth may delete a neighbour's rule between our listing and our batch, which
     * fails the whole batch on a vanished handle: list again and retry. */
    for (int attempt = 0;; attempt++) {
        json_t *root = NULL;
        int r = list_table(&root, err);
        if (r < 0)
            return r;
        if (!root)
            return 0;
        struct delete_ctx d = { tag, NULL, 0, 0 };
        r = foreach_rule(root, collect_delete, &d);
        json_decref(root);
        if (r < 0) {
            free(d.cmds);
            return berth_error_set(err, r, "out of memory");
        }
        if (!d.len) {
            free(d.cmds);
            return 0;
        }
        struct berth_error inner = { 0 };
        r = nft_run(d.cmds, attempt < 4 ? &inner : err);
        free(d.cmds);
        if (r == 0 || attempt >= 4)
            return r;
    }
}

static int collect_tag(const char *chain, int64_t handle, const char *comment, void *userdata)
{
    char ***tags = userdata;
    for (char **t = *tags; t && *t; t++)
        if (!strcmp(*t, comment))
            return 0;
    return strv_push(tags, comment);
}

int nft_list_tags(char ***ret, struct berth_error *err)
{
    json_t *root = NULL;
    int r = list_table(&root, err);
    if (r < 0)
        return r;
    char **tags = calloc(1, sizeof(char *));
    if (!tags) {
        json_decref(root);
        return berth_error_set(err, -ENOMEM, "out of memory");
    }
    if (root) {
        r = foreach_rule(root, collect_tag, &tags);
        json_decref(root);
        if (r < 0) {
            strv_free(tags);
            return berth_error_set(err, r, "out of memory");
        }
    }
    *ret = tags;
    return 0;
}

int nft_delete_table(struct berth_error *err)
{
    json_t *root = NULL;
    int r = list_table(&root, err);
    if (r < 0 || !root)
        return r;
    json_decref(root);
    return nft_run("delete table " TABLE "\n", err);
}
