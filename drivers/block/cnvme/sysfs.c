// SPDX-License-Identifier: GPL-2.0
/*
 * cnvme: the names user space sees -- device classes, the controller and
 * subsystem devices and their sysfs attributes, the namespace attributes.
 *
 * The classes and node names are those of the stock driver ("nvme",
 * "nvme-subsystem", "nvme-generic"; nvme0, nvme0n1, ng0n1) so that
 * nvme-cli, libnvme and udev treat cnvme like the stock driver.  Class
 * names are global, though: when nvme-core is already loaded, or the
 * private_names parameter asks for it, cnvme uses names of its own
 * ("cnvme", "cnvme-subsystem", "cnvme-generic"; cnvme0, cnvme0n1, cng0n1)
 * that can never collide with any nvme-core controller.  The choice is
 * made once, in cnvme_sysfs_init(), and lives in cnvme_names.
 */
#include <linux/module.h>
#include <linux/string.h>

#include "cnvme.h"

static int cnvme_ctrl_uevent(const struct device *dev,
			     struct kobj_uevent_env *env)
{
	return add_uevent_var(env, "NVME_TRTYPE=pcie");
}

static const struct cnvme_names cnvme_stock_names = {
	.ctrl_class	= { .name = "nvme", .dev_uevent = cnvme_ctrl_uevent },
	.subsys_class	= { .name = "nvme-subsystem" },
	.generic_class	= { .name = "nvme-generic" },
	.ctrl		= "nvme",
	.subsys		= "nvme-subsys",
	.generic	= "ng",
};

static const struct cnvme_names cnvme_private_set = {
	.ctrl_class	= { .name = "cnvme", .dev_uevent = cnvme_ctrl_uevent },
	.subsys_class	= { .name = "cnvme-subsystem" },
	.generic_class	= { .name = "cnvme-generic" },
	.ctrl		= "cnvme",
	.subsys		= "cnvme-subsys",
	.generic	= "cng",
	.private	= true,
};

const struct cnvme_names *cnvme_names = &cnvme_stock_names;

/*
 * Instance numbers: nvme<instance>, nvme<instance>n<nsid>, and the
 * subsystem nvme-subsys<instance> of the first controller in it, which
 * keeps that number for as long as the subsystem exists.
 */
static DEFINE_IDA(cnvme_instance_ida);

/* All subsystems, by &cnvme_subsys.entry; also guards their ctrls lists. */
static LIST_HEAD(cnvme_subsystems);
static DEFINE_MUTEX(cnvme_subsys_lock);

/**
 * cnvme_instance_alloc - a free controller number
 *
 * Return: the number or a negative errno.
 */
int cnvme_instance_alloc(void)
{
	/* The number is also the minor of the controller node. */
	return ida_alloc_max(&cnvme_instance_ida, CNVME_MINORS - 1, GFP_KERNEL);
}

/**
 * cnvme_instance_free - release the controller's number
 * @ctrl: the controller, out of its subsystem
 *
 * A number that names a subsystem is released with the subsystem.
 */
void cnvme_instance_free(struct cnvme_ctrl *ctrl)
{
	if (ctrl->instance >= 0 && !ctrl->subsys_owns_instance)
		ida_free(&cnvme_instance_ida, ctrl->instance);
	ctrl->instance = -1;
}

/*
 * Is the stock nvme-core module loaded?  Taking one of its exported
 * symbols answers without touching sysfs: registering a class under a
 * name that exists would fail only after a duplicate-name warning with a
 * stack dump.
 */
static bool cnvme_stock_core_loaded(void)
{
	void *sym = __symbol_get("nvme_wq");

	if (!sym)
		return false;
	__symbol_put("nvme_wq");
	return true;
}

/**
 * cnvme_sysfs_init - choose the names and register the classes
 *
 * Called once at module load, before any controller is probed.
 *
 * Return: 0 or a negative errno.
 */
