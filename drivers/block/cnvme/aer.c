// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: Asynchronous Event Requests.
 *
 * The controller reports events (namespaces attached, detached or
 * resized; SMART/health critical warnings; errors; firmware activation)
 * by completing one of the Asynchronous Event Request commands the host
 * keeps outstanding on the admin queue.  cnvme keeps up to
 * &cnvme_ctrl.aer_limit of them there, each a blk-mq request on a tag the
 * admin tag set reserves for them, so that user passthrough can never
 * take the last tag away.  They wait for as long as no event happens: the
 * timeout handler knows them by CNVME_IOD_AER and only restarts their
 * timer.
 *
 * A completion only records the event (hard-irq context) and queues
 * &cnvme_ctrl.aer_work, which handles it in process context: it reads the
 * log page the event names with Retain Asynchronous Event cleared, which
 * is what lets the controller report that type of event again, acts on
 * it, and then sends new requests for those that completed.
 *
 * A teardown (reset, suspend, PCI reset, remove, a dead controller)
 * cancels the requests like any other admin command; those are not sent
 * again.  Whoever brings the controller back has scan_work call
 * cnvme_aer_start(): after the end of probe and the end of every reset,
 * the only two places where a controller becomes LIVE with a working
 * admin queue.
 */
#include <linux/blk-mq.h>
#include <linux/slab.h>

#include "cnvme.h"

/* The fields of completion dword 0 of an Asynchronous Event Request. */
#define CNVME_AER_TYPE(res)	((res) & 0x7)
#define CNVME_AER_INFO(res)	(((res) >> 8) & 0xff)
#define CNVME_AER_LID(res)	(((res) >> 16) & 0xff)

/* What an event of an unknown kind needs read: the first entry is enough. */
#define CNVME_AER_LOG_MIN	64

/* The largest log page read: the Changed Namespace List. */
#define CNVME_AER_LOG_SIZE	(NVME_MAX_CHANGED_NAMESPACES * sizeof(__le32))

/* Every SMART/health critical warning cnvme asks to be told about. */
#define CNVME_AER_SMART_CRIT	(NVME_SMART_CRIT_SPARE |		\
				 NVME_SMART_CRIT_TEMPERATURE |		\
				 NVME_SMART_CRIT_RELIABILITY |		\
				 NVME_SMART_CRIT_MEDIA |		\
				 NVME_SMART_CRIT_VOLATILE_MEMORY)

/*
 * Get Log Page with RAE cleared: reading the page is the host's
 * acknowledgment, after which the controller may report an event of the
 * same type again.  @buf is &cnvme_ctrl.aer_log, which only the work
 * item uses.
 */
static int cnvme_aer_read_log(struct cnvme_ctrl *ctrl, u8 lid, void *buf,
			      unsigned int len)
{
	struct nvme_command cmd = { };
	u32 numd = len / sizeof(u32) - 1;

	cmd.get_log_page.opcode = nvme_admin_get_log_page;
	cmd.get_log_page.nsid = cpu_to_le32(NVME_NSID_ALL);
	cmd.get_log_page.lid = lid;
	/* Retain Asynchronous Event, CDW10 bit 15 (bit 7 of this byte): 0. */
	cmd.get_log_page.lsp = 0;
	cmd.get_log_page.numdl = cpu_to_le16(numd & 0xffff);
	cmd.get_log_page.numdu = cpu_to_le16(numd >> 16);
	return cnvme_admin_exec(ctrl, &cmd, buf, len, NULL);
}

/*
 * Namespace Attribute Changed: the Changed Namespace List names up to
 * 1024 namespaces; a first entry of FFFFFFFFh means more changed than
 * that.  Only the listed namespaces are looked at again, the disks of the
 * others keep running untouched.  An empty list means that someone else
 * (a user reading the same log) consumed it first, and a list that cannot
 * be read tells nothing: both fall back to a full scan.
 */
