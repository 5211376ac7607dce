// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: namespaces and their gendisks.
 *
 * A scan walks the active namespace list and makes the disks match it:
 * new usable namespaces get a disk and a generic node, known ones get
 * their size refreshed (or are replaced when their format changed), and
 * namespaces that are no longer active lose theirs.  Scans are serialised
 * by &cnvme_ctrl.scan_lock; one may overlap a reset, whose quiesced
 * queues the namespaces added and removed meanwhile follow.
 */
#include <linux/blkdev.h>

#include "cnvme.h"

/* The namespace outlives del_gendisk() until the last opener is gone. */
static void cnvme_ns_free_disk(struct gendisk *disk)
{
	struct cnvme_ns *ns = disk->private_data;

	put_device(&ns->ctrl->ctrl_dev);
	kfree(ns);
}

static const struct block_device_operations cnvme_bdev_ops = {
	.owner		= THIS_MODULE,
	.ioctl		= cnvme_bdev_ioctl,
	.compat_ioctl	= blkdev_compat_ptr_ioctl,
	.free_disk	= cnvme_ns_free_disk,
};

/*
 * Decide whether cnvme can serve the namespace's current format.
 * Return: the LBA shift, or 0 after one warning when it cannot.
 */
static u8 cnvme_ns_lba_shift(struct cnvme_ctrl *ctrl, u32 nsid,
			     const struct nvme_id_ns *id)
{
	u8 idx = nvme_lbaf_index(id->flbas);
	u16 ms;
	u8 ds;

	if (idx > id->nlbaf) {
		dev_warn(ctrl->dev, "nsid %u: invalid LBA format index %u, skipped\n",
			 nsid, idx);
		return 0;
	}
	ds = id->lbaf[idx].ds;
	ms = le16_to_cpu(id->lbaf[idx].ms);
	if (ms) {
		dev_warn(ctrl->dev, "nsid %u: format with %u bytes of metadata per block is not supported, skipped\n",
			 nsid, ms);
		return 0;
	}
	if (ds < SECTOR_SHIFT || ds > min(PAGE_SHIFT, CNVME_CTRL_PAGE_SHIFT)) {
		dev_warn(ctrl->dev, "nsid %u: logical block size 2^%u is not supported, skipped\n",
			 nsid, ds);
		return 0;
	}
	return ds;
}

/*
 * Discard is Dataset Management (deallocate) with up to 256 ranges, each
 * range at most DMRSL blocks; Write Zeroes moves no data, so it is bounded
 * by WZSL when reported, else by MDTS, and always by the 16-bit block
 * count of the command.
 */
static void cnvme_ns_set_discard_limits(struct cnvme_ctrl *ctrl,
					struct cnvme_ns *ns,
					const struct nvme_id_ns *id,
					struct queue_limits *lim)
{
	u8 shift = ns->lba_shift;
	u64 sectors;

	if (ctrl->oncs & NVME_CTRL_ONCS_DSM) {
		sectors = ctrl->dmrsl ? (u64)ctrl->dmrsl << (shift - SECTOR_SHIFT) :
			  UINT_MAX;
		lim->max_hw_discard_sectors = min_t(u64, sectors, UINT_MAX);
		lim->max_discard_segments = ctrl->dmrl ?: NVME_DSM_MAX_RANGES;
		lim->discard_granularity = 1U << shift;
	}

	if (ctrl->oncs & NVME_CTRL_ONCS_WRITE_ZEROES) {
		sectors = ctrl->wzsl ?
			  1ULL << (ctrl->wzsl + CNVME_CTRL_PAGE_SHIFT - SECTOR_SHIFT) :
			  ctrl->max_hw_sectors;
		sectors = min_t(u64, sectors, ((u64)U16_MAX + 1) << (shift - SECTOR_SHIFT));
		lim->max_write_zeroes_sectors = sectors;
	}

	/* DLFEAT 001b: deallocated blocks read as zeroes; bit 3: DEAC works. */
	ns->deac = (id->dlfeat & 0x7) == 0x1 && (id->dlfeat & 0x8);
}

/*
 * The identifiers of a namespace: the descriptor list (NVMe 1.3) first,
 * then EUI-64 (1.1) and NGUID (1.2) from Identify Namespace where the
 * list left them empty.  Malformed descriptors are ignored.
 */
