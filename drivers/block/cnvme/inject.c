// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: built-in fault injection.
 *
 * Makes the controller misbehave in the ways the recovery paths exist
 * for -- lost interrupts, commands that never answer, error statuses,
 * a controller that will not become ready or will not stop, failed
 * allocations -- on the kernel users run, which has no
 * CONFIG_FAULT_INJECTION.  Documentation/fault-injection.rst describes
 * the interface.
 *
 * Everything is off unless the module is loaded with fault_injection=1:
 * the hooks in the hot path sit behind a static key that only that
 * parameter enables, so an unarmed driver executes a patched-out jump and
 * nothing else.  When armed, each PCI function the driver has seen gets a
 * debugfs directory cnvme/<PCI name>/inject/ that lives until the module
 * goes, across unbind and bind, so that a fault can be armed for the next
 * probe.
 *
 * Locking: each function's rules are protected by &cnvme_inject.lock,
 * taken with interrupts off because the completion hooks run in hard-irq
 * context; the list of functions by cnvme_inject_mutex.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "cnvme.h"

DEFINE_STATIC_KEY_FALSE(cnvme_inject_key);

/* Largest COUNT one write may arm; a bound, not a meaningful limit. */
#define CNVME_INJECT_MAX_COUNT	1000000U

/* Longest line a rule file accepts. */
#define CNVME_INJECT_LINE	64

/* Most fields in a line: QID OPCODE STATUS COUNT. */
#define CNVME_INJECT_MAX_FIELDS	4

static const char * const cnvme_fa_names[CNVME_FA_NR] = {
	[CNVME_FA_PROBE]	= "probe",
	[CNVME_FA_QUEUE]	= "queue",
	[CNVME_FA_TAGSET]	= "tagset",
	[CNVME_FA_IOD]		= "iod",
	[CNVME_FA_ADMIN_BUF]	= "admin_buf",
	[CNVME_FA_NS]		= "ns",
	[CNVME_FA_DBBUF]	= "dbbuf",
	[CNVME_FA_VECTORS]	= "vectors",
};

/*
 * One armed rule.  @qid and @opcode select the commands (@opcode -1: any),
 * @left counts down as it fires, @fired counts up and is never reset.
 */
struct cnvme_inject_rule {
	int qid;
	int opcode;
	u16 status;
	unsigned int left;
	u64 fired;
};

/**
 * struct cnvme_inject_rules - the rules of one PCI function
 * @lost_irq: interrupts to ignore
 * @hide_cqe: completions to consume and drop
 * @status: commands to complete with an error status instead of sending
 * @fail_enable: controller enables that never see CSTS.RDY
 * @fail_disable: controller disables that never see CSTS.RDY clear
 * @stray: completions to provoke for commands the driver never sent
 * @fail_alloc: allocations to fail, per site (only left and fired used)
 */
struct cnvme_inject_rules {
	struct cnvme_inject_rule lost_irq;
	struct cnvme_inject_rule hide_cqe;
	struct cnvme_inject_rule status;
	struct cnvme_inject_rule fail_enable;
	struct cnvme_inject_rule fail_disable;
	struct cnvme_inject_rule stray;
	struct cnvme_inject_rule fail_alloc[CNVME_FA_NR];
};

/*
 * The fields of a rule file's line, in this order, each if the file has
 * it, then COUNT.  Every file but fail_alloc is described this way.
 */
enum {
	CNVME_IF_QID	= BIT(0),	/* QID: a queue the driver could create */
	CNVME_IF_OPCODE	= BIT(1),	/* OPCODE: 0 to 0xff, -1 for any */
	CNVME_IF_STATUS	= BIT(2),	/* STATUS: 15 bits, not zero */
	CNVME_IF_IO	= BIT(3),	/* QID names an I/O queue, not 0 */
};

struct cnvme_inject_file {
	const char *name;
	size_t rule;		/* offset in struct cnvme_inject_rules */
	unsigned int fields;	/* CNVME_IF_* */
};