static void cnvme_aer_ns_changed(struct cnvme_ctrl *ctrl)
{
	__le32 *list = ctrl->aer_log;
	unsigned int nr = 0;
	int ret;

	memset(list, 0, CNVME_AER_LOG_SIZE);
	ret = cnvme_aer_read_log(ctrl, NVME_LOG_CHANGED_NS, list,
				 CNVME_AER_LOG_SIZE);
	if (ret) {
		dev_warn(ctrl->dev, "reading the Changed Namespace List failed: %d, rescanning all namespaces\n",
			 ret);
		cnvme_ns_scan(ctrl);
		return;
	}
	while (nr < NVME_MAX_CHANGED_NAMESPACES && list[nr])
		nr++;
	if (!nr || le32_to_cpu(list[0]) == NVME_NSID_ALL) {
		dev_info(ctrl->dev, "namespace attributes changed, rescanning all namespaces\n");
		cnvme_ns_scan(ctrl);
		return;
	}
	if (nr == 1)
		dev_info(ctrl->dev, "namespace attributes changed: nsid %u\n",
			 le32_to_cpu(list[0]));
	else
		dev_info(ctrl->dev, "namespace attributes changed: %u namespaces, nsid %u to %u\n",
			 nr, le32_to_cpu(list[0]), le32_to_cpu(list[nr - 1]));
	if (cnvme_ns_scan_changed(ctrl, list, nr))
		cnvme_ns_scan(ctrl);
}

static const char * const cnvme_smart_crit_names[] = {
	"available spare below threshold",
	"temperature out of range",
	"reliability degraded",
	"media read only",
	"volatile memory backup failed",
};

/* SMART/health: one warning per event, naming what the controller reports. */
static void cnvme_aer_smart(struct cnvme_ctrl *ctrl, u32 result)
{
	struct nvme_smart_log *log = ctrl->aer_log;
	char names[160] = "";
	size_t len = 0;
	unsigned int i;
	int ret;

	memset(log, 0, sizeof(*log));
	ret = cnvme_aer_read_log(ctrl, NVME_LOG_SMART, log, sizeof(*log));
	if (ret) {
		dev_warn(ctrl->dev, "SMART/health event (info %#x); reading the SMART / Health log failed: %d\n",
			 CNVME_AER_INFO(result), ret);
		return;
	}
	for (i = 0; i < ARRAY_SIZE(cnvme_smart_crit_names); i++)
		if (log->critical_warning & BIT(i))
			len += scnprintf(names + len, sizeof(names) - len,
					 "%s%s", len ? ", " : "",
					 cnvme_smart_crit_names[i]);
	dev_warn(ctrl->dev, "SMART/health event (info %#x): critical warning %#x (%s)\n",
		 CNVME_AER_INFO(result), log->critical_warning,
		 len ? names : "none left");
}

/*
 * Everything else: errors, other notices, command set and vendor events.
 * Nothing for cnvme to act on, but the log page they name must still be
 * read or the controller never reports that type again.
 */
static void cnvme_aer_other(struct cnvme_ctrl *ctrl, u32 result)
{
	u8 lid = CNVME_AER_LID(result);
	unsigned int len = CNVME_AER_LOG_MIN;
	int ret = 0;

	if (lid == NVME_LOG_FW_SLOT)
		len = sizeof(struct nvme_fw_slot_info_log);
	if (lid)
		ret = cnvme_aer_read_log(ctrl, lid, ctrl->aer_log, len);
	if (CNVME_AER_TYPE(result) == NVME_AER_ERROR)
		dev_warn_ratelimited(ctrl->dev, "asynchronous error event: info %#x, log page %#x%s\n",
				     CNVME_AER_INFO(result), lid,
				     ret ? ", which could not be read" : "");
	else
		dev_info_ratelimited(ctrl->dev, "asynchronous event: type %u, info %#x, log page %#x%s\n",
				     CNVME_AER_TYPE(result),
				     CNVME_AER_INFO(result), lid,
				     ret ? ", which could not be read" : "");
}

