/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One NetworkManager connection per eSIM profile, kept over NetworkManager's
 * D-Bus API (org.freedesktop.NetworkManager.Settings) without libnm.
 *
 * A connection esimd makes is a gsm connection named "NAME (eSIM)" with
 * gsm.sim-id = the profile's ICCID, so that NetworkManager starts it only
 * while that profile is the enabled one on the modem; it carries esimd's
 * mark, the "user" setting's data key NM_PROFILE_MARK_KEY = ICCID. esimd
 * changes and deletes only connections with that mark. When the user already
 * has a connection for the ICCID (gsm.sim-id), esimd answers that one and
 * makes none.
 *
 * NetworkManager not running (or no system bus) is not an error: ensure
 * answers "/", remove does nothing, and the appeared function tells the
 * caller when NetworkManager comes (back), so that it can ensure again.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* The key of the "user" setting's data that marks esimd's connections. */
#define NM_PROFILE_MARK_KEY "org.esimd.profile"

typedef struct _NmProfiles NmProfiles;

/*
 * bus_address: the bus NetworkManager is on; NULL means
 * $ESIMD_NM_BUS_ADDRESS when set (tests), else the system bus. Starts
 * connecting at once, so that the appeared function can be called.
 */
NmProfiles *nm_profiles_new(const char *bus_address);
/* Operations still queued end with G_IO_ERROR_CLOSED; one in flight ends as
 * if NetworkManager had left the bus. */
void nm_profiles_free(NmProfiles *nm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(NmProfiles, nm_profiles_free)

/*
 * func(data) is called each time NetworkManager appears on the bus and is
 * ready for ensure (its Settings object answers): when it is found running
 * after nm_profiles_new(), and after each (re)start. An ensure made while it
 * starts answers "/"; the call here follows.
 */
void nm_profiles_set_appeared_func(NmProfiles *nm, void (*func)(gpointer), gpointer data);

/* The mobile-broadband-provider-info file the APN comes from; NULL: the
 * installed one. */
void nm_profiles_set_apn_db(NmProfiles *nm, const char *db_path);

typedef struct {
  const char *iccid;
  const char *name;         /* nickname, else profile name: the connection is "NAME (eSIM)" */
  const char *owner_mccmnc; /* "" or NULL when unknown */
} NmProfileSpec;

/*
 * Makes sure a gsm connection exists for the profile and says what it
 * should: esimd's own is created or brought up to date (name, operator,
 * APN); a user's with the same sim-id is answered as it is. Answers the
 * connection's object path, or "/" when NetworkManager is not running.
 * Operations run one at a time in call order.
 */
void nm_profiles_ensure(NmProfiles *nm, const NmProfileSpec *spec, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer user_data);
gchar *nm_profiles_ensure_finish(NmProfiles *nm, GAsyncResult *res, GError **error);

/* Deletes the connection(s) esimd made for iccid, never one it did not make.
 * TRUE also when there was none or NetworkManager is not running. */
void nm_profiles_remove(NmProfiles *nm, const char *iccid, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer user_data);
gboolean nm_profiles_remove_finish(NmProfiles *nm, GAsyncResult *res, GError **error);

/*
 * The APN that mobile-broadband-provider-info gives for mccmnc (MCC then MNC,
 * digits only) when it knows exactly one internet APN for it, else NULL (no
 * entry, several, or the file unreadable). db_path NULL: the installed
 * serviceproviders.xml.
 */
gchar *nm_apn_lookup(const char *db_path, const char *mccmnc);

G_END_DECLS
