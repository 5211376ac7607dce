// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: the admin queue, synchronous admin commands, I/O queue setup.
 *
 * Admin commands go through a blk-mq request queue of their own, so they
 * get tags, timeouts and cancellation from the same code as I/O.
 */
#include <linux/dma-mapping.h>
#include <linux/interrupt.h>
#include <linux/io-64-nonatomic-lo-hi.h>

#include "cnvme.h"

/**
 * cnvme_admin_enable - program the admin queue and enable the controller
 * @ctrl: the controller, with the admin queue's rings allocated and its
 *	interrupt suspended (CNVME_Q_LIVE clear)
 *
 * Used by probe and by every reset: the controller is disabled first, the
 * rings start empty, and the admin queue goes live once CSTS.RDY is set.
 * The caller holds @ctrl->teardown_lock, or is probe.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_admin_enable(struct cnvme_ctrl *ctrl)
{
	struct cnvme_queue *q = &ctrl->queues[0];
	u32 aqa = (CNVME_AQ_DEPTH - 1) | (CNVME_AQ_DEPTH - 1) << 16;
	int ret;

	ret = cnvme_ctrl_disable(ctrl);
	if (ret)
		return ret;
	/*
	 * Every teardown turns bus mastering off so that a device that did
	 * not stop cannot write into memory being handed back; the
	 * controller is stopped now, so it may master the bus again.
	 */
	pci_set_master(ctrl->pdev);
	WRITE_ONCE(ctrl->bus_master, true);
	cnvme_q_init(q, 0, false);
	writel(aqa, ctrl->bar + NVME_REG_AQA);
	lo_hi_writeq(q->sq_dma_addr, ctrl->bar + NVME_REG_ASQ);
	lo_hi_writeq(q->cq_dma_addr, ctrl->bar + NVME_REG_ACQ);
	ret = cnvme_ctrl_enable(ctrl);
	if (ret)
		return ret;
	set_bit(CNVME_Q_LIVE, &q->flags);
	return 0;
}

/**
 * cnvme_admin_init - create the admin queue and enable the controller
 * @ctrl: the controller, mapped, with one interrupt vector allocated
 *
 * The transfer limit starts at one page; cnvme_admin_identify_ctrl()
 * raises it to MDTS for passthrough commands.
 *
 * Return: 0 or a negative errno; on error nothing is left to undo.
 */
int cnvme_admin_init(struct cnvme_ctrl *ctrl)
{
	struct queue_limits lim = {
		.max_hw_sectors		= CNVME_CTRL_PAGE_SIZE >> SECTOR_SHIFT,
		.max_segments		= CNVME_MAX_SEGS,
		.virt_boundary_mask	= CNVME_CTRL_PAGE_SIZE - 1,
		.dma_alignment		= 3,
	};
	struct blk_mq_tag_set *set = &ctrl->admin_tagset;
	struct cnvme_queue *q = &ctrl->queues[0];
	int ret;

	/*
	 * PRPs describe memory in controller pages: a bounce buffer
	 * (swiotlb) must keep the offset within the page of what it
	 * replaces, or every segment but the first lands mid-page.
	 */
	dma_set_min_align_mask(ctrl->dev, CNVME_CTRL_PAGE_SIZE - 1);

	/* Whatever ran the controller before must stop using host memory. */
	ret = cnvme_ctrl_disable(ctrl);
	if (ret)
		return ret;

	ret = cnvme_q_alloc(ctrl, 0, CNVME_AQ_DEPTH);
	if (ret)
		return ret;
	q->cq_vector = 0;
	ret = cnvme_q_request_irq(q);
	if (ret) {
		dev_err(ctrl->dev, "cannot request the admin interrupt: %d\n",
			ret);
		goto out_free_queue;
	}

	set->ops = &cnvme_admin_mq_ops;
	set->nr_hw_queues = 1;
	set->queue_depth = CNVME_AQ_DEPTH - 1;
	/* Asynchronous Event Requests always find a tag (aer.c). */
	set->reserved_tags = CNVME_AER_MAX;
	set->timeout = cnvme_admin_timeout * HZ;
	set->numa_node = dev_to_node(ctrl->dev);
	set->cmd_size = sizeof(struct cnvme_iod);
	set->flags = BLK_MQ_F_NO_SCHED;
	set->driver_data = ctrl;
	ret = cnvme_inject_alloc(ctrl, CNVME_FA_TAGSET) ? -ENOMEM :
		blk_mq_alloc_tag_set(set);
	if (ret)
		goto out_free_irq;

	ctrl->admin_q = blk_mq_alloc_queue(set, &lim, NULL);
	if (IS_ERR(ctrl->admin_q)) {
		ret = PTR_ERR(ctrl->admin_q);
		ctrl->admin_q = NULL;
		goto out_free_tagset;
	}

	ret = cnvme_admin_enable(ctrl);
	if (ret)
		goto out_destroy_queue;
	return 0;

out_destroy_queue:
	blk_mq_destroy_queue(ctrl->admin_q);
	blk_put_queue(ctrl->admin_q);
	ctrl->admin_q = NULL;
out_free_tagset:
	blk_mq_free_tag_set(set);
out_free_irq:
	cnvme_q_free_irq(q);
out_free_queue:
	cnvme_q_free(ctrl, 0);
	return ret;
}

/**
 * cnvme_admin_exit - undo cnvme_admin_init()
 * @ctrl: the controller, already disabled or shut down
 *
 * The request queue is destroyed, so new requests fail with -ENODEV, but
 * not freed: an open controller node may still look at it.  The release
 * of the controller device drops it.
 */
