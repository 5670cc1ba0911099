#include "runtime/container.h"
#include "simple.h"

int cmd_resume(int argc, char **argv)
{
    int code;
    const char *id = cli_parse_simple(argc, argv, "resume", "CONTAINER-ID\n\nThaws a paused container.", NULL, NULL,
                                      &code);
    if (!id)
        return code;
    struct berth_error err = { 0 };
    int r = container_pause(oci_globals.root, id, false, &err);
    return r < 0 ? cli_fail(&err, r) : 0;
}
