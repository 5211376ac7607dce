// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: controller state, registers, queue memory and interrupts.
 */
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/interrupt.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/sched/signal.h>
#include <linux/wait_bit.h>

#include "cnvme.h"
#include <trace/events/cnvme.h>

/* Registers up to and including the admin doorbells. */
#define CNVME_REG_MAP_MIN	(NVME_REG_DBS + 0x1000)

/* CMB Status (NVMe 1.4), which <linux/nvme.h> does not name. */
#define CNVME_REG_CMBSTS	0x0058
#define CNVME_CMBSTS_CBAI	BIT(0)	/* CMBMSC.CBA was refused */

/* The largest CMBSZ.SZU the specification defines: 64 GiB units. */
#define CNVME_CMBSZ_SZU_MAX	6

/* For each state, the states it may be entered from. */
static const u8 cnvme_state_from[] = {
	[CNVME_CTRL_NEW]	= 0,
	[CNVME_CTRL_LIVE]	= BIT(CNVME_CTRL_NEW) | BIT(CNVME_CTRL_CONNECTING),
	[CNVME_CTRL_RESETTING]	= BIT(CNVME_CTRL_LIVE),
	[CNVME_CTRL_CONNECTING]	= BIT(CNVME_CTRL_RESETTING),
	[CNVME_CTRL_DELETING]	= BIT(CNVME_CTRL_NEW) | BIT(CNVME_CTRL_LIVE) |
				  BIT(CNVME_CTRL_RESETTING) |
				  BIT(CNVME_CTRL_CONNECTING),
	[CNVME_CTRL_DEAD]	= BIT(CNVME_CTRL_NEW) | BIT(CNVME_CTRL_LIVE) |
				  BIT(CNVME_CTRL_RESETTING) |
				  BIT(CNVME_CTRL_CONNECTING) |
				  BIT(CNVME_CTRL_DELETING),
};

static const char * const cnvme_state_names[] = {
	[CNVME_CTRL_NEW]	= "new",
	[CNVME_CTRL_LIVE]	= "live",
	[CNVME_CTRL_RESETTING]	= "resetting",
	[CNVME_CTRL_CONNECTING]	= "connecting",
	[CNVME_CTRL_DELETING]	= "deleting",
	[CNVME_CTRL_DEAD]	= "dead",
};

/**
 * cnvme_ctrl_state_name - the name of a state, as sysfs shows it
 * @state: the state
 *
 * Return: a lower-case name, "new" to "dead".
 */
const char *cnvme_ctrl_state_name(enum cnvme_ctrl_state state)
{
	if (state >= ARRAY_SIZE(cnvme_state_names))
		return "unknown";
	return cnvme_state_names[state];
}

/**
 * cnvme_ctrl_change_state - move the controller to a new state
 * @ctrl: the controller
 * @new: the state to enter
 * @old: where to store the state left behind, or NULL
 *
 * Only the transitions of enum cnvme_ctrl_state are made: DEAD is final,
 * DELETING may only become DEAD, and a reset goes LIVE -> RESETTING ->
 * CONNECTING -> LIVE.
 *
 * Return: true if the state changed.
 */
bool cnvme_ctrl_change_state(struct cnvme_ctrl *ctrl,
			     enum cnvme_ctrl_state new,
			     enum cnvme_ctrl_state *old)
{
	enum cnvme_ctrl_state prev;
	unsigned long flags;
	bool changed;

	spin_lock_irqsave(&ctrl->state_lock, flags);
	prev = ctrl->state;
	changed = cnvme_state_from[new] & BIT(prev);
	if (changed) {
		WRITE_ONCE(ctrl->state, new);
		/* Under the lock: the events come in the order of the changes. */
		trace_cnvme_ctrl_state(ctrl, prev, new);
	}
	spin_unlock_irqrestore(&ctrl->state_lock, flags);
	if (old)
		*old = prev;
	return changed;
}

/**
 * cnvme_ctrl_present - can the controller's registers still be read?
 * @ctrl: the controller
 *
 * A surprise-removed device reads as all ones.
 *
 * Return: false when the device is gone.
 */
