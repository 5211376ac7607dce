// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: controller reset and failure, and the power and PCI reset hooks
 * built on them.
 *
 * Everything that takes the controller down goes through
 * cnvme_ctrl_teardown(): quiesce the request queues, disable (or shut
 * down) the controller, take every queue away from its interrupt handler,
 * reap what the device finished, and complete the rest -- back to blk-mq
 * for a reset, with an error when the controller is dead or going away.
 * A reset then rebuilds the admin and I/O queues on the same host memory,
 * vectors and tag sets, and unquiesces.  A controller that cannot be
 * rebuilt is declared dead: its I/O fails fast and its disks go away, but
 * the controller stays bound, visible in state "dead", until it is
 * unbound (or its PCI function removed and rescanned).
 *
 * Every reset first restores the config space saved at the last good
 * bring-up, with bus mastering on: whatever turned it off (a tool poking
 * the command register, a PCI error) is undone.  Whatever the reset work
 * itself sends happens before the controller is live again, where a
 * timeout fails the controller inline (io.c); the namespace scan and the
 * event arming run afterwards from @scan_work, where a timeout is just
 * another reason for a reset, and a rescan.
 *
 * The health check (@health_work, every CNVME_HEALTH_PERIOD) reads CSTS
 * and the PCI command register of a live or connecting controller: a
 * fatal status, all ones, or memory decoding or bus mastering turned off
 * starts a reset at once rather than after an I/O timeout, and during a
 * rebuild it cuts the rebuild short, and the reset tries again, making
 * at most CNVME_RESET_TRIES attempts in all.
 *
 * Locking: @teardown_lock covers every change to CC.EN, the queues'
 * CNVME_Q_LIVE bits and the quiesce state, so a timeout handler that
 * declares the controller dead cannot interleave with a reset bringing it
 * back.  It is never held while waiting for a command.
 */
#include <linux/blkdev.h>
#include <linux/pci.h>

#include "cnvme.h"
#include <trace/events/cnvme.h>

/* How often the health check looks at a live or connecting controller. */
#define CNVME_HEALTH_PERIOD	(HZ / 4)

/* Attempts at a rebuild in one reset, the first included. */
#define CNVME_RESET_TRIES	16

/* Live and healthy this long: the disturbance is over. */
#define CNVME_HEALTH_STABLE	(2 * HZ)

/* Disturbed, with no stable spell, this long: the controller is dead. */
#define CNVME_HEALTH_GIVE_UP	(30 * HZ)

/* How cnvme_ctrl_teardown() leaves the controller and its commands. */
enum {
	CNVME_TD_SHUTDOWN	= BIT(0),	/* CC.SHN rather than CC.EN = 0 */
	CNVME_TD_REQUEUE	= BIT(1),	/* I/O goes back to blk-mq */
};

/*
 * blk-mq counts quiesces, so every quiesce needs exactly one unquiesce.
 * These keep the count at one per request queue at most; the namespace
 * list lock makes cnvme_ns_add() agree on whether a new queue starts
 * quiesced.
 */
static void cnvme_quiesce_io(struct cnvme_ctrl *ctrl)
{
	struct cnvme_ns *ns;
	bool wait = false;

	lockdep_assert_held(&ctrl->teardown_lock);
	mutex_lock(&ctrl->ns_lock);
	if (!ctrl->io_quiesced) {
		ctrl->io_quiesced = true;
		list_for_each_entry(ns, &ctrl->namespaces, list)
			blk_mq_quiesce_queue_nowait(ns->disk->queue);
		wait = true;
	}
	mutex_unlock(&ctrl->ns_lock);
	if (wait && ctrl->tagset_ready)
		blk_mq_wait_quiesce_done(&ctrl->tagset);
}

static void cnvme_unquiesce_io(struct cnvme_ctrl *ctrl)
{
	struct cnvme_ns *ns;

	lockdep_assert_held(&ctrl->teardown_lock);
	mutex_lock(&ctrl->ns_lock);
	if (ctrl->io_quiesced) {
		ctrl->io_quiesced = false;
		list_for_each_entry(ns, &ctrl->namespaces, list)
			blk_mq_unquiesce_queue(ns->disk->queue);
	}
	mutex_unlock(&ctrl->ns_lock);
}

