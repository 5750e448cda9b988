/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NetworkManager connections per eSIM profile over GDBus, on a private
 * connection like the ModemManager client: GDBus ends its async calls in the
 * GTask step machines on the daemon's own main context, and the system/
 * layer stays free of libnm.
 *
 * Both operations first read every connection NetworkManager keeps
 * (Settings.ListConnections, then GetSettings of each, one at a time): that
 * is where esimd's mark and a user's connection for the same SIM are found.
 * Operations run one at a time so that two ensures of one profile cannot
 * both see "none yet" and add two connections.
 */
#include "system/nm.h"

#include <string.h>

#define NM_NAME "org.freedesktop.NetworkManager"
#define NM_SETTINGS_PATH "/org/freedesktop/NetworkManager/Settings"
#define NM_SETTINGS_INTERFACE "org.freedesktop.NetworkManager.Settings"
#define NM_CONNECTION_INTERFACE "org.freedesktop.NetworkManager.Settings.Connection"
#define NM_SETTINGS_TYPE "a{sa{sv}}"
/* NMSettingsAddConnection2Flags: write the keyfile, not only memory. */
#define NM_ADD_CONNECTION2_FLAG_TO_DISK 0x1
#define APN_DB_DEFAULT "/usr/share/mobile-broadband-provider-info/serviceproviders.xml"
#define ESIM_SUFFIX " (eSIM)"

struct _NmProfiles {
  gchar *address;  /* NULL: the system bus */
  gchar *apn_db;   /* NULL: APN_DB_DEFAULT */
  gboolean closed; /* nm_profiles_free() was called */
  gboolean connecting;
  GCancellable *cancellable; /* the connect in flight, cancelled by free */
  GDBusConnection *connection;
  gulong closed_id;
  guint watch_id;
  guint added_id;      /* ObjectManager.InterfacesAdded of the Settings object */
  gboolean announced;  /* the appeared function was called for this owner */
  GCancellable *probe; /* the readiness check in flight */
  void (*appeared)(gpointer);
  gpointer appeared_data;
  GHashTable *apn_cache; /* MCC/MNC -> APN, "" for none */
  GQueue queue;          /* GTask; the head runs, the rest wait */
  gboolean head_started;
};

/*
 * What both operations learn from NetworkManager's list: the object paths
 * esimd marked for the ICCID, the first one's settings, and a user's own
 * connection for the same SIM.
 */
typedef struct {
  NmProfiles *nm; /* a reference: the client outlives its operations */
  void (*step)(GTask *task);
  gchar *iccid;
  gboolean tried_connect;
  gchar **paths; /* ListConnections */
  guint index;
  GPtrArray *ours;
  GVariant *ours_settings;
  gchar *user_path;
} Scan;

typedef enum {
  ENSURE_STEP_FIRST,
  ENSURE_STEP_CONNECT,
  ENSURE_STEP_LIST,
  ENSURE_STEP_READ,
  ENSURE_STEP_WRITE,
  ENSURE_STEP_LAST,
} EnsureStep;

typedef struct {
  Scan scan; /* first: the queue sees every context as a Scan */
  EnsureStep step;
  gchar *id;          /* "NAME (eSIM)" */
  gchar *operator_id; /* NULL when unknown or not an MCC/MNC */
  gchar *apn;         /* NULL: gsm.auto-config */
  gchar *path;        /* the answer */
} EnsureContext;

typedef enum {
  REMOVE_STEP_FIRST,
  REMOVE_STEP_CONNECT,
  REMOVE_STEP_LIST,
  REMOVE_STEP_READ,
  REMOVE_STEP_DELETE,
  REMOVE_STEP_LAST,
} RemoveStep;

typedef struct {
  Scan scan;
  RemoveStep step;
  guint deleted; /* index into scan.ours */
} RemoveContext;

static void queue_run(NmProfiles *nm);

static void nm_profiles_clear(gpointer data)
{
  NmProfiles *nm = data;

  g_free(nm->address);
  g_free(nm->apn_db);
  g_hash_table_unref(nm->apn_cache);
}

static void scan_clear(Scan *scan)
{
  g_rc_box_release_full(scan->nm, nm_profiles_clear);
  g_free(scan->iccid);
  g_strfreev(scan->paths);
  g_ptr_array_unref(scan->ours);
  g_clear_pointer(&scan->ours_settings, g_variant_unref);
  g_free(scan->user_path);
}

static void ensure_context_free(EnsureContext *ctx)
{
  scan_clear(&ctx->scan);
  g_free(ctx->id);
  g_free(ctx->operator_id);
  g_free(ctx->apn);
  g_free(ctx->path);
  g_free(ctx);
}

static void remove_context_free(RemoveContext *ctx)
{
  scan_clear(&ctx->scan);
  g_free(ctx);
}

/* ---- the connection to the bus and the name watch ---- */

