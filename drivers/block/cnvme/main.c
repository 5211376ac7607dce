// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: module parameters, PCI probe and remove.
 *
 * Probe and remove mirror each other: every resource probe acquires has
 * one unwind label, and remove releases the same resources in reverse.
 */
#include <linux/debugfs.h>
#include <linux/idr.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/interrupt.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#include "cnvme.h"

static int cnvme_param_set_depth(const char *val, const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 2, CNVME_MAX_Q_DEPTH - 1);
}

static int cnvme_param_set_timeout(const char *val,
				   const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, 3600);
}

static int cnvme_param_set_shutdown(const char *val,
				    const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, 60);
}

static int cnvme_param_set_queues(const char *val,
				  const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, num_possible_cpus());
}

static const struct kernel_param_ops cnvme_queues_ops = {
	.set = cnvme_param_set_queues,
	.get = param_get_uint,
};

static int cnvme_param_set_retries(const char *val,
				   const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, 100);
}

static int cnvme_param_set_bool01(const char *val,
				  const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, 1);
}

static const struct kernel_param_ops cnvme_bool01_ops = {
	.set = cnvme_param_set_bool01,
	.get = param_get_uint,
};

static const struct kernel_param_ops cnvme_depth_ops = {
	.set = cnvme_param_set_depth,
	.get = param_get_uint,
};

static const struct kernel_param_ops cnvme_timeout_ops = {
	.set = cnvme_param_set_timeout,
	.get = param_get_uint,
};

static const struct kernel_param_ops cnvme_shutdown_ops = {
	.set = cnvme_param_set_shutdown,
	.get = param_get_uint,
};

/*
 * Up to the largest transfer cnvme issues: any larger threshold would
 * mean "never" just as 0 does.
 */
static int cnvme_param_set_sgl_threshold(const char *val,
					 const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 0, 1U << CNVME_MAX_XFER_SHIFT);
}

static const struct kernel_param_ops cnvme_sgl_threshold_ops = {
	.set = cnvme_param_set_sgl_threshold,
	.get = param_get_uint,
};

static const struct kernel_param_ops cnvme_retries_ops = {
	.set = cnvme_param_set_retries,
	.get = param_get_uint,
};

/*
 * An interrupt consumes at most one CQ's worth; without irq_poll in the
 * kernel there is nothing to hand the rest to.
 */
static int cnvme_param_set_irq_poll_threshold(const char *val,
					      const struct kernel_param *kp)
{
	unsigned int v;
	int ret;

	ret = kstrtouint(val, 0, &v);
	if (ret)
		return ret;
	if (v && !IS_ENABLED(CONFIG_IRQ_POLL)) {
		pr_err(CNVME_NAME ": irq_poll_threshold needs a kernel with CONFIG_IRQ_POLL\n");
		return -EOPNOTSUPP;
	}
	return param_set_uint_minmax(val, kp, 0, 4096);
}

static const struct kernel_param_ops cnvme_irq_poll_threshold_ops = {
	.set = cnvme_param_set_irq_poll_threshold,
	.get = param_get_uint,
};

static int cnvme_param_set_irq_poll_budget(const char *val,
					   const struct kernel_param *kp)
{
	return param_set_uint_minmax(val, kp, 1, 1024);
}

static const struct kernel_param_ops cnvme_irq_poll_budget_ops = {
	.set = cnvme_param_set_irq_poll_budget,
	.get = param_get_uint,
};

unsigned int cnvme_io_queue_depth = 1024;
module_param_cb(io_queue_depth, &cnvme_depth_ops, &cnvme_io_queue_depth, 0444);
MODULE_PARM_DESC(io_queue_depth,
		 "entries per I/O queue, 2-4095, further capped by CAP.MQES (default 1024)");

unsigned int cnvme_write_queues;
module_param_cb(write_queues, &cnvme_queues_ops, &cnvme_write_queues, 0444);
MODULE_PARM_DESC(write_queues,
		 "queues for writes, making the others a separate read map, 0 to the number of possible CPUs (default 0: reads and writes share)");

unsigned int cnvme_poll_queues;
module_param_cb(poll_queues, &cnvme_queues_ops, &cnvme_poll_queues, 0444);
MODULE_PARM_DESC(poll_queues,
		 "queues without interrupts for polled I/O, 0 to the number of possible CPUs (default 0)");

