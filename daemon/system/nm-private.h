/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the two files of the NetworkManager client share (nm.c: the
 * connection, the queue, ensure and remove; nm-read.c: the scan of
 * NetworkManager's connections and the APN database): the client's state and
 * the operations' contexts.
 */
#pragma once

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

void nm_connect_start(NmProfiles *nm);
gboolean nm_mccmnc_is_valid(const char *mccmnc);
void nm_op_return_error(GTask *task, GError *error);
gboolean nm_error_is_nm_gone(const GError *error);
gboolean nm_scan_connect(GTask *task, gboolean *gone);
void nm_scan_list(GTask *task);
gboolean nm_scan_read_next(GTask *task);
gboolean nm_scan_still_connected(Scan *scan);
const char *nm_settings_get_string(GVariant *settings, const char *section, const char *key);
