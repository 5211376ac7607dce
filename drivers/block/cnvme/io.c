// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: the submission and completion paths.
 *
 * Everything a request touches between queue_rq and blk_mq_end_request
 * lives in this file so that the helpers can stay static inline.
 */
#include <linux/blk-mq-pci.h>
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/interrupt.h>

#include "cnvme.h"
#include <trace/events/cnvme.h>

/**
 * cnvme_status_to_blk - map an NVMe completion status to a blk_status_t
 * @status: status field of the completion entry, phase bit removed
 *
 * Return: the block layer status for @status.
 */
blk_status_t cnvme_status_to_blk(u16 status)
{
	switch (status & NVME_SCT_SC_MASK) {
	case NVME_SC_SUCCESS:
		return BLK_STS_OK;
	case NVME_SC_CAP_EXCEEDED:
		return BLK_STS_NOSPC;
	case NVME_SC_LBA_RANGE:
	case NVME_SC_CMD_INTERRUPTED:
	case NVME_SC_NS_NOT_READY:
		return BLK_STS_TARGET;
	case NVME_SC_BAD_ATTRIBUTES:
	case NVME_SC_INVALID_OPCODE:
	case NVME_SC_INVALID_FIELD:
	case NVME_SC_INVALID_NS:
		return BLK_STS_NOTSUPP;
	case NVME_SC_WRITE_FAULT:
	case NVME_SC_READ_ERROR:
	case NVME_SC_UNWRITTEN_BLOCK:
	case NVME_SC_ACCESS_DENIED:
	case NVME_SC_READ_ONLY:
	case NVME_SC_COMPARE_FAILED:
		return BLK_STS_MEDIUM;
	case NVME_SC_GUARD_CHECK:
	case NVME_SC_APPTAG_CHECK:
	case NVME_SC_REFTAG_CHECK:
	case NVME_SC_INVALID_PI:
		return BLK_STS_PROTECTION;
	case NVME_SC_RESERVATION_CONFLICT:
		return BLK_STS_RESV_CONFLICT;
	case NVME_SC_HOST_PATH_ERROR:
		return BLK_STS_TRANSPORT;
	default:
		return BLK_STS_IOERR;
	}
}

/* ---- submission queue ------------------------------------------------ */

static __always_inline void cnvme_sq_copy(struct cnvme_queue *q,
					  const struct nvme_command *cmd)
{
	lockdep_assert_held(&q->sq_lock);
	if (q->sq_io)
		memcpy_toio(q->sq_io + q->sq_tail * sizeof(*cmd), cmd,
			    sizeof(*cmd));
	else
		memcpy(&q->sq_cmds[q->sq_tail], cmd, sizeof(*cmd));
	if (++q->sq_tail == q->depth)
		q->sq_tail = 0;
}

/*
 * Shadow doorbell: publish @val in host memory and tell whether the
 * controller asked to be woken by an MMIO write as well, i.e. whether its
 * event index lies in (old, val] modulo 2^16.
 */
static inline bool cnvme_dbbuf_need_mmio(__le32 *db, __le32 *ei, u16 val)
{
	u16 old, event;

	if (!db)
		return true;
	/* The ring entries must be visible before the new doorbell value. */
	wmb();
	old = le32_to_cpu(*db);
	WRITE_ONCE(*db, cpu_to_le32(val));
	/*
	 * The doorbell store must be visible before the event index is
	 * read; the controller orders the other way round, so between the
	 * two one of us always sees the other's update.
	 */
	mb();
	event = le32_to_cpu(READ_ONCE(*ei));
	return (u16)(val - event - 1) < (u16)(val - old);
}

/*
 * One doorbell write covers every entry copied since the last one.
 * writel() orders the entry stores in coherent memory before the MMIO
 * write, so the device never fetches a half-written command.  An SQ in
 * the controller memory buffer is mapped write-combining, and writel()
 * is not promised to drain write-combining buffers on every
 * architecture: the explicit barrier does.
 */
static inline void cnvme_sq_ring(struct cnvme_queue *q)
{
	bool mmio;

	lockdep_assert_held(&q->sq_lock);
	if (q->sq_tail == q->last_sq_tail)
		return;
	if (q->sq_io)
		wmb();	/* CMB entries out of the WC buffers first */
	mmio = cnvme_dbbuf_need_mmio(q->dbbuf_sq_db, q->dbbuf_sq_ei, q->sq_tail);
	if (mmio)
		writel(q->sq_tail, q->q_db);
	trace_cnvme_sq_doorbell(q, mmio);
	q->last_sq_tail = q->sq_tail;
}

/* ---- data mapping ------------------------------------------------------ */

/*
 * Request buffers beyond the PDU come from the queue's reserve first, so
 * the steady state allocates nothing; an empty reserve (more such
 * requests in flight than it holds) falls back to GFP_ATOMIC, and when
 * that fails too the request is retried later with BLK_STS_RESOURCE.
 * What comes back finds room in the reserve or is freed, so the memory a
 * queue keeps stays bounded by the reserve.
 */
static __le64 *cnvme_page_get(struct cnvme_queue *q, dma_addr_t *dma)
{
	unsigned long flags;
	__le64 *page = NULL;

	spin_lock_irqsave(&q->rsv_lock, flags);
	if (q->rsv_nr_pages) {
		q->rsv_nr_pages--;
		page = q->rsv_pages[q->rsv_nr_pages];
		*dma = q->rsv_pages_dma[q->rsv_nr_pages];
	}
	spin_unlock_irqrestore(&q->rsv_lock, flags);
	if (page)
		return page;
	if (cnvme_inject_alloc(q->ctrl, CNVME_FA_IOD))
		return NULL;
	return dma_pool_alloc(q->ctrl->prp_pool, GFP_ATOMIC | __GFP_NOWARN, dma);
}

static void cnvme_page_put(struct cnvme_queue *q, __le64 *page, dma_addr_t dma)
{
	unsigned long flags;

	spin_lock_irqsave(&q->rsv_lock, flags);
	if (q->rsv_nr_pages < q->rsv_size) {
		q->rsv_pages[q->rsv_nr_pages] = page;
		q->rsv_pages_dma[q->rsv_nr_pages] = dma;
		q->rsv_nr_pages++;
		page = NULL;
	}
	spin_unlock_irqrestore(&q->rsv_lock, flags);
	if (page)
		dma_pool_free(q->ctrl->prp_pool, page, dma);
}

static struct scatterlist *cnvme_sgl_get(struct cnvme_queue *q)
{
	struct scatterlist *sgl = NULL;
	unsigned long flags;

	spin_lock_irqsave(&q->rsv_lock, flags);
	if (q->rsv_nr_sgl)
		sgl = q->rsv_sgl[--q->rsv_nr_sgl];
	spin_unlock_irqrestore(&q->rsv_lock, flags);
	if (sgl)
		return sgl;
	if (cnvme_inject_alloc(q->ctrl, CNVME_FA_IOD))
		return NULL;
	sgl = kmalloc_array(CNVME_MAX_SEGS, sizeof(*sgl),
			    GFP_ATOMIC | __GFP_NOWARN);
	if (sgl)
		sg_init_table(sgl, CNVME_MAX_SEGS);
	return sgl;
}

