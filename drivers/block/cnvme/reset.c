// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: controller reset.
 *
 * A reset disables the controller (CC.EN=0), which deletes every queue on
 * the device, and builds the queues again on the same host memory,
 * interrupt vectors, tag sets and request queues:
 *
 *   1. LIVE -> RESETTING; resets and namespace scans are serialised by
 *      &cnvme_ctrl.reset_lock, so only one runs at a time;
 *   2. quiesce every request queue, disable the controller, take the
 *      queues from their interrupt handlers and reap what the device had
 *      finished;
 *   3. take back what is still in flight: block I/O is requeued, to be
 *      sent again in step 6; passthrough commands end (user space sees
 *      -EINTR, as with the stock driver);
 *   4. program and enable the admin queue, unquiesce it;
 *   5. Set Features (Number of Queues), Doorbell Buffer Config when the
 *      queues use shadow doorbells, then create each I/O queue again
 *      (interrupt-driven or polled, as before);
 *   6. RESETTING -> LIVE, unquiesce the I/O queues, rescan namespaces.
 *
 * If any step fails the controller is declared dead (the dead path fails
 * everything).  If remove began meanwhile, the queues are left running
 * for it.  Resets run in a work item; cnvme_ctrl_reset() waits for it.
 */
#include <linux/io.h>

#include "cnvme.h"

/* Steps 2 and 3; the controller is stopped afterwards. */
static int cnvme_reset_teardown(struct cnvme_ctrl *ctrl, bool subsystem)
{
	unsigned int i;
	int ret = 0;

	mutex_lock(&ctrl->shutdown_lock);
	blk_mq_quiesce_tagset(&ctrl->tagset);
	blk_mq_quiesce_queue(ctrl->admin_q);
	if (!cnvme_ctrl_present(ctrl)) {
		ret = -ENODEV;
	} else {
		/* "NVMe": resets every controller of the subsystem. */
		if (subsystem)
			writel(NVME_SUBSYS_RESET, ctrl->bar + NVME_REG_NSSR);
		ret = cnvme_ctrl_disable(ctrl);
	}
	for (i = 0; i <= ctrl->nr_io_queues; i++) {
		struct cnvme_queue *q = &ctrl->queues[i];

		cnvme_q_suspend(q);
		cnvme_q_reap(q);
	}
	cnvme_requeue_all(ctrl);
	mutex_unlock(&ctrl->shutdown_lock);
	return ret;
}

/* Steps 4 and 5. */
static int cnvme_reset_rebuild(struct cnvme_ctrl *ctrl)
{
	unsigned int nr = ctrl->nr_io_queues;
	unsigned int qid;
	int ret;

	ret = cnvme_admin_enable(ctrl);
	blk_mq_unquiesce_queue(ctrl->admin_q);
	if (ret)
		return ret;
	ret = cnvme_set_queue_count(ctrl, &nr);
	if (ret)
		return ret;
	if (nr < ctrl->nr_io_queues) {
		dev_err(ctrl->dev, "the controller now grants %u I/O queues, not %u\n",
			nr, ctrl->nr_io_queues);
		return -EIO;
	}
	/* The controller forgot the shadow doorbells: configure them again. */
	if (ctrl->dbbuf_dbs)
		cnvme_dbbuf_init(ctrl);
	for (qid = 1; qid <= ctrl->nr_io_queues; qid++) {
		ret = cnvme_create_io_queue(ctrl, qid);
		if (ret)
			return ret;
	}
	return 0;
}

/* The whole reset; the controller's state tells how it ended. */
static void __cnvme_ctrl_reset(struct cnvme_ctrl *ctrl, bool subsystem)
{
	int ret;

	mutex_lock(&ctrl->reset_lock);
	if (!cnvme_ctrl_set_state(ctrl, CNVME_CTRL_RESETTING)) {
		mutex_unlock(&ctrl->reset_lock);
		return;
	}

	ret = cnvme_reset_teardown(ctrl, subsystem);
	if (ret) {
		/* The admin queue is still quiesced: let it fail fast. */
		blk_mq_unquiesce_queue(ctrl->admin_q);
	} else {
		ret = cnvme_reset_rebuild(ctrl);
	}
	if (ret) {
		dev_err(ctrl->dev, "reset failed: %d\n", ret);
		cnvme_ctrl_kill(ctrl);
		blk_mq_unquiesce_tagset(&ctrl->tagset);
		mutex_unlock(&ctrl->reset_lock);
		return;
	}

	if (!cnvme_ctrl_set_state(ctrl, CNVME_CTRL_LIVE)) {
		/* Remove (or the dead path) took over; let I/O drain. */
		blk_mq_unquiesce_tagset(&ctrl->tagset);
		mutex_unlock(&ctrl->reset_lock);
		return;
	}
	blk_mq_unquiesce_tagset(&ctrl->tagset);
	mutex_unlock(&ctrl->reset_lock);

	dev_info(ctrl->dev, "%s%d: reset done, %u I/O queue%s\n",
		 cnvme_names->ctrl, ctrl->instance, ctrl->nr_io_queues,
		 ctrl->nr_io_queues == 1 ? "" : "s");
	cnvme_ctrl_connected_uevent(ctrl);
	cnvme_ns_scan(ctrl);
}

