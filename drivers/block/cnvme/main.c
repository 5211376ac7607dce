// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: module parameters, PCI probe and remove.
 *
 * Probe and remove mirror each other: every resource probe acquires has
 * one unwind label, and remove releases the same resources in reverse.
 */
#include <linux/idr.h>
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

bool cnvme_private_names;
module_param_named(private_names, cnvme_private_names, bool, 0444);
MODULE_PARM_DESC(private_names,
		 "use the class and node names cnvme, cnvme-subsystem, cnvme-generic, cnvme<N>, cng<N>n<nsid> even when nvme-core is not loaded, leaving the nvme names to it (default N)");

/*
 * Stop the controller: delete the I/O queues and shut it down when it
 * still answers, then take every queue away from its interrupt handler,
 * reap what the device finished and fail what it did not.
 */
static void cnvme_ctrl_stop(struct cnvme_ctrl *ctrl)
{
	bool alive = ctrl->state != CNVME_CTRL_DEAD && cnvme_ctrl_present(ctrl);
	unsigned int i;

	if (ctrl->tagset_ready)
		blk_mq_quiesce_tagset(&ctrl->tagset);
	if (alive)
		cnvme_io_queues_delete(ctrl);
	blk_mq_quiesce_queue(ctrl->admin_q);
	if (alive && cnvme_ctrl_shutdown(ctrl))
		cnvme_ctrl_disable(ctrl);

	for (i = 0; i <= ctrl->nr_io_queues; i++) {
		struct cnvme_queue *q = &ctrl->queues[i];

		cnvme_q_suspend(q);
		cnvme_q_reap(q);
	}
	cnvme_cancel_all(ctrl);
	if (ctrl->tagset_ready)
		blk_mq_unquiesce_tagset(&ctrl->tagset);
	blk_mq_unquiesce_queue(ctrl->admin_q);
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
	mutex_init(&ctrl->ns_lock);
	mutex_init(&ctrl->reset_lock);
	mutex_init(&ctrl->shutdown_lock);
	INIT_LIST_HEAD(&ctrl->namespaces);
	INIT_LIST_HEAD(&ctrl->subsys_entry);
	INIT_WORK(&ctrl->dead_work, cnvme_ctrl_dead_work);
	INIT_WORK(&ctrl->reset_work, cnvme_reset_work);
	/* From here on put_device() frees the controller. */
	cnvme_ctrl_dev_init(ctrl);

	ctrl->queues = kcalloc_node(cnvme_max_io_queues() + 1,
				    sizeof(*ctrl->queues), GFP_KERNEL, node);
	if (!ctrl->queues) {
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
	pci_set_master(pdev);
	if (dma_set_mask_and_coherent(ctrl->dev, DMA_BIT_MASK(64)) &&
	    dma_set_mask_and_coherent(ctrl->dev, DMA_BIT_MASK(32))) {
		dev_err(ctrl->dev, "no usable DMA addressing\n");
		ret = -ENODEV;
		goto out_disable;
	}

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
	ret = cnvme_admin_effects(ctrl);
	if (ret)
		goto out_stop_ctrl;
	ret = cnvme_io_queues_create(ctrl);
	if (ret)
		goto out_stop_ctrl;

	if (!cnvme_ctrl_set_state(ctrl, CNVME_CTRL_LIVE)) {
		ret = -ENODEV;
		goto out_stop_ctrl;
	}
	pci_set_drvdata(pdev, ctrl);

	ret = cnvme_ctrl_dev_add(ctrl);
	if (ret)
		goto out_clear_drvdata;
	ret = cnvme_ns_scan(ctrl);
	if (ret) {
		dev_err(ctrl->dev, "namespace scan failed: %d\n", ret);
		goto out_remove_ns;
	}

	dev_info(ctrl->dev, "%s%d: %s, fw %s, NVMe %u.%u, %u/%u/%u default/read/poll queues of %u entries, %u vector%s%s\n",
		 cnvme_names->ctrl, ctrl->instance, ctrl->model,
		 ctrl->firmware_rev, NVME_MAJOR(ctrl->vs), NVME_MINOR(ctrl->vs),
		 ctrl->io_queues[HCTX_TYPE_DEFAULT],
		 ctrl->io_queues[HCTX_TYPE_READ],
		 ctrl->io_queues[HCTX_TYPE_POLL], ctrl->q_depth,
		 ctrl->nr_vecs, ctrl->nr_vecs == 1 ? "" : "s",
		 ctrl->dbbuf_dbs ? ", shadow doorbells" : "");
	cnvme_ctrl_connected_uevent(ctrl);
	return 0;

out_remove_ns:
	/* Someone may already have the node open: no reset from here on. */
	cnvme_ctrl_set_state(ctrl, CNVME_CTRL_DELETING);
	cancel_work_sync(&ctrl->reset_work);
	mutex_lock(&ctrl->reset_lock);
	mutex_unlock(&ctrl->reset_lock);
	cnvme_ns_remove_all(ctrl);
	cnvme_ctrl_dev_del(ctrl);
out_clear_drvdata:
	pci_set_drvdata(pdev, NULL);
out_stop_ctrl:
	/* Deletes whatever I/O queues exist; a no-op for those that do not. */
	cnvme_ctrl_stop(ctrl);
	cancel_work_sync(&ctrl->dead_work);
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

	cnvme_ctrl_set_state(ctrl, CNVME_CTRL_DELETING);
	/* A device that is gone cannot finish the I/O del_gendisk waits for. */
	if (!cnvme_ctrl_present(ctrl))
		cnvme_ctrl_kill(ctrl);
	flush_work(&ctrl->dead_work);
	/*
	 * No reset or scan starts any more (the state is not LIVE); wait
	 * for one that is running.
	 */
	cancel_work_sync(&ctrl->reset_work);
	mutex_lock(&ctrl->reset_lock);
	mutex_unlock(&ctrl->reset_lock);

	cnvme_ns_remove_all(ctrl);
	cnvme_ctrl_dev_del(ctrl);
	cnvme_ctrl_stop(ctrl);
	cancel_work_sync(&ctrl->dead_work);
	cnvme_io_queues_free(ctrl);
	cnvme_admin_exit(ctrl);
	pci_free_irq_vectors(pdev);
	dma_pool_destroy(ctrl->prp_pool);
	cnvme_ctrl_unmap(ctrl);
	pci_disable_device(pdev);
	cnvme_instance_free(ctrl);
	/* Open nodes and namespaces may keep the memory a little longer. */
	put_device(&ctrl->ctrl_dev);
}

/* Reboot or power-off: let the controller flush its cache, nothing more. */
static void cnvme_shutdown(struct pci_dev *pdev)
{
	struct cnvme_ctrl *ctrl = pci_get_drvdata(pdev);

	if (ctrl->state != CNVME_CTRL_DEAD && cnvme_ctrl_present(ctrl))
		cnvme_ctrl_shutdown(ctrl);
}

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
	/* A user command's SGL segment list fits one list page. */
	BUILD_BUG_ON(CNVME_MAX_SEGS * sizeof(struct nvme_sgl_desc) >
		     CNVME_CTRL_PAGE_SIZE);

	ret = cnvme_sysfs_init();
	if (ret)
		return ret;
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
	return ret;
}

static void __exit cnvme_exit(void)
{
	pci_unregister_driver(&cnvme_driver);
	cnvme_chardev_exit();
	cnvme_sysfs_exit();
}

module_init(cnvme_init);
module_exit(cnvme_exit);

MODULE_DESCRIPTION("cnvme: self-contained NVM Express PCIe block driver");
MODULE_LICENSE("GPL");