static void cnvme_sgl_put(struct cnvme_queue *q, struct scatterlist *sgl)
{
	unsigned long flags;

	spin_lock_irqsave(&q->rsv_lock, flags);
	if (q->rsv_nr_sgl < q->rsv_size) {
		q->rsv_sgl[q->rsv_nr_sgl++] = sgl;
		sgl = NULL;
	}
	spin_unlock_irqrestore(&q->rsv_lock, flags);
	kfree(sgl);
}

/* Give back whatever buffers the request's current command took. */
static void cnvme_put_bufs(struct cnvme_queue *q, struct cnvme_iod *iod)
{
	unsigned int i;

	for (i = 0; i < CNVME_MAX_LIST_PAGES; i++) {
		if (iod->list[i]) {
			cnvme_page_put(q, iod->list[i], iod->list_dma[i]);
			iod->list[i] = NULL;
		}
	}
	if (iod->sgt.sgl) {
		cnvme_sgl_put(q, iod->sgt.sgl);
		iod->sgt.sgl = NULL;
	}
}

static inline __le64 *cnvme_list_page(struct cnvme_queue *q,
				      struct cnvme_iod *iod, unsigned int i)
{
	if (!iod->list[i])
		iod->list[i] = cnvme_page_get(q, &iod->list_dma[i]);
	return iod->list[i];
}

/*
 * Build PRP1/PRP2 for the request from its DMA segments.  @dma/@seg_len
 * describe the first segment; @sg, if not NULL, is that segment's
 * scatterlist entry and leads to the others.  The virt_boundary limit
 * guarantees every segment but the first starts on a controller page and
 * every segment but the last ends on one; anything else is a bug that
 * fails the request instead of corrupting memory.
 */
static noinline blk_status_t cnvme_setup_prp_list(struct cnvme_queue *q,
						  struct request *rq,
						  struct cnvme_iod *iod,
						  struct scatterlist *sg,
						  dma_addr_t dma, u32 seg_len)
{
	const u32 page = CNVME_CTRL_PAGE_SIZE;
	u32 length = blk_rq_payload_bytes(rq);
	u32 chunk = page - (dma & (page - 1));
	unsigned int i, list_idx;
	__le64 *list;

	iod->cmd.common.dptr.prp1 = cpu_to_le64(dma);
	iod->nr_list_pages = 0;
	if (length <= chunk) {
		iod->cmd.common.dptr.prp2 = 0;
		return BLK_STS_OK;
	}

	for (i = 0, list_idx = 0, list = NULL;;) {
		/* Step one controller page forward. */
		length -= chunk;
		if (seg_len > chunk) {
			dma += chunk;
			seg_len -= chunk;
		} else {
			if (unlikely(seg_len != chunk || !sg))
				goto bad_sgl;
			sg = sg_next(sg);
			if (unlikely(!sg))
				goto bad_sgl;
			dma = sg_dma_address(sg);
			seg_len = sg_dma_len(sg);
		}
		if (unlikely(dma & (page - 1)))
			goto bad_sgl;
		chunk = page;

		if (!list) {
			if (length <= page) {
				iod->cmd.common.dptr.prp2 = cpu_to_le64(dma);
				return BLK_STS_OK;
			}
			list = cnvme_list_page(q, iod, 0);
			if (!list)
				return BLK_STS_RESOURCE;
			iod->nr_list_pages = 1;
			iod->cmd.common.dptr.prp2 = cpu_to_le64(iod->list_dma[0]);
		} else if (i == CNVME_PRPS_PER_PAGE) {
			/*
			 * The page is full and more entries follow: its last
			 * slot becomes the pointer to the next list page and
			 * the entry it held moves there.
			 */
			__le64 *next;

			if (unlikely(++list_idx == CNVME_MAX_LIST_PAGES))
				goto bad_sgl;
			next = cnvme_list_page(q, iod, list_idx);
			if (!next)
				return BLK_STS_RESOURCE;
			next[0] = list[i - 1];
			list[i - 1] = cpu_to_le64(iod->list_dma[list_idx]);
			list = next;
			i = 1;
			iod->nr_list_pages = list_idx + 1;
		}
		list[i++] = cpu_to_le64(dma);
		if (length <= page)
			return BLK_STS_OK;
	}

bad_sgl:
	dev_err_ratelimited(q->ctrl->dev,
			    "unaligned DMA segment in a %u-byte request (%u segments)\n",
			    blk_rq_payload_bytes(rq), blk_rq_nr_phys_segments(rq));
	return BLK_STS_IOERR;
}

/*
 * The common case inline: a transfer within one DMA segment that touches
 * at most two controller pages needs PRP1 and PRP2 only (PRP2 is then the
 * second page itself, not a list).  Everything else goes through the list
 * builder above.
 */
static __always_inline blk_status_t cnvme_setup_prps(struct cnvme_queue *q,
						     struct request *rq,
						     struct cnvme_iod *iod,
						     struct scatterlist *sg,
						     dma_addr_t dma, u32 seg_len)
{
	const u32 page = CNVME_CTRL_PAGE_SIZE;
	u32 first = page - (dma & (page - 1));
	u32 length = blk_rq_payload_bytes(rq);

	if (length > seg_len || length > first + page)
		return cnvme_setup_prp_list(q, rq, iod, sg, dma, seg_len);
	iod->cmd.common.dptr.prp1 = cpu_to_le64(dma);
	iod->cmd.common.dptr.prp2 = length > first ? cpu_to_le64(dma + first) : 0;
	iod->nr_list_pages = 0;
	return BLK_STS_OK;
}

static inline void cnvme_sgl_set(struct nvme_sgl_desc *d, dma_addr_t addr,
				 u32 len, u8 type)
{
	d->addr = cpu_to_le64(addr);
	d->length = cpu_to_le32(len);
	memset(d->rsvd, 0, sizeof(d->rsvd));
	d->type = type << 4;
}

/*
 * Describe the data as an SGL: one Data Block descriptor in the command
 * for a single segment, else a Last Segment descriptor pointing at the
 * slot's first list page, which holds one Data Block descriptor per
 * segment.  The queues cap requests at CNVME_MAX_SEGS segments, which fit
 * one page (checked at build time), so the list never needs a Segment
 * descriptor to chain a second page.  SGLS may demand dword alignment of
 * each data block: the queues' dma_alignment of 3 and the sector-sized
 * lengths of block I/O give exactly that, and user buffers that are not
 * aligned so are bounced by the block layer.
 */