unsigned int cnvme_io_timeout = 30;
module_param_cb(io_timeout, &cnvme_timeout_ops, &cnvme_io_timeout, 0444);
MODULE_PARM_DESC(io_timeout, "I/O command timeout in seconds, 1-3600 (default 30)");

unsigned int cnvme_admin_timeout = 60;
module_param_cb(admin_timeout, &cnvme_timeout_ops, &cnvme_admin_timeout, 0444);
MODULE_PARM_DESC(admin_timeout,
		 "admin command timeout in seconds, 1-3600 (default 60)");

unsigned int cnvme_shutdown_timeout = 5;
module_param_cb(shutdown_timeout, &cnvme_shutdown_ops, &cnvme_shutdown_timeout,
		0444);
MODULE_PARM_DESC(shutdown_timeout,
		 "minimum wait for a controller shutdown in seconds, 1-60; RTD3E may extend it (default 5)");

unsigned int cnvme_max_retries = 5;
module_param_cb(max_retries, &cnvme_retries_ops, &cnvme_max_retries, 0444);
MODULE_PARM_DESC(max_retries,
		 "times a failed I/O command is sent again, 0-100 (default 5)");

unsigned int cnvme_use_threaded_interrupts;
module_param_cb(use_threaded_interrupts, &cnvme_bool01_ops,
		&cnvme_use_threaded_interrupts, 0444);
MODULE_PARM_DESC(use_threaded_interrupts,
		 "1: process completions in each vector's irq thread, with only a check in hard-irq context; 0: all in hard-irq context (default 0, the faster here)");

unsigned int cnvme_irq_poll_threshold;
module_param_cb(irq_poll_threshold, &cnvme_irq_poll_threshold_ops,
		&cnvme_irq_poll_threshold, 0444);
MODULE_PARM_DESC(irq_poll_threshold,
		 "an I/O queue interrupt that finds this many completions disables its vector and leaves the rest to irq_poll until the queue drains; 0 = off, up to 4096 (default 0)");

unsigned int cnvme_irq_poll_budget = 64;
module_param_cb(irq_poll_budget, &cnvme_irq_poll_budget_ops,
		&cnvme_irq_poll_budget, 0444);
MODULE_PARM_DESC(irq_poll_budget,
		 "completions one irq_poll round consumes before yielding the CPU, 1-1024 (default 64)");
unsigned int cnvme_sgl_threshold = SZ_32K;
module_param_cb(sgl_threshold, &cnvme_sgl_threshold_ops, &cnvme_sgl_threshold,
		0444);
MODULE_PARM_DESC(sgl_threshold,
		 "use SGLs for block I/O whose average segment is at least this many bytes, when the controller supports SGLs; 0 = never, up to 4194304 (default 32768)");

unsigned int cnvme_passthru_sgl = 1;
module_param_cb(passthru_sgl, &cnvme_bool01_ops, &cnvme_passthru_sgl, 0444);
MODULE_PARM_DESC(passthru_sgl,
		 "1: user passthrough on the I/O queues describes its data with an SGL when the controller supports SGLs, so that no command moves more than its buffer; 0: always PRPs (default 1)");

bool cnvme_use_cmb_sqes = true;
module_param_named(use_cmb_sqes, cnvme_use_cmb_sqes, bool, 0444);
MODULE_PARM_DESC(use_cmb_sqes,
		 "put the I/O submission queues in the controller memory buffer when it supports them and has room (default Y)");

unsigned int cnvme_fault_injection;
module_param_cb(fault_injection, &cnvme_bool01_ops, &cnvme_fault_injection,
		0444);
MODULE_PARM_DESC(fault_injection,
		 "1: offer fault injection in debugfs, cnvme/<PCI device>/inject/ (Documentation/fault-injection.rst); 0: none, at no cost (default 0)");

bool cnvme_private_names;
module_param_named(private_names, cnvme_private_names, bool, 0444);
MODULE_PARM_DESC(private_names,
		 "use the class and node names cnvme, cnvme-subsystem, cnvme-generic, cnvme<N>, cng<N>n<nsid> even when nvme-core is not loaded, leaving the nvme names to it (default N)");

/* Resets, scans and health checks; WQ_MEM_RECLAIM: writeback waits. */
struct workqueue_struct *cnvme_wq;