static void cnvme_quiesce_admin(struct cnvme_ctrl *ctrl)
{
	lockdep_assert_held(&ctrl->teardown_lock);
	if (!ctrl->admin_quiesced) {
		ctrl->admin_quiesced = true;
		blk_mq_quiesce_queue(ctrl->admin_q);
	}
}

static void cnvme_unquiesce_admin(struct cnvme_ctrl *ctrl)
{
	lockdep_assert_held(&ctrl->teardown_lock);
	if (ctrl->admin_quiesced) {
		ctrl->admin_quiesced = false;
		blk_mq_unquiesce_queue(ctrl->admin_q);
	}
}

/*
 * Take the controller down: afterwards the device no longer touches host
 * memory, no interrupt or timeout handler looks at a CQ, and no command
 * is outstanding.  The queues stay quiesced; idempotent.
 */
static void cnvme_ctrl_teardown(struct cnvme_ctrl *ctrl, unsigned int how)
{
	unsigned int i;
	bool gone;
	int ret = 0;

	lockdep_assert_held(&ctrl->teardown_lock);
	cnvme_quiesce_io(ctrl);
	cnvme_quiesce_admin(ctrl);

	gone = !cnvme_ctrl_present(ctrl);
	if (!gone && (!(how & CNVME_TD_SHUTDOWN) || cnvme_ctrl_shutdown(ctrl)))
		ret = cnvme_ctrl_disable(ctrl);
	/*
	 * Whatever the controller did, it is cut off the bus before any of
	 * its commands completes and their buffers go back: one that did not
	 * stop, or that reads as gone for a moment, may still write into
	 * them.  Only cnvme_admin_enable(), after a disable that took, lets
	 * it master the bus again.
	 */
	pci_clear_master(ctrl->pdev);
	WRITE_ONCE(ctrl->bus_master, false);
	if (!gone && ret) {
		u16 cmd = 0;

		pci_read_config_word(ctrl->pdev, PCI_COMMAND, &cmd);
		dev_warn(ctrl->dev, "controller did not stop (%d): bus mastering off (PCI command %#06x) before its commands complete\n",
			 ret, cmd);
	}

	/*
	 * Only queues that were live: one being created has nothing to reap,
	 * and its CQ head doorbell must not be written before the device
	 * knows the queue.
	 */
	for (i = 0; i <= ctrl->nr_io_queues; i++) {
		struct cnvme_queue *q = &ctrl->queues[i];

		if (q->cqes && cnvme_q_suspend(q))
			cnvme_q_reap(q);
	}
	cnvme_cancel_all(ctrl, how & CNVME_TD_REQUEUE);
}

/*
 * Declare the controller dead and fail everything.  Return: true if this
 * call made it dead.  A controller that was running when it died loses
 * its disks, from @dead_work; probe and remove clean up after themselves.
 */
static bool __cnvme_ctrl_fail(struct cnvme_ctrl *ctrl)
{
	enum cnvme_ctrl_state old;
	bool died;

	lockdep_assert_held(&ctrl->teardown_lock);
	died = cnvme_ctrl_change_state(ctrl, CNVME_CTRL_DEAD, &old);
	if (died)
		dev_err(ctrl->dev, "controller is dead (was %s), failing all I/O\n",
			cnvme_ctrl_state_name(old));
	cnvme_ctrl_teardown(ctrl, 0);
	/* With the queues not live, whatever is queued fails in queue_rq. */
	cnvme_unquiesce_admin(ctrl);
	cnvme_unquiesce_io(ctrl);
	/* Probe and remove clean up after themselves. */
	if (died && old != CNVME_CTRL_NEW && old != CNVME_CTRL_DELETING)
		queue_work(cnvme_wq, &ctrl->dead_work);
	return died;
}

/**
 * cnvme_ctrl_fail - declare the controller dead and fail all its I/O
 * @ctrl: the controller
 *
 * The controller is disabled if it still answers, every outstanding
 * command fails with a host abort status (DNR), the queues are unquiesced
 * so that queued and new requests fail at once in queue_rq, and the disks
 * are marked dead.  Idempotent.  The disks are marked dead only after
 * the queues run again and outside @teardown_lock: a filesystem on them
 * may wait here for its writeback, which now fails fast.
 *
 * Context: process context; never with @ctrl->teardown_lock held.
 */
void cnvme_ctrl_fail(struct cnvme_ctrl *ctrl)
{
	bool died;

	mutex_lock(&ctrl->teardown_lock);
	died = __cnvme_ctrl_fail(ctrl);
	mutex_unlock(&ctrl->teardown_lock);
	if (died)
		cnvme_ns_mark_dead(ctrl);
}