static blk_status_t cnvme_setup_sgl(struct cnvme_queue *q,
				    struct cnvme_iod *iod,
				    struct scatterlist *sgl, unsigned int nents,
				    dma_addr_t dma, u32 len)
{
	struct nvme_sgl_desc *list;
	struct scatterlist *sg;
	unsigned int i;

	iod->cmd.common.flags |= NVME_CMD_SGL_METABUF;
	iod->nr_list_pages = 0;
	if (nents <= 1) {
		cnvme_sgl_set(&iod->cmd.common.dptr.sgl, dma, len,
			      NVME_SGL_FMT_DATA_DESC);
		return BLK_STS_OK;
	}
	list = (struct nvme_sgl_desc *)cnvme_list_page(q, iod, 0);
	if (!list)
		return BLK_STS_RESOURCE;
	iod->nr_list_pages = 1;
	for_each_sg(sgl, sg, nents, i)
		cnvme_sgl_set(&list[i], sg_dma_address(sg), sg_dma_len(sg),
			      NVME_SGL_FMT_DATA_DESC);
	cnvme_sgl_set(&iod->cmd.common.dptr.sgl, iod->list_dma[0],
		      nents * sizeof(*list), NVME_SGL_FMT_LAST_SEG_DESC);
	return BLK_STS_OK;
}

/*
 * User passthrough on an I/O queue goes out as an SGL when the controller
 * takes them (and passthru_sgl is left at 1): the descriptors carry the
 * length of the buffer, so a command that would transfer more than user
 * space mapped fails on the controller.  With PRPs the controller would
 * take whatever follows the buffer for more entries; chardev.c refuses
 * such commands to unprivileged users.
 */
static inline bool cnvme_user_sgl(struct cnvme_queue *q, struct cnvme_iod *iod)
{
	return (iod->flags & CNVME_IOD_USER) && q->qid && q->ctrl->sgls &&
	       cnvme_passthru_sgl;
}

/*
 * Block I/O uses an SGL when its segments are large on average: one
 * descriptor per segment then beats one PRP entry per 4 KiB page.  The
 * average is rounded up, as the stock driver's is, without a division:
 * ceil(bytes / nseg) >= threshold exactly when bytes > (threshold - 1) *
 * nseg.
 */
static inline bool cnvme_use_sgl(struct cnvme_queue *q, struct request *rq,
				 struct cnvme_iod *iod)
{
	unsigned int threshold = READ_ONCE(cnvme_sgl_threshold);

	if (!q->qid || !q->ctrl->sgls)
		return false;
	if (iod->flags & CNVME_IOD_USER)
		return cnvme_passthru_sgl;
	return threshold && blk_rq_payload_bytes(rq) >
		(u64)(threshold - 1) * blk_rq_nr_phys_segments(rq);
}

/* Undo the data mapping and give back the command's buffers. */
static inline void cnvme_unmap_data(struct cnvme_queue *q,
				    struct request *rq, struct cnvme_iod *iod)
{
	if (iod->mapped == CNVME_MAP_SINGLE)
		dma_unmap_page(q->ctrl->dev, iod->single_dma, iod->single_len,
			       rq_dma_dir(rq));
	else if (iod->mapped == CNVME_MAP_SG)
		dma_unmap_sgtable(q->ctrl->dev, &iod->sgt, rq_dma_dir(rq), 0);
	iod->mapped = CNVME_MAP_NONE;
	if (unlikely(iod->sgt.sgl || iod->list[0]))
		cnvme_put_bufs(q, iod);
}

static blk_status_t cnvme_map_data(struct cnvme_queue *q, struct request *rq,
				   struct cnvme_iod *iod)
{
	struct cnvme_ctrl *ctrl = q->ctrl;
	bool sgl = cnvme_use_sgl(q, rq, iod);
	blk_status_t ret;
	int rc;

	if (blk_rq_nr_phys_segments(rq) == 1) {
		/* One bio_vec: map it directly, no scatterlist needed. */
		struct bio_vec bv = req_bvec(rq);

		iod->single_dma = dma_map_bvec(ctrl->dev, &bv, rq_dma_dir(rq), 0);
		if (dma_mapping_error(ctrl->dev, iod->single_dma))
			return BLK_STS_RESOURCE;
		iod->single_len = bv.bv_len;
		iod->mapped = CNVME_MAP_SINGLE;
		if (sgl)
			ret = cnvme_setup_sgl(q, iod, NULL, 1,
					      iod->single_dma, bv.bv_len);
		else
			ret = cnvme_setup_prps(q, rq, iod, NULL,
					       iod->single_dma, bv.bv_len);
		goto out;
	}

	iod->sgt.sgl = cnvme_sgl_get(q);
	if (!iod->sgt.sgl)
		return BLK_STS_RESOURCE;
	iod->sgt.orig_nents = blk_rq_map_sg(rq->q, rq, iod->sgt.sgl);
	if (!iod->sgt.orig_nents) {
		ret = BLK_STS_IOERR;
		goto out;
	}
	rc = dma_map_sgtable(ctrl->dev, &iod->sgt, rq_dma_dir(rq),
			     DMA_ATTR_NO_WARN);
	if (rc) {
		ret = rc == -ENOMEM ? BLK_STS_RESOURCE : BLK_STS_IOERR;
		goto out;
	}
	iod->mapped = CNVME_MAP_SG;
	if (sgl)
		ret = cnvme_setup_sgl(q, iod, iod->sgt.sgl, iod->sgt.nents,
				      sg_dma_address(iod->sgt.sgl),
				      sg_dma_len(iod->sgt.sgl));
	else
		ret = cnvme_setup_prps(q, rq, iod, iod->sgt.sgl,
				       sg_dma_address(iod->sgt.sgl),
				       sg_dma_len(iod->sgt.sgl));
out:
	if (ret != BLK_STS_OK) {
		cnvme_unmap_data(q, rq, iod);
		return ret;
	}
	/* What the tests read to tell which path block I/O took. */
	if (!blk_rq_is_passthrough(rq)) {
		if (sgl)
			this_cpu_inc(ctrl->stats->block_sgl);
		else
			this_cpu_inc(ctrl->stats->block_prp);
	}
	return BLK_STS_OK;
}

/* ---- command setup ------------------------------------------------------ */

static inline blk_status_t cnvme_setup_rw(struct cnvme_ns *ns,
					  struct request *rq,
					  struct nvme_command *cmd, u8 opcode)
{
	u16 control = 0;

	if (rq->cmd_flags & REQ_FUA)
		control |= NVME_RW_FUA;

	memset(cmd, 0, sizeof(*cmd));
	cmd->rw.opcode = opcode;
	cmd->rw.nsid = cpu_to_le32(ns->nsid);
	cmd->rw.slba = cpu_to_le64(blk_rq_pos(rq) >>
				   (ns->lba_shift - SECTOR_SHIFT));
	cmd->rw.length = cpu_to_le16((blk_rq_bytes(rq) >> ns->lba_shift) - 1);
	cmd->rw.control = cpu_to_le16(control);
	return BLK_STS_OK;
}

/*
 * Dataset Management (deallocate): one range per bio.  The range array
 * goes into the request slot's PRP list page, which is coherent DMA
 * memory already, so nothing has to be allocated or mapped.
 */
static blk_status_t cnvme_setup_discard(struct cnvme_queue *q,
					struct cnvme_ns *ns, struct request *rq,
					struct cnvme_iod *iod)
{
	struct cnvme_ctrl *ctrl = q->ctrl;
	struct nvme_command *cmd = &iod->cmd;
	struct nvme_dsm_range *range;
	unsigned int n = 0;
	struct bio *bio;

