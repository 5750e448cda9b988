/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * org.esimd.Download1 on /org/esimd/euicc/N/download/K: one profile install
 * (SGP.22 3.1.3) started by Euicc1.Download. K is a counter of this bus,
 * never reused while the daemon runs.
 *
 * A download belongs to the caller who started it. When that caller leaves
 * the bus before the download ended, the download is cancelled (postponed,
 * SGP.22 5.7.14): nobody is left to give consent or to see the result. The
 * object goes away (InterfacesRemoved) when its caller leaves or
 * BUS_DOWNLOAD_LINGER_S seconds after the download ended, whichever comes
 * first, so that a caller can read the final State, Profile and Error.
 *
 * The service calls back into a BusDownload until the download ended, and
 * has no way to stop that: a BusDownload is freed only once its download
 * reached a final state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-private.h"

#define BUS_DOWNLOAD_LINGER_S 60

struct _BusDownload {
  Bus *bus; /* NULL once the bus is gone */
  guint euicc_id;
  guint id;
  gchar *path;
  gchar *owner; /* the unique name of the caller who started it */
  sd_bus_track *track;
  Download *download;
  gboolean exported; /* InterfacesAdded sent, InterfacesRemoved not yet */
  gboolean ended;    /* reached done, failed or cancelled */
  GSource *linger;
  /* What was last announced, to send only what changed. */
  DownloadState state;
  gdouble progress;
  gboolean has_metadata;
  gboolean cc_required;
  gchar *profile_path;
  gchar *error_message; /* NULL while there is no error */
};

static gboolean state_is_final(DownloadState state)
{
  return state == DOWNLOAD_STATE_DONE || state == DOWNLOAD_STATE_FAILED ||
         state == DOWNLOAD_STATE_CANCELLED;
}

char *bus_path_download(guint euicc_id, guint download_id)
{
  return g_strdup_printf(BUS_EUICC_PREFIX "/%u/download/%u", euicc_id, download_id);
}

BusDownload *bus_lookup_download(Bus *bus, const char *path)
{
  for (GList *l = bus->downloads; l; l = l->next) {
    BusDownload *bd = l->data;

    if (bd->exported && g_str_equal(bd->path, path))
      return bd;
  }
  return NULL;
}

static char *profile_path_of(BusDownload *bd)
{
  const Profile *p = download_get_profile(bd->download);

  return p ? bus_path_profile(bd->euicc_id, p->id) : g_strdup("/");
}

static void bus_download_free(BusDownload *bd)
{
  if (bd->linger) {
    g_source_destroy(bd->linger);
    g_source_unref(bd->linger);
  }
  sd_bus_track_unref(bd->track);
  download_unref(bd->download);
  g_free(bd->profile_path);
  g_free(bd->error_message);
  g_free(bd->owner);
  g_free(bd->path);
  g_free(bd);
}

/* Takes the object off the bus; frees it when the service is done with it. */
static void unexport(BusDownload *bd)
{
  if (bd->bus) {
    if (bd->exported) {
      int r = sd_bus_emit_interfaces_removed(
          bd->bus->bus, bd->path, BUS_DOWNLOAD_INTERFACE, "org.freedesktop.DBus.Properties",
          "org.freedesktop.DBus.Introspectable", "org.freedesktop.DBus.Peer", NULL);
      if (r < 0)
        g_warning("bus: cannot announce the removal of %s: %s", bd->path, g_strerror(-r));
    }
    bd->bus->downloads = g_list_remove(bd->bus->downloads, bd);
    bd->bus = NULL;
  }
  bd->exported = FALSE;
  bd->track = sd_bus_track_unref(bd->track);
  if (bd->ended)
    bus_download_free(bd);
}

static gboolean on_linger_done(gpointer user_data)
{
  BusDownload *bd = user_data;

  g_clear_pointer(&bd->linger, g_source_unref);
  unexport(bd);
  return G_SOURCE_REMOVE;
}

static int on_owner_left(sd_bus_track *track, void *user_data)
{
  BusDownload *bd = user_data;

  g_debug("bus: %s left the bus, %s goes", bd->owner, bd->path);
  /* An empty track left in place is dispatched again: drop it first. */
  bd->track = sd_bus_track_unref(bd->track);
  if (!bd->ended) {
    /* The download calls back with CANCELLED, which frees the object. */
    download_cancel(bd->download);
  }
  unexport(bd);
  return 1;
}

