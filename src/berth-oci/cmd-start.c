#include "runtime/container.h"
#include "simple.h"

int cmd_start(int argc, char **argv)
{
    int code;
    const char *id = cli_parse_simple(argc, argv, "start", "CONTAINER-ID\n\nStarts the program of a created container.",
                                      NULL, NULL, &code);
    if (!id)
        return code;
    struct berth_error err = { 0 };
    int r = container_start(oci_globals.root, id, &err);
    return r < 0 ? cli_fail(&err, r) : 0;
}