bool cnvme_ctrl_present(struct cnvme_ctrl *ctrl)
{
	if (!pci_device_is_present(ctrl->pdev))
		return false;
	return readl(ctrl->bar + NVME_REG_CSTS) != ~0U;
}

/**
 * cnvme_ctrl_map - claim and map BAR0, read CAP and VS
 * @ctrl: the controller
 *
 * The mapping covers the registers and the doorbells of as many queues
 * as cnvme could ever create (cnvme_max_io_queues() plus the admin
 * queue), CAP.DSTRD apart, limited by the BAR's size.
 *
 * Return: 0 or a negative errno, after one dev_err line.
 */
int cnvme_ctrl_map(struct cnvme_ctrl *ctrl)
{
	struct pci_dev *pdev = ctrl->pdev;
	resource_size_t len = pci_resource_len(pdev, 0);
	resource_size_t want;
	int ret;

	if (!(pci_resource_flags(pdev, 0) & IORESOURCE_MEM) ||
	    len < NVME_REG_DBS + 2 * sizeof(u32)) {
		dev_err(ctrl->dev, "BAR0 is not a usable register window\n");
		return -ENODEV;
	}
	ret = pci_request_mem_regions(pdev, CNVME_NAME);
	if (ret) {
		dev_err(ctrl->dev, "cannot claim BAR0: %d\n", ret);
		return ret;
	}

	ctrl->bar_size = min_t(resource_size_t, len, CNVME_REG_MAP_MIN);
	ctrl->bar = ioremap(pci_resource_start(pdev, 0), ctrl->bar_size);
	if (!ctrl->bar) {
		dev_err(ctrl->dev, "cannot map BAR0\n");
		ret = -ENOMEM;
		goto out_release;
	}

	ctrl->cap = lo_hi_readq(ctrl->bar + NVME_REG_CAP);
	if (ctrl->cap == ~0ULL) {
		dev_err(ctrl->dev, "controller registers read as all ones\n");
		ret = -ENODEV;
		goto out_unmap;
	}
	ctrl->vs = readl(ctrl->bar + NVME_REG_VS);
	ctrl->db_stride = 1U << NVME_CAP_STRIDE(ctrl->cap);

	want = NVME_REG_DBS + (resource_size_t)(cnvme_max_io_queues() + 1) *
			      2 * ctrl->db_stride * 4;
	want = min(want, len);
	if (want > ctrl->bar_size) {
		iounmap(ctrl->bar);
		ctrl->bar_size = want;
		ctrl->bar = ioremap(pci_resource_start(pdev, 0), want);
		if (!ctrl->bar) {
			dev_err(ctrl->dev, "cannot map %pa bytes of BAR0\n",
				&want);
			ret = -ENOMEM;
			goto out_release;
		}
	}
	return 0;

out_unmap:
	iounmap(ctrl->bar);
	ctrl->bar = NULL;
out_release:
	pci_release_mem_regions(pdev);
	return ret;
}

/**
 * cnvme_ctrl_unmap - undo cnvme_ctrl_map()
 * @ctrl: the controller
 */
void cnvme_ctrl_unmap(struct cnvme_ctrl *ctrl)
{
	iounmap(ctrl->bar);
	ctrl->bar = NULL;
	pci_release_mem_regions(ctrl->pdev);
}

/*
 * Poll CSTS until (CSTS & mask) == val.  Every wait is bounded: a device
 * that never answers, reads as all ones, or (when @cfs_fatal) reports a
 * fatal status ends the wait with an error and one log line.
 */
