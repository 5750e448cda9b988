/* SPDX-License-Identifier: GPL-2.0-or-later */
/* org.esimd.Manager1 on /org/esimd: the daemon's version and its eUICCs. */
#include "config.h"

#include "bus-private.h"

/* The Euiccs array: every eUICC of the service but leaving (NULL: none). */
static int append_euiccs(sd_bus_message *m, Bus *bus, Euicc *leaving)
{
  GPtrArray *euiccs = bus->manager ? manager_get_euiccs(bus->manager) : NULL;
  int r;

  r = sd_bus_message_open_container(m, 'a', "o");
  for (guint i = 0; r >= 0 && euiccs && i < euiccs->len; i++) {
    Euicc *euicc = g_ptr_array_index(euiccs, i);
    g_autofree char *euicc_path = NULL;

    if (euicc == leaving)
      continue;
    euicc_path = bus_path_euicc(euicc_get_id(euicc));
    r = sd_bus_message_append(m, "o", euicc_path);
  }
  if (r >= 0)
    r = sd_bus_message_close_container(m);
  return r;
}

static int manager1_get_property(sd_bus *sdbus, const char *path, const char *interface,
                                 const char *property, sd_bus_message *reply, void *user_data,
                                 sd_bus_error *ret_error)
{
  if (g_str_equal(property, "Version"))
    return sd_bus_message_append(reply, "s", PACKAGE_VERSION);
  return append_euiccs(reply, user_data, NULL);
}

static void scan_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
  BusCall *call = user_data;
  g_autoptr(GError) error = NULL;

  if (!call->bus || !call->bus->manager) {
    bus_call_return_empty(call);
    return;
  }
  if (!manager_scan_finish(call->bus->manager, res, &error))
    bus_call_return_gerror(call, error);
  else
    bus_call_return_empty(call);
}

static void scan_start(BusCall *call)
{
  manager_scan(call->bus->manager, call->authorized ? SERVICE_READ_MAY_DISTURB : SERVICE_READ_QUIET,
               call->cancellable, scan_done, call);
}

/*
 * Probing again reads the modems and cards and changes nothing: anyone may.
 * But a modem whose AT port ModemManager owns is read only by taking it from
 * ModemManager (the user's data connection drops meanwhile): that is done
 * only for a caller who may switch profiles, which disturbs the modem anyway.
 */
static int manager1_scan(sd_bus_message *message, void *user_data, sd_bus_error *ret_error)
{
  Bus *bus = user_data;

  if (!bus->manager)
    return sd_bus_error_set(ret_error, SD_BUS_ERROR_FAILED, "The daemon is shutting down");
  return bus_call_start_asking(bus_call_new(bus, message, scan_start), BUS_ACTION_SWITCH);
}

static const sd_bus_vtable manager1_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Version", "s", manager1_get_property, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Euiccs", "ao", manager1_get_property, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
    SD_BUS_METHOD_WITH_ARGS("Scan", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, manager1_scan,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

gboolean bus_manager1_export(Bus *bus, GError **error)
{
  return bus_add_vtable(bus, BUS_MANAGER_PATH, BUS_MANAGER_INTERFACE, manager1_vtable, NULL, error);
}

/*
 * Built here rather than by sd_bus_emit_properties_changed(), whose getter
 * cannot know that an eUICC the service still lists is leaving: the value sent
 * is the one the getter gives once the service has let it go.
 */
void bus_manager1_emit_euiccs_changed(Bus *bus, Euicc *leaving)
{
  sd_bus_message *m = NULL;
  int r;

  r = sd_bus_message_new_signal(bus->bus, &m, BUS_MANAGER_PATH, "org.freedesktop.DBus.Properties",
                                "PropertiesChanged");
  if (r >= 0)
    r = sd_bus_message_append(m, "s", BUS_MANAGER_INTERFACE);
  if (r >= 0)
    r = sd_bus_message_open_container(m, 'a', "{sv}");
  if (r >= 0)
    r = sd_bus_message_open_container(m, 'e', "sv");
  if (r >= 0)
    r = sd_bus_message_append(m, "s", "Euiccs");
  if (r >= 0)
    r = sd_bus_message_open_container(m, 'v', "ao");
  if (r >= 0)
    r = append_euiccs(m, bus, leaving);
  for (int i = 0; r >= 0 && i < 3; i++) /* v, e, a */
    r = sd_bus_message_close_container(m);
  if (r >= 0)
    r = sd_bus_message_append(m, "as", 0); /* nothing invalidated */
  if (r >= 0)
    r = sd_bus_send(bus->bus, m, NULL);
  sd_bus_message_unref(m);
  if (r < 0)
    g_warning("bus: cannot emit Euiccs changed: %s", g_strerror(-r));
}