static void drop_connection(NmProfiles *nm)
{
  g_clear_handle_id(&nm->watch_id, g_bus_unwatch_name);
  if (nm->probe)
    g_cancellable_cancel(nm->probe);
  g_clear_object(&nm->probe);
  if (nm->connection) {
    g_clear_signal_handler(&nm->closed_id, nm->connection);
    if (nm->added_id)
      g_dbus_connection_signal_unsubscribe(nm->connection, nm->added_id);
    nm->added_id = 0;
  }
  g_clear_object(&nm->connection);
  nm->announced = FALSE;
}

static void on_connection_closed(GDBusConnection *connection, gboolean remote_peer_vanished,
                                 GError *error, gpointer user_data)
{
  NmProfiles *nm = user_data;

  g_debug("Lost the connection to NetworkManager's bus");
  drop_connection(nm);
}

/* NetworkManager is ready for the operations: its Settings object is on
 * the bus. Called once per NetworkManager that appears. */
static void nm_ready(NmProfiles *nm)
{
  if (nm->announced)
    return;
  nm->announced = TRUE;
  g_info("NetworkManager is ready");
  if (nm->appeared)
    nm->appeared(nm->appeared_data);
}

static void on_settings_added(GDBusConnection *connection, const char *sender, const char *path,
                              const char *interface, const char *signal, GVariant *parameters,
                              gpointer user_data)
{
  NmProfiles *nm = user_data;
  const char *object;

  if (!g_variant_is_of_type(parameters, G_VARIANT_TYPE("(oa{sa{sv}})")))
    return;
  g_variant_get_child(parameters, 0, "&o", &object);
  if (g_str_equal(object, NM_SETTINGS_PATH))
    nm_ready(nm);
}

static void on_settings_probed(GObject *source, GAsyncResult *res, gpointer user_data)
{
  NmProfiles *nm = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

  if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    g_clear_object(&nm->probe);
    if (reply)
      nm_ready(nm);
    else
      g_debug("NetworkManager is starting: %s", error->message);
  }
  g_rc_box_release_full(nm, nm_profiles_clear);
}

/*
 * NetworkManager 1.42 takes its name before it exports its Settings object:
 * a ListConnections right after the name appeared fails with "Object does
 * not exist". The caller hears of NetworkManager once Settings answers, or
 * once the ObjectManager announces it (subscribed before the name can
 * appear, so that neither order is missed).
 */
static void on_nm_appeared(GDBusConnection *connection, const char *name, const char *owner,
                           gpointer user_data)
{
  NmProfiles *nm = user_data;

  g_info("NetworkManager is on the bus (%s)", owner);
  nm->announced = FALSE;
  if (nm->probe)
    g_cancellable_cancel(nm->probe);
  g_clear_object(&nm->probe);
  nm->probe = g_cancellable_new();
  g_dbus_connection_call(connection, NM_NAME, NM_SETTINGS_PATH, "org.freedesktop.DBus.Properties",
                         "Get", g_variant_new("(ss)", NM_SETTINGS_INTERFACE, "CanModify"),
                         G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, nm->probe,
                         on_settings_probed, g_rc_box_acquire(nm));
}

static void on_nm_vanished(GDBusConnection *connection, const char *name, gpointer user_data)
{
  NmProfiles *nm = user_data;

  /* Called once at the start as well when it is not running. */
  g_debug("NetworkManager is not on the bus");
  nm->announced = FALSE;
}

static void on_connected(GObject *source, GAsyncResult *res, gpointer user_data)
{
  NmProfiles *nm = user_data;
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection = g_dbus_connection_new_for_address_finish(res, &error);

  nm->connecting = FALSE;
  g_clear_object(&nm->cancellable);
  if (!connection) {
    /* No bus, no NetworkManager: the operations answer "not running". */
    g_debug("No bus for NetworkManager: %s", error->message);
  } else if (nm->closed) {
    g_dbus_connection_close(connection, NULL, NULL, NULL);
    g_object_unref(connection);
  } else {
    nm->connection = connection;
    nm->closed_id = g_signal_connect(connection, "closed", G_CALLBACK(on_connection_closed), nm);
    nm->added_id = g_dbus_connection_signal_subscribe(
        connection, NM_NAME, "org.freedesktop.DBus.ObjectManager", "InterfacesAdded",
        "/org/freedesktop", NM_SETTINGS_PATH, G_DBUS_SIGNAL_FLAGS_NONE, on_settings_added, nm,
        NULL);
    nm->watch_id =
        g_bus_watch_name_on_connection(connection, NM_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                       on_nm_appeared, on_nm_vanished, nm, NULL);
  }
  queue_run(nm);
  g_rc_box_release_full(nm, nm_profiles_clear);
}

static void connect_start(NmProfiles *nm)
{
  g_autofree char *system_address = NULL;
  g_autoptr(GError) error = NULL;
  const char *address = nm->address;

  if (nm->connecting || nm->connection || nm->closed)
    return;
  if (!address) {
    system_address = g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SYSTEM, NULL, &error);
    if (!system_address) {
      g_debug("No system bus for NetworkManager: %s", error->message);
      return;
    }
    address = system_address;
  }
  nm->connecting = TRUE;
  nm->cancellable = g_cancellable_new();
  g_dbus_connection_new_for_address(address,
                                    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                        G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                    NULL, nm->cancellable, on_connected, g_rc_box_acquire(nm));
}