/**
 * cnvme_ctrl_fail_rq - cnvme_ctrl_fail() on behalf of a timed-out request
 * @ctrl: the controller
 * @rq: the request whose timeout handler is running
 * @gen: the command identifier generation of @rq when its timeout began
 *
 * Does nothing if @rq has been completed meanwhile, for example by the
 * teardown of a reset, or completed and sent again to a controller that
 * a reset brought back (its generation moved on): then the controller is
 * not at fault.  Either way the command that timed out is over when this
 * returns.
 */
void cnvme_ctrl_fail_rq(struct cnvme_ctrl *ctrl, struct request *rq, u8 gen)
{
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);
	bool died = false;

	mutex_lock(&ctrl->teardown_lock);
	if (blk_mq_rq_state(rq) == MQ_RQ_IN_FLIGHT && READ_ONCE(iod->gen) == gen)
		died = __cnvme_ctrl_fail(ctrl);
	mutex_unlock(&ctrl->teardown_lock);
	if (died)
		cnvme_ns_mark_dead(ctrl);
}

/*
 * Bring a torn-down controller back: enable it with a fresh admin queue,
 * set the features a reset clears, create the I/O queues again, and let
 * the requeued I/O go.  Unless the controller was declared dead meanwhile:
 * every step that makes something live checks that under @teardown_lock.
 */
static int cnvme_ctrl_rebuild(struct cnvme_ctrl *ctrl)
{
	unsigned int qid;
	int ret = -ENODEV;

	mutex_lock(&ctrl->teardown_lock);
	if (READ_ONCE(ctrl->state) == CNVME_CTRL_CONNECTING &&
	    !ctrl->rebuild_broken) {
		ret = cnvme_admin_enable(ctrl);
		if (!ret)
			cnvme_unquiesce_admin(ctrl);
	}
	mutex_unlock(&ctrl->teardown_lock);
	if (ret)
		return ret;

	ret = cnvme_set_host_behavior(ctrl);
	if (ret)
		return ret;
	ret = cnvme_io_queues_recreate(ctrl);
	if (ret)
		return ret;
	/*
	 * A reset may bring the write cache back enabled: the disks must
	 * say so before the requeued writes go out, or flushes and FUA
	 * would not be sent for data sitting in the cache.
	 */
	cnvme_ctrl_vwc_changed(ctrl);

	mutex_lock(&ctrl->teardown_lock);
	if (ctrl->rebuild_broken) {
		ret = -EIO;
	} else if (cnvme_ctrl_set_state(ctrl, CNVME_CTRL_LIVE)) {
		for (qid = 1; qid <= ctrl->nr_io_queues; qid++)
			set_bit(CNVME_Q_LIVE, &ctrl->queues[qid].flags);
		cnvme_unquiesce_io(ctrl);
	} else {
		ret = -ENODEV;
	}
	mutex_unlock(&ctrl->teardown_lock);
	if (!ret)
		cnvme_ctrl_save_state(ctrl);
	return ret;
}

/*
 * Put back what the config space may have lost since the last good
 * bring-up: BARs, MSI-X, memory decoding.  Not bus mastering, which the
 * saved state has on: the controller may still be enabled and running
 * (the teardown could not stop it), and only cnvme_admin_enable() lets
 * it master the bus, once it has stopped.
 */
static void cnvme_ctrl_restore_config(struct cnvme_ctrl *ctrl)
{
	if (ctrl->pci_state && !pci_load_saved_state(ctrl->pdev, ctrl->pci_state))
		pci_restore_state(ctrl->pdev);
	pci_clear_master(ctrl->pdev);
}

/**
 * cnvme_ctrl_save_state - remember the config space of a working controller
 * @ctrl: the controller, just brought up
 *
 * What every reset, a slot reset and the ERS watchdog restore.  Not while
 * memory decoding or bus mastering is off: that is no state to go back to.
 */
void cnvme_ctrl_save_state(struct cnvme_ctrl *ctrl)
{
	struct pci_saved_state *st;
	u16 cmd;

	if (pci_read_config_word(ctrl->pdev, PCI_COMMAND, &cmd) ||
	    (cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) !=
	    (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER))
		return;
	pci_save_state(ctrl->pdev);
	st = pci_store_saved_state(ctrl->pdev);
	if (!st)
		return;
	kfree(ctrl->pci_state);
	ctrl->pci_state = st;
}

