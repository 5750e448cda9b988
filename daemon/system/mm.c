/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ModemManager inhibition over GDBus. esimd's own bus is sd-bus; this is a
 * separate, private connection anyway (an inhibition lives exactly as long
 * as the connection that asked for it, so it must not be shared or
 * replaced), and GDBus gives async calls that end in the GTask step machine
 * directly, on the same GLib main context, with no glue.
 */
#include "system/mm.h"

#define MM_NAME "org.freedesktop.ModemManager1"
#define MM_PATH "/org/freedesktop/ModemManager1"
#define MM_INTERFACE "org.freedesktop.ModemManager1"
#define MM_MODEM_INTERFACE "org.freedesktop.ModemManager1.Modem"
#define OBJECT_MANAGER_INTERFACE "org.freedesktop.DBus.ObjectManager"

struct _MmClient {
  gchar *address;  /* NULL: the system bus */
  gboolean closed; /* mm_client_free() was called */
  GDBusConnection *connection;
  gulong closed_id;
  guint watch_id;
  GHashTable *holders; /* device -> number of mm_inhibit() not yet undone */
  GHashTable *held;    /* devices ModemManager keeps inhibited for us */
  GQueue queue;        /* GTask; the head runs, the rest wait */
  gboolean head_started;
};

typedef enum {
  OP_STEP_FIRST,
  OP_STEP_CONNECT,
  OP_STEP_CHECK_NAME,
  OP_STEP_FIND_MODEM,
  OP_STEP_CALL,
  OP_STEP_LAST,
} OpStep;

typedef struct {
  MmClient *mm; /* a reference: the client outlives its operations */
  gchar *device;
  gboolean inhibit;
  OpStep step;
} OpContext;

static void op_step(GTask *task);

static void mm_client_clear(gpointer data)
{
  MmClient *mm = data;

  g_free(mm->address);
  g_hash_table_unref(mm->holders);
  g_hash_table_unref(mm->held);
}

static void op_context_free(OpContext *ctx)
{
  g_rc_box_release_full(ctx->mm, mm_client_clear);
  g_free(ctx->device);
  g_free(ctx);
}

static guint holders_get(MmClient *mm, const char *device)
{
  return GPOINTER_TO_UINT(g_hash_table_lookup(mm->holders, device));
}

static void holders_set(MmClient *mm, const char *device, guint n)
{
  if (n == 0)
    g_hash_table_remove(mm->holders, device);
  else
    g_hash_table_insert(mm->holders, g_strdup(device), GUINT_TO_POINTER(n));
}

static void queue_run(MmClient *mm)
{
  GTask *head = g_queue_peek_head(&mm->queue);

  if (!head || mm->head_started)
    return;
  mm->head_started = TRUE;
  op_step(head);
}

/* Every operation ends here, exactly once; the next one starts after it. */
static void op_complete(GTask *task, GError *error)
{
  OpContext *ctx = g_task_get_task_data(task);
  MmClient *mm = g_rc_box_acquire(ctx->mm);
  g_autoptr(GTask) done = g_queue_pop_head(&mm->queue);

  g_assert(done == task);
  mm->head_started = FALSE;
  if (error)
    g_task_return_error(task, error);
  else
    g_task_return_boolean(task, TRUE);
  queue_run(mm);
  g_rc_box_release_full(mm, mm_client_clear);
}

/* ModemManager is not there or does not know the device: nothing to hold,
 * but the call still counts, so that the uninhibit that pairs with it
 * balances. */
static void op_complete_nothing(GTask *task, const char *why)
{
  OpContext *ctx = g_task_get_task_data(task);

  g_debug("Not inhibiting %s in ModemManager: %s", ctx->device, why);
  holders_set(ctx->mm, ctx->device, 1);
  op_complete(task, NULL);
}

/* Errors that say ModemManager is gone from the bus. */
static gboolean error_is_mm_gone(const GError *error)
{
  return g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
         g_error_matches(error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER);
}

