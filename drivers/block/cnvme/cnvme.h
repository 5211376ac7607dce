/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cnvme: a self-contained NVM Express PCIe block driver.
 *
 * Private definitions shared by the files of the driver.  Wire formats
 * come from <linux/nvme.h>; nothing here is visible outside the module.
 */
#ifndef _CNVME_H
#define _CNVME_H

#include <linux/blk-mq.h>
#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/dmapool.h>
#include <linux/irq_poll.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/nvme.h>
#include <linux/pci.h>
#include <linux/ratelimit.h>
#include <linux/scatterlist.h>
#include <linux/spinlock.h>
#include <linux/jump_label.h>
#include <linux/uuid.h>
#include <linux/workqueue.h>

#define CNVME_NAME		"cnvme"
/*
 * The release, also the DKMS and Debian package version: make deb refuses
 * a debian/changelog that says otherwise.  MODULE_VERSION() also makes
 * modpost record a srcversion, which tells a DKMS build of these sources
 * from one of other sources.
 */
#define CNVME_VERSION		"0.1.0"

struct cnvme_inject;
struct dentry;

/* The controller page size cnvme programs into CC.MPS: always 4 KiB. */
#define CNVME_CTRL_PAGE_SHIFT	12
#define CNVME_CTRL_PAGE_SIZE	BIT(CNVME_CTRL_PAGE_SHIFT)

/* Admin queue entries; one slot stays empty to tell full from empty. */
#define CNVME_AQ_DEPTH		32

/*
 * Most Asynchronous Event Requests kept outstanding, whatever AERL allows:
 * their tags are reserved in the admin tag set, and events are rare
 * enough that a few cover the time it takes to handle one and re-arm.
 */
#define CNVME_AER_MAX		4

/*
 * Command identifier layout: the low bits carry the blk-mq tag, the top
 * bits a per-tag generation count.  A completion whose generation does
 * not match the request's current one is stale or bogus and is ignored.
 */
#define CNVME_CID_TAG_BITS	12
#define CNVME_CID_TAG_MASK	(BIT(CNVME_CID_TAG_BITS) - 1)
#define CNVME_CID_GEN_MASK	0xfU

/* Largest I/O queue depth the command identifier can address. */
#define CNVME_MAX_Q_DEPTH	BIT(CNVME_CID_TAG_BITS)
/* A command id no request ever gets: its tag is past any tag set. */
#define CNVME_CID_STRAY		U16_MAX
static_assert((CNVME_CID_STRAY & CNVME_CID_TAG_MASK) >= CNVME_MAX_Q_DEPTH - 1);

/* Segments per request; each becomes at least one PRP entry. */
#define CNVME_MAX_SEGS		128

/*
 * Largest transfer cnvme issues as one command, MDTS permitting.  At
 * 4 MiB a request that starts mid-page spans 1025 controller pages: PRP1
 * plus 1024 list entries, which takes three chained list pages.
 */
#define CNVME_MAX_XFER_SHIFT	22
#define CNVME_PRPS_PER_PAGE	(CNVME_CTRL_PAGE_SIZE / sizeof(__le64))
#define CNVME_MAX_LIST_PAGES	3

/*
 * Per-queue reserve of the buffers a request may need besides its PDU: a
 * scatterlist array for data in more than one segment, and list pages
 * (PRP lists, SGL segments, Dataset Management ranges).  Preallocated
 * when the queue's rings are, taken on submission and given back on
 * completion, so the steady state allocates nothing and a request always
 * gets its buffers once those in flight on its queue complete.
 */
#define CNVME_RESERVE_IO	32
#define CNVME_RESERVE_ADMIN	CNVME_MAX_LIST_PAGES

/* SGL descriptors in one list page: 256, twice CNVME_MAX_SEGS. */
#define CNVME_SGLS_PER_PAGE	(CNVME_CTRL_PAGE_SIZE / sizeof(struct nvme_sgl_desc))

/* Minors of each character device region: as many as the stock driver. */
#define CNVME_MINORS		BIT(MINORBITS)

/**
 * struct cnvme_names - the names cnvme shows to user space
 * @ctrl_class: class of the controllers, "nvme" or "cnvme"
 * @subsys_class: class of the subsystems, "nvme-subsystem" or
 *	"cnvme-subsystem"
 * @generic_class: class of the generic namespace nodes, "nvme-generic" or
 *	"cnvme-generic"
 * @ctrl: prefix of controller nodes and disks: nvme0, nvme0n1 or cnvme0,
 *	cnvme0n1
 * @subsys: prefix of subsystem devices: nvme-subsys0 or cnvme-subsys0
 * @generic: prefix of generic namespace nodes: ng0n1 or cng0n1
 * @private: the names are cnvme's own, not the ones of the stock driver
 *
 * Chosen once at module load (sysfs.c); no other code asks which set is
 * in use.
 */
struct cnvme_names {
	struct class ctrl_class;
	struct class subsys_class;
	struct class generic_class;
	const char *ctrl;
	const char *subsys;
	const char *generic;
	bool private;
};

/**
 * enum cnvme_ctrl_state - lifetime of a controller
 * @CNVME_CTRL_NEW: probe is bringing the controller up
 * @CNVME_CTRL_LIVE: queues are running and namespaces are exposed
 * @CNVME_CTRL_RESETTING: a reset is pending or tearing the queues down;
 *	commands in flight will be requeued (I/O) or failed (admin)
 * @CNVME_CTRL_CONNECTING: the reset is rebuilding the admin and I/O queues
 * @CNVME_CTRL_DELETING: remove has started; no reset may begin
 * @CNVME_CTRL_DEAD: the controller failed; every command fails at once
 *
 * NEW -> LIVE -> RESETTING -> CONNECTING -> LIVE is the normal life; any
 * state but DEAD may become DELETING, and any state may become DEAD.
 * cnvme_ctrl_change_state() enforces this.
 */
