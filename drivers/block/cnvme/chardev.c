// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: the controller node (/dev/nvme<N>), the generic namespace nodes
 * (/dev/ng<N>n<nsid>), the NVMe ioctls of <uapi/linux/nvme_ioctl.h> on
 * those and on the namespace block devices, and io_uring passthrough.
 *
 * Who may send what follows the stock driver, so that a user gets the
 * same answers from either driver, but for the limits listed after these:
 *   - vendor specific and fabrics opcodes, and anything on a partition,
 *     need CAP_SYS_ADMIN;
 *   - admin commands need CAP_SYS_ADMIN, except Identify of the
 *     controller, a namespace or the command set structures, which anyone
 *     who can open the node may send; Set Features of the features the
 *     stock driver manages itself is refused even to CAP_SYS_ADMIN;
 *   - an I/O command needs CAP_SYS_ADMIN unless the Commands Supported and
 *     Effects log marks it supported with no effects beyond changing
 *     logical block content, and a command that writes data or changes
 *     logical blocks also needs a node opened for writing.
 *
 * Beyond the stock driver, for a user without CAP_SYS_ADMIN:
 *   - on a partition, NVME_IOCTL_IO_CMD needs CAP_SYS_ADMIN too, like the
 *     other passthrough ioctls (stock lets it reach the whole namespace);
 *   - the data a command moves, as the command itself says (blocks,
 *     ranges, Identify's 4 KiB), must fit the buffer mapped for it, and a
 *     command whose data phase cnvme does not know is refused (-EINVAL):
 *     with PRPs the controller would run past the buffer, or write to
 *     address zero when there is none;
 *   - a timeout shorter than the driver's own (io_timeout, admin_timeout)
 *     is raised to it: its expiry would abort the command and may reset
 *     the controller under everyone else's I/O.
 *
 * User buffers are mapped with blk_rq_map_user_io(), which pins the pages
 * or, for misaligned buffers, bounces them through zeroed kernel pages;
 * the queue limits (MDTS, segments) bound their length.  On the I/O queues
 * a user command's data goes to the controller as an SGL when it takes
 * them (unless passthru_sgl=0), so a command of root that moves more than
 * the buffer holds fails instead of running past it.  Metadata buffers are
 * refused with -EINVAL: cnvme exposes no namespace with metadata, and
 * admin commands have none.
 */
#include <linux/blkdev.h>
#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/io_uring/cmd.h>
#include <linux/nvme_ioctl.h>
#include <linux/ptrace.h>
#include <linux/sed-opal.h>
#include <linux/uaccess.h>

#include "cnvme.h"

static dev_t cnvme_ctrl_base;
static dev_t cnvme_generic_base;
static DEFINE_IDA(cnvme_generic_minor_ida);

/* How an ioctl reached the driver. */
enum {
	CNVME_IOCTL_VEC		= BIT(0),	/* the buffer is an iovec array */
	CNVME_IOCTL_PARTITION	= BIT(1),	/* through a partition node */
};

/* ---- permissions ---------------------------------------------------------- */

static bool cnvme_admin_cmd_allowed(const struct nvme_command *c)
{
	switch (c->common.opcode) {
	case nvme_admin_identify:
		/* What user space needs to build I/O commands. */
		switch (c->identify.cns) {
		case NVME_ID_CNS_NS:
		case NVME_ID_CNS_CS_NS:
		case NVME_ID_CNS_NS_CS_INDEP:
		case NVME_ID_CNS_CS_CTRL:
		case NVME_ID_CNS_CTRL:
			return true;
		}
		break;
	case nvme_admin_set_features:
		/*
		 * Features a host driver owns: changing them behind its back
		 * is refused to everyone, as the stock driver does.
		 */
		switch (le32_to_cpu(c->features.fid) & 0xff) {
		case NVME_FEAT_KATO:
		case NVME_FEAT_HOST_BEHAVIOR:
		case NVME_FEAT_HOST_MEM_BUF:
		case NVME_FEAT_NUM_QUEUES:
		case NVME_FEAT_AUTO_PST:
			return false;
		}
		break;
	}
	return capable(CAP_SYS_ADMIN);
}

/* Effects of a command by the log; I/O commands never get exclusivity. */
static u32 cnvme_cmd_effects(struct cnvme_ctrl *ctrl, bool io, u8 opcode)
{
	u32 effects;

	if (io)
		return le32_to_cpu(ctrl->effects->iocs[opcode]) &
		       ~NVME_CMD_EFFECTS_CSE_MASK;
	effects = le32_to_cpu(ctrl->effects->acs[opcode]);
	if (effects & NVME_CMD_EFFECTS_CSER_MASK)
		effects &= ~NVME_CMD_EFFECTS_CSE_MASK;
	return effects;
}

static bool cnvme_io_cmd_allowed(struct cnvme_ns *ns,
				 const struct nvme_command *c,
				 bool open_for_write)
{
	u32 effects = cnvme_cmd_effects(ns->ctrl, true, c->common.opcode);

	if (!(effects & NVME_CMD_EFFECTS_CSUPP))
		return capable(CAP_SYS_ADMIN);
	if (effects & ~(NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC |
			NVME_CMD_EFFECTS_UUID_SEL | NVME_CMD_EFFECTS_SCOPE_MASK))
		return capable(CAP_SYS_ADMIN);
	if ((nvme_is_write(c) || (effects & NVME_CMD_EFFECTS_LBCC)) &&
	    !open_for_write)
		return capable(CAP_SYS_ADMIN);
	return true;
}

static bool cnvme_cmd_allowed(struct cnvme_ns *ns,
			      const struct nvme_command *c,
			      unsigned int flags, bool open_for_write)
{
	/* A partition must not reach blocks outside itself. */
	if (flags & CNVME_IOCTL_PARTITION)
		return capable(CAP_SYS_ADMIN);
	if (c->common.opcode >= nvme_cmd_vendor_start ||
	    c->common.opcode == nvme_fabrics_command)
		return capable(CAP_SYS_ADMIN);
	if (!ns)
		return cnvme_admin_cmd_allowed(c);
	return cnvme_io_cmd_allowed(ns, c, open_for_write);
}

static bool cnvme_nsid_ok(struct cnvme_ctrl *ctrl, struct cnvme_ns *ns,
			  u32 nsid)
{
	if (!ns || nsid == ns->nsid)
		return true;
	dev_err_ratelimited(&ctrl->ctrl_dev,
			    "%s: nsid %u in the command is not the nsid %u of the node\n",
			    current->comm, nsid, ns->nsid);
	return false;
}

/* ---- running a user command ------------------------------------------------ */

/* A 32-bit process passes 32-bit pointers in the 64-bit fields. */
static void __user *cnvme_user_ptr(u64 val)
{
	if (in_compat_syscall())
		val = (compat_uptr_t)val;
	return (void __user *)(uintptr_t)val;
}

static struct request *cnvme_alloc_user_rq(struct request_queue *q,
					   const struct nvme_command *c,
					   blk_opf_t opf,
					   blk_mq_req_flags_t flags)
{
	struct cnvme_iod *iod;
	struct request *rq;

	rq = blk_mq_alloc_request(q, (nvme_is_write(c) ? REQ_OP_DRV_OUT :
				      REQ_OP_DRV_IN) | opf, flags);
	if (IS_ERR(rq))
		return rq;
	iod = blk_mq_rq_to_pdu(rq);
	iod->cmd = *c;
	iod->flags = CNVME_IOD_USER;
	iod->status = 0;
	/*
	 * Only a completion entry sets the result: a command that ends
	 * without one (cancelled by a reset) must not hand user space the
	 * result of the command that used this request before.
	 */
	iod->result.u64 = 0;
	return rq;
}

/*
 * Bytes the controller moves for @c, as the command itself says, for the
 * commands a user without CAP_SYS_ADMIN may send (cnvme_cmd_allowed()).
 * Return: the length, or -1 for a command whose data phase cnvme does not
 * know.
 */
static s64 cnvme_cmd_xfer_len(struct cnvme_ns *ns, const struct nvme_command *c)
{
	u32 cdw10 = le32_to_cpu(c->common.cdw10);
	u32 cdw12 = le32_to_cpu(c->common.cdw12);

	if (!ns)
		return c->common.opcode == nvme_admin_identify ?
			NVME_IDENTIFY_DATA_SIZE : -1;
	switch (c->common.opcode) {
	case nvme_cmd_flush:
	case nvme_cmd_write_uncor:
	case nvme_cmd_write_zeroes:
	case nvme_cmd_verify:
		return 0;
	case nvme_cmd_read:
	case nvme_cmd_write:
	case nvme_cmd_compare:
		/* No metadata: cnvme exposes no namespace that has any. */
		return ((s64)(cdw12 & 0xffff) + 1) << ns->lba_shift;
	case nvme_cmd_dsm:
		return ((s64)(cdw10 & 0xff) + 1) * sizeof(struct nvme_dsm_range);
	case nvme_cmd_resv_register:
	case nvme_cmd_resv_acquire:
		/* Current and new (or preempted) reservation keys. */
		return 16;
	case nvme_cmd_resv_release:
		return 8;
	case nvme_cmd_resv_report:
		/* NUMD: dwords, zero based. */
		return ((s64)cdw10 + 1) * 4;
	default:
		return -1;
	}
}

/*
 * With PRPs the controller takes the transfer length from the command, not
 * from the buffer: without CAP_SYS_ADMIN the command must not move more
 * than was mapped (nothing when there is no buffer).  capable() only when
 * the check fails, so that an ordinary command leaves no audit record.
 */
static int cnvme_check_user_xfer(struct cnvme_ctrl *ctrl, struct cnvme_ns *ns,
				 struct request *rq)
{
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);
	s64 len = cnvme_cmd_xfer_len(ns, &iod->cmd);

	if (len >= 0 && len <= blk_rq_bytes(rq))
		return 0;
	if (capable(CAP_SYS_ADMIN))
		return 0;
	if (len < 0)
		dev_warn_ratelimited(&ctrl->ctrl_dev,
				     "%s: opcode %#x with an unknown data length refused to an unprivileged user\n",
				     current->comm, iod->cmd.common.opcode);
	else
		dev_warn_ratelimited(&ctrl->ctrl_dev,
				     "%s: opcode %#x moves %lld bytes but the buffer holds %u: refused\n",
				     current->comm, iod->cmd.common.opcode, len,
				     blk_rq_bytes(rq));
	return -EINVAL;
}

