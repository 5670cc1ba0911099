/* Serves `berth vm exec` sessions over the agent channel: a vsock listener on port 1024 when the
 * VM has a vsock device, else the virtio-serial port named berth.agent. Sessions are sequential. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "agent.h"
#include "sandbox/agent-proto.h"

static uint8_t frame[AGENT_FRAME_MAX];

static int find_serial_port(char *path, size_t cap)
{
    DIR *d = opendir("/sys/class/virtio-ports");
    if (!d)
        return -ENOENT;
    struct dirent *de;
    int r = -ENOENT;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char namefile[300], name[64] = "";
        snprintf(namefile, sizeof(namefile), "/sys/class/virtio-ports/%s/name", de->d_name);
        FILE *f = fopen(namefile, "re");
        if (!f)
            continue;
        if (fgets(name, sizeof(name), f))
            name[strcspn(name, "\n")] = '\0';
        fclose(f);
        if (!strcmp(name, AGENT_SERIAL_NAME)) {
            snprintf(path, cap, "/dev/%s", de->d_name);
            r = 0;
            break;
        }
    }
    closedir(d);
    return r;
}

static void send_failure(int ch, const char *what, int code)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s: %s", what, strerror(code));
    agent_frame_write(ch, AGENT_FAILURE, msg, strlen(msg));
}

/* Runs one session whose request is in frame[0..len). Returns when the process has exited and its
 * output is forwarded, or when the channel breaks (negative) or a new request arrives (1, and the
 * new request is left in frame with its length in *next_len). */
static int run_session(int ch, size_t len, size_t *next_len)
{
    json_error_t jerr;
    json_t *req = json_loadb((const char *) frame, len, 0, &jerr);
    if (!json_is_object(req)) {
        json_decref(req);
        send_failure(ch, "bad request", EINVAL);
        return 0;
    }
    const char *op = json_string_value(json_object_get(req, "op"));
    if (op && !strcmp(op, "poweroff")) {
        /* Graceful stop from the host: the workload gets SIGTERM and a moment, data is synced. */
        json_decref(req);
        agent_log("poweroff requested by the host");
        agent_frame_write(ch, AGENT_EXIT, "{\"status\":0}", 12);
        kill(-1, SIGTERM);
        sync();
        sleep(1);
        sync();
        reboot(RB_POWER_OFF);
        return 0;
    }
    int in[2], out[2], errp[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        json_decref(req);
        send_failure(ch, "pipe", errno);
        return 0;
    }
    int pid;
    int r = agent_spawn(req, in[0], out[1], errp[1], &pid);
    json_decref(req);
    close(in[0]);
    close(out[1]);
    close(errp[1]);
    if (r < 0) {
        close(in[1]);
        close(out[0]);
        close(errp[0]);
        send_failure(ch, "cannot start the process", -r);
        return 0;
    }
    int stdin_fd = in[1], fds_open = 2, result = 0;
    int pipes[2] = { out[0], errp[0] };
    while (fds_open > 0) {
        struct pollfd p[3] = { { ch, POLLIN, 0 }, { pipes[0], POLLIN, 0 }, { pipes[1], POLLIN, 0 } };
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pipes[i] < 0 || !(p[i + 1].revents & (POLLIN | POLLHUP)))
                continue;
            char buf[16384];
            ssize_t n = read(pipes[i], buf, sizeof(buf));
            if (n <= 0) {
                close(pipes[i]);
                pipes[i] = -1;
                fds_open--;
                continue;
            }
            if (agent_frame_write(ch, i == 0 ? AGENT_STDOUT : AGENT_STDERR, buf, (size_t) n) < 0)
                result = -EPIPE;
        }
        if (result < 0)
            break;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            uint8_t type;
            size_t flen;
            r = agent_frame_read(ch, &type, frame, sizeof(frame), &flen);
            if (r < 0) {
                result = r;
                break;
            }
            if (type == AGENT_STDIN && stdin_fd >= 0) {
                if (write(stdin_fd, frame, flen) < 0) {
                    close(stdin_fd);
                    stdin_fd = -1;
                }
            } else if (type == AGENT_STDIN_EOF && stdin_fd >= 0) {
                close(stdin_fd);
                stdin_fd = -1;
            } else if (type == AGENT_REQUEST) {
                *next_len = flen;
                result = 1;
                break;
            }
        }
    }
    if (stdin_fd >= 0)
        close(stdin_fd);
    for (int i = 0; i < 2; i++)
        if (pipes[i] >= 0)
            close(pipes[i]);
    if (result != 0)
        kill(-pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (result == 0) {
        int status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        char msg[64];
        int n = snprintf(msg, sizeof(msg), "{\"status\":%d}", status);
        agent_frame_write(ch, AGENT_EXIT, msg, (size_t) n);
    }
    return result;
}

static void serve_channel(int ch)
{
    for (;;) {
        uint8_t type;
        size_t len;
        int r = agent_frame_read(ch, &type, frame, sizeof(frame), &len);
        if (r < 0)
            return;
        while (type == AGENT_REQUEST) {
            size_t next = 0;
            r = run_session(ch, len, &next);
            if (r != 1)
                break;
            len = next;
        }
        if (r < 0)
            return;
    }
}

/* The guest's vsock CID, or 0 when no vsock transport (device) is present: binding works even
 * then, so the listener alone would wait forever. */
static unsigned int local_cid(void)
{
    int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    unsigned int cid = 0;
    if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
        cid = 0;
    close(fd);
    return cid > 2 && cid != VMADDR_CID_ANY ? cid : 0;
}

static void __attribute__((noreturn)) serve_vsock(void)
{
    int lfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_vm addr = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = AGENT_VSOCK_PORT };
    if (lfd < 0 || bind(lfd, (struct sockaddr *) &addr, sizeof(addr)) < 0 || listen(lfd, 8) < 0) {
        agent_log("vsock agent listener: %s", strerror(errno));
        _exit(1);
    }
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        serve_channel(c);
        close(c);
    }
}

static void __attribute__((noreturn)) serve_serial(const char *path)
{
    for (;;) {
        int ch = open(path, O_RDWR | O_CLOEXEC);
        if (ch < 0) {
            sleep(1);
            continue;
        }
        serve_channel(ch);
        close(ch);
        /* The host side is not connected: reads end at once, so wait before reopening. */
        usleep(100000);
    }
}

void agent_exec_server(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* Devices appear while modules probe: give them a moment. */
    char path[300];
    bool serial = false;
    unsigned int cid = 0;
    for (int tries = 0; tries < 50; tries++) {
        serial = find_serial_port(path, sizeof(path)) == 0;
        cid = local_cid();
        if (serial || cid)
            break;
        usleep(100000);
    }
    if (!serial && !cid) {
        agent_log("no agent channel (no vsock device, no virtio-serial port named %s): exec is unavailable",
                  AGENT_SERIAL_NAME);
        for (;;)
            pause();
    }
    if (serial && cid) {
        pid_t pid = fork();
        if (pid == 0)
            serve_vsock();
        serve_serial(path);
    }
    if (cid)
        serve_vsock();
    serve_serial(path);
}