#define CNVME_INJECT_FILE(_name, _fields)				\
	{ #_name, offsetof(struct cnvme_inject_rules, _name), _fields }

/*
 * A zero STATUS would complete a command that never ran as successful;
 * a stray command must go to an I/O queue.
 */
static const struct cnvme_inject_file cnvme_inject_files[] = {
	CNVME_INJECT_FILE(lost_irq, CNVME_IF_QID),
	CNVME_INJECT_FILE(hide_cqe, CNVME_IF_QID | CNVME_IF_OPCODE),
	CNVME_INJECT_FILE(status,
			  CNVME_IF_QID | CNVME_IF_OPCODE | CNVME_IF_STATUS),
	CNVME_INJECT_FILE(fail_enable, 0),
	CNVME_INJECT_FILE(fail_disable, 0),
	CNVME_INJECT_FILE(stray, CNVME_IF_QID | CNVME_IF_IO),
};

struct cnvme_inject;

/* What a rule file's private_data points to. */
struct cnvme_inject_handle {
	struct cnvme_inject *inj;
	const struct cnvme_inject_file *file;
};

/**
 * struct cnvme_inject - the faults armed for one PCI function
 * @entry: entry in cnvme_inject_list
 * @name: PCI name of the function, as its directory
 * @dir: cnvme/<name>/ in debugfs; the controller's own files go here too
 * @lock: protects @r; taken with interrupts off
 * @r: the rules
 * @handles: the rule files' private data, one per cnvme_inject_files[]
 */
struct cnvme_inject {
	struct list_head entry;
	char name[32];
	struct dentry *dir;
	spinlock_t lock;	/* @r; irqs off */
	struct cnvme_inject_rules r;
	struct cnvme_inject_handle handles[ARRAY_SIZE(cnvme_inject_files)];
};

static struct cnvme_inject_rule *cnvme_inject_rule(struct cnvme_inject_rules *r,
						   const struct cnvme_inject_file *f)
{
	return (struct cnvme_inject_rule *)((char *)r + f->rule);
}

static LIST_HEAD(cnvme_inject_list);
static DEFINE_MUTEX(cnvme_inject_mutex);	/* cnvme_inject_list */
static struct dentry *cnvme_inject_root;

/* Fire @r once if it is armed and matches; the caller holds the lock. */
static bool cnvme_inject_fire(struct cnvme_inject *inj,
			      struct cnvme_inject_rule *r, int qid, int opcode)
{
	lockdep_assert_held(&inj->lock);
	if (!r->left)
		return false;
	if (qid >= 0 && r->qid != qid)
		return false;
	if (opcode >= 0 && r->opcode >= 0 && r->opcode != opcode)
		return false;
	WRITE_ONCE(r->left, r->left - 1);
	r->fired++;
	return true;
}

static bool cnvme_inject_match(struct cnvme_inject *inj,
			       struct cnvme_inject_rule *r, int qid, int opcode,
			       u16 *status)
{
	unsigned long flags;
	bool hit;

	/* Unarmed, the common case even with injection on: no lock. */
	if (!READ_ONCE(r->left))
		return false;
	spin_lock_irqsave(&inj->lock, flags);
	hit = cnvme_inject_fire(inj, r, qid, opcode);
	if (hit && status)
		*status = r->status;
	spin_unlock_irqrestore(&inj->lock, flags);
	return hit;
}

/**
 * __cnvme_inject_lost_irq - should this interrupt of @q be ignored?
 * @q: the queue whose interrupt handler runs
 *
 * Return: true if the handler must return without reaping the CQ.
 */
bool __cnvme_inject_lost_irq(struct cnvme_queue *q)
{
	struct cnvme_inject *inj = q->ctrl->inject;

	return inj && cnvme_inject_match(inj, &inj->r.lost_irq, q->qid, -1, NULL);
}

/**
 * __cnvme_inject_hide_cqe - should this completion be dropped?
 * @q: the queue the completion arrived on
 * @iod: the command it completes
 *
 * Return: true if the completion must be consumed without completing the
 * command, which then never answers.
 */
bool __cnvme_inject_hide_cqe(struct cnvme_queue *q, struct cnvme_iod *iod)
{
	struct cnvme_inject *inj = q->ctrl->inject;

	if (!inj || !cnvme_inject_match(inj, &inj->r.hide_cqe, q->qid,
					iod->cmd.common.opcode, NULL))
		return false;
	dev_info_ratelimited(q->ctrl->dev, "inject: qid %u: completion of command id %#x opcode %#x hidden\n",
			     q->qid, iod->cmd.common.command_id,
			     iod->cmd.common.opcode);
	return true;
}

/**
 * __cnvme_inject_status - should this command fail without being sent?
 * @q: the queue the command is being submitted to
 * @iod: the command, prepared and started
 *
 * Return: true if @iod->status now holds the injected status and the
 * command must be completed instead of copied into the SQ.
 */
bool __cnvme_inject_status(struct cnvme_queue *q, struct cnvme_iod *iod)
{
	struct cnvme_inject *inj = q->ctrl->inject;
	u16 status;

	if (!inj || !cnvme_inject_match(inj, &inj->r.status, q->qid,
					iod->cmd.common.opcode, &status))
		return false;
	iod->status = status;
	iod->result.u64 = 0;
	return true;
}

/**
 * __cnvme_inject_fail_ready - should this enable or disable time out?
 * @ctrl: the controller
 * @enable: true for an enable (CSTS.RDY never set), false for a disable
 *	(CSTS.RDY never clears)
 *
 * Return: true if the caller must leave CC alone and report a timeout.
 */
bool __cnvme_inject_fail_ready(struct cnvme_ctrl *ctrl, bool enable)
{
	struct cnvme_inject *inj = ctrl->inject;

	if (!inj)
		return false;
	if (!cnvme_inject_match(inj, enable ? &inj->r.fail_enable :
				&inj->r.fail_disable, -1, -1, NULL))
		return false;
	dev_err(ctrl->dev, "%s: timed out (CSTS.RDY %s, injected)\n",
		enable ? "enable" : "disable",
		enable ? "never set" : "never cleared");
	return true;
}

/**
 * __cnvme_inject_alloc - should this allocation fail?
 * @ctrl: the controller the allocation is for
 * @site: where the allocation is, CNVME_FA_*
 *
 * Context: any; the I/O path's sites run in atomic context.
 * Return: true if the caller must behave as if the allocation failed.
 */
bool __cnvme_inject_alloc(struct cnvme_ctrl *ctrl, enum cnvme_fa_site site)
{
	struct cnvme_inject *inj = ctrl->inject;

	if (!inj || !cnvme_inject_match(inj, &inj->r.fail_alloc[site], -1, -1,
					NULL))
		return false;
	dev_info_ratelimited(ctrl->dev, "inject: allocation at site %s failed\n",
			     cnvme_fa_names[site]);
	return true;
}

/*
 * Send one stray command on @q if the rule matches, with the queue known
 * live and idle.  Return: true if it was sent.
 */
static bool cnvme_inject_stray_one(struct cnvme_inject *inj,
				   struct cnvme_queue *q)
{
	struct cnvme_ctrl *ctrl = q->ctrl;
	bool sent = false;

	/* The teardown clears CNVME_Q_LIVE under this lock. */
	mutex_lock(&ctrl->teardown_lock);
	if (READ_ONCE(ctrl->state) == CNVME_CTRL_LIVE &&
	    test_bit(CNVME_Q_LIVE, &q->flags) &&
	    !test_bit(CNVME_Q_POLLED, &q->flags) &&
	    !test_bit(CNVME_Q_STRAY, &q->flags) && !READ_ONCE(q->tags) &&
	    cnvme_inject_match(inj, &inj->r.stray, q->qid, -1, NULL)) {
		set_bit(CNVME_Q_STRAY, &q->flags);
		cnvme_q_send_stray(q);
		sent = true;
	}
	mutex_unlock(&ctrl->teardown_lock);
	return sent;
}

/**
 * __cnvme_inject_stray - send the stray commands armed for @ctrl
 * @ctrl: a live controller, from its health check
 *
 * A stray completion is one the device posts for a command id no request
 * holds.  Only an interrupt-driven queue that no request has used yet
 * takes the extra command: blk-mq's tags are what keeps a submission
 * queue from overflowing, and the command is outside them.  So no scan
 * may give the queue its first tags until the device has answered (the
 * completion path clears CNVME_Q_STRAY), and one stray at a time.
 */
void __cnvme_inject_stray(struct cnvme_ctrl *ctrl)
{
	struct cnvme_inject *inj = ctrl->inject;
	unsigned int qid;
	int i;

	if (!inj || !READ_ONCE(inj->r.stray.left))
		return;
	/* A scan in progress: try again at the next health check. */
	if (!mutex_trylock(&ctrl->scan_lock))
		return;
	for (qid = 1; qid <= ctrl->nr_io_queues; qid++) {
		struct cnvme_queue *q = &ctrl->queues[qid];

		if (!cnvme_inject_stray_one(inj, q))
			continue;
		dev_info_ratelimited(ctrl->dev, "inject: qid %u: sent a command with id %#x, which no request holds\n",
				     qid, CNVME_CID_STRAY);
		/* Bounded: a reset drops the command and clears the bit. */
		for (i = 0; i < 50 && test_bit(CNVME_Q_STRAY, &q->flags); i++)
			msleep(20);
	}
	mutex_unlock(&ctrl->scan_lock);
}

/* ---- debugfs ------------------------------------------------------------ */

/*
 * Split one line of user input into at most @max integers.  Return: the
 * number of fields, or -EINVAL for anything that is not a short line of
 * integers (decimal, or hexadecimal with 0x).
 */
static int cnvme_inject_parse(const char __user *ubuf, size_t count,
			      long long *val, int max, char *site, size_t slen)
{
	char line[CNVME_INJECT_LINE], *p, *tok;
	int n = 0;

	if (!count || count >= sizeof(line))
		return -EINVAL;
	if (copy_from_user(line, ubuf, count))
		return -EFAULT;
	line[count] = '\0';
	p = strim(line);
	while ((tok = strsep(&p, " \t")) != NULL) {
		if (!*tok)
			continue;
		if (n == max)
			return -EINVAL;
		/* fail_alloc names its site first. */
		if (site && n == 0 && !*site) {
			if (strscpy(site, tok, slen) < 0)
				return -EINVAL;
			continue;
		}
		if (kstrtoll(tok, 0, &val[n]))
			return -EINVAL;
		n++;
	}
	return n;
}

static bool cnvme_inject_count_ok(long long count)
{
	return count >= 0 && count <= CNVME_INJECT_MAX_COUNT;
}

/* QID: the admin queue or any I/O queue the driver could create. */
static bool cnvme_inject_qid_ok(long long qid)
{
	return qid >= 0 && qid <= cnvme_max_io_queues();
}

static bool cnvme_inject_opcode_ok(long long opcode)
{
	return opcode >= -1 && opcode <= 0xff;
}

/* Arm @r under the lock: a new rule replaces the old one. */
static void cnvme_inject_arm(struct cnvme_inject *inj,
			     struct cnvme_inject_rule *r, int qid, int opcode,
			     u16 status, unsigned int count)
{
	unsigned long flags;

	spin_lock_irqsave(&inj->lock, flags);
	r->qid = qid;
	r->opcode = opcode;
	r->status = status;
	WRITE_ONCE(r->left, count);
	spin_unlock_irqrestore(&inj->lock, flags);
}

/* Every rule file but fail_alloc: its fields (cnvme_inject_files[]), COUNT. */
static ssize_t cnvme_inject_rule_write(struct file *file,
				       const char __user *ubuf, size_t count,
				       loff_t *ppos)
{
	const struct cnvme_inject_handle *h = file->private_data;
	unsigned int fields = h->file->fields;
	int want = hweight32(fields & (CNVME_IF_QID | CNVME_IF_OPCODE |
				       CNVME_IF_STATUS)) + 1;
	long long v[CNVME_INJECT_MAX_FIELDS];
	int n = cnvme_inject_parse(ubuf, count, v, want, NULL, 0);
	int qid = -1, opcode = -1, i = 0;
	u16 status = 0;

	if (n < 0)
		return n;
	if (n != want)
		return -EINVAL;
	if (fields & CNVME_IF_QID) {
		if (!cnvme_inject_qid_ok(v[i]) ||
		    ((fields & CNVME_IF_IO) && v[i] < 1))
			return -EINVAL;
		qid = v[i++];
	}
	if (fields & CNVME_IF_OPCODE) {
		if (!cnvme_inject_opcode_ok(v[i]))
			return -EINVAL;
		opcode = v[i++];
	}
	if (fields & CNVME_IF_STATUS) {
		if (v[i] <= 0 || v[i] > 0x7fff)
			return -EINVAL;
		status = v[i++];
	}
	if (!cnvme_inject_count_ok(v[i]))
		return -EINVAL;
	cnvme_inject_arm(h->inj, cnvme_inject_rule(&h->inj->r, h->file), qid,
			 opcode, status, v[i]);
	return count;
}

/* fail_alloc: "SITE COUNT" */
static ssize_t cnvme_inject_fail_alloc_write(struct file *file,
					     const char __user *ubuf,
					     size_t count, loff_t *ppos)
{
	struct cnvme_inject *inj = file->private_data;
	long long v[CNVME_INJECT_MAX_FIELDS];
	char site[16] = "";
	int n = cnvme_inject_parse(ubuf, count, v, 2, site, sizeof(site));
	int i;

	if (n < 0)
		return n;
	if (n != 1 || !cnvme_inject_count_ok(v[0]))
		return -EINVAL;
	i = match_string(cnvme_fa_names, CNVME_FA_NR, site);
	if (i < 0)
		return -EINVAL;
	cnvme_inject_arm(inj, &inj->r.fail_alloc[i], -1, -1, 0, v[0]);
	return count;
}

static void cnvme_inject_show_rule(struct seq_file *m, const char *name,
				   const struct cnvme_inject_rule *r)
{
	seq_printf(m, "%s %u %llu\n", name, r->left, r->fired);
}

/* hits: "NAME LEFT FIRED" per rule; fail_alloc once per site. */
static int cnvme_inject_hits_show(struct seq_file *m, void *unused)
{
	struct cnvme_inject *inj = m->private;
	struct cnvme_inject_rules snap;
	char name[32];
	int i;

	spin_lock_irq(&inj->lock);
	snap = inj->r;
	spin_unlock_irq(&inj->lock);

	for (i = 0; i < ARRAY_SIZE(cnvme_inject_files); i++)
		cnvme_inject_show_rule(m, cnvme_inject_files[i].name,
				       cnvme_inject_rule(&snap,
							 &cnvme_inject_files[i]));
	for (i = 0; i < CNVME_FA_NR; i++) {
		snprintf(name, sizeof(name), "fail_alloc:%s", cnvme_fa_names[i]);
		cnvme_inject_show_rule(m, name, &snap.fail_alloc[i]);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(cnvme_inject_hits);

#define CNVME_INJECT_FOPS(_name)					\
static const struct file_operations cnvme_inject_##_name##_fops = {	\
	.owner	= THIS_MODULE,						\
	.open	= simple_open,						\
	.write	= cnvme_inject_##_name##_write,				\
}

CNVME_INJECT_FOPS(rule);
CNVME_INJECT_FOPS(fail_alloc);

static struct cnvme_inject *cnvme_inject_create(const char *name)
{
	struct cnvme_inject *inj;
	struct dentry *d;
	int i;

	inj = kzalloc(sizeof(*inj), GFP_KERNEL);
	if (!inj)
		return NULL;
	strscpy(inj->name, name, sizeof(inj->name));
	spin_lock_init(&inj->lock);
	inj->dir = debugfs_create_dir(name, cnvme_inject_root);
	d = debugfs_create_dir("inject", inj->dir);
	for (i = 0; i < ARRAY_SIZE(cnvme_inject_files); i++) {
		inj->handles[i].inj = inj;
		inj->handles[i].file = &cnvme_inject_files[i];
		debugfs_create_file(cnvme_inject_files[i].name, 0200, d,
				    &inj->handles[i], &cnvme_inject_rule_fops);
	}
	debugfs_create_file("fail_alloc", 0200, d, inj,
			    &cnvme_inject_fail_alloc_fops);
	debugfs_create_file("hits", 0400, d, inj, &cnvme_inject_hits_fops);
	list_add_tail(&inj->entry, &cnvme_inject_list);
	return inj;
}

/* The function's rules by PCI name, or NULL. */
static struct cnvme_inject *cnvme_inject_find(const char *name)
{
	struct cnvme_inject *inj;

	lockdep_assert_held(&cnvme_inject_mutex);
	list_for_each_entry(inj, &cnvme_inject_list, entry)
		if (!strcmp(inj->name, name))
			return inj;
	return NULL;
}

/**
 * cnvme_inject_attach - give a controller its fault rules
 * @ctrl: the controller being probed
 *
 * Finds or creates the rules of the controller's PCI function and its
 * debugfs directory, which the controller's own debugfs files share.
 * Does nothing without fault_injection=1, or when memory is short: fault
 * injection is a test aid, never a reason for probe to fail.
 */
void cnvme_inject_attach(struct cnvme_ctrl *ctrl)
{
	struct cnvme_inject *inj;

	if (!static_branch_unlikely(&cnvme_inject_key))
		return;
	mutex_lock(&cnvme_inject_mutex);
	inj = cnvme_inject_find(dev_name(ctrl->dev));
	if (!inj)
		inj = cnvme_inject_create(dev_name(ctrl->dev));
	mutex_unlock(&cnvme_inject_mutex);
	ctrl->inject = inj;
}

/**
 * cnvme_inject_dir - the debugfs directory fault injection keeps
 * @ctrl: the controller
 *
 * Return: cnvme/<PCI name>/ when fault injection made it (it outlives the
 * controller), else NULL.
 */
struct dentry *cnvme_inject_dir(struct cnvme_ctrl *ctrl)
{
	return ctrl->inject ? ctrl->inject->dir : NULL;
}

/**
 * cnvme_inject_init - arm the fault injection interface
 * @root: cnvme/ in debugfs
 *
 * Called once at module load, only with fault_injection=1.
 */
void cnvme_inject_init(struct dentry *root)
{
	cnvme_inject_root = root;
	static_branch_enable(&cnvme_inject_key);
	pr_warn("cnvme: fault injection is armed (debugfs cnvme/<device>/inject/)\n");
}

/**
 * cnvme_inject_exit - forget every function's rules
 *
 * Called at module unload, after the PCI driver is gone; the debugfs
 * directories go with the module's root.
 */
void cnvme_inject_exit(void)
{
	struct cnvme_inject *inj, *next;

	mutex_lock(&cnvme_inject_mutex);
	list_for_each_entry_safe(inj, next, &cnvme_inject_list, entry) {
		list_del(&inj->entry);
		kfree(inj);
	}
	mutex_unlock(&cnvme_inject_mutex);
}