/* cnvme/ in debugfs, one directory per controller (by PCI name) below. */
static struct dentry *cnvme_debugfs_root;

/*
 * io_maps: how many block I/O commands went out with an SGL and how many
 * with PRPs, so that a test can tell which path sgl_threshold chose.
 */
static int cnvme_io_maps_show(struct seq_file *m, void *unused)
{
	struct cnvme_ctrl *ctrl = m->private;
	u64 sgl = 0, prp = 0;
	int cpu;

	for_each_possible_cpu(cpu) {
		struct cnvme_map_stats *st = per_cpu_ptr(ctrl->stats, cpu);

		sgl += READ_ONCE(st->block_sgl);
		prp += READ_ONCE(st->block_prp);
	}
	seq_printf(m, "sgls_supported %u\nblock_sgl %llu\nblock_prp %llu\n",
		   ctrl->sgls, sgl, prp);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(cnvme_io_maps);

/*
 * cmb: the CMB part holding I/O SQs, CMBMSC as read from the controller,
 * and where each I/O SQ is.
 */
static int cnvme_cmb_show(struct seq_file *m, void *unused)
{
	struct cnvme_ctrl *ctrl = m->private;
	unsigned int qid;

	/* The register as the controller holds it, not what cnvme wrote. */
	seq_printf(m, "cmb_bus %#llx\ncmb_bytes %llu\ncmbmsc %#llx\n",
		   ctrl->cmb ? ctrl->cmb_bus : 0, (u64)ctrl->cmb_len,
		   lo_hi_readq(ctrl->bar + NVME_REG_CMBMSC));
	for (qid = 1; qid <= ctrl->nr_io_queues; qid++) {
		struct cnvme_queue *q = &ctrl->queues[qid];

		seq_printf(m, "sq%u %s %#llx\n", qid, q->sq_io ? "cmb" : "host",
			   (u64)q->sq_dma_addr);
	}
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(cnvme_cmb);

/*
 * Debugfs is a debugging aid: failing to create it is not an error.  With
 * fault injection the directory belongs to inject.c and outlives the
 * controller, so that faults can be armed before the next probe: remove
 * then takes only the controller's own files away.
 */
static const char * const cnvme_debugfs_files[] = { "io_maps", "cmb" };

static void cnvme_debugfs_add(struct cnvme_ctrl *ctrl)
{
	ctrl->debugfs = cnvme_inject_dir(ctrl);
	if (!ctrl->debugfs)
		ctrl->debugfs = debugfs_create_dir(dev_name(ctrl->dev),
						   cnvme_debugfs_root);
	debugfs_create_file(cnvme_debugfs_files[0], 0400, ctrl->debugfs, ctrl,
			    &cnvme_io_maps_fops);
	debugfs_create_file(cnvme_debugfs_files[1], 0400, ctrl->debugfs, ctrl,
			    &cnvme_cmb_fops);
}

static void cnvme_debugfs_del(struct cnvme_ctrl *ctrl)
{
	unsigned int i;

	if (!cnvme_inject_dir(ctrl)) {
		debugfs_remove_recursive(ctrl->debugfs);
		return;
	}
	for (i = 0; i < ARRAY_SIZE(cnvme_debugfs_files); i++)
		debugfs_lookup_and_remove(cnvme_debugfs_files[i], ctrl->debugfs);
}

static int cnvme_check_cap(struct cnvme_ctrl *ctrl)
{
	u64 cap = ctrl->cap;

	if (!(NVME_CAP_CSS(cap) & NVME_CAP_CSS_NVM)) {
		dev_err(ctrl->dev, "controller does not support the NVM command set\n");
		return -ENODEV;
	}
	if (NVME_CAP_MPSMIN(cap) > CNVME_CTRL_PAGE_SHIFT - 12) {
		dev_err(ctrl->dev, "controller minimum page size 2^%llu is above 4 KiB\n",
			NVME_CAP_MPSMIN(cap) + 12);
		return -ENODEV;
	}
	/* CAP.TO counts 500 ms units, zero based. */
	ctrl->ready_timeout = msecs_to_jiffies((NVME_CAP_TIMEOUT(cap) + 1) * 500);
	ctrl->shutdown_timeout = cnvme_shutdown_timeout * HZ;
	ctrl->q_depth = min_t(u32, NVME_CAP_MQES(cap) + 1, cnvme_io_queue_depth);
	if (ctrl->q_depth < 2) {
		dev_err(ctrl->dev, "controller allows no usable queue depth\n");
		return -ENODEV;
	}
	return 0;
}

static int cnvme_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int node = dev_to_node(&pdev->dev);
	struct cnvme_ctrl *ctrl;
	int ret;

	ctrl = kzalloc_node(sizeof(*ctrl), GFP_KERNEL, node);
	if (!ctrl)
		return -ENOMEM;
	/* Held until the controller's memory goes, after remove. */
	ctrl->pdev = pci_dev_get(pdev);
	ctrl->dev = &pdev->dev;
	ctrl->state = CNVME_CTRL_NEW;
	ctrl->instance = -1;
	spin_lock_init(&ctrl->state_lock);
	mutex_init(&ctrl->teardown_lock);
	mutex_init(&ctrl->ns_lock);
	mutex_init(&ctrl->scan_lock);
	INIT_LIST_HEAD(&ctrl->namespaces);
	INIT_LIST_HEAD(&ctrl->subsys_entry);
	INIT_WORK(&ctrl->reset_work, cnvme_reset_work);
	INIT_DELAYED_WORK(&ctrl->ers_work, cnvme_ers_work);
	INIT_WORK(&ctrl->scan_work, cnvme_scan_work);
	INIT_WORK(&ctrl->dead_work, cnvme_dead_work);
	INIT_DELAYED_WORK(&ctrl->health_work, cnvme_health_work);
	INIT_WORK(&ctrl->aer_work, cnvme_aer_work);
	spin_lock_init(&ctrl->aer_lock);
	atomic_set(&ctrl->aer_outstanding, 0);
	atomic_set(&ctrl->aborts, 0);
	/* From here on put_device() frees the controller. */
	cnvme_ctrl_dev_init(ctrl);
	cnvme_inject_attach(ctrl);

	ctrl->queues = cnvme_inject_alloc(ctrl, CNVME_FA_PROBE) ? NULL :
		kcalloc_node(cnvme_max_io_queues() + 1, sizeof(*ctrl->queues),
			     GFP_KERNEL, node);
	if (!ctrl->queues) {
		ret = -ENOMEM;
		goto out_put_ctrl;
	}
	/* Freed with the controller, like the queues. */
	ctrl->stats = alloc_percpu(struct cnvme_map_stats);
	if (!ctrl->stats) {
		ret = -ENOMEM;
		goto out_put_ctrl;
	}
	ctrl->instance = cnvme_instance_alloc();
	if (ctrl->instance < 0) {
		ret = ctrl->instance;
		goto out_put_ctrl;
	}

	ret = pci_enable_device_mem(pdev);
	if (ret) {
		dev_err(ctrl->dev, "cannot enable the PCI device: %d\n", ret);
		goto out_free_instance;
	}
	/*
	 * No bus mastering yet: a controller left running by whoever had it
	 * before could write into memory cnvme hands out.  It comes on in
	 * cnvme_admin_enable(), once the controller is disabled.
	 */
	if (dma_set_mask_and_coherent(ctrl->dev, DMA_BIT_MASK(64)) &&
	    dma_set_mask_and_coherent(ctrl->dev, DMA_BIT_MASK(32))) {
		dev_err(ctrl->dev, "no usable DMA addressing\n");
		ret = -ENODEV;
		goto out_disable;
	}
	/*
	 * Under the PRP virt_boundary the block layer builds segments of any
	 * length; the DMA layer assumes 64 KiB unless told otherwise.
	 */
	dma_set_max_seg_size(ctrl->dev, UINT_MAX);

	ret = cnvme_ctrl_map(ctrl);
	if (ret)
		goto out_disable;
	ret = cnvme_check_cap(ctrl);
	if (ret)
		goto out_unmap;

	ctrl->prp_pool = dma_pool_create("cnvme-prp", ctrl->dev,
					 CNVME_CTRL_PAGE_SIZE,
					 CNVME_CTRL_PAGE_SIZE, 0);
	if (!ctrl->prp_pool) {
		ret = -ENOMEM;
		goto out_unmap;
	}

	/* One vector for the admin queue until the I/O queues are sized. */
	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_ALL_TYPES);
	if (ret < 0) {
		dev_err(ctrl->dev, "cannot allocate an interrupt vector: %d\n",
			ret);
		goto out_destroy_pool;
	}
	ctrl->nr_vecs = 1;

	ret = cnvme_admin_init(ctrl);
	if (ret)
		goto out_free_vectors;
	ret = cnvme_admin_identify_ctrl(ctrl);
	if (ret)
		goto out_stop_ctrl;
	ret = cnvme_admin_identify_nvm(ctrl);
	if (ret)
		goto out_stop_ctrl;
	ret = cnvme_admin_read_vwc(ctrl);
	if (ret)
		goto out_stop_ctrl;
	ret = cnvme_set_host_behavior(ctrl);
	if (ret)
		goto out_stop_ctrl;
	ret = cnvme_admin_effects(ctrl);
	if (ret)
		goto out_stop_ctrl;
	ret = cnvme_io_queues_create(ctrl);
	if (ret)
		goto out_stop_ctrl;
	pci_set_drvdata(pdev, ctrl);
	cnvme_debugfs_add(ctrl);

	/* The disks are children of nvme<instance>: it comes first. */
	ret = cnvme_ctrl_dev_add(ctrl);
	if (ret)
		goto out_clear_drvdata;
	/*
	 * What every reset, slot_reset and the ERS watchdog restore; saved
	 * before a reset can start, which saves it itself.
	 */
	cnvme_ctrl_save_state(ctrl);
	/*
	 * Live before the scan, which runs from scan_work: a scan command
	 * that times out then resets the controller and scans again, rather
	 * than failing the probe.
	 */
	if (!cnvme_ctrl_set_state(ctrl, CNVME_CTRL_LIVE)) {
		dev_err(ctrl->dev, "controller failed during probe\n");
		ret = -ENODEV;
		goto out_del_ctrl_dev;
	}

	dev_info(ctrl->dev, "%s%d: %s, fw %s, NVMe %u.%u, %u/%u/%u default/read/poll queues of %u entries, %u vector%s%s%s\n",
		 cnvme_names->ctrl, ctrl->instance, ctrl->model,
		 ctrl->firmware_rev, NVME_MAJOR(ctrl->vs), NVME_MINOR(ctrl->vs),
		 ctrl->io_queues[HCTX_TYPE_DEFAULT],
		 ctrl->io_queues[HCTX_TYPE_READ],
		 ctrl->io_queues[HCTX_TYPE_POLL], ctrl->q_depth,
		 ctrl->nr_vecs, ctrl->nr_vecs == 1 ? "" : "s",
		 ctrl->dbbuf_dbs ? ", shadow doorbells" : "",
		 ctrl->cmb ? ", SQs in the CMB" : "");
	/* Events and disks from here on: a reset or remove may cancel them. */
	cnvme_ctrl_start(ctrl);
	/*
	 * Probe runs asynchronously, but whoever waits for it (the root
	 * file system without rootwait, wait_for_device_probe()) expects
	 * the disks to exist when it ends: wait for the first scan.
	 */
	flush_work(&ctrl->scan_work);
	return 0;

out_del_ctrl_dev:
	cnvme_ctrl_dev_del(ctrl);
out_clear_drvdata:
	cnvme_debugfs_del(ctrl);
	pci_set_drvdata(pdev, NULL);
out_stop_ctrl:
	/* Deletes whatever I/O queues exist; a no-op for those that do not. */
	cnvme_ctrl_set_state(ctrl, CNVME_CTRL_DELETING);
	cnvme_ctrl_stop(ctrl);
	cnvme_io_queues_free(ctrl);
	cnvme_admin_exit(ctrl);
out_free_vectors:
	pci_free_irq_vectors(pdev);
out_destroy_pool:
	dma_pool_destroy(ctrl->prp_pool);
out_unmap:
	cnvme_ctrl_unmap(ctrl);
out_disable:
	pci_disable_device(pdev);
out_free_instance:
	cnvme_instance_free(ctrl);
out_put_ctrl:
	put_device(&ctrl->ctrl_dev);
	return ret;
}

