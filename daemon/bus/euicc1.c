/* SPDX-License-Identifier: GPL-2.0-or-later */
/* org.esimd.Euicc1 on /org/esimd/euicc/N: one eUICC, served from the cache. */
#include <string.h>

#include "bus-private.h"
#include "service/discover.h"

static int euicc1_find(sd_bus *sdbus, const char *path, const char *interface, void *user_data,
                       void **ret_found, sd_bus_error *ret_error)
{
  Bus *bus = user_data;

  if (!bus_lookup_euicc(bus, path))
    return 0;
  *ret_found = bus;
  return 1;
}

static int append_info(sd_bus_message *reply, const EuiccInfo *info)
{
  const struct {
    const char *key;
    const char *value;
  } strings[] = {
      {"svn", info->svn},
      {"profile-version", info->profile_version},
      {"firmware-version", info->firmware_version},
      {"pp-version", info->pp_version},
      {"sas-accreditation", info->sas_accreditation},
      {"category", info->category},
  };
  const struct {
    const char *key;
    gint64 value;
  } numbers[] = {
      {"free-nv-memory", info->free_nv_memory},
      {"free-volatile-memory", info->free_volatile_memory},
      {"installed-applications", info->installed_applications},
  };
  const struct {
    const char *key;
    gchar **value;
  } lists[] = {
      {"ci-pkid-verification", info->ci_pkid_verification},
      {"ci-pkid-signing", info->ci_pkid_signing},
  };
  int r;

  r = sd_bus_message_open_container(reply, 'a', "{sv}");
  if (r < 0)
    return r;
  /* A key the card did not tell is left out rather than sent empty. */
  for (gsize i = 0; i < G_N_ELEMENTS(strings); i++) {
    if (strings[i].value && *strings[i].value) {
      r = sd_bus_message_append(reply, "{sv}", strings[i].key, "s", strings[i].value);
      if (r < 0)
        return r;
    }
  }
  for (gsize i = 0; i < G_N_ELEMENTS(numbers); i++) {
    if (numbers[i].value >= 0) {
      r = sd_bus_message_append(reply, "{sv}", numbers[i].key, "t", (uint64_t)numbers[i].value);
      if (r < 0)
        return r;
    }
  }
  for (gsize i = 0; i < G_N_ELEMENTS(lists); i++) {
    if (!lists[i].value)
      continue;
    r = sd_bus_message_open_container(reply, 'e', "sv");
    if (r >= 0)
      r = sd_bus_message_append(reply, "s", lists[i].key);
    if (r >= 0)
      r = sd_bus_message_open_container(reply, 'v', "as");
    if (r >= 0)
      r = sd_bus_message_append_strv(reply, lists[i].value);
    if (r >= 0)
      r = sd_bus_message_close_container(reply);
    if (r >= 0)
      r = sd_bus_message_close_container(reply);
    if (r < 0)
      return r;
  }
  return sd_bus_message_close_container(reply);
}

static int append_profiles(sd_bus_message *reply, Euicc *euicc)
{
  GPtrArray *profiles = euicc_get_profiles(euicc);
  int r;

  r = sd_bus_message_open_container(reply, 'a', "o");
  if (r < 0)
    return r;
  for (guint i = 0; i < profiles->len; i++) {
    const Profile *profile = g_ptr_array_index(profiles, i);
    g_autofree char *path = bus_path_profile(euicc_get_id(euicc), profile->id);

    r = sd_bus_message_append(reply, "o", path);
    if (r < 0)
      return r;
  }
  return sd_bus_message_close_container(reply);
}