static void on_download_changed(Download *d, gpointer user_data)
{
  BusDownload *bd = user_data;
  const char *names[8];
  gsize n = 0;
  DownloadState state = download_get_state(d);
  gdouble progress = download_get_progress(d);
  gboolean has_metadata = download_get_metadata(d) != NULL;
  gboolean cc_required = download_get_cc_required(d);
  const GError *error = download_get_error(d);
  g_autofree char *profile_path = profile_path_of(bd);

  if (state != bd->state)
    names[n++] = "State";
  if (progress != bd->progress)
    names[n++] = "Progress";
  if (has_metadata != bd->has_metadata)
    names[n++] = "Metadata";
  if (cc_required != bd->cc_required)
    names[n++] = "ConfirmationCodeRequired";
  if (!g_str_equal(profile_path, bd->profile_path))
    names[n++] = "Profile";
  /* A refused confirmation code is shown at CONFIRMING and may be followed
   * by another error (a cancel) without a moment of none. */
  if (g_strcmp0(error ? error->message : NULL, bd->error_message) != 0) {
    names[n++] = "Error";
    names[n++] = "ErrorMessage";
  }
  names[n] = NULL;
  bd->state = state;
  bd->progress = progress;
  bd->has_metadata = has_metadata;
  bd->cc_required = cc_required;
  g_free(bd->error_message);
  bd->error_message = error ? g_strdup(error->message) : NULL;
  g_free(bd->profile_path);
  bd->profile_path = g_steal_pointer(&profile_path);

  if (bd->exported && n > 0) {
    int r = sd_bus_emit_properties_changed_strv(bd->bus->bus, bd->path, BUS_DOWNLOAD_INTERFACE,
                                                (char **)names);
    if (r < 0)
      g_warning("bus: cannot emit PropertiesChanged on %s: %s", bd->path, g_strerror(-r));
  }

  if (!state_is_final(state) || bd->ended)
    return;
  /* The last call from the service (download.c's finish()). */
  bd->ended = TRUE;
  if (!bd->exported) {
    /* Already off the bus (its caller left or the bus went away). */
    bus_download_free(bd);
    return;
  }
  bd->linger = g_timeout_source_new_seconds(BUS_DOWNLOAD_LINGER_S);
  g_source_set_callback(bd->linger, on_linger_done, bd, NULL);
  g_source_attach(bd->linger, NULL);
}

BusDownload *bus_download_start(Bus *bus, Euicc *euicc, sd_bus_message *message,
                                const char *activation_code, const DownloadOptions *options,
                                GError **error)
{
  BusDownload *bd = g_new0(BusDownload, 1);
  int r;

  bd->download = euicc_download(euicc, activation_code, options, on_download_changed, bd, error);
  if (!bd->download) {
    g_free(bd);
    return NULL;
  }
  bd->bus = bus;
  bd->euicc_id = euicc_get_id(euicc);
  bd->id = ++bus->last_download_id;
  bd->path = bus_path_download(bd->euicc_id, bd->id);
  bd->owner = g_strdup(sd_bus_message_get_sender(message));
  bd->state = download_get_state(bd->download);
  bd->progress = download_get_progress(bd->download);
  bd->cc_required = download_get_cc_required(bd->download);
  bd->profile_path = g_strdup("/");
  bd->exported = TRUE;
  bus->downloads = g_list_prepend(bus->downloads, bd);

  /* Without tracking the download still works; it just outlives its caller. */
  r = sd_bus_track_new(bus->bus, &bd->track, on_owner_left, bd);
  if (r >= 0)
    r = sd_bus_track_add_sender(bd->track, message);
  if (r < 0)
    g_warning("bus: cannot track %s: %s", bd->owner, g_strerror(-r));

  r = sd_bus_emit_object_added(bus->bus, bd->path);
  if (r < 0)
    g_warning("bus: cannot announce %s: %s", bd->path, g_strerror(-r));
  return bd;
}

const char *bus_download_get_path(BusDownload *bd)
{
  return bd->path;
}

void bus_downloads_free_all(Bus *bus)
{
  while (bus->downloads) {
    BusDownload *bd = bus->downloads->data;

    if (!bd->ended)
      download_cancel(bd->download);
    bd->exported = FALSE; /* no signal on a connection that is closing */
    unexport(bd);
  }
}

void bus_downloads_euicc_removed(Bus *bus, guint euicc_id)
{
  GList *l = bus->downloads;

  /* Their paths are below the eUICC's: they go with it. The service ends
   * each download itself (Removed). */
  while (l) {
    BusDownload *bd = l->data;

    l = l->next;
    if (bd->euicc_id == euicc_id)
      unexport(bd);
  }
}