/**
 * cnvme_ctrl_start - what follows every bring-up, off the bring-up's path
 * @ctrl: the controller, just made LIVE by probe or a reset
 *
 * Queues the scan (with the event arming) and the health check.
 */
void cnvme_ctrl_start(struct cnvme_ctrl *ctrl)
{
	WRITE_ONCE(ctrl->live_since, jiffies);
	queue_work(cnvme_wq, &ctrl->scan_work);
	queue_delayed_work(cnvme_wq, &ctrl->health_work, CNVME_HEALTH_PERIOD);
}

/*
 * One tear-down and rebuild.  Return: 0 when the controller is live, or
 * a negative errno.
 */
static int cnvme_reset_once(struct cnvme_ctrl *ctrl)
{
	mutex_lock(&ctrl->teardown_lock);
	cnvme_ctrl_teardown(ctrl, CNVME_TD_REQUEUE);
	ctrl->rebuild_broken = false;
	mutex_unlock(&ctrl->teardown_lock);
	cnvme_ctrl_restore_config(ctrl);
	return cnvme_ctrl_rebuild(ctrl);
}

/**
 * cnvme_reset_work - the controller reset
 * @work: cnvme_ctrl.reset_work
 *
 * RESETTING: tear down, requeueing the I/O in flight; CONNECTING: restore
 * the config space and rebuild; then LIVE, and the scan follows from
 * @scan_work.  A rebuild the health check cut short is tried again, at
 * most CNVME_RESET_TRIES attempts in all; one that fails otherwise, or
 * a remove that begins meanwhile, fails the controller instead.
 *
 * Every command sent here is bounded by admin_timeout, and the first one
 * that times out fails the controller (the state is CONNECTING), so the
 * work ends, live or dead.
 */
void cnvme_reset_work(struct work_struct *work)
{
	struct cnvme_ctrl *ctrl = container_of(work, struct cnvme_ctrl,
					       reset_work);
	enum cnvme_ctrl_state state = READ_ONCE(ctrl->state);
	unsigned int tries = 1;
	int ret;

	if (state != CNVME_CTRL_RESETTING) {
		/* Remove came first; it must not find the queues held down. */
		if (state == CNVME_CTRL_DELETING)
			cnvme_ctrl_fail(ctrl);
		return;
	}

	dev_info(ctrl->dev, "resetting controller\n");
	trace_cnvme_reset(ctrl);
	mutex_lock(&ctrl->teardown_lock);
	cnvme_ctrl_teardown(ctrl, CNVME_TD_REQUEUE);
	mutex_unlock(&ctrl->teardown_lock);

	if (!cnvme_ctrl_set_state(ctrl, CNVME_CTRL_CONNECTING)) {
		trace_cnvme_reset_done(ctrl, -ENODEV, 0);
		cnvme_ctrl_fail(ctrl);
		return;
	}
	while ((ret = cnvme_reset_once(ctrl))) {
		if (!READ_ONCE(ctrl->rebuild_broken) ||
		    READ_ONCE(ctrl->state) != CNVME_CTRL_CONNECTING ||
		    tries >= CNVME_RESET_TRIES)
			break;
		tries++;
		dev_warn(ctrl->dev, "controller disturbed during the reset, trying again\n");
	}
	trace_cnvme_reset_done(ctrl, ret, tries);
	if (ret) {
		dev_err(ctrl->dev, "controller reset failed: %d\n", ret);
		cnvme_ctrl_fail(ctrl);
		return;
	}
	cnvme_ctrl_start(ctrl);
}

/**
 * cnvme_scan_work - after a bring-up: events and namespaces
 * @work: cnvme_ctrl.scan_work
 *
 * The reset cancelled the Asynchronous Event Requests and forgot their
 * configuration: arm them again before the scan, so that a change during
 * the scan is reported.  As the stock driver: look at the namespaces
 * again, and tell udev.  A command that times out here resets the
 * controller, whose teardown ends this scan; the reset queues a new one.
 */
void cnvme_scan_work(struct work_struct *work)
{
	struct cnvme_ctrl *ctrl = container_of(work, struct cnvme_ctrl,
					       scan_work);
	int ret;

	if (READ_ONCE(ctrl->state) != CNVME_CTRL_LIVE)
		return;
	cnvme_aer_start(ctrl);
	ret = cnvme_ns_scan(ctrl);
	if (READ_ONCE(ctrl->state) != CNVME_CTRL_LIVE)
		return;
	if (ret)
		dev_err(ctrl->dev, "namespace scan failed: %d\n", ret);
	cnvme_ctrl_connected_uevent(ctrl);
}