	range = (struct nvme_dsm_range *)cnvme_list_page(q, iod, 0);
	if (!range)
		return BLK_STS_RESOURCE;
	__rq_for_each_bio(bio, rq) {
		if (unlikely(n == NVME_DSM_MAX_RANGES)) {
			dev_err_ratelimited(ctrl->dev, "discard with more than %u ranges\n",
					    NVME_DSM_MAX_RANGES);
			return BLK_STS_IOERR;
		}
		range[n].cattr = 0;
		range[n].nlb = cpu_to_le32(bio->bi_iter.bi_size >> ns->lba_shift);
		range[n].slba = cpu_to_le64(bio->bi_iter.bi_sector >>
					    (ns->lba_shift - SECTOR_SHIFT));
		n++;
	}
	if (unlikely(!n))
		return BLK_STS_IOERR;

	memset(cmd, 0, sizeof(*cmd));
	cmd->dsm.opcode = nvme_cmd_dsm;
	cmd->dsm.nsid = cpu_to_le32(ns->nsid);
	cmd->dsm.nr = cpu_to_le32(n - 1);
	cmd->dsm.attributes = cpu_to_le32(NVME_DSMGMT_AD);
	cmd->dsm.dptr.prp1 = cpu_to_le64(iod->list_dma[0]);
	return BLK_STS_OK;
}

static inline blk_status_t cnvme_setup_write_zeroes(struct cnvme_ns *ns,
						    struct request *rq,
						    struct nvme_command *cmd)
{
	u16 control = 0;

	/* Deallocating is cheaper when the blocks then read as zeroes. */
	if (ns->deac && !(rq->cmd_flags & REQ_NOUNMAP))
		control |= NVME_WZ_DEAC;
	memset(cmd, 0, sizeof(*cmd));
	cmd->write_zeroes.opcode = nvme_cmd_write_zeroes;
	cmd->write_zeroes.nsid = cpu_to_le32(ns->nsid);
	cmd->write_zeroes.slba = cpu_to_le64(blk_rq_pos(rq) >>
					     (ns->lba_shift - SECTOR_SHIFT));
	cmd->write_zeroes.length =
		cpu_to_le16((blk_rq_bytes(rq) >> ns->lba_shift) - 1);
	cmd->write_zeroes.control = cpu_to_le16(control);
	return BLK_STS_OK;
}

static inline blk_status_t cnvme_setup_cmd(struct cnvme_queue *q,
					   struct cnvme_ns *ns,
					   struct request *rq,
					   struct cnvme_iod *iod)
{
	struct nvme_command *cmd = &iod->cmd;

	switch (req_op(rq)) {
	case REQ_OP_READ:
		return cnvme_setup_rw(ns, rq, cmd, nvme_cmd_read);
	case REQ_OP_WRITE:
		return cnvme_setup_rw(ns, rq, cmd, nvme_cmd_write);
	case REQ_OP_DISCARD:
		return cnvme_setup_discard(q, ns, rq, iod);
	case REQ_OP_WRITE_ZEROES:
		return cnvme_setup_write_zeroes(ns, rq, cmd);
	case REQ_OP_FLUSH:
		memset(cmd, 0, sizeof(*cmd));
		cmd->common.opcode = nvme_cmd_flush;
		cmd->common.nsid = cpu_to_le32(ns->nsid);
		return BLK_STS_OK;
	case REQ_OP_DRV_IN:
	case REQ_OP_DRV_OUT:
		/* Built by the submitter before the request was queued. */
		return BLK_STS_OK;
	default:
		return BLK_STS_NOTSUPP;
	}
}

/* Everything before the SQ copy: build, map, number and start @rq. */
static __always_inline blk_status_t cnvme_prep_rq(struct cnvme_queue *q,
						  struct request *rq)
{
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);
	blk_status_t ret;

	if (unlikely(!test_bit(CNVME_Q_LIVE, &q->flags)))
		return BLK_STS_IOERR;

	/* A request blk-mq hands out afresh; a requeued one keeps the flag. */
	if (!(rq->rq_flags & RQF_DONTPREP)) {
		iod->retries = 0;
		rq->rq_flags |= RQF_DONTPREP;
	}
	iod->aborted = 0;
	iod->mapped = CNVME_MAP_NONE;
	iod->status = 0;
	/*
	 * Passthrough submitters set the flags; block I/O has none.  What
	 * the driver itself marked on an earlier submission of this slot
	 * (cancelled by a teardown after an Abort) never carries over.
	 */
	if (!blk_rq_is_passthrough(rq))
		iod->flags = 0;
	else
		iod->flags &= ~CNVME_IOD_CANCELLED;
	ret = cnvme_setup_cmd(q, rq->q->queuedata, rq, iod);
	if (unlikely(ret)) {
		/* A discard may hold a list page already. */
		cnvme_unmap_data(q, rq, iod);
		return ret;
	}

	/* A discard's segments are its ranges, not data to map. */
	if (blk_rq_nr_phys_segments(rq) && req_op(rq) != REQ_OP_DISCARD) {
		ret = cnvme_map_data(q, rq, iod);
		if (ret)
			return ret;
	} else if (unlikely(cnvme_user_sgl(q, iod))) {
		/*
		 * A user command without a buffer: an empty SGL, so that a
		 * command that does move data fails instead of using
		 * address zero.
		 */
		cnvme_setup_sgl(q, iod, NULL, 0, 0, 0);
	}

	iod->gen = (iod->gen + 1) & CNVME_CID_GEN_MASK;
	iod->cmd.common.command_id = iod->gen << CNVME_CID_TAG_BITS | rq->tag;
	trace_cnvme_setup_cmd(q, rq);
	blk_mq_start_request(rq);
	return BLK_STS_OK;
}

static blk_status_t cnvme_queue_rq(struct blk_mq_hw_ctx *hctx,
				   const struct blk_mq_queue_data *bd)
{
	struct cnvme_queue *q = hctx->driver_data;
	struct request *rq = bd->rq;
	blk_status_t ret;

	ret = cnvme_prep_rq(q, rq);
	if (ret)
		return ret;
	if (cnvme_inject_status(q, blk_mq_rq_to_pdu(rq))) {
		/* Never reaches the device: no data moves. */
		blk_mq_complete_request(rq);
		/* What was copied before it still needs its doorbell. */
		if (bd->last) {
			spin_lock(&q->sq_lock);
			cnvme_sq_ring(q);
			spin_unlock(&q->sq_lock);
		}
		return BLK_STS_OK;
	}

	spin_lock(&q->sq_lock);
	cnvme_sq_copy(q, &((struct cnvme_iod *)blk_mq_rq_to_pdu(rq))->cmd);
	if (bd->last)
		cnvme_sq_ring(q);
	spin_unlock(&q->sq_lock);
	return BLK_STS_OK;
}

/* Copy a prepared batch for one queue and ring its doorbell once. */
static __always_inline void cnvme_submit_batch(struct cnvme_queue *q,
					       struct rq_list *batch)
{
	struct request *rq;

	spin_lock(&q->sq_lock);
	while ((rq = rq_list_pop(batch))) {
		struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);