enum cnvme_ctrl_state {
	CNVME_CTRL_NEW,
	CNVME_CTRL_LIVE,
	CNVME_CTRL_RESETTING,
	CNVME_CTRL_CONNECTING,
	CNVME_CTRL_DELETING,
	CNVME_CTRL_DEAD,
};

/* Bits of cnvme_queue.flags. */
enum {
	CNVME_Q_LIVE,		/* created on the device, IRQ may process it */
	CNVME_Q_POLLED,		/* no interrupt: completions are polled */
	CNVME_Q_POLLING,	/* a timeout handler is reaping the CQ */
	CNVME_Q_IRQ,		/* the handler is requested on cq_vector */
	CNVME_Q_STRAY,		/* an injected stray command awaits its answer */
	CNVME_Q_MITIGATE,	/* busy interrupts hand the CQ to irq_poll */
	CNVME_Q_SOFTIRQ,	/* vector disabled, irq_poll owns the CQ */
	CNVME_Q_IRQPOLL_ENDING,	/* an irq_poll round is ending the episode */
};

/**
 * struct cnvme_queue - one submission/completion queue pair
 * @sq_lock: serialises @sq_tail, @last_sq_tail and writes to @sq_cmds and
 *	the SQ tail doorbell; held only for the copy and the doorbell write.
 * @sq_cmds: submission queue entries in host memory (coherent DMA), or
 *	NULL when the SQ is in the controller memory buffer
 * @sq_io: submission queue entries in the controller memory buffer, or
 *	NULL when the SQ is in host memory
 * @sq_tail: next free SQ slot
 * @last_sq_tail: SQ tail last written to the doorbell
 * @q_db: SQ tail doorbell; the CQ head doorbell follows at @db_stride
 * @dbbuf_sq_db: shadow SQ tail doorbell, or NULL without a doorbell buffer
 * @dbbuf_sq_ei: event index the controller publishes for the SQ
 * @cqes: completion queue entries (host memory, coherent DMA)
 * @cq_head: next CQ entry to look at; only the completion side touches it
 * @cq_phase: phase tag value that marks a new entry at @cq_head
 * @cq_db: CQ head doorbell
 * @dbbuf_cq_db: shadow CQ head doorbell, or NULL
 * @dbbuf_cq_ei: event index the controller publishes for the CQ
 * @tags: blk-mq driver tags of the hardware context served by this queue
 * @irq_budget: completions one interrupt consumes; with CNVME_Q_MITIGATE
 *	an interrupt that reaches it hands the rest to @iop, else UINT_MAX
 * @cq_poll_lock: serialises pollers of a polled queue (which has no
 *	interrupt handler to own its CQ)
 * @iop: the softirq poller that owns the CQ while CNVME_Q_SOFTIRQ is set
 *	(interrupt mitigation, irqpoll.c)
 * @irq: Linux interrupt number of @cq_vector with CNVME_Q_MITIGATE, looked
 *	up when the handler is requested: pci_irq_vector() may sleep, and
 *	the poller enables the vector from softirq context
 * @rsv_lock: protects the reserve (@rsv_sgl, @rsv_pages and their
 *	counts); taken with interrupts off, completions return buffers in
 *	hard-irq context
 * @rsv_sgl: free scatterlist arrays of CNVME_MAX_SEGS entries
 * @rsv_pages: free list pages (CNVME_CTRL_PAGE_SIZE, from the PRP pool)
 * @rsv_pages_dma: bus addresses of @rsv_pages
 * @rsv_nr_sgl: entries of @rsv_sgl in use
 * @rsv_nr_pages: entries of @rsv_pages in use
 * @rsv_size: capacity of each of the two stacks
 * @ctrl: owning controller
 * @flags: CNVME_Q_* bits
 * @sq_dma_addr: bus address of @sq_cmds or @sq_io
 * @cq_dma_addr: bus address of @cqes
 * @depth: number of entries in each of the two rings
 * @qid: queue identifier, 0 for the admin queue
 * @cq_vector: interrupt vector index of the CQ
 *
 * The submission fields and the completion fields live on separate cache
 * lines so that a CPU submitting does not bounce the line the interrupt
 * handler is reading, and the other way round.
 */
struct cnvme_queue {
	spinlock_t sq_lock;	/* SQ tail, SQ entries, SQ doorbell */
	struct nvme_command *sq_cmds;
	void __iomem *sq_io;
	u16 sq_tail;
	u16 last_sq_tail;
	u32 __iomem *q_db;
	__le32 *dbbuf_sq_db;
	__le32 *dbbuf_sq_ei;

	struct nvme_completion *cqes ____cacheline_aligned_in_smp;
	u16 cq_head;
	u8 cq_phase;
	u32 __iomem *cq_db;
	__le32 *dbbuf_cq_db;
	__le32 *dbbuf_cq_ei;
	struct blk_mq_tags *tags;
	unsigned int irq_budget;
	spinlock_t cq_poll_lock;	/* CQ of a polled queue */
	struct irq_poll iop;
	unsigned int irq;

	spinlock_t rsv_lock;	/* the reserve; irqs off */
	struct scatterlist **rsv_sgl;
	__le64 **rsv_pages;
	dma_addr_t *rsv_pages_dma;
	unsigned int rsv_nr_sgl;
	unsigned int rsv_nr_pages;
	unsigned int rsv_size;

	struct cnvme_ctrl *ctrl ____cacheline_aligned_in_smp;
	unsigned long flags;
	dma_addr_t sq_dma_addr;
	dma_addr_t cq_dma_addr;
	u32 depth;
	u16 qid;
	u16 cq_vector;
} ____cacheline_aligned_in_smp;