void cnvme_admin_exit(struct cnvme_ctrl *ctrl)
{
	struct cnvme_queue *q = &ctrl->queues[0];

	cnvme_q_suspend(q);
	blk_mq_destroy_queue(ctrl->admin_q);
	blk_mq_free_tag_set(&ctrl->admin_tagset);
	cnvme_q_free_irq(q);
	cnvme_q_free(ctrl, 0);
}

/**
 * cnvme_admin_exec - run one admin command and wait for it
 * @ctrl: the controller
 * @cmd: the command; command_id and the data pointer are filled in here
 * @buf: kernel buffer for the data phase, or NULL
 * @len: length of @buf
 * @result: where to store completion dword 0/1, or NULL
 *
 * The wait is bounded by the admin_timeout parameter: a command that does
 * not complete in time resets the controller, or declares it dead while
 * it is being probed, reset or removed; either way the command completes.
 *
 * Return: 0, a negative errno, or the positive NVMe status of a command
 * the controller failed.
 */
int cnvme_admin_exec(struct cnvme_ctrl *ctrl, struct nvme_command *cmd,
		     void *buf, unsigned int len, union nvme_result *result)
{
	struct cnvme_iod *iod;
	struct request *rq;
	blk_status_t sts;
	int ret;

	rq = blk_mq_alloc_request(ctrl->admin_q, nvme_is_write(cmd) ?
				  REQ_OP_DRV_OUT : REQ_OP_DRV_IN, 0);
	if (IS_ERR(rq))
		return PTR_ERR(rq);
	iod = blk_mq_rq_to_pdu(rq);
	iod->cmd = *cmd;
	iod->flags = 0;
	iod->status = 0;
	rq->timeout = cnvme_admin_timeout * HZ;

	if (buf && len) {
		ret = blk_rq_map_kern(ctrl->admin_q, rq, buf, len, GFP_KERNEL);
		if (ret)
			goto out_free;
	}

	sts = blk_execute_rq(rq, false);
	if (iod->status)
		ret = iod->status & NVME_SCT_SC_MASK;
	else
		ret = blk_status_to_errno(sts);
	if (!ret && result)
		*result = iod->result;
out_free:
	blk_mq_free_request(rq);
	return ret;
}

/**
 * cnvme_identify - Identify command into a 4 KiB buffer
 * @ctrl: the controller
 * @cns: Controller or Namespace Structure to return
 * @nsid: namespace identifier (or starting point, for lists)
 * @buf: kernel buffer of NVME_IDENTIFY_DATA_SIZE bytes
 *
 * Return: as cnvme_admin_exec().
 */
int cnvme_identify(struct cnvme_ctrl *ctrl, u8 cns, u32 nsid, void *buf)
{
	struct nvme_command cmd = { };

	cmd.identify.opcode = nvme_admin_identify;
	cmd.identify.nsid = cpu_to_le32(nsid);
	cmd.identify.cns = cns;
	return cnvme_admin_exec(ctrl, &cmd, buf, NVME_IDENTIFY_DATA_SIZE, NULL);
}

static void cnvme_copy_id_string(char *dst, const char *src, size_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
	strim(dst);
}

/*
 * The subsystem NQN as reported, or for controllers without one a name
 * made of the vendor IDs, serial and model, exactly as the stock driver
 * makes it up, so that both drivers show the same subsystem.
 */
static void cnvme_init_subnqn(struct cnvme_ctrl *ctrl,
			      const struct nvme_id_ctrl *id)
{
	size_t len = strnlen(id->subnqn, NVMF_NQN_SIZE);
	int off;

	if (len > 0 && len < NVMF_NQN_SIZE) {
		strscpy(ctrl->subnqn, id->subnqn, NVMF_NQN_SIZE);
		return;
	}
	if (ctrl->vs >= NVME_VS(1, 2, 1))
		dev_warn(ctrl->dev, "missing or invalid SUBNQN field\n");
	off = snprintf(ctrl->subnqn, NVMF_NQN_SIZE,
		       "nqn.2014.08.org.nvmexpress:%04x%04x",
		       le16_to_cpu(id->vid), le16_to_cpu(id->ssvid));
	memcpy(ctrl->subnqn + off, id->sn, sizeof(id->sn));
	off += sizeof(id->sn);
	memcpy(ctrl->subnqn + off, id->mn, sizeof(id->mn));
	off += sizeof(id->mn);
	memset(ctrl->subnqn + off, 0, NVMF_NQN_SIZE - off);
}

/*
 * The transfer limit: MDTS (as 1 << @max_shift bytes), and what the DMA
 * layer maps in one piece.  With bounce buffering (swiotlb, forced in
 * confidential guests) a mapping larger than a bounce slot fails, and
 * the optimal size keeps IOMMU mappings within the IOVA caches.
 */
static u32 cnvme_dma_max_sectors(struct cnvme_ctrl *ctrl, u32 max_shift)
{
	size_t bytes = (size_t)1 << max_shift;

	bytes = min(bytes, dma_max_mapping_size(ctrl->dev));
	bytes = min(bytes, dma_opt_mapping_size(ctrl->dev));
	bytes = round_down(bytes, CNVME_CTRL_PAGE_SIZE);
	return max_t(u32, bytes, CNVME_CTRL_PAGE_SIZE) >> SECTOR_SHIFT;
}

/* Passthrough commands may be as large as I/O: raise the admin limit. */
static int cnvme_admin_set_limits(struct cnvme_ctrl *ctrl)
{
	struct queue_limits lim = queue_limits_start_update(ctrl->admin_q);

	lim.max_hw_sectors = ctrl->max_hw_sectors;
	return queue_limits_commit_update(ctrl->admin_q, &lim);
}