static void cnvme_ns_read_ids(struct cnvme_ctrl *ctrl, u32 nsid,
			      const struct nvme_id_ns *id,
			      struct cnvme_ns_ids *ids)
{
	unsigned int pos = 0;
	u8 *data;

	data = ctrl->vs >= NVME_VS(1, 3, 0) ?
	       kzalloc(NVME_IDENTIFY_DATA_SIZE, GFP_KERNEL) : NULL;
	if (data && !cnvme_identify(ctrl, NVME_ID_CNS_NS_DESC_LIST, nsid, data)) {
		while (pos + sizeof(struct nvme_ns_id_desc) <= NVME_IDENTIFY_DATA_SIZE) {
			struct nvme_ns_id_desc *d = (void *)(data + pos);
			u8 *val = data + pos + sizeof(*d);

			if (!d->nidl || pos + sizeof(*d) + d->nidl >
					NVME_IDENTIFY_DATA_SIZE)
				break;
			if (d->nidt == NVME_NIDT_EUI64 &&
			    d->nidl == NVME_NIDT_EUI64_LEN)
				memcpy(ids->eui64, val, sizeof(ids->eui64));
			else if (d->nidt == NVME_NIDT_NGUID &&
				 d->nidl == NVME_NIDT_NGUID_LEN)
				memcpy(ids->nguid, val, sizeof(ids->nguid));
			else if (d->nidt == NVME_NIDT_UUID &&
				 d->nidl == NVME_NIDT_UUID_LEN)
				memcpy(&ids->uuid, val, sizeof(ids->uuid));
			else if (d->nidt == NVME_NIDT_CSI &&
				 d->nidl == NVME_NIDT_CSI_LEN)
				ids->csi = *val;
			pos += sizeof(*d) + d->nidl;
		}
	}
	kfree(data);

	if (ctrl->vs >= NVME_VS(1, 1, 0) &&
	    !memchr_inv(ids->eui64, 0, sizeof(ids->eui64)))
		memcpy(ids->eui64, id->eui64, sizeof(ids->eui64));
	if (ctrl->vs >= NVME_VS(1, 2, 0) &&
	    !memchr_inv(ids->nguid, 0, sizeof(ids->nguid)))
		memcpy(ids->nguid, id->nguid, sizeof(ids->nguid));
}