/*
 * A user's timeout in jiffies (0: the queue's default).  Below the
 * driver's own timeout the expiry leads to an Abort, and for an admin
 * command to a controller reset, which every other user pays for: only
 * CAP_SYS_ADMIN may ask for that.
 */
static unsigned int cnvme_user_timeout(struct cnvme_ns *ns, u32 timeout_ms)
{
	unsigned int floor = (ns ? cnvme_io_timeout : cnvme_admin_timeout) * HZ;
	unsigned long t;

	if (!timeout_ms)
		return 0;
	t = msecs_to_jiffies(timeout_ms);
	if (t < floor && !capable(CAP_SYS_ADMIN))
		return floor;
	return min_t(unsigned long, t, UINT_MAX);
}

static int cnvme_map_user(struct request *rq, struct cnvme_ns *ns, u64 ubuf,
			  u32 len, void __user *meta, u32 meta_len,
			  struct io_uring_cmd *ioucmd, unsigned int flags)
{
	int ret;

	if (meta && meta_len)
		return -EINVAL;

	if (ioucmd && (ioucmd->flags & IORING_URING_CMD_FIXED)) {
		struct iov_iter iter;

		/* Registered buffers are single ranges. */
		if (flags & CNVME_IOCTL_VEC)
			return -EINVAL;
		ret = io_uring_cmd_import_fixed(ubuf, len, rq_data_dir(rq),
						&iter, ioucmd);
		if (ret < 0)
			return ret;
		ret = blk_rq_map_user_iov(rq->q, rq, NULL, &iter, GFP_KERNEL);
	} else {
		ret = blk_rq_map_user_io(rq, NULL, cnvme_user_ptr(ubuf), len,
					 GFP_KERNEL, flags & CNVME_IOCTL_VEC, 0,
					 false, rq_data_dir(rq));
	}
	if (ret)
		return ret;
	if (ns && rq->bio)
		bio_set_dev(rq->bio, ns->disk->part0);
	return 0;
}