int cnvme_sysfs_init(void)
{
	const struct cnvme_names *names = &cnvme_stock_names;
	int ret;

	if (cnvme_private_names) {
		names = &cnvme_private_set;
		pr_info("%s: private_names=1: using classes %s, %s, %s and nodes %s<N>, %s<N>n<nsid>; the nvme names stay free for nvme-core\n",
			CNVME_NAME, names->ctrl_class.name,
			names->subsys_class.name, names->generic_class.name,
			names->ctrl, names->generic);
	} else if (cnvme_stock_core_loaded()) {
		names = &cnvme_private_set;
		pr_info("%s: nvme-core holds the nvme names: using classes %s, %s, %s and nodes %s<N>, %s<N>n<nsid>\n",
			CNVME_NAME, names->ctrl_class.name,
			names->subsys_class.name, names->generic_class.name,
			names->ctrl, names->generic);
	}
	cnvme_names = names;

	ret = class_register(&names->ctrl_class);
	if (ret)
		return ret;
	ret = class_register(&names->subsys_class);
	if (ret)
		goto out_ctrl;
	ret = class_register(&names->generic_class);
	if (ret)
		goto out_subsys;
	return 0;

out_subsys:
	class_unregister(&names->subsys_class);
out_ctrl:
	class_unregister(&names->ctrl_class);
	return ret;
}

/**
 * cnvme_sysfs_exit - unregister the classes
 */
void cnvme_sysfs_exit(void)
{
	class_unregister(&cnvme_names->generic_class);
	class_unregister(&cnvme_names->subsys_class);
	class_unregister(&cnvme_names->ctrl_class);
	ida_destroy(&cnvme_instance_ida);
}

/* ---- controller attributes ---------------------------------------------- */

static struct cnvme_ctrl *cnvme_dev_to_ctrl(struct device *dev)
{
	return container_of(dev, struct cnvme_ctrl, ctrl_dev);
}

/* As the attribute on the PCI function: "1" resets, anything else is EINVAL. */
static ssize_t reset_controller_store(struct device *dev,
				      struct device_attribute *attr,
				      const char *buf, size_t count)
{
	int ret;

	if (!sysfs_streq(buf, "1"))
		return -EINVAL;
	ret = cnvme_ctrl_reset(cnvme_dev_to_ctrl(dev));
	return ret < 0 ? ret : count;
}
static DEVICE_ATTR_WO(reset_controller);

static ssize_t rescan_controller_store(struct device *dev,
				       struct device_attribute *attr,
				       const char *buf, size_t count)
{
	cnvme_ns_scan(cnvme_dev_to_ctrl(dev));
	return count;
}
static DEVICE_ATTR_WO(rescan_controller);

/* The identification strings are shown as reported: padded, not trimmed. */
static ssize_t model_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct cnvme_ctrl *ctrl = cnvme_dev_to_ctrl(dev);

	return sysfs_emit(buf, "%.*s\n", (int)sizeof(ctrl->id_mn), ctrl->id_mn);
}
static DEVICE_ATTR_RO(model);

static ssize_t serial_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	struct cnvme_ctrl *ctrl = cnvme_dev_to_ctrl(dev);

	return sysfs_emit(buf, "%.*s\n", (int)sizeof(ctrl->id_sn), ctrl->id_sn);
}
static DEVICE_ATTR_RO(serial);

static ssize_t firmware_rev_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct cnvme_ctrl *ctrl = cnvme_dev_to_ctrl(dev);

	return sysfs_emit(buf, "%.*s\n", (int)sizeof(ctrl->id_fr), ctrl->id_fr);
}
static DEVICE_ATTR_RO(firmware_rev);

static ssize_t cntlid_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%u\n", cnvme_dev_to_ctrl(dev)->cntlid);
}
static DEVICE_ATTR_RO(cntlid);

static ssize_t transport_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "pcie\n");
}
static DEVICE_ATTR_RO(transport);

static ssize_t address_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%s\n", pci_name(cnvme_dev_to_ctrl(dev)->pdev));
}
static DEVICE_ATTR_RO(address);

static ssize_t subsysnqn_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", cnvme_dev_to_ctrl(dev)->subnqn);
}
static DEVICE_ATTR_RO(subsysnqn);

static ssize_t state_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	enum cnvme_ctrl_state state = READ_ONCE(cnvme_dev_to_ctrl(dev)->state);

	return sysfs_emit(buf, "%s\n", cnvme_ctrl_state_name(state));
}
static DEVICE_ATTR_RO(state);

static ssize_t numa_node_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", dev_to_node(cnvme_dev_to_ctrl(dev)->dev));
}
static DEVICE_ATTR_RO(numa_node);

/* The admin queue counts: I/O queues plus one. */
static ssize_t queue_count_show(struct device *dev,
				struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n",
			  READ_ONCE(cnvme_dev_to_ctrl(dev)->nr_io_queues) + 1);
}
static DEVICE_ATTR_RO(queue_count);