static int cnvme_ns_add(struct cnvme_ctrl *ctrl, u32 nsid,
			const struct nvme_id_ns *id, u8 shift)
{
	struct queue_limits lim = {
		.max_hw_sectors		= ctrl->max_hw_sectors,
		.max_segments		= CNVME_MAX_SEGS,
		.virt_boundary_mask	= CNVME_CTRL_PAGE_SIZE - 1,
		/* PRP entries only need dword alignment of the first one. */
		.dma_alignment		= 3,
	};
	struct gendisk *disk;
	struct cnvme_ns *ns;
	int ret;

	ns = cnvme_inject_alloc(ctrl, CNVME_FA_NS) ? NULL :
		kzalloc_node(sizeof(*ns), GFP_KERNEL, dev_to_node(ctrl->dev));
	if (!ns)
		return -ENOMEM;
	ns->ctrl = ctrl;
	ns->nsid = nsid;
	ns->lba_shift = shift;
	ns->scan_gen = ctrl->scan_gen;
	ns->nuse = le64_to_cpu(id->nuse);
	ratelimit_state_init(&ns->nuse_rs, 5 * HZ, 1);
	ratelimit_set_flags(&ns->nuse_rs, RATELIMIT_MSG_ON_RELEASE);
	cnvme_ns_read_ids(ctrl, nsid, id, &ns->ids);
	/* Zoned and other command sets are not NVM: no plain disk for them. */
	if (ns->ids.csi != NVME_CSI_NVM) {
		dev_warn(ctrl->dev, "nsid %u: command set %u is not supported, skipped\n",
			 nsid, ns->ids.csi);
		kfree(ns);
		return 0;
	}

	lim.logical_block_size = 1U << shift;
	lim.physical_block_size = 1U << shift;
	lim.io_min = 1U << shift;
	if (ctrl->vwc)
		lim.features |= BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA;
	cnvme_ns_set_discard_limits(ctrl, ns, id, &lim);

	disk = blk_mq_alloc_disk(&ctrl->tagset, &lim, ns);
	if (IS_ERR(disk)) {
		kfree(ns);
		return PTR_ERR(disk);
	}
	disk->fops = &cnvme_bdev_ops;
	disk->private_data = ns;
	snprintf(disk->disk_name, DISK_NAME_LEN, "%s%dn%u", cnvme_names->ctrl,
		 ctrl->instance, nsid);
	set_capacity(disk, le64_to_cpu(id->nsze) << (shift - SECTOR_SHIFT));
	ns->disk = disk;

	/*
	 * Listed before it is added, quiesced if the others are: a reset
	 * that runs meanwhile then holds the partition scan's reads back
	 * until the controller is live again, instead of letting them hit
	 * queues that are being torn down or rebuilt.
	 */
	mutex_lock(&ctrl->ns_lock);
	if (ctrl->io_quiesced)
		blk_mq_quiesce_queue(disk->queue);
	list_add_tail(&ns->list, &ctrl->namespaces);
	mutex_unlock(&ctrl->ns_lock);

	/* The disk is a child of the controller device and keeps it. */
	get_device(&ctrl->ctrl_dev);
	ret = device_add_disk(&ctrl->ctrl_dev, disk, cnvme_ns_attr_groups);
	if (ret) {
		dev_err(ctrl->dev, "nsid %u: cannot add %s: %d\n", nsid,
			disk->disk_name, ret);
		goto out_unlist;
	}
	mutex_lock(&ctrl->ns_lock);
	ns->disk_added = true;
	mutex_unlock(&ctrl->ns_lock);
	ret = cnvme_ns_cdev_add(ns);
	if (ret)
		dev_warn(ctrl->dev, "nsid %u: no generic node: %d\n", nsid, ret);
	return 0;

out_unlist:
	mutex_lock(&ctrl->ns_lock);
	if (ctrl->io_quiesced)
		blk_mq_unquiesce_queue(disk->queue);
	list_del(&ns->list);
	mutex_unlock(&ctrl->ns_lock);
	/* free_disk runs only for disks that were added. */
	put_disk(disk);
	put_device(&ctrl->ctrl_dev);
	kfree(ns);
	return ret;
}

static struct cnvme_ns *cnvme_ns_find(struct cnvme_ctrl *ctrl, u32 nsid)
{
	struct cnvme_ns *ns, *found = NULL;

	mutex_lock(&ctrl->ns_lock);
	list_for_each_entry(ns, &ctrl->namespaces, list) {
		if (ns->nsid == nsid) {
			found = ns;
			break;
		}
	}
	mutex_unlock(&ctrl->ns_lock);
	return found;
}

/* Delete the namespace's nodes; its memory goes with the last opener. */
static void cnvme_ns_remove(struct cnvme_ctrl *ctrl, struct cnvme_ns *ns)
{
	mutex_lock(&ctrl->ns_lock);
	/* A quiesced queue would keep del_gendisk waiting forever. */
	if (ctrl->io_quiesced)
		blk_mq_unquiesce_queue(ns->disk->queue);
	list_del(&ns->list);
	mutex_unlock(&ctrl->ns_lock);
	cnvme_ns_cdev_del(ns);
	del_gendisk(ns->disk);
	put_disk(ns->disk);
}

/*
 * One active NSID: add a disk for a new usable namespace, refresh the
 * size of a known one, replace a known one whose format changed.  Each
 * namespace found usable is stamped with the scan's generation.
 */