/* Namespace queues held frozen while a command with exclusive effects runs. */
struct cnvme_frozen {
	unsigned int nr;
	struct gendisk *disks[] __counted_by(nr);
};

static struct cnvme_frozen *cnvme_freeze_namespaces(struct cnvme_ctrl *ctrl)
{
	struct cnvme_frozen *frozen;
	struct cnvme_ns *ns;
	unsigned int n = 0, i;

	/* A disk not added yet is not listed for long, and not frozen. */
	mutex_lock(&ctrl->ns_lock);
	list_for_each_entry(ns, &ctrl->namespaces, list)
		n += ns->disk_added;
	frozen = kmalloc(struct_size(frozen, disks, n), GFP_KERNEL);
	if (frozen) {
		frozen->nr = n;
		i = 0;
		list_for_each_entry(ns, &ctrl->namespaces, list) {
			if (!ns->disk_added)
				continue;
			get_device(disk_to_dev(ns->disk));
			frozen->disks[i++] = ns->disk;
		}
	}
	mutex_unlock(&ctrl->ns_lock);
	if (!frozen)
		return NULL;
	for (i = 0; i < frozen->nr; i++)
		blk_mq_freeze_queue(frozen->disks[i]->queue);
	return frozen;
}

static void cnvme_unfreeze_namespaces(struct cnvme_frozen *frozen)
{
	unsigned int i;

	if (!frozen)
		return;
	for (i = 0; i < frozen->nr; i++) {
		blk_mq_unfreeze_queue(frozen->disks[i]->queue);
		put_device(disk_to_dev(frozen->disks[i]));
	}
	kfree(frozen);
}

/*
 * Run a user command and wait for it.  The wait cannot be interrupted: a
 * signal never leaves a request behind.  It ends when the controller
 * answers (an Abort after a timeout included), or when a reset, which a
 * timeout of the command leads to, cancels it (-EINTR).
 *
 * Return: 0, a negative errno, or the positive NVMe status (as the 15-bit
 * status field of the completion).
 */
static int cnvme_submit_user_cmd(struct cnvme_ctrl *ctrl, struct cnvme_ns *ns,
				 const struct nvme_command *c, u64 ubuf,
				 u32 len, void __user *meta, u32 meta_len,
				 u64 *result, u32 timeout_ms,
				 unsigned int flags)
{
	struct request_queue *q = ns ? ns->disk->queue : ctrl->admin_q;
	struct cnvme_frozen *frozen = NULL;
	struct cnvme_iod *iod;
	struct request *rq;
	struct bio *bio;
	blk_status_t sts;
	u32 effects;
	int ret;

	rq = cnvme_alloc_user_rq(q, c, 0, 0);
	if (IS_ERR(rq))
		return PTR_ERR(rq);
	rq->timeout = cnvme_user_timeout(ns, timeout_ms);
	if (ubuf && len) {
		ret = cnvme_map_user(rq, ns, ubuf, len, meta, meta_len, NULL,
				     flags);
		if (ret)
			goto out_free_rq;
	}
	iod = blk_mq_rq_to_pdu(rq);
	bio = rq->bio;
	ret = cnvme_check_user_xfer(ctrl, ns, rq);
	if (ret)
		goto out_unmap;

	/* Format, Sanitize and the like: no I/O may run meanwhile. */
	effects = cnvme_cmd_effects(ctrl, !!ns, c->common.opcode);
	if (effects & NVME_CMD_EFFECTS_CSE_MASK)
		frozen = cnvme_freeze_namespaces(ctrl);

	sts = blk_execute_rq(rq, false);
	if (iod->flags & CNVME_IOD_CANCELLED)
		ret = -EINTR;
	else if (iod->status)
		ret = iod->status;
	else
		ret = blk_status_to_errno(sts);
	if (result)
		*result = le64_to_cpu(iod->result.u64);
	if (bio)
		blk_rq_unmap_user(bio);
	blk_mq_free_request(rq);

	cnvme_unfreeze_namespaces(frozen);
	if (!ns && !ret)
		cnvme_admin_user_done(ctrl, c);
	/* Namespaces may have come, gone or changed format. */
	if (effects & (NVME_CMD_EFFECTS_NIC | NVME_CMD_EFFECTS_NCC))
		cnvme_ns_scan(ctrl);
	return ret;

out_unmap:
	if (bio)
		blk_rq_unmap_user(bio);
out_free_rq:
	blk_mq_free_request(rq);
	return ret;
}