static void cnvme_remove(struct pci_dev *pdev)
{
	struct cnvme_ctrl *ctrl = pci_get_drvdata(pdev);

	/*
	 * No reset starts from here on; one queued or in progress (queued
	 * under the state lock, before this change) ends first.
	 */
	cnvme_ctrl_set_state(ctrl, CNVME_CTRL_DELETING);
	/* A device that is gone cannot finish the I/O del_gendisk waits for. */
	if (!cnvme_ctrl_present(ctrl))
		cnvme_ctrl_fail(ctrl);
	cancel_delayed_work_sync(&ctrl->ers_work);
	flush_work(&ctrl->reset_work);
	/* Nothing queues these any more: the state is DELETING or DEAD. */
	cancel_delayed_work_sync(&ctrl->health_work);
	cancel_work_sync(&ctrl->scan_work);
	flush_work(&ctrl->dead_work);
	/* No scan starts any more (the state is not LIVE); wait for one. */
	mutex_lock(&ctrl->scan_lock);
	mutex_unlock(&ctrl->scan_lock);

	cnvme_ns_remove_all(ctrl);
	cnvme_ctrl_dev_del(ctrl);
	/* Its files look at the queues: gone before they are. */
	cnvme_debugfs_del(ctrl);
	cnvme_ctrl_stop(ctrl);
	/* While DELETING the work sent no request and scanned nothing. */
	cnvme_aer_stop(ctrl);
	cnvme_io_queues_free(ctrl);
	cnvme_admin_exit(ctrl);
	pci_free_irq_vectors(pdev);
	dma_pool_destroy(ctrl->prp_pool);
	cnvme_ctrl_unmap(ctrl);
	pci_disable_device(pdev);
	cnvme_instance_free(ctrl);
	kfree(ctrl->pci_state);
	/* Open nodes and namespaces may keep the memory a little longer. */
	put_device(&ctrl->ctrl_dev);
}