		cnvme_sq_copy(q, &iod->cmd);
	}
	cnvme_sq_ring(q);
	spin_unlock(&q->sq_lock);
}

/*
 * A plugged list of requests: consecutive requests for the same queue are
 * copied under one lock hold with one doorbell write.  Requests that
 * cannot be prepared now are handed back; blk-mq then issues them one by
 * one through queue_rq, which reports their status.
 */
static void cnvme_queue_rqs(struct rq_list *rqlist)
{
	struct rq_list batch = { }, requeue = { };
	struct cnvme_queue *q = NULL;
	struct request *rq;

	while ((rq = rq_list_pop(rqlist))) {
		struct cnvme_queue *rq_q = rq->mq_hctx->driver_data;

		if (q && q != rq_q && !rq_list_empty(&batch))
			cnvme_submit_batch(q, &batch);
		q = rq_q;
		if (cnvme_prep_rq(q, rq) != BLK_STS_OK)
			rq_list_add_tail(&requeue, rq);
		else if (cnvme_inject_status(q, blk_mq_rq_to_pdu(rq)))
			blk_mq_complete_request(rq);
		else
			rq_list_add_tail(&batch, rq);
	}
	if (q && !rq_list_empty(&batch))
		cnvme_submit_batch(q, &batch);
	*rqlist = requeue;
}

static void cnvme_commit_rqs(struct blk_mq_hw_ctx *hctx)
{
	struct cnvme_queue *q = hctx->driver_data;

	spin_lock(&q->sq_lock);
	cnvme_sq_ring(q);
	spin_unlock(&q->sq_lock);
}

/**
 * cnvme_q_send_stray - fault injection: send a command nothing awaits
 * @q: a live I/O queue no request has used, so its SQ is empty
 *
 * A Flush of every namespace with the command id CNVME_CID_STRAY, so that
 * the device answers with a completion the driver cannot match, as a
 * misbehaving device might post.  Here because it needs the SQ helpers.
 *
 * Context: the caller holds @q->ctrl->teardown_lock, with @q live.
 */
void cnvme_q_send_stray(struct cnvme_queue *q)
{
	struct nvme_command cmd = { };

	cmd.common.opcode = nvme_cmd_flush;
	cmd.common.command_id = CNVME_CID_STRAY;
	cmd.common.nsid = cpu_to_le32(NVME_NSID_ALL);
	spin_lock(&q->sq_lock);
	cnvme_sq_copy(q, &cmd);
	cnvme_sq_ring(q);
	spin_unlock(&q->sq_lock);
}

/* ---- completion --------------------------------------------------------- */

static void cnvme_log_error(struct cnvme_ctrl *ctrl, struct request *rq,
			    struct cnvme_iod *iod)
{
	struct cnvme_ns *ns = rq->q->queuedata;

	if (blk_rq_is_passthrough(rq) || (rq->rq_flags & RQF_QUIET) || !ns)
		return;
	dev_err_ratelimited(ctrl->dev,
			    "%s: opcode %#x at LBA %llu, %u blocks, failed with status %#x (sct %u sc %#x%s) after %u retries\n",
			    rq->q->disk ? rq->q->disk->disk_name : "?",
			    iod->cmd.common.opcode,
			    (unsigned long long)blk_rq_pos(rq) >>
			    (ns->lba_shift - SECTOR_SHIFT),
			    blk_rq_bytes(rq) >> ns->lba_shift, iod->status,
			    NVME_SCT(iod->status), iod->status & NVME_SC_MASK,
			    iod->status & NVME_STATUS_DNR ? ", DNR" : "",
			    iod->retries);
}

/*
 * Send a failed I/O command again if its status allows: not DNR, not a
 * passthrough or fail-fast request, and within max_retries.  A command
 * cancelled by a controller reset (Host Aborted without DNR) was not at
 * fault and is always requeued; the timeout handler counts the timeouts
 * that caused resets, and cnvme_cancel_rq() sets DNR once they exceed
 * max_retries.  The controller may ask for a delay (CRD), which is
 * honoured through the delayed requeue list.
 */
static bool cnvme_retry(struct cnvme_ctrl *ctrl, struct request *rq,
			struct cnvme_iod *iod)
{
	unsigned int crd;

	if ((iod->status & NVME_STATUS_DNR) || blk_rq_is_passthrough(rq) ||
	    blk_noretry_request(rq))
		return false;
	if ((iod->status & NVME_SCT_SC_MASK) != NVME_SC_HOST_ABORTED_CMD) {
		if (iod->retries >= cnvme_max_retries)
			return false;
		iod->retries++;
	}

	crd = (iod->status & NVME_STATUS_CRD) >> 11;
	if (crd && ctrl->crdt[crd - 1]) {
		blk_mq_requeue_request(rq, false);
		blk_mq_delay_kick_requeue_list(rq->q, ctrl->crdt[crd - 1] * 100);
	} else {
		blk_mq_requeue_request(rq, true);
	}
	return true;
}

static void cnvme_complete_rq(struct request *rq)
{
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);
	struct cnvme_queue *q = rq->mq_hctx->driver_data;

	trace_cnvme_complete_rq(q, rq);
	cnvme_unmap_data(q, rq, iod);
	if (unlikely(iod->status)) {
		if (cnvme_retry(q->ctrl, rq, iod))
			return;
		cnvme_log_error(q->ctrl, rq, iod);
	}
	blk_mq_end_request(rq, cnvme_status_to_blk(iod->status));
}

static void cnvme_complete_batch(struct io_comp_batch *iob)
{
	struct request *rq;

	rq_list_for_each(&iob->req_list, rq) {
		struct cnvme_queue *q = rq->mq_hctx->driver_data;

		trace_cnvme_complete_rq(q, rq);
		cnvme_unmap_data(q, rq, blk_mq_rq_to_pdu(rq));
	}
	blk_mq_end_request_batch(iob);
}

static inline void cnvme_handle_cqe(struct cnvme_queue *q,
				    struct io_comp_batch *iob,
				    struct nvme_completion *cqe, u16 status)
{
	u16 cid = READ_ONCE(cqe->command_id);
	u16 tag = cid & CNVME_CID_TAG_MASK;
	struct blk_mq_tags *tags = READ_ONCE(q->tags);
	struct cnvme_iod *iod;
	struct request *rq;

	/*
	 * An I/O queue gets its tags only with the first request queue of
	 * the tag set: before a namespace exists nothing was sent on it, so
	 * whatever completes there is bogus.
	 */
	if (unlikely(!tags))
		goto bogus;
	rq = tag < tags->nr_tags ? blk_mq_tag_to_rq(tags, tag) : NULL;
	if (unlikely(!rq))
		goto bogus;
	iod = blk_mq_rq_to_pdu(rq);
	if (unlikely(iod->gen != cid >> CNVME_CID_TAG_BITS ||
		     blk_mq_rq_state(rq) != MQ_RQ_IN_FLIGHT))
		goto bogus;
	if (cnvme_inject_hide_cqe(q, iod))
		return;
	/*
	 * The block layer's fail_io_timeout (CONFIG_FAIL_IO_TIMEOUT, the
	 * disk's io-timeout-fail attribute) drops the completion here, as
	 * for the stock driver, so the same test drives both timeout paths;
	 * a constant false on kernels without it.
	 */
	if (unlikely(blk_should_fake_timeout(rq->q)))
		return;