/**
 * cnvme_dead_work - remove the disks of a controller that died
 * @work: cnvme_ctrl.dead_work
 *
 * The controller itself stays, in state "dead", until it is unbound.
 */
void cnvme_dead_work(struct work_struct *work)
{
	struct cnvme_ctrl *ctrl = container_of(work, struct cnvme_ctrl,
					       dead_work);

	dev_info(ctrl->dev, "removing the disks of the dead controller\n");
	/* A scan in progress ends quickly now: every command fails. */
	mutex_lock(&ctrl->scan_lock);
	cnvme_ns_remove_all(ctrl);
	mutex_unlock(&ctrl->scan_lock);
}

/*
 * Is the device unable to work: a fatal status, registers reading all
 * ones, or memory decoding or bus mastering turned off?  Not while PCI
 * error recovery owns it, nor when it is gone (hot-plug removes it).
 */
static bool cnvme_ctrl_disturbed(struct cnvme_ctrl *ctrl, u32 *csts,
				 u16 *cmd)
{
	if (pci_channel_offline(ctrl->pdev) ||
	    pci_read_config_word(ctrl->pdev, PCI_COMMAND, cmd) ||
	    *cmd == 0xffff)
		return false;
	*csts = readl(ctrl->bar + NVME_REG_CSTS);
	/* Bus mastering is off on purpose until the rebuild's enable. */
	if (!(*cmd & PCI_COMMAND_MASTER) && READ_ONCE(ctrl->bus_master))
		return true;
	return !(*cmd & PCI_COMMAND_MEMORY) || *csts == ~0U ||
	       (*csts & NVME_CSTS_CFS);
}

/**
 * cnvme_health_work - the periodic health check
 * @work: cnvme_ctrl.health_work
 *
 * Every CNVME_HEALTH_PERIOD while the controller is live, resetting or
 * connecting: one register read and one config read.  A live controller
 * found disturbed is reset; a rebuild in progress is cut short (its
 * commands fail at once), and cnvme_reset_work() tries again.
 */
void cnvme_health_work(struct work_struct *work)
{
	struct cnvme_ctrl *ctrl = container_of(to_delayed_work(work),
					       struct cnvme_ctrl, health_work);
	enum cnvme_ctrl_state state = READ_ONCE(ctrl->state);
	u32 csts = 0;
	u16 cmd = 0;

	if (state != CNVME_CTRL_LIVE && state != CNVME_CTRL_CONNECTING &&
	    state != CNVME_CTRL_RESETTING)
		return;
	if (state == CNVME_CTRL_RESETTING)
		goto out_requeue;
	if (!cnvme_ctrl_disturbed(ctrl, &csts, &cmd)) {
		if (state == CNVME_CTRL_LIVE &&
		    time_after(jiffies, READ_ONCE(ctrl->live_since) +
			       CNVME_HEALTH_STABLE))
			ctrl->disturbed = false;
		if (state == CNVME_CTRL_LIVE)
			cnvme_inject_stray(ctrl);
		goto out_requeue;
	}
	if (!ctrl->disturbed) {
		ctrl->disturbed = true;
		ctrl->disturbed_since = jiffies;
	} else if (time_after(jiffies, ctrl->disturbed_since +
			      CNVME_HEALTH_GIVE_UP)) {
		dev_err(ctrl->dev, "health check: disturbed for %u s without recovering (CSTS %#x, PCI command %#x)\n",
			CNVME_HEALTH_GIVE_UP / HZ, csts, cmd);
		cnvme_ctrl_fail(ctrl);
		return;
	}
	if (state == CNVME_CTRL_LIVE) {
		dev_err_ratelimited(ctrl->dev, "health check: CSTS %#x, PCI command %#x, resetting controller\n",
				    csts, cmd);
		cnvme_ctrl_schedule_reset(ctrl);
		goto out_requeue;
	}
	mutex_lock(&ctrl->teardown_lock);
	if (READ_ONCE(ctrl->state) == CNVME_CTRL_CONNECTING &&
	    !ctrl->rebuild_broken) {
		dev_warn_ratelimited(ctrl->dev, "health check: CSTS %#x, PCI command %#x during the reset\n",
				     csts, cmd);
		ctrl->rebuild_broken = true;
		cnvme_ctrl_teardown(ctrl, CNVME_TD_REQUEUE);
		/* What the rebuild sends next fails at once. */
		cnvme_unquiesce_admin(ctrl);
	}
	mutex_unlock(&ctrl->teardown_lock);
out_requeue:
	queue_delayed_work(cnvme_wq, &ctrl->health_work, CNVME_HEALTH_PERIOD);
}