static void drop_connection(MmClient *mm)
{
  g_clear_handle_id(&mm->watch_id, g_bus_unwatch_name);
  if (mm->connection)
    g_clear_signal_handler(&mm->closed_id, mm->connection);
  g_clear_object(&mm->connection);
  /* ModemManager forgets our inhibitions with the connection. */
  g_hash_table_remove_all(mm->held);
}

static void on_connection_closed(GDBusConnection *connection, gboolean remote_peer_vanished,
                                 GError *error, gpointer user_data)
{
  MmClient *mm = user_data;

  g_debug("Lost the connection to ModemManager's bus");
  drop_connection(mm);
}

static void on_mm_vanished(GDBusConnection *connection, const char *name, gpointer user_data)
{
  MmClient *mm = user_data;

  /* A restarted ModemManager starts without our inhibitions. */
  if (g_hash_table_size(mm->held) > 0)
    g_info("ModemManager left the bus; its inhibitions are gone");
  g_hash_table_remove_all(mm->held);
}

static void on_connected(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  OpContext *ctx = g_task_get_task_data(task);
  MmClient *mm = ctx->mm;
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection = g_dbus_connection_new_for_address_finish(res, &error);

  if (!connection) {
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      op_complete(task, g_steal_pointer(&error));
      return;
    }
    /* No bus, no ModemManager. */
    op_complete_nothing(task, error->message);
    return;
  }
  if (mm->closed) {
    g_dbus_connection_close(connection, NULL, NULL, NULL);
    g_object_unref(connection);
    op_complete(task, g_error_new(G_IO_ERROR, G_IO_ERROR_CLOSED, "The client was closed"));
    return;
  }
  mm->connection = connection;
  mm->closed_id = g_signal_connect(connection, "closed", G_CALLBACK(on_connection_closed), mm);
  mm->watch_id = g_bus_watch_name_on_connection(connection, MM_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                NULL, on_mm_vanished, mm, NULL);
  op_step(task);
}

static void on_name_checked(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
  gboolean has_owner = FALSE;

  if (!reply) {
    op_complete(task, g_steal_pointer(&error));
    return;
  }
  g_variant_get(reply, "(b)", &has_owner);
  if (!has_owner) {
    op_complete_nothing(task, "ModemManager is not running");
    return;
  }
  op_step(task);
}

static gboolean objects_have_device(GVariant *objects, const char *device)
{
  GVariantIter iter;
  GVariant *interfaces;

  g_variant_iter_init(&iter, objects);
  while (g_variant_iter_next(&iter, "{&o@a{sa{sv}}}", NULL, &interfaces)) {
    g_autoptr(GVariant) owned = interfaces;
    g_autoptr(GVariant) modem =
        g_variant_lookup_value(owned, MM_MODEM_INTERFACE, G_VARIANT_TYPE_VARDICT);
    const char *value;

    if (modem && g_variant_lookup(modem, "Device", "&s", &value) && g_str_equal(value, device))
      return TRUE;
  }
  return FALSE;
}

static void on_modems_listed(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  OpContext *ctx = g_task_get_task_data(task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);
  g_autoptr(GVariant) objects = NULL;

  if (!reply) {
    if (error_is_mm_gone(error))
      op_complete_nothing(task, "ModemManager left the bus");
    else
      op_complete(task, g_steal_pointer(&error));
    return;
  }
  objects = g_variant_get_child_value(reply, 0);
  /* InhibitDevice wants the uid of a modem ModemManager has (its
   * Modem.Device); one it ignores or has not found is free already. */
  if (!objects_have_device(objects, ctx->device)) {
    op_complete_nothing(task, "ModemManager does not manage it");
    return;
  }
  op_step(task);
}