	iod->status = status;
	iod->result = READ_ONCE(cqe->result);
	if (blk_mq_complete_request_remote(rq))
		return;
	if (!blk_mq_add_to_batch(rq, iob, status != 0, cnvme_complete_batch))
		cnvme_complete_rq(rq);
	return;

bogus:
	if (cid == CNVME_CID_STRAY)
		clear_bit(CNVME_Q_STRAY, &q->flags);
	dev_warn_ratelimited(q->ctrl->dev,
			     "qid %u: completion for unknown or stale command id %#x ignored\n",
			     q->qid, cid);
}

/*
 * Consume new completion entries, at most @budget.  The caller owns the
 * CQ: it is the queue's interrupt handler, its irq_poll instance, or
 * neither is known to run.
 */
static __always_inline int cnvme_process_cq(struct cnvme_queue *q,
					    struct io_comp_batch *iob,
					    unsigned int budget)
{
	u16 head = q->cq_head;
	u8 phase = q->cq_phase;
	unsigned int found = 0;

	/*
	 * The ring position lives in locals and is stored once at the end:
	 * cnvme_poll() and cnvme_irq_check() peek at it without owning the
	 * CQ, and must never see an index one past the ring.
	 */
	for (;;) {
		struct nvme_completion *cqe = &q->cqes[head];
		u16 status = le16_to_cpu(READ_ONCE(cqe->status));

		if ((status & 1) != phase)
			break;
		/*
		 * The phase tag says the device has written this entry.
		 * Nothing else in it may be read before that check: without
		 * the barrier the CPU may load the command identifier
		 * before the status word and pair a stale identifier with
		 * a fresh phase tag.
		 */
		dma_rmb();
		cnvme_handle_cqe(q, iob, cqe, status >> 1);
		found++;
		if (++head == q->depth) {
			head = 0;
			phase ^= 1;
		}
		if (found == budget)
			break;
	}
	if (!found)
		return 0;
	WRITE_ONCE(q->cq_head, head);
	WRITE_ONCE(q->cq_phase, phase);
	if (cnvme_dbbuf_need_mmio(q->dbbuf_cq_db, q->dbbuf_cq_ei, head))
		writel(head, q->cq_db);
	return found;
}

/**
 * cnvme_irq - interrupt handler of a completion queue
 * @irq: the interrupt number
 * @data: the struct cnvme_queue
 *
 * By default completions are handled right here in hard-irq context:
 * each is a few loads and a blk-mq call, cheaper than waking a thread
 * (Documentation/benchmarks.rst has the measurement).  With
 * use_threaded_interrupts=1 this is the queue's irq thread instead, woken
 * by cnvme_irq_check().  An interrupt that consumes irq_poll_threshold
 * completions on a queue with CNVME_Q_MITIGATE and finds more leaves them,
 * and those that follow, to the queue's irq_poll instance (irqpoll.c).
 * The interrupt resent when that re-enables the vector usually finds the
 * CQ drained already, and counts as unhandled: harmless, far below the
 * spurious-interrupt detector's limit.
 *
 * Return: IRQ_HANDLED if any completion was consumed.
 */
irqreturn_t cnvme_irq(int irq, void *data)
{
	struct cnvme_queue *q = data;
	DEFINE_IO_COMP_BATCH(iob);
	unsigned int found;

	if (unlikely(!test_bit(CNVME_Q_LIVE, &q->flags)))
		return IRQ_NONE;
	/* Handled, or a run of lost interrupts would look spurious. */
	if (cnvme_inject_lost_irq(q))
		return IRQ_HANDLED;
	found = cnvme_process_cq(q, &iob, q->irq_budget);
	if (!found)
		return IRQ_NONE;
	if (!rq_list_empty(&iob.req_list))
		iob.complete(&iob);
	/* Budget spent and more waiting: the rest is irq_poll's. */
	if (found == q->irq_budget && cnvme_q_cqe_new(q))
		cnvme_q_irqpoll_start(q, irq);
	return IRQ_HANDLED;
}

/**
 * cnvme_irq_check - hard-irq half of the threaded interrupt mode
 * @irq: the interrupt number
 * @data: the struct cnvme_queue
 *
 * With use_threaded_interrupts=1 only this runs in hard-irq context: it
 * looks at the phase tag of the next CQ entry and wakes the thread, which
 * runs cnvme_irq().  The thread owns the CQ; this only reads, so a stale
 * head or phase costs at most a spurious wake-up, and a completion the
 * thread is about to consume was posted before its final look.
 *
 * Return: IRQ_WAKE_THREAD if the CQ holds a new entry, else IRQ_NONE.
 */
irqreturn_t cnvme_irq_check(int irq, void *data)
{
	struct cnvme_queue *q = data;

	if (unlikely(!test_bit(CNVME_Q_LIVE, &q->flags)))
		return IRQ_NONE;
	if (!cnvme_q_cqe_new(q))
		return IRQ_NONE;
	return IRQ_WAKE_THREAD;
}

/*
 * Polled completion for REQ_POLLED I/O.  Several tasks may poll the same
 * queue, so the CQ is owned by whoever holds cq_poll_lock; the cheap
 * phase check first keeps idle polls lock-free.
 */
static int cnvme_poll(struct blk_mq_hw_ctx *hctx, struct io_comp_batch *iob)
{
	struct cnvme_queue *q = hctx->driver_data;
	int found = 0;

	if (!cnvme_q_cqe_new(q))
		return 0;
	spin_lock(&q->cq_poll_lock);
	if (test_bit(CNVME_Q_LIVE, &q->flags))
		found = cnvme_process_cq(q, iob, UINT_MAX);
	spin_unlock(&q->cq_poll_lock);
	return found;
}

/**
 * cnvme_poll_index - poll one poll queue of a namespace, by index
 * @q: the namespace's request queue
 * @idx: the hardware context's queue_num, saved when the request was made
 * @iob: the caller's completion batch
 *
 * For the io_uring passthrough poller, which may still be polling after
 * its request ended and went back to the tag set.  The usage reference
 * taken here keeps a freeze, and so a change of the hardware contexts,
 * from completing while the context looked up is used.  It is taken with
 * percpu_ref_tryget(), not the _live variant: a queue being frozen must
 * still be polled, as the freeze waits for the polled requests in flight;
 * one whose count drained to zero has no request left.  The rings behind
 * the context stay allocated as long as it is in the table:
 * cnvme_io_queues_free() runs only after every namespace queue was
 * deleted.  One pass, whatever @poll_flags say: io_uring does the looping.
 *
 * Return: the number of completions found, 0 if none or not a poll queue.
 */
int cnvme_poll_index(struct request_queue *q, unsigned int idx,
		     struct io_comp_batch *iob)
{
	struct blk_mq_hw_ctx *hctx;
	int found = 0;