bool cnvme_ctrl_schedule_reset(struct cnvme_ctrl *ctrl)
{
	unsigned long flags;
	bool queued = false;

	/*
	 * LIVE -> RESETTING and the queueing in one hold of the state lock:
	 * remove, which leaves LIVE under the same lock, then either stops
	 * the reset from starting or finds it queued and flushes it before
	 * it unmaps the registers.
	 */
	spin_lock_irqsave(&ctrl->state_lock, flags);
	if (ctrl->state == CNVME_CTRL_LIVE) {
		WRITE_ONCE(ctrl->state, CNVME_CTRL_RESETTING);
		trace_cnvme_ctrl_state(ctrl, CNVME_CTRL_LIVE,
				       CNVME_CTRL_RESETTING);
		queue_work(cnvme_wq, &ctrl->reset_work);
		queued = true;
	}
	spin_unlock_irqrestore(&ctrl->state_lock, flags);
	return queued;
}

int cnvme_ctrl_reset(struct cnvme_ctrl *ctrl)
{
	enum cnvme_ctrl_state state;

	if (!cnvme_ctrl_schedule_reset(ctrl)) {
		state = READ_ONCE(ctrl->state);
		if (state == CNVME_CTRL_DELETING || state == CNVME_CTRL_DEAD)
			return -ENODEV;
		return -EBUSY;
	}
	flush_work(&ctrl->reset_work);

	/* A later reset can only have started from LIVE, so this one worked. */
	switch (READ_ONCE(ctrl->state)) {
	case CNVME_CTRL_DEAD:
		return -EIO;
	case CNVME_CTRL_DELETING:
		return -ENODEV;
	default:
		return 0;
	}
}

int cnvme_subsys_reset(struct cnvme_ctrl *ctrl)
{
	bool live;

	if (!NVME_CAP_NSSRC(ctrl->cap))
		return -ENOTTY;
	/* Remove unmaps the registers only after taking the lock. */
	mutex_lock(&ctrl->teardown_lock);
	live = READ_ONCE(ctrl->state) == CNVME_CTRL_LIVE;
	if (live)
		writel(NVME_SUBSYS_RESET, ctrl->bar + NVME_REG_NSSR);
	mutex_unlock(&ctrl->teardown_lock);
	if (!live)
		return -EBUSY;
	return cnvme_ctrl_reset(ctrl);
}

/*
 * Move a LIVE controller to RESETTING for a caller that tears it down and
 * restarts it itself (suspend, PCI reset and error recovery), waiting out
 * a reset already in progress.  Return: false for a controller that is
 * new, being removed or dead.
 */
static bool cnvme_ctrl_hold(struct cnvme_ctrl *ctrl)
{
	enum cnvme_ctrl_state old;
	int tries;

	for (tries = 0; tries < 3; tries++) {
		flush_work(&ctrl->reset_work);
		if (cnvme_ctrl_change_state(ctrl, CNVME_CTRL_RESETTING, &old))
			return true;
		if (old != CNVME_CTRL_RESETTING && old != CNVME_CTRL_CONNECTING)
			return false;
	}
	dev_warn(ctrl->dev, "controller keeps resetting\n");
	return false;
}

/* Restart a controller that cnvme_ctrl_hold() took. */
static void cnvme_ctrl_restart(struct cnvme_ctrl *ctrl)
{
	if (READ_ONCE(ctrl->state) == CNVME_CTRL_RESETTING)
		queue_work(cnvme_wq, &ctrl->reset_work);
}

/**
 * cnvme_ctrl_stop - take the controller down for good (remove, probe error)
 * @ctrl: the controller, NEW, DELETING or DEAD, with no gendisk left or
 *	none that has I/O to do
 *
 * A controller that still answers gets its I/O queues deleted and a
 * CC.SHN shutdown, so that it flushes its volatile state; what remains
 * outstanding fails.  The queues end up unquiesced and not live.
 */
