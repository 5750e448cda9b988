/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the files of bus/ share among themselves; nothing outside bus/ may
 * include this.
 */
#pragma once

#include <systemd/sd-bus.h>

#include "bus.h"

G_BEGIN_DECLS

#define BUS_EUICC_PREFIX "/org/esimd/euicc"
#define BUS_MANAGER_INTERFACE "org.esimd.Manager1"
#define BUS_EUICC_INTERFACE "org.esimd.Euicc1"
#define BUS_PROFILE_INTERFACE "org.esimd.Profile1"
#define BUS_DOWNLOAD_INTERFACE "org.esimd.Download1"
/* Download1.Error of a cancelled download. */

/* The polkit action of switching profiles (dbus/org.esimd.policy). */
#define BUS_ACTION_SWITCH "org.esimd.profile.switch"
/* ... and of installing them (Download, Accept). */
#define BUS_ACTION_INSTALL "org.esimd.profile.install"

typedef struct _BusDownload BusDownload;

struct _Bus {
  sd_bus *bus;
  GSource *source;
  Manager *manager;
  GPtrArray *slots; /* sd_bus_slot*: vtables, enumerator, object manager, matches */
  GList *calls;     /* BusCall*: method calls not answered yet */
  BusDisconnectedFunc disconnected_func;
  gpointer disconnected_data;
  gboolean name_owned;
  GList *downloads; /* BusDownload*: on the bus, or ended and lingering */
  guint last_download_id;
};

/* sd-glib.c: the connection as a GSource of the thread-default main context. */
GSource *bus_source_new(sd_bus *bus);

/* object-manager.c: object paths (counters, never EID or ICCID) and the tree. */
char *bus_path_euicc(guint euicc_id);
char *bus_path_profile(guint euicc_id, guint profile_id);
gboolean bus_path_parse_euicc(const char *path, guint *euicc_id);
gboolean bus_path_parse_profile(const char *path, guint *euicc_id, guint *profile_id);
/* The eUICC / profile an object path names, NULL when there is none. */
Euicc *bus_lookup_euicc(Bus *bus, const char *path);
const Profile *bus_lookup_profile(Bus *bus, const char *path, Euicc **ret_euicc);
gboolean bus_object_manager_export(Bus *bus, GError **error);
void bus_emit_euicc_added(Bus *bus, Euicc *euicc);
void bus_emit_euicc_removed(Bus *bus, Euicc *euicc);
void bus_emit_profile_added(Bus *bus, Euicc *euicc, const Profile *profile);
void bus_emit_profile_removed(Bus *bus, Euicc *euicc, const Profile *profile);

/* manager1.c, euicc1.c, profile1.c: one vtable each. */
gboolean bus_manager1_export(Bus *bus, GError **error);
/* leaving: an eUICC the service reports gone while it is still in its list
 * (left out of the Euiccs sent), or NULL. */
void bus_manager1_emit_euiccs_changed(Bus *bus, Euicc *leaving);
gboolean bus_euicc1_export(Bus *bus, GError **error);
void bus_euicc1_emit_changed(Bus *bus, Euicc *euicc, EuiccChanged what);
void bus_euicc1_emit_notification_delivered(Bus *bus, Euicc *euicc, guint seq,
                                            const char *operation, const char *iccid,
                                            const char *address);
gboolean bus_profile1_export(Bus *bus, GError **error);

/* download1.c: the Download1 objects, one per Euicc1.Download call. */
gboolean bus_download1_export(Bus *bus, GError **error);
char *bus_path_download(guint euicc_id, guint download_id);
BusDownload *bus_lookup_download(Bus *bus, const char *path);
/* Starts the download for the caller of message and puts it on the bus;
 * NULL with the service's error when it cannot start. */
BusDownload *bus_download_start(Bus *bus, Euicc *euicc, sd_bus_message *message,
                                const char *activation_code, const DownloadOptions *options,
                                GError **error);
const char *bus_download_get_path(BusDownload *bd);
/* NULL-terminated, for the node enumerator. */
gchar **bus_download_paths(Bus *bus);
void bus_downloads_euicc_removed(Bus *bus, guint euicc_id);
/* At shutdown: cancels what still runs, takes everything off the bus. */
void bus_downloads_free_all(Bus *bus);
void bus_profile1_emit_changed(Bus *bus, Euicc *euicc, const Profile *profile, ProfileChanged what);

/* args.c: a caller's arguments, checked before anything else is done;
 * FALSE with an ESIMD_ERROR_INVALID_ARGS saying what is wrong. */
gboolean bus_check_smdp_address(const char *address, GError **error);
gboolean bus_check_nickname(const char *nickname, GError **error);
gboolean bus_check_reset_options(guint32 options, GError **error);
/* Replies InvalidArgs with the check's message. */
int bus_error_invalid_gerror(sd_bus_error *ret_error, const GError *error);
/* Reads the a{sv} options of Euicc1.Download and Download1.Accept
 * (confirmation-code s, accept b, enable b; a NULL out pointer: the key is
 * not allowed there). Negative errno when the message cannot be read; 0
 * with error set (INVALID_ARGS) for an unknown key or a wrong type. */
int bus_read_download_options(sd_bus_message *message, gchar **confirmation_code, gboolean *accept,
                              gboolean *enable, GError **error);