/* Zero based, like the queue size field of Create I/O SQ. */
static ssize_t sqsize_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%u\n", cnvme_dev_to_ctrl(dev)->q_depth - 1);
}
static DEVICE_ATTR_RO(sqsize);

/* PCIe controllers run without Keep Alive. */
static ssize_t kato_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "0\n");
}
static DEVICE_ATTR_RO(kato);

static ssize_t cntrltype_show(struct device *dev,
			      struct device_attribute *attr, char *buf)
{
	static const char * const types[] = {
		[NVME_CTRL_IO]		= "io",
		[NVME_CTRL_DISC]	= "discovery",
		[NVME_CTRL_ADMIN]	= "admin",
	};
	u8 type = cnvme_dev_to_ctrl(dev)->cntrltype;

	if (type >= ARRAY_SIZE(types) || !types[type])
		return sysfs_emit(buf, "reserved\n");
	return sysfs_emit(buf, "%s\n", types[type]);
}
static DEVICE_ATTR_RO(cntrltype);

static ssize_t dctype_show(struct device *dev, struct device_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "none\n");
}
static DEVICE_ATTR_RO(dctype);

static struct attribute *cnvme_ctrl_attrs[] = {
	&dev_attr_reset_controller.attr,
	&dev_attr_rescan_controller.attr,
	&dev_attr_model.attr,
	&dev_attr_serial.attr,
	&dev_attr_firmware_rev.attr,
	&dev_attr_cntlid.attr,
	&dev_attr_transport.attr,
	&dev_attr_subsysnqn.attr,
	&dev_attr_address.attr,
	&dev_attr_state.attr,
	&dev_attr_numa_node.attr,
	&dev_attr_queue_count.attr,
	&dev_attr_sqsize.attr,
	&dev_attr_kato.attr,
	&dev_attr_cntrltype.attr,
	&dev_attr_dctype.attr,
	NULL,
};
ATTRIBUTE_GROUPS(cnvme_ctrl);

/* ---- subsystems ----------------------------------------------------------- */

static struct cnvme_subsys *cnvme_dev_to_subsys(struct device *dev)
{
	return container_of(dev, struct cnvme_subsys, dev);
}

static ssize_t subsys_subsysnqn_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", cnvme_dev_to_subsys(dev)->subnqn);
}

static ssize_t subsys_subsystype_show(struct device *dev,
				      struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%s\n", cnvme_dev_to_subsys(dev)->discovery ?
			  "discovery" : "nvm");
}

static ssize_t subsys_model_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	struct cnvme_subsys *subsys = cnvme_dev_to_subsys(dev);

	return sysfs_emit(buf, "%.*s\n", (int)sizeof(subsys->model),
			  subsys->model);
}

static ssize_t subsys_serial_show(struct device *dev,
				  struct device_attribute *attr, char *buf)
{
	struct cnvme_subsys *subsys = cnvme_dev_to_subsys(dev);

	return sysfs_emit(buf, "%.*s\n", (int)sizeof(subsys->serial),
			  subsys->serial);
}

static ssize_t subsys_firmware_rev_show(struct device *dev,
					struct device_attribute *attr,
					char *buf)
{
	struct cnvme_subsys *subsys = cnvme_dev_to_subsys(dev);

	return sysfs_emit(buf, "%.*s\n", (int)sizeof(subsys->firmware_rev),
			  subsys->firmware_rev);
}

/* The attribute names clash with the controller's, hence __ATTR(). */
static struct device_attribute cnvme_subsys_attr_subsysnqn =
	__ATTR(subsysnqn, 0444, subsys_subsysnqn_show, NULL);
static struct device_attribute cnvme_subsys_attr_subsystype =
	__ATTR(subsystype, 0444, subsys_subsystype_show, NULL);
static struct device_attribute cnvme_subsys_attr_model =
	__ATTR(model, 0444, subsys_model_show, NULL);
static struct device_attribute cnvme_subsys_attr_serial =
	__ATTR(serial, 0444, subsys_serial_show, NULL);
static struct device_attribute cnvme_subsys_attr_firmware_rev =
	__ATTR(firmware_rev, 0444, subsys_firmware_rev_show, NULL);

static struct attribute *cnvme_subsys_attrs[] = {
	&cnvme_subsys_attr_model.attr,
	&cnvme_subsys_attr_serial.attr,
	&cnvme_subsys_attr_firmware_rev.attr,
	&cnvme_subsys_attr_subsysnqn.attr,
	&cnvme_subsys_attr_subsystype.attr,
	NULL,
};
ATTRIBUTE_GROUPS(cnvme_subsys);