/* ---- the queue ---- */

static void queue_run(NmProfiles *nm)
{
  GTask *head = g_queue_peek_head(&nm->queue);
  Scan *scan;

  /* A connect in flight first: the operation then knows whether there is
   * a bus at all. */
  if (!head || nm->head_started || nm->connecting)
    return;
  nm->head_started = TRUE;
  scan = g_task_get_task_data(head);
  scan->step(head);
}

static void op_dequeue(GTask *task)
{
  Scan *scan = g_task_get_task_data(task);
  NmProfiles *nm = scan->nm;
  GTask *done = g_queue_pop_head(&nm->queue);

  g_assert(done == task);
  nm->head_started = FALSE;
}

/* Every operation ends here, exactly once; the next one starts after it.
 * Takes the queue's reference on task. */
static void op_return_error(GTask *task, GError *error)
{
  Scan *scan = g_task_get_task_data(task);
  NmProfiles *nm = g_rc_box_acquire(scan->nm);

  op_dequeue(task);
  g_task_return_error(task, error);
  g_object_unref(task);
  queue_run(nm);
  g_rc_box_release_full(nm, nm_profiles_clear);
}

static void op_return_pointer(GTask *task, gpointer result, GDestroyNotify free_result)
{
  Scan *scan = g_task_get_task_data(task);
  NmProfiles *nm = g_rc_box_acquire(scan->nm);

  op_dequeue(task);
  g_task_return_pointer(task, result, free_result);
  g_object_unref(task);
  queue_run(nm);
  g_rc_box_release_full(nm, nm_profiles_clear);
}

static void op_return_boolean(GTask *task)
{
  Scan *scan = g_task_get_task_data(task);
  NmProfiles *nm = g_rc_box_acquire(scan->nm);

  op_dequeue(task);
  g_task_return_boolean(task, TRUE);
  g_object_unref(task);
  queue_run(nm);
  g_rc_box_release_full(nm, nm_profiles_clear);
}

/* A static address as each GTask source tag (ISO C: no function pointers). */
static gint ensure_tag;
static gint remove_tag;

static void op_start(NmProfiles *nm, GTask *task, Scan *scan, const char *iccid,
                     void (*step)(GTask *))
{
  scan->nm = g_rc_box_acquire(nm);
  scan->step = step;
  scan->iccid = g_strdup(iccid);
  scan->ours = g_ptr_array_new_with_free_func(g_free);
  /* The result says what NetworkManager did, even when the caller cancelled
   * after a change went out. */
  g_task_set_check_cancellable(task, FALSE);
  g_queue_push_tail(&nm->queue, task);
  queue_run(nm);
}

/* ---- the scan both operations share ---- */

/* Errors that say NetworkManager is not (or no longer) on the bus. */
static gboolean error_is_nm_gone(const GError *error)
{
  return g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
         g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
         g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

/* ListConnections before NetworkManager exported Settings (see
 * on_nm_appeared): as good as not running yet; the appeared function
 * follows. */
static gboolean error_is_nm_starting(const GError *error)
{
  return g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
         g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
         g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_INTERFACE);
}

/*
 * The connect step of both operations: TRUE when connected. Otherwise it
 * connects once for this operation and returns FALSE (the queue runs the
 * step again when the connect ends), and sets *gone when that was tried.
 */
static gboolean scan_connect(GTask *task, gboolean *gone)
{
  Scan *scan = g_task_get_task_data(task);
  NmProfiles *nm = scan->nm;

  *gone = FALSE;
  if (nm->connection)
    return TRUE;
  if (scan->tried_connect || nm->closed) {
    *gone = TRUE;
    return FALSE;
  }
  scan->tried_connect = TRUE;
  connect_start(nm);
  if (!nm->connecting) {
    *gone = TRUE;
    return FALSE;
  }
  nm->head_started = FALSE;
  return FALSE;
}

static void on_listed(GObject *source, GAsyncResult *res, gpointer user_data);
static void on_read(GObject *source, GAsyncResult *res, gpointer user_data);

static void scan_list(GTask *task)
{
  Scan *scan = g_task_get_task_data(task);

  /* NO_AUTO_START: esimd must not start NetworkManager through D-Bus
   * activation; an absent one answers ServiceUnknown. */
  g_dbus_connection_call(scan->nm->connection, NM_NAME, NM_SETTINGS_PATH, NM_SETTINGS_INTERFACE,
                         "ListConnections", NULL, G_VARIANT_TYPE("(ao)"),
                         G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, g_task_get_cancellable(task),
                         on_listed, task);
}

/*
 * The connection can go while a call is out (nm_profiles_free(), the bus
 * closing) and the reply still arrive: before each further call, FALSE
 * when it is gone, and the scan then says "NetworkManager not there", as
 * it would have had the call failed.
 */
static gboolean scan_still_connected(Scan *scan)
{
  if (scan->nm->connection)
    return TRUE;
  g_clear_pointer(&scan->paths, g_strfreev);
  g_ptr_array_set_size(scan->ours, 0);
  g_clear_pointer(&scan->user_path, g_free);
  return FALSE;
}