	if (!percpu_ref_tryget(&q->q_usage_counter))
		return 0;
	hctx = xa_load(&q->hctx_table, idx);
	/* Never remapped (no blk_mq_update_nr_hw_queues): still a poll one. */
	if (!WARN_ON_ONCE(!hctx || hctx->type != HCTX_TYPE_POLL))
		found = cnvme_poll(hctx, iob);
	percpu_ref_put(&q->q_usage_counter);
	return found;
}

/**
 * cnvme_q_reap - consume completions without the interrupt handler
 * @q: a queue whose interrupt handler cannot run (suspended or disabled)
 *
 * Return: the number of completion entries consumed.
 */
int cnvme_q_reap(struct cnvme_queue *q)
{
	return cnvme_process_cq(q, NULL, UINT_MAX);
}

/**
 * cnvme_q_reap_batch - consume and complete up to @budget completions
 * @q: a queue whose CQ the caller owns (its irq_poll instance)
 * @budget: the most entries to consume
 *
 * As the interrupt handler does, with the completions batched.
 *
 * Return: the number of completion entries consumed.
 */
int cnvme_q_reap_batch(struct cnvme_queue *q, unsigned int budget)
{
	DEFINE_IO_COMP_BATCH(iob);
	int found;

	found = cnvme_process_cq(q, &iob, budget);
	if (!rq_list_empty(&iob.req_list))
		iob.complete(&iob);
	return found;
}

static bool cnvme_cancel_rq(struct request *rq, void *data)
{
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);
	bool requeue = *(bool *)data;

	if (blk_mq_request_completed(rq))
		return true;
	/* User space sees EINTR for a passthrough command ended this way. */
	iod->flags |= CNVME_IOD_CANCELLED;
	iod->status = NVME_SC_HOST_ABORTED_CMD;
	if (!requeue || iod->retries > cnvme_max_retries)
		iod->status |= NVME_STATUS_DNR;
	blk_mq_complete_request(rq);
	return true;
}

/**
 * cnvme_cancel_all - complete every started request with an abort status
 * @ctrl: the controller, whose queues must all be suspended
 * @requeue: let I/O requests go back to blk-mq (a reset), instead of
 *	failing them (the controller is dead or going away); admin commands
 *	always fail
 */
void cnvme_cancel_all(struct cnvme_ctrl *ctrl, bool requeue)
{
	bool fail = false;

	if (ctrl->tagset_ready) {
		blk_mq_tagset_busy_iter(&ctrl->tagset, cnvme_cancel_rq, &requeue);
		blk_mq_tagset_wait_completed_request(&ctrl->tagset);
	}
	blk_mq_tagset_busy_iter(&ctrl->admin_tagset, cnvme_cancel_rq, &fail);
	blk_mq_tagset_wait_completed_request(&ctrl->admin_tagset);
}

static bool cnvme_count_inflight(struct request *rq, void *data)
{
	if (blk_mq_rq_state(rq) == MQ_RQ_IN_FLIGHT)
		(*(unsigned int *)data)++;
	return true;
}

/**
 * cnvme_io_drain - wait for the I/O commands in flight to complete
 * @ctrl: the controller, with its namespaces' queues quiesced
 * @timeout: how long to wait, in jiffies
 *
 * Before CC.SHN the controller should have nothing outstanding: with the
 * queues quiesced nothing new is sent, and what is in flight completes
 * normally through the interrupt handlers.  Whatever is left at the
 * deadline is cancelled by the teardown that follows.
 *
 * Context: process context, not holding @ctrl->teardown_lock.
 * Return: true if no I/O command is in flight any more.
 */
bool cnvme_io_drain(struct cnvme_ctrl *ctrl, unsigned long timeout)
{
	unsigned long deadline = jiffies + timeout;
	unsigned int busy;

	if (!ctrl->tagset_ready)
		return true;
	for (;;) {
		busy = 0;
		blk_mq_tagset_busy_iter(&ctrl->tagset, cnvme_count_inflight,
					&busy);
		if (!busy)
			return true;
		if (time_after(jiffies, deadline))
			return false;
		usleep_range(10000, 20000);
	}
}

static enum rq_end_io_ret cnvme_abort_end_io(struct request *rq,
					     blk_status_t error)
{
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);
	struct cnvme_ctrl *ctrl = rq->end_io_data;

	/* Completion dword 0, bit 0 clear: the command was aborted. */
	if (!iod->status)
		dev_warn_ratelimited(ctrl->dev, "Abort of command id %#x: %s\n",
				     iod->cmd.abort.cid,
				     le32_to_cpu(iod->result.u32) & 1 ?
				     "not aborted" : "aborted");
	else if ((iod->status & NVME_SCT_SC_MASK) != NVME_SC_HOST_ABORTED_CMD)
		dev_warn_ratelimited(ctrl->dev, "Abort of command id %#x failed with status %#x\n",
				     iod->cmd.abort.cid, iod->status);
	atomic_dec(&ctrl->aborts);
	return RQ_END_IO_FREE;
}

/*
 * Ask the controller to abort a timed-out I/O command.  Aborts are few
 * (ACL): without a free one the caller simply waits for the next timeout.
 * Return: true if the Abort was sent.
 */
static bool cnvme_abort(struct cnvme_ctrl *ctrl, struct cnvme_queue *q,
			struct request *rq)
{
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);
	struct cnvme_iod *aiod;
	struct request *abort_rq;

	if (atomic_inc_return(&ctrl->aborts) > ctrl->abort_limit)
		goto out_put;
	abort_rq = blk_mq_alloc_request(ctrl->admin_q, REQ_OP_DRV_IN,
					BLK_MQ_REQ_NOWAIT);
	if (IS_ERR(abort_rq))
		goto out_put;
	aiod = blk_mq_rq_to_pdu(abort_rq);
	/* The slot may still carry a previous command's flags. */
	aiod->flags = 0;
	memset(&aiod->cmd, 0, sizeof(aiod->cmd));
	aiod->cmd.abort.opcode = nvme_admin_abort_cmd;
	aiod->cmd.abort.cid = iod->cmd.common.command_id;
	aiod->cmd.abort.sqid = cpu_to_le16(q->qid);
	aiod->status = 0;
	abort_rq->timeout = cnvme_admin_timeout * HZ;
	abort_rq->end_io = cnvme_abort_end_io;
	abort_rq->end_io_data = ctrl;
	trace_cnvme_abort(q, rq);
	blk_execute_rq_nowait(abort_rq, false);
	return true;

out_put:
	atomic_dec(&ctrl->aborts);
	return false;
}

/*
 * A command outlived its timeout.  In order:
 *  - cnvme's Asynchronous Event Requests wait for events: not a timeout;
 *  - during PCI error recovery the error handlers own the device: wait;
 *  - a device that is gone fails the controller at once;
 *  - a live controller reporting a fatal status is reset;
 *  - the CQ is reaped: a lost interrupt is not a timeout;
 *  - while a reset is pending its teardown completes the command: wait;
 *  - while probe, a reset's rebuild or remove waits for the command, the
 *    controller is declared dead, which fails it;
 *  - a live controller gets an Abort for an I/O command the first time,
 *    and a reset the second time or for an admin command.
 */