void cnvme_ctrl_stop(struct cnvme_ctrl *ctrl)
{
	unsigned int how = 0;
	bool admin_live;

	mutex_lock(&ctrl->teardown_lock);
	cnvme_quiesce_io(ctrl);
	admin_live = test_bit(CNVME_Q_LIVE, &ctrl->queues[0].flags) &&
		     !ctrl->admin_quiesced;
	mutex_unlock(&ctrl->teardown_lock);

	/*
	 * Only through a working admin queue: one that a reset, suspend or
	 * PCI error recovery took down would hold the commands forever.
	 */
	if (admin_live && READ_ONCE(ctrl->state) != CNVME_CTRL_DEAD &&
	    cnvme_ctrl_present(ctrl)) {
		cnvme_io_queues_delete(ctrl);
		how = CNVME_TD_SHUTDOWN;
	}

	mutex_lock(&ctrl->teardown_lock);
	if (READ_ONCE(ctrl->state) == CNVME_CTRL_DEAD)
		how = 0;
	cnvme_ctrl_teardown(ctrl, how);
	cnvme_unquiesce_admin(ctrl);
	cnvme_unquiesce_io(ctrl);
	mutex_unlock(&ctrl->teardown_lock);
}

/*
 * Before CC.SHN: stop new I/O and let what is in flight finish, so that
 * the shutdown does not find commands outstanding.  Bounded by the
 * shutdown timeout; the teardown cancels any straggler.
 */
static void cnvme_ctrl_quiesce_drain(struct cnvme_ctrl *ctrl)
{
	mutex_lock(&ctrl->teardown_lock);
	cnvme_quiesce_io(ctrl);
	mutex_unlock(&ctrl->teardown_lock);
	if (!cnvme_io_drain(ctrl, ctrl->shutdown_timeout))
		dev_warn(ctrl->dev, "I/O still in flight at shutdown, cancelling it\n");
}

/**
 * cnvme_ctrl_poweroff - reboot or power-off: shut the controller down
 * @ctrl: the controller
 *
 * CC.SHN, so that the controller flushes its volatile cache.  Nothing
 * brings it back: whatever I/O is still queued or comes later fails at
 * once instead of waiting for a controller that will not return.
 */
void cnvme_ctrl_poweroff(struct cnvme_ctrl *ctrl)
{
	if (!cnvme_ctrl_hold(ctrl))
		return;
	/* Nothing brings it back: no more health checks. */
	cancel_delayed_work_sync(&ctrl->health_work);
	cnvme_ctrl_quiesce_drain(ctrl);
	mutex_lock(&ctrl->teardown_lock);
	cnvme_ctrl_teardown(ctrl, CNVME_TD_SHUTDOWN);
	cnvme_unquiesce_admin(ctrl);
	cnvme_unquiesce_io(ctrl);
	mutex_unlock(&ctrl->teardown_lock);
}

/**
 * cnvme_ctrl_suspend - system sleep: shut the controller down
 * @ctrl: the controller
 *
 * The controller is shut down with CC.SHN, I/O in flight is requeued and
 * waits in the quiesced queues until cnvme_ctrl_resume() brings the
 * controller back through a reset.  A dead controller has nothing to do.
 *
 * Return: 0, or -EBUSY while a reset keeps the controller busy.
 */
int cnvme_ctrl_suspend(struct cnvme_ctrl *ctrl)
{
	if (!cnvme_ctrl_hold(ctrl))
		return READ_ONCE(ctrl->state) == CNVME_CTRL_DEAD ? 0 : -EBUSY;
	/*
	 * No health check reads a powered-down device; the reset after
	 * resume starts it again.
	 */
	cancel_delayed_work_sync(&ctrl->health_work);
	cnvme_ctrl_quiesce_drain(ctrl);
	mutex_lock(&ctrl->teardown_lock);
	cnvme_ctrl_teardown(ctrl, CNVME_TD_SHUTDOWN | CNVME_TD_REQUEUE);
	mutex_unlock(&ctrl->teardown_lock);
	return 0;
}

/**
 * cnvme_ctrl_resume - system wake-up: bring the controller back
 * @ctrl: the controller
 *
 * Starts the reset that rebuilds the queues and returns at once, like the
 * stock driver; the requeued I/O goes out when the reset is done.
 *
 * Return: 0.
 */
int cnvme_ctrl_resume(struct cnvme_ctrl *ctrl)
{
	cnvme_ctrl_restart(ctrl);
	return 0;
}

