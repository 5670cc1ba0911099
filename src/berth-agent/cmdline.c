#include <stdio.h>
#include <string.h>

#include "agent.h"

static void copy_value(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

void agent_cmdline_parse(const char *cmdline, struct agent_cmdline *ret)
{
    *ret = (struct agent_cmdline){ .root = "/dev/vda", .rootfstype = "ext4", .init = "/sbin/init" };
    const char *p = cmdline;
    while (*p) {
        while (*p == ' ' || *p == '\n' || *p == '\t')
            p++;
        const char *end = p;
        while (*end && *end != ' ' && *end != '\n' && *end != '\t')
            end++;
        size_t len = (size_t) (end - p);
        struct {
            const char *key;
            char *dst;
            size_t cap;
        } keys[] = {
            { "berth.root=", ret->root, sizeof(ret->root) },
            { "berth.rootfstype=", ret->rootfstype, sizeof(ret->rootfstype) },
            { "berth.config=", ret->config, sizeof(ret->config) },
            { "berth.init=", ret->init, sizeof(ret->init) },
        };
        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            size_t kl = strlen(keys[i].key);
            if (len > kl && !strncmp(p, keys[i].key, kl))
                copy_value(keys[i].dst, keys[i].cap, p + kl, len - kl);
        }
        if (len == 8 && !strncmp(p, "berth.ro", 8))
            ret->rootro = true;
        p = end;
    }
}
