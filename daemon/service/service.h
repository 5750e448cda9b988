/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The service layer's face: what main.c and bus/ may use. The manager owns
 * the modems (one Transport each), the eUICCs found on their slots and the
 * profiles cached for each eUICC. Every card operation goes through the
 * eUICC's FIFO queue; every getter here reads the cache and never touches the
 * card. Changes are reported through one ServiceListener (bus/ turns them
 * into PropertiesChanged / InterfacesAdded / InterfacesRemoved / signals).
 */
#pragma once

#include <gio/gio.h>

#include "discovery/discovery.h"
#include "system/mm.h"
#include "system/nm.h"
#include "transport/transport.h"

G_BEGIN_DECLS

/* One error domain for everything a D-Bus caller can be told; bus/ maps each
 * code to one org.esimd.Error.* name. Messages are for people. */
#define ESIMD_ERROR (esimd_error_quark())
GQuark esimd_error_quark(void);

typedef enum {
  ESIMD_ERROR_FAILED,
  ESIMD_ERROR_NOT_FOUND,               /* no such profile / notification */
  ESIMD_ERROR_PROFILE_ENABLED,         /* delete or enable of an enabled profile */
  ESIMD_ERROR_PROFILE_NOT_ENABLED,     /* disable of a disabled profile */
  ESIMD_ERROR_DISALLOWED_BY_POLICY,    /* PPR1/PPR2, or the card's own refusal */
  ESIMD_ERROR_CAT_BUSY,                /* the card's proactive session is busy */
  ESIMD_ERROR_CARD_ERROR,              /* the card answered an error not listed above */
  ESIMD_ERROR_TRANSPORT,               /* the modem failed to carry the command */
  ESIMD_ERROR_TIMEOUT,                 /* the modem or card did not answer in time */
  ESIMD_ERROR_REMOVED,                 /* the modem went away */
  ESIMD_ERROR_NOT_SUPPORTED,           /* the modem or card cannot do this */
  ESIMD_ERROR_SMDP_UNREACHABLE,        /* the SM-DP+ could not be reached */
  ESIMD_ERROR_SMDP_REJECTED,           /* the SM-DP+ answered with an error */
  ESIMD_ERROR_INVALID_ARGS,            /* the caller's arguments are wrong */
  ESIMD_ERROR_CANCELLED,               /* the caller left before the card was asked */
  ESIMD_ERROR_INVALID_ACTIVATION_CODE, /* not an SGP.22 4.1 activation code */
  ESIMD_ERROR_CONFIRMATION_CODE_WRONG, /* missing or wrong confirmation code (SGP.22 3.1.3.3) */
  ESIMD_ERROR_DOWNLOAD_REJECTED,       /* the SM-DP+ or the card refused the download */
} EsimdError;

typedef enum {
  PROFILE_STATE_DISABLED,
  PROFILE_STATE_ENABLED,
} ProfileState;

typedef enum {
  PROFILE_CLASS_TEST,
  PROFILE_CLASS_PROVISIONING,
  PROFILE_CLASS_OPERATIONAL,
} ProfileClass;

typedef enum {
  PROFILE_ICON_NONE,
  PROFILE_ICON_JPG,
  PROFILE_ICON_PNG,
} ProfileIconType;

/* One cached profile. Read-only outside service/; valid until profile_removed. */
typedef struct {
  guint id;        /* M in /org/esimd/euicc/N/profile/M; never reused by this eUICC */
  gchar *iccid;    /* digits, no padding */
  gchar *isdp_aid; /* upper-case hex */
  ProfileState state;
  ProfileClass profile_class;
  gchar *name;
  gchar *service_provider;
  gchar *nickname;
  gchar *owner_mccmnc; /* "" when the card does not say */
  ProfileIconType icon_type;
  GBytes *icon;      /* empty when none */
  gchar *connection; /* the NetworkManager connection kept for it, "/" when none */
  /* Its Profile Policy Rules (SGP.22 2.9.1) as the card lists them,
   * NULL-terminated, maybe empty; the names of DownloadMetadata's
   * policy_rules: "disable-not-allowed" (PPR1), "delete-not-allowed"
   * (PPR2), "delete-on-disable" (PPR3). */
  gchar **policy_rules;
} Profile;

