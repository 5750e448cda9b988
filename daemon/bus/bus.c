/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The connection: opening it, running it in the GLib main loop, the
 * well-known name, and the service listener that turns every change the
 * service reports into signals.
 */
#include <errno.h>

#include "bus-private.h"

gboolean bus_set_gerror_from_errno(GError **error, int r, const char *what)
{
  g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "%s: %s", what, g_strerror(-r));
  return FALSE;
}

static void slot_unref(gpointer slot)
{
  sd_bus_slot_unref(slot);
}

void bus_keep_slot(Bus *bus, sd_bus_slot *slot)
{
  g_ptr_array_add(bus->slots, slot);
}

gboolean bus_add_vtable(Bus *bus, const char *path, const char *interface,
                        const sd_bus_vtable *vtable, sd_bus_object_find_t find, GError **error)
{
  sd_bus_slot *slot = NULL;
  int r;

  if (find)
    r = sd_bus_add_fallback_vtable(bus->bus, &slot, path, interface, vtable, find, bus);
  else
    r = sd_bus_add_object_vtable(bus->bus, &slot, path, interface, vtable, bus);
  if (r < 0) {
    g_autofree char *what = g_strdup_printf("Cannot export %s", interface);
    return bus_set_gerror_from_errno(error, r, what);
  }
  bus_keep_slot(bus, slot);
  return TRUE;
}

void bus_emit_properties_changed(Bus *bus, const char *path, const char *interface,
                                 const BusPropertyChange *table, gsize n_table, guint what)
{
  g_autofree const char **names = g_new0(const char *, n_table + 1);
  gsize n = 0;
  int r;

  for (gsize i = 0; i < n_table; i++) {
    if (what & table[i].bit)
      names[n++] = table[i].property;
  }
  if (n == 0)
    return;
  r = sd_bus_emit_properties_changed_strv(bus->bus, path, interface, (char **)names);
  if (r < 0)
    g_warning("bus: cannot emit PropertiesChanged on %s: %s", path, g_strerror(-r));
}

static int on_disconnected(sd_bus_message *message, void *user_data, sd_bus_error *ret_error)
{
  Bus *bus = user_data;

  g_warning("bus: the connection to the bus was lost");
  bus->name_owned = FALSE;
  if (bus->disconnected_func)
    bus->disconnected_func(bus, bus->disconnected_data);
  return 0;
}

static int open_connection(const char *where, sd_bus **ret)
{
  sd_bus *b = NULL;
  int r;

  if (g_str_equal(where, "system"))
    return sd_bus_open_system_with_description(ret, "esimd");
  if (g_str_equal(where, "session"))
    return sd_bus_open_user_with_description(ret, "esimd");

  r = sd_bus_new(&b);
  if (r >= 0)
    r = sd_bus_set_address(b, where);
  if (r >= 0)
    r = sd_bus_set_bus_client(b, 1);
  if (r >= 0)
    r = sd_bus_set_description(b, "esimd");
  if (r >= 0)
    r = sd_bus_start(b);
  if (r < 0) {
    sd_bus_unref(b);
    return r;
  }
  *ret = b;
  return 0;
}

Bus *bus_new(const char *where, GError **error)
{
  g_autoptr(Bus) bus = g_new0(Bus, 1);
  sd_bus_slot *slot = NULL;
  int r;

  bus->slots = g_ptr_array_new_with_free_func(slot_unref);
  bus_errors_register();

  r = open_connection(where, &bus->bus);
  if (r < 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "Cannot connect to the %s bus: %s",
                where, g_strerror(-r));
    return NULL;
  }
  /* sd-bus turns the loss of the connection into this local signal. */
  r = sd_bus_match_signal(bus->bus, &slot, "org.freedesktop.DBus.Local",
                          "/org/freedesktop/DBus/Local", "org.freedesktop.DBus.Local",
                          "Disconnected", on_disconnected, bus);
  if (r < 0) {
    bus_set_gerror_from_errno(error, r, "Cannot watch the connection");
    return NULL;
  }
  bus_keep_slot(bus, slot);

  bus->source = bus_source_new(bus->bus);
  g_source_attach(bus->source, NULL);
  return g_steal_pointer(&bus);
}