static int euicc1_get_property(sd_bus *sdbus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *user_data,
                               sd_bus_error *ret_error)
{
  Bus *bus = user_data;
  Euicc *euicc = bus_lookup_euicc(bus, path);

  if (!euicc)
    return sd_bus_error_setf(ret_error, SD_BUS_ERROR_UNKNOWN_OBJECT, "No eUICC at %s", path);

  if (g_str_equal(property, "Eid"))
    return sd_bus_message_append(reply, "s", bus_nonnull(euicc_get_eid(euicc)));
  if (g_str_equal(property, "Transport"))
    return sd_bus_message_append(reply, "s", bus_nonnull(euicc_get_transport(euicc)));
  if (g_str_equal(property, "Port"))
    return sd_bus_message_append(reply, "s", bus_nonnull(euicc_get_port(euicc)));
  if (g_str_equal(property, "Device"))
    return sd_bus_message_append(reply, "s", bus_nonnull(euicc_get_device(euicc)));
  if (g_str_equal(property, "Slot"))
    return sd_bus_message_append(reply, "u", euicc_get_slot(euicc));
  if (g_str_equal(property, "SlotActive"))
    return sd_bus_message_append(reply, "b", (int)euicc_get_slot_active(euicc));
  if (g_str_equal(property, "Profiles"))
    return append_profiles(reply, euicc);
  if (g_str_equal(property, "EnabledProfile")) {
    const Profile *enabled = euicc_get_enabled_profile(euicc);
    g_autofree char *profile_path = NULL;

    if (!enabled)
      return sd_bus_message_append(reply, "o", "/");
    profile_path = bus_path_profile(euicc_get_id(euicc), enabled->id);
    return sd_bus_message_append(reply, "o", profile_path);
  }
  if (g_str_equal(property, "DefaultSmdpAddress"))
    return sd_bus_message_append(reply, "s", bus_nonnull(euicc_get_default_smdp_address(euicc)));
  if (g_str_equal(property, "RootSmdsAddress"))
    return sd_bus_message_append(reply, "s", bus_nonnull(euicc_get_root_smds_address(euicc)));
  if (g_str_equal(property, "Info"))
    return append_info(reply, euicc_get_info(euicc));
  if (g_str_equal(property, "Modem"))
    return sd_bus_message_append(reply, "o", euicc_get_mm_modem(euicc));
  if (g_str_equal(property, "PendingNotifications"))
    return sd_bus_message_append(reply, "u", euicc_get_pending_notifications(euicc));
  return sd_bus_error_setf(ret_error, SD_BUS_ERROR_UNKNOWN_PROPERTY, "No property %s", property);
}

/* Refresh */

static void refresh_start(BusCall *call)
{
  euicc_refresh(call->euicc, call->authorized ? SERVICE_READ_MAY_DISTURB : SERVICE_READ_QUIET,
                call->cancellable, bus_call_operation_done, call);
}

/* Reading the card again changes nothing on it: anyone may. As for Scan, a
 * modem esimd would have to take from ModemManager is read only for a caller
 * who may switch profiles; anyone else is answered from the cache. */
static int euicc1_refresh(sd_bus_message *message, void *user_data, sd_bus_error *ret_error)
{
  return bus_call_start_asking(bus_call_new(user_data, message, refresh_start), BUS_ACTION_SWITCH);
}

/* SetDefaultSmdpAddress */

static void set_default_smdp_address_start(BusCall *call)
{
  euicc_set_default_smdp_address(call->euicc, call->text, call->cancellable,
                                 bus_call_operation_done, call);
}

static int euicc1_set_default_smdp_address(sd_bus_message *message, void *user_data,
                                           sd_bus_error *ret_error)
{
  const char *address = NULL;
  g_autoptr(GError) error = NULL;
  BusCall *call;
  int r;

  r = sd_bus_message_read(message, "s", &address);
  if (r < 0)
    return r;
  if (!bus_check_smdp_address(address, &error))
    return bus_error_invalid_gerror(ret_error, error);
  call = bus_call_new(user_data, message, set_default_smdp_address_start);
  call->text = g_strdup(address);
  return bus_call_authorize_and_start(call, "org.esimd.euicc.configure");
}

/* ResetMemory */

static void reset_memory_start(BusCall *call)
{
  euicc_reset_memory(call->euicc, call->number, call->cancellable, bus_call_operation_done, call);
}