const char *profile_state_to_string(ProfileState state);
const char *profile_class_to_string(ProfileClass profile_class);
const char *profile_icon_type_to_string(ProfileIconType type);

/* EUICCInfo2 as the API shows it (Euicc1.Info). Strings are "" when absent. */
typedef struct {
  gchar *svn; /* "2.2.0" */
  gchar *profile_version;
  gchar *firmware_version;
  gchar *pp_version;
  gchar *sas_accreditation;
  gchar *category;       /* "other" | "basic" | "medium" | "contactless" | "" */
  gint64 free_nv_memory; /* bytes, -1 when unknown */
  gint64 free_volatile_memory;
  gint64 installed_applications;
  gchar **ci_pkid_verification; /* hex key ids, NULL-terminated */
  gchar **ci_pkid_signing;
} EuiccInfo;

typedef struct _Euicc Euicc;
typedef struct _Manager Manager;

/* Bits of what changed, for euicc_changed / profile_changed. */
typedef enum {
  EUICC_CHANGED_EID = 1 << 0,
  EUICC_CHANGED_SLOT_ACTIVE = 1 << 1,
  EUICC_CHANGED_PROFILES = 1 << 2,
  EUICC_CHANGED_ENABLED_PROFILE = 1 << 3,
  EUICC_CHANGED_DEFAULT_SMDP_ADDRESS = 1 << 4,
  EUICC_CHANGED_INFO = 1 << 5,
  EUICC_CHANGED_PENDING_NOTIFICATIONS = 1 << 6,
  EUICC_CHANGED_ROOT_SMDS_ADDRESS = 1 << 7,
  EUICC_CHANGED_MODEM = 1 << 8, /* ModemManager's modem object for it */
} EuiccChanged;

typedef enum {
  PROFILE_CHANGED_STATE = 1 << 0,
  PROFILE_CHANGED_NICKNAME = 1 << 1,
  PROFILE_CHANGED_OTHER = 1 << 2,      /* name, provider, class, icon, owner after a refresh */
  PROFILE_CHANGED_CONNECTION = 1 << 3, /* its NetworkManager connection */
  PROFILE_CHANGED_POLICY_RULES = 1 << 4,
} ProfileChanged;

typedef struct {
  /* Its cache is filled by then, profiles included (no profile_added for
   * each). An eUICC in an inactive slot comes with its EID only. */
  void (*euicc_added)(Euicc *euicc, gpointer user_data);
  /* Called before the Euicc is freed; its profiles are gone with it (no
   * profile_removed for each). */
  void (*euicc_removed)(Euicc *euicc, gpointer user_data);
  void (*euicc_changed)(Euicc *euicc, EuiccChanged what, gpointer user_data);
  void (*profile_added)(Euicc *euicc, const Profile *profile, gpointer user_data);
  void (*profile_removed)(Euicc *euicc, const Profile *profile, gpointer user_data);
  void (*profile_changed)(Euicc *euicc, const Profile *profile, ProfileChanged what,
                          gpointer user_data);
  void (*notification_delivered)(Euicc *euicc, guint seq, const char *operation, const char *iccid,
                                 const char *address, gpointer user_data);
} ServiceListener;