static int cnvme_ns_validate(struct cnvme_ctrl *ctrl, u32 nsid)
{
	struct nvme_id_ns *id;
	struct cnvme_ns *ns;
	u8 shift;
	int ret;

	id = kzalloc(sizeof(*id), GFP_KERNEL);
	if (!id)
		return -ENOMEM;
	ns = cnvme_ns_find(ctrl, nsid);
	ret = cnvme_identify(ctrl, NVME_ID_CNS_NS, nsid, id);
	if (ret == NVME_SC_HOST_ABORTED_CMD) {
		/* A reset cancelled it: the scan after the reset takes over. */
		ret = -EINTR;
		goto out_free_id;
	}
	if (ret) {
		/* The controller refused: keep what is known, skip the rest. */
		if (ret > 0) {
			if (ns)
				ns->scan_gen = ctrl->scan_gen;
			else
				dev_warn(ctrl->dev, "nsid %u: Identify Namespace failed: %d, skipped\n",
					 nsid, ret);
			ret = 0;
		}
		goto out_free_id;
	}
	/* An inactive namespace identifies as all zeroes. */
	if (!id->nsze)
		goto out_free_id;
	shift = cnvme_ns_lba_shift(ctrl, nsid, id);
	if (ns && shift == ns->lba_shift) {
		set_capacity_and_notify(ns->disk, le64_to_cpu(id->nsze) <<
					(shift - SECTOR_SHIFT));
		ns->scan_gen = ctrl->scan_gen;
		goto out_free_id;
	}
	if (ns)
		cnvme_ns_remove(ctrl, ns);
	if (shift)
		ret = cnvme_ns_add(ctrl, nsid, id, shift);
out_free_id:
	kfree(id);
	return ret;
}

/* Controllers before NVMe 1.1 have no active namespace list. */
static int cnvme_ns_scan_sequential(struct cnvme_ctrl *ctrl)
{
	u32 nsid;
	int ret;

	for (nsid = 1; nsid <= ctrl->id_nn; nsid++) {
		ret = cnvme_ns_validate(ctrl, nsid);
		if (ret)
			return ret;
	}
	return 0;
}

static int cnvme_ns_scan_list(struct cnvme_ctrl *ctrl)
{
	__le32 *list;
	u32 prev = 0;
	unsigned int i;
	int ret;

	list = kmalloc(NVME_IDENTIFY_DATA_SIZE, GFP_KERNEL);
	if (!list)
		return -ENOMEM;

	for (;;) {
		ret = cnvme_identify(ctrl, NVME_ID_CNS_NS_ACTIVE_LIST, prev,
				     list);
		/* Cancelled by a reset, not refused: no fallback scan. */
		if (ret == NVME_SC_HOST_ABORTED_CMD) {
			ret = -EINTR;
			break;
		}
		if (ret > 0 && !prev) {
			ret = cnvme_ns_scan_sequential(ctrl);
			break;
		}
		if (ret)
			break;
		for (i = 0; i < NVME_IDENTIFY_DATA_SIZE / sizeof(*list); i++) {
			u32 nsid = le32_to_cpu(list[i]);

			/* The list ascends; anything else ends it. */
			if (!nsid || nsid <= prev)
				goto out_free;
			ret = cnvme_ns_validate(ctrl, nsid);
			if (ret)
				goto out_free;
			prev = nsid;
		}
	}
out_free:
	kfree(list);
	return ret > 0 ? -EIO : ret;
}

/*
 * Both scans: take scan_lock and start a new scan generation, which the
 * namespaces found active get, so whatever keeps an older one is gone.
 * False, with the lock released, while the controller is resetting,
 * being removed or dead: there is nothing to scan then.
 */
static bool cnvme_ns_scan_begin(struct cnvme_ctrl *ctrl)
{
	enum cnvme_ctrl_state state;

	mutex_lock(&ctrl->scan_lock);
	state = READ_ONCE(ctrl->state);
	/*
	 * Only a live controller: during probe a user's rescan could add
	 * disks that a failing probe would never remove.
	 */
	if (state != CNVME_CTRL_LIVE) {
		mutex_unlock(&ctrl->scan_lock);
		return false;
	}
	ctrl->scan_gen++;
	return true;
}

/**
 * cnvme_ns_scan - make the disks match the controller's namespaces
 * @ctrl: the controller
 *
 * Runs while the controller is live (scan_work, a user's rescan, an
 * event); a no-op while it is new, resetting, being removed or dead.  A
 * namespace cnvme cannot serve is skipped with a warning; namespaces no
 * longer active lose their disk, but only after a scan that completed.
 * Only errors that leave the controller unusable (no memory, a dead admin
 * queue) fail the scan.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_ns_scan(struct cnvme_ctrl *ctrl)
{
	struct cnvme_ns *ns, *next;
	int ret;

	if (!cnvme_ns_scan_begin(ctrl))
		return 0;
	ret = cnvme_ns_scan_list(ctrl);
	if (ret)
		goto out_unlock;
	/*
	 * Membership changes only in the scans and in remove, under
	 * scan_lock.
	 */
	list_for_each_entry_safe(ns, next, &ctrl->namespaces, list)
		if (ns->scan_gen != ctrl->scan_gen)
			cnvme_ns_remove(ctrl, ns);
