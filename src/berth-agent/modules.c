#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"

int agent_load_modules(const char *order_file, const char *dir)
{
    FILE *f = fopen(order_file, "re");
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    char name[256];
    int failures = 0;
    while (fgets(name, sizeof(name), f)) {
        name[strcspn(name, "\n")] = '\0';
        if (!name[0])
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            agent_log("cannot open module %s: %s", path, strerror(errno));
            failures++;
            continue;
        }
        if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST) {
            agent_log("cannot load module %s: %s", name, strerror(errno));
            failures++;
        }
        close(fd);
    }
    fclose(f);
    return failures ? -EIO : 0;
}

int agent_wait_for_device(const char *path, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (access(path, F_OK) == 0)
            return 0;
        usleep(50000);
    }
    return -ENOENT;
}