/*
 * Whether the CQ entry at the head is new (its phase tag is the expected
 * one).  Only a look: the owner of the CQ stores head and phase in range,
 * so anyone may peek; nothing else of the entry may be read without the
 * owner's dma_rmb() (cnvme_process_cq()).
 */
static inline bool cnvme_q_cqe_new(struct cnvme_queue *q)
{
	u16 head = READ_ONCE(q->cq_head);

	return (le16_to_cpu(READ_ONCE(q->cqes[head].status)) & 1) ==
		READ_ONCE(q->cq_phase);
}

/**
 * struct cnvme_iod - per-request driver data (the blk-mq PDU)
 * @cmd: the command as it will be copied into the submission queue
 * @result: command specific result from the completion entry
 * @status: NVMe status field from the completion (phase bit removed)
 * @gen: generation count placed in the command identifier
 * @mapped: how the data buffer is mapped, CNVME_MAP_*
 * @retries: times the request was sent again after an error or a timeout;
 *	zeroed when blk-mq hands the driver a new request (RQF_DONTPREP clear)
 * @aborted: the timeout handler sent an Abort for the current submission
 * @flags: CNVME_IOD_* bits; the submitter of a passthrough request sets
 *	them, block I/O starts with none
 * @nr_list_pages: PRP list pages the current command uses
 * @single_dma: bus address of a single-segment mapping
 * @single_len: length of a single-segment mapping
 * @sgt: scatterlist of a multi-segment mapping; the array comes from the
 *	queue's reserve (or, when that is empty, GFP_ATOMIC) for the
 *	current command only, NULL otherwise
 * @list: list pages of the current command, taken likewise, else NULL
 * @list_dma: bus addresses of @list
 */
struct cnvme_iod {
	struct nvme_command cmd;
	union nvme_result result;
	u16 status;
	u8 gen;
	u8 mapped;
	u8 retries;
	u8 aborted;
	u8 flags;
	u8 nr_list_pages;
	dma_addr_t single_dma;
	u32 single_len;
	struct sg_table sgt;
	__le64 *list[CNVME_MAX_LIST_PAGES];
	dma_addr_t list_dma[CNVME_MAX_LIST_PAGES];
};

enum {
	CNVME_MAP_NONE,
	CNVME_MAP_SINGLE,
	CNVME_MAP_SG,
};

/* Bits of cnvme_iod.flags. */
enum {
	CNVME_IOD_USER		= BIT(0),	/* passthrough from user space */
	CNVME_IOD_CANCELLED	= BIT(1),	/* ended by the driver, not the device */
	CNVME_IOD_AER		= BIT(2),	/* cnvme's own Asynchronous Event Request */
};

/* Bits of cnvme_ctrl.aer_flags. */
enum {
	CNVME_AER_WARNED,	/* a request slot stayed empty; said so once */
};

/**
 * struct cnvme_ns_ids - the identifiers a namespace reports
 * @eui64: IEEE Extended Unique Identifier, zero if not reported
 * @nguid: Namespace Globally Unique Identifier, zero if not reported
 * @uuid: Namespace UUID, null if not reported
 * @csi: Command Set Identifier
 */
struct cnvme_ns_ids {
	u8 eui64[8];
	u8 nguid[16];
	uuid_t uuid;
	u8 csi;
};

/**
 * struct cnvme_ns - one namespace exposed as a gendisk
 * @list: entry in cnvme_ctrl.namespaces
 * @ctrl: owning controller; the namespace holds a reference on its
 *	&cnvme_ctrl.ctrl_dev
 * @disk: the block device
 * @disk_added: device_add_disk() is done (under &cnvme_ctrl.ns_lock); the
 *	namespace is listed, quiesced with the others, already before
 * @nsid: namespace identifier
 * @lba_shift: log2 of the logical block size
 * @deac: Write Zeroes may deallocate, and deallocated blocks read as zeroes
 * @ids: identifiers from Identify Namespace and its descriptor list
 * @scan_gen: &cnvme_ctrl.scan_gen of the last scan that found it active
 * @cdev_device: the generic character device, ng<ctrl>n<nsid>; it holds a
 *	reference on @disk, so the namespace outlives it
 * @cdev: character device behind @cdev_device
 * @cdev_added: @cdev_device is registered
 * @nuse_rs: rate limit of the Identify behind the nuse attribute
 * @nuse: Namespace Utilization as last read
 */
struct cnvme_ns {
	struct list_head list;
	struct cnvme_ctrl *ctrl;
	struct gendisk *disk;
	bool disk_added;
	u32 nsid;
	u8 lba_shift;
	bool deac;
	struct cnvme_ns_ids ids;
	unsigned int scan_gen;
	struct device cdev_device;
	struct cdev cdev;
	bool cdev_added;
	struct ratelimit_state nuse_rs;
	u64 nuse;
};

/**
 * struct cnvme_subsys - an NVM subsystem, the controllers sharing a NQN
 * @dev: the nvme-subsys<M> class device
 * @entry: entry in the list of all subsystems (sysfs.c)
 * @ctrls: controllers of the subsystem, by &cnvme_ctrl.subsys_entry
 * @subnqn: NVM Subsystem NVMe Qualified Name
 * @serial: Serial Number of the first controller, as reported (padded)
 * @model: Model Number of the first controller, as reported (padded)
 * @firmware_rev: Firmware Revision of the first controller, as reported
 * @vendor_id: PCI Vendor ID from Identify Controller
 * @instance: the number in the name, that of the first controller; -1
 *	until the subsystem holds it
 * @discovery: a discovery subsystem rather than an NVM subsystem
 *
 * Membership changes under the subsystem list lock in sysfs.c; each
 * member controller holds a reference on @dev.
 */
struct cnvme_subsys {
	struct device dev;
	struct list_head entry;
	struct list_head ctrls;
	char subnqn[NVMF_NQN_SIZE];
	char serial[20];
	char model[40];
	char firmware_rev[8];
	u16 vendor_id;
	int instance;
	bool discovery;
};

