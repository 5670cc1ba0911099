#include "runtime/container.h"
#include "simple.h"

int cmd_pause(int argc, char **argv)
{
    int code;
    const char *id = cli_parse_simple(argc, argv, "pause", "CONTAINER-ID\n\nFreezes every process of the container.",
                                      NULL, NULL, &code);
    if (!id)
        return code;
    struct berth_error err = { 0 };
    int r = container_pause(oci_globals.root, id, true, &err);
    return r < 0 ? cli_fail(&err, r) : 0;
}
