/* berth.conf: "[section]" lines and "key = value" lines; '#' starts a comment. Only the network
 * module's keys are read here. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "net/network.h"
#include "store/store.h"

static char *trim(char *s)
{
    while (isspace((unsigned char) *s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char) e[-1]))
        *--e = 0;
    return s;
}

int network_default_subnet(struct net_cidr *ret, struct berth_error *err)
{
    _cleanup_free_ char *path = fs_path_join(berth_root_dir(), "berth.conf");
    if (!path)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    struct berth_error rerr = { 0 };
    int r = fs_read_file(path, 1 << 20, &data, &len, &rerr);
    if (r == -ENOENT)
        return cidr_parse(NET_DEFAULT_SUBNET, ret, err);
    if (r < 0)
        return berth_error_set(err, r, "%s", rerr.msg);
    char section[64] = "";
    unsigned lineno = 0;
    for (char *save = NULL, *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *l = trim(line);
        if (!*l)
            continue;
        if (*l == '[') {
            char *end = strchr(l, ']');
            if (!end)
                return berth_error_set(err, -EINVAL, "%s:%u: unterminated section header", path, lineno);
            *end = 0;
            snprintf(section, sizeof(section), "%s", trim(l + 1));
            continue;
        }
        char *eq = strchr(l, '=');
        if (!eq)
            continue;
        *eq = 0;
        char *key = trim(l), *value = trim(eq + 1);
        if (!strcmp(section, "network") && !strcmp(key, "default_subnet")) {
            struct berth_error perr = { 0 };
            if (cidr_parse(value, ret, &perr) < 0)
                return berth_error_set(err, -EINVAL, "%s:%u: network.default_subnet: %s", path, lineno, perr.msg);
            return 0;
        }
    }
    return cidr_parse(NET_DEFAULT_SUBNET, ret, err);
}