static void cnvme_aer_handle(struct cnvme_ctrl *ctrl, u32 result)
{
	switch (CNVME_AER_TYPE(result)) {
	case NVME_AER_NOTICE:
		if (CNVME_AER_INFO(result) == NVME_AER_NOTICE_NS_CHANGED) {
			cnvme_aer_ns_changed(ctrl);
			return;
		}
		break;
	case NVME_AER_SMART:
		cnvme_aer_smart(ctrl, result);
		return;
	}
	cnvme_aer_other(ctrl, result);
}

/* Says so once per bring-up when a request slot stays empty. */
static void cnvme_aer_disarmed(struct cnvme_ctrl *ctrl, const char *why,
			       int err)
{
	if (test_and_set_bit(CNVME_AER_WARNED, &ctrl->aer_flags))
		return;
	dev_warn(ctrl->dev, "Asynchronous Event Request %s (%d): %d of %u armed until the next reset\n",
		 why, err, atomic_read(&ctrl->aer_outstanding),
		 ctrl->aer_limit);
}

static enum rq_end_io_ret cnvme_aer_end_io(struct request *rq,
					   blk_status_t error)
{
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);
	struct cnvme_ctrl *ctrl = rq->end_io_data;
	unsigned long flags;
	bool queued = false;

	if (!error && !iod->status) {
		spin_lock_irqsave(&ctrl->aer_lock, flags);
		/* Never more events than requests: the array cannot fill. */
		if (ctrl->aer_nr_events < CNVME_AER_MAX) {
			ctrl->aer_events[ctrl->aer_nr_events++] =
				le32_to_cpu(iod->result.u32);
			queued = true;
		}
		spin_unlock_irqrestore(&ctrl->aer_lock, flags);
	}
	atomic_dec(&ctrl->aer_outstanding);
	/*
	 * Cancelled by a teardown, or failed in queue_rq because the queue
	 * is not live (which leaves the status zero): the next bring-up
	 * sends it again.  Refused by the controller: not before then.
	 */
	if (queued)
		queue_work(cnvme_wq, &ctrl->aer_work);
	else if (iod->status && !(iod->flags & CNVME_IOD_CANCELLED))
		cnvme_aer_disarmed(ctrl, "refused by the controller",
				   iod->status);
	return RQ_END_IO_FREE;
}

/* Send one request on a reserved tag.  Return: 0 or a negative errno. */
static int cnvme_aer_submit(struct cnvme_ctrl *ctrl)
{
	struct cnvme_iod *iod;
	struct request *rq;

	rq = blk_mq_alloc_request(ctrl->admin_q, REQ_OP_DRV_IN,
				  BLK_MQ_REQ_RESERVED | BLK_MQ_REQ_NOWAIT);
	if (IS_ERR(rq))
		return PTR_ERR(rq);
	iod = blk_mq_rq_to_pdu(rq);
	memset(&iod->cmd, 0, sizeof(iod->cmd));
	iod->cmd.common.opcode = nvme_admin_async_event;
	iod->flags = CNVME_IOD_AER;
	iod->status = 0;
	rq->end_io = cnvme_aer_end_io;
	rq->end_io_data = ctrl;
	atomic_inc(&ctrl->aer_outstanding);
	blk_execute_rq_nowait(rq, false);
	return 0;
}

/*
 * Top the outstanding requests up to the limit.  Only this work item
 * sends them, so the count can only drop meanwhile, never overshoot.
 */
static void cnvme_aer_arm(struct cnvme_ctrl *ctrl)
{
	int ret;

	while (atomic_read(&ctrl->aer_outstanding) < ctrl->aer_limit) {
		/* A teardown would only cancel them; the bring-up re-arms. */
		if (READ_ONCE(ctrl->state) != CNVME_CTRL_LIVE)
			return;
		ret = cnvme_aer_submit(ctrl);
		if (ret) {
			cnvme_aer_disarmed(ctrl, "cannot be allocated", ret);
			return;
		}
	}
}