/*
 * NVME_IOCTL_ADMIN_CMD, NVME_IOCTL_IO_CMD (struct nvme_passthru_cmd, a
 * 32-bit result) and their 64-bit variants.  Both structures are the same
 * up to the result field.
 */
static int cnvme_user_cmd(struct cnvme_ctrl *ctrl, struct cnvme_ns *ns,
			  void __user *argp, unsigned int flags,
			  bool open_for_write, bool is64)
{
	struct nvme_passthru_cmd64 cmd;
	struct nvme_command c = { };
	u64 result = 0;
	int status;

	BUILD_BUG_ON(offsetof(struct nvme_passthru_cmd, result) !=
		     offsetof(struct nvme_passthru_cmd64, rsvd2));
	if (is64) {
		if (copy_from_user(&cmd, argp, sizeof(cmd)))
			return -EFAULT;
	} else {
		struct nvme_passthru_cmd cmd32;

		if (copy_from_user(&cmd32, argp, sizeof(cmd32)))
			return -EFAULT;
		memset(&cmd, 0, sizeof(cmd));
		memcpy(&cmd, &cmd32, offsetof(struct nvme_passthru_cmd, result));
	}
	if (cmd.flags)
		return -EINVAL;
	if (!cnvme_nsid_ok(ctrl, ns, cmd.nsid))
		return -EINVAL;

	c.common.opcode = cmd.opcode;
	c.common.nsid = cpu_to_le32(cmd.nsid);
	c.common.cdw2[0] = cpu_to_le32(cmd.cdw2);
	c.common.cdw2[1] = cpu_to_le32(cmd.cdw3);
	c.common.cdw10 = cpu_to_le32(cmd.cdw10);
	c.common.cdw11 = cpu_to_le32(cmd.cdw11);
	c.common.cdw12 = cpu_to_le32(cmd.cdw12);
	c.common.cdw13 = cpu_to_le32(cmd.cdw13);
	c.common.cdw14 = cpu_to_le32(cmd.cdw14);
	c.common.cdw15 = cpu_to_le32(cmd.cdw15);
	if (!cnvme_cmd_allowed(ns, &c, flags, open_for_write))
		return -EACCES;

	status = cnvme_submit_user_cmd(ctrl, ns, &c, cmd.addr, cmd.data_len,
				       cnvme_user_ptr(cmd.metadata),
				       cmd.metadata_len, &result,
				       cmd.timeout_ms, flags);
	if (status < 0)
		return status;
	if (is64) {
		struct nvme_passthru_cmd64 __user *ucmd = argp;

		if (put_user(result, &ucmd->result))
			return -EFAULT;
	} else {
		struct nvme_passthru_cmd __user *ucmd = argp;

		if (put_user((u32)result, &ucmd->result))
			return -EFAULT;
	}
	return status;
}

/* NVME_IOCTL_SUBMIT_IO: Read, Write or Compare of whole logical blocks. */
static int cnvme_submit_io(struct cnvme_ns *ns, struct nvme_user_io __user *uio,
			   unsigned int flags, bool open_for_write)
{
	struct nvme_command c = { };
	struct nvme_user_io io;
	u32 length;

	if (copy_from_user(&io, uio, sizeof(io)))
		return -EFAULT;
	if (io.flags)
		return -EINVAL;
	switch (io.opcode) {
	case nvme_cmd_write:
	case nvme_cmd_read:
	case nvme_cmd_compare:
		break;
	default:
		return -EINVAL;
	}
	/*
	 * No metadata: with PRACT the controller would insert or strip
	 * protection information, so a metadata buffer makes no sense.
	 */
	if ((io.control & NVME_RW_PRINFO_PRACT) && cnvme_user_ptr(io.metadata))
		return -EINVAL;
	length = (io.nblocks + 1) << ns->lba_shift;

	c.rw.opcode = io.opcode;
	c.rw.nsid = cpu_to_le32(ns->nsid);
	c.rw.slba = cpu_to_le64(io.slba);
	c.rw.length = cpu_to_le16(io.nblocks);
	c.rw.control = cpu_to_le16(io.control);
	c.rw.dsmgmt = cpu_to_le32(io.dsmgmt);
	c.rw.reftag = cpu_to_le32(io.reftag);
	c.rw.lbat = cpu_to_le16(io.apptag);
	c.rw.lbatm = cpu_to_le16(io.appmask);
	if (!cnvme_cmd_allowed(ns, &c, flags, open_for_write))
		return -EACCES;
	return cnvme_submit_user_cmd(ns->ctrl, ns, &c, io.addr, length, NULL, 0,
				     NULL, 0, 0);
}

