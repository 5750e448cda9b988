/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What ModemManager reports, watched: which of its modem objects is the
 * modem on a given device (Modem.Device), and which SIM that modem has
 * (Modem.Sim -> Sim.SimIdentifier). Every InterfacesAdded/Removed, every
 * PropertiesChanged ModemManager sends, and its coming and going on the
 * bus make the watch read GetManagedObjects again; waiters for a SIM then
 * read the SIM's identifier. One private connection, like the inhibition
 * client's, so that nothing here depends on esimd's own bus.
 */
#include "system/mm.h"

#define MM_NAME "org.freedesktop.ModemManager1"
#define MM_PATH "/org/freedesktop/ModemManager1"
#define MM_MODEM_INTERFACE "org.freedesktop.ModemManager1.Modem"
#define MM_SIM_INTERFACE "org.freedesktop.ModemManager1.Sim"
#define OBJECT_MANAGER_INTERFACE "org.freedesktop.DBus.ObjectManager"
#define PROPERTIES_INTERFACE "org.freedesktop.DBus.Properties"

struct _MmWatch {
  gchar *address; /* NULL: the system bus */
  GDBusConnection *connection;
  GCancellable *cancellable; /* of everything in flight; cancelled when freed */
  guint signal_id;
  guint watch_id;
  GHashTable *modems; /* device -> MM modem object path */
  GHashTable *sims;   /* MM modem object path -> its Sim path ("/" for none) */
  gboolean started;   /* mm_watch_start() was called */
  gboolean present;   /* ModemManager is on the bus */
  gboolean reading;   /* a GetManagedObjects in flight */
  gboolean again;     /* something changed while it was */
  guint generation;   /* counts the reads applied, for the waiters */
  MmWatchChangedFunc changed_func;
  gpointer changed_data;
  GList *waiters; /* GTask* of mm_watch_wait_sim */
};

typedef struct {
  MmWatch *watch;
  gchar *device;
  gchar *iccid; /* NULL: no SIM */
  guint timeout_ms;
  GSource *timer;
  gboolean checking;
  gboolean recheck;
  gboolean done; /* answered: the waiters' list let go of it */
} SimWait;

static void wait_check(GTask *task);

static void sim_wait_free(SimWait *w)
{
  if (w->timer) {
    g_source_destroy(w->timer);
    g_source_unref(w->timer);
  }
  g_free(w->device);
  g_free(w->iccid);
  g_free(w);
}

/* Answers the wait and drops the reference the waiters' list held. */
static void wait_complete(GTask *task, GError *error)
{
  SimWait *w = g_task_get_task_data(task);

  /* The answer may reach its caller only later: nothing of the wait may
   * fire meanwhile. */
  if (w->timer) {
    g_source_destroy(w->timer);
    g_clear_pointer(&w->timer, g_source_unref);
  }
  w->done = TRUE;
  w->watch->waiters = g_list_remove(w->watch->waiters, task);
  if (error)
    g_task_return_error(task, error);
  else
    g_task_return_boolean(task, TRUE);
  g_object_unref(task);
}

static void wait_all_check(MmWatch *watch)
{
  for (GList *l = watch->waiters; l;) {
    GTask *task = l->data;

    l = l->next;
    wait_check(task);
  }
}

static gboolean tables_equal(GHashTable *a, GHashTable *b)
{
  GHashTableIter iter;
  gpointer key, value;

  if (g_hash_table_size(a) != g_hash_table_size(b))
    return FALSE;
  g_hash_table_iter_init(&iter, a);
  while (g_hash_table_iter_next(&iter, &key, &value))
    if (g_strcmp0(value, g_hash_table_lookup(b, key)) != 0)
      return FALSE;
  return TRUE;
}

/* Replaces the modem and SIM tables with what ModemManager listed (NULL:
 * it is not there), telling the owner when a device's modem changed. */
static void apply_objects(MmWatch *watch, GVariant *objects)
{
  g_autoptr(GHashTable) modems = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr(GHashTable) sims = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  gboolean changed;

  if (objects) {
    GVariantIter iter;
    const char *path;
    GVariant *interfaces;

    g_variant_iter_init(&iter, objects);
    while (g_variant_iter_next(&iter, "{&o@a{sa{sv}}}", &path, &interfaces)) {
      g_autoptr(GVariant) owned = interfaces;
      g_autoptr(GVariant) modem =
          g_variant_lookup_value(owned, MM_MODEM_INTERFACE, G_VARIANT_TYPE_VARDICT);
      const char *device, *sim;

      if (!modem || !g_variant_lookup(modem, "Device", "&s", &device))
        continue;
      g_hash_table_replace(modems, g_strdup(device), g_strdup(path));
      if (!g_variant_lookup(modem, "Sim", "&o", &sim))
        sim = "/";
      g_hash_table_replace(sims, g_strdup(path), g_strdup(sim));
    }
  }
  changed = !tables_equal(modems, watch->modems);
  g_hash_table_unref(watch->modems);
  watch->modems = g_steal_pointer(&modems);
  g_hash_table_unref(watch->sims);
  watch->sims = g_steal_pointer(&sims);
  watch->generation++;
  if (changed && watch->changed_func)
    watch->changed_func(watch->changed_data);
  wait_all_check(watch);
}