/**
 * struct cnvme_map_stats - how block I/O data was described to the device
 * @block_sgl: block I/O commands sent with an SGL
 * @block_prp: block I/O commands sent with PRPs
 *
 * Per CPU, so counting costs the hot path one unlocked increment; read
 * through debugfs only, by the tests that check sgl_threshold.
 */
struct cnvme_map_stats {
	u64 block_sgl;
	u64 block_prp;
};

/**
 * struct cnvme_ctrl - one NVMe controller (one PCI function)
 * @pdev: the PCI device
 * @dev: &pdev->dev, for logging and DMA
 * @bar: mapped controller registers and doorbells
 * @bar_size: length of the @bar mapping
 * @cap: Controller Capabilities register
 * @vs: Version register
 * @db_stride: distance between doorbells in units of 32 bits
 * @q_depth: entries per I/O queue
 * @instance: number in the node names, nvme<instance> and
 *	nvme<instance>n<nsid>
 * @ctrl_dev: the nvme<instance> class device; its release frees the
 *	controller, so open nodes and namespaces keep the memory alive
 * @cdev: character device of @ctrl_dev
 * @ctrl_dev_added: @ctrl_dev and @cdev are registered
 * @subsys: the subsystem this controller belongs to, or NULL
 * @subsys_entry: entry in &cnvme_subsys.ctrls
 * @subsys_owns_instance: @instance names the subsystem, which releases it
 * @state_lock: protects @state; cnvme_ctrl_schedule_reset() also queues
 *	@reset_work under it, so that remove, leaving LIVE under it, finds
 *	any reset that started from LIVE queued and flushes it
 * @state: see enum cnvme_ctrl_state; changed only by
 *	cnvme_ctrl_change_state()
 * @teardown_lock: serialises whatever enables or disables the controller,
 *	sets or clears CNVME_Q_LIVE, or quiesces and unquiesces the request
 *	queues; never held while waiting for a command
 * @io_quiesced: the namespaces' request queues are quiesced (written under
 *	@teardown_lock and @ns_lock, read under either)
 * @admin_quiesced: @admin_q is quiesced (under @teardown_lock)
 * @reset_work: tears the queues down and rebuilds them (reset.c)
 * @ers_work: resets the controller when PCI error recovery that froze it
 *	never calls slot_reset or resume
 * @ers_abandoned: @ers_work gave up waiting for PCI error recovery
 * @scan_work: after every bring-up: arms the events and scans the
 *	namespaces, outside @reset_work so that a command of its own that
 *	times out can reset the controller (reset.c)
 * @dead_work: removes the disks of a controller that died (reset.c)
 * @health_work: the periodic health check (reset.c)
 * @pci_state: config space saved at the last good bring-up, restored by
 *	every reset; NULL before the first
 * @rebuild_broken: the health check found the device disturbed during a
 *	rebuild, which the reset then tries again
 * @live_since: jiffies when the controller last became live
 * @bus_master: cnvme let the controller master the bus (from the enable
 *	to the next teardown, under @teardown_lock); the health check
 *	reports bus mastering found off only then
 * @disturbed: the health check found the device disturbed since it was
 *	last stable; used only by @health_work
 * @disturbed_since: jiffies when it first did; used only by @health_work
 * @aborts: Abort commands outstanding
 * @abort_limit: most Abort commands the controller accepts at once (ACL)
 * @crdt: Command Retry Delay Times 1-3 in 100 ms units, zero when the
 *	controller does not report them or Host Behavior Support is off
 * @queues: admin queue at index 0, then the I/O queues: first those of
 *	the default map, then the read map, then the polled ones
 * @nr_io_queues: I/O queues created on the device
 * @io_queues: how many of them serve each blk-mq map (HCTX_TYPE_*)
 * @dbbuf_dbs: shadow doorbells (Doorbell Buffer Config), or NULL
 * @dbbuf_eis: event indexes the controller writes, or NULL
 * @dbbuf_dbs_dma: bus address of @dbbuf_dbs
 * @dbbuf_eis_dma: bus address of @dbbuf_eis
 * @dbbuf_size: size of each of the two doorbell buffers
 * @nr_vecs: interrupt vectors allocated
 * @admin_tagset: tag set of the admin queue
 * @admin_q: request queue for admin commands issued by the driver
 * @tagset: tag set shared by the namespaces' request queues
 * @tagset_ready: @tagset has been allocated
 * @prp_pool: DMA pool of PRP and SGL list pages
 * @stats: per-CPU counters of how block I/O was mapped (debugfs)
 * @debugfs: the controller's debugfs directory, or NULL
 * @cmb: the part of the controller memory buffer holding I/O SQs, mapped
 *	write-combining; NULL when the SQs are in host memory
 * @cmb_bus: bus address of @cmb, as the controller sees it
 * @cmb_len: length of the @cmb mapping
 * @cmb_sq_stride: bytes of the CMB given to each I/O SQ (page aligned)
 * @cmbmsc: CMBMSC value that enables the CMB at @cmb_bus (0 for a
 *	controller without CAP.CMBS, whose CMB needs no enabling)
 * @ns_lock: protects @namespaces
 * @namespaces: list of struct cnvme_ns
 * @scan_lock: serialises namespace scans
 * @scan_gen: generation of the namespace scan, see cnvme_ns_scan()
 * @effects: Commands Supported and Effects log; zero where the controller
 *	does not report one, plus the effects cnvme knows
 * @sgls: SGL support of I/O commands, SGLS bits 1:0 (0 none, 1 any
 *	alignment, 2 dword aligned)
 * @id_nn: Number of Namespaces from Identify Controller
 * @max_hw_sectors: transfer limit in 512-byte sectors
 * @shutdown_timeout: how long CC.SHN may take, in jiffies
 * @ready_timeout: how long CSTS.RDY may take to change, in jiffies
 * @oncs: Optional NVM Command Support from Identify Controller
 * @dmrl: most ranges in one Dataset Management command, 0 if unreported
 * @dmrsl: most logical blocks in one range, 0 if unreported
 * @wzsl: Write Zeroes size limit (power of two, in 4 KiB units), 0 if none
 * @oacs: Optional Admin Command Support from Identify Controller
 * @vwc_present: Identify Controller reports a volatile write cache
 * @vwc: the controller has a volatile write cache and it is enabled; read
 *	at probe, after every reset and after every user Set Features of
 *	the Volatile Write Cache feature (cnvme_ctrl_vwc_changed())
 * @serial: Serial Number, NUL terminated
 * @model: Model Number, NUL terminated
 * @firmware_rev: Firmware Revision, NUL terminated
 * @id_sn: Serial Number as reported, space padded, for sysfs
 * @id_mn: Model Number as reported, space padded, for sysfs
 * @id_fr: Firmware Revision as reported, space padded, for sysfs
 * @subnqn: subsystem NQN, reported or made up as the stock driver does
 * @vid: PCI Vendor ID from Identify Controller
 * @ssvid: PCI Subsystem Vendor ID from Identify Controller
 * @cntlid: Controller ID
 * @cmic: Controller Multi-Path I/O and Namespace Sharing Capabilities
 * @cntrltype: Controller Type (0 on controllers before NVMe 1.4)
 * @lpa: Log Page Attributes
 * @oaes: Optional Asynchronous Events Supported from Identify Controller
 * @aer_limit: Asynchronous Event Requests to keep outstanding: AERL + 1
 *	less one left to user passthrough, at least 1, at most CNVME_AER_MAX
 * @aer_outstanding: Asynchronous Event Requests allocated and not yet
 *	ended; only &aer_work increments it
 * @aer_flags: CNVME_AER_* bits
 * @aer_work: handles reported events and re-arms the requests (aer.c)
 * @aer_lock: protects @aer_events and @aer_nr_events; taken by the
 *	completion of a request, possibly in hard-irq context, so always
 *	with interrupts off
 * @aer_events: completion dword 0 of each event not handled yet
 * @aer_nr_events: entries used in @aer_events
 * @aer_log: buffer for the log pages the events name, 4 KiB; used only
 *	by @aer_work
 * @inject: the fault rules of the PCI function, or NULL unless the module
 *	was loaded with fault_injection=1 (inject.c)
 */