/* Reads the next connection; FALSE when all were read. */
static gboolean scan_read_next(GTask *task)
{
  Scan *scan = g_task_get_task_data(task);

  if (!scan_still_connected(scan) || !scan->paths || !scan->paths[scan->index])
    return FALSE;
  g_dbus_connection_call(scan->nm->connection, NM_NAME, scan->paths[scan->index],
                         NM_CONNECTION_INTERFACE, "GetSettings", NULL,
                         G_VARIANT_TYPE("(" NM_SETTINGS_TYPE ")"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
                         -1, g_task_get_cancellable(task), on_read, task);
  return TRUE;
}

static void on_listed(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Scan *scan = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

  if (!reply) {
    if (!error_is_nm_gone(error) && !error_is_nm_starting(error)) {
      g_dbus_error_strip_remote_error(error);
      g_prefix_error(&error, "NetworkManager did not list its connections: ");
      op_return_error(task, g_steal_pointer(&error));
      return;
    }
    /* Not running: the step after the scan sees no paths and no bus. */
    g_debug("NetworkManager is not running: %s", error->message);
    scan->paths = NULL;
  } else {
    g_variant_get(reply, "(^ao)", &scan->paths);
  }
  scan->step(task);
}

/* The string value of key in the setting section, or NULL. */
static const char *settings_get_string(GVariant *settings, const char *section, const char *key)
{
  g_autoptr(GVariant) values = g_variant_lookup_value(settings, section, G_VARIANT_TYPE_VARDICT);
  g_autoptr(GVariant) value = NULL;

  if (!values)
    return NULL;
  value = g_variant_lookup_value(values, key, G_VARIANT_TYPE_STRING);
  /* The string lives in settings, which holds values. */
  return value ? g_variant_get_string(value, NULL) : NULL;
}

/* esimd's mark: user.data[NM_PROFILE_MARK_KEY], or NULL. */
static const char *settings_get_mark(GVariant *settings)
{
  g_autoptr(GVariant) user = g_variant_lookup_value(settings, "user", G_VARIANT_TYPE_VARDICT);
  g_autoptr(GVariant) data = NULL;
  const char *mark = NULL;

  if (!user)
    return NULL;
  data = g_variant_lookup_value(user, "data", G_VARIANT_TYPE("a{ss}"));
  if (data)
    g_variant_lookup(data, NM_PROFILE_MARK_KEY, "&s", &mark);
  return mark;
}

static void on_read(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  Scan *scan = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
  const char *path = scan->paths[scan->index++];

  if (!reply) {
    if (error_is_nm_gone(error)) {
      g_debug("NetworkManager left the bus: %s", error->message);
      g_clear_pointer(&scan->paths, g_strfreev);
      g_ptr_array_set_size(scan->ours, 0);
      g_clear_pointer(&scan->user_path, g_free);
      scan->step(task);
      return;
    }
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      op_return_error(task, g_steal_pointer(&error));
      return;
    }
    /* Deleted since the list: not one of interest any more. */
    g_debug("Skipping connection %s: %s", path, error->message);
  } else {
    g_autoptr(GVariant) settings = g_variant_get_child_value(reply, 0);
    const char *mark = settings_get_mark(settings);
    const char *sim_id = settings_get_string(settings, "gsm", "sim-id");

    if (mark && g_str_equal(mark, scan->iccid)) {
      if (scan->ours->len == 0)
        scan->ours_settings = g_variant_ref(settings);
      g_ptr_array_add(scan->ours, g_strdup(path));
    } else if (!mark && sim_id && g_str_equal(sim_id, scan->iccid) && !scan->user_path) {
      scan->user_path = g_strdup(path);
    }
  }
  if (!scan_read_next(task))
    scan->step(task);
}

/* ---- ensure ---- */