/* Reboot or power-off: shut the controller down so it flushes its cache. */
static void cnvme_shutdown(struct pci_dev *pdev)
{
	cnvme_ctrl_poweroff(pci_get_drvdata(pdev));
}

static ssize_t reset_controller_store(struct device *dev,
				      struct device_attribute *attr,
				      const char *buf, size_t count)
{
	struct cnvme_ctrl *ctrl = dev_get_drvdata(dev);
	int ret;

	if (!sysfs_streq(buf, "1"))
		return -EINVAL;
	ret = cnvme_ctrl_reset(ctrl);
	return ret ? ret : count;
}
static DEVICE_ATTR_WO(reset_controller);

static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct cnvme_ctrl *ctrl = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%s\n",
			  cnvme_ctrl_state_name(READ_ONCE(ctrl->state)));
}
static DEVICE_ATTR_RO(state);

/* On the PCI function while the driver is bound. */
static struct attribute *cnvme_ctrl_attrs[] = {
	&dev_attr_reset_controller.attr,
	&dev_attr_state.attr,
	NULL,
};
ATTRIBUTE_GROUPS(cnvme_ctrl);

static pci_ers_result_t cnvme_error_detected(struct pci_dev *pdev,
					     pci_channel_state_t state)
{
	struct cnvme_ctrl *ctrl = pci_get_drvdata(pdev);

	switch (state) {
	case pci_channel_io_normal:
		return PCI_ERS_RESULT_CAN_RECOVER;
	case pci_channel_io_frozen:
		dev_warn(ctrl->dev, "PCI channel frozen, resetting controller\n");
		if (!cnvme_ctrl_error_frozen(ctrl))
			return PCI_ERS_RESULT_DISCONNECT;
		return PCI_ERS_RESULT_NEED_RESET;
	case pci_channel_io_perm_failure:
		dev_warn(ctrl->dev, "PCI channel failed for good\n");
		cnvme_ctrl_fail(ctrl);
		return PCI_ERS_RESULT_DISCONNECT;
	}
	return PCI_ERS_RESULT_NEED_RESET;
}

