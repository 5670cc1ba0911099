/* net-flood IFACE FRAME_BYTES SECONDS: sends broadcast Ethernet frames (ethertype 0x88b5) out of
 * IFACE through an AF_PACKET socket, in batches of 64 with sendmmsg, for SECONDS, then prints
 * the frames sent. bench/vmm-devices/net.py uses it to feed a tap, so the guest behind the tap
 * receives as fast as its VMM can deliver. A tap drops what its reader has not taken instead of
 * pushing back, so the flooder paces itself: when the tap's tx_dropped grew during a batch it
 * sleeps 200 us, leaving the CPU to the VMM rather than spinning on frames that are thrown away
 * (this machine has 2 cores for the vCPU, the VMM and the flooder). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: net-flood IFACE FRAME_BYTES SECONDS\n");
        return 2;
    }
    unsigned ifindex = if_nametoindex(argv[1]);
    int frame = atoi(argv[2]);
    double seconds = atof(argv[3]);
    if (!ifindex || frame < 60 || frame > 9000 || seconds <= 0) {
        fprintf(stderr, "net-flood: bad interface, frame size or duration\n");
        return 2;
    }
    int fd = socket(AF_PACKET, SOCK_RAW, htons(0x88b5));
    if (fd < 0) {
        perror("net-flood: socket");
        return 1;
    }
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int) ifindex, .sll_halen = 6 };
    memset(sll.sll_addr, 0xff, 6);
    unsigned char *buf = calloc(1, (size_t) frame);
    memset(buf, 0xff, 6);
    memcpy(buf + 6, "\x52\x54\x00\xbe\x27\x03", 6);
    buf[12] = 0x88, buf[13] = 0xb5;
    for (int i = 14; i < frame; i++)
        buf[i] = (unsigned char) i;
    struct iovec iov = { buf, (size_t) frame };
    struct mmsghdr msgs[BATCH];
    for (int i = 0; i < BATCH; i++)
        msgs[i] = (struct mmsghdr){ .msg_hdr = { .msg_name = &sll, .msg_namelen = sizeof(sll), .msg_iov = &iov,
                                                 .msg_iovlen = 1 } };
    char path[128];
    snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/tx_dropped", argv[1]);
    int dropfd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned long long sent = 0, last_drops = 0;
    double end = now() + seconds;
    while (now() < end) {
        int n = sendmmsg(fd, msgs, BATCH, 0);
        if (n < 0) {
            if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) {
                usleep(50);
                continue;
            }
            perror("net-flood: sendmmsg");
            return 1;
        }
        sent += (unsigned) n;
        char num[32];
        ssize_t k = dropfd >= 0 ? pread(dropfd, num, sizeof(num) - 1, 0) : -1;
        if (k > 0) {
            num[k] = '\0';
            unsigned long long drops = strtoull(num, NULL, 10);
            if (drops != last_drops)
                usleep(200);
            last_drops = drops;
        }
    }
    printf("%llu\n", sent);
    return 0;
}