/**
 * cnvme_admin_identify_ctrl - read and apply Identify Controller
 * @ctrl: the controller
 *
 * Sets the transfer limit (MDTS, capped by what cnvme's PRP lists can
 * describe) of the I/O and admin queues, the write cache flag, the
 * namespace count, the Abort limit (ACL), the Command Retry Delay Times,
 * the shutdown timeout (RTD3E), the identification strings and what sysfs
 * shows of the controller.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_admin_identify_ctrl(struct cnvme_ctrl *ctrl)
{
	struct nvme_id_ctrl *id;
	u32 max_shift = CNVME_MAX_XFER_SHIFT;
	unsigned long rtd3;
	int ret;

	id = cnvme_inject_alloc(ctrl, CNVME_FA_ADMIN_BUF) ? NULL :
		kzalloc(sizeof(*id), GFP_KERNEL);
	if (!id)
		return -ENOMEM;
	ret = cnvme_identify(ctrl, NVME_ID_CNS_CTRL, 0, id);
	if (ret) {
		dev_err(ctrl->dev, "Identify Controller failed: %d\n", ret);
		ret = ret > 0 ? -EIO : ret;
		goto out_free;
	}

	/* MDTS is a power of two in units of the minimum page size (4 KiB). */
	if (id->mdts)
		max_shift = min_t(u32, max_shift,
				  id->mdts + CNVME_CTRL_PAGE_SHIFT);
	ctrl->max_hw_sectors = cnvme_dma_max_sectors(ctrl, max_shift);
	ctrl->vwc_present = id->vwc & NVME_CTRL_VWC_PRESENT;
	ctrl->vwc = ctrl->vwc_present;
	ctrl->oncs = le16_to_cpu(id->oncs);
	ctrl->oacs = le16_to_cpu(id->oacs);
	ctrl->id_nn = le32_to_cpu(id->nn);
	/* ACL is zero based. */
	ctrl->abort_limit = id->acl + 1;
	ctrl->crdt[0] = le16_to_cpu(id->crdt1);
	ctrl->crdt[1] = le16_to_cpu(id->crdt2);
	ctrl->crdt[2] = le16_to_cpu(id->crdt3);

	rtd3 = usecs_to_jiffies(le32_to_cpu(id->rtd3e));
	ctrl->shutdown_timeout = clamp(rtd3, cnvme_shutdown_timeout * HZ,
				       60UL * HZ);

	cnvme_copy_id_string(ctrl->serial, id->sn, sizeof(id->sn));
	cnvme_copy_id_string(ctrl->model, id->mn, sizeof(id->mn));
	cnvme_copy_id_string(ctrl->firmware_rev, id->fr, sizeof(id->fr));
	memcpy(ctrl->id_sn, id->sn, sizeof(ctrl->id_sn));
	memcpy(ctrl->id_mn, id->mn, sizeof(ctrl->id_mn));
	memcpy(ctrl->id_fr, id->fr, sizeof(ctrl->id_fr));
	ctrl->vid = le16_to_cpu(id->vid);
	ctrl->ssvid = le16_to_cpu(id->ssvid);
	ctrl->cntlid = le16_to_cpu(id->cntlid);
	ctrl->cmic = id->cmic;
	ctrl->cntrltype = id->cntrltype;
	ctrl->lpa = id->lpa;
	ctrl->oaes = le32_to_cpu(id->oaes);
	/*
	 * AERL is zero based.  One of the controller's slots is left to a
	 * user's own Asynchronous Event Request (passthrough), which would
	 * otherwise fail with AER Limit Exceeded; with AERL 0 there is none
	 * to spare and cnvme takes the one.
	 */
	ctrl->aer_limit = clamp_t(unsigned int, id->aerl, 1, CNVME_AER_MAX);
	/* Byte or dword aligned SGLs (io.c keeps data dword aligned). */
	ctrl->sgls = le32_to_cpu(id->sgls) & 0x3;
	cnvme_init_subnqn(ctrl, id);

	ret = cnvme_admin_set_limits(ctrl);
out_free:
	kfree(id);
	return ret;
}