static pci_ers_result_t cnvme_slot_reset(struct pci_dev *pdev)
{
	struct cnvme_ctrl *ctrl = pci_get_drvdata(pdev);

	dev_info(ctrl->dev, "restarting after a slot reset\n");
	cnvme_ctrl_slot_reset(ctrl);
	return PCI_ERS_RESULT_RECOVERED;
}

static void cnvme_error_resume(struct pci_dev *pdev)
{
	cnvme_ctrl_error_resume(pci_get_drvdata(pdev));
}

static void cnvme_reset_prepare(struct pci_dev *pdev)
{
	cnvme_ctrl_reset_prepare(pci_get_drvdata(pdev));
}

static void cnvme_reset_done(struct pci_dev *pdev)
{
	cnvme_ctrl_reset_done(pci_get_drvdata(pdev), true);
}

static const struct pci_error_handlers cnvme_err_handler = {
	.error_detected	= cnvme_error_detected,
	.slot_reset	= cnvme_slot_reset,
	.resume		= cnvme_error_resume,
	.reset_prepare	= cnvme_reset_prepare,
	.reset_done	= cnvme_reset_done,
};

static int cnvme_pm_suspend(struct device *dev)
{
	return cnvme_ctrl_suspend(dev_get_drvdata(dev));
}