static int cnvme_ctrl_wait_csts(struct cnvme_ctrl *ctrl, u32 mask, u32 val,
				unsigned long timeout, bool cfs_fatal,
				const char *what)
{
	unsigned long deadline = jiffies + timeout;
	u32 csts;

	for (;;) {
		csts = readl(ctrl->bar + NVME_REG_CSTS);
		if (csts == ~0U) {
			dev_err(ctrl->dev, "%s: device is gone (CSTS all ones)\n",
				what);
			return -ENODEV;
		}
		if ((csts & mask) == val)
			return 0;
		if (cfs_fatal && (csts & NVME_CSTS_CFS)) {
			dev_err(ctrl->dev, "%s: controller fatal status (CSTS %#x)\n",
				what, csts);
			return -EIO;
		}
		if (time_after(jiffies, deadline)) {
			dev_err(ctrl->dev, "%s: timed out after %u ms (CSTS %#x)\n",
				what, jiffies_to_msecs(timeout), csts);
			return -ENODEV;
		}
		if (fatal_signal_pending(current))
			return -EINTR;
		usleep_range(1000, 2000);
	}
}

/**
 * cnvme_ctrl_disable - clear CC.EN and wait for CSTS.RDY to drop
 * @ctrl: the controller
 *
 * Disabling resets the controller: every queue is gone afterwards.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_ctrl_disable(struct cnvme_ctrl *ctrl)
{
	u32 cc = readl(ctrl->bar + NVME_REG_CC);

	if (cc == ~0U)
		return -ENODEV;
	/* Left enabled: the device may go on using host memory. */
	if (cnvme_inject_fail_ready(ctrl, false))
		return -ENODEV;
	writel(cc & ~NVME_CC_ENABLE, ctrl->bar + NVME_REG_CC);
	return cnvme_ctrl_wait_csts(ctrl, NVME_CSTS_RDY, 0, ctrl->ready_timeout,
				    false, "disable");
}

/**
 * cnvme_ctrl_enable - program CC and wait for CSTS.RDY
 * @ctrl: the controller, disabled, with AQA/ASQ/ACQ programmed
 *
 * NVM command set, 4 KiB memory pages, round robin arbitration and the
 * standard 64-byte SQ and 16-byte CQ entries.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_ctrl_enable(struct cnvme_ctrl *ctrl)
{
	u32 cc = NVME_CC_CSS_NVM | NVME_CC_AMS_RR | NVME_CC_SHN_NONE |
		 NVME_CC_IOSQES | NVME_CC_IOCQES |
		 ((CNVME_CTRL_PAGE_SHIFT - 12) << NVME_CC_MPS_SHIFT);

	writel(cc, ctrl->bar + NVME_REG_CC);
	if (cnvme_inject_fail_ready(ctrl, true))
		return -ENODEV;
	writel(cc | NVME_CC_ENABLE, ctrl->bar + NVME_REG_CC);
	return cnvme_ctrl_wait_csts(ctrl, NVME_CSTS_RDY, NVME_CSTS_RDY,
				    ctrl->ready_timeout, true, "enable");
}

/**
 * cnvme_ctrl_shutdown - normal shutdown through CC.SHN
 * @ctrl: the controller
 *
 * The controller flushes its volatile state; the wait is bounded by the
 * larger of RTD3E and the shutdown_timeout parameter.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_ctrl_shutdown(struct cnvme_ctrl *ctrl)
{
	u32 cc = readl(ctrl->bar + NVME_REG_CC);

	if (cc == ~0U)
		return -ENODEV;
	cc = (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL;
	writel(cc, ctrl->bar + NVME_REG_CC);
	return cnvme_ctrl_wait_csts(ctrl, NVME_CSTS_SHST_MASK,
				    NVME_CSTS_SHST_CMPLT,
				    ctrl->shutdown_timeout, false, "shutdown");
}

/**
 * cnvme_cmb_enable - point the controller's CMB at the address cnvme uses
 * @ctrl: the controller
 *
 * A controller with CAP.CMBS (NVMe 1.4) accepts SQ addresses inside its
 * CMB only while CMBMSC enables the CMB memory space at a controller base
 * address.  Probe programs it when it maps the CMB, and every reset does
 * again before the I/O SQs are created, whether or not the reset cleared
 * it.  A no-op without SQs in the CMB or on an older CMB that needs no
 * enabling.
 *
 * Return: 0, or -EIO if the controller refused the base address.
 */