/**
 * cnvme_admin_identify_nvm - read the NVM command set limits
 * @ctrl: the controller
 *
 * Identify CNS 06h (NVMe 2.0, also offered by some 1.4 controllers)
 * reports the Dataset Management and Write Zeroes limits.  A controller
 * that does not know it keeps the limits unreported, which is not an
 * error.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_admin_identify_nvm(struct cnvme_ctrl *ctrl)
{
	struct nvme_command cmd = { };
	struct nvme_id_ctrl_nvm *id;
	int ret;

	if (!(ctrl->oncs & (NVME_CTRL_ONCS_DSM | NVME_CTRL_ONCS_WRITE_ZEROES)))
		return 0;
	id = kzalloc(sizeof(*id), GFP_KERNEL);
	if (!id)
		return -ENOMEM;
	cmd.identify.opcode = nvme_admin_identify;
	cmd.identify.cns = NVME_ID_CNS_CS_CTRL;
	cmd.identify.csi = NVME_CSI_NVM;
	ret = cnvme_admin_exec(ctrl, &cmd, id, sizeof(*id), NULL);
	if (!ret) {
		ctrl->dmrl = id->dmrl;
		ctrl->dmrsl = le32_to_cpu(id->dmrsl);
		ctrl->wzsl = id->wzsl;
	}
	kfree(id);
	return ret < 0 ? ret : 0;
}

/**
 * cnvme_admin_effects - learn which commands exist and what they change
 * @ctrl: the controller, identified
 *
 * Reads the Commands Supported and Effects log when Identify Controller
 * says there is one; else every command counts as unsupported, which
 * leaves passthrough to CAP_SYS_ADMIN.  Effects the specification gives
 * some commands are added either way: Format NVM and Sanitize change
 * logical blocks and need exclusive access, Write, Write Zeroes and Write
 * Uncorrectable change logical blocks.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_admin_effects(struct cnvme_ctrl *ctrl)
{
	struct nvme_effects_log *log;
	struct nvme_command cmd = { };
	u32 numd = sizeof(*log) / sizeof(u32) - 1;
	int ret;

	log = cnvme_inject_alloc(ctrl, CNVME_FA_ADMIN_BUF) ? NULL :
		kzalloc(sizeof(*log), GFP_KERNEL);
	if (!log)
		return -ENOMEM;
	if (ctrl->lpa & NVME_CTRL_LPA_CMD_EFFECTS_LOG) {
		cmd.get_log_page.opcode = nvme_admin_get_log_page;
		cmd.get_log_page.lid = NVME_LOG_CMD_EFFECTS;
		cmd.get_log_page.numdl = cpu_to_le16(numd & 0xffff);
		cmd.get_log_page.numdu = cpu_to_le16(numd >> 16);
		cmd.get_log_page.csi = NVME_CSI_NVM;
		ret = cnvme_admin_exec(ctrl, &cmd, log, sizeof(*log), NULL);
		if (ret < 0) {
			kfree(log);
			return ret;
		}
		if (ret) {
			dev_warn(ctrl->dev, "Commands Supported and Effects log failed: %#x\n",
				 ret);
			memset(log, 0, sizeof(*log));
		}
	}

	log->acs[nvme_admin_format_nvm] |=
		cpu_to_le32(NVME_CMD_EFFECTS_LBCC | NVME_CMD_EFFECTS_NCC |
			    NVME_CMD_EFFECTS_CSE_MASK);
	log->acs[nvme_admin_sanitize_nvm] |=
		cpu_to_le32(NVME_CMD_EFFECTS_LBCC | NVME_CMD_EFFECTS_CSE_MASK);
	/* Exclusivity would not help Security Receive: admin queue only. */
	log->acs[nvme_admin_security_recv] &=
		cpu_to_le32(~NVME_CMD_EFFECTS_CSE_MASK);
	log->iocs[nvme_cmd_write] |= cpu_to_le32(NVME_CMD_EFFECTS_LBCC);
	log->iocs[nvme_cmd_write_zeroes] |= cpu_to_le32(NVME_CMD_EFFECTS_LBCC);
	log->iocs[nvme_cmd_write_uncor] |= cpu_to_le32(NVME_CMD_EFFECTS_LBCC);
	ctrl->effects = log;
	return 0;
}

/**
 * cnvme_admin_read_vwc - is the volatile write cache actually enabled?
 * @ctrl: the controller, with @ctrl->vwc from Identify Controller
 *
 * VWC in Identify Controller only says a cache exists; Get Features
 * (Volatile Write Cache) says whether it is on.  With the cache off every
 * completed write is stable, so flushes and FUA would only cost time:
 * the disks then report write through.  If the feature cannot be read
 * the cache is assumed on, which is always safe.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_admin_read_vwc(struct cnvme_ctrl *ctrl)
{
	struct nvme_command cmd = { };
	union nvme_result res;
	bool on;
	int ret;

	if (!ctrl->vwc_present) {
		ctrl->vwc = false;
		return 0;
	}
	cmd.features.opcode = nvme_admin_get_features;
	cmd.features.fid = cpu_to_le32(NVME_FEAT_VOLATILE_WC);
	ret = cnvme_admin_exec(ctrl, &cmd, NULL, 0, &res);
	if (ret < 0)
		return ret;
	on = ret || (le32_to_cpu(res.u32) & 1);
	if (on != ctrl->vwc)
		dev_info(ctrl->dev, "volatile write cache is %s\n",
			 on ? "enabled: flush and FUA are sent" :
			 "disabled: no flush or FUA needed");
	WRITE_ONCE(ctrl->vwc, on);
	return 0;
}

/**
 * cnvme_ctrl_vwc_changed - the volatile write cache may have been switched
 * @ctrl: the controller, live
 *
 * Called after every controller reset and after every successful Set
 * Features (Volatile Write Cache) a user sent through passthrough: reads
 * the feature again and makes every namespace's disk report write back
 * (flush and FUA are sent) or write through (they are not) to match.  A
 * feature that cannot be read counts as enabled, which is always safe.
 *
 * Context: process context, no locks held.
 */
void cnvme_ctrl_vwc_changed(struct cnvme_ctrl *ctrl)
{
	const blk_features_t wc = BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA;
	struct cnvme_ns *ns;
	bool on;

	if (cnvme_admin_read_vwc(ctrl) < 0)
		WRITE_ONCE(ctrl->vwc, ctrl->vwc_present);
	on = READ_ONCE(ctrl->vwc);

	mutex_lock(&ctrl->ns_lock);
	list_for_each_entry(ns, &ctrl->namespaces, list) {
		struct request_queue *q = ns->disk->queue;
		struct queue_limits lim;

		if (!!(q->limits.features & BLK_FEAT_WRITE_CACHE) == on)
			continue;
		lim = queue_limits_start_update(q);
		if (on)
			lim.features |= wc;
		else
			lim.features &= ~wc;
		/* Only the features change: a freeze is not needed. */
		if (queue_limits_commit_update(q, &lim))
			dev_warn(ctrl->dev, "nsid %u: cannot update the write cache setting\n",
				 ns->nsid);
	}
	mutex_unlock(&ctrl->ns_lock);
}