static void cnvme_subsys_release(struct device *dev)
{
	struct cnvme_subsys *subsys = cnvme_dev_to_subsys(dev);

	if (subsys->instance >= 0)
		ida_free(&cnvme_instance_ida, subsys->instance);
	kfree(subsys);
}

static struct cnvme_subsys *cnvme_subsys_find(const char *subnqn)
{
	struct cnvme_subsys *subsys;

	lockdep_assert_held(&cnvme_subsys_lock);
	list_for_each_entry(subsys, &cnvme_subsystems, entry)
		if (!strcmp(subsys->subnqn, subnqn))
			return subsys;
	return NULL;
}

/*
 * Put the controller into the subsystem with its NQN, creating the
 * subsystem (named after this controller) when it is the first one, and
 * link the controller from the subsystem's directory.
 */
static int cnvme_subsys_join(struct cnvme_ctrl *ctrl)
{
	struct cnvme_subsys *subsys;
	bool created = false;
	int ret;

	mutex_lock(&cnvme_subsys_lock);
	subsys = cnvme_subsys_find(ctrl->subnqn);
	if (subsys) {
		get_device(&subsys->dev);
	} else {
		subsys = kzalloc(sizeof(*subsys), GFP_KERNEL);
		if (!subsys) {
			ret = -ENOMEM;
			goto out_unlock;
		}
		INIT_LIST_HEAD(&subsys->ctrls);
		subsys->instance = -1;
		memcpy(subsys->subnqn, ctrl->subnqn, sizeof(subsys->subnqn));
		memcpy(subsys->serial, ctrl->id_sn, sizeof(subsys->serial));
		memcpy(subsys->model, ctrl->id_mn, sizeof(subsys->model));
		memcpy(subsys->firmware_rev, ctrl->id_fr,
		       sizeof(subsys->firmware_rev));
		subsys->vendor_id = ctrl->vid;
		subsys->discovery = ctrl->cntrltype == NVME_CTRL_DISC ||
				    !strcmp(subsys->subnqn, NVME_DISC_SUBSYS_NAME);
		subsys->dev.class = &cnvme_names->subsys_class;
		subsys->dev.release = cnvme_subsys_release;
		subsys->dev.groups = cnvme_subsys_groups;
		device_initialize(&subsys->dev);
		ret = dev_set_name(&subsys->dev, "%s%d", cnvme_names->subsys,
				   ctrl->instance);
		if (!ret)
			ret = device_add(&subsys->dev);
		if (ret) {
			dev_err(ctrl->dev, "cannot add the subsystem device: %d\n",
				ret);
			put_device(&subsys->dev);
			goto out_unlock;
		}
		list_add_tail(&subsys->entry, &cnvme_subsystems);
		created = true;
	}

	ret = sysfs_create_link(&subsys->dev.kobj, &ctrl->ctrl_dev.kobj,
				dev_name(&ctrl->ctrl_dev));
	if (ret) {
		dev_err(ctrl->dev, "cannot link the controller from %s: %d\n",
			dev_name(&subsys->dev), ret);
		if (created) {
			list_del(&subsys->entry);
			device_del(&subsys->dev);
		}
		put_device(&subsys->dev);
		goto out_unlock;
	}
	list_add_tail(&ctrl->subsys_entry, &subsys->ctrls);
	ctrl->subsys = subsys;
	if (created) {
		/* The subsystem is named after this controller's number. */
		subsys->instance = ctrl->instance;
		ctrl->subsys_owns_instance = true;
	}
out_unlock:
	mutex_unlock(&cnvme_subsys_lock);
	return ret;
}

static void cnvme_subsys_leave(struct cnvme_ctrl *ctrl)
{
	struct cnvme_subsys *subsys = ctrl->subsys;

	if (!subsys)
		return;
	mutex_lock(&cnvme_subsys_lock);
	sysfs_remove_link(&subsys->dev.kobj, dev_name(&ctrl->ctrl_dev));
	list_del(&ctrl->subsys_entry);
	if (list_empty(&subsys->ctrls)) {
		list_del(&subsys->entry);
		device_del(&subsys->dev);
	}
	mutex_unlock(&cnvme_subsys_lock);
	ctrl->subsys = NULL;
	put_device(&subsys->dev);
}

/* ---- the controller device ------------------------------------------------ */

/*
 * The last reference to the controller device is gone: no node is open,
 * no namespace is left, and remove (or a failed probe) has released the
 * hardware.  What is left is memory.
 */
