#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "oci-cli.h"
#include "runtime/container.h"

/* "512m", "1G", "1048576", "-1" (unlimited). */
static int parse_size(const char *s, json_int_t *ret)
{
    if (!strcmp(s, "-1")) {
        *ret = -1;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -EINVAL;
    while (*end == ' ')
        end++;
    double mul = 1;
    switch (tolower((unsigned char) *end)) {
    case 'k': mul = 1024.0; break;
    case 'm': mul = 1024.0 * 1024; break;
    case 'g': mul = 1024.0 * 1024 * 1024; break;
    case 't': mul = 1024.0 * 1024 * 1024 * 1024; break;
    case '\0': break;
    default: return -EINVAL;
    }
    if (*end && end[1] && strcasecmp(end + 1, "b") && strcasecmp(end + 1, "ib"))
        return -EINVAL;
    *ret = (json_int_t) (v * mul);
    return 0;
}

static int parse_int(const char *s, json_int_t *ret)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !*s || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

static void set(json_t *res, const char *group, const char *key, json_t *v)
{
    json_t *g = json_object_get(res, group);
    if (!g) {
        g = json_object();
        json_object_set_new(res, group, g);
    }
    json_object_set_new(g, key, v);
}

int cmd_update(int argc, char **argv)
{
    static const struct option opts[] = {
        { "resources", required_argument, NULL, 'r' },
        { "memory", required_argument, NULL, 'm' },
        { "memory-reservation", required_argument, NULL, 'M' },
        { "memory-swap", required_argument, NULL, 'S' },
        { "kernel-memory", required_argument, NULL, 'K' },
        { "cpu-quota", required_argument, NULL, 'q' },
        { "cpu-period", required_argument, NULL, 'p' },
        { "cpu-share", required_argument, NULL, 's' },
        { "cpu-rt-period", required_argument, NULL, 'P' },
        { "cpu-rt-runtime", required_argument, NULL, 'T' },
        { "cpuset-cpus", required_argument, NULL, 'c' },
        { "cpuset-mems", required_argument, NULL, 'e' },
        { "pids-limit", required_argument, NULL, 'L' },
        { "blkio-weight", required_argument, NULL, 'b' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    json_t *res = json_object();
    json_t *file_res = NULL;
    int c, ret = 0;
    json_int_t v;
    while ((c = getopt_long_only(argc, argv, "+r:h", opts, NULL)) != -1) {
        const char *name = c == '?' ? "?" : argv[optind - 1];
        switch (c) {
        case 'r': {
            struct berth_error err = { 0 };
            int r = json_load_path(!strcmp(optarg, "-") ? "/dev/stdin" : optarg, 1 << 20, &file_res, &err);
            if (r < 0) {
                ret = cli_fail(&err, r);
                goto out;
            }
            if (!json_is_object(file_res)) {
                ret = cli_failf("update: --resources: %s is not a JSON object", optarg);
                goto out;
            }
            break;
        }
        case 'm': case 'M': case 'S':
            if (parse_size(optarg, &v) < 0) {
                ret = cli_failf("update: %s: '%s' is not a size", name, optarg);
                goto out;
            }
            set(res, "memory", c == 'm' ? "limit" : c == 'M' ? "reservation" : "swap", json_integer(v));
            break;
        case 'K':
            break;
        case 'q': case 'p': case 's': case 'P': case 'T': case 'L': case 'b':
            if (parse_int(optarg, &v) < 0) {
                ret = cli_failf("update: %s: '%s' is not a number", name, optarg);
                goto out;
            }
            if (c == 'L')
                set(res, "pids", "limit", json_integer(v));
            else if (c == 'b')
                set(res, "blockIO", "weight", json_integer(v));
            else
                set(res, "cpu", c == 'q' ? "quota" : c == 'p' ? "period" : c == 's' ? "shares" : c == 'P' ? "realtimePeriod" : "realtimeRuntime",
                    json_integer(v));
            break;
        case 'c': case 'e':
            set(res, "cpu", c == 'c' ? "cpus" : "mems", json_string(optarg));
            break;
        case 'h':
            printf("Usage: berth-oci update [OPTIONS] CONTAINER-ID\n\n"
                   "  -r, --resources FILE   linux.resources JSON (- for stdin)\n"
                   "  --memory SIZE  --memory-reservation SIZE  --memory-swap SIZE\n"
                   "  --cpu-quota N  --cpu-period N  --cpu-share N  --cpu-rt-period N  --cpu-rt-runtime N\n"
                   "  --cpuset-cpus LIST  --cpuset-mems LIST  --pids-limit N  --blkio-weight N\n");
            goto out;
        default:
            ret = cli_failf("update: unknown option '%s'", argv[optind - 1]);
            goto out;
        }
    }
    const char *id = cli_one_id(argc, argv, "update");
    if (!id) {
        ret = 1;
        goto out;
    }
    if (file_res)
        json_object_update_recursive(file_res, res);
    struct berth_error err = { 0 };
    int r = container_update(oci_globals.root, id, file_res ? file_res : res, &err);
    if (r < 0)
        ret = cli_fail(&err, r);
out:
    json_decref(res);
    json_decref(file_res);
    return ret;
}
