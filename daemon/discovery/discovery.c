/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Ports into modems: every control port udev.c finds joins the group of its
 * physical device; once a device has been quiet for the settle time, its best
 * port is reported as one ModemSpec. A modem's ports appear one by one (the
 * ttys, then cdc-wdm when qmi_wwan binds), so reporting on the first would
 * let an AT port win over the QMI port a moment later.
 */
#include "discovery/discovery-private.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_SETTLE_MS 1500

typedef struct {
  Discovery *discovery;
  gchar *device;
  GHashTable *ports; /* syspath -> DiscoveryPort */
  guint settle_id;
  /* What modem_added was told, NULL before that or after modem_removed. */
  DiscoveryPort *reported;
  ModemSpec reported_spec;
} DeviceGroup;

struct _Discovery {
  DiscoveryConfig config;
  DiscoveryListener listener;
  gpointer user_data;
  DiscoveryUdev *udev;
  GHashTable *groups;     /* device sysfs path -> DeviceGroup */
  GHashTable *port_group; /* port syspath -> DeviceGroup (borrowed) */
  GHashTable *excluded;   /* device node paths, resolved */
  gboolean started;
};

static DiscoveryPort *port_copy(const DiscoveryPort *port)
{
  DiscoveryPort *copy = g_memdup2(port, sizeof(*port));

  copy->syspath = g_strdup(port->syspath);
  copy->port = g_strdup(port->port);
  copy->device = g_strdup(port->device);
  return copy;
}

static gboolean port_equal(const DiscoveryPort *a, const DiscoveryPort *b)
{
  return g_str_equal(a->syspath, b->syspath) && g_str_equal(a->port, b->port) &&
         g_str_equal(a->device, b->device) && a->kind == b->kind && a->rank == b->rank &&
         a->baudrate == b->baudrate && a->flags == b->flags && a->quirks == b->quirks;
}

/* Symlinks resolved, so that /dev/serial/by-id/... matches /dev/ttyUSB2. */
static gchar *canonical_port(const char *port)
{
  g_autofree char *resolved = realpath(port, NULL);

  return g_strdup(resolved ? resolved : port);
}

static void group_free(DeviceGroup *group)
{
  g_clear_handle_id(&group->settle_id, g_source_remove);
  g_hash_table_unref(group->ports);
  discovery_port_free(group->reported);
  g_free(group->device);
  g_free(group);
}

static void group_report_removed(DeviceGroup *group)
{
  Discovery *self = group->discovery;
  g_autoptr(DiscoveryPort) gone = g_steal_pointer(&group->reported);

  if (!gone)
    return;
  g_info("Modem %s: port %s gone", group->device, gone->port);
  if (self->listener.modem_removed)
    self->listener.modem_removed(&group->reported_spec, self->user_data);
  memset(&group->reported_spec, 0, sizeof(group->reported_spec));
}

static gboolean group_is_excluded(DeviceGroup *group)
{
  Discovery *self = group->discovery;
  GHashTableIter iter;
  DiscoveryPort *port;

  if (g_hash_table_size(self->excluded) == 0)
    return FALSE;
  g_hash_table_iter_init(&iter, group->ports);
  while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&port)) {
    g_autofree char *canonical = canonical_port(port->port);
    if (g_hash_table_contains(self->excluded, canonical) ||
        g_hash_table_contains(self->excluded, port->port))
      return TRUE;
  }
  return FALSE;
}

/* Highest rank; equal ranks by port name, ttyUSB2 before ttyUSB10. */
static DiscoveryPort *group_best_port(DeviceGroup *group)
{
  GHashTableIter iter;
  DiscoveryPort *port, *best = NULL;

  g_hash_table_iter_init(&iter, group->ports);
  while (g_hash_table_iter_next(&iter, NULL, (gpointer *)&port)) {
    if (!best || port->rank > best->rank ||
        (port->rank == best->rank && strverscmp(port->port, best->port) < 0))
      best = port;
  }
  return best;
}

/* Reports the group's best port if it is not the one reported already. */
static void group_settle(DeviceGroup *group)
{
  Discovery *self = group->discovery;
  DiscoveryPort *best = group_is_excluded(group) ? NULL : group_best_port(group);

  if (group->reported && best && port_equal(group->reported, best))
    return;
  group_report_removed(group);
  if (!best)
    return;

  group->reported = port_copy(best);
  group->reported_spec = (ModemSpec){
      .kind = best->kind,
      .port = group->reported->port,
      .device = group->reported->device,
      .baudrate = best->baudrate,
      .flags = self->config.flags | best->flags,
  };
  g_info("Modem %s on %s:%s", group->device, transport_kind_to_string(best->kind), best->port);
  if (self->listener.modem_added)
    self->listener.modem_added(&group->reported_spec, best->quirks, self->user_data);
}