static void on_inhibit_called(GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr(GTask) task = user_data;
  OpContext *ctx = g_task_get_task_data(task);
  MmClient *mm = ctx->mm;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_finish(G_DBUS_CONNECTION(source), res, &error);

  if (!reply && ctx->inhibit) {
    if (error_is_mm_gone(error)) {
      op_complete_nothing(task, "ModemManager left the bus");
      return;
    }
    g_dbus_error_strip_remote_error(error);
    g_prefix_error(&error, "ModemManager refused to release the modem: ");
    op_complete(task, g_steal_pointer(&error));
    return;
  }
  if (!reply) {
    /* Not held any more either way: ModemManager left, or says no. */
    g_hash_table_remove(mm->held, ctx->device);
    holders_set(mm, ctx->device, 0);
    if (error_is_mm_gone(error)) {
      op_complete(task, NULL);
      return;
    }
    g_dbus_error_strip_remote_error(error);
    g_prefix_error(&error, "ModemManager refused to take the modem back: ");
    op_complete(task, g_steal_pointer(&error));
    return;
  }
  op_step(task);
}

static void op_step(GTask *task)
{
  OpContext *ctx = g_task_get_task_data(task);
  MmClient *mm = ctx->mm;
  GCancellable *cancellable = g_task_get_cancellable(task);
  GError *error = NULL;

  switch (ctx->step) {
  case OP_STEP_FIRST: {
    guint n = holders_get(mm, ctx->device);

    ctx->step++;
    if (mm->closed) {
      op_complete(task, g_error_new(G_IO_ERROR, G_IO_ERROR_CLOSED, "The client was closed"));
      return;
    }
    if (g_cancellable_set_error_if_cancelled(cancellable, &error)) {
      op_complete(task, error);
      return;
    }
    if (ctx->inhibit && n > 0) {
      holders_set(mm, ctx->device, n + 1);
      op_complete(task, NULL);
      return;
    }
    if (!ctx->inhibit) {
      if (n == 0)
        g_warning("Uninhibiting %s, which was not inhibited", ctx->device);
      if (n != 1 || !g_hash_table_contains(mm->held, ctx->device)) {
        holders_set(mm, ctx->device, n > 0 ? n - 1 : 0);
        op_complete(task, NULL);
        return;
      }
      /* Held means connected: straight to the call. */
      ctx->step = OP_STEP_CALL;
      op_step(task);
      return;
    }
  }
    /* fall through */
  case OP_STEP_CONNECT:
    ctx->step++;
    if (!mm->connection) {
      g_autofree char *system_address = NULL;
      const char *address = mm->address;

      if (!address) {
        system_address = g_dbus_address_get_for_bus_sync(G_BUS_TYPE_SYSTEM, cancellable, &error);
        if (!system_address) {
          op_complete_nothing(task, error->message);
          g_error_free(error);
          return;
        }
        address = system_address;
      }
      g_dbus_connection_new_for_address(address,
                                        G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                            G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                        NULL, cancellable, on_connected, g_object_ref(task));
      return;
    }
    /* fall through */
  case OP_STEP_CHECK_NAME:
    ctx->step++;
    /* Asking the bus, not ModemManager: a call to ModemManager's name would
     * start it through D-Bus activation. */
    g_dbus_connection_call(mm->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "NameHasOwner", g_variant_new("(s)", MM_NAME),
                           G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, -1, cancellable,
                           on_name_checked, g_object_ref(task));
    return;
  case OP_STEP_FIND_MODEM:
    ctx->step++;
    g_dbus_connection_call(mm->connection, MM_NAME, MM_PATH, OBJECT_MANAGER_INTERFACE,
                           "GetManagedObjects", NULL, G_VARIANT_TYPE("(a{oa{sa{sv}}})"),
                           G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, cancellable, on_modems_listed,
                           g_object_ref(task));
    return;
  case OP_STEP_CALL:
    ctx->step++;
    if (g_cancellable_set_error_if_cancelled(cancellable, &error)) {
      op_complete(task, error);
      return;
    }
    /* Not cancellable once sent: ModemManager acts on it whether or not we
     * wait, and the state kept here must say what it did. */
    g_dbus_connection_call(mm->connection, MM_NAME, MM_PATH, MM_INTERFACE, "InhibitDevice",
                           g_variant_new("(sb)", ctx->device, ctx->inhibit), G_VARIANT_TYPE("()"),
                           G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, on_inhibit_called,
                           g_object_ref(task));
    return;
  case OP_STEP_LAST:
    if (ctx->inhibit) {
      g_info("ModemManager released %s", ctx->device);
      g_hash_table_add(mm->held, g_strdup(ctx->device));
      holders_set(mm, ctx->device, 1);
    } else {
      g_info("ModemManager took %s back", ctx->device);
      g_hash_table_remove(mm->held, ctx->device);
      holders_set(mm, ctx->device, 0);
    }
    op_complete(task, NULL);
    return;
  }
  g_assert_not_reached();
}

