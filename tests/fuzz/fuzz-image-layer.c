/* Layer unpacking of hostile tar streams: whatever the input, nothing may appear next to the
 * layer directory (the check aborts, which the driver reports as a crash). */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "image/unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char top[64];

static void cleanup(void)
{
    if (top[0])
        fs_rm_rf(top);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!top[0]) {
        strcpy(top, "/tmp/berth-fuzz-layer-XXXXXX");
        if (!mkdtemp(top))
            abort();
        atexit(cleanup);
    }
    char out[128];
    snprintf(out, sizeof(out), "%s/layer", top);
    if (mkdir(out, 0755) < 0)
        abort();
    int in = memfd_create("layer", MFD_CLOEXEC);
    if (in < 0 || write(in, data, size) != (ssize_t) size || lseek(in, 0, SEEK_SET) != 0)
        abort();
    int dfd = open(out, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct layer_unpack_options o = { .max_bytes = 16 << 20, .max_entries = 10000, .allow_devices = 0 };
    (void) layer_unpack(in, dfd, "fuzz", &o, NULL, NULL);
    close(dfd);
    close(in);
    /* The only thing in top may be the layer directory itself. */
    DIR *d = opendir(top);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "layer"))
            abort();
    closedir(d);
    if (fs_rm_rf(out) < 0)
        abort();
    return 0;
}