/* ---- ioctl dispatch --------------------------------------------------------- */

static bool cnvme_is_ctrl_ioctl(unsigned int cmd)
{
	return cmd == NVME_IOCTL_ADMIN_CMD || cmd == NVME_IOCTL_ADMIN64_CMD ||
	       is_sed_ioctl(cmd);
}

/* Admin passthrough and Opal through a namespace node. */
static int cnvme_ctrl_ioctl(struct cnvme_ctrl *ctrl, unsigned int cmd,
			    void __user *argp, bool open_for_write)
{
	switch (cmd) {
	case NVME_IOCTL_ADMIN_CMD:
		return cnvme_user_cmd(ctrl, NULL, argp, 0, open_for_write,
				      false);
	case NVME_IOCTL_ADMIN64_CMD:
		return cnvme_user_cmd(ctrl, NULL, argp, 0, open_for_write,
				      true);
	default:
		/* Opal needs Security Send/Receive, which cnvme lacks. */
		return capable(CAP_SYS_ADMIN) ? -EOPNOTSUPP : -EACCES;
	}
}

static int cnvme_ns_ioctl(struct cnvme_ns *ns, unsigned int cmd,
			  void __user *argp, unsigned int flags,
			  bool open_for_write)
{
	switch (cmd) {
	case NVME_IOCTL_ID:
		force_successful_syscall_return();
		return ns->nsid;
	case NVME_IOCTL_IO_CMD:
		/* Unlike the stock driver: a partition contains it too. */
		return cnvme_user_cmd(ns->ctrl, ns, argp,
				      flags & CNVME_IOCTL_PARTITION,
				      open_for_write, false);
	case NVME_IOCTL_SUBMIT_IO:
		return cnvme_submit_io(ns, argp, flags, open_for_write);
	case NVME_IOCTL_IO64_CMD_VEC:
		flags |= CNVME_IOCTL_VEC;
		fallthrough;
	case NVME_IOCTL_IO64_CMD:
		return cnvme_user_cmd(ns->ctrl, ns, argp, flags,
				      open_for_write, true);
	default:
		return -ENOTTY;
	}
}

/**
 * cnvme_bdev_ioctl - NVMe ioctls on a namespace block device
 * @bdev: the disk or one of its partitions
 * @mode: how the block device was opened
 * @cmd: ioctl number
 * @arg: ioctl argument
 *
 * Return: as the stock driver: the NSID, 0, an NVMe status or -errno.
 */
int cnvme_bdev_ioctl(struct block_device *bdev, blk_mode_t mode,
		     unsigned int cmd, unsigned long arg)
{
	struct cnvme_ns *ns = bdev->bd_disk->private_data;
	bool open_for_write = mode & BLK_OPEN_WRITE;
	void __user *argp = (void __user *)arg;
	unsigned int flags = 0;

	if (bdev_is_partition(bdev))
		flags |= CNVME_IOCTL_PARTITION;
	if (cnvme_is_ctrl_ioctl(cmd))
		return cnvme_ctrl_ioctl(ns->ctrl, cmd, argp, open_for_write);
	return cnvme_ns_ioctl(ns, cmd, argp, flags, open_for_write);
}

static struct cnvme_ns *cnvme_file_to_ns(struct file *file)
{
	return container_of(file_inode(file)->i_cdev, struct cnvme_ns, cdev);
}

static long cnvme_ns_chr_ioctl(struct file *file, unsigned int cmd,
			       unsigned long arg)
{
	struct cnvme_ns *ns = cnvme_file_to_ns(file);
	bool open_for_write = file->f_mode & FMODE_WRITE;
	void __user *argp = (void __user *)arg;

	if (cnvme_is_ctrl_ioctl(cmd))
		return cnvme_ctrl_ioctl(ns->ctrl, cmd, argp, open_for_write);
	return cnvme_ns_ioctl(ns, cmd, argp, 0, open_for_write);
}

/*
 * NVME_IOCTL_IO_CMD on the controller node, an old interface: it works
 * only while the controller has exactly one namespace.
 */
static int cnvme_ctrl_io_cmd(struct cnvme_ctrl *ctrl, void __user *argp,
			     bool open_for_write)
{
	struct gendisk *disk;
	struct cnvme_ns *ns;
	int ret;

	mutex_lock(&ctrl->ns_lock);
	if (list_empty(&ctrl->namespaces)) {
		mutex_unlock(&ctrl->ns_lock);
		return -ENOTTY;
	}
	if (!list_is_singular(&ctrl->namespaces)) {
		mutex_unlock(&ctrl->ns_lock);
		dev_warn_ratelimited(&ctrl->ctrl_dev,
				     "NVME_IOCTL_IO_CMD on the controller node needs exactly one namespace\n");
		return -EINVAL;
	}
	ns = list_first_entry(&ctrl->namespaces, struct cnvme_ns, list);
	/* Being added: its namespace may still go away if that fails. */
	if (!ns->disk_added) {
		mutex_unlock(&ctrl->ns_lock);
		return -EAGAIN;
	}
	disk = ns->disk;
	get_device(disk_to_dev(disk));
	mutex_unlock(&ctrl->ns_lock);

	dev_warn_ratelimited(&ctrl->ctrl_dev,
			     "NVME_IOCTL_IO_CMD on the controller node is deprecated, use the namespace node\n");
	ret = cnvme_user_cmd(ctrl, ns, argp, 0, open_for_write, false);
	put_device(disk_to_dev(disk));
	return ret;
}