gchar **bus_download_paths(Bus *bus)
{
  GPtrArray *out = g_ptr_array_new();

  for (GList *l = bus->downloads; l; l = l->next) {
    BusDownload *bd = l->data;

    if (bd->exported)
      g_ptr_array_add(out, g_strdup(bd->path));
  }
  g_ptr_array_add(out, NULL);
  return (gchar **)g_ptr_array_free(out, FALSE);
}

/* Properties */

static int download1_find(sd_bus *sdbus, const char *path, const char *interface, void *user_data,
                          void **ret_found, sd_bus_error *ret_error)
{
  Bus *bus = user_data;

  if (!bus_lookup_download(bus, path))
    return 0;
  *ret_found = bus;
  return 1;
}

static int append_metadata(sd_bus_message *reply, const DownloadMetadata *m)
{
  int r;

  r = sd_bus_message_open_container(reply, 'a', "{sv}");
  if (r < 0 || !m)
    return r < 0 ? r : sd_bus_message_close_container(reply);
  r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}", "iccid", "s", bus_nonnull(m->iccid),
                            "name", "s", bus_nonnull(m->name), "service-provider", "s",
                            bus_nonnull(m->service_provider), "class", "s",
                            profile_class_to_string(m->profile_class), "icon-type", "s",
                            profile_icon_type_to_string(m->icon_type));
  if (r >= 0 && m->owner_mccmnc && *m->owner_mccmnc)
    r = sd_bus_message_append(reply, "{sv}", "owner-mcc-mnc", "s", m->owner_mccmnc);
  /* SGP.22 2.9: what the user consents to along with the profile. */
  if (r >= 0)
    r = sd_bus_message_open_container(reply, 'e', "sv");
  if (r >= 0)
    r = sd_bus_message_append(reply, "s", "policy-rules");
  if (r >= 0)
    r = sd_bus_message_open_container(reply, 'v', "as");
  if (r >= 0)
    r = sd_bus_message_append_strv(reply, m->policy_rules);
  if (r >= 0)
    r = sd_bus_message_close_container(reply);
  if (r >= 0)
    r = sd_bus_message_close_container(reply);
  if (r >= 0)
    r = sd_bus_message_append(reply, "{sv}", "policy-consent-required", "b",
                              (int)m->policy_consent_required);
  if (r >= 0 && m->icon && g_bytes_get_size(m->icon) > 0) {
    gsize size = 0;
    const void *data = g_bytes_get_data(m->icon, &size);

    r = sd_bus_message_open_container(reply, 'e', "sv");
    if (r >= 0)
      r = sd_bus_message_append(reply, "s", "icon");
    if (r >= 0)
      r = sd_bus_message_open_container(reply, 'v', "ay");
    if (r >= 0)
      r = sd_bus_message_append_array(reply, 'y', data, size);
    if (r >= 0)
      r = sd_bus_message_close_container(reply);
    if (r >= 0)
      r = sd_bus_message_close_container(reply);
  }
  if (r < 0)
    return r;
  return sd_bus_message_close_container(reply);
}

static int download1_get_property(sd_bus *sdbus, const char *path, const char *interface,
                                  const char *property, sd_bus_message *reply, void *user_data,
                                  sd_bus_error *ret_error)
{
  BusDownload *bd = bus_lookup_download(user_data, path);
  Download *d;
  const GError *error;

  if (!bd)
    return sd_bus_error_setf(ret_error, SD_BUS_ERROR_UNKNOWN_OBJECT, "No download at %s", path);
  d = bd->download;
  error = download_get_error(d);

  if (g_str_equal(property, "State"))
    return sd_bus_message_append(reply, "s", download_state_to_string(download_get_state(d)));
  if (g_str_equal(property, "Progress"))
    return sd_bus_message_append(reply, "d", download_get_progress(d));
  if (g_str_equal(property, "SmdpAddress"))
    return sd_bus_message_append(reply, "s", bus_nonnull(download_get_smdp_address(d)));
  if (g_str_equal(property, "Metadata"))
    return append_metadata(reply, download_get_metadata(d));
  if (g_str_equal(property, "ConfirmationCodeRequired"))
    return sd_bus_message_append(reply, "b", (int)download_get_cc_required(d));
  if (g_str_equal(property, "Profile")) {
    g_autofree char *profile_path = profile_path_of(bd);
    return sd_bus_message_append(reply, "o", profile_path);
  }
  if (g_str_equal(property, "Error")) {
    return sd_bus_message_append(reply, "s", error ? bus_error_name(error) : "");
  }
  if (g_str_equal(property, "ErrorMessage"))
    return sd_bus_message_append(reply, "s", error ? error->message : "");
  return sd_bus_error_setf(ret_error, SD_BUS_ERROR_UNKNOWN_PROPERTY, "No property %s", property);
}

