/* CVE-2019-5736: a process inside the container must never get hold of the runtime's binary
 * (through /proc/PID/exe of the init or of an exec'd process, or a #!/proc/self/exe interpreter)
 * and write to it. create/run/exec re-execute the runtime from a file that cannot be written:
 *
 * 1. a read-only detached bind mount of the binary itself (open_tree(OPEN_TREE_CLONE), then
 *    mount_setattr(MOUNT_ATTR_RDONLY)): no copy, the page cache is shared with every other run,
 *    and opening /proc/PID/exe for writing fails with EROFS. The mount is in no namespace, so the
 *    container cannot reach it to remount it (that would need CAP_SYS_ADMIN over the host's mount
 *    namespace anyway), and it vanishes with the last process executing from it;
 * 2. where that is refused (no CAP_SYS_ADMIN over our mount namespace, kernel < 5.12), a sealed
 *    memfd copy, whose seals forbid writing.
 *
 * A binary already running from a read-only mount or a sealed memfd is not re-executed: that is
 * how the re-executed runtime knows it is done, and a binary installed on a read-only filesystem
 * needs no extra step. BERTH_OCI_SEALED_COPY=1 in the environment skips step 1 (tests of the
 * fallback, hosts where detached mounts are unwanted); it cannot skip the protection itself. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "runtime/container.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

static bool cannot_be_written(int fd)
{
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals >= 0 && (seals & SEALS) == SEALS)
        return true;
    struct statvfs sv;
    return fstatvfs(fd, &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

/* Returns only on failure (-errno). */
static int exec_from_readonly_mount(int self, char **argv, char **envp)
{
    _cleanup_close_ int tree = open_tree(self, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0)
        return -errno;
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
    if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
        return -errno;
    /* Belt and braces: only execute it if the kernel really reports it read-only. */
    if (!cannot_be_written(tree))
        return -EROFS;
    execveat(tree, "", argv, envp, AT_EMPTY_PATH);
    return -errno;
}

static int exec_from_sealed_copy(int self, char **argv, char **envp, struct berth_error *err)
{
    struct stat st;
    if (fstat(self, &st) < 0)
        return berth_error_errno(err, -errno, "stat /proc/self/exe");
    _cleanup_close_ int mfd = memfd_create("berth-oci", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (mfd < 0 && errno == EINVAL)
        mfd = memfd_create("berth-oci", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return berth_error_errno(err, -errno, "memfd_create");
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t n = sendfile(mfd, self, NULL, (size_t) left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return berth_error_errno(err, n < 0 ? -errno : -EIO, "copying the runtime binary");
        left -= n;
    }
    if (fchmod(mfd, 0555) < 0 || fcntl(mfd, F_ADD_SEALS, SEALS) < 0)
        return berth_error_errno(err, -errno, "sealing the runtime copy");
    fexecve(mfd, argv, envp);
    return berth_error_errno(err, -errno, "re-executing from the sealed copy");
}

int runtime_ensure_sealed_binary(char **argv, char **envp, struct berth_error *err)
{
    _cleanup_close_ int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (self < 0)
        return berth_error_errno(err, -errno, "opening /proc/self/exe");
    if (cannot_be_written(self))
        return 0;
    /* Falls through to the copy when the mount API refuses (EPERM, ENOSYS, EINVAL...). */
    const char *copy = getenv("BERTH_OCI_SEALED_COPY");
    if (!copy || strcmp(copy, "1") != 0)
        exec_from_readonly_mount(self, argv, envp);
    return exec_from_sealed_copy(self, argv, envp, err);
}