static int euicc1_reset_memory(sd_bus_message *message, void *user_data, sd_bus_error *ret_error)
{
  uint32_t options = 0;
  g_autoptr(GError) error = NULL;
  BusCall *call;
  int r;

  r = sd_bus_message_read(message, "u", &options);
  if (r < 0)
    return r;
  if (!bus_check_reset_options(options, &error))
    return bus_error_invalid_gerror(ret_error, error);
  call = bus_call_new(user_data, message, reset_memory_start);
  call->number = options;
  return bus_call_authorize_and_start(call, "org.esimd.euicc.reset");
}

/* ListNotifications */

static int append_notification(sd_bus_message *reply, gconstpointer item)
{
  const EuiccNotification *n = item;

  return sd_bus_message_append(reply, "(usss)", n->seq, bus_nonnull(n->operation),
                               bus_nonnull(n->address), bus_nonnull(n->iccid));
}

/* Replies to a call whose operation gives a list: an array of item_type. */
static void return_list(BusCall *call, GAsyncResult *res,
                        GPtrArray *(*finish)(Euicc *euicc, GAsyncResult *res, GError **error),
                        const char *item_type, BusAppendFunc append)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) list = finish(call->euicc, res, &error);

  if (list)
    bus_call_return_array(call, item_type, list, append);
  else
    bus_call_return_gerror(call, error);
}

static void list_notifications_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
  return_list(user_data, res, euicc_list_notifications_finish, "(usss)", append_notification);
}

static void list_notifications_start(BusCall *call)
{
  euicc_list_notifications(call->euicc, call->cancellable, list_notifications_done, call);
}

/* The list holds what the properties show already (ICCIDs, SM-DP+
 * addresses) and reading it changes nothing: anyone may. */
static int euicc1_list_notifications(sd_bus_message *message, void *user_data,
                                     sd_bus_error *ret_error)
{
  return bus_call_authorize_and_start(bus_call_new(user_data, message, list_notifications_start),
                                      NULL);
}

/* SendNotifications */

static int append_delivery_result(sd_bus_message *reply, gconstpointer item)
{
  const EuiccDeliveryResult *d = item;

  return sd_bus_message_append(reply, "(ubs)", d->seq, (int)d->delivered, bus_nonnull(d->message));
}

static void send_notifications_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
  return_list(user_data, res, euicc_send_notifications_finish, "(ubs)", append_delivery_result);
}

static void send_notifications_start(BusCall *call)
{
  euicc_send_notifications(call->euicc, (const guint *)(gpointer)call->seqs->data, call->seqs->len,
                           call->cancellable, send_notifications_done, call);
}

/*
 * Delivering a notification only tells the SM-DP+ what the card already did,
 * which the daemon does on its own after every operation: anyone may ask for
 * it early. Dropping one unsent (RemoveNotification) is what needs care.
 */
static int euicc1_send_notifications(sd_bus_message *message, void *user_data,
                                     sd_bus_error *ret_error)
{
  const void *data = NULL;
  size_t size = 0;
  BusCall *call;
  int r;

  r = sd_bus_message_read_array(message, 'u', &data, &size);
  if (r < 0)
    return r;
  G_STATIC_ASSERT(sizeof(guint) == sizeof(uint32_t));
  call = bus_call_new(user_data, message, send_notifications_start);
  call->seqs = g_array_new(FALSE, FALSE, sizeof(guint));
  g_array_append_vals(call->seqs, data, (guint)(size / sizeof(uint32_t)));
  return bus_call_authorize_and_start(call, NULL);
}

/* RemoveNotification */

static void remove_notification_start(BusCall *call)
{
  euicc_remove_notification(call->euicc, call->number, call->cancellable, bus_call_operation_done,
                            call);
}

