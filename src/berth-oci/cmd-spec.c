#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fs.h"
#include "base/json.h"
#include "oci-cli.h"
#include "oci/config.h"

int cmd_spec(int argc, char **argv)
{
    static const struct option opts[] = {
        { "bundle", required_argument, NULL, 'b' },
        { "rootless", no_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *bundle = ".";
    bool rootless = false;
    int c;
    while ((c = getopt_long_only(argc, argv, "+b:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            bundle = optarg;
            break;
        case 'r':
            rootless = true;
            break;
        case 'h':
            printf("Usage: berth-oci spec [--bundle DIR] [--rootless]\n\n"
                   "Writes a default config.json into the bundle directory (default: .).\n"
                   "--rootless maps the caller's uid and gid to root in a user namespace.\n");
            return 0;
        default:
            return cli_failf("spec: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_failf("spec: takes no arguments");
    _cleanup_free_ char *path = fs_path_join(bundle, "config.json");
    if (!path)
        return cli_failf("out of memory");
    if (fs_exists(path))
        return cli_failf("spec: %s already exists; remove it first", path);
    json_t *spec = oci_config_default(rootless, getuid(), getgid());
    struct berth_error err = { 0 };
    int r = spec ? json_write_path(path, spec, &err) : -ENOMEM;
    json_decref(spec);
    return r < 0 ? cli_fail(&err, r) : 0;
}