/**
 * cnvme_ctrl_reset_prepare - before a PCI function or slot reset
 * @ctrl: the controller
 *
 * The controller is disabled and the I/O in flight requeued, because the
 * PCI core is about to disable the function and reset it, or PCI error
 * recovery found the link frozen.
 *
 * Return: true if the controller is now held for cnvme_ctrl_reset_done(),
 * false if it is new, being removed or dead.
 */
bool cnvme_ctrl_reset_prepare(struct cnvme_ctrl *ctrl)
{
	if (!cnvme_ctrl_hold(ctrl))
		return false;
	mutex_lock(&ctrl->teardown_lock);
	cnvme_ctrl_teardown(ctrl, CNVME_TD_REQUEUE);
	mutex_unlock(&ctrl->teardown_lock);
	return true;
}

/**
 * cnvme_ctrl_reset_done - after a PCI function or slot reset
 * @ctrl: the controller
 * @wait: wait for the rebuild
 *
 * Rebuilds the queues of a controller cnvme_ctrl_reset_prepare() held.  A
 * live controller, which another device's recovery reset along with its
 * own, gets a reset of its own.  With @wait the reset is over, for better
 * or worse, on return.
 */
void cnvme_ctrl_reset_done(struct cnvme_ctrl *ctrl, bool wait)
{
	if (READ_ONCE(ctrl->state) == CNVME_CTRL_LIVE)
		cnvme_ctrl_schedule_reset(ctrl);
	else
		cnvme_ctrl_restart(ctrl);
	if (wait)
		flush_work(&ctrl->reset_work);
}

/* How long PCI error recovery may hold a frozen controller. */
#define CNVME_ERS_TIMEOUT	(15 * HZ)

/**
 * cnvme_ctrl_error_frozen - PCI error recovery found the link frozen
 * @ctrl: the controller
 *
 * Tears the controller down like a PCI reset, requeueing the I/O, and
 * waits for slot_reset.  The PCI core does not tell drivers when recovery
 * fails (for example when the link does not come back after the bus
 * reset), so a watchdog resets the controller on its own after
 * CNVME_ERS_TIMEOUT: the requeued I/O then either goes out or fails, but
 * never waits forever.
 *
 * Return: false if the controller cannot be held (new, removed, dead).
 */
bool cnvme_ctrl_error_frozen(struct cnvme_ctrl *ctrl)
{
	WRITE_ONCE(ctrl->ers_abandoned, false);
	if (!cnvme_ctrl_reset_prepare(ctrl))
		return false;
	queue_delayed_work(cnvme_wq, &ctrl->ers_work, CNVME_ERS_TIMEOUT);
	return true;
}

/**
 * cnvme_ctrl_slot_reset - PCI error recovery reset the slot
 * @ctrl: the controller
 *
 * Restores the config space and starts the reset work.
 */
void cnvme_ctrl_slot_reset(struct cnvme_ctrl *ctrl)
{
	cancel_delayed_work_sync(&ctrl->ers_work);
	pci_restore_state(ctrl->pdev);
	cnvme_ctrl_reset_done(ctrl, false);
}

/**
 * cnvme_ctrl_error_resume - PCI error recovery is over
 * @ctrl: the controller
 *
 * Waits for the reset that slot_reset started.
 */
void cnvme_ctrl_error_resume(struct cnvme_ctrl *ctrl)
{
	cancel_delayed_work_sync(&ctrl->ers_work);
	flush_work(&ctrl->reset_work);
}

/**
 * cnvme_ers_work - PCI error recovery never came back
 * @work: cnvme_ctrl.ers_work
 *
 * The bus reset may have cleared the config space: the reset work
 * restores the state saved after the last good bring-up.
 * From here on the timeout handler stops deferring to error recovery.
 */
void cnvme_ers_work(struct work_struct *work)
{
	struct cnvme_ctrl *ctrl = container_of(to_delayed_work(work),
					       struct cnvme_ctrl, ers_work);

	if (READ_ONCE(ctrl->state) != CNVME_CTRL_RESETTING)
		return;
	dev_warn(ctrl->dev, "PCI error recovery did not finish in %u s, resetting controller\n",
		 CNVME_ERS_TIMEOUT / HZ);
	WRITE_ONCE(ctrl->ers_abandoned, true);
	cnvme_ctrl_restart(ctrl);
}