typedef struct {
  gboolean auto_send_notifications; /* deliver notifications after each operation */
  guint transport_timeout_ms;       /* 0 = backend default */
  gboolean full_identifiers;        /* log EIDs/ICCIDs unshortened */
  /* ES9+ delivery. A PEM file of CA certificates trusted for the
   * SM-DP+ TLS besides the system store; NULL for none. */
  const char *smdp_ca_file;
  /* Tests only: "host:port" every SM-DP+ connection goes to instead of the
   * address's own host (TLS still checks the address's name); NULL: off. */
  const char *smdp_host_override;
  /* A directory of PEM CA certificates (*.pem, *.crt) trusted for the
   * SM-DP+ TLS besides the system store and smdp_ca_file: where the GSMA CI
   * roots go. NULL, or a missing directory: none. */
  const char *smdp_ca_dir;
  /* The first retry after an SM-DP+ could not be reached, in seconds; each
   * further one waits twice as long, at most an hour. 0: 30 s. */
  guint notify_retry_first_s;
  /* How long a modem whose AT port ModemManager owns stays held after the
   * last operation, so that a burst of calls is served in one hold; 0: 2 s. */
  guint linger_ms;
  /* After a switch that ModemManager was asked to let go of the modem for,
   * how long the switch waits for ModemManager to report the new SIM (or
   * none) before it answers anyway; 0: 30 s. */
  guint sim_wait_ms;
  /* Keep one NetworkManager connection per profile (system/nm.h): made
   * when the profile appears, renamed with it, removed with it. */
  gboolean network_manager;
  /* ModemManager coexistence (system/mm.h). Borrowed, and must
   * outlive the manager. Enable, Disable and a ResetMemory that deletes
   * profiles inhibit the modem around the switch. An AT port that
   * ModemManager holds is used only while an operation (or a probe) needs
   * it: the modem is inhibited and the port opened when it starts, and the
   * port is closed and the modem given back once the eUICC's queue has been
   * idle a moment. NULL: ModemManager is never asked. */
  MmClient *mm;
} ManagerConfig;

Manager *manager_new(const ManagerConfig *config, const ServiceListener *listener,
                     gpointer user_data);
void manager_free(Manager *manager);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Manager, manager_free)

/* Adds a modem and starts probing it (open, slots, ISD-R on each slot). */
void manager_add_modem(Manager *manager, const ModemSpec *spec);
/* Discovery saw the modem go (or its control port change). Its
 * eUICCs go away as after an unplug; an unknown port is ignored. */
void manager_remove_modem(Manager *manager, const char *port);
/* Completes once every modem added so far has been probed once (found or
 * not): main.c sends READY=1 then. */
void manager_wait_probed(Manager *manager, GCancellable *cancellable, GAsyncReadyCallback cb,
                         gpointer user_data);
gboolean manager_wait_probed_finish(Manager *manager, GAsyncResult *res, GError **error);
/*
 * Whether reading the card may disturb the user of the modem: a modem whose
 * AT port ModemManager owns is read only by taking the port and inhibiting
 * the modem (no data, no calls meanwhile). A caller without authorization to
 * change anything gets SERVICE_READ_QUIET: such a modem is then served from
 * the cache, unless esimd holds it at that moment anyway.
 */
typedef enum {
  SERVICE_READ_MAY_DISTURB,
  SERVICE_READ_QUIET,
} ServiceReadMode;

/* Manager1.Scan(): probes every known modem again (QUIET: except those it
 * would have to take from ModemManager). */
void manager_scan(Manager *manager, ServiceReadMode mode, GCancellable *cancellable,
                  GAsyncReadyCallback cb, gpointer user_data);
gboolean manager_scan_finish(Manager *manager, GAsyncResult *res, GError **error);
/* Closes every channel and port; completes when all are closed. */
void manager_shutdown(Manager *manager, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer user_data);
gboolean manager_shutdown_finish(Manager *manager, GAsyncResult *res, GError **error);

/* The eUICCs in id order (borrowed). */
GPtrArray *manager_get_euiccs(Manager *manager);
Euicc *manager_lookup_euicc(Manager *manager, guint id);