/**
 * cnvme_admin_user_done - a user's admin command succeeded
 * @ctrl: the controller
 * @cmd: the command as the user sent it
 *
 * Follows what the command changed behind the driver's back: a Set
 * Features of the Volatile Write Cache switches flush and FUA on or off.
 *
 * Context: process context, no locks held.
 */
void cnvme_admin_user_done(struct cnvme_ctrl *ctrl,
			   const struct nvme_command *cmd)
{
	if (cmd->common.opcode == nvme_admin_set_features &&
	    (le32_to_cpu(cmd->features.fid) & 0xff) == NVME_FEAT_VOLATILE_WC)
		cnvme_ctrl_vwc_changed(ctrl);
}

/**
 * cnvme_set_host_behavior - let the controller ask for retry delays
 * @ctrl: the controller, with a live admin queue
 *
 * With Advanced Command Retry Enable set in Host Behavior Support, a
 * controller that reports Command Retry Delay Times may ask in a failed
 * command's CRD field that the retry wait that long.  Controllers without
 * CRDT are left alone.  The setting does not survive a controller reset,
 * so every reset sets it again.  A controller that refuses it is fine:
 * retries then simply do not wait.
 *
 * Return: 0, or a negative errno when the admin queue does not work.
 */
int cnvme_set_host_behavior(struct cnvme_ctrl *ctrl)
{
	struct nvme_feat_host_behavior *hb;
	struct nvme_command cmd = { };
	int ret;

	if (!ctrl->crdt[0] && !ctrl->crdt[1] && !ctrl->crdt[2])
		return 0;
	hb = kzalloc(sizeof(*hb), GFP_KERNEL);
	if (!hb)
		return -ENOMEM;
	hb->acre = NVME_ENABLE_ACRE;
	cmd.features.opcode = nvme_admin_set_features;
	cmd.features.fid = cpu_to_le32(NVME_FEAT_HOST_BEHAVIOR);
	ret = cnvme_admin_exec(ctrl, &cmd, hb, sizeof(*hb), NULL);
	kfree(hb);
	if (ret > 0) {
		dev_warn(ctrl->dev, "Host Behavior Support refused (status %#x): retries will not wait\n",
			 ret);
		ret = 0;
	}
	return ret;
}

static int cnvme_set_queue_count(struct cnvme_ctrl *ctrl, unsigned int *count)
{
	struct nvme_command cmd = { };
	union nvme_result res;
	u32 want = *count - 1;
	u32 val;
	int ret;

	cmd.features.opcode = nvme_admin_set_features;
	cmd.features.fid = cpu_to_le32(NVME_FEAT_NUM_QUEUES);
	cmd.features.dword11 = cpu_to_le32(want | want << 16);
	ret = cnvme_admin_exec(ctrl, &cmd, NULL, 0, &res);
	if (ret) {
		dev_err(ctrl->dev, "Set Features (Number of Queues) failed: %d\n",
			ret);
		return ret > 0 ? -EIO : ret;
	}
	/* Both counts are zero based; the smaller one bounds the pairs. */
	val = le32_to_cpu(res.u32);
	*count = min(*count, min(val & 0xffff, val >> 16) + 1);
	return 0;
}

static int cnvme_create_cq(struct cnvme_ctrl *ctrl, struct cnvme_queue *q)
{
	struct nvme_command cmd = { };

	cmd.create_cq.opcode = nvme_admin_create_cq;
	cmd.create_cq.prp1 = cpu_to_le64(q->cq_dma_addr);
	cmd.create_cq.cqid = cpu_to_le16(q->qid);
	cmd.create_cq.qsize = cpu_to_le16(q->depth - 1);
	if (test_bit(CNVME_Q_POLLED, &q->flags)) {
		cmd.create_cq.cq_flags = cpu_to_le16(NVME_QUEUE_PHYS_CONTIG);
	} else {
		cmd.create_cq.cq_flags = cpu_to_le16(NVME_QUEUE_PHYS_CONTIG |
						     NVME_CQ_IRQ_ENABLED);
		cmd.create_cq.irq_vector = cpu_to_le16(q->cq_vector);
	}
	return cnvme_admin_exec(ctrl, &cmd, NULL, 0, NULL);
}

static int cnvme_create_sq(struct cnvme_ctrl *ctrl, struct cnvme_queue *q)
{
	struct nvme_command cmd = { };

	cmd.create_sq.opcode = nvme_admin_create_sq;
	cmd.create_sq.prp1 = cpu_to_le64(q->sq_dma_addr);
	cmd.create_sq.sqid = cpu_to_le16(q->qid);
	cmd.create_sq.qsize = cpu_to_le16(q->depth - 1);
	cmd.create_sq.sq_flags = cpu_to_le16(NVME_QUEUE_PHYS_CONTIG |
					     NVME_SQ_PRIO_MEDIUM);
	cmd.create_sq.cqid = cpu_to_le16(q->qid);
	return cnvme_admin_exec(ctrl, &cmd, NULL, 0, NULL);
}

static int cnvme_delete_queue(struct cnvme_ctrl *ctrl, u8 opcode, u16 qid)
{
	struct nvme_command cmd = { };

	cmd.delete_queue.opcode = opcode;
	cmd.delete_queue.qid = cpu_to_le16(qid);
	return cnvme_admin_exec(ctrl, &cmd, NULL, 0, NULL);
}

