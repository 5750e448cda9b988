/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What udev says about modem ports: enumeration at start, the monitor on the
 * GLib main context afterwards, and the classification of one device into a
 * DiscoveryPort (or nothing). Grouping and choice are discovery.c's.
 */
#include "discovery/discovery-private.h"

#include <errno.h>
#include <glib-unix.h>
#include <libudev.h>
#include <string.h>

typedef struct udev_device UdevDevice;
typedef struct udev_enumerate UdevEnumerate;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(UdevDevice, udev_device_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(UdevEnumerate, udev_enumerate_unref)

/* Where modem control ports live. QRTR has no udev node (see discovery.h). */
static const char *const watched_subsystems[] = {"usbmisc", "wwan", "tty"};

struct _DiscoveryUdev {
  struct udev *udev;
  struct udev_monitor *monitor;
  guint monitor_id;
  DiscoveryPortAddedFunc added;
  DiscoveryPortRemovedFunc removed;
  gpointer user_data;
};

void discovery_port_free(DiscoveryPort *port)
{
  if (!port)
    return;
  g_free(port->syspath);
  g_free(port->port);
  g_free(port->device);
  g_free(port);
}

static gboolean property_is_set(struct udev_device *dev, const char *name)
{
  const char *value = dev ? udev_device_get_property_value(dev, name) : NULL;

  return value && (g_str_equal(value, "1") || g_ascii_strcasecmp(value, "true") == 0 ||
                   g_ascii_strcasecmp(value, "yes") == 0);
}

static gboolean is_usb_device(struct udev_device *dev)
{
  return g_strcmp0(udev_device_get_subsystem(dev), "usb") == 0 &&
         g_strcmp0(udev_device_get_devtype(dev), "usb_device") == 0;
}

/*
 * The physical modem above a port: the USB device (all interfaces of one
 * USB modem are one modem), else the PCI function (MHI modems: pci ->
 * mhi0 -> wwan0 -> wwan0mbim0), else the parent of the wwan device. This is
 * what ModemManager exports as Modem.Device, which InhibitDevice wants.
 */
static struct udev_device *find_modem_device(struct udev_device *port)
{
  struct udev_device *wwan_parent = NULL;

  for (struct udev_device *p = udev_device_get_parent(port); p; p = udev_device_get_parent(p)) {
    if (is_usb_device(p) || g_strcmp0(udev_device_get_subsystem(p), "pci") == 0)
      return p;
    if (!wwan_parent && g_strcmp0(udev_device_get_subsystem(p), "wwan") == 0)
      wwan_parent = udev_device_get_parent(p);
  }
  return wwan_parent;
}

/* The driver of the USB interface a cdc-wdm node hangs off. */
static const char *find_interface_driver(struct udev_device *port)
{
  for (struct udev_device *p = udev_device_get_parent(port); p; p = udev_device_get_parent(p)) {
    if (udev_device_get_driver(p))
      return udev_device_get_driver(p);
    if (is_usb_device(p))
      break;
  }
  return udev_device_get_property_value(port, "ID_USB_DRIVER");
}

static gboolean usbmisc_rank(struct udev_device *dev, TransportKind *kind, guint *rank)
{
  const char *driver;

  if (!g_str_has_prefix(udev_device_get_sysname(dev), "cdc-wdm"))
    return FALSE;
  driver = find_interface_driver(dev);
  if (property_is_set(dev, "ID_MM_PORT_TYPE_QMI") || g_strcmp0(driver, "qmi_wwan") == 0) {
    *kind = TRANSPORT_KIND_QMI;
    *rank = PORT_RANK_QMI;
    return TRUE;
  }
  if (property_is_set(dev, "ID_MM_PORT_TYPE_MBIM") || g_strcmp0(driver, "cdc_mbim") == 0) {
    *kind = TRANSPORT_KIND_MBIM;
    *rank = PORT_RANK_MBIM;
    return TRUE;
  }
  /* Other cdc-wdm users (AT over huawei_cdc_ncm, ...) are not ttys: the AT
   * backend cannot drive them unless a rule says otherwise. */
  return FALSE;
}

static guint at_rank(struct udev_device *dev)
{
  if (property_is_set(dev, "ID_MM_PORT_TYPE_AT_PRIMARY"))
    return PORT_RANK_AT_PRIMARY;
  if (property_is_set(dev, "ID_MM_PORT_TYPE_AT_SECONDARY"))
    return PORT_RANK_AT_SECONDARY;
  return PORT_RANK_AT;
}

/* The port type of a kernel WWAN port: its "type" attribute (Linux 5.14+),
 * else the letters between "wwanN" and the port index. */
static gboolean wwan_rank(struct udev_device *dev, TransportKind *kind, guint *rank)
{
  const char *type = udev_device_get_sysattr_value(dev, "type");
  g_autofree char *from_name = NULL;

  if (!type) {
    const char *name = udev_device_get_sysname(dev);
    const char *p = name + strlen("wwan");
    const char *end;

    if (!g_str_has_prefix(name, "wwan"))
      return FALSE;
    while (g_ascii_isdigit(*p))
      p++;
    for (end = p; g_ascii_isalpha(*end); end++)
      ;
    if (end == p || !g_ascii_isdigit(*end))
      return FALSE; /* wwan0 itself: the device, not a port */
    from_name = g_strndup(p, (gsize)(end - p));
    type = from_name;
  }
  if (g_ascii_strcasecmp(type, "QMI") == 0) {
    *kind = TRANSPORT_KIND_QMI;
    *rank = PORT_RANK_QMI;
  } else if (g_ascii_strcasecmp(type, "MBIM") == 0) {
    *kind = TRANSPORT_KIND_MBIM;
    *rank = PORT_RANK_MBIM;
  } else if (g_ascii_strcasecmp(type, "AT") == 0) {
    *kind = TRANSPORT_KIND_AT;
    *rank = at_rank(dev);
  } else {
    return FALSE; /* QCDM, FIREHOSE, XMMRPC, ...: not ours */
  }
  return TRUE;
}

/* Only ttys that ModemManager's rules mark as modem ports: a machine has
 * dozens of ttyS that must never be probed with AT commands. */
static gboolean tty_rank(struct udev_device *dev, struct udev_device *modem, TransportKind *kind,
                         guint *rank)
{
  if (property_is_set(dev, "ID_MM_PORT_IGNORE"))
    return FALSE;
  if (!property_is_set(dev, "ID_MM_PORT_TYPE_AT_PRIMARY") &&
      !property_is_set(dev, "ID_MM_PORT_TYPE_AT_SECONDARY") &&
      !(property_is_set(dev, "ID_MM_CANDIDATE") && modem && is_usb_device(modem)))
    return FALSE;
  *kind = TRANSPORT_KIND_AT;
  *rank = at_rank(dev);
  return TRUE;
}

/* ESIMD_PORT_TYPE=qmi|mbim|at, or FALSE when unset or unknown. */
static gboolean forced_rank(struct udev_device *dev, TransportKind *kind, guint *rank)
{
  static const struct {
    const char *name;
    TransportKind kind;
    guint rank;
  } types[] = {
      {"qmi", TRANSPORT_KIND_QMI, PORT_RANK_QMI},
      {"mbim", TRANSPORT_KIND_MBIM, PORT_RANK_MBIM},
      {"at", TRANSPORT_KIND_AT, PORT_RANK_AT_PRIMARY},
  };
  const char *value = udev_device_get_property_value(dev, "ESIMD_PORT_TYPE");

  if (!value)
    return FALSE;
  for (gsize i = 0; i < G_N_ELEMENTS(types); i++) {
    if (g_ascii_strcasecmp(value, types[i].name) == 0) {
      *kind = types[i].kind;
      *rank = types[i].rank + PORT_RANK_FORCED;
      return TRUE;
    }
  }
  g_warning("%s: ESIMD_PORT_TYPE=\"%s\" is not qmi, mbim or at; ignored",
            udev_device_get_sysname(dev), value);
  return FALSE;
}

/* A quirk set on the port or on the modem device above it. */
static gboolean quirk_is_set(struct udev_device *dev, struct udev_device *modem, const char *name)
{
  return property_is_set(dev, name) || property_is_set(modem, name);
}

/* The control port this device is, or NULL. */
static DiscoveryPort *port_from_device(struct udev_device *dev)
{
  const char *subsystem = udev_device_get_subsystem(dev);
  struct udev_device *modem = find_modem_device(dev);
  const char *baud = udev_device_get_property_value(dev, "ID_MM_TTY_BAUDRATE");
  TransportKind kind = TRANSPORT_KIND_AT;
  guint rank = 0;
  gboolean found;
  DiscoveryPort *port;

  if (!subsystem || property_is_set(dev, "ESIMD_IGNORE") || property_is_set(modem, "ESIMD_IGNORE"))
    return NULL;
  found = forced_rank(dev, &kind, &rank);
  if (!found && g_str_equal(subsystem, "usbmisc"))
    found = usbmisc_rank(dev, &kind, &rank);
  else if (!found && g_str_equal(subsystem, "wwan"))
    found = wwan_rank(dev, &kind, &rank);
  else if (!found && g_str_equal(subsystem, "tty"))
    found = tty_rank(dev, modem, &kind, &rank);
  if (!found)
    return NULL;

  port = g_new0(DiscoveryPort, 1);
  port->syspath = g_strdup(udev_device_get_syspath(dev));
  port->port = udev_device_get_devnode(dev)
                   ? g_strdup(udev_device_get_devnode(dev))
                   : g_strconcat("/dev/", udev_device_get_sysname(dev), NULL);
  /* A port with nothing above it is its own modem. */
  port->device = g_strdup(modem ? udev_device_get_syspath(modem) : udev_device_get_syspath(dev));
  port->kind = kind;
  port->rank = rank;
  if (kind == TRANSPORT_KIND_AT && baud) {
    guint64 v;
    if (g_ascii_string_to_unsigned(baud, 10, 1, G_MAXUINT, &v, NULL))
      port->baudrate = (guint)v;
    else
      g_warning("%s: ID_MM_TTY_BAUDRATE=\"%s\" is not a number; using the default",
                udev_device_get_sysname(dev), baud);
  }
  if (quirk_is_set(dev, modem, "ESIMD_NO_PROXY"))
    port->flags |= TRANSPORT_OPEN_FLAGS_NO_PROXY;
  if (quirk_is_set(dev, modem, "ESIMD_AT_CSIM_ONLY"))
    port->quirks |= DISCOVERY_QUIRK_AT_CSIM_ONLY;
  return port;
}

static void handle_device(DiscoveryUdev *self, struct udev_device *dev, const char *action)
{
  const char *syspath = udev_device_get_syspath(dev);
  DiscoveryPort *port;

  if (!syspath)
    return;
  if (g_strcmp0(action, "remove") == 0) {
    self->removed(syspath, self->user_data);
    return;
  }
  /* add, change (a rule set ESIMD_IGNORE later, ...), bind, move, and the
   * enumeration (action NULL): what the port is now decides. */
  port = port_from_device(dev);
  if (port) {
    g_debug("Port %s (%s) of %s", port->port, transport_kind_to_string(port->kind), port->device);
    self->added(port, self->user_data);
  } else {
    self->removed(syspath, self->user_data);
  }
}

static gboolean on_monitor_ready(gint fd, GIOCondition condition, gpointer user_data)
{
  DiscoveryUdev *self = user_data;
  struct udev_device *dev;

  /* The socket is non-blocking: drain what is queued. */
  while ((dev = udev_monitor_receive_device(self->monitor))) {
    g_autoptr(UdevDevice) owned = dev;
    handle_device(self, owned, udev_device_get_action(owned));
  }
  return G_SOURCE_CONTINUE;
}

DiscoveryUdev *discovery_udev_new(DiscoveryPortAddedFunc added, DiscoveryPortRemovedFunc removed,
                                  gpointer user_data, GError **error)
{
  g_autoptr(DiscoveryUdev) self = g_new0(DiscoveryUdev, 1);

  self->added = added;
  self->removed = removed;
  self->user_data = user_data;
  self->udev = udev_new();
  if (!self->udev) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "Cannot use udev: %s",
                g_strerror(errno));
    return NULL;
  }
  /* "udev", not "kernel": events after the rules ran, so that the ID_MM_*
   * and ESIMD_* properties are there. */
  self->monitor = udev_monitor_new_from_netlink(self->udev, "udev");
  if (!self->monitor) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot monitor udev events");
    return NULL;
  }
  for (gsize i = 0; i < G_N_ELEMENTS(watched_subsystems); i++)
    udev_monitor_filter_add_match_subsystem_devtype(self->monitor, watched_subsystems[i], NULL);
  /* A "udevadm trigger" floods every subsystem at once; the default socket
   * buffer loses events then. Best effort: it needs CAP_NET_ADMIN. */
  udev_monitor_set_receive_buffer_size(self->monitor, 4 * 1024 * 1024);
  if (udev_monitor_enable_receiving(self->monitor) < 0) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "Cannot receive udev events");
    return NULL;
  }
  self->monitor_id =
      g_unix_fd_add(udev_monitor_get_fd(self->monitor), G_IO_IN, on_monitor_ready, self);
  return g_steal_pointer(&self);
}

void discovery_udev_enumerate(DiscoveryUdev *self)
{
  g_autoptr(UdevEnumerate) e = udev_enumerate_new(self->udev);
  struct udev_list_entry *entry;

  for (gsize i = 0; i < G_N_ELEMENTS(watched_subsystems); i++)
    udev_enumerate_add_match_subsystem(e, watched_subsystems[i]);
  if (udev_enumerate_scan_devices(e) < 0) {
    g_warning("Cannot list the devices udev knows; waiting for new ones");
    return;
  }
  udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e))
  {
    g_autoptr(UdevDevice) dev =
        udev_device_new_from_syspath(self->udev, udev_list_entry_get_name(entry));
    if (dev)
      handle_device(self, dev, NULL);
  }
}

void discovery_udev_free(DiscoveryUdev *self)
{
  if (!self)
    return;
  if (self->monitor_id)
    g_source_remove(self->monitor_id);
  if (self->monitor)
    udev_monitor_unref(self->monitor);
  if (self->udev)
    udev_unref(self->udev);
  g_free(self);
}