/* Cached state of one eUICC. */
guint euicc_get_id(Euicc *euicc); /* N in /org/esimd/euicc/N */
const char *euicc_get_eid(Euicc *euicc);
const char *euicc_get_transport(Euicc *euicc); /* qmi | qrtr | mbim | at */
const char *euicc_get_port(Euicc *euicc);
const char *euicc_get_device(Euicc *euicc);
guint euicc_get_slot(Euicc *euicc);
gboolean euicc_get_slot_active(Euicc *euicc);
GPtrArray *euicc_get_profiles(Euicc *euicc); /* const Profile*, in id order, borrowed */
const Profile *euicc_lookup_profile(Euicc *euicc, guint id);
const Profile *euicc_get_enabled_profile(Euicc *euicc); /* NULL when none */
const char *euicc_get_default_smdp_address(Euicc *euicc);
const char *euicc_get_root_smds_address(Euicc *euicc);
const EuiccInfo *euicc_get_info(Euicc *euicc);
guint euicc_get_pending_notifications(Euicc *euicc);
/* ModemManager's object path of the modem this eUICC is on; "/" when
 * ModemManager does not manage it (or is not running). */
const char *euicc_get_mm_modem(Euicc *euicc);

/*
 * Card operations: each is queued behind the ones before it on this eUICC and
 * reaches the card only when its turn comes; one cancelled before its turn
 * (the caller left the bus) never reaches the card. Errors are ESIMD_ERROR.
 */
void euicc_refresh(Euicc *euicc, ServiceReadMode mode, GCancellable *cancellable,
                   GAsyncReadyCallback cb, gpointer user_data);
void euicc_set_default_smdp_address(Euicc *euicc, const char *address, GCancellable *cancellable,
                                    GAsyncReadyCallback cb, gpointer user_data);
/* options: SGP.22 eUICCMemoryReset bits: 1<<0 operational profiles, 1<<1
 * field-loaded test profiles, 1<<2 default SM-DP+ address. */
void euicc_reset_memory(Euicc *euicc, guint options, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer user_data);
void euicc_remove_notification(Euicc *euicc, guint seq, GCancellable *cancellable,
                               GAsyncReadyCallback cb, gpointer user_data);
void euicc_profile_enable(Euicc *euicc, guint profile_id, GCancellable *cancellable,
                          GAsyncReadyCallback cb, gpointer user_data);
void euicc_profile_disable(Euicc *euicc, guint profile_id, GCancellable *cancellable,
                           GAsyncReadyCallback cb, gpointer user_data);
void euicc_profile_delete(Euicc *euicc, guint profile_id, GCancellable *cancellable,
                          GAsyncReadyCallback cb, gpointer user_data);
void euicc_profile_set_nickname(Euicc *euicc, guint profile_id, const char *nickname,
                                GCancellable *cancellable, GAsyncReadyCallback cb,
                                gpointer user_data);
/* The _finish for every operation above that returns nothing. */
gboolean euicc_operation_finish(Euicc *euicc, GAsyncResult *res, GError **error);

typedef struct {
  guint seq;
  gchar *operation; /* install | enable | disable | delete */
  gchar *address;   /* the SM-DP+ to tell */
  gchar *iccid;
} EuiccNotification;

void euicc_notification_free(EuiccNotification *n);

/* Reads the card's list (it is not cached in full). Returns EuiccNotification*. */
void euicc_list_notifications(Euicc *euicc, GCancellable *cancellable, GAsyncReadyCallback cb,
                              gpointer user_data);
GPtrArray *euicc_list_notifications_finish(Euicc *euicc, GAsyncResult *res, GError **error);

typedef struct {
  guint seq;
  gboolean delivered;
  gchar *message; /* what happened, for people */
} EuiccDeliveryResult;

void euicc_delivery_result_free(EuiccDeliveryResult *r);

/*
 * Delivers the notifications with these sequence numbers (all when n_seqs is
 * 0) to their SM-DP+ and removes each from the card once the SM-DP+
 * confirmed it. Returns EuiccDeliveryResult*, one per notification tried and
 * one per sequence number the card does not hold.
 *
 * It fails as a whole, with nothing delivered and every notification kept on
 * the card, when the answer is one thing: at least one notification was
 * tried, every one asked for was on the card, and either no SM-DP+ could be
 * reached (ESIMD_ERROR_SMDP_UNREACHABLE) or every one refused
 * (ESIMD_ERROR_SMDP_REJECTED). Anything mixed is answered per notification.
 * It also fails when the card's list cannot be read, or the ES9+ client
 * cannot be set up (ESIMD_ERROR_FAILED).
 */