static void read_objects(MmWatch *watch);

static void on_objects(GObject *source, GAsyncResult *res, gpointer user_data)
{
  MmWatch *watch = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
  g_autoptr(GVariant) objects = NULL;

  if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  watch->reading = FALSE;
  if (reply)
    objects = g_variant_get_child_value(reply, 0);
  else
    g_debug("ModemManager's modems: %s", error->message);
  apply_objects(watch, objects);
  if (watch->again) {
    watch->again = FALSE;
    read_objects(watch);
  }
}

static void read_objects(MmWatch *watch)
{
  if (!watch->connection)
    return;
  if (watch->reading) {
    watch->again = TRUE;
    return;
  }
  watch->reading = TRUE;
  g_dbus_connection_call(watch->connection, MM_NAME, MM_PATH, OBJECT_MANAGER_INTERFACE,
                         "GetManagedObjects", NULL, G_VARIANT_TYPE("(a{oa{sa{sv}}})"),
                         G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, watch->cancellable, on_objects,
                         watch);
}

static void on_signal(GDBusConnection *connection, const char *sender, const char *path,
                      const char *interface, const char *member, GVariant *parameters,
                      gpointer user_data)
{
  MmWatch *watch = user_data;

  /* A SIM's identifier changing touches no modem: only the waiters care. */
  if (g_str_equal(member, "PropertiesChanged") && g_str_has_prefix(path, MM_PATH "/SIM")) {
    wait_all_check(watch);
    return;
  }
  read_objects(watch);
}

static void on_mm_appeared(GDBusConnection *connection, const char *name, const char *owner,
                           gpointer user_data)
{
  MmWatch *watch = user_data;

  watch->present = TRUE;
  read_objects(watch);
}

static void on_mm_vanished(GDBusConnection *connection, const char *name, gpointer user_data)
{
  MmWatch *watch = user_data;

  watch->present = FALSE;
  apply_objects(watch, NULL);
}

static void on_connected(GObject *source, GAsyncResult *res, gpointer user_data)
{
  MmWatch *watch = user_data;
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection = g_dbus_connection_new_for_address_finish(res, &error);

  if (!connection) {
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_info("Not watching ModemManager: %s", error->message);
    return;
  }
  watch->connection = connection;
  /* Everything ModemManager says about its objects: any path, so that the
   * SIM objects (outside the object manager) are seen too. */
  watch->signal_id =
      g_dbus_connection_signal_subscribe(connection, MM_NAME, NULL, NULL, NULL, NULL,
                                         G_DBUS_SIGNAL_FLAGS_NONE, on_signal, watch, NULL);
  watch->watch_id =
      g_bus_watch_name_on_connection(connection, MM_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                     on_mm_appeared, on_mm_vanished, watch, NULL);
}

MmWatch *mm_watch_new(const char *bus_address, MmWatchChangedFunc changed, gpointer user_data)
{
  MmWatch *watch = g_new0(MmWatch, 1);

  if (!bus_address)
    bus_address = g_getenv("ESIMD_MM_BUS_ADDRESS");
  watch->address = g_strdup(bus_address && *bus_address ? bus_address : NULL);
  watch->cancellable = g_cancellable_new();
  watch->modems = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  watch->sims = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  watch->changed_func = changed;
  watch->changed_data = user_data;
  return watch;
}

void mm_watch_start(MmWatch *watch)
{
  g_autofree char *system_address = NULL;
  const char *address = watch->address;

  if (watch->started)
    return;
  watch->started = TRUE;
  if (!address) {
    g_autoptr(GError) error = NULL;

    system_address = g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SYSTEM, NULL, &error);
    if (!system_address) {
      g_info("Not watching ModemManager: %s", error->message);
      return;
    }
    address = system_address;
  }
  g_dbus_connection_new_for_address(address,
                                    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                    NULL, watch->cancellable, on_connected, watch);
}