static gboolean on_settled(gpointer user_data)
{
  DeviceGroup *group = user_data;

  group->settle_id = 0;
  group_settle(group);
  return G_SOURCE_REMOVE;
}

static void group_restart_settle(DeviceGroup *group)
{
  /* Ports found by the enumeration at start are settled already: they are
   * reported together at the end of it. */
  if (!group->discovery->started)
    return;
  g_clear_handle_id(&group->settle_id, g_source_remove);
  group->settle_id = g_timeout_add(group->discovery->config.settle_ms, on_settled, group);
}

static void on_port_removed(const char *syspath, gpointer user_data)
{
  Discovery *self = user_data;
  DeviceGroup *group = g_hash_table_lookup(self->port_group, syspath);

  if (!group)
    return;
  g_hash_table_remove(self->port_group, syspath);
  g_hash_table_remove(group->ports, syspath);
  g_debug("Port %s of %s removed", syspath, group->device);

  /* At once: the manager must stop using a port that is gone. */
  if (group->reported && g_str_equal(group->reported->syspath, syspath))
    group_report_removed(group);
  if (g_hash_table_size(group->ports) == 0) {
    g_hash_table_remove(self->groups, group->device);
    return;
  }
  /* The rest of the modem may be leaving too; if not, its next best port is
   * reported once things are quiet. */
  group_restart_settle(group);
}

static void on_port_added(DiscoveryPort *port, gpointer user_data)
{
  Discovery *self = user_data;
  DeviceGroup *group = g_hash_table_lookup(self->port_group, port->syspath);

  /* A change event may move a port to another device (ID_MM_PHYSDEV-like
   * rules); leave the old group first. */
  if (group && !g_str_equal(group->device, port->device))
    on_port_removed(port->syspath, self);

  group = g_hash_table_lookup(self->groups, port->device);
  if (!group) {
    group = g_new0(DeviceGroup, 1);
    group->discovery = self;
    group->device = g_strdup(port->device);
    group->ports =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)discovery_port_free);
    g_hash_table_insert(self->groups, group->device, group);
  }
  /* The index first: its old key belongs to the port being replaced. */
  g_hash_table_replace(self->port_group, port->syspath, group);
  g_hash_table_replace(group->ports, port->syspath, port);
  group_restart_settle(group);
}

Discovery *discovery_new(const DiscoveryConfig *config, const DiscoveryListener *listener,
                         gpointer user_data)
{
  Discovery *self = g_new0(Discovery, 1);

  if (config)
    self->config = *config;
  if (self->config.settle_ms == 0)
    self->config.settle_ms = DEFAULT_SETTLE_MS;
  if (listener)
    self->listener = *listener;
  self->user_data = user_data;
  self->groups = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)group_free);
  /* Keys are the syspath strings owned by the ports in the groups. */
  self->port_group = g_hash_table_new(g_str_hash, g_str_equal);
  self->excluded = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  return self;
}

void discovery_free(Discovery *self)
{
  if (!self)
    return;
  g_clear_pointer(&self->udev, discovery_udev_free);
  g_hash_table_unref(self->port_group);
  g_hash_table_unref(self->groups);
  g_hash_table_unref(self->excluded);
  g_free(self);
}

void discovery_exclude_port(Discovery *self, const char *port)
{
  g_hash_table_add(self->excluded, canonical_port(port));
}

static gint compare_groups(gconstpointer a, gconstpointer b)
{
  const DeviceGroup *ga = a;
  const DeviceGroup *gb = b;

  return strcmp(ga->device, gb->device);
}

gboolean discovery_start(Discovery *self, GError **error)
{
  g_autoptr(GList) groups = NULL;

  g_return_val_if_fail(!self->udev, FALSE);

  /* The monitor first, so that nothing falls between the list and the
   * events; an event for a port already listed changes nothing. */
  self->udev = discovery_udev_new(on_port_added, on_port_removed, self, error);
  if (!self->udev)
    return FALSE;
  discovery_udev_enumerate(self->udev);
  self->started = TRUE;

  /* In device order, so that modems get their ids the same way each boot. */
  groups = g_list_sort(g_hash_table_get_values(self->groups), compare_groups);
  for (GList *l = groups; l; l = l->next)
    group_settle(l->data);
  return TRUE;
}