/* Methods: the object may be gone by the time polkit answered. */

static BusDownload *call_download(BusCall *call)
{
  BusDownload *bd = call->bus ? bus_lookup_download(call->bus, call->text) : NULL;

  if (!bd) {
    g_autoptr(GError) error = NULL;
    g_set_error(&error, ESIMD_ERROR, ESIMD_ERROR_NOT_FOUND, "The download has ended and is gone");
    bus_call_return_gerror(call, error);
  }
  return bd;
}

static void accept_start(BusCall *call)
{
  BusDownload *bd = call_download(call);
  g_autoptr(GError) error = NULL;

  if (!bd)
    return;
  if (!download_accept(bd->download, call->code, &error))
    bus_call_return_gerror(call, error);
  else
    bus_call_return_empty(call);
}

static int download1_accept(sd_bus_message *message, void *user_data, sd_bus_error *ret_error)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *code = NULL;
  BusCall *call;
  int r;

  r = bus_read_download_options(message, &code, NULL, NULL, &error);
  if (r < 0)
    return r;
  if (error)
    return bus_error_invalid_gerror(ret_error, error);
  call = bus_call_new(user_data, message, accept_start);
  call->text = g_strdup(sd_bus_message_get_path(message));
  call->code = g_steal_pointer(&code);
  return bus_call_authorize_and_start(call, BUS_ACTION_INSTALL);
}

static void reject_start(BusCall *call)
{
  BusDownload *bd = call_download(call);

  if (!bd)
    return;
  if (call->number == 2)
    download_cancel(bd->download);
  else
    download_reject(bd->download, call->number == 1);
  bus_call_return_empty(call);
}

/* Reject and Cancel: its owner may always give up on a download, anyone
 * else needs the install action. number: 0 rejected, 1 postponed, 2 Cancel. */
static int start_reject(sd_bus_message *message, Bus *bus, guint number)
{
  BusDownload *bd = bus_lookup_download(bus, sd_bus_message_get_path(message));
  BusCall *call = bus_call_new(bus, message, reject_start);
  gboolean owner = bd && g_strcmp0(bd->owner, sd_bus_message_get_sender(message)) == 0;

  call->text = g_strdup(sd_bus_message_get_path(message));
  call->number = number;
  return bus_call_authorize_and_start(call, owner ? NULL : BUS_ACTION_INSTALL);
}

static int download1_reject(sd_bus_message *message, void *user_data, sd_bus_error *ret_error)
{
  const char *reason = NULL;
  int r;

  r = sd_bus_message_read(message, "s", &reason);
  if (r < 0)
    return r;
  /* SGP.22 5.7.14 CancelSessionReason: the two a user gives. */
  if (g_str_equal(reason, "rejected"))
    return start_reject(message, user_data, 0);
  if (g_str_equal(reason, "postponed"))
    return start_reject(message, user_data, 1);
  return sd_bus_error_setf(ret_error, SD_BUS_ERROR_INVALID_ARGS,
                           "The reason is \"rejected\" or \"postponed\", not \"%s\"", reason);
}

static int download1_cancel(sd_bus_message *message, void *user_data, sd_bus_error *ret_error)
{
  return start_reject(message, user_data, 2);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST

static const sd_bus_vtable download1_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("State", "s", download1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Progress", "d", download1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("SmdpAddress", "s", download1_get_property, 0, CONST),
    SD_BUS_PROPERTY("Metadata", "a{sv}", download1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("ConfirmationCodeRequired", "b", download1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Profile", "o", download1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Error", "s", download1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("ErrorMessage", "s", download1_get_property, 0, EMITS),
    SD_BUS_METHOD_WITH_ARGS("Accept", SD_BUS_ARGS("a{sv}", options), SD_BUS_NO_RESULT,
                            download1_accept, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Reject", SD_BUS_ARGS("s", reason), SD_BUS_NO_RESULT, download1_reject,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, download1_cancel,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

gboolean bus_download1_export(Bus *bus, GError **error)
{
  return bus_add_vtable(bus, BUS_EUICC_PREFIX, BUS_DOWNLOAD_INTERFACE, download1_vtable,
                        download1_find, error);
}