static enum blk_eh_timer_return cnvme_timeout(struct request *rq)
{
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);
	struct cnvme_queue *q = rq->mq_hctx->driver_data;
	struct cnvme_ctrl *ctrl = q->ctrl;
	/* Which submission of @rq timed out: a reset may send it again. */
	u8 gen = READ_ONCE(iod->gen);
	enum cnvme_ctrl_state state;
	u32 csts;

	/*
	 * An Asynchronous Event Request completes only when an event
	 * happens, which may be never: waiting is not a fault.  A teardown
	 * cancels it like any other command.
	 */
	if (iod->flags & CNVME_IOD_AER)
		return BLK_EH_RESET_TIMER;
	trace_cnvme_timeout(q, rq);

	/* A frozen link reads as all ones too; cnvme_ers_work() may give up. */
	if (pci_channel_offline(ctrl->pdev) && !READ_ONCE(ctrl->ers_abandoned))
		return BLK_EH_RESET_TIMER;
	if (!cnvme_ctrl_present(ctrl)) {
		dev_warn_ratelimited(ctrl->dev, "qid %u: command id %#x timed out and the device is gone\n",
				     q->qid, iod->cmd.common.command_id);
		cnvme_ctrl_fail_rq(ctrl, rq, gen);
		return BLK_EH_DONE;
	}

	csts = readl(ctrl->bar + NVME_REG_CSTS);
	if ((csts & NVME_CSTS_CFS) && READ_ONCE(ctrl->state) == CNVME_CTRL_LIVE) {
		dev_err_ratelimited(ctrl->dev, "controller fatal status (CSTS %#x) on timeout, resetting controller\n",
				    csts);
		cnvme_ctrl_schedule_reset(ctrl);
		return BLK_EH_RESET_TIMER;
	}

	cnvme_q_poll(q);
	if (blk_mq_rq_state(rq) != MQ_RQ_IN_FLIGHT) {
		dev_warn_ratelimited(ctrl->dev,
				     "qid %u: command id %#x found complete on timeout, interrupt lost?\n",
				     q->qid, iod->cmd.common.command_id);
		return BLK_EH_DONE;
	}

	state = READ_ONCE(ctrl->state);
	switch (state) {
	case CNVME_CTRL_LIVE:
		break;
	case CNVME_CTRL_RESETTING:
		return BLK_EH_RESET_TIMER;
	default:
		dev_warn_ratelimited(ctrl->dev, "qid %u: command id %#x opcode %#x timed out while %s, disabling the controller\n",
				     q->qid, iod->cmd.common.command_id,
				     iod->cmd.common.opcode,
				     cnvme_ctrl_state_name(state));
		cnvme_ctrl_fail_rq(ctrl, rq, gen);
		return BLK_EH_DONE;
	}

	if (!q->qid || iod->aborted) {
		dev_warn_ratelimited(ctrl->dev, "qid %u: command id %#x opcode %#x timed out%s, resetting controller\n",
				     q->qid, iod->cmd.common.command_id,
				     iod->cmd.common.opcode,
				     iod->aborted ? " again after an Abort" : "");
		/* Counted here; cnvme_cancel_rq() fails it past max_retries. */
		if (iod->retries < U8_MAX)
			iod->retries++;
		cnvme_ctrl_schedule_reset(ctrl);
		return BLK_EH_RESET_TIMER;
	}

	if (cnvme_abort(ctrl, q, rq)) {
		iod->aborted = 1;
		dev_warn_ratelimited(ctrl->dev, "qid %u: command id %#x opcode %#x timed out, aborting\n",
				     q->qid, iod->cmd.common.command_id,
				     iod->cmd.common.opcode);
	}
	return BLK_EH_RESET_TIMER;
}

static int cnvme_admin_init_hctx(struct blk_mq_hw_ctx *hctx, void *data,
				 unsigned int hctx_idx)
{
	struct cnvme_ctrl *ctrl = data;
	struct cnvme_queue *q = &ctrl->queues[0];

	hctx->driver_data = q;
	q->tags = hctx->tags;
	return 0;
}

static int cnvme_init_hctx(struct blk_mq_hw_ctx *hctx, void *data,
			   unsigned int hctx_idx)
{
	struct cnvme_ctrl *ctrl = data;
	struct cnvme_queue *q = &ctrl->queues[hctx_idx + 1];

	hctx->driver_data = q;
	q->tags = hctx->tags;
	return 0;
}

/*
 * Buffers go back to the reserve when a command completes; a request
 * that never completed (its tag set is torn down after a failed probe)
 * may still hold some, which go straight back to the allocators.
 */
static void cnvme_exit_request(struct blk_mq_tag_set *set, struct request *rq,
			       unsigned int hctx_idx)
{
	struct cnvme_ctrl *ctrl = set->driver_data;
	struct cnvme_iod *iod = blk_mq_rq_to_pdu(rq);
	unsigned int i;

	for (i = 0; i < CNVME_MAX_LIST_PAGES; i++) {
		if (iod->list[i])
			dma_pool_free(ctrl->prp_pool, iod->list[i],
				      iod->list_dma[i]);
		iod->list[i] = NULL;
	}
	kfree(iod->sgt.sgl);
	iod->sgt.sgl = NULL;
}

/*
 * Hardware contexts follow the queue ids: the default map, then the read
 * map, then the polled queues.  Interrupt-driven maps follow the affinity
 * of their vectors (vector 0 is the admin queue's, I/O queue n uses
 * vector n); polled queues are spread over the CPUs.  An empty map makes
 * blk-mq fall back to the default one.
 */
static void cnvme_map_queues(struct blk_mq_tag_set *set)
{
	struct cnvme_ctrl *ctrl = set->driver_data;
	unsigned int i, offset = 0;

	for (i = 0; i < set->nr_maps; i++) {
		struct blk_mq_queue_map *map = &set->map[i];

		map->nr_queues = ctrl->io_queues[i];
		map->queue_offset = offset;
		if (!map->nr_queues)
			continue;
		if (i != HCTX_TYPE_POLL && ctrl->nr_vecs > 1)
			blk_mq_pci_map_queues(map, ctrl->pdev, offset + 1);
		else
			blk_mq_map_queues(map);
		offset += map->nr_queues;
	}
}

const struct blk_mq_ops cnvme_admin_mq_ops = {
	.queue_rq	= cnvme_queue_rq,
	.complete	= cnvme_complete_rq,
	.init_hctx	= cnvme_admin_init_hctx,
	.exit_request	= cnvme_exit_request,
	.timeout	= cnvme_timeout,
};

const struct blk_mq_ops cnvme_mq_ops = {
	.queue_rq	= cnvme_queue_rq,
	.queue_rqs	= cnvme_queue_rqs,
	.commit_rqs	= cnvme_commit_rqs,
	.complete	= cnvme_complete_rq,
	.poll		= cnvme_poll,
	.init_hctx	= cnvme_init_hctx,
	.exit_request	= cnvme_exit_request,
	.map_queues	= cnvme_map_queues,
	.timeout	= cnvme_timeout,
};