static void cnvme_ctrl_release(struct device *dev)
{
	struct cnvme_ctrl *ctrl = cnvme_dev_to_ctrl(dev);

	if (ctrl->admin_q)
		blk_put_queue(ctrl->admin_q);
	kfree(ctrl->effects);
	kfree(ctrl->queues);
	free_percpu(ctrl->stats);
	pci_dev_put(ctrl->pdev);
	kfree(ctrl);
}

/**
 * cnvme_ctrl_dev_init - prepare the controller device early in probe
 * @ctrl: the controller, with &cnvme_ctrl.pdev and &cnvme_ctrl.dev set
 *
 * From here on the controller is freed by put_device(&ctrl->ctrl_dev),
 * never by kfree().  The device is not visible until cnvme_ctrl_dev_add().
 */
void cnvme_ctrl_dev_init(struct cnvme_ctrl *ctrl)
{
	struct device *dev = &ctrl->ctrl_dev;

	device_initialize(dev);
	dev->class = &cnvme_names->ctrl_class;
	dev->parent = ctrl->dev;
	dev->groups = cnvme_ctrl_groups;
	dev->release = cnvme_ctrl_release;
	dev_set_drvdata(dev, ctrl);
}

/**
 * cnvme_ctrl_dev_add - show the controller to user space
 * @ctrl: the controller, live, identified
 *
 * Adds nvme<instance> with its character device and attributes and joins
 * (or creates) the subsystem.  Namespaces are added afterwards, as
 * children of the controller device.
 *
 * Return: 0 or a negative errno; on error nothing is left to undo.
 */
int cnvme_ctrl_dev_add(struct cnvme_ctrl *ctrl)
{
	int ret;

	ctrl->ctrl_dev.devt = cnvme_ctrl_devt(ctrl);
	ret = dev_set_name(&ctrl->ctrl_dev, "%s%d", cnvme_names->ctrl,
			   ctrl->instance);
	if (ret)
		return ret;
	ret = cnvme_ctrl_cdev_add(ctrl);
	if (ret) {
		dev_err(ctrl->dev, "cannot add %s: %d\n",
			dev_name(&ctrl->ctrl_dev), ret);
		return ret;
	}
	ctrl->ctrl_dev_added = true;
	ret = cnvme_subsys_join(ctrl);
	if (ret) {
		cnvme_ctrl_cdev_del(ctrl);
		ctrl->ctrl_dev_added = false;
	}
	return ret;
}

/**
 * cnvme_ctrl_connected_uevent - tell udev the controller is (again) live
 * @ctrl: the controller, after probe or a reset
 *
 * A change event with NVME_EVENT=connected, as the stock driver sends.
 */
void cnvme_ctrl_connected_uevent(struct cnvme_ctrl *ctrl)
{
	char event[] = "NVME_EVENT=connected";
	char *envp[2];

	envp[0] = event;
	envp[1] = NULL;
	if (ctrl->ctrl_dev_added)
		kobject_uevent_env(&ctrl->ctrl_dev.kobj, KOBJ_CHANGE, envp);
}

/**
 * cnvme_ctrl_dev_del - undo cnvme_ctrl_dev_add()
 * @ctrl: the controller, whose namespaces are gone
 *
 * Open nodes keep the memory of the controller, not the device: their
 * calls fail from now on.
 */
void cnvme_ctrl_dev_del(struct cnvme_ctrl *ctrl)
{
	if (!ctrl->ctrl_dev_added)
		return;
	cnvme_subsys_leave(ctrl);
	cnvme_ctrl_cdev_del(ctrl);
	ctrl->ctrl_dev_added = false;
}

/* ---- namespace attributes ------------------------------------------------- */

static struct cnvme_ns *cnvme_dev_to_ns(struct device *dev)
{
	return dev_to_disk(dev)->private_data;
}

static ssize_t nsid_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	return sysfs_emit(buf, "%u\n", cnvme_dev_to_ns(dev)->nsid);
}
static DEVICE_ATTR_RO(nsid);

/*
 * The World Wide Identifier: the most specific identifier the namespace
 * reports, else one made of the vendor, serial and model of the
 * subsystem and the NSID, in the format the stock driver uses.
 */
