// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: interrupt mitigation with irq_poll.
 *
 * At depth a completion queue's interrupts come in runs, each finding a
 * few entries, and each costs an entry into the kernel, an EOI and the
 * handler's set-up.  With irq_poll_threshold=N, an interrupt that has
 * consumed N entries and finds more stops there, disables its vector and
 * schedules the queue's irq_poll instance; that consumes up to
 * irq_poll_budget entries per round from softirq context, and enables
 * the vector again once a round leaves the CQ empty.  An interrupt that
 * finds no more than N entries (always at queue depth 1) is handled as
 * without mitigation.
 *
 * The vector is disabled lazily (the irq core's default): the device is
 * masked only if it does signal meanwhile, and the interrupt it then
 * holds back is resent when the vector is enabled, so a completion posted
 * after the last round's look is never stranded.
 *
 * Only a queue with a vector of its own, taken in hard-irq context, may
 * switch: with a single vector (shared with the admin queue) or INTx,
 * disabling it would hold up others, and in the threaded mode the thread
 * already keeps the hard-irq side short.
 *
 * Ownership of the CQ: the handler owns it until it disables the vector
 * and sets CNVME_Q_SOFTIRQ; from then on the poller does, until it clears
 * the bit and enables the vector.  Whoever else needs the CQ (a timeout
 * handler's reap, a suspend) first keeps the handler out (disable_irq(),
 * or CNVME_Q_LIVE clear and synchronize_irq()), then cnvme_q_irqpoll_stop()
 * waits for the poller and ends its episode.
 */
#include <linux/interrupt.h>
#include <linux/wait_bit.h>

#include "cnvme.h"

/*
 * Leave mitigation: the poller has drained the CQ, or a stop took it
 * over.  The one who clears the bit enables the vector, exactly once for
 * the disable_irq_nosync() of cnvme_q_irqpoll_start().
 */
static void cnvme_q_irqpoll_end(struct cnvme_queue *q)
{
	if (test_and_clear_bit(CNVME_Q_SOFTIRQ, &q->flags))
		enable_irq(q->irq);
}

/*
 * The irq_poll round: softirq context, the CQ is the poller's.  A round
 * that leaves the CQ empty ends the episode itself, even after a full
 * budget: a poller left scheduled with nothing in flight could run after
 * the vector's last CPU went offline and its managed interrupt was shut
 * down, and enable it there.  It then reports less than the budget, as
 * irq_poll requires of a round that completed the instance.
 *
 * The end is bracketed by CNVME_Q_IRQPOLL_ENDING: irq_poll_complete()
 * lets cnvme_q_irqpoll_stop() take the instance at once, and the stop
 * must still wait for this round's enable_irq() (which may otherwise come
 * after the caller freed the vector).
 */
static int cnvme_q_irqpoll(struct irq_poll *iop, int budget)
{
	struct cnvme_queue *q = container_of(iop, struct cnvme_queue, iop);
	int found = 0;

	/* A queue being suspended is reaped by whoever suspends it. */
	if (likely(test_bit(CNVME_Q_LIVE, &q->flags))) {
		found = cnvme_q_reap_batch(q, budget);
		if (found == budget && cnvme_q_cqe_new(q))
			return budget;
	}
	set_bit(CNVME_Q_IRQPOLL_ENDING, &q->flags);
	irq_poll_complete(iop);
	cnvme_q_irqpoll_end(q);
	clear_bit_unlock(CNVME_Q_IRQPOLL_ENDING, &q->flags);
	/* Order the clear before wake_up_bit() looks for waiters. */
	smp_mb__after_atomic();
	wake_up_bit(&q->flags, CNVME_Q_IRQPOLL_ENDING);
	return min(found, budget - 1);
}

/**
 * cnvme_q_irqpoll_setup - decide whether a queue mitigates its interrupts
 * @q: the queue, its vector chosen, its handler not yet requested
 *
 * Called with the queue not live and no poller scheduled: the irq_poll
 * instance starts afresh.
 */
void cnvme_q_irqpoll_setup(struct cnvme_queue *q)
{
	struct pci_dev *pdev = q->ctrl->pdev;
	int irq = -EINVAL;

	clear_bit(CNVME_Q_SOFTIRQ, &q->flags);
	if (cnvme_irq_poll_threshold && !cnvme_use_threaded_interrupts &&
	    q->qid && q->cq_vector && pdev->msix_enabled &&
	    !test_bit(CNVME_Q_POLLED, &q->flags))
		irq = pci_irq_vector(pdev, q->cq_vector);
	if (irq < 0) {
		clear_bit(CNVME_Q_MITIGATE, &q->flags);
		q->irq_budget = UINT_MAX;
		return;
	}
	q->irq = irq;
	irq_poll_init(&q->iop, cnvme_irq_poll_budget, cnvme_q_irqpoll);
	/* The CQ never holds more than depth - 1 new entries. */
	q->irq_budget = min(cnvme_irq_poll_threshold, q->depth - 1);
	set_bit(CNVME_Q_MITIGATE, &q->flags);
}

/**
 * cnvme_q_irqpoll_start - hand the CQ from the interrupt to the poller
 * @q: the queue, with CNVME_Q_MITIGATE
 * @irq: its interrupt, whose handler is the caller
 *
 * Context: the queue's hard-irq handler.
 */
void cnvme_q_irqpoll_start(struct cnvme_queue *q, int irq)
{
	set_bit(CNVME_Q_SOFTIRQ, &q->flags);
	disable_irq_nosync(irq);
	irq_poll_sched(&q->iop);
}

/**
 * cnvme_q_irqpoll_stop - take the CQ back from the poller
 * @q: the queue; its handler cannot run (its vector is disabled, or the
 *	queue is not live and the handler was synchronised with)
 *
 * Waits for a scheduled round and for a round's end of the episode, then
 * ends the episode if the round left it running (irq_poll drops an
 * instance being disabled after a full budget).  The poller stays off
 * until cnvme_q_irqpoll_resume().
 *
 * Context: process context; sleeps.
 */
void cnvme_q_irqpoll_stop(struct cnvme_queue *q)
{
	if (!test_bit(CNVME_Q_MITIGATE, &q->flags))
		return;
	irq_poll_disable(&q->iop);
	/*
	 * A round sets ENDING before irq_poll_complete() releases the
	 * instance that irq_poll_disable() has just acquired: it is seen.
	 */
	wait_on_bit(&q->flags, CNVME_Q_IRQPOLL_ENDING, TASK_UNINTERRUPTIBLE);
	cnvme_q_irqpoll_end(q);
}

/**
 * cnvme_q_irqpoll_resume - let interrupts hand the CQ to the poller again
 * @q: the queue, after cnvme_q_irqpoll_stop()
 */
void cnvme_q_irqpoll_resume(struct cnvme_queue *q)
{
	if (test_bit(CNVME_Q_MITIGATE, &q->flags))
		irq_poll_enable(&q->iop);
}
