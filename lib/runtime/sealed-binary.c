/* CVE-2019-5736: a process inside the container must never get hold of the runtime's binary
 * (through /proc/PID/exe of the init or of an exec'd process, or a #!/proc/self/exe interpreter)
 * and write to it. We run create/run/exec from a sealed memfd copy: what the container can reach
 * is that copy, and its seals forbid writing. */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "runtime/container.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int runtime_ensure_sealed_binary(char **argv, char **envp, struct berth_error *err)
{
    _cleanup_close_ int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (self < 0)
        return berth_error_errno(err, -errno, "opening /proc/self/exe");
    int seals = fcntl(self, F_GET_SEALS);
    if (seals >= 0 && (seals & SEALS) == SEALS)
        return 0;
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
