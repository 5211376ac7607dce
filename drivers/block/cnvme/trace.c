// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: the tracepoints of <trace/events/cnvme.h>, defined here once,
 * and the decoding of command dwords 10-15 their output shows.
 *
 * Built only with CONFIG_TRACEPOINTS; without it the trace_cnvme_*()
 * calls in the other files are empty inline functions, so none of them
 * needs an #ifdef.
 */
#include <linux/trace_seq.h>
#include <linux/unaligned.h>

#include "cnvme.h"

#define CREATE_TRACE_POINTS
#include <trace/events/cnvme.h>

/*
 * Each decoder prints into @p and returns the start of what it printed:
 * the "%s" of the event's cmd=(...).  The read/write form is the one the
 * stock driver's trace output shows, so that text tools match both.
 */
static const char *cnvme_trace_rw(struct trace_seq *p, const u8 *cdw10)
{
	const char *ret = trace_seq_buffer_ptr(p);

	trace_seq_printf(p, "slba=%llu, len=%u, ctrl=0x%x",
			 get_unaligned_le64(cdw10),
			 get_unaligned_le16(cdw10 + 8),
			 get_unaligned_le16(cdw10 + 10));
	trace_seq_putc(p, 0);
	return ret;
}

static const char *cnvme_trace_dsm(struct trace_seq *p, const u8 *cdw10)
{
	const char *ret = trace_seq_buffer_ptr(p);

	/* NR is 0's based: print the number of ranges. */
	trace_seq_printf(p, "ranges=%u, attributes=0x%x",
			 (get_unaligned_le32(cdw10) & 0xff) + 1,
			 get_unaligned_le32(cdw10 + 4));
	trace_seq_putc(p, 0);
	return ret;
}

static const char *cnvme_trace_admin(struct trace_seq *p, u8 opcode,
				     const u8 *cdw10)
{
	const char *ret = trace_seq_buffer_ptr(p);
	u32 dw10 = get_unaligned_le32(cdw10);
	u32 dw11 = get_unaligned_le32(cdw10 + 4);

	switch (opcode) {
	case nvme_admin_create_sq:
		trace_seq_printf(p, "sqid=%u, qsize=%u, sq_flags=0x%x, cqid=%u",
				 dw10 & 0xffff, dw10 >> 16, dw11 & 0xffff,
				 dw11 >> 16);
		break;
	case nvme_admin_create_cq:
		trace_seq_printf(p, "cqid=%u, qsize=%u, cq_flags=0x%x, irq_vector=%u",
				 dw10 & 0xffff, dw10 >> 16, dw11 & 0xffff,
				 dw11 >> 16);
		break;
	case nvme_admin_delete_sq:
		trace_seq_printf(p, "sqid=%u", dw10 & 0xffff);
		break;
	case nvme_admin_delete_cq:
		trace_seq_printf(p, "cqid=%u", dw10 & 0xffff);
		break;
	case nvme_admin_identify:
		trace_seq_printf(p, "cns=%u, ctrlid=%u", dw10 & 0xff,
				 dw10 >> 16);
		break;
	case nvme_admin_get_features:
		trace_seq_printf(p, "fid=0x%x, sel=0x%x, cdw11=0x%x",
				 dw10 & 0xff, (dw10 >> 8) & 0x7, dw11);
		break;
	case nvme_admin_set_features:
		trace_seq_printf(p, "fid=0x%x, sv=0x%x, cdw11=0x%x",
				 dw10 & 0xff, dw10 >> 31, dw11);
		break;
	case nvme_admin_get_log_page:
		trace_seq_printf(p, "lid=0x%x, numdl=%u", dw10 & 0xff,
				 dw10 >> 16);
		break;
	case nvme_admin_abort_cmd:
		trace_seq_printf(p, "sqid=%u, cid=%u", dw10 & 0xffff,
				 dw10 >> 16);
		break;
	default:
		trace_seq_printf(p, "cdw10=%*ph", 24, cdw10);
		break;
	}
	trace_seq_putc(p, 0);
	return ret;
}

/**
 * cnvme_trace_parse_cmd - decode command dwords 10-15 for trace output
 * @p: the trace output being built
 * @qid: the queue the command went to, 0 for the admin queue
 * @opcode: the command's opcode
 * @cdw10: command dwords 10 to 15, little endian, as sent
 *
 * Context: the output side of the cnvme_setup_cmd event, any context.
 * Return: the decoded text, inside @p.
 */
const char *cnvme_trace_parse_cmd(struct trace_seq *p, int qid, u8 opcode,
				  const u8 *cdw10)
{
	const char *ret;

	if (!qid)
		return cnvme_trace_admin(p, opcode, cdw10);
	switch (opcode) {
	case nvme_cmd_read:
	case nvme_cmd_write:
	case nvme_cmd_write_zeroes:
	case nvme_cmd_compare:
	case nvme_cmd_verify:
	case nvme_cmd_write_uncor:
		return cnvme_trace_rw(p, cdw10);
	case nvme_cmd_dsm:
		return cnvme_trace_dsm(p, cdw10);
	case nvme_cmd_flush:
		ret = trace_seq_buffer_ptr(p);
		trace_seq_putc(p, 0);
		return ret;
	default:
		ret = trace_seq_buffer_ptr(p);
		trace_seq_printf(p, "cdw10=%*ph", 24, cdw10);
		trace_seq_putc(p, 0);
		return ret;
	}
}