out_unlock:
	mutex_unlock(&ctrl->scan_lock);
	return ret;
}

/**
 * cnvme_ns_scan_changed - look again at the namespaces the controller named
 * @ctrl: the controller
 * @nsids: namespace identifiers, from the Changed Namespace List
 * @nr: entries in @nsids; a zero entry ends the list early
 *
 * The targeted form of cnvme_ns_scan(), for a Namespace Attribute Changed
 * event: each listed namespace that is active gets its disk added,
 * resized or replaced, each listed one that is no longer active loses its
 * disk, and the disks of the others are not touched, so their I/O goes
 * on undisturbed.  The same rules and locking as cnvme_ns_scan().
 *
 * Return: 0 or a negative errno; after an error the caller should fall
 * back to a full scan.
 */
int cnvme_ns_scan_changed(struct cnvme_ctrl *ctrl, const __le32 *nsids,
			  unsigned int nr)
{
	struct cnvme_ns *ns;
	unsigned int i;
	int ret = 0;

	if (!cnvme_ns_scan_begin(ctrl))
		return 0;
	for (i = 0; i < nr; i++) {
		u32 nsid = le32_to_cpu(nsids[i]);

		if (!nsid)
			break;
		ret = cnvme_ns_validate(ctrl, nsid);
		if (ret)
			break;
		ns = cnvme_ns_find(ctrl, nsid);
		if (ns && ns->scan_gen != ctrl->scan_gen)
			cnvme_ns_remove(ctrl, ns);
	}
	mutex_unlock(&ctrl->scan_lock);
	return ret;
}

/**
 * cnvme_ns_remove_all - delete every gendisk of the controller
 * @ctrl: the controller
 *
 * del_gendisk() waits for the I/O in flight; the controller must either
 * be able to complete it or have been declared dead, and no reset may be
 * running.
 */
void cnvme_ns_remove_all(struct cnvme_ctrl *ctrl)
{
	struct cnvme_ns *ns, *next;
	LIST_HEAD(victims);

	mutex_lock(&ctrl->ns_lock);
	/* A quiesced queue would keep del_gendisk waiting forever. */
	if (ctrl->io_quiesced)
		list_for_each_entry(ns, &ctrl->namespaces, list)
			blk_mq_unquiesce_queue(ns->disk->queue);
	list_splice_init(&ctrl->namespaces, &victims);
	mutex_unlock(&ctrl->ns_lock);

	list_for_each_entry_safe(ns, next, &victims, list) {
		list_del(&ns->list);
		cnvme_ns_cdev_del(ns);
		del_gendisk(ns->disk);
		put_disk(ns->disk);
	}
}

/**
 * cnvme_ns_mark_dead - make new I/O to every namespace fail at once
 * @ctrl: the controller
 */
void cnvme_ns_mark_dead(struct cnvme_ctrl *ctrl)
{
	struct cnvme_ns *ns;

	mutex_lock(&ctrl->ns_lock);
	list_for_each_entry(ns, &ctrl->namespaces, list)
		if (ns->disk_added)
			blk_mark_disk_dead(ns->disk);
	mutex_unlock(&ctrl->ns_lock);
}

/**
 * cnvme_ns_update_nuse - refresh Namespace Utilization for sysfs
 * @ns: the namespace
 *
 * At most one Identify every five seconds; in between the last value
 * stands.
 *
 * Return: as cnvme_admin_exec().
 */
int cnvme_ns_update_nuse(struct cnvme_ns *ns)
{
	struct nvme_id_ns *id;
	int ret;

	if (!__ratelimit(&ns->nuse_rs))
		return 0;
	id = kzalloc(sizeof(*id), GFP_KERNEL);
	if (!id)
		return -ENOMEM;
	ret = cnvme_identify(ns->ctrl, NVME_ID_CNS_NS, ns->nsid, id);
	if (!ret)
		WRITE_ONCE(ns->nuse, le64_to_cpu(id->nuse));
	kfree(id);
	return ret;
}
