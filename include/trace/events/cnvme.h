/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cnvme tracepoints: what the driver sends to the controller and what
 * comes back, for perf, bpftrace and tracefs (events/cnvme/).
 *
 * The fields of cnvme_setup_cmd, cnvme_complete_rq and cnvme_sq_doorbell
 * carry the names of the stock driver's nvme_setup_cmd and
 * nvme_complete_rq where they mean the same (ctrl_id, disk, qid, cid,
 * opcode, fctype, nsid, cdw10, status, result, retries; in cnvme_setup_cmd
 * also flags, the command's own), so a recipe written for nvme:* works on
 * cnvme:* with the event names changed.  cnvme_complete_rq's flags are
 * cnvme's (CNVME_IOD_*, printed by name), not stock's nvme_req flags.
 *
 * Each trace_cnvme_*() call is a static branch that is patched out while
 * its event is disabled: its arguments are pointers the caller holds
 * anyway, and everything else is read in TP_fast_assign, only when the
 * event is on.  The assignments look into the driver's private structures
 * (drivers/block/cnvme/cnvme.h), which only drivers/block/cnvme/trace.c,
 * the one file that defines the events, needs to see.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM cnvme

#if !defined(_TRACE_CNVME_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_CNVME_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/nvme.h>
#include <linux/trace_seq.h>
#include <linux/tracepoint.h>

struct cnvme_ctrl;
struct cnvme_queue;

const char *cnvme_trace_parse_cmd(struct trace_seq *p, int qid, u8 opcode,
				  const u8 *cdw10);

/* The controller states, as user space parsers must see them. */
TRACE_DEFINE_ENUM(CNVME_CTRL_NEW);
TRACE_DEFINE_ENUM(CNVME_CTRL_LIVE);
TRACE_DEFINE_ENUM(CNVME_CTRL_RESETTING);
TRACE_DEFINE_ENUM(CNVME_CTRL_CONNECTING);
TRACE_DEFINE_ENUM(CNVME_CTRL_DELETING);
TRACE_DEFINE_ENUM(CNVME_CTRL_DEAD);
TRACE_DEFINE_ENUM(CNVME_IOD_USER);
TRACE_DEFINE_ENUM(CNVME_IOD_CANCELLED);
TRACE_DEFINE_ENUM(CNVME_IOD_AER);

#define show_cnvme_iod_flags(flags)				\
	__print_flags(flags, "|",				\
		{ CNVME_IOD_USER,	"user" },		\
		{ CNVME_IOD_CANCELLED,	"cancelled" },		\
		{ CNVME_IOD_AER,	"aer" })

#define show_cnvme_ctrl_state(state)				\
	__print_symbolic(state,					\
		{ CNVME_CTRL_NEW,		"new" },	\
		{ CNVME_CTRL_LIVE,		"live" },	\
		{ CNVME_CTRL_RESETTING,		"resetting" },	\
		{ CNVME_CTRL_CONNECTING,	"connecting" },	\
		{ CNVME_CTRL_DELETING,		"deleting" },	\
		{ CNVME_CTRL_DEAD,		"dead" })

#ifndef TRACE_HEADER_MULTI_READ
/*
 * The disk a request belongs to, or "" for the admin queue; padded with
 * NULs, as the whole array goes to the ring buffer and to user space.
 */
static inline void cnvme_trace_disk(char *dst, const struct request *rq)
{
	if (rq->q->disk)
		strscpy_pad(dst, rq->q->disk->disk_name, DISK_NAME_LEN);
	else
		memset(dst, 0, DISK_NAME_LEN);
}

/*
 * The number of logical blocks of an I/O command that addresses a range
 * (its 0's based NLB plus one), else 0.
 */
static inline u32 cnvme_trace_blocks(int qid, const struct nvme_command *cmd)
{
	if (!qid)
		return 0;
	switch (cmd->common.opcode) {
	case nvme_cmd_read:
	case nvme_cmd_write:
	case nvme_cmd_write_zeroes:
	case nvme_cmd_compare:
	case nvme_cmd_verify:
	case nvme_cmd_write_uncor:
		return le16_to_cpu(cmd->rw.length) + 1;
	default:
		return 0;
	}
}
#endif

/* The command a request carries (struct cnvme_iod is in cnvme.h). */
#define cnvme_trace_iod(rq)	((struct cnvme_iod *)blk_mq_rq_to_pdu(rq))

/*
 * A command as it goes into the submission queue.  @slba and @blocks
 * decode the LBA range of the I/O commands that have one (Read, Write,
 * Write Zeroes, Compare, Verify, Write Uncorrectable; @blocks is the
 * count, the command's 0's based NLB plus one) and are 0 otherwise;
 * @cdw10 holds command dwords 10 to 15 as sent.
 */
TRACE_EVENT(cnvme_setup_cmd,
	    TP_PROTO(struct cnvme_queue *q, struct request *rq),
	    TP_ARGS(q, rq),
	    TP_STRUCT__entry(__array(char, disk, DISK_NAME_LEN)
			     __field(int, ctrl_id)
			     __field(int, qid)
			     __field(u8, opcode)
			     __field(u8, flags)
			     __field(u8, fctype)
			     __field(u16, cid)
			     __field(u32, nsid)
			     __field(u64, slba)
			     __field(u32, blocks)
			     __array(u8, cdw10, 24)),
	    TP_fast_assign(const struct nvme_command *cmd = &cnvme_trace_iod(rq)->cmd;

			   cnvme_trace_disk(__entry->disk, rq);
			   __entry->ctrl_id = q->ctrl->instance;
			   __entry->qid = q->qid;
			   __entry->opcode = cmd->common.opcode;
			   __entry->flags = cmd->common.flags;
			   __entry->fctype = cmd->fabrics.fctype;
			   __entry->cid = cmd->common.command_id;
			   __entry->nsid = le32_to_cpu(cmd->common.nsid);
			   __entry->blocks = cnvme_trace_blocks(q->qid, cmd);
			   __entry->slba = __entry->blocks ? le64_to_cpu(cmd->rw.slba) : 0;
			   memcpy(__entry->cdw10, &cmd->common.cdws, sizeof(__entry->cdw10));),
	    TP_printk("ctrl_id=%d, disk=%s, qid=%d, cmdid=%u, nsid=%u, flags=0x%x, cmd=(%s %s)",
		      __entry->ctrl_id, __entry->disk, __entry->qid, __entry->cid,
		      __entry->nsid, __entry->flags,
		      show_opcode_name(__entry->qid, __entry->opcode, __entry->fctype),
		      cnvme_trace_parse_cmd(p, __entry->qid, __entry->opcode, __entry->cdw10))
);

/*
 * A command's completion reaches the block layer: each time, so a command
 * the driver sends again (@retries counts those) completes more than
 * once.  Commands that the driver ends itself (a reset cancels them)
 * complete here too, with the status it gave them.
 */
TRACE_EVENT(cnvme_complete_rq,
	    TP_PROTO(struct cnvme_queue *q, struct request *rq),
	    TP_ARGS(q, rq),
	    TP_STRUCT__entry(__array(char, disk, DISK_NAME_LEN)
			     __field(int, ctrl_id)
			     __field(int, qid)
			     __field(int, cid)
			     __field(u64, result)
			     __field(u8, retries)
			     __field(u8, flags)
			     __field(u16, status)),
	    TP_fast_assign(const struct cnvme_iod *iod = cnvme_trace_iod(rq);

			   cnvme_trace_disk(__entry->disk, rq);
			   __entry->ctrl_id = q->ctrl->instance;
			   __entry->qid = q->qid;
			   __entry->cid = iod->cmd.common.command_id;
			   __entry->result = le64_to_cpu(iod->result.u64);
			   __entry->retries = iod->retries;
			   __entry->flags = iod->flags;
			   __entry->status = iod->status;),
	    TP_printk("ctrl_id=%d, disk=%s, qid=%d, cmdid=%u, res=%#llx, retries=%u, flags=%s, status=%#x",
		      __entry->ctrl_id, __entry->disk, __entry->qid, __entry->cid,
		      __entry->result, __entry->retries,
		      __entry->flags ? show_cnvme_iod_flags(__entry->flags) :
				       "none", __entry->status)
);

/*
 * One SQ tail doorbell update: @count commands, copied since the last one
 * (a plugged batch, or one command), from @old_tail to @sq_tail.  @mmio
 * is 0 when only the shadow doorbell was written because the controller's
 * event index did not ask for an MMIO write.
 */
TRACE_EVENT(cnvme_sq_doorbell,
	    TP_PROTO(struct cnvme_queue *q, bool mmio),
	    TP_ARGS(q, mmio),
	    TP_STRUCT__entry(__field(int, ctrl_id)
			     __field(int, qid)
			     __field(u16, old_tail)
			     __field(u16, sq_tail)
			     __field(u16, count)
			     __field(bool, mmio)),
	    TP_fast_assign(__entry->ctrl_id = q->ctrl->instance;
			   __entry->qid = q->qid;
			   __entry->old_tail = q->last_sq_tail;
			   __entry->sq_tail = q->sq_tail;
			   __entry->count = (q->sq_tail + q->depth - q->last_sq_tail) % q->depth;
			   __entry->mmio = mmio;),
	    TP_printk("ctrl_id=%d, qid=%d, old_tail=%u, tail=%u, count=%u, mmio=%u",
		      __entry->ctrl_id, __entry->qid, __entry->old_tail,
		      __entry->sq_tail, __entry->count, __entry->mmio)
);

/*
 * A command outlived its timeout, before the handler decides what to do;
 * cnvme_abort and cnvme_reset follow when it aborts or resets.  @aborted
 * says an Abort was already sent for this submission.
 */
TRACE_EVENT(cnvme_timeout,
	    TP_PROTO(struct cnvme_queue *q, struct request *rq),
	    TP_ARGS(q, rq),
	    TP_STRUCT__entry(__array(char, disk, DISK_NAME_LEN)
			     __field(int, ctrl_id)
			     __field(int, qid)
			     __field(u16, cid)
			     __field(u8, opcode)
			     __field(u32, nsid)
			     __field(u8, retries)
			     __field(u8, aborted)
			     __field(int, state)),
	    TP_fast_assign(const struct cnvme_iod *iod = cnvme_trace_iod(rq);

			   cnvme_trace_disk(__entry->disk, rq);
			   __entry->ctrl_id = q->ctrl->instance;
			   __entry->qid = q->qid;
			   __entry->cid = iod->cmd.common.command_id;
			   __entry->opcode = iod->cmd.common.opcode;
			   __entry->nsid = le32_to_cpu(iod->cmd.common.nsid);
			   __entry->retries = iod->retries;
			   __entry->aborted = iod->aborted;
			   __entry->state = READ_ONCE(q->ctrl->state);),
	    TP_printk("ctrl_id=%d, disk=%s, qid=%d, cmdid=%u, nsid=%u, cmd=(%s), retries=%u, aborted=%u, state=%s",
		      __entry->ctrl_id, __entry->disk, __entry->qid, __entry->cid,
		      __entry->nsid,
		      show_opcode_name(__entry->qid, __entry->opcode, 0),
		      __entry->retries, __entry->aborted,
		      show_cnvme_ctrl_state(__entry->state))
);

/* An Abort command is sent for the timed-out command @cid of queue @qid. */
TRACE_EVENT(cnvme_abort,
	    TP_PROTO(struct cnvme_queue *q, struct request *rq),
	    TP_ARGS(q, rq),
	    TP_STRUCT__entry(__field(int, ctrl_id)
			     __field(int, qid)
			     __field(u16, cid)
			     __field(u8, opcode)),
	    TP_fast_assign(const struct cnvme_iod *iod = cnvme_trace_iod(rq);

			   __entry->ctrl_id = q->ctrl->instance;
			   __entry->qid = q->qid;
			   __entry->cid = iod->cmd.common.command_id;
			   __entry->opcode = iod->cmd.common.opcode;),
	    TP_printk("ctrl_id=%d, qid=%d, cmdid=%u, cmd=(%s)",
		      __entry->ctrl_id, __entry->qid, __entry->cid,
		      show_opcode_name(__entry->qid, __entry->opcode, 0))
);

/* The reset work starts tearing the controller down. */
TRACE_EVENT(cnvme_reset,
	    TP_PROTO(struct cnvme_ctrl *ctrl),
	    TP_ARGS(ctrl),
	    TP_STRUCT__entry(__field(int, ctrl_id)),
	    TP_fast_assign(__entry->ctrl_id = ctrl->instance;),
	    TP_printk("ctrl_id=%d",
		      __entry->ctrl_id)
);

/*
 * The reset work's rebuild is over after @tries attempts: @ret is 0 when
 * the last one brought the controller back (it is live and its queues
 * run: requeued requests may already have been sent again), else its
 * errno, and the controller is declared dead.
 */
TRACE_EVENT(cnvme_reset_done,
	    TP_PROTO(struct cnvme_ctrl *ctrl, int ret, unsigned int tries),
	    TP_ARGS(ctrl, ret, tries),
	    TP_STRUCT__entry(__field(int, ctrl_id)
			     __field(int, ret)
			     __field(unsigned int, tries)),
	    TP_fast_assign(__entry->ctrl_id = ctrl->instance;
			   __entry->ret = ret;
			   __entry->tries = tries;),
	    TP_printk("ctrl_id=%d, ret=%d, tries=%u",
		      __entry->ctrl_id, __entry->ret, __entry->tries)
);

/* The controller moved from state @old_state to @new_state. */
TRACE_EVENT(cnvme_ctrl_state,
	    TP_PROTO(struct cnvme_ctrl *ctrl, int old_state, int new_state),
	    TP_ARGS(ctrl, old_state, new_state),
	    TP_STRUCT__entry(__field(int, ctrl_id)
			     __field(int, old_state)
			     __field(int, new_state)),
	    TP_fast_assign(__entry->ctrl_id = ctrl->instance;
			   __entry->old_state = old_state;
			   __entry->new_state = new_state;),
	    TP_printk("ctrl_id=%d, %s -> %s",
		      __entry->ctrl_id,
		      show_cnvme_ctrl_state(__entry->old_state),
		      show_cnvme_ctrl_state(__entry->new_state))
);

#endif /* _TRACE_CNVME_H */

/* This part must be outside the multi-read protection. */
#include <trace/define_trace.h>