static long cnvme_ctrl_chr_ioctl(struct file *file, unsigned int cmd,
				 unsigned long arg)
{
	struct cnvme_ctrl *ctrl = file->private_data;
	bool open_for_write = file->f_mode & FMODE_WRITE;
	void __user *argp = (void __user *)arg;

	switch (cmd) {
	case NVME_IOCTL_ADMIN_CMD:
		return cnvme_user_cmd(ctrl, NULL, argp, 0, open_for_write,
				      false);
	case NVME_IOCTL_ADMIN64_CMD:
		return cnvme_user_cmd(ctrl, NULL, argp, 0, open_for_write,
				      true);
	case NVME_IOCTL_IO_CMD:
		return cnvme_ctrl_io_cmd(ctrl, argp, open_for_write);
	case NVME_IOCTL_RESET:
		if (!capable(CAP_SYS_ADMIN))
			return -EACCES;
		return cnvme_ctrl_reset(ctrl);
	case NVME_IOCTL_SUBSYS_RESET:
		if (!capable(CAP_SYS_ADMIN))
			return -EACCES;
		return cnvme_subsys_reset(ctrl);
	case NVME_IOCTL_RESCAN:
		if (!capable(CAP_SYS_ADMIN))
			return -EACCES;
		cnvme_ns_scan(ctrl);
		return 0;
	default:
		return -ENOTTY;
	}
}

/* ---- io_uring passthrough ----------------------------------------------------- */

/*
 * Kept in the io_uring command between submission and completion.  A
 * polling ring keeps polling until the task work posts the completion,
 * which is after the request went back to the tag set: so @poll_idx
 * remembers the hardware context the request went to (-1: not a poll
 * queue), and the request itself is never looked at again.
 */
struct cnvme_uring_pdu {
	struct bio *bio;
	u64 result;
	int status;
	int poll_idx;
};

static struct cnvme_uring_pdu *cnvme_uring_pdu(struct io_uring_cmd *ioucmd)
{
	return io_uring_cmd_to_pdu(ioucmd, struct cnvme_uring_pdu);
}

/* In the submitter's task: user pages may be touched here. */
static void cnvme_uring_task_cb(struct io_uring_cmd *ioucmd,
				unsigned int issue_flags)
{
	struct cnvme_uring_pdu *pdu = cnvme_uring_pdu(ioucmd);

	if (pdu->bio)
		blk_rq_unmap_user(pdu->bio);
	io_uring_cmd_done(ioucmd, pdu->status, pdu->result, issue_flags);
}

static enum rq_end_io_ret cnvme_uring_end_io(struct request *rq,
					     blk_status_t err)
{
	struct io_uring_cmd *ioucmd = rq->end_io_data;
	struct cnvme_uring_pdu *pdu = cnvme_uring_pdu(ioucmd);
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);

	if (iod->flags & CNVME_IOD_CANCELLED)
		pdu->status = -EINTR;
	else
		pdu->status = iod->status ?: blk_status_to_errno(err);
	pdu->result = le64_to_cpu(iod->result.u64);
	io_uring_cmd_do_in_task_lazy(ioucmd, cnvme_uring_task_cb);
	return RQ_END_IO_FREE;
}