struct cnvme_ctrl {
	struct pci_dev *pdev;
	struct device *dev;
	void __iomem *bar;
	resource_size_t bar_size;
	u64 cap;
	u32 vs;
	u32 db_stride;
	u32 q_depth;
	int instance;
	struct device ctrl_dev;
	struct cdev cdev;
	bool ctrl_dev_added;
	struct cnvme_subsys *subsys;
	struct list_head subsys_entry;
	bool subsys_owns_instance;

	spinlock_t state_lock;	/* @state, reset queueing; irqs off */
	enum cnvme_ctrl_state state;
	struct mutex teardown_lock;	/* enable/disable, Q_LIVE, quiesce */
	bool io_quiesced;
	bool admin_quiesced;
	struct work_struct reset_work;
	struct delayed_work ers_work;
	bool ers_abandoned;
	struct work_struct scan_work;
	struct work_struct dead_work;
	struct delayed_work health_work;
	struct pci_saved_state *pci_state;
	bool rebuild_broken;
	unsigned long live_since;
	bool bus_master;
	bool disturbed;
	unsigned long disturbed_since;
	atomic_t aborts;
	unsigned int abort_limit;
	u16 crdt[3];

	struct cnvme_queue *queues;
	unsigned int nr_io_queues;
	unsigned int io_queues[HCTX_MAX_TYPES];
	unsigned int nr_vecs;
	__le32 *dbbuf_dbs;
	__le32 *dbbuf_eis;
	dma_addr_t dbbuf_dbs_dma;
	dma_addr_t dbbuf_eis_dma;
	size_t dbbuf_size;

	struct blk_mq_tag_set admin_tagset;
	struct request_queue *admin_q;
	struct blk_mq_tag_set tagset;
	bool tagset_ready;
	struct dma_pool *prp_pool;
	struct cnvme_map_stats __percpu *stats;
	struct dentry *debugfs;
	void __iomem *cmb;
	u64 cmb_bus;
	resource_size_t cmb_len;
	u32 cmb_sq_stride;
	u64 cmbmsc;

	struct mutex ns_lock;	/* @namespaces membership */
	struct list_head namespaces;
	struct mutex scan_lock;	/* namespace scans */
	unsigned int scan_gen;
	struct nvme_effects_log *effects;
	bool sgls;

	u32 id_nn;
	u32 max_hw_sectors;
	unsigned long shutdown_timeout;
	unsigned long ready_timeout;
	u16 oncs;
	u16 oacs;
	u8 dmrl;
	u32 dmrsl;
	u8 wzsl;
	bool vwc_present;
	bool vwc;
	char serial[21];
	char model[41];
	char firmware_rev[9];
	char id_sn[20];
	char id_mn[40];
	char id_fr[8];
	char subnqn[NVMF_NQN_SIZE];
	u16 vid;
	u16 ssvid;
	u16 cntlid;
	u8 cmic;
	u8 cntrltype;
	u8 lpa;
	u32 oaes;

	unsigned int aer_limit;
	atomic_t aer_outstanding;
	unsigned long aer_flags;
	struct work_struct aer_work;
	spinlock_t aer_lock;	/* @aer_events, @aer_nr_events; irqs off */
	u32 aer_events[CNVME_AER_MAX];
	unsigned int aer_nr_events;
	void *aer_log;

	struct cnvme_inject *inject;
};