/* Bring up I/O queue @qid on the device; undone by cnvme_io_queue_down(). */
static int cnvme_io_queue_up(struct cnvme_ctrl *ctrl, u16 qid, u16 vector,
			     bool polled)
{
	struct cnvme_queue *q = &ctrl->queues[qid];
	int ret;

	ret = cnvme_q_alloc(ctrl, qid, ctrl->q_depth);
	if (ret)
		return ret;
	cnvme_q_init(q, vector, polled);

	ret = cnvme_create_cq(ctrl, q);
	if (ret)
		goto out_free;
	ret = cnvme_create_sq(ctrl, q);
	if (ret)
		goto out_delete_cq;
	ret = cnvme_q_request_irq(q);
	if (ret)
		goto out_delete_sq;
	set_bit(CNVME_Q_LIVE, &q->flags);
	return 0;

out_delete_sq:
	cnvme_delete_queue(ctrl, nvme_admin_delete_sq, qid);
out_delete_cq:
	cnvme_delete_queue(ctrl, nvme_admin_delete_cq, qid);
out_free:
	cnvme_q_free(ctrl, qid);
	dev_err(ctrl->dev, "cannot create I/O queue %u: %d\n", qid, ret);
	return ret > 0 ? -EIO : ret;
}

static void cnvme_io_queue_down(struct cnvme_ctrl *ctrl, u16 qid)
{
	struct cnvme_queue *q = &ctrl->queues[qid];

	cnvme_q_suspend(q);
	cnvme_q_free_irq(q);
	cnvme_q_free(ctrl, qid);
}

/*
 * With write_queues set, the interrupt-driven queues form two sets, each
 * spread over all CPUs: the default map (which gets the writes) and the
 * read map.  Called back by the IRQ core with the vectors it could get.
 */
static void cnvme_calc_irq_sets(struct irq_affinity *affd, unsigned int nvecs)
{
	struct cnvme_ctrl *ctrl = affd->priv;
	unsigned int writes = min(cnvme_write_queues, nvecs - 1);

	if (!writes || nvecs < 2) {
		affd->nr_sets = 1;
		affd->set_size[0] = nvecs;
		ctrl->io_queues[HCTX_TYPE_READ] = 0;
		return;
	}
	affd->nr_sets = 2;
	affd->set_size[0] = writes;
	affd->set_size[1] = nvecs - writes;
	ctrl->io_queues[HCTX_TYPE_READ] = nvecs - writes;
}

/*
 * Size the interrupt vectors for @nr_irq interrupt-driven I/O queues plus
 * the admin queue, spreading the I/O vectors over the CPUs.  Vector 0
 * stays unmanaged for the admin queue.  MSI-X is preferred, then MSI,
 * then INTx; with a single vector the one I/O queue shares it with the
 * admin queue.  Fills io_queues[DEFAULT] and io_queues[READ].
 */
static int cnvme_setup_vectors(struct cnvme_ctrl *ctrl, unsigned int nr_irq)
{
	struct irq_affinity affd = {
		.pre_vectors	= 1,
		.calc_sets	= cnvme_calc_irq_sets,
		.priv		= ctrl,
	};
	struct cnvme_queue *adminq = &ctrl->queues[0];
	int vecs, ret;

	cnvme_q_suspend(adminq);
	cnvme_q_free_irq(adminq);
	pci_free_irq_vectors(ctrl->pdev);

	ctrl->io_queues[HCTX_TYPE_READ] = 0;
	/*
	 * The admin vector is gone by now: a failure here must leave the
	 * admin queue without an interrupt to free, which fail_alloc
	 * "vectors" shows.
	 */
	vecs = cnvme_inject_alloc(ctrl, CNVME_FA_VECTORS) ? -ENOMEM :
		pci_alloc_irq_vectors_affinity(ctrl->pdev, 1, nr_irq + 1,
					       PCI_IRQ_ALL_TYPES |
					       PCI_IRQ_AFFINITY, &affd);
	if (vecs < 0) {
		dev_err(ctrl->dev, "cannot allocate interrupt vectors: %d\n",
			vecs);
		ctrl->nr_vecs = 0;
		return vecs;
	}
	ctrl->nr_vecs = vecs;
	if (vecs == 1)
		ctrl->io_queues[HCTX_TYPE_READ] = 0;
	ctrl->io_queues[HCTX_TYPE_DEFAULT] = vecs > 1 ?
		vecs - 1 - ctrl->io_queues[HCTX_TYPE_READ] : 1;

	adminq->cq_vector = 0;
	ret = cnvme_q_request_irq(adminq);
	if (ret) {
		dev_err(ctrl->dev, "cannot request the admin interrupt: %d\n",
			ret);
		return ret;
	}
	set_bit(CNVME_Q_LIVE, &adminq->flags);
	return 0;
}