static int cnvme_uring_cmd_io(struct cnvme_ctrl *ctrl, struct cnvme_ns *ns,
			      struct io_uring_cmd *ioucmd,
			      unsigned int issue_flags, bool vec)
{
	struct cnvme_uring_pdu *pdu = cnvme_uring_pdu(ioucmd);
	const struct nvme_uring_cmd *cmd = io_uring_sqe_cmd(ioucmd->sqe);
	struct request_queue *q = ns ? ns->disk->queue : ctrl->admin_q;
	bool open_for_write = ioucmd->file->f_mode & FMODE_WRITE;
	blk_mq_req_flags_t blk_flags = 0;
	blk_opf_t opf = REQ_ALLOC_CACHE;
	u32 nsid, len, meta_len, timeout_ms;
	struct nvme_command c = { };
	struct request *rq;
	u64 addr, meta;
	int ret;

	/* The SQE is shared with user space: read each field once. */
	c.common.opcode = READ_ONCE(cmd->opcode);
	c.common.flags = READ_ONCE(cmd->flags);
	if (c.common.flags)
		return -EINVAL;
	nsid = READ_ONCE(cmd->nsid);
	if (!cnvme_nsid_ok(ctrl, ns, nsid))
		return -EINVAL;
	c.common.nsid = cpu_to_le32(nsid);
	c.common.cdw2[0] = cpu_to_le32(READ_ONCE(cmd->cdw2));
	c.common.cdw2[1] = cpu_to_le32(READ_ONCE(cmd->cdw3));
	c.common.cdw10 = cpu_to_le32(READ_ONCE(cmd->cdw10));
	c.common.cdw11 = cpu_to_le32(READ_ONCE(cmd->cdw11));
	c.common.cdw12 = cpu_to_le32(READ_ONCE(cmd->cdw12));
	c.common.cdw13 = cpu_to_le32(READ_ONCE(cmd->cdw13));
	c.common.cdw14 = cpu_to_le32(READ_ONCE(cmd->cdw14));
	c.common.cdw15 = cpu_to_le32(READ_ONCE(cmd->cdw15));
	if (!cnvme_cmd_allowed(ns, &c, 0, open_for_write))
		return -EACCES;

	meta = READ_ONCE(cmd->metadata);
	addr = READ_ONCE(cmd->addr);
	len = READ_ONCE(cmd->data_len);
	meta_len = READ_ONCE(cmd->metadata_len);
	timeout_ms = READ_ONCE(cmd->timeout_ms);

	if (issue_flags & IO_URING_F_NONBLOCK) {
		opf |= REQ_NOWAIT;
		blk_flags = BLK_MQ_REQ_NOWAIT;
	}
	/* A poll queue if there is one; else the interrupt completes it. */
	if (issue_flags & IO_URING_F_IOPOLL)
		opf |= REQ_POLLED;
	rq = cnvme_alloc_user_rq(q, &c, opf, blk_flags);
	if (IS_ERR(rq))
		return PTR_ERR(rq);
	pdu->poll_idx = blk_rq_is_poll(rq) ? rq->mq_hctx->queue_num : -1;
	rq->timeout = cnvme_user_timeout(ns, timeout_ms);
	if (addr && len) {
		ret = cnvme_map_user(rq, ns, addr, len, cnvme_user_ptr(meta),
				     meta_len, ioucmd,
				     vec ? CNVME_IOCTL_VEC : 0);
		if (ret)
			goto out_free_rq;
	}
	ret = cnvme_check_user_xfer(ctrl, ns, rq);
	if (ret)
		goto out_unmap;
	/* The request has no bio any more when it ends: keep it here. */
	pdu->bio = rq->bio;
	rq->end_io_data = ioucmd;
	rq->end_io = cnvme_uring_end_io;
	blk_execute_rq_nowait(rq, false);
	return -EIOCBQUEUED;

out_unmap:
	if (rq->bio)
		blk_rq_unmap_user(rq->bio);
out_free_rq:
	blk_mq_free_request(rq);
	return ret;
}

/*
 * Passthrough needs the big SQEs and CQEs.  A polling ring (IOPOLL) gets
 * here only through the namespace nodes, which have uring_cmd_iopoll.
 */
static int cnvme_uring_checks(unsigned int issue_flags)
{
	if ((issue_flags & (IO_URING_F_SQE128 | IO_URING_F_CQE32)) !=
	    (IO_URING_F_SQE128 | IO_URING_F_CQE32))
		return -EOPNOTSUPP;
	return 0;
}

static int cnvme_ns_chr_uring_cmd(struct io_uring_cmd *ioucmd,
				  unsigned int issue_flags)
{
	struct cnvme_ns *ns = cnvme_file_to_ns(ioucmd->file);
	int ret;

	BUILD_BUG_ON(sizeof(struct cnvme_uring_pdu) >
		     sizeof_field(struct io_uring_cmd, pdu));
	ret = cnvme_uring_checks(issue_flags);
	if (ret)
		return ret;
	switch (ioucmd->cmd_op) {
	case NVME_URING_CMD_IO:
		return cnvme_uring_cmd_io(ns->ctrl, ns, ioucmd, issue_flags,
					  false);
	case NVME_URING_CMD_IO_VEC:
		return cnvme_uring_cmd_io(ns->ctrl, ns, ioucmd, issue_flags,
					  true);
	default:
		return -ENOTTY;
	}
}

/*
 * A polling ring spins here.  The completion itself still goes through
 * task work (cnvme_uring_end_io()): a ring polling a queue may reap
 * another ring's commands, and only their own task may finish them.
 * Without poll queues the command went to an interrupt-driven queue,
 * and the ring spins on a zero here until the interrupt ends it.
 */
static int cnvme_ns_chr_uring_cmd_iopoll(struct io_uring_cmd *ioucmd,
					 struct io_comp_batch *iob,
					 unsigned int poll_flags)
{
	struct cnvme_ns *ns = cnvme_file_to_ns(ioucmd->file);
	int idx = cnvme_uring_pdu(ioucmd)->poll_idx;

	if (idx < 0)
		return 0;
	return cnvme_poll_index(ns->disk->queue, idx, iob);
}

static int cnvme_ctrl_chr_uring_cmd(struct io_uring_cmd *ioucmd,
				    unsigned int issue_flags)
{
	struct cnvme_ctrl *ctrl = ioucmd->file->private_data;
	int ret;

	ret = cnvme_uring_checks(issue_flags);
	if (ret)
		return ret;
	switch (ioucmd->cmd_op) {
	case NVME_URING_CMD_ADMIN:
		return cnvme_uring_cmd_io(ctrl, NULL, ioucmd, issue_flags,
					  false);
	case NVME_URING_CMD_ADMIN_VEC:
		return cnvme_uring_cmd_io(ctrl, NULL, ioucmd, issue_flags,
					  true);
	default:
		return -ENOTTY;
	}
}

/* ---- the nodes ------------------------------------------------------------------ */

/*
 * An open file pins the controller's memory through the device behind
 * the cdev; its calls fail once remove has taken the queues down.
 */
