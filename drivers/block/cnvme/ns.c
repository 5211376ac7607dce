// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: namespaces and their gendisks.
 */
#include <linux/blkdev.h>

#include "cnvme.h"

static ssize_t nsid_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct cnvme_ns *ns = dev_to_disk(dev)->private_data;

	return sysfs_emit(buf, "%u\n", ns->nsid);
}
static DEVICE_ATTR_RO(nsid);

static struct attribute *cnvme_ns_attrs[] = {
	&dev_attr_nsid.attr,
	NULL,
};
ATTRIBUTE_GROUPS(cnvme_ns);

/* The namespace outlives del_gendisk() until the last opener is gone. */
static void cnvme_ns_free_disk(struct gendisk *disk)
{
	kfree(disk->private_data);
}

static const struct block_device_operations cnvme_bdev_ops = {
	.owner		= THIS_MODULE,
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

static int cnvme_ns_add(struct cnvme_ctrl *ctrl, u32 nsid)
{
	struct queue_limits lim = {
		.max_hw_sectors		= ctrl->max_hw_sectors,
		.max_segments		= CNVME_MAX_SEGS,
		.virt_boundary_mask	= CNVME_CTRL_PAGE_SIZE - 1,
		/* PRP entries only need dword alignment of the first one. */
		.dma_alignment		= 3,
	};
	struct nvme_id_ns *id;
	struct gendisk *disk;
	struct cnvme_ns *ns;
	u8 shift;
	int ret;

	id = kzalloc(sizeof(*id), GFP_KERNEL);
	if (!id)
		return -ENOMEM;
	ret = cnvme_identify(ctrl, NVME_ID_CNS_NS, nsid, id);
	if (ret) {
		dev_warn(ctrl->dev, "nsid %u: Identify Namespace failed: %d, skipped\n",
			 nsid, ret);
		ret = ret > 0 ? 0 : ret;
		goto out_free_id;
	}
	/* An inactive namespace identifies as all zeroes. */
	if (!id->nsze)
		goto out_free_id;
	shift = cnvme_ns_lba_shift(ctrl, nsid, id);
	if (!shift)
		goto out_free_id;

	ns = kzalloc_node(sizeof(*ns), GFP_KERNEL, dev_to_node(ctrl->dev));
	if (!ns) {
		ret = -ENOMEM;
		goto out_free_id;
	}
	ns->ctrl = ctrl;
	ns->nsid = nsid;
	ns->lba_shift = shift;

	lim.logical_block_size = 1U << shift;
	lim.physical_block_size = 1U << shift;
	lim.io_min = 1U << shift;
	if (ctrl->vwc)
		lim.features |= BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA;
	cnvme_ns_set_discard_limits(ctrl, ns, id, &lim);

	disk = blk_mq_alloc_disk(&ctrl->tagset, &lim, ns);
	if (IS_ERR(disk)) {
		ret = PTR_ERR(disk);
		kfree(ns);
		goto out_free_id;
	}
	disk->fops = &cnvme_bdev_ops;
	disk->private_data = ns;
	snprintf(disk->disk_name, DISK_NAME_LEN, "nvme%dn%u", ctrl->instance,
		 nsid);
	set_capacity(disk, le64_to_cpu(id->nsze) << (shift - SECTOR_SHIFT));
	ns->disk = disk;

	ret = device_add_disk(ctrl->dev, disk, cnvme_ns_groups);
	if (ret) {
		dev_err(ctrl->dev, "nsid %u: cannot add %s: %d\n", nsid,
			disk->disk_name, ret);
		/* free_disk frees @ns once the disk is put. */
		put_disk(disk);
		goto out_free_id;
	}

	mutex_lock(&ctrl->ns_lock);
	/* Every listed namespace is quiesced exactly when the others are. */
	if (ctrl->io_quiesced)
		blk_mq_quiesce_queue(disk->queue);
	list_add_tail(&ns->list, &ctrl->namespaces);
	mutex_unlock(&ctrl->ns_lock);
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
		ret = cnvme_ns_add(ctrl, nsid);
		if (ret)
			return ret;
	}
	return 0;
}

/**
 * cnvme_ns_scan - create a gendisk for every active, usable namespace
 * @ctrl: the controller, with live I/O queues
 *
 * A namespace cnvme cannot serve is skipped with a warning; only errors
 * that leave the controller unusable (no memory, a dead admin queue) fail
 * the scan.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_ns_scan(struct cnvme_ctrl *ctrl)
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
			ret = cnvme_ns_add(ctrl, nsid);
			if (ret)
				goto out_free;
			prev = nsid;
		}
	}
out_free:
	kfree(list);
	return ret > 0 ? -EIO : ret;
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
		blk_mark_disk_dead(ns->disk);
	mutex_unlock(&ctrl->ns_lock);
}