int cnvme_cmb_enable(struct cnvme_ctrl *ctrl)
{
	if (!ctrl->cmb || !ctrl->cmbmsc)
		return 0;
	/*
	 * Upper half first: CRE and CMSE sit in the lower half, and a
	 * controller may act on CMBMSC as soon as that one is written.
	 */
	writel(upper_32_bits(ctrl->cmbmsc), ctrl->bar + NVME_REG_CMBMSC + 4);
	writel(lower_32_bits(ctrl->cmbmsc), ctrl->bar + NVME_REG_CMBMSC);
	if (readl(ctrl->bar + CNVME_REG_CMBSTS) & CNVME_CMBSTS_CBAI)
		return -EIO;
	return 0;
}

/*
 * Where the CMB is, from CMBLOC and CMBSZ once the CMB registers are
 * enabled.  Return: true with @start (CPU physical) and @bus set if the
 * CMB can hold @need bytes of SQs; false, after saying why if there is a
 * CMB at all, if not.
 */
static bool cnvme_cmb_locate(struct cnvme_ctrl *ctrl, u64 need,
			     resource_size_t *start, u64 *bus)
{
	struct pci_dev *pdev = ctrl->pdev;
	u32 cmbsz = readl(ctrl->bar + NVME_REG_CMBSZ);
	u32 cmbloc = readl(ctrl->bar + NVME_REG_CMBLOC);
	u32 szu = (cmbsz >> NVME_CMBSZ_SZU_SHIFT) & NVME_CMBSZ_SZU_MASK;
	unsigned int bir = NVME_CMB_BIR(cmbloc);
	u64 unit, size, offset, bar_len;

	/* No CMB at all is the common case and not worth a line. */
	if (!cmbsz || cmbsz == ~0U)
		return false;
	if (!(cmbsz & NVME_CMBSZ_SQS)) {
		dev_info(ctrl->dev, "the CMB cannot hold submission queues, they stay in host memory\n");
		return false;
	}
	if (szu > CNVME_CMBSZ_SZU_MAX || bir > PCI_STD_RESOURCE_END ||
	    !(pci_resource_flags(pdev, bir) & IORESOURCE_MEM)) {
		dev_warn(ctrl->dev, "CMB registers are invalid (CMBSZ %#x, CMBLOC %#x), SQs stay in host memory\n",
			 cmbsz, cmbloc);
		return false;
	}
	unit = 1ULL << (12 + 4 * szu);
	size = unit * ((cmbsz >> NVME_CMBSZ_SZ_SHIFT) & NVME_CMBSZ_SZ_MASK);
	offset = unit * NVME_CMB_OFST(cmbloc);
	bar_len = pci_resource_len(pdev, bir);
	if (offset > bar_len || size > bar_len - offset) {
		dev_warn(ctrl->dev, "CMB of %llu bytes at offset %#llx lies outside BAR%u, SQs stay in host memory\n",
			 size, offset, bir);
		return false;
	}
	if (need > size) {
		dev_info(ctrl->dev, "CMB of %llu KiB is too small for the I/O SQs (%llu KiB), they stay in host memory\n",
			 size >> 10, need >> 10);
		return false;
	}
	*start = pci_resource_start(pdev, bir) + offset;
	*bus = pci_bus_address(pdev, bir) + offset;
	return true;
}

/**
 * cnvme_cmb_map_sqs - place the I/O submission queues in the CMB
 * @ctrl: the controller, enabled, with no I/O queues yet
 * @nr_queues: I/O queues about to be created
 *
 * With use_cmb_sqes set and a controller memory buffer that supports SQs
 * and holds all of them, maps that part of the CMB write-combining and,
 * on an NVMe 1.4 CMB, enables its memory space at the matching bus
 * address.  cnvme_q_alloc() then carves the I/O SQs out of it.  The
 * controller fetches commands from its own memory instead of reading
 * host memory over the link; the admin SQ stays in host memory.
 *
 * Anything that keeps the SQs out of the CMB leaves them in host memory,
 * which always works: a controller that has a CMB gets one log line
 * saying why, one without says nothing.  &cnvme_ctrl.cmb tells the
 * outcome.
 */
