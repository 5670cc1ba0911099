#include "runtime/container.h"
#include "simple.h"

static bool force;

static int on_opt(int c, const char *arg)
{
    if (c != 'f')
        return -1;
    force = true;
    return 0;
}

int cmd_delete(int argc, char **argv)
{
    static const struct option opts[] = {
        { "force", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int code;
    const char *id = cli_parse_simple(argc, argv, "delete",
                                      "[--force] CONTAINER-ID\n\nDeletes a stopped (or created) container; --force "
                                      "kills a running one first.",
                                      opts, on_opt, &code);
    if (!id)
        return code;
    struct berth_error err = { 0 };
    int r = container_delete(oci_globals.root, id, force, &err);
    return r < 0 ? cli_fail(&err, r) : 0;
}