/* A static address as the GTask source tag (ISO C: no function pointers). */
static gint op_tag;

static void op_start(MmClient *mm, const char *device, gboolean inhibit, GCancellable *cancellable,
                     GAsyncReadyCallback cb, gpointer user_data)
{
  GTask *task = g_task_new(NULL, cancellable, cb, user_data);
  OpContext *ctx = g_new0(OpContext, 1);

  g_task_set_source_tag(task, &op_tag);
  /* The result says what ModemManager did, even when the caller cancelled
   * after the request went out. */
  g_task_set_check_cancellable(task, FALSE);
  ctx->mm = g_rc_box_acquire(mm);
  ctx->device = g_strdup(device);
  ctx->inhibit = inhibit;
  g_task_set_task_data(task, ctx, (GDestroyNotify)op_context_free);
  g_queue_push_tail(&mm->queue, task);
  queue_run(mm);
}

MmClient *mm_client_new(const char *bus_address)
{
  MmClient *mm = g_rc_box_new0(MmClient);

  if (!bus_address)
    bus_address = g_getenv("ESIMD_MM_BUS_ADDRESS");
  mm->address = g_strdup(bus_address && *bus_address ? bus_address : NULL);
  mm->holders = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  mm->held = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_queue_init(&mm->queue);
  return mm;
}

void mm_client_free(MmClient *mm)
{
  if (!mm)
    return;
  mm->closed = TRUE;
  /* Closing, not just dropping, so that ModemManager sees us go now and
   * takes back what we still hold; calls in flight fail with CLOSED. */
  if (mm->connection)
    g_dbus_connection_close(mm->connection, NULL, NULL, NULL);
  drop_connection(mm);
  g_rc_box_release_full(mm, mm_client_clear);
}

void mm_inhibit(MmClient *mm, const char *device, GCancellable *cancellable, GAsyncReadyCallback cb,
                gpointer user_data)
{
  g_return_if_fail(device && *device);
  op_start(mm, device, TRUE, cancellable, cb, user_data);
}

gboolean mm_inhibit_finish(MmClient *mm, GAsyncResult *res, GError **error)
{
  g_return_val_if_fail(g_task_get_source_tag(G_TASK(res)) == &op_tag, FALSE);
  return g_task_propagate_boolean(G_TASK(res), error);
}

void mm_uninhibit(MmClient *mm, const char *device, GCancellable *cancellable,
                  GAsyncReadyCallback cb, gpointer user_data)
{
  g_return_if_fail(device && *device);
  op_start(mm, device, FALSE, cancellable, cb, user_data);
}

gboolean mm_uninhibit_finish(MmClient *mm, GAsyncResult *res, GError **error)
{
  return mm_inhibit_finish(mm, res, error);
}

const char *mm_client_get_address(MmClient *mm)
{
  return mm->address;
}

gboolean mm_is_inhibited(MmClient *mm, const char *device)
{
  return g_hash_table_contains(mm->held, device);
}
