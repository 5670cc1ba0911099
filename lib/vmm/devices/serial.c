#include "vmm/devices/serial.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Register offsets (DLAB selects the divisor latch at 0 and 1). */
#define UART_RX 0
#define UART_TX 0
#define UART_IER 1
#define UART_IIR 2
#define UART_FCR 2
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

void serial_init(struct serial *s, int out_fd, struct irq_line irq)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->out_fd = out_fd;
    s->irq = irq;
    s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
    s->mcr = MCR_OUT2;
}

void serial_destroy(struct serial *s)
{
    pthread_mutex_destroy(&s->lock);
}

void serial_set_output(struct serial *s, int out_fd)
{
    pthread_mutex_lock(&s->lock);
    s->out_fd = out_fd;
    pthread_mutex_unlock(&s->lock);
}

static uint8_t serial_iir(const struct serial *s)
{
    uint8_t fifo = (s->fcr & 1) ? IIR_FIFO : 0;
    if ((s->ier & IER_RDI) && s->rx_len)
        return IIR_RDI | fifo;
    if ((s->ier & IER_THRI) && s->iir_thre_pending)
        return IIR_THRI | fifo;
    return IIR_NO_INT | fifo;
}

/* Raises an edge when an interrupt is pending after a change (the 8250 driver acknowledges
 * through IIR/LSR reads, so a new edge per event is what it expects). */
static bool serial_irq_pending(const struct serial *s)
{
    return (serial_iir(s) & IIR_NO_INT) == 0;
}

static void serial_rx_push_locked(struct serial *s, uint8_t b)
{
    if (s->rx_len < SERIAL_FIFO_SIZE) {
        s->rx[(s->rx_head + s->rx_len) % SERIAL_FIFO_SIZE] = b;
        s->rx_len++;
    }
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a closed console drops output; the guest must not stall */
        p += w;
        n -= (size_t) w;
    }
}

static void serial_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
    struct serial *s = opaque;
    memset(data, 0, len);
    bool irq = false;
    pthread_mutex_lock(&s->lock);
    switch (offset) {
    case UART_RX:
        if (s->lcr & LCR_DLAB) {
            data[0] = s->dll;
        } else if (s->rx_len) {
            data[0] = s->rx[s->rx_head];
            s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
            s->rx_len--;
            irq = serial_irq_pending(s);
        }
        break;
    case UART_IER:
        data[0] = (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
        break;
    case UART_IIR:
        data[0] = serial_iir(s);
        /* Reading IIR while it reports THRE acknowledges that interrupt. */
        if ((data[0] & 0x0f) == IIR_THRI)
            s->iir_thre_pending = 0;
        break;
    case UART_LCR:
        data[0] = s->lcr;
        break;
    case UART_MCR:
        data[0] = s->mcr;
        break;
    case UART_LSR:
        data[0] = LSR_THRE | LSR_TEMT | (s->rx_len ? LSR_DR : 0);
        break;
    case UART_MSR:
        if (s->mcr & MCR_LOOP) {
            data[0] = ((s->mcr & MCR_RTS) ? MSR_CTS : 0) | ((s->mcr & MCR_DTR) ? MSR_DSR : 0) |
                      ((s->mcr & MCR_OUT1) ? MSR_RI : 0) | ((s->mcr & MCR_OUT2) ? MSR_DCD : 0);
        } else {
            data[0] = s->msr;
        }
        break;
    case UART_SCR:
        data[0] = s->scr;
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&s->lock);
    if (irq)
        irq_line_trigger(&s->irq);
}

static void serial_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
    struct serial *s = opaque;
    uint8_t v = data[0];
    bool irq = false, first = false;
    pthread_mutex_lock(&s->lock);
    bool was_pending = serial_irq_pending(s);
    switch (offset) {
    case UART_TX:
        if (s->lcr & LCR_DLAB) {
            s->dll = v;
            break;
        }
        if (s->mcr & MCR_LOOP) {
            serial_rx_push_locked(s, v);
        } else {
            if (s->out_fd >= 0)
                write_all(s->out_fd, &v, 1);
            s->tx_bytes++;
            if (!s->seen_output) {
                s->seen_output = true;
                first = true;
            }
        }
        s->iir_thre_pending = 1;
        irq = serial_irq_pending(s);
        break;
    case UART_IER:
        if (s->lcr & LCR_DLAB) {
            s->dlm = v;
            break;
        }
        s->ier = v & 0x0f;
        /* Enabling THRI with an empty transmitter interrupts at once (the driver relies on it). */
        if (s->ier & IER_THRI)
            s->iir_thre_pending = 1;
        irq = !was_pending && serial_irq_pending(s);
        break;
    case UART_FCR:
        s->fcr = v;
        if (v & 0x02) { /* clear receive FIFO */
            s->rx_len = 0;
            s->rx_head = 0;
        }
        break;
    case UART_LCR:
        s->lcr = v;
        break;
    case UART_MCR:
        s->mcr = v & 0x1f;
        break;
    case UART_SCR:
        s->scr = v;
        break;
    default:
        break;
    }
    pthread_mutex_unlock(&s->lock);
    if (irq)
        irq_line_trigger(&s->irq);
    if (first && s->on_first_output)
        s->on_first_output(s->opaque);
}

size_t serial_push_input(struct serial *s, const uint8_t *data, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    while (n < len && s->rx_len < SERIAL_FIFO_SIZE)
        serial_rx_push_locked(s, data[n++]);
    s->rx_bytes += n;
    bool irq = n > 0 && serial_irq_pending(s);
    pthread_mutex_unlock(&s->lock);
    if (irq)
        irq_line_trigger(&s->irq);
    return n;
}

size_t serial_input_room(struct serial *s)
{
    pthread_mutex_lock(&s->lock);
    size_t room = SERIAL_FIFO_SIZE - s->rx_len;
    pthread_mutex_unlock(&s->lock);
    return room;
}

const struct bus_device_ops serial_ops = { .read = serial_read, .write = serial_write };
