/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the NetworkManager client reads: every connection NetworkManager
 * keeps (Settings.ListConnections, then GetSettings of each, one at a time),
 * where esimd's mark and a user's own connection for the same SIM are found,
 * and the APN mobile-broadband-provider-info gives for an MCC/MNC.
 */
#include "system/nm-private.h"

/* ---- the scan both operations share ---- */

/* Errors that say NetworkManager is not (or no longer) on the bus. */
gboolean nm_error_is_nm_gone(const GError *error)
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
gboolean nm_scan_connect(GTask *task, gboolean *gone)
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
  nm_connect_start(nm);
  if (!nm->connecting) {
    *gone = TRUE;
    return FALSE;
  }
  nm->head_started = FALSE;
  return FALSE;
}

static void on_listed(GObject *source, GAsyncResult *res, gpointer user_data);
static void on_read(GObject *source, GAsyncResult *res, gpointer user_data);

void nm_scan_list(GTask *task)
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
gboolean nm_scan_still_connected(Scan *scan)
{
  if (scan->nm->connection)
    return TRUE;
  g_clear_pointer(&scan->paths, g_strfreev);
  g_ptr_array_set_size(scan->ours, 0);
  g_clear_pointer(&scan->user_path, g_free);
  return FALSE;
}

/* Reads the next connection; FALSE when all were read. */
gboolean nm_scan_read_next(GTask *task)
{
  Scan *scan = g_task_get_task_data(task);

  if (!nm_scan_still_connected(scan) || !scan->paths || !scan->paths[scan->index])
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
    if (!nm_error_is_nm_gone(error) && !error_is_nm_starting(error)) {
      g_dbus_error_strip_remote_error(error);
      g_prefix_error(&error, "NetworkManager did not list its connections: ");
      nm_op_return_error(task, g_steal_pointer(&error));
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
const char *nm_settings_get_string(GVariant *settings, const char *section, const char *key)
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
    if (nm_error_is_nm_gone(error)) {
      g_debug("NetworkManager left the bus: %s", error->message);
      g_clear_pointer(&scan->paths, g_strfreev);
      g_ptr_array_set_size(scan->ours, 0);
      g_clear_pointer(&scan->user_path, g_free);
      scan->step(task);
      return;
    }
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
      nm_op_return_error(task, g_steal_pointer(&error));
      return;
    }
    /* Deleted since the list: not one of interest any more. */
    g_debug("Skipping connection %s: %s", path, error->message);
  } else {
    g_autoptr(GVariant) settings = g_variant_get_child_value(reply, 0);
    const char *mark = settings_get_mark(settings);
    const char *sim_id = nm_settings_get_string(settings, "gsm", "sim-id");

    if (mark && g_str_equal(mark, scan->iccid)) {
      if (scan->ours->len == 0)
        scan->ours_settings = g_variant_ref(settings);
      g_ptr_array_add(scan->ours, g_strdup(path));
    } else if (!mark && sim_id && g_str_equal(sim_id, scan->iccid) && !scan->user_path) {
      scan->user_path = g_strdup(path);
    }
  }
  if (!nm_scan_read_next(task))
    scan->step(task);
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

  if (!nm_mccmnc_is_valid(mccmnc))
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