void cnvme_cmb_map_sqs(struct cnvme_ctrl *ctrl, unsigned int nr_queues)
{
	bool cmbs = NVME_CAP_CMBS(ctrl->cap);
	u32 stride = round_up(ctrl->q_depth * sizeof(struct nvme_command),
			      CNVME_CTRL_PAGE_SIZE);
	u64 need = (u64)nr_queues * stride;
	resource_size_t start;
	u64 bus;

	if (!cnvme_use_cmb_sqes)
		return;
	/* An NVMe 1.4 CMB shows CMBLOC and CMBSZ only once CRE is set. */
	if (cmbs)
		writel(NVME_CMBMSC_CRE, ctrl->bar + NVME_REG_CMBMSC);
	if (!cnvme_cmb_locate(ctrl, need, &start, &bus))
		goto out_disable;

	/* Page aligned: an SQ must start on a controller page. */
	if (bus & (CNVME_CTRL_PAGE_SIZE - 1)) {
		dev_warn(ctrl->dev, "CMB bus address %#llx is not page aligned, SQs stay in host memory\n",
			 bus);
		goto out_disable;
	}
	ctrl->cmb = ioremap_wc(start, need);
	if (!ctrl->cmb) {
		dev_warn(ctrl->dev, "cannot map %llu KiB of the CMB, SQs stay in host memory\n",
			 need >> 10);
		goto out_disable;
	}
	ctrl->cmb_bus = bus;
	ctrl->cmb_len = need;
	ctrl->cmb_sq_stride = stride;
	ctrl->cmbmsc = cmbs ? bus | NVME_CMBMSC_CRE | NVME_CMBMSC_CMSE : 0;
	if (cnvme_cmb_enable(ctrl)) {
		dev_warn(ctrl->dev, "controller refused CMB base address %#llx, SQs stay in host memory\n",
			 bus);
		cnvme_cmb_unmap(ctrl);
		return;
	}
	dev_info(ctrl->dev, "%u I/O submission queues in the controller memory buffer at %#llx (%llu KiB)\n",
		 nr_queues, bus, need >> 10);
	return;

out_disable:
	if (cmbs)
		writel(0, ctrl->bar + NVME_REG_CMBMSC);
}

/**
 * cnvme_cmb_unmap - give the CMB back
 * @ctrl: the controller, whose I/O SQs are freed or were never in the CMB
 *
 * Disables the CMB memory space of an NVMe 1.4 CMB again, leaving the
 * controller as probe found it.
 */
void cnvme_cmb_unmap(struct cnvme_ctrl *ctrl)
{
	if (!ctrl->cmb)
		return;
	if (ctrl->cmbmsc)
		writel(0, ctrl->bar + NVME_REG_CMBMSC);
	iounmap(ctrl->cmb);
	ctrl->cmb = NULL;
	ctrl->cmb_len = 0;
	ctrl->cmbmsc = 0;
}

/* Give back the queue's reserve; also the unwind of cnvme_q_rsv_alloc(). */
static void cnvme_q_rsv_free(struct cnvme_ctrl *ctrl, struct cnvme_queue *q)
{
	while (q->rsv_nr_sgl)
		kfree(q->rsv_sgl[--q->rsv_nr_sgl]);
	while (q->rsv_nr_pages) {
		q->rsv_nr_pages--;
		dma_pool_free(ctrl->prp_pool, q->rsv_pages[q->rsv_nr_pages],
			      q->rsv_pages_dma[q->rsv_nr_pages]);
	}
	kfree(q->rsv_sgl);
	kfree(q->rsv_pages);
	kfree(q->rsv_pages_dma);
	q->rsv_sgl = NULL;
	q->rsv_pages = NULL;
	q->rsv_pages_dma = NULL;
	q->rsv_size = 0;
}

/*
 * Fill the queue's reserve (see CNVME_RESERVE_IO): @size scatterlist
 * arrays and @size list pages, in sleeping context, once per queue.
 */
