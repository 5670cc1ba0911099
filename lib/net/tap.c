/* Tap devices for virtio-net: /dev/net/tun with IFF_TAP | IFF_NO_PI (and IFF_VNET_HDR). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "net/attach.h"
#include "net/tap.h"

static int tap_bind(const char *ifname, unsigned flags, struct berth_error *err)
{
    if (strlen(ifname) >= IFNAMSIZ)
        return berth_error_set(err, -EINVAL, "tap name '%s' is longer than %d characters", ifname, IFNAMSIZ - 1);
    _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return berth_error_errno(err, -errno, "/dev/net/tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (flags & NET_TAP_VNET_HDR)
        ifr.ifr_flags |= IFF_VNET_HDR;
    memcpy(ifr.ifr_name, ifname, strlen(ifname));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return berth_error_errno(err, -errno, "tap %s: TUNSETIFF", ifname);
    return TAKE_FD(fd);
}

int tap_create(const char *ifname, unsigned flags, struct berth_error *err)
{
    _cleanup_close_ int fd = tap_bind(ifname, flags, err);
    if (fd < 0)
        return fd;
    /* Persistent: the tap outlives this fd, so berth-vmm can be restarted and reopen it. */
    if (ioctl(fd, TUNSETPERSIST, 1) < 0)
        return berth_error_errno(err, -errno, "tap %s: TUNSETPERSIST", ifname);
    return TAKE_FD(fd);
}

int tap_destroy(const char *ifname)
{
    _cleanup_close_ int fd = tap_bind(ifname, 0, NULL);
    if (fd < 0)
        return fd;
    return ioctl(fd, TUNSETPERSIST, 0) < 0 ? -errno : 0;
}

int net_tap_open(const char *ifname, unsigned flags, struct berth_error *err)
{
    return tap_bind(ifname, flags, err);
}