static int cnvme_ctrl_chr_open(struct inode *inode, struct file *file)
{
	struct cnvme_ctrl *ctrl = container_of(inode->i_cdev, struct cnvme_ctrl,
					       cdev);

	if (READ_ONCE(ctrl->state) != CNVME_CTRL_LIVE)
		return -EWOULDBLOCK;
	file->private_data = ctrl;
	return 0;
}

static const struct file_operations cnvme_ctrl_fops = {
	.owner		= THIS_MODULE,
	.open		= cnvme_ctrl_chr_open,
	.unlocked_ioctl	= cnvme_ctrl_chr_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.uring_cmd	= cnvme_ctrl_chr_uring_cmd,
};

static const struct file_operations cnvme_ns_chr_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= cnvme_ns_chr_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.uring_cmd	= cnvme_ns_chr_uring_cmd,
	.uring_cmd_iopoll = cnvme_ns_chr_uring_cmd_iopoll,
};

/**
 * cnvme_chardev_init - reserve the two character device regions
 *
 * Called at module load after cnvme_sysfs_init() chose the names.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_chardev_init(void)
{
	int ret;

	ret = alloc_chrdev_region(&cnvme_ctrl_base, 0, CNVME_MINORS,
				  cnvme_names->ctrl_class.name);
	if (ret)
		return ret;
	ret = alloc_chrdev_region(&cnvme_generic_base, 0, CNVME_MINORS,
				  cnvme_names->generic_class.name);
	if (ret)
		unregister_chrdev_region(cnvme_ctrl_base, CNVME_MINORS);
	return ret;
}

/**
 * cnvme_chardev_exit - release the character device regions
 */
void cnvme_chardev_exit(void)
{
	unregister_chrdev_region(cnvme_generic_base, CNVME_MINORS);
	unregister_chrdev_region(cnvme_ctrl_base, CNVME_MINORS);
	ida_destroy(&cnvme_generic_minor_ida);
}

/**
 * cnvme_ctrl_devt - device number of the controller node
 * @ctrl: the controller; its instance is the minor
 *
 * Return: the dev_t of /dev/nvme<instance>.
 */
dev_t cnvme_ctrl_devt(struct cnvme_ctrl *ctrl)
{
	return MKDEV(MAJOR(cnvme_ctrl_base), ctrl->instance);
}

/**
 * cnvme_ctrl_cdev_add - register the controller device and its node
 * @ctrl: the controller, whose &cnvme_ctrl.ctrl_dev is named
 *
 * Return: 0 or a negative errno.
 */
int cnvme_ctrl_cdev_add(struct cnvme_ctrl *ctrl)
{
	cdev_init(&ctrl->cdev, &cnvme_ctrl_fops);
	ctrl->cdev.owner = THIS_MODULE;
	return cdev_device_add(&ctrl->cdev, &ctrl->ctrl_dev);
}

/**
 * cnvme_ctrl_cdev_del - undo cnvme_ctrl_cdev_add()
 * @ctrl: the controller
 */
void cnvme_ctrl_cdev_del(struct cnvme_ctrl *ctrl)
{
	cdev_device_del(&ctrl->cdev, &ctrl->ctrl_dev);
}

static void cnvme_ns_cdev_release(struct device *dev)
{
	struct cnvme_ns *ns = container_of(dev, struct cnvme_ns, cdev_device);
	struct gendisk *disk = ns->disk;

	ida_free(&cnvme_generic_minor_ida, MINOR(dev->devt));
	/* May free the namespace, and with it @dev. */
	put_device(disk_to_dev(disk));
}

/**
 * cnvme_ns_cdev_add - add the generic node ng<instance>n<nsid>
 * @ns: the namespace, whose disk is added
 *
 * The node works like the block device for passthrough, including
 * io_uring, but also for users without access to the block device.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_ns_cdev_add(struct cnvme_ns *ns)
{
	struct device *dev = &ns->cdev_device;
	struct cnvme_ctrl *ctrl = ns->ctrl;
	int minor, ret;

	minor = ida_alloc_max(&cnvme_generic_minor_ida, CNVME_MINORS - 1,
			      GFP_KERNEL);
	if (minor < 0)
		return minor;
	device_initialize(dev);
	dev->devt = MKDEV(MAJOR(cnvme_generic_base), minor);
	dev->class = &cnvme_names->generic_class;
	dev->parent = &ctrl->ctrl_dev;
	dev->release = cnvme_ns_cdev_release;
	/* Dropped by the release above: the disk outlives the node. */
	get_device(disk_to_dev(ns->disk));

	ret = dev_set_name(dev, "%s%dn%u", cnvme_names->generic,
			   ctrl->instance, ns->nsid);
	if (ret)
		goto out_put;
	cdev_init(&ns->cdev, &cnvme_ns_chr_fops);
	ns->cdev.owner = THIS_MODULE;
	ret = cdev_device_add(&ns->cdev, dev);
	if (ret)
		goto out_put;
	ns->cdev_added = true;
	return 0;

out_put:
	put_device(dev);
	return ret;
}

/**
 * cnvme_ns_cdev_del - remove the generic node
 * @ns: the namespace
 *
 * An open node keeps the namespace's memory; its commands fail once the
 * disk is deleted.
 */
void cnvme_ns_cdev_del(struct cnvme_ns *ns)
{
	if (!ns->cdev_added)
		return;
	ns->cdev_added = false;
	cdev_device_del(&ns->cdev, &ns->cdev_device);
	put_device(&ns->cdev_device);
}