static int cnvme_q_rsv_alloc(struct cnvme_ctrl *ctrl, struct cnvme_queue *q,
			     unsigned int size)
{
	int node = dev_to_node(ctrl->dev);

	spin_lock_init(&q->rsv_lock);
	q->rsv_sgl = kcalloc_node(size, sizeof(*q->rsv_sgl), GFP_KERNEL, node);
	q->rsv_pages = kcalloc_node(size, sizeof(*q->rsv_pages), GFP_KERNEL,
				    node);
	q->rsv_pages_dma = kcalloc_node(size, sizeof(*q->rsv_pages_dma),
					GFP_KERNEL, node);
	if (!q->rsv_sgl || !q->rsv_pages || !q->rsv_pages_dma)
		goto out_free;
	q->rsv_size = size;
	while (q->rsv_nr_sgl < size) {
		struct scatterlist *sgl;

		sgl = kmalloc_array_node(CNVME_MAX_SEGS, sizeof(*sgl),
					 GFP_KERNEL, node);
		if (!sgl)
			goto out_free;
		sg_init_table(sgl, CNVME_MAX_SEGS);
		q->rsv_sgl[q->rsv_nr_sgl++] = sgl;
	}
	while (q->rsv_nr_pages < size) {
		__le64 *page;

		page = dma_pool_alloc(ctrl->prp_pool, GFP_KERNEL,
				      &q->rsv_pages_dma[q->rsv_nr_pages]);
		if (!page)
			goto out_free;
		q->rsv_pages[q->rsv_nr_pages++] = page;
	}
	return 0;

out_free:
	cnvme_q_rsv_free(ctrl, q);
	return -ENOMEM;
}

/**
 * cnvme_q_alloc - allocate the rings of one queue pair
 * @ctrl: the controller
 * @qid: queue identifier
 * @depth: entries per ring
 *
 * An I/O SQ takes its slot of the CMB when cnvme_cmb_map_sqs() mapped
 * one, else host memory like the CQ.  The queue's reserve of request
 * buffers is filled here too.
 *
 * Return: 0 or -ENOMEM.
 */
int cnvme_q_alloc(struct cnvme_ctrl *ctrl, u16 qid, u32 depth)
{
	struct cnvme_queue *q = &ctrl->queues[qid];

	if (cnvme_inject_alloc(ctrl, CNVME_FA_QUEUE))
		return -ENOMEM;
	q->cqes = dma_alloc_coherent(ctrl->dev, depth * sizeof(*q->cqes),
				     &q->cq_dma_addr, GFP_KERNEL);
	if (!q->cqes)
		return -ENOMEM;
	if (qid && ctrl->cmb) {
		u32 off = (qid - 1) * ctrl->cmb_sq_stride;

		q->sq_io = ctrl->cmb + off;
		q->sq_dma_addr = ctrl->cmb_bus + off;
	} else {
		q->sq_cmds = dma_alloc_coherent(ctrl->dev,
						depth * sizeof(*q->sq_cmds),
						&q->sq_dma_addr, GFP_KERNEL);
		if (!q->sq_cmds)
			goto out_free_cq;
	}

	if (cnvme_q_rsv_alloc(ctrl, q, qid ? CNVME_RESERVE_IO :
			      CNVME_RESERVE_ADMIN))
		goto out_free_sq;

	spin_lock_init(&q->sq_lock);
	spin_lock_init(&q->cq_poll_lock);
	q->ctrl = ctrl;
	q->qid = qid;
	q->depth = depth;
	q->q_db = cnvme_db(ctrl, qid, false);
	q->cq_db = cnvme_db(ctrl, qid, true);
	return 0;

out_free_sq:
	if (q->sq_cmds)
		dma_free_coherent(ctrl->dev, depth * sizeof(*q->sq_cmds),
				  q->sq_cmds, q->sq_dma_addr);
	q->sq_cmds = NULL;
	q->sq_io = NULL;
out_free_cq:
	dma_free_coherent(ctrl->dev, depth * sizeof(*q->cqes), q->cqes,
			  q->cq_dma_addr);
	q->cqes = NULL;
	return -ENOMEM;
}