static int cnvme_alloc_tagset(struct cnvme_ctrl *ctrl)
{
	struct blk_mq_tag_set *set = &ctrl->tagset;
	int ret;

	set->ops = &cnvme_mq_ops;
	set->nr_hw_queues = ctrl->nr_io_queues;
	if (ctrl->io_queues[HCTX_TYPE_POLL])
		set->nr_maps = HCTX_MAX_TYPES;
	else if (ctrl->io_queues[HCTX_TYPE_READ])
		set->nr_maps = HCTX_TYPE_READ + 1;
	else
		set->nr_maps = 1;
	set->queue_depth = min_t(u32, ctrl->q_depth - 1, BLK_MQ_MAX_DEPTH);
	set->timeout = cnvme_io_timeout * HZ;
	set->numa_node = dev_to_node(ctrl->dev);
	set->cmd_size = sizeof(struct cnvme_iod);
	set->flags = BLK_MQ_F_SHOULD_MERGE;
	set->driver_data = ctrl;
	ret = cnvme_inject_alloc(ctrl, CNVME_FA_TAGSET) ? -ENOMEM :
		blk_mq_alloc_tag_set(set);
	if (ret) {
		dev_err(ctrl->dev, "cannot allocate the I/O tag set: %d\n", ret);
		return ret;
	}
	ctrl->tagset_ready = true;
	return 0;
}

/**
 * cnvme_dbbuf_init - set up the shadow doorbell buffer
 * @ctrl: the controller, with a live admin queue and no I/O queues yet
 *
 * With Doorbell Buffer Config (OACS bit 8) the driver writes doorbell
 * values to host memory and touches the MMIO doorbell only when the
 * controller's event index says it is waiting for one, which saves most
 * doorbell writes (each a VM exit on an emulated controller).  Failure is
 * not an error: the MMIO doorbells always work.
 */
static void cnvme_dbbuf_init(struct cnvme_ctrl *ctrl)
{
	struct nvme_command cmd = { };
	size_t size;

	if (!(ctrl->oacs & NVME_CTRL_OACS_DBBUF_SUPP))
		return;
	/*
	 * A pin-based interrupt is a level, which the controller lowers
	 * when an MMIO CQ head doorbell shows the queue drained.  Shadow
	 * CQ heads skip most of those writes and can leave the line up
	 * over an empty queue: an interrupt storm that ends in "nobody
	 * cared" (QEMU's controller does this).  MSI and MSI-X are edges.
	 */
	if (!ctrl->pdev->msix_enabled && !ctrl->pdev->msi_enabled)
		return;
	size = (size_t)(cnvme_max_io_queues() + 1) * 2 * ctrl->db_stride *
	       sizeof(__le32);
	size = round_up(size, CNVME_CTRL_PAGE_SIZE);
	if (!ctrl->dbbuf_dbs) {
		if (cnvme_inject_alloc(ctrl, CNVME_FA_DBBUF))
			return;
		ctrl->dbbuf_dbs = dma_alloc_coherent(ctrl->dev, size,
						     &ctrl->dbbuf_dbs_dma,
						     GFP_KERNEL);
		if (!ctrl->dbbuf_dbs)
			return;
		ctrl->dbbuf_eis = dma_alloc_coherent(ctrl->dev, size,
						     &ctrl->dbbuf_eis_dma,
						     GFP_KERNEL);
		if (!ctrl->dbbuf_eis)
			goto out_free;
		ctrl->dbbuf_size = size;
	}

	/* Both buffers are page aligned: PRP1 and PRP2 each name one. */
	cmd.dbbuf.opcode = nvme_admin_dbbuf;
	cmd.dbbuf.prp1 = cpu_to_le64(ctrl->dbbuf_dbs_dma);
	cmd.dbbuf.prp2 = cpu_to_le64(ctrl->dbbuf_eis_dma);
	if (!cnvme_admin_exec(ctrl, &cmd, NULL, 0, NULL))
		return;
	dev_info(ctrl->dev, "Doorbell Buffer Config failed, using MMIO doorbells\n");
	cnvme_dbbuf_free(ctrl);
	return;

out_free:
	dma_free_coherent(ctrl->dev, size, ctrl->dbbuf_dbs, ctrl->dbbuf_dbs_dma);
	ctrl->dbbuf_dbs = NULL;
}

/**
 * cnvme_dbbuf_free - release the shadow doorbell buffer
 * @ctrl: the controller, whose I/O queues no longer use it
 */
void cnvme_dbbuf_free(struct cnvme_ctrl *ctrl)
{
	unsigned int qid;

	if (!ctrl->dbbuf_dbs)
		return;
	/* No queue keeps pointing into the buffers until cnvme_q_init(). */
	for (qid = 1; qid <= ctrl->nr_io_queues; qid++) {
		struct cnvme_queue *q = &ctrl->queues[qid];

		q->dbbuf_sq_db = NULL;
		q->dbbuf_sq_ei = NULL;
		q->dbbuf_cq_db = NULL;
		q->dbbuf_cq_ei = NULL;
	}
	dma_free_coherent(ctrl->dev, ctrl->dbbuf_size, ctrl->dbbuf_dbs,
			  ctrl->dbbuf_dbs_dma);
	dma_free_coherent(ctrl->dev, ctrl->dbbuf_size, ctrl->dbbuf_eis,
			  ctrl->dbbuf_eis_dma);
	ctrl->dbbuf_dbs = NULL;
	ctrl->dbbuf_eis = NULL;
}

/**
 * cnvme_io_queues_create - negotiate, create and wire up the I/O queues
 * @ctrl: the controller, enabled, with a live admin queue
 *
 * One interrupt-driven queue per possible CPU plus write_queues more for
 * a separate read map, and poll_queues polled queues, all bounded by what
 * the controller grants, by the interrupt vectors available and by the
 * doorbells mapped.  Queue ids follow the blk-mq maps: default, read,
 * poll.
 *
 * Return: 0 or a negative errno; on error the I/O queues are gone again
 * (the interrupt vectors stay allocated, the caller frees them).
 */