/* Keeps an sd_bus_slot until bus_free(). */
void bus_keep_slot(Bus *bus, sd_bus_slot *slot);
/* Exports an interface's vtable on path, or with find on every object below
 * path (a fallback vtable); the slot is kept until bus_free(). */
gboolean bus_add_vtable(Bus *bus, const char *path, const char *interface,
                        const sd_bus_vtable *vtable, sd_bus_object_find_t find, GError **error);

/* Which properties of an interface a change reported by the service touches:
 * bit is an EuiccChanged or ProfileChanged bit. */
typedef struct {
  guint bit;
  const char *property;
} BusPropertyChange;

/* Emits PropertiesChanged on path for every property whose bit is in what. */
void bus_emit_properties_changed(Bus *bus, const char *path, const char *interface,
                                 const BusPropertyChange *table, gsize n_table, guint what);

/* The service's NULL string as D-Bus carries it. */
static inline const char *bus_nonnull(const char *s)
{
  return s ? s : "";
}
/* A GError from an sd-bus return code. */
gboolean bus_set_gerror_from_errno(GError **error, int r, const char *what);

/* errors.c: the one table from ESIMD_ERROR codes to D-Bus error names. */
void bus_errors_register(void);
const char *bus_error_name(const GError *error);
/* Fills the D-Bus error for a GError; returns the negative errno sd-bus
 * expects from a method handler. */
int bus_error_from_gerror(sd_bus_error *ret_error, const GError *error);

/*
 * polkit.c: one helper that decides whether the sender of a method call may
 * perform an action. Root passes without asking; everyone else is asked
 * about through org.freedesktop.PolicyKit1, asynchronously.
 */
typedef struct _BusPolkitCheck BusPolkitCheck;
/* allowed TRUE, or FALSE with error set (AccessDenied or alike). */
typedef void (*BusPolkitDone)(gboolean allowed, const sd_bus_error *error, gpointer user_data);
/* done runs later, from the main loop; NULL when the question cannot even be
 * sent (done never runs then). */
BusPolkitCheck *bus_polkit_check(sd_bus *bus, sd_bus_message *message, const char *action,
                                 BusPolkitDone done, gpointer user_data);
/* The same, but never with an authentication dialog: for a question whose
 * "no" still lets the call go on, with less. */
BusPolkitCheck *bus_polkit_check_quietly(sd_bus *bus, sd_bus_message *message, const char *action,
                                         BusPolkitDone done, gpointer user_data);
/* Stops a check; its callback is never called. */
void bus_polkit_check_free(BusPolkitCheck *check);

/*
 * call.c: a method call in flight. It holds the message, authorizes the
 * sender, starts the service operation and replies from its callback. When
 * the caller leaves the bus, its cancellable fires so the service drops the
 * operation before it reaches the card.
 */
typedef struct _BusCall BusCall;
typedef void (*BusCallStartFunc)(BusCall *call);

struct _BusCall {
  Bus *bus; /* NULL once the bus is gone and only the service holds the call */
  sd_bus_message *message;
  GCancellable *cancellable;
  sd_bus_track *track;
  BusPolkitCheck *polkit;
  BusCallStartFunc start;
  gboolean started; /* handed to the service, which will call back */
  /* bus_call_start_asking(): polkit's answer lets the call go on anyway */
  gboolean ask_only;
  gboolean authorized; /* polkit's answer (root: yes) */
  /* What the operation needs: the ids from the object path, the rest filled
   * by the method handler. */
  gboolean on_euicc; /* the path names an eUICC (or one of its profiles) */
  Euicc *euicc;      /* resolved when the call starts */
  guint euicc_id;
  guint profile_id;
  guint number;
  gchar *text;
  gchar *code;  /* a confirmation code (Download, Accept) */
  GArray *seqs; /* guint */
};

/* Takes the eUICC and profile ids from the message's object path. */
BusCall *bus_call_new(Bus *bus, sd_bus_message *message, BusCallStartFunc start);
/* Asks polkit about action (NULL: anybody may) and then starts the call, with
 * call->euicc resolved when the path names an eUICC (the call replies Removed
 * instead when it went away meanwhile). Returns what a method handler returns. */
int bus_call_authorize_and_start(BusCall *call, const char *action);
/* Asks polkit about action without ever asking for a password, and starts
 * the call whatever the answer, with call->authorized saying what it was:
 * for calls that anyone may make but that do more for those authorized
 * (Refresh, Scan). Returns what a method handler returns. */
int bus_call_start_asking(BusCall *call, const char *action);
/* Each replies (unless the caller left) and frees the call. */
void bus_call_return(BusCall *call, sd_bus_message *reply);
void bus_call_return_empty(BusCall *call);
void bus_call_return_gerror(BusCall *call, const GError *error);
/* Replies with an array of item_type, one element appended per item. */
typedef int (*BusAppendFunc)(sd_bus_message *reply, gconstpointer item);
void bus_call_return_array(BusCall *call, const char *item_type, GPtrArray *items,
                           BusAppendFunc append);
/* GAsyncReadyCallback for every euicc_* operation finished by
 * euicc_operation_finish(): replies with nothing or the error. */
void bus_call_operation_done(GObject *source, GAsyncResult *res, gpointer user_data);
/* At shutdown: cancels every call still pending and frees those the service
 * does not hold. */
void bus_calls_free_all(Bus *bus);

G_END_DECLS
