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
#include "system/nm-private.h"
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

void nm_connect_start(NmProfiles *nm)
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
void nm_op_return_error(GTask *task, GError *error)
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
  return g_strcmp0(nm_settings_get_string(settings, "connection", "id"), ctx->id) == 0 &&
         g_strcmp0(nm_settings_get_string(settings, "gsm", "sim-operator-id"), ctx->operator_id) ==
             0 &&
         g_strcmp0(nm_settings_get_string(settings, "gsm", "apn"), ctx->apn) == 0;
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
    if (nm_error_is_nm_gone(error)) {
      g_debug("NetworkManager left the bus: %s", error->message);
      g_clear_pointer(&ctx->path, g_free);
      ctx->path = g_strdup("/");
      ensure_step(task);
      return;
    }
    g_dbus_error_strip_remote_error(error);
    g_prefix_error(&error, "NetworkManager refused the connection \"%s\": ", ctx->id);
    nm_op_return_error(task, g_steal_pointer(&error));
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
      nm_op_return_error(task, g_error_new(G_IO_ERROR, G_IO_ERROR_CLOSED, "The client was closed"));
      return;
    }
    if (g_cancellable_set_error_if_cancelled(g_task_get_cancellable(task), &error)) {
      nm_op_return_error(task, error);
      return;
    }
    /* fall through */
  case ENSURE_STEP_CONNECT:
    if (!nm_scan_connect(task, &gone)) {
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
    nm_scan_list(task);
    return;
  case ENSURE_STEP_READ:
    if (scan->index == 0 && nm_scan_read_next(task))
      return;
    ctx->step++;
    /* fall through */
  case ENSURE_STEP_WRITE:
    ctx->step++;
    if (!nm_scan_still_connected(scan) || !scan->paths) {
      ctx->path = g_strdup("/");
      ensure_step(task);
      return;
    }
    if (g_cancellable_set_error_if_cancelled(g_task_get_cancellable(task), &error)) {
      nm_op_return_error(task, error);
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
gboolean nm_mccmnc_is_valid(const char *mccmnc)
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
  if (nm_mccmnc_is_valid(spec->owner_mccmnc)) {
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
    if (nm_error_is_nm_gone(error)) {
      /* Nothing more to delete now; the next ensure or remove sees it. */
      ctx->step = REMOVE_STEP_LAST;
      remove_step(task);
      return;
    }
    g_dbus_error_strip_remote_error(error);
    g_prefix_error(&error, "NetworkManager did not delete %s: ", path);
    nm_op_return_error(task, g_steal_pointer(&error));
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
      nm_op_return_error(task, g_error_new(G_IO_ERROR, G_IO_ERROR_CLOSED, "The client was closed"));
      return;
    }
    if (g_cancellable_set_error_if_cancelled(g_task_get_cancellable(task), &error)) {
      nm_op_return_error(task, error);
      return;
    }
    /* fall through */
  case REMOVE_STEP_CONNECT:
    if (!nm_scan_connect(task, &gone)) {
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
    nm_scan_list(task);
    return;
  case REMOVE_STEP_READ:
    if (scan->index == 0 && nm_scan_read_next(task))
      return;
    ctx->step++;
    /* fall through */
  case REMOVE_STEP_DELETE:
    /* Only what carries esimd's mark for this ICCID: a user's connection
     * with the same sim-id stays. */
    if (nm_scan_still_connected(scan) && ctx->deleted < scan->ours->len) {
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
  nm_connect_start(nm);
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