/* The gsm connection for a new profile: see nm.h. */
static GVariant *ensure_build_new(EnsureContext *ctx)
{
  g_autofree char *uuid = g_uuid_string_random();
  GVariantBuilder settings, section, data;

  g_variant_builder_init(&settings, G_VARIANT_TYPE(NM_SETTINGS_TYPE));

  g_variant_builder_init(&section, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add(&section, "{sv}", "id", g_variant_new_string(ctx->id));
  g_variant_builder_add(&section, "{sv}", "uuid", g_variant_new_string(uuid));
  g_variant_builder_add(&section, "{sv}", "type", g_variant_new_string("gsm"));
  /* No interface-name: the modem's port may change; gsm.sim-id is what
   * binds the connection to the profile. */
  g_variant_builder_add(&section, "{sv}", "autoconnect", g_variant_new_boolean(TRUE));
  g_variant_builder_add(&settings, "{sa{sv}}", "connection", &section);

  g_variant_builder_init(&section, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add(&section, "{sv}", "sim-id", g_variant_new_string(ctx->scan.iccid));
  if (ctx->operator_id)
    g_variant_builder_add(&section, "{sv}", "sim-operator-id",
                          g_variant_new_string(ctx->operator_id));
  if (ctx->apn)
    g_variant_builder_add(&section, "{sv}", "apn", g_variant_new_string(ctx->apn));
  else
    g_variant_builder_add(&section, "{sv}", "auto-config", g_variant_new_boolean(TRUE));
  g_variant_builder_add(&settings, "{sa{sv}}", "gsm", &section);

  g_variant_builder_init(&data, G_VARIANT_TYPE("a{ss}"));
  g_variant_builder_add(&data, "{ss}", NM_PROFILE_MARK_KEY, ctx->scan.iccid);
  g_variant_builder_init(&section, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add(&section, "{sv}", "data", g_variant_builder_end(&data));
  g_variant_builder_add(&settings, "{sa{sv}}", "user", &section);

  return g_variant_builder_end(&settings);
}

/* Whether esimd's existing connection already says what the profile says.
 * Not gsm.auto-config: NetworkManager clears it itself once the user gives
 * a username or password, and that choice stays the user's. */
static gboolean ensure_is_current(EnsureContext *ctx, GVariant *settings)
{
  return g_strcmp0(settings_get_string(settings, "connection", "id"), ctx->id) == 0 &&
         g_strcmp0(settings_get_string(settings, "gsm", "sim-operator-id"), ctx->operator_id) ==
             0 &&
         g_strcmp0(settings_get_string(settings, "gsm", "apn"), ctx->apn) == 0;
}

/* settings with the name, operator and APN of the profile; everything else
 * (uuid, what the user changed since) as it is. */
static GVariant *ensure_build_update(EnsureContext *ctx, GVariant *settings)
{
  GVariantBuilder out;
  GVariantIter sections;
  const char *name;
  GVariant *values;

  g_variant_builder_init(&out, G_VARIANT_TYPE(NM_SETTINGS_TYPE));
  g_variant_iter_init(&sections, settings);
  while (g_variant_iter_next(&sections, "{&s@a{sv}}", &name, &values)) {
    g_autoptr(GVariant) owned = values;
    gboolean is_connection = g_str_equal(name, "connection");
    gboolean is_gsm = g_str_equal(name, "gsm");
    GVariantBuilder section;
    GVariantIter keys;
    const char *key;
    GVariant *value;

    g_variant_builder_init(&section, G_VARIANT_TYPE_VARDICT);
    g_variant_iter_init(&keys, owned);
    while (g_variant_iter_next(&keys, "{&sv}", &key, &value)) {
      g_autoptr(GVariant) owned_value = value;

      if (is_connection && g_str_equal(key, "id"))
        continue;
      if (is_gsm && (g_str_equal(key, "sim-operator-id") || g_str_equal(key, "apn") ||
                     g_str_equal(key, "auto-config")))
        continue;
      g_variant_builder_add(&section, "{sv}", key, owned_value);
    }
    if (is_connection)
      g_variant_builder_add(&section, "{sv}", "id", g_variant_new_string(ctx->id));
    if (is_gsm) {
      if (ctx->operator_id)
        g_variant_builder_add(&section, "{sv}", "sim-operator-id",
                              g_variant_new_string(ctx->operator_id));
      if (ctx->apn)
        g_variant_builder_add(&section, "{sv}", "apn", g_variant_new_string(ctx->apn));
      else
        g_variant_builder_add(&section, "{sv}", "auto-config", g_variant_new_boolean(TRUE));
    }
    g_variant_builder_add(&out, "{sa{sv}}", name, &section);
  }
  return g_variant_builder_end(&out);
}

static void ensure_step(GTask *task);

static void on_ensure_written(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  EnsureContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

  if (!reply) {
    if (error_is_nm_gone(error)) {
      g_debug("NetworkManager left the bus: %s", error->message);
      g_clear_pointer(&ctx->path, g_free);
      ctx->path = g_strdup("/");
      ensure_step(task);
      return;
    }
    g_dbus_error_strip_remote_error(error);
    g_prefix_error(&error, "NetworkManager refused the connection \"%s\": ", ctx->id);
    op_return_error(task, g_steal_pointer(&error));
    return;
  }
  if (!ctx->path)
    g_variant_get_child(reply, 0, "o", &ctx->path);
  ensure_step(task);
}

static void ensure_step(GTask *task)
{
  EnsureContext *ctx = g_task_get_task_data(task);
  Scan *scan = &ctx->scan;
  GError *error = NULL;
  gboolean gone;

  switch (ctx->step) {
  case ENSURE_STEP_FIRST:
    g_debug("ensure (%d/%d): %s", ctx->step, ENSURE_STEP_LAST, ctx->id);
    ctx->step++;
    if (scan->nm->closed) {
      op_return_error(task, g_error_new(G_IO_ERROR, G_IO_ERROR_CLOSED, "The client was closed"));
      return;
    }
    if (g_cancellable_set_error_if_cancelled(g_task_get_cancellable(task), &error)) {
      op_return_error(task, error);
      return;
    }
    /* fall through */
  case ENSURE_STEP_CONNECT:
    if (!scan_connect(task, &gone)) {
      if (gone) {
        ctx->path = g_strdup("/");
        ctx->step = ENSURE_STEP_LAST;
        ensure_step(task);
      }
      return;
    }
    ctx->step++;
    /* fall through */
  case ENSURE_STEP_LIST:
    g_debug("ensure (%d/%d): listing connections", ctx->step, ENSURE_STEP_LAST);
    ctx->step++;
    scan_list(task);
    return;
  case ENSURE_STEP_READ:
    if (scan->index == 0 && scan_read_next(task))
      return;
    ctx->step++;
    /* fall through */
  case ENSURE_STEP_WRITE:
    ctx->step++;
    if (!scan_still_connected(scan) || !scan->paths) {
      ctx->path = g_strdup("/");
      ensure_step(task);
      return;
    }
    if (g_cancellable_set_error_if_cancelled(g_task_get_cancellable(task), &error)) {
      op_return_error(task, error);
      return;
    }
    /* Not cancellable once sent: NetworkManager acts on it either way. */
    if (scan->ours->len > 0) {
      ctx->path = g_strdup(g_ptr_array_index(scan->ours, 0));
      if (ensure_is_current(ctx, scan->ours_settings)) {
        ensure_step(task);
        return;
      }
      g_debug("ensure (%d/%d): updating %s", ENSURE_STEP_WRITE, ENSURE_STEP_LAST, ctx->path);
      /* Update replaces the settings and writes them to disk. */
      g_dbus_connection_call(
          scan->nm->connection, NM_NAME, ctx->path, NM_CONNECTION_INTERFACE, "Update",
          g_variant_new_tuple((GVariant *[]){ensure_build_update(ctx, scan->ours_settings)}, 1),
          G_VARIANT_TYPE("()"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, on_ensure_written, task);
      return;
    }
    if (scan->user_path) {
      /* The user's own connection for this SIM: used, never changed. */
      g_debug("ensure (%d/%d): the user's %s", ENSURE_STEP_WRITE, ENSURE_STEP_LAST,
              scan->user_path);
      ctx->path = g_strdup(scan->user_path);
      ensure_step(task);
      return;
    }
    g_debug("ensure (%d/%d): adding", ENSURE_STEP_WRITE, ENSURE_STEP_LAST);
    g_dbus_connection_call(scan->nm->connection, NM_NAME, NM_SETTINGS_PATH, NM_SETTINGS_INTERFACE,
                           "AddConnection2",
                           g_variant_new("(@" NM_SETTINGS_TYPE "u@a{sv})", ensure_build_new(ctx),
                                         (guint32)NM_ADD_CONNECTION2_FLAG_TO_DISK,
                                         g_variant_new_array(G_VARIANT_TYPE("{sv}"), NULL, 0)),
                           G_VARIANT_TYPE("(oa{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL,
                           on_ensure_written, task);
    return;
  case ENSURE_STEP_LAST:
    g_debug("ensure (%d/%d): %s is %s", ctx->step, ENSURE_STEP_LAST, ctx->id, ctx->path);
    op_return_pointer(task, g_steal_pointer(&ctx->path), g_free);
    return;
  }
  g_assert_not_reached();
}

/* NetworkManager takes gsm.sim-operator-id only as 5 or 6 digits. */
static gboolean mccmnc_is_valid(const char *mccmnc)
{
  size_t len = mccmnc ? strlen(mccmnc) : 0;

  if (len != 5 && len != 6)
    return FALSE;
  for (size_t i = 0; i < len; i++)
    if (!g_ascii_isdigit(mccmnc[i]))
      return FALSE;
  return TRUE;
}

/* The database is read once per MCC/MNC: profiles are few, the file is
 * large, and it changes only with a package update. */
static gchar *apn_lookup_cached(NmProfiles *nm, const char *mccmnc)
{
  const char *cached = g_hash_table_lookup(nm->apn_cache, mccmnc);
  gchar *apn;

  if (cached)
    return *cached ? g_strdup(cached) : NULL;
  apn = nm_apn_lookup(nm->apn_db, mccmnc);
  g_hash_table_insert(nm->apn_cache, g_strdup(mccmnc), g_strdup(apn ? apn : ""));
  return apn;
}

void nm_profiles_ensure(NmProfiles *nm, const NmProfileSpec *spec, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task;
  EnsureContext *ctx;

  g_return_if_fail(spec && spec->iccid && *spec->iccid && spec->name);
  task = g_task_new(NULL, cancellable, cb, user_data);
  g_task_set_source_tag(task, &ensure_tag);
  ctx = g_new0(EnsureContext, 1);
  ctx->id = g_strconcat(spec->name, ESIM_SUFFIX, NULL);
  if (mccmnc_is_valid(spec->owner_mccmnc)) {
    ctx->operator_id = g_strdup(spec->owner_mccmnc);
    ctx->apn = apn_lookup_cached(nm, spec->owner_mccmnc);
  } else if (spec->owner_mccmnc && *spec->owner_mccmnc) {
    g_debug("Ignoring owner MCC/MNC \"%s\": not 5 or 6 digits", spec->owner_mccmnc);
  }
  g_task_set_task_data(task, ctx, (GDestroyNotify)ensure_context_free);
  op_start(nm, task, &ctx->scan, spec->iccid, ensure_step);
}

gchar *nm_profiles_ensure_finish(NmProfiles *nm, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == &ensure_tag, NULL);
  return g_task_propagate_pointer(G_TASK(res), error);
}

/* ---- remove ---- */

static void remove_step(GTask *task);

static void on_deleted(GObject *source, GAsyncResult *res, gpointer user_data)
{
  GTask *task = user_data;
  RemoveContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
  const char *path = g_ptr_array_index(ctx->scan.ours, ctx->deleted);

  ctx->deleted++;
  if (!reply) {
    if (error_is_nm_gone(error)) {
      /* Nothing more to delete now; the next ensure or remove sees it. */
      ctx->step = REMOVE_STEP_LAST;
      remove_step(task);
      return;
    }
    g_dbus_error_strip_remote_error(error);
    g_prefix_error(&error, "NetworkManager did not delete %s: ", path);
    op_return_error(task, g_steal_pointer(&error));
    return;
  }
  g_info("Deleted the NetworkManager connection %s", path);
  remove_step(task);
}

static void remove_step(GTask *task)
{
  RemoveContext *ctx = g_task_get_task_data(task);
  Scan *scan = &ctx->scan;
  GError *error = NULL;
  gboolean gone;

  switch (ctx->step) {
  case REMOVE_STEP_FIRST:
    ctx->step++;
    if (scan->nm->closed) {
      op_return_error(task, g_error_new(G_IO_ERROR, G_IO_ERROR_CLOSED, "The client was closed"));
      return;
    }
    if (g_cancellable_set_error_if_cancelled(g_task_get_cancellable(task), &error)) {
      op_return_error(task, error);
      return;
    }
    /* fall through */
  case REMOVE_STEP_CONNECT:
    if (!scan_connect(task, &gone)) {
      if (gone) {
        ctx->step = REMOVE_STEP_LAST;
        remove_step(task);
      }
      return;
    }
    ctx->step++;
    /* fall through */
  case REMOVE_STEP_LIST:
    g_debug("remove (%d/%d): listing connections", ctx->step, REMOVE_STEP_LAST);
    ctx->step++;
    scan_list(task);
    return;
  case REMOVE_STEP_READ:
    if (scan->index == 0 && scan_read_next(task))
      return;
    ctx->step++;
    /* fall through */
  case REMOVE_STEP_DELETE:
    /* Only what carries esimd's mark for this ICCID: a user's connection
     * with the same sim-id stays. */
    if (scan_still_connected(scan) && ctx->deleted < scan->ours->len) {
      const char *path = g_ptr_array_index(scan->ours, ctx->deleted);

      g_debug("remove (%d/%d): deleting %s", ctx->step, REMOVE_STEP_LAST, path);
      g_dbus_connection_call(scan->nm->connection, NM_NAME, path, NM_CONNECTION_INTERFACE, "Delete",
                             NULL, G_VARIANT_TYPE("()"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL,
                             on_deleted, task);
      return;
    }
    ctx->step++;
    /* fall through */
  case REMOVE_STEP_LAST:
    op_return_boolean(task);
    return;
  }
  g_assert_not_reached();
}

void nm_profiles_remove(NmProfiles *nm, const char *iccid, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task;
  RemoveContext *ctx;

  g_return_if_fail(iccid && *iccid);
  task = g_task_new(NULL, cancellable, cb, user_data);
  g_task_set_source_tag(task, &remove_tag);
  ctx = g_new0(RemoveContext, 1);
  g_task_set_task_data(task, ctx, (GDestroyNotify)remove_context_free);
  op_start(nm, task, &ctx->scan, iccid, remove_step);
}

gboolean nm_profiles_remove_finish(NmProfiles *nm, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == &remove_tag, FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}

/* ---- the client ---- */

NmProfiles *nm_profiles_new(const char *bus_address)
{
  NmProfiles *nm = g_rc_box_new0(NmProfiles);

  if (!bus_address)
    bus_address = g_getenv("ESIMD_NM_BUS_ADDRESS");
  nm->address = g_strdup(bus_address && *bus_address ? bus_address : NULL);
  nm->apn_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
  g_queue_init(&nm->queue);
  connect_start(nm);
  return nm;
}

void nm_profiles_free(NmProfiles *nm)
{
  if (!nm)
    return;
  nm->closed = TRUE;
  nm->appeared = NULL;
  if (nm->cancellable)
    g_cancellable_cancel(nm->cancellable);
  /* Calls in flight fail with CLOSED and end their operations. */
  if (nm->connection)
    g_dbus_connection_close(nm->connection, NULL, NULL, NULL);
  drop_connection(nm);
  g_rc_box_release_full(nm, nm_profiles_clear);
}

void nm_profiles_set_appeared_func(NmProfiles *nm, void (*func)(gpointer), gpointer data)
{
  nm->appeared = func;
  nm->appeared_data = data;
}

void nm_profiles_set_apn_db(NmProfiles *nm, const char *db_path)
{
  g_free(nm->apn_db);
  nm->apn_db = g_strdup(db_path);
  g_hash_table_remove_all(nm->apn_cache);
}

/* ---- mobile-broadband-provider-info ---- */

/*
 * serviceproviders.xml (format 2.0): country > provider > gsm, where a gsm
 * element lists its network-id (mcc, mnc) and its apn elements, each with an
 * optional usage (internet, mms, ...). An apn without usage is the older
 * form of a provider's data APN and counts as internet.
 */
typedef struct {
  const char *mcc;
  const char *mnc;
  gboolean in_gsm;
  gboolean gsm_matches;
  gchar *apn;
  gboolean apn_has_usage;
  gboolean apn_internet;
  GPtrArray *gsm_apns; /* the internet APNs of the current gsm element */
  GPtrArray *found;    /* distinct internet APNs of the gsm elements that match */
} ApnParse;

static const char *attribute(const char **names, const char **values, const char *name)
{
  for (guint i = 0; names[i]; i++)
    if (g_str_equal(names[i], name))
      return values[i];
  return NULL;
}

static void apn_start(GMarkupParseContext *context, const char *element, const char **names,
                      const char **values, gpointer user_data, GError **error)
{
  ApnParse *p = user_data;

  if (g_str_equal(element, "gsm")) {
    p->in_gsm = TRUE;
    p->gsm_matches = FALSE;
    g_ptr_array_set_size(p->gsm_apns, 0);
  } else if (p->in_gsm && g_str_equal(element, "network-id")) {
    if (g_strcmp0(attribute(names, values, "mcc"), p->mcc) == 0 &&
        g_strcmp0(attribute(names, values, "mnc"), p->mnc) == 0)
      p->gsm_matches = TRUE;
  } else if (p->in_gsm && g_str_equal(element, "apn")) {
    g_free(p->apn);
    p->apn = g_strdup(attribute(names, values, "value"));
    p->apn_has_usage = FALSE;
    p->apn_internet = FALSE;
  } else if (p->apn && g_str_equal(element, "usage")) {
    p->apn_has_usage = TRUE;
    if (g_strcmp0(attribute(names, values, "type"), "internet") == 0)
      p->apn_internet = TRUE;
  }
}

static gboolean strv_contains(GPtrArray *array, const char *s)
{
  for (guint i = 0; i < array->len; i++)
    if (g_str_equal(g_ptr_array_index(array, i), s))
      return TRUE;
  return FALSE;
}

static void apn_end(GMarkupParseContext *context, const char *element, gpointer user_data,
                    GError **error)
{
  ApnParse *p = user_data;

  if (g_str_equal(element, "apn") && p->apn) {
    if ((p->apn_internet || !p->apn_has_usage) && *p->apn)
      g_ptr_array_add(p->gsm_apns, g_steal_pointer(&p->apn));
    g_clear_pointer(&p->apn, g_free);
  } else if (g_str_equal(element, "gsm")) {
    if (p->gsm_matches)
      for (guint i = 0; i < p->gsm_apns->len; i++) {
        const char *apn = g_ptr_array_index(p->gsm_apns, i);

        if (!strv_contains(p->found, apn))
          g_ptr_array_add(p->found, g_strdup(apn));
      }
    p->in_gsm = FALSE;
  }
}

gchar *nm_apn_lookup(const char *db_path, const char *mccmnc)
{
  static const GMarkupParser parser = {.start_element = apn_start, .end_element = apn_end};
  g_autofree gchar *contents = NULL;
  g_autofree gchar *mcc = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) gsm_apns = g_ptr_array_new_with_free_func(g_free);
  g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
  ApnParse p = {.gsm_apns = gsm_apns, .found = found};
  GMarkupParseContext *context;
  gsize length;
  gboolean ok;

  if (!mccmnc_is_valid(mccmnc))
    return NULL;
  if (!db_path)
    db_path = APN_DB_DEFAULT;
  if (!g_file_get_contents(db_path, &contents, &length, &error)) {
    g_debug("No mobile broadband provider database: %s", error->message);
    return NULL;
  }
  /* The first three digits are the MCC, the rest the MNC (2 or 3 digits,
   * compared as written: "01" and "001" are different networks). */
  mcc = g_strndup(mccmnc, 3);
  p.mcc = mcc;
  p.mnc = mccmnc + 3;
  context = g_markup_parse_context_new(&parser, G_MARKUP_DEFAULT_FLAGS, &p, NULL);
  ok = g_markup_parse_context_parse(context, contents, length, &error) &&
       g_markup_parse_context_end_parse(context, &error);
  g_markup_parse_context_free(context);
  g_free(p.apn);
  if (!ok) {
    g_debug("Unreadable mobile broadband provider database %s: %s", db_path, error->message);
    return NULL;
  }
  if (found->len != 1) {
    g_debug("%u internet APNs for %s: auto-config", found->len, mccmnc);
    return NULL;
  }
  return g_strdup(g_ptr_array_index(found, 0));
}