static ssize_t wwid_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct cnvme_ns *ns = cnvme_dev_to_ns(dev);
	struct cnvme_ns_ids *ids = &ns->ids;
	struct cnvme_subsys *subsys = ns->ctrl->subsys;
	int sn_len, mn_len;

	if (!uuid_is_null(&ids->uuid))
		return sysfs_emit(buf, "uuid.%pU\n", &ids->uuid);
	if (memchr_inv(ids->nguid, 0, sizeof(ids->nguid)))
		return sysfs_emit(buf, "eui.%16phN\n", ids->nguid);
	if (memchr_inv(ids->eui64, 0, sizeof(ids->eui64)))
		return sysfs_emit(buf, "eui.%8phN\n", ids->eui64);
	if (!subsys)
		return -ENODEV;

	for (sn_len = sizeof(subsys->serial); sn_len > 0; sn_len--)
		if (subsys->serial[sn_len - 1] != ' ' &&
		    subsys->serial[sn_len - 1] != '\0')
			break;
	for (mn_len = sizeof(subsys->model); mn_len > 0; mn_len--)
		if (subsys->model[mn_len - 1] != ' ' &&
		    subsys->model[mn_len - 1] != '\0')
			break;
	return sysfs_emit(buf, "nvme.%04x-%*phN-%*phN-%08x\n",
			  subsys->vendor_id, sn_len, subsys->serial, mn_len,
			  subsys->model, ns->nsid);
}
static DEVICE_ATTR_RO(wwid);

/* Without a UUID, the NGUID is shown in UUID format, as stock does. */
static ssize_t uuid_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct cnvme_ns_ids *ids = &cnvme_dev_to_ns(dev)->ids;

	if (uuid_is_null(&ids->uuid))
		return sysfs_emit(buf, "%pU\n", ids->nguid);
	return sysfs_emit(buf, "%pU\n", &ids->uuid);
}
static DEVICE_ATTR_RO(uuid);

static ssize_t nguid_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	return sysfs_emit(buf, "%pU\n", cnvme_dev_to_ns(dev)->ids.nguid);
}
static DEVICE_ATTR_RO(nguid);

static ssize_t eui_show(struct device *dev, struct device_attribute *attr,
			char *buf)
{
	return sysfs_emit(buf, "%8ph\n", cnvme_dev_to_ns(dev)->ids.eui64);
}
static DEVICE_ATTR_RO(eui);

static ssize_t csi_show(struct device *dev, struct device_attribute *attr,
			char *buf)
{
	return sysfs_emit(buf, "%u\n", cnvme_dev_to_ns(dev)->ids.csi);
}
static DEVICE_ATTR_RO(csi);

/* cnvme exposes only formats without metadata. */
static ssize_t metadata_bytes_show(struct device *dev,
				   struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "0\n");
}
static DEVICE_ATTR_RO(metadata_bytes);

static ssize_t nuse_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct cnvme_ns *ns = cnvme_dev_to_ns(dev);
	int ret = cnvme_ns_update_nuse(ns);

	if (ret)
		return ret < 0 ? ret : -EIO;
	return sysfs_emit(buf, "%llu\n", READ_ONCE(ns->nuse));
}
static DEVICE_ATTR_RO(nuse);

static struct attribute *cnvme_ns_attrs[] = {
	&dev_attr_wwid.attr,
	&dev_attr_uuid.attr,
	&dev_attr_nguid.attr,
	&dev_attr_eui.attr,
	&dev_attr_csi.attr,
	&dev_attr_nsid.attr,
	&dev_attr_metadata_bytes.attr,
	&dev_attr_nuse.attr,
	NULL,
};

/* Identifiers the namespace does not report have no attribute. */
static umode_t cnvme_ns_attr_visible(struct kobject *kobj,
				     struct attribute *a, int n)
{
	struct cnvme_ns_ids *ids = &cnvme_dev_to_ns(kobj_to_dev(kobj))->ids;
	bool nguid = memchr_inv(ids->nguid, 0, sizeof(ids->nguid));

	if (a == &dev_attr_uuid.attr && uuid_is_null(&ids->uuid) && !nguid)
		return 0;
	if (a == &dev_attr_nguid.attr && !nguid)
		return 0;
	if (a == &dev_attr_eui.attr &&
	    !memchr_inv(ids->eui64, 0, sizeof(ids->eui64)))
		return 0;
	return a->mode;
}

static const struct attribute_group cnvme_ns_attr_group = {
	.attrs		= cnvme_ns_attrs,
	.is_visible	= cnvme_ns_attr_visible,
};

const struct attribute_group *cnvme_ns_attr_groups[] = {
	&cnvme_ns_attr_group,
	NULL,
};