static int euicc1_remove_notification(sd_bus_message *message, void *user_data,
                                      sd_bus_error *ret_error)
{
  uint32_t seq = 0;
  BusCall *call;
  int r;

  r = sd_bus_message_read(message, "u", &seq);
  if (r < 0)
    return r;
  call = bus_call_new(user_data, message, remove_notification_start);
  call->number = seq;
  return bus_call_authorize_and_start(call, "org.esimd.euicc.configure");
}

/* Download */

static void download_start(BusCall *call)
{
  DownloadOptions options = {
      .confirmation_code = call->code,
      .accept = (call->number & 1) != 0,
      .enable = (call->number & 2) != 0,
  };
  g_autoptr(GError) error = NULL;
  sd_bus_message *reply = NULL;
  BusDownload *bd;
  int r;

  bd = bus_download_start(call->bus, call->euicc, call->message, call->text, &options, &error);
  if (!bd) {
    bus_call_return_gerror(call, error);
    return;
  }
  r = sd_bus_message_new_method_return(call->message, &reply);
  if (r >= 0)
    r = sd_bus_message_append(reply, "o", bus_download_get_path(bd));
  if (r < 0) {
    sd_bus_message_unref(reply);
    g_set_error(&error, ESIMD_ERROR, ESIMD_ERROR_FAILED, "Cannot build the reply: %s",
                g_strerror(-r));
    bus_call_return_gerror(call, error);
    return;
  }
  bus_call_return(call, reply);
}

/*
 * Starts an install (SGP.22 3.1.3). The activation code is checked by the
 * service before anything is queued: a bad one is refused at once with
 * InvalidActivationCode, no object is made.
 */
static int euicc1_download(sd_bus_message *message, void *user_data, sd_bus_error *ret_error)
{
  const char *activation_code = NULL;
  g_autofree char *code = NULL;
  gboolean accept = FALSE, enable = FALSE;
  g_autoptr(GError) error = NULL;
  BusCall *call;
  int r;

  r = sd_bus_message_read(message, "s", &activation_code);
  if (r < 0)
    return r;
  r = bus_read_download_options(message, &code, &accept, &enable, &error);
  if (r < 0)
    return r;
  if (error)
    return bus_error_invalid_gerror(ret_error, error);
  call = bus_call_new(user_data, message, download_start);
  call->text = g_strdup(activation_code);
  call->code = g_steal_pointer(&code);
  call->number = (accept ? 1u : 0u) | (enable ? 2u : 0u);
  return bus_call_authorize_and_start(call, BUS_ACTION_INSTALL);
}

/* Discover */

static int append_event(sd_bus_message *reply, gconstpointer item)
{
  const DiscoveredEvent *e = item;

  return sd_bus_message_append(reply, "(ss)", bus_nonnull(e->address), bus_nonnull(e->event_id));
}

static void discover_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
  return_list(user_data, res, euicc_discover_finish, "(ss)", append_event);
}

static void discover_start(BusCall *call)
{
  euicc_discover(call->euicc, call->text, call->cancellable, discover_done, call);
}

/* SGP.22 3.6.3: the events an SM-DS holds for this eUICC; "" asks the root
 * SM-DS the card stores. It authenticates the card to a server, as a
 * download does: the install action. */