/**
 * cnvme_q_free - free the rings of one queue pair
 * @ctrl: the controller
 * @qid: queue identifier
 */
void cnvme_q_free(struct cnvme_ctrl *ctrl, u16 qid)
{
	struct cnvme_queue *q = &ctrl->queues[qid];

	if (!q->cqes)
		return;
	cnvme_q_rsv_free(ctrl, q);
	if (q->sq_cmds)
		dma_free_coherent(ctrl->dev, q->depth * sizeof(*q->sq_cmds),
				  q->sq_cmds, q->sq_dma_addr);
	dma_free_coherent(ctrl->dev, q->depth * sizeof(*q->cqes), q->cqes,
			  q->cq_dma_addr);
	q->sq_cmds = NULL;
	q->sq_io = NULL;
	q->cqes = NULL;
}

/**
 * cnvme_q_init - reset the ring indexes before the device sees the queue
 * @q: the queue
 * @vector: interrupt vector index of its CQ (unused when @polled)
 * @polled: the CQ has no interrupt and is polled
 *
 * The CQ is zeroed so that no stale entry carries the phase tag the
 * driver expects on the first pass (1).  With a doorbell buffer the
 * queue's shadow doorbells and event indexes start from zero as well.
 */
void cnvme_q_init(struct cnvme_queue *q, u16 vector, bool polled)
{
	struct cnvme_ctrl *ctrl = q->ctrl;

	q->sq_tail = 0;
	q->last_sq_tail = 0;
	q->cq_head = 0;
	q->cq_phase = 1;
	q->cq_vector = polled ? 0 : vector;
	if (polled)
		set_bit(CNVME_Q_POLLED, &q->flags);
	else
		clear_bit(CNVME_Q_POLLED, &q->flags);
	/* A stray command the old queue never answered is gone with it. */
	clear_bit(CNVME_Q_STRAY, &q->flags);
	memset(q->cqes, 0, q->depth * sizeof(*q->cqes));

	q->dbbuf_sq_db = NULL;
	q->dbbuf_sq_ei = NULL;
	q->dbbuf_cq_db = NULL;
	q->dbbuf_cq_ei = NULL;
	/* The admin queue always uses the MMIO doorbells. */
	if (ctrl->dbbuf_dbs && q->qid) {
		unsigned int sq = 2 * q->qid * ctrl->db_stride;
		unsigned int cq = sq + ctrl->db_stride;

		q->dbbuf_sq_db = &ctrl->dbbuf_dbs[sq];
		q->dbbuf_cq_db = &ctrl->dbbuf_dbs[cq];
		q->dbbuf_sq_ei = &ctrl->dbbuf_eis[sq];
		q->dbbuf_cq_ei = &ctrl->dbbuf_eis[cq];
		*q->dbbuf_sq_db = 0;
		*q->dbbuf_cq_db = 0;
		*q->dbbuf_sq_ei = 0;
		*q->dbbuf_cq_ei = 0;
	}
}

/**
 * cnvme_q_request_irq - attach the interrupt handler of a queue
 * @q: the queue, with its vector chosen
 *
 * Vectors are requested shared: with a single vector the admin queue and
 * the only I/O queue use the same one.  With use_threaded_interrupts the
 * hard handler only checks for a new entry and the CQ is processed in the
 * vector's irq thread; every queue uses the same mode, so the sharers of a
 * vector always agree on it.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_q_request_irq(struct cnvme_queue *q)
{
	struct cnvme_ctrl *ctrl = q->ctrl;
	int ret;

	if (test_bit(CNVME_Q_POLLED, &q->flags))
		return 0;
	cnvme_q_irqpoll_setup(q);
	if (cnvme_use_threaded_interrupts)
		ret = pci_request_irq(ctrl->pdev, q->cq_vector, cnvme_irq_check,
				      cnvme_irq, q, "cnvme%dq%u",
				      ctrl->instance, q->qid);
	else
		ret = pci_request_irq(ctrl->pdev, q->cq_vector, cnvme_irq, NULL,
				      q, "cnvme%dq%u", ctrl->instance, q->qid);
	if (!ret)
		set_bit(CNVME_Q_IRQ, &q->flags);
	return ret;
}

/**
 * cnvme_q_free_irq - detach the interrupt handler of a queue
 * @q: the queue
 *
 * Idempotent: a handler that was never requested, or that an error path
 * already freed (a failed reallocation of the vectors frees the admin
 * queue's before it gives up), is left alone.
 */