void euicc_send_notifications(Euicc *euicc, const guint *seqs, gsize n_seqs,
                              GCancellable *cancellable, GAsyncReadyCallback cb,
                              gpointer user_data);
GPtrArray *euicc_send_notifications_finish(Euicc *euicc, GAsyncResult *res, GError **error);

/*
 * Profile download (SGP.22 3.1.3): one operation on the eUICC's queue that
 * holds the card from the first ES10 command to the last, network waits
 * included. A failure after the card authenticated the server ends with
 * CancelSession on the card and on the SM-DP+.
 */
typedef enum {
  DOWNLOAD_STATE_AUTHENTICATING,
  DOWNLOAD_STATE_CONFIRMING,
  DOWNLOAD_STATE_DOWNLOADING,
  DOWNLOAD_STATE_INSTALLING,
  DOWNLOAD_STATE_DONE,
  DOWNLOAD_STATE_FAILED,
  DOWNLOAD_STATE_CANCELLED,
} DownloadState;

const char *download_state_to_string(DownloadState state);

/* What the SM-DP+ says the profile is (StoreMetadataRequest, SGP.22 5.5.3). */
typedef struct {
  gchar *iccid;
  gchar *name;
  gchar *service_provider;
  ProfileClass profile_class;
  ProfileIconType icon_type;
  GBytes *icon;        /* empty when none */
  gchar *owner_mccmnc; /* "" when not given */
  /* Profile Policy Rules (SGP.22 2.9.1), NULL-terminated, maybe empty:
   * "disable-not-allowed" (PPR1), "delete-not-allowed" (PPR2),
   * "delete-on-disable" (PPR3) */
  gchar **policy_rules;
  /* The eUICC's RAT wants the user's consent to them: the download waits
   * for Accept even when accept was given up front. */
  gboolean policy_consent_required;
} DownloadMetadata;

typedef struct _Download Download; /* reference counted */

typedef struct {
  const char *confirmation_code; /* NULL: none given (yet) */
  gboolean accept;               /* do not pause at CONFIRMING */
  gboolean enable;               /* enable the profile once installed */
} DownloadOptions;

typedef void (*DownloadChangedFunc)(Download *d, gpointer data);

/* NULL with error (ESIMD_ERROR_INVALID_ACTIVATION_CODE, ...) when it cannot
 * start; changed() is called from the main loop whenever the state,
 * progress, metadata, profile or error change. */
Download *euicc_download(Euicc *euicc, const char *activation_code, const DownloadOptions *options,
                         DownloadChangedFunc changed, gpointer data, GError **error);
DownloadState download_get_state(Download *d);
gdouble download_get_progress(Download *d);
const char *download_get_smdp_address(Download *d);
/* NULL until authenticateClient answered. */
const DownloadMetadata *download_get_metadata(Download *d);
gboolean download_get_cc_required(Download *d);
/* Once installed (and while the profile exists). */
const Profile *download_get_profile(Download *d);
/* Once failed or cancelled. */
const GError *download_get_error(Download *d);
/* Goes on from CONFIRMING; the code when the SM-DP+ wants one (NULL: the
 * one given at the start). FALSE when not waiting for consent. */
gboolean download_accept(Download *d, const char *confirmation_code, GError **error);
/* From CONFIRMING: endUserRejection, or postponed. */
void download_reject(Download *d, gboolean postponed);
/* At any time; after the server was authenticated the session is cancelled
 * (postponed) on both sides. */
void download_cancel(Download *d);
Download *download_ref(Download *d);
void download_unref(Download *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Download, download_unref)

G_END_DECLS