/* Module parameters (main.c). */
extern unsigned int cnvme_io_queue_depth;
extern unsigned int cnvme_io_timeout;
extern unsigned int cnvme_admin_timeout;
extern unsigned int cnvme_shutdown_timeout;
extern unsigned int cnvme_write_queues;
extern unsigned int cnvme_poll_queues;
extern unsigned int cnvme_max_retries;
extern unsigned int cnvme_use_threaded_interrupts;
extern unsigned int cnvme_irq_poll_threshold;
extern unsigned int cnvme_irq_poll_budget;
extern unsigned int cnvme_sgl_threshold;
extern unsigned int cnvme_passthru_sgl;
extern bool cnvme_use_cmb_sqes;

/* main.c */
extern bool cnvme_private_names;
extern struct workqueue_struct *cnvme_wq;

/* sysfs.c: names, classes, controller and subsystem devices, attributes */
extern const struct cnvme_names *cnvme_names;
extern const struct attribute_group *cnvme_ns_attr_groups[];
int cnvme_sysfs_init(void);
void cnvme_sysfs_exit(void);
int cnvme_instance_alloc(void);
void cnvme_instance_free(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_dev_init(struct cnvme_ctrl *ctrl);
int cnvme_ctrl_dev_add(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_dev_del(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_connected_uevent(struct cnvme_ctrl *ctrl);

/* chardev.c: character devices, ioctls and io_uring passthrough */
int cnvme_chardev_init(void);
void cnvme_chardev_exit(void);
dev_t cnvme_ctrl_devt(struct cnvme_ctrl *ctrl);
int cnvme_ctrl_cdev_add(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_cdev_del(struct cnvme_ctrl *ctrl);
int cnvme_ns_cdev_add(struct cnvme_ns *ns);
void cnvme_ns_cdev_del(struct cnvme_ns *ns);
int cnvme_bdev_ioctl(struct block_device *bdev, blk_mode_t mode,
		     unsigned int cmd, unsigned long arg);

/* ctrl.c: registers, queues, interrupts */
bool cnvme_ctrl_change_state(struct cnvme_ctrl *ctrl,
			     enum cnvme_ctrl_state new,
			     enum cnvme_ctrl_state *old);
const char *cnvme_ctrl_state_name(enum cnvme_ctrl_state state);
int cnvme_ctrl_map(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_unmap(struct cnvme_ctrl *ctrl);
int cnvme_ctrl_disable(struct cnvme_ctrl *ctrl);
int cnvme_ctrl_enable(struct cnvme_ctrl *ctrl);
int cnvme_ctrl_shutdown(struct cnvme_ctrl *ctrl);
bool cnvme_ctrl_present(struct cnvme_ctrl *ctrl);
int cnvme_q_alloc(struct cnvme_ctrl *ctrl, u16 qid, u32 depth);
void cnvme_q_free(struct cnvme_ctrl *ctrl, u16 qid);
void cnvme_q_init(struct cnvme_queue *q, u16 vector, bool polled);
int cnvme_q_request_irq(struct cnvme_queue *q);
void cnvme_q_free_irq(struct cnvme_queue *q);
bool cnvme_q_suspend(struct cnvme_queue *q);
void cnvme_q_poll(struct cnvme_queue *q);
void cnvme_cmb_map_sqs(struct cnvme_ctrl *ctrl, unsigned int nr_queues);
int cnvme_cmb_enable(struct cnvme_ctrl *ctrl);
void cnvme_cmb_unmap(struct cnvme_ctrl *ctrl);

/* reset.c: controller reset, failure and power transitions */

/**
 * cnvme_ctrl_schedule_reset - start a controller reset in the background
 * @ctrl: the controller
 *
 * Moves a LIVE controller to RESETTING and queues its reset work, which
 * quiesces the queues, disables the controller, requeues the I/O that was
 * in flight, rebuilds the admin and I/O queues and unquiesces them again.
 * If the rebuild fails the controller is declared dead: its I/O fails with
 * EIO and the driver is unbound from the PCI function, so its disks go.
 * Safe from any context that may take a spinlock, including the blk-mq
 * timeout handler.
 *
 * Return: true if the reset was scheduled, false if the controller was not
 * LIVE (a reset is already pending or running, or it is new, being removed
 * or dead).
 */
bool cnvme_ctrl_schedule_reset(struct cnvme_ctrl *ctrl);

/**
 * cnvme_ctrl_reset - reset the controller and wait for the outcome
 * @ctrl: the controller; the caller keeps it bound (a sysfs attribute of
 *	the PCI function, or an open character device) until this returns
 *
 * The synchronous form of cnvme_ctrl_schedule_reset(), for user requests
 * (the reset_controller attribute, NVME_IOCTL_RESET).  May sleep for as
 * long as the reset takes: bounded by CAP.TO and admin_timeout.  A reset
 * that is already pending or running is not joined: the caller learns it
 * with -EBUSY and may try again.
 *
 * Context: process context, no locks held.
 * Return: 0 when the controller is live again; -EBUSY if a reset is already
 * pending or running, or probe has not finished; -ENODEV if the controller
 * is being removed or is dead; -EIO if this reset failed (the controller is
 * then dead).
 */
int cnvme_ctrl_reset(struct cnvme_ctrl *ctrl);

/**
 * cnvme_subsys_reset - NVM Subsystem Reset, then bring the controller back
 * @ctrl: the controller
 *
 * Only for controllers that report NSSR support (CAP.NSSRC): writes NSSR
 * and resets the controller as cnvme_ctrl_reset() does.  The other
 * controllers of the subsystem recover through their timeouts.
 *
 * Context: process context, no locks held.
 * Return: -ENOTTY without CAP.NSSRC, else as cnvme_ctrl_reset().
 */
int cnvme_subsys_reset(struct cnvme_ctrl *ctrl);

void cnvme_reset_work(struct work_struct *work);
void cnvme_ctrl_fail(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_fail_rq(struct cnvme_ctrl *ctrl, struct request *rq, u8 gen);
void cnvme_ctrl_stop(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_poweroff(struct cnvme_ctrl *ctrl);
int cnvme_ctrl_suspend(struct cnvme_ctrl *ctrl);
int cnvme_ctrl_resume(struct cnvme_ctrl *ctrl);
bool cnvme_ctrl_reset_prepare(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_reset_done(struct cnvme_ctrl *ctrl, bool wait);
bool cnvme_ctrl_error_frozen(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_slot_reset(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_error_resume(struct cnvme_ctrl *ctrl);
void cnvme_ers_work(struct work_struct *work);
void cnvme_scan_work(struct work_struct *work);
void cnvme_dead_work(struct work_struct *work);
void cnvme_health_work(struct work_struct *work);
void cnvme_ctrl_save_state(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_start(struct cnvme_ctrl *ctrl);

/* admin.c: synchronous admin commands and queue creation */
int cnvme_admin_init(struct cnvme_ctrl *ctrl);
void cnvme_admin_exit(struct cnvme_ctrl *ctrl);
int cnvme_admin_exec(struct cnvme_ctrl *ctrl, struct nvme_command *cmd,
		     void *buf, unsigned int len, union nvme_result *result);
int cnvme_identify(struct cnvme_ctrl *ctrl, u8 cns, u32 nsid, void *buf);
int cnvme_admin_identify_ctrl(struct cnvme_ctrl *ctrl);
int cnvme_admin_identify_nvm(struct cnvme_ctrl *ctrl);
int cnvme_admin_read_vwc(struct cnvme_ctrl *ctrl);
void cnvme_ctrl_vwc_changed(struct cnvme_ctrl *ctrl);
void cnvme_admin_user_done(struct cnvme_ctrl *ctrl,
			   const struct nvme_command *cmd);
int cnvme_admin_effects(struct cnvme_ctrl *ctrl);
int cnvme_admin_enable(struct cnvme_ctrl *ctrl);
int cnvme_set_host_behavior(struct cnvme_ctrl *ctrl);
int cnvme_io_queues_create(struct cnvme_ctrl *ctrl);
int cnvme_io_queues_recreate(struct cnvme_ctrl *ctrl);
void cnvme_io_queues_delete(struct cnvme_ctrl *ctrl);
void cnvme_io_queues_free(struct cnvme_ctrl *ctrl);
void cnvme_dbbuf_free(struct cnvme_ctrl *ctrl);

/* aer.c: Asynchronous Event Requests */
void cnvme_aer_start(struct cnvme_ctrl *ctrl);
void cnvme_aer_stop(struct cnvme_ctrl *ctrl);
void cnvme_aer_work(struct work_struct *work);

/* io.c: the submission and completion paths */
extern const struct blk_mq_ops cnvme_admin_mq_ops;
extern const struct blk_mq_ops cnvme_mq_ops;
irqreturn_t cnvme_irq(int irq, void *data);
irqreturn_t cnvme_irq_check(int irq, void *data);
int cnvme_q_reap(struct cnvme_queue *q);
int cnvme_q_reap_batch(struct cnvme_queue *q, unsigned int budget);
int cnvme_poll_index(struct request_queue *q, unsigned int idx,
		     struct io_comp_batch *iob);
void cnvme_cancel_all(struct cnvme_ctrl *ctrl, bool requeue);
bool cnvme_io_drain(struct cnvme_ctrl *ctrl, unsigned long timeout);
blk_status_t cnvme_status_to_blk(u16 status);
void cnvme_q_send_stray(struct cnvme_queue *q);

/*
 * irqpoll.c: interrupt mitigation (irq_poll_threshold), built with
 * CONFIG_IRQ_POLL.  Without it no queue gets CNVME_Q_MITIGATE, every
 * interrupt consumes its whole CQ, and the calls below are empty.
 */
#if IS_ENABLED(CONFIG_IRQ_POLL)
void cnvme_q_irqpoll_setup(struct cnvme_queue *q);
void cnvme_q_irqpoll_start(struct cnvme_queue *q, int irq);
void cnvme_q_irqpoll_stop(struct cnvme_queue *q);
void cnvme_q_irqpoll_resume(struct cnvme_queue *q);
#else
static inline void cnvme_q_irqpoll_setup(struct cnvme_queue *q)
{
	clear_bit(CNVME_Q_MITIGATE, &q->flags);
	q->irq_budget = UINT_MAX;
}

static inline void cnvme_q_irqpoll_start(struct cnvme_queue *q, int irq)
{
}

static inline void cnvme_q_irqpoll_stop(struct cnvme_queue *q)
{
}

static inline void cnvme_q_irqpoll_resume(struct cnvme_queue *q)
{
}
#endif

/*
 * inject.c: fault injection (Documentation/fault-injection.rst).  Always
 * built; the hooks below cost a patched-out jump unless the module was
 * loaded with fault_injection=1.
 */

/**
 * enum cnvme_fa_site - allocations fail_alloc can make fail
 * @CNVME_FA_PROBE: the controller's queue array, first allocation of probe
 * @CNVME_FA_QUEUE: the rings of a queue pair
 * @CNVME_FA_TAGSET: the admin and I/O tag sets
 * @CNVME_FA_IOD: a request slot's scatterlist or list page (I/O path)
 * @CNVME_FA_ADMIN_BUF: data buffers of the driver's own admin commands
 * @CNVME_FA_NS: a namespace and its disk
 * @CNVME_FA_DBBUF: the shadow doorbell buffers
 * @CNVME_FA_VECTORS: the interrupt vectors for the I/O queues (probe)
 * @CNVME_FA_NR: number of sites
 */
enum cnvme_fa_site {
	CNVME_FA_PROBE,
	CNVME_FA_QUEUE,
	CNVME_FA_TAGSET,
	CNVME_FA_IOD,
	CNVME_FA_ADMIN_BUF,
	CNVME_FA_NS,
	CNVME_FA_DBBUF,
	CNVME_FA_VECTORS,
	CNVME_FA_NR,
};

extern unsigned int cnvme_fault_injection;
DECLARE_STATIC_KEY_FALSE(cnvme_inject_key);
void cnvme_inject_init(struct dentry *root);
void cnvme_inject_exit(void);
void cnvme_inject_attach(struct cnvme_ctrl *ctrl);
struct dentry *cnvme_inject_dir(struct cnvme_ctrl *ctrl);
bool __cnvme_inject_lost_irq(struct cnvme_queue *q);
bool __cnvme_inject_hide_cqe(struct cnvme_queue *q, struct cnvme_iod *iod);
bool __cnvme_inject_status(struct cnvme_queue *q, struct cnvme_iod *iod);
bool __cnvme_inject_fail_ready(struct cnvme_ctrl *ctrl, bool enable);
bool __cnvme_inject_alloc(struct cnvme_ctrl *ctrl, enum cnvme_fa_site site);
void __cnvme_inject_stray(struct cnvme_ctrl *ctrl);

/**
 * cnvme_inject_lost_irq - drop this interrupt of @q?
 * @q: the queue whose interrupt handler runs
 *
 * Return: true if the handler must return without looking at the CQ.
 */
static __always_inline bool cnvme_inject_lost_irq(struct cnvme_queue *q)
{
	return static_branch_unlikely(&cnvme_inject_key) &&
	       __cnvme_inject_lost_irq(q);
}

/**
 * cnvme_inject_hide_cqe - drop this completion?
 * @q: the queue the completion arrived on
 * @iod: the command it completes
 *
 * Return: true if the command must be left to time out.
 */
static __always_inline bool cnvme_inject_hide_cqe(struct cnvme_queue *q,
						  struct cnvme_iod *iod)
{
	return static_branch_unlikely(&cnvme_inject_key) &&
	       __cnvme_inject_hide_cqe(q, iod);
}

/**
 * cnvme_inject_status - fail this command without sending it?
 * @q: the queue it is submitted to
 * @iod: the command, started
 *
 * Return: true if @iod->status holds the status to complete it with.
 */
static __always_inline bool cnvme_inject_status(struct cnvme_queue *q,
						struct cnvme_iod *iod)
{
	return static_branch_unlikely(&cnvme_inject_key) &&
	       __cnvme_inject_status(q, iod);
}

/**
 * cnvme_inject_fail_ready - pretend CSTS.RDY does not follow CC.EN?
 * @ctrl: the controller
 * @enable: an enable (true) or a disable (false)
 *
 * Return: true if the caller must not touch CC and report a timeout.
 */
static inline bool cnvme_inject_fail_ready(struct cnvme_ctrl *ctrl,
					   bool enable)
{
	return static_branch_unlikely(&cnvme_inject_key) &&
	       __cnvme_inject_fail_ready(ctrl, enable);
}

/**
 * cnvme_inject_alloc - pretend this allocation failed?
 * @ctrl: the controller
 * @site: the allocation site
 *
 * Return: true if the caller must treat the allocation as failed.
 */
static __always_inline bool cnvme_inject_alloc(struct cnvme_ctrl *ctrl,
					       enum cnvme_fa_site site)
{
	return static_branch_unlikely(&cnvme_inject_key) &&
	       __cnvme_inject_alloc(ctrl, site);
}

/**
 * cnvme_inject_stray - send a stray command if fault injection armed one
 * @ctrl: the controller, live; called from its health check
 */
static inline void cnvme_inject_stray(struct cnvme_ctrl *ctrl)
{
	if (static_branch_unlikely(&cnvme_inject_key))
		__cnvme_inject_stray(ctrl);
}

/* ns.c: namespaces and gendisks */
int cnvme_ns_scan(struct cnvme_ctrl *ctrl);
int cnvme_ns_scan_changed(struct cnvme_ctrl *ctrl, const __le32 *nsids,
			  unsigned int nr);
void cnvme_ns_remove_all(struct cnvme_ctrl *ctrl);
void cnvme_ns_mark_dead(struct cnvme_ctrl *ctrl);
int cnvme_ns_update_nuse(struct cnvme_ns *ns);

/**
 * cnvme_max_io_queues - the most I/O queues cnvme may ask a controller for
 *
 * Return: one interrupt-driven queue per possible CPU, plus the extra
 * queues of the write_queues and poll_queues parameters.
 */
static inline unsigned int cnvme_max_io_queues(void)
{
	return num_possible_cpus() + cnvme_write_queues + cnvme_poll_queues;
}

/**
 * cnvme_ctrl_set_state - move the controller to a new state
 * @ctrl: the controller
 * @new: the state to enter
 *
 * Return: true if the state changed; see cnvme_ctrl_change_state().
 */
static inline bool cnvme_ctrl_set_state(struct cnvme_ctrl *ctrl,
					enum cnvme_ctrl_state new)
{
	return cnvme_ctrl_change_state(ctrl, new, NULL);
}

/**
 * cnvme_db - address of a doorbell register
 * @ctrl: the controller
 * @qid: queue identifier
 * @cq: true for the CQ head doorbell, false for the SQ tail doorbell
 *
 * Return: the mapped doorbell, CAP.DSTRD apart from its neighbours.
 */
static inline u32 __iomem *cnvme_db(struct cnvme_ctrl *ctrl, u16 qid, bool cq)
{
	return ctrl->bar + NVME_REG_DBS +
		(2 * qid + cq) * ctrl->db_stride * sizeof(u32);
}

#endif /* _CNVME_H */