static int euicc1_discover(sd_bus_message *message, void *user_data, sd_bus_error *ret_error)
{
  const char *address = NULL;
  g_autoptr(GError) error = NULL;
  BusCall *call;
  int r;

  r = sd_bus_message_read(message, "s", &address);
  if (r < 0)
    return r;
  if (*address && !bus_check_smdp_address(address, &error))
    return bus_error_invalid_gerror(ret_error, error);
  call = bus_call_new(user_data, message, discover_start);
  call->text = g_strdup(address);
  return bus_call_authorize_and_start(call, BUS_ACTION_INSTALL);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST

static const sd_bus_vtable euicc1_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Eid", "s", euicc1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Transport", "s", euicc1_get_property, 0, CONST),
    SD_BUS_PROPERTY("Port", "s", euicc1_get_property, 0, CONST),
    SD_BUS_PROPERTY("Device", "s", euicc1_get_property, 0, CONST),
    SD_BUS_PROPERTY("Slot", "u", euicc1_get_property, 0, CONST),
    SD_BUS_PROPERTY("SlotActive", "b", euicc1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Profiles", "ao", euicc1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("EnabledProfile", "o", euicc1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("DefaultSmdpAddress", "s", euicc1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("RootSmdsAddress", "s", euicc1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Info", "a{sv}", euicc1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("PendingNotifications", "u", euicc1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Modem", "o", euicc1_get_property, 0, EMITS),
    SD_BUS_METHOD_WITH_ARGS("Refresh", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, euicc1_refresh,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("SetDefaultSmdpAddress", SD_BUS_ARGS("s", address), SD_BUS_NO_RESULT,
                            euicc1_set_default_smdp_address, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ResetMemory", SD_BUS_ARGS("u", options), SD_BUS_NO_RESULT,
                            euicc1_reset_memory, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("ListNotifications", SD_BUS_NO_ARGS,
                            SD_BUS_RESULT("a(usss)", notifications), euicc1_list_notifications,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("SendNotifications", SD_BUS_ARGS("au", seqs),
                            SD_BUS_RESULT("a(ubs)", results), euicc1_send_notifications,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("RemoveNotification", SD_BUS_ARGS("u", seq), SD_BUS_NO_RESULT,
                            euicc1_remove_notification, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Download", SD_BUS_ARGS("s", activation_code, "a{sv}", options),
                            SD_BUS_RESULT("o", download), euicc1_download,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Discover", SD_BUS_ARGS("s", smds_address),
                            SD_BUS_RESULT("a(ss)", events), euicc1_discover,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_SIGNAL_WITH_ARGS("NotificationDelivered",
                            SD_BUS_ARGS("u", seq, "s", operation, "s", iccid, "s", address), 0),
    SD_BUS_VTABLE_END,
};

gboolean bus_euicc1_export(Bus *bus, GError **error)
{
  return bus_add_vtable(bus, BUS_EUICC_PREFIX, BUS_EUICC_INTERFACE, euicc1_vtable, euicc1_find,
                        error);
}

void bus_euicc1_emit_changed(Bus *bus, Euicc *euicc, EuiccChanged what)
{
  static const BusPropertyChange changes[] = {
      {EUICC_CHANGED_EID, "Eid"},
      {EUICC_CHANGED_SLOT_ACTIVE, "SlotActive"},
      {EUICC_CHANGED_PROFILES, "Profiles"},
      {EUICC_CHANGED_ENABLED_PROFILE, "EnabledProfile"},
      {EUICC_CHANGED_DEFAULT_SMDP_ADDRESS, "DefaultSmdpAddress"},
      {EUICC_CHANGED_ROOT_SMDS_ADDRESS, "RootSmdsAddress"},
      {EUICC_CHANGED_INFO, "Info"},
      {EUICC_CHANGED_PENDING_NOTIFICATIONS, "PendingNotifications"},
      {EUICC_CHANGED_MODEM, "Modem"},
  };
  g_autofree char *path = bus_path_euicc(euicc_get_id(euicc));

  bus_emit_properties_changed(bus, path, BUS_EUICC_INTERFACE, changes, G_N_ELEMENTS(changes), what);
}

void bus_euicc1_emit_notification_delivered(Bus *bus, Euicc *euicc, guint seq,
                                            const char *operation, const char *iccid,
                                            const char *address)
{
  g_autofree char *path = bus_path_euicc(euicc_get_id(euicc));
  int r = sd_bus_emit_signal(bus->bus, path, BUS_EUICC_INTERFACE, "NotificationDelivered", "usss",
                             seq, bus_nonnull(operation), bus_nonnull(iccid), bus_nonnull(address));

  if (r < 0)
    g_warning("bus: cannot emit NotificationDelivered on %s: %s", path, g_strerror(-r));
}