int cnvme_io_queues_create(struct cnvme_ctrl *ctrl)
{
	unsigned int max_db = (ctrl->bar_size - NVME_REG_DBS) /
			      (2 * ctrl->db_stride * sizeof(u32)) - 1;
	unsigned int nr = min(cnvme_max_io_queues(), max_db);
	unsigned int nr_irq, nr_poll, qid, vector;
	int ret;

	if (!nr) {
		dev_err(ctrl->dev, "BAR0 has no room for I/O doorbells\n");
		return -ENODEV;
	}
	ret = cnvme_set_queue_count(ctrl, &nr);
	if (ret)
		return ret;

	/* At least one queue must take interrupts. */
	nr_poll = min(cnvme_poll_queues, nr - 1);
	nr_irq = nr - nr_poll;
	ret = cnvme_setup_vectors(ctrl, nr_irq);
	if (ret)
		return ret;
	nr_irq = ctrl->io_queues[HCTX_TYPE_DEFAULT] +
		 ctrl->io_queues[HCTX_TYPE_READ];
	ctrl->io_queues[HCTX_TYPE_POLL] = nr_poll;
	cnvme_dbbuf_init(ctrl);
	cnvme_cmb_map_sqs(ctrl, nr_irq + nr_poll);

	for (qid = 1; qid <= nr_irq + nr_poll; qid++) {
		bool polled = qid > nr_irq;

		vector = ctrl->nr_vecs > 1 ? qid : 0;
		ret = cnvme_io_queue_up(ctrl, qid, vector, polled);
		if (ret && qid == 1 && ctrl->cmb) {
			/* The first SQ in the CMB failed: host memory works. */
			dev_warn(ctrl->dev, "I/O SQ in the CMB refused, moving the SQs to host memory\n");
			cnvme_cmb_unmap(ctrl);
			ret = cnvme_io_queue_up(ctrl, qid, vector, polled);
		}
		if (ret)
			goto out_down;
		ctrl->nr_io_queues = qid;
	}

	ret = cnvme_alloc_tagset(ctrl);
	if (ret)
		goto out_down;
	return 0;

out_down:
	cnvme_io_queues_delete(ctrl);
	cnvme_io_queues_free(ctrl);
	return ret;
}

/**
 * cnvme_io_queues_recreate - create the I/O queues again after a reset
 * @ctrl: the controller, enabled, with a live admin queue
 *
 * The host side (rings, vectors, handlers, tag set) survived the reset;
 * only the device lost the queues.  Each ring starts empty again.  The
 * queues are not marked live here: the caller does that once it knows the
 * controller was not declared dead meanwhile.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_io_queues_recreate(struct cnvme_ctrl *ctrl)
{
	unsigned int nr = ctrl->nr_io_queues;
	unsigned int qid;
	int ret;

	ret = cnvme_set_queue_count(ctrl, &nr);
	if (ret)
		return ret;
	if (nr < ctrl->nr_io_queues) {
		dev_err(ctrl->dev, "controller now grants %u I/O queues, %u are in use\n",
			nr, ctrl->nr_io_queues);
		return -EIO;
	}
	/* The reset forgot the doorbell buffer: configure it again. */
	cnvme_dbbuf_init(ctrl);
	/* The SQs keep their place in the CMB; its address may be forgotten. */
	ret = cnvme_cmb_enable(ctrl);
	if (ret) {
		dev_err(ctrl->dev, "controller refused the CMB base address again\n");
		return ret;
	}

	for (qid = 1; qid <= ctrl->nr_io_queues; qid++) {
		struct cnvme_queue *q = &ctrl->queues[qid];

		cnvme_q_init(q, q->cq_vector,
			     test_bit(CNVME_Q_POLLED, &q->flags));
		ret = cnvme_create_cq(ctrl, q);
		if (!ret)
			ret = cnvme_create_sq(ctrl, q);
		if (ret) {
			dev_err(ctrl->dev, "cannot create I/O queue %u again: %d\n",
				qid, ret);
			return ret > 0 ? -EIO : ret;
		}
	}
	return 0;
}

/**
 * cnvme_io_queues_delete - delete the I/O queues on the device
 * @ctrl: the controller, with a live admin queue
 *
 * Each SQ goes before its CQ, as the specification requires.  Errors are
 * ignored: the controller is disabled or shut down next anyway.
 */
void cnvme_io_queues_delete(struct cnvme_ctrl *ctrl)
{
	unsigned int qid;

	for (qid = ctrl->nr_io_queues; qid >= 1; qid--) {
		if (cnvme_delete_queue(ctrl, nvme_admin_delete_sq, qid) < 0)
			return;
		if (cnvme_delete_queue(ctrl, nvme_admin_delete_cq, qid) < 0)
			return;
	}
}

/**
 * cnvme_io_queues_free - release host resources of the I/O queues
 * @ctrl: the controller, whose device side queues are gone
 *
 * Only where no namespace queue exists any more (probe's unwinding before
 * the scan, remove after cnvme_ns_remove_all()): the poll paths read the
 * rings without a lock for as long as a namespace queue maps them.
 */
void cnvme_io_queues_free(struct cnvme_ctrl *ctrl)
{
	unsigned int qid;

	if (ctrl->tagset_ready) {
		blk_mq_free_tag_set(&ctrl->tagset);
		ctrl->tagset_ready = false;
	}
	for (qid = ctrl->nr_io_queues; qid >= 1; qid--)
		cnvme_io_queue_down(ctrl, qid);
	ctrl->nr_io_queues = 0;
	memset(ctrl->io_queues, 0, sizeof(ctrl->io_queues));
	cnvme_dbbuf_free(ctrl);
	cnvme_cmb_unmap(ctrl);
}