/*
 * Resets run in &cnvme_ctrl.reset_work: the register waits give up on a
 * fatal signal, which must not cut a reset short because the process that
 * asked for it was killed.  The caller waits for the work.
 */
static int cnvme_reset_sync(struct cnvme_ctrl *ctrl, bool subsystem)
{
	if (READ_ONCE(ctrl->state) != CNVME_CTRL_LIVE)
		return -EBUSY;
	if (subsystem)
		set_bit(CNVME_RESET_NSSR, &ctrl->reset_flags);
	queue_work(system_unbound_wq, &ctrl->reset_work);
	flush_work(&ctrl->reset_work);
	return READ_ONCE(ctrl->state) == CNVME_CTRL_LIVE ? 0 : -ENETRESET;
}

/**
 * cnvme_ctrl_reset - reset the controller and bring it back
 * @ctrl: the controller
 *
 * Synchronous; see the top of this file for the steps.
 *
 * Return: 0 when the controller is live again, -EBUSY when it was not
 * live to begin with (resetting, being removed, dead), -ENETRESET when it
 * is not live afterwards (it is dead now, or being removed).
 */
int cnvme_ctrl_reset(struct cnvme_ctrl *ctrl)
{
	return cnvme_reset_sync(ctrl, false);
}

/**
 * cnvme_subsys_reset - NVM Subsystem Reset, then bring the controller back
 * @ctrl: the controller
 *
 * Only for controllers that report NSSR support (CAP.NSSRC).  Other
 * controllers of the subsystem see their queues vanish like after a
 * surprise reset.
 *
 * Return: -ENOTTY without CAP.NSSRC, else as cnvme_ctrl_reset().
 */
int cnvme_subsys_reset(struct cnvme_ctrl *ctrl)
{
	if (!NVME_CAP_NSSRC(ctrl->cap))
		return -ENOTTY;
	return cnvme_reset_sync(ctrl, true);
}

/**
 * cnvme_reset_work - run a reset
 * @work: &cnvme_ctrl.reset_work
 *
 * Queued by cnvme_ctrl_reset() and cnvme_subsys_reset(), and when a user
 * command timed out: the reset takes that command back and ends it with
 * -EINTR.  When the controller is not live, remove or the dead path ends
 * it instead.
 */
void cnvme_reset_work(struct work_struct *work)
{
	struct cnvme_ctrl *ctrl = container_of(work, struct cnvme_ctrl,
					       reset_work);

	__cnvme_ctrl_reset(ctrl, test_and_clear_bit(CNVME_RESET_NSSR,
						    &ctrl->reset_flags));
}

/**
 * cnvme_reset_timeout - an admin command timed out during a reset
 * @ctrl: the controller, RESETTING
 * @rq: the admin request that timed out
 *
 * The reset itself waits for that command: disable the controller and
 * fail every admin command, which fails the reset.  If the reset's
 * teardown took the request back meanwhile, there is nothing to do.
 * Called from the blk-mq timeout handler, which may sleep.
 */
void cnvme_reset_timeout(struct cnvme_ctrl *ctrl, struct request *rq)
{
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);
	struct cnvme_queue *q = &ctrl->queues[0];
	u8 gen = READ_ONCE(iod->gen);

	mutex_lock(&ctrl->shutdown_lock);
	if (READ_ONCE(iod->gen) == gen &&
	    blk_mq_rq_state(rq) == MQ_RQ_IN_FLIGHT) {
		dev_warn(ctrl->dev, "admin command opcode %#x timed out during a reset\n",
			 iod->cmd.common.opcode);
		if (cnvme_ctrl_present(ctrl))
			cnvme_ctrl_disable(ctrl);
		cnvme_q_suspend(q);
		cnvme_q_reap(q);
		cnvme_cancel_admin(ctrl);
	}
	mutex_unlock(&ctrl->shutdown_lock);
}