void bus_set_disconnected_func(Bus *bus, BusDisconnectedFunc func, gpointer user_data)
{
  bus->disconnected_func = func;
  bus->disconnected_data = user_data;
}

void bus_free(Bus *bus)
{
  if (!bus)
    return;
  bus_calls_free_all(bus);
  bus_downloads_free_all(bus);
  g_clear_pointer(&bus->slots, g_ptr_array_unref);
  if (bus->source) {
    g_source_destroy(bus->source);
    g_clear_pointer(&bus->source, g_source_unref);
  }
  if (bus->bus) {
    /* Replies and signals still queued go out before we leave. */
    bus->bus = sd_bus_flush_close_unref(bus->bus);
  }
  g_free(bus);
}

gboolean bus_export(Bus *bus, Manager *manager, GError **error)
{
  bus->manager = manager;
  return bus_object_manager_export(bus, error) && bus_manager1_export(bus, error) &&
         bus_euicc1_export(bus, error) && bus_profile1_export(bus, error) &&
         bus_download1_export(bus, error);
}

void bus_unexport(Bus *bus)
{
  /* The vtables stay registered but find nothing: every object is gone. */
  bus->manager = NULL;
}

gboolean bus_request_name(Bus *bus, GError **error)
{
  int r = sd_bus_request_name(bus->bus, BUS_NAME, 0);

  if (r == -EEXIST) {
    g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                "Another program owns %s on this bus (is esimd already running?)", BUS_NAME);
    return FALSE;
  }
  if (r < 0) {
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-r), "Cannot own %s: %s%s", BUS_NAME,
                g_strerror(-r),
                r == -EACCES || r == -EPERM ? " (the bus policy, dbus/org.esimd.conf, "
                                              "must allow it)"
                                            : "");
    return FALSE;
  }
  bus->name_owned = TRUE;
  g_debug("bus: owning %s", BUS_NAME);
  return TRUE;
}

void bus_release_name(Bus *bus)
{
  int r;

  if (!bus->name_owned)
    return;
  bus->name_owned = FALSE;
  r = sd_bus_release_name(bus->bus, BUS_NAME);
  if (r < 0)
    g_debug("bus: cannot release %s: %s", BUS_NAME, g_strerror(-r));
}

/* The service listener: changes in, signals out. */

static void on_euicc_added(Euicc *euicc, gpointer user_data)
{
  bus_emit_euicc_added(user_data, euicc);
}

static void on_euicc_removed(Euicc *euicc, gpointer user_data)
{
  bus_emit_euicc_removed(user_data, euicc);
}

static void on_euicc_changed(Euicc *euicc, EuiccChanged what, gpointer user_data)
{
  bus_euicc1_emit_changed(user_data, euicc, what);
}

static void on_profile_added(Euicc *euicc, const Profile *profile, gpointer user_data)
{
  bus_emit_profile_added(user_data, euicc, profile);
}

static void on_profile_removed(Euicc *euicc, const Profile *profile, gpointer user_data)
{
  bus_emit_profile_removed(user_data, euicc, profile);
}

static void on_profile_changed(Euicc *euicc, const Profile *profile, ProfileChanged what,
                               gpointer user_data)
{
  bus_profile1_emit_changed(user_data, euicc, profile, what);
}

static void on_notification_delivered(Euicc *euicc, guint seq, const char *operation,
                                      const char *iccid, const char *address, gpointer user_data)
{
  bus_euicc1_emit_notification_delivered(user_data, euicc, seq, operation, iccid, address);
}

static const ServiceListener service_listener = {
    .euicc_added = on_euicc_added,
    .euicc_removed = on_euicc_removed,
    .euicc_changed = on_euicc_changed,
    .profile_added = on_profile_added,
    .profile_removed = on_profile_removed,
    .profile_changed = on_profile_changed,
    .notification_delivered = on_notification_delivered,
};

const ServiceListener *bus_get_service_listener(void)
{
  return &service_listener;
}
