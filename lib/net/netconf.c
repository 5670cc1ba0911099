/* berth.conf: "[section]" lines and "key = value" lines; '#' starts a comment. Only the network
 * module's keys are read here: [network] default_subnet and default_network. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "net/attach.h"
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

/* Finds [section] key in $BERTH_ROOT/berth.conf: 1 with *ret_value (caller frees) and *ret_where
 * ("PATH:LINE", for messages; caller frees), 0 when the file or the key is missing. */
static int conf_lookup(const char *section_want, const char *key_want, char **ret_value, char **ret_where,
                       struct berth_error *err)
{
    _cleanup_free_ char *path = fs_path_join(berth_root_dir(), "berth.conf");
    if (!path)
        return berth_error_set(err, -ENOMEM, "out of memory");
    _cleanup_free_ char *data = NULL;
    size_t len = 0;
    struct berth_error rerr = { 0 };
    int r = fs_read_file(path, 1 << 20, &data, &len, &rerr);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return berth_error_set(err, r, "%s", rerr.msg);
    char section[64] = "";
    unsigned lineno = 0;
    /* Not strtok_r: it would skip empty lines and make the line numbers in messages wrong. */
    for (char *line = data, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
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
        if (strcmp(section, section_want) || strcmp(key, key_want))
            continue;
        _cleanup_free_ char *v = strdup(value);
        char *where = NULL;
        if (!v || asprintf(&where, "%s:%u", path, lineno) < 0)
            return berth_error_set(err, -ENOMEM, "out of memory");
        *ret_value = TAKE_PTR(v);
        *ret_where = where;
        return 1;
    }
    return 0;
}

int network_default_subnet(struct net_cidr *ret, struct berth_error *err)
{
    _cleanup_free_ char *value = NULL, *where = NULL;
    int r = conf_lookup("network", "default_subnet", &value, &where, err);
    if (r < 0)
        return r;
    if (r == 0)
        return cidr_parse(NET_DEFAULT_SUBNET, ret, err);
    struct berth_error perr = { 0 };
    if (cidr_parse(value, ret, &perr) < 0)
        return berth_error_set(err, -EINVAL, "%s: network.default_subnet: %s", where, perr.msg);
    return 0;
}

int network_default_name(char ret[NET_NAME_MAX], struct berth_error *err)
{
    _cleanup_free_ char *value = NULL, *where = NULL;
    int r = conf_lookup("network", "default_network", &value, &where, err);
    if (r < 0)
        return r;
    if (r == 0) {
        snprintf(ret, NET_NAME_MAX, "%s", NET_DEFAULT_NETWORK);
        return 0;
    }
    /* none and host are modes, not networks; anything else must be a valid network name (it need
     * not exist yet: only "berth" is created on first use, others fail when a workload starts). */
    if (strcmp(value, "none") && strcmp(value, "host")) {
        struct berth_error nerr = { 0 };
        if (ipam_check_name("network name", value, &nerr) < 0)
            return berth_error_set(err, -EINVAL, "%s: network.default_network: %s", where, nerr.msg);
    }
    snprintf(ret, NET_NAME_MAX, "%s", value);
    return 0;
}