void cnvme_q_free_irq(struct cnvme_queue *q)
{
	if (!test_and_clear_bit(CNVME_Q_IRQ, &q->flags))
		return;
	pci_free_irq(q->ctrl->pdev, q->cq_vector, q);
}

/**
 * cnvme_q_suspend - stop completion processing from interrupts and pollers
 * @q: the queue
 *
 * After this returns no interrupt handler, poller or timeout handler
 * (cnvme_q_poll()) is looking at the queue, so the caller owns the CQ and
 * may reap it itself.
 *
 * Return: true if the queue was live until now.
 */
bool cnvme_q_suspend(struct cnvme_queue *q)
{
	if (!test_and_clear_bit(CNVME_Q_LIVE, &q->flags))
		return false;
	if (test_bit(CNVME_Q_POLLED, &q->flags)) {
		/* Pollers check LIVE under the lock: wait out the current one. */
		spin_lock(&q->cq_poll_lock);
		spin_unlock(&q->cq_poll_lock);
		return true;
	}
	synchronize_irq(pci_irq_vector(q->ctrl->pdev, q->cq_vector));
	/*
	 * The handler that could schedule the poller is out and finds LIVE
	 * clear from now on; a round already scheduled ends here, and no
	 * other can start.
	 */
	cnvme_q_irqpoll_stop(q);
	cnvme_q_irqpoll_resume(q);
	/*
	 * Pairs with cnvme_q_poll(): it sets POLLING before it looks at
	 * LIVE, and both bit operations are fully ordered, so either it saw
	 * LIVE clear or this sees POLLING set and waits.
	 */
	wait_on_bit(&q->flags, CNVME_Q_POLLING, TASK_UNINTERRUPTIBLE);
	return true;
}

/**
 * cnvme_q_poll - reap a live queue from outside its interrupt handler
 * @q: the queue
 *
 * For the timeout handler: a completion that is sitting in the CQ because
 * an interrupt got lost is found here.  The queue's interrupt is disabled
 * and its irq_poll instance stopped meanwhile, so only one context
 * consumes the CQ.  A queue that is not
 * live belongs to whoever suspended it and is left alone, and so is a
 * queue another timeout handler is already polling.
 *
 * Context: process context (disable_irq() sleeps).
 */
void cnvme_q_poll(struct cnvme_queue *q)
{
	unsigned int irq = pci_irq_vector(q->ctrl->pdev, q->cq_vector);

	if (test_bit(CNVME_Q_POLLED, &q->flags)) {
		/* No interrupt to disable: pollers own the CQ under the lock. */
		spin_lock(&q->cq_poll_lock);
		if (test_bit(CNVME_Q_LIVE, &q->flags))
			cnvme_q_reap(q);
		spin_unlock(&q->cq_poll_lock);
		return;
	}
	if (test_and_set_bit(CNVME_Q_POLLING, &q->flags))
		return;
	if (test_bit(CNVME_Q_LIVE, &q->flags)) {
		disable_irq(irq);
		cnvme_q_irqpoll_stop(q);
		cnvme_q_reap(q);
		cnvme_q_irqpoll_resume(q);
		enable_irq(irq);
	}
	clear_bit_unlock(CNVME_Q_POLLING, &q->flags);
	/* Order the clear before wake_up_bit() looks for waiters. */
	smp_mb__after_atomic();
	wake_up_bit(&q->flags, CNVME_Q_POLLING);
}