void mm_watch_free(MmWatch *watch)
{
  if (!watch)
    return;
  g_cancellable_cancel(watch->cancellable);
  while (watch->waiters)
    wait_complete(watch->waiters->data,
                  g_error_new(G_IO_ERROR, G_IO_ERROR_CANCELLED, "esimd is shutting down"));
  if (watch->connection) {
    g_clear_handle_id(&watch->watch_id, g_bus_unwatch_name);
    g_dbus_connection_signal_unsubscribe(watch->connection, watch->signal_id);
    g_dbus_connection_close(watch->connection, NULL, NULL, NULL);
    g_object_unref(watch->connection);
  }
  g_object_unref(watch->cancellable);
  g_hash_table_unref(watch->modems);
  g_hash_table_unref(watch->sims);
  g_free(watch->address);
  g_free(watch);
}

const char *mm_watch_get_modem(MmWatch *watch, const char *device)
{
  if (!watch || !device || !*device)
    return NULL;
  return g_hash_table_lookup(watch->modems, device);
}

/* ---- waiting for the SIM a modem reports ---- */

static void on_sim_identifier(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  SimWait *w = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
  g_autoptr(GVariant) value = NULL;
  gboolean recheck = w->recheck;

  if (w->done || g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  w->checking = FALSE;
  w->recheck = FALSE;
  if (reply) {
    g_variant_get(reply, "(v)", &value);
    if (g_variant_is_of_type(value, G_VARIANT_TYPE_STRING) && w->iccid &&
        g_str_equal(g_variant_get_string(value, NULL), w->iccid)) {
      wait_complete(task, NULL);
      return;
    }
  }
  if (recheck)
    wait_check(task);
}

/* Whether ModemManager reports the SIM waited for; reads the SIM's
 * identifier when it has to, and completes the wait when it is there. */
static void wait_check(GTask *task)
{
  SimWait *w = g_task_get_task_data(task);
  MmWatch *watch = w->watch;
  const char *modem = mm_watch_get_modem(watch, w->device);
  const char *sim = modem ? g_hash_table_lookup(watch->sims, modem) : NULL;

  if (w->checking) {
    w->recheck = TRUE;
    return;
  }
  if (!modem || !sim)
    return; /* probing it again: not listed, or listed without its SIM yet */
  if (g_str_equal(sim, "/")) {
    if (!w->iccid)
      wait_complete(task, NULL);
    return;
  }
  if (!w->iccid)
    return;
  w->checking = TRUE;
  g_dbus_connection_call(watch->connection, MM_NAME, sim, PROPERTIES_INTERFACE, "Get",
                         g_variant_new("(ss)", MM_SIM_INTERFACE, "SimIdentifier"),
                         G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1,
                         watch->cancellable, on_sim_identifier, g_object_ref(task));
}

static gboolean on_wait_timeout(gpointer user_data)
{
  GTask *task = user_data;
  SimWait *w = g_task_get_task_data(task);

  wait_complete(task, g_error_new(G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                  "ModemManager did not report %s within %u ms",
                                  w->iccid ? "the new SIM" : "the SIM gone", w->timeout_ms));
  return G_SOURCE_REMOVE;
}

/* A static address as the GTask source tag (ISO C: no function pointers). */
static gint wait_tag;

void mm_watch_wait_sim(MmWatch *watch, const char *device, const char *iccid, guint timeout_ms,
                       GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  SimWait *w = g_new0(SimWait, 1);

  g_task_set_source_tag(task, &wait_tag);
  g_task_set_task_data(task, w, (GDestroyNotify)sim_wait_free);
  w->watch = watch;
  w->device = g_strdup(device);
  w->iccid = g_strdup(iccid);
  w->timeout_ms = timeout_ms;
  /* Right after it took the modem back, ModemManager may well list no
   * modem for the device: it is probing it again. So it is waited for
   * whenever ModemManager is there at all. */
  if (!watch || !watch->connection || !watch->present || !device || !*device) {
    g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "ModemManager is not running");
    g_object_unref(task);
    return;
  }
  watch->waiters = g_list_prepend(watch->waiters, task);
  w->timer = g_timeout_source_new(timeout_ms);
  g_source_set_callback(w->timer, on_wait_timeout, task, NULL);
  g_source_attach(w->timer, g_main_context_get_thread_default());
  /* What ModemManager says now may be stale: read it again. */
  read_objects(watch);
  wait_check(task);
}

gboolean mm_watch_wait_sim_finish(MmWatch *watch, GAsyncResult *res, GError **error)
{
  return g_task_propagate_boolean(G_TASK(res), error);
}