/**
 * cnvme_aer_work - handle the events reported, then re-arm
 * @work: &cnvme_ctrl.aer_work
 *
 * Runs on cnvme_wq; a work item never runs twice at once, which is what
 * makes it the only sender of Asynchronous Event Requests.
 */
void cnvme_aer_work(struct work_struct *work)
{
	struct cnvme_ctrl *ctrl = container_of(work, struct cnvme_ctrl,
					       aer_work);
	u32 events[CNVME_AER_MAX];
	unsigned int nr, i;

	spin_lock_irq(&ctrl->aer_lock);
	nr = ctrl->aer_nr_events;
	memcpy(events, ctrl->aer_events, nr * sizeof(events[0]));
	ctrl->aer_nr_events = 0;
	spin_unlock_irq(&ctrl->aer_lock);

	for (i = 0; i < nr; i++)
		cnvme_aer_handle(ctrl, events[i]);
	cnvme_aer_arm(ctrl);
}

static int cnvme_aer_alloc_log(struct cnvme_ctrl *ctrl)
{
	ctrl->aer_log = kmalloc(CNVME_AER_LOG_SIZE, GFP_KERNEL);
	return ctrl->aer_log ? 0 : -ENOMEM;
}

/**
 * cnvme_aer_stop - release what cnvme_aer_start() kept
 * @ctrl: the controller, being removed, with every request ended
 *
 * Waits for the work item: the teardown before this ended the requests,
 * so nothing queues it again.
 */
void cnvme_aer_stop(struct cnvme_ctrl *ctrl)
{
	cancel_work_sync(&ctrl->aer_work);
	kfree(ctrl->aer_log);
	ctrl->aer_log = NULL;
}

/**
 * cnvme_aer_start - enable the events and arm the requests
 * @ctrl: the controller, just made LIVE by probe or a reset; called from
 *	&cnvme_ctrl.scan_work
 *
 * Asynchronous Event Configuration does not survive a controller reset,
 * so it is set every time: SMART/health critical warnings always, the
 * Namespace Attribute and Firmware Activation notices when the controller
 * reports them (OAES).  A controller that refuses it still reports the
 * events enabled by default (errors, and the rest of SMART/health).
 *
 * Context: process context, no locks held.
 */
void cnvme_aer_start(struct cnvme_ctrl *ctrl)
{
	struct nvme_command cmd = { };
	u32 cfg;
	int ret;

	if (!ctrl->aer_limit)
		return;
	clear_bit(CNVME_AER_WARNED, &ctrl->aer_flags);
	/* Kept until remove: handling an event then needs no allocation. */
	if (!ctrl->aer_log && cnvme_aer_alloc_log(ctrl)) {
		cnvme_aer_disarmed(ctrl, "has no log buffer", -ENOMEM);
		return;
	}
	cfg = CNVME_AER_SMART_CRIT |
	      (ctrl->oaes & (NVME_AEN_CFG_NS_ATTR | NVME_AEN_CFG_FW_ACT));
	cmd.features.opcode = nvme_admin_set_features;
	cmd.features.fid = cpu_to_le32(NVME_FEAT_ASYNC_EVENT);
	cmd.features.dword11 = cpu_to_le32(cfg);
	ret = cnvme_admin_exec(ctrl, &cmd, NULL, 0, NULL);
	/* Cancelled by a reset, which sets it again: nothing refused. */
	if (ret > 0 && (ret & NVME_SCT_SC_MASK) != NVME_SC_HOST_ABORTED_CMD)
		dev_warn(ctrl->dev, "Asynchronous Event Configuration %#x refused (status %#x): namespace changes need a rescan\n",
			 cfg, ret);
	queue_work(cnvme_wq, &ctrl->aer_work);
}