static int cnvme_pm_resume(struct device *dev)
{
	return cnvme_ctrl_resume(dev_get_drvdata(dev));
}

/* The same for suspend/resume and the hibernation freeze/thaw and so on. */
static DEFINE_SIMPLE_DEV_PM_OPS(cnvme_pm_ops, cnvme_pm_suspend, cnvme_pm_resume);

static const struct pci_device_id cnvme_id_table[] = {
	{ PCI_DEVICE_CLASS(PCI_CLASS_STORAGE_EXPRESS, 0xffffff) },
	{ }
};
MODULE_DEVICE_TABLE(pci, cnvme_id_table);

static struct pci_driver cnvme_driver = {
	.name		= CNVME_NAME,
	.id_table	= cnvme_id_table,
	.probe		= cnvme_probe,
	.remove		= cnvme_remove,
	.shutdown	= cnvme_shutdown,
	.err_handler	= &cnvme_err_handler,
	.dev_groups	= cnvme_ctrl_groups,
	.driver		= {
		.pm		= pm_sleep_ptr(&cnvme_pm_ops),
		/* Like the stock driver: bring-up does not hold up boot. */
		.probe_type	= PROBE_PREFER_ASYNCHRONOUS,
	},
};

static int __init cnvme_init(void)
{
	int ret;

	BUILD_BUG_ON(sizeof(struct nvme_command) != 64);
	BUILD_BUG_ON(sizeof(struct nvme_completion) != 16);
	BUILD_BUG_ON(sizeof(struct nvme_id_ctrl) != NVME_IDENTIFY_DATA_SIZE);
	BUILD_BUG_ON(sizeof(struct nvme_id_ns) != NVME_IDENTIFY_DATA_SIZE);
	BUILD_BUG_ON(CNVME_AQ_DEPTH > CNVME_MAX_Q_DEPTH);
	/* A maximal transfer needs this many chained PRP list pages. */
	BUILD_BUG_ON(DIV_ROUND_UP((1U << (CNVME_MAX_XFER_SHIFT -
					  CNVME_CTRL_PAGE_SHIFT)),
				  CNVME_PRPS_PER_PAGE - 1) >
		     CNVME_MAX_LIST_PAGES);
	/* A request's SGL segment list fits one list page, never chained. */
	BUILD_BUG_ON(CNVME_MAX_SEGS > CNVME_SGLS_PER_PAGE);

	cnvme_wq = alloc_workqueue("cnvme", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!cnvme_wq)
		return -ENOMEM;
	cnvme_debugfs_root = debugfs_create_dir(CNVME_NAME, NULL);
	if (cnvme_fault_injection)
		cnvme_inject_init(cnvme_debugfs_root);
	ret = cnvme_sysfs_init();
	if (ret)
		goto out_wq;
	ret = cnvme_chardev_init();
	if (ret)
		goto out_sysfs;
	ret = pci_register_driver(&cnvme_driver);
	if (ret)
		goto out_chardev;
	return 0;

out_chardev:
	cnvme_chardev_exit();
out_sysfs:
	cnvme_sysfs_exit();
out_wq:
	debugfs_remove_recursive(cnvme_debugfs_root);
	destroy_workqueue(cnvme_wq);
	return ret;
}

static void __exit cnvme_exit(void)
{
	pci_unregister_driver(&cnvme_driver);
	destroy_workqueue(cnvme_wq);
	cnvme_chardev_exit();
	cnvme_sysfs_exit();
	debugfs_remove_recursive(cnvme_debugfs_root);
	cnvme_inject_exit();
}

module_init(cnvme_init);
module_exit(cnvme_exit);

MODULE_DESCRIPTION("cnvme: self-contained NVM Express PCIe block driver");
MODULE_LICENSE("GPL");
MODULE_VERSION(CNVME_VERSION);
