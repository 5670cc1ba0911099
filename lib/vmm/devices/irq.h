/* An interrupt line as devices see it: the VMM wires it to an irqfd (or KVM_IRQ_LINE); unit tests
 * wire it to a counter. */
#pragma once

#include <stdint.h>

struct irq_line {
    uint32_t gsi;
    /* Raises an edge on the line. Safe to call from any thread. */
    int (*trigger)(void *opaque, uint32_t gsi);
    void *opaque;
};

static inline int irq_line_trigger(const struct irq_line *irq)
{
    return irq && irq->trigger ? irq->trigger(irq->opaque, irq->gsi) : 0;
}
