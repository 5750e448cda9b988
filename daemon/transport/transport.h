/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The APDU channel to a UICC behind a modem. One interface, asynchronous on
 * the caller's thread-default GMainContext, every call cancellable; the
 * backends (qmi.c, mbim.c, at.c) fill in TransportOps. Nothing here knows
 * what the APDUs mean: that is iso7816.c and es10/.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define TRANSPORT_ERROR (transport_error_quark())
GQuark transport_error_quark(void);

typedef enum {
  TRANSPORT_ERROR_FAILED,
  TRANSPORT_ERROR_TIMEOUT,         /* the modem did not answer in time */
  TRANSPORT_ERROR_PORT_GONE,       /* the port closed or vanished */
  TRANSPORT_ERROR_CHANNEL_REFUSED, /* no free logical channel */
  TRANSPORT_ERROR_AID_NOT_FOUND,   /* the card has no application with that AID */
  TRANSPORT_ERROR_NOT_SUPPORTED,   /* the modem lacks the command or the slot */
  TRANSPORT_ERROR_PROTOCOL,        /* the modem answered something malformed */
  TRANSPORT_ERROR_BUSY,            /* another program holds the port */
  TRANSPORT_ERROR_NO_CARD,         /* the slot is empty */
} TransportError;

typedef enum {
  TRANSPORT_KIND_QMI,
  TRANSPORT_KIND_QRTR,
  TRANSPORT_KIND_MBIM,
  TRANSPORT_KIND_AT,
} TransportKind;

typedef enum {
  TRANSPORT_OPEN_FLAGS_NONE = 0,
  /* Open the port directly, not through qmi-proxy / mbim-proxy. */
  TRANSPORT_OPEN_FLAGS_NO_PROXY = 1 << 0,
  /* Added: AT only. The modem's +CCHO/+CGLA are broken (discovery's
   * ESIMD_AT_CSIM_ONLY): logical channels go through MANAGE CHANNEL and
   * +CSIM, and +CCHO is never tried. The AT backend reads it from the
   * Transport's flags field when the port is opened. */
  TRANSPORT_OPEN_FLAGS_AT_CSIM_ONLY = 1 << 1,
} TransportOpenFlags;

typedef enum {
  TRANSPORT_TRISTATE_UNKNOWN = -1,
  TRANSPORT_TRISTATE_NO = 0,
  TRANSPORT_TRISTATE_YES = 1,
} TransportTristate;

typedef struct {
  guint slot; /* physical slot, 1-based */
  gboolean card_present;
  TransportTristate is_euicc; /* as far as the modem knows */
  gchar *eid;                 /* 32 hex digits when the modem reports it, else NULL */
  gboolean active;            /* the modem uses this slot now */
} TransportSlot;

void transport_slot_free(TransportSlot *slot);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TransportSlot, transport_slot_free)

/*
 * The radio access technologies a modem supports, as far as it tells
 * (transport_get_rats). NR says which core network when the modem does:
 * NR_NSA is NR anchored on LTE with the 4G core, NR_SA with the 5G core.
 */
typedef enum {
  TRANSPORT_RAT_GERAN = 1 << 0,
  TRANSPORT_RAT_UTRAN = 1 << 1,
  TRANSPORT_RAT_EUTRAN = 1 << 2,
  TRANSPORT_RAT_NR_NSA = 1 << 3,
  TRANSPORT_RAT_NR_SA = 1 << 4,
} TransportRat;

typedef struct _Transport Transport;

/* Called once when the backend sees its port go away (unplug, crash, EOF). */
typedef void (*TransportRemovedFunc)(Transport *transport, gpointer user_data);

typedef struct {
  void (*open)(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
  gboolean (*open_finish)(Transport *t, GAsyncResult *res, GError **error);

  /* Returns a GPtrArray of TransportSlot, ordered by slot number. */
  void (*list_slots)(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                     gpointer data);
  GPtrArray *(*list_slots_finish)(Transport *t, GAsyncResult *res, GError **error);

  /* Opens a logical channel on the slot and selects the AID on it. */
  void (*open_channel)(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                       GAsyncReadyCallback cb, gpointer data);
  /* Returns the channel number (1..19), or 0 with *error set. */
  guint (*open_channel_finish)(Transport *t, GAsyncResult *res, GError **error);

  /*
   * Sends one command APDU whose CLA already names the channel, and returns
   * the response APDU: data followed by SW1 SW2. No 61xx/6Cxx handling here.
   */
  void (*transmit)(Transport *t, guint slot, guint channel, GBytes *apdu, GCancellable *cancellable,
                   GAsyncReadyCallback cb, gpointer data);
  GBytes *(*transmit_finish)(Transport *t, GAsyncResult *res, GError **error);

  void (*close_channel)(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                        GAsyncReadyCallback cb, gpointer data);
  gboolean (*close_channel_finish)(Transport *t, GAsyncResult *res, GError **error);

  /* Makes the slot the active one; completes when the card there is ready. */
  void (*switch_slot)(Transport *t, guint slot, GCancellable *cancellable, GAsyncReadyCallback cb,
                      gpointer data);
  gboolean (*switch_slot_finish)(Transport *t, GAsyncResult *res, GError **error);

  /* Asks the modem to read the SIM again (after a profile switch). Optional. */
  void (*reload_sim)(Transport *t, guint slot, GCancellable *cancellable, GAsyncReadyCallback cb,
                     gpointer data);
  gboolean (*reload_sim_finish)(Transport *t, GAsyncResult *res, GError **error);

  /* Reads the modem's IMEI as the modem reports it (no caching here: the
   * wrapper caches). Optional: a backend without it is NOT_SUPPORTED. */
  void (*get_imei)(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
  gchar *(*get_imei_finish)(Transport *t, GAsyncResult *res, GError **error);

  /* Reads the TransportRat bits of the modem (no caching here either).
   * Optional, as get_imei. */
  void (*get_rats)(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
  gboolean (*get_rats_finish)(Transport *t, GAsyncResult *res, guint *rats, GError **error);

  void (*close)(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
  gboolean (*close_finish)(Transport *t, GAsyncResult *res, GError **error);

  /* Frees the backend's private state; the port is closed by then. */
  void (*finalize)(Transport *t);
} TransportOps;

struct _Transport {
  const TransportOps *ops;
  TransportKind kind;
  gchar *port; /* the control port, e.g. /dev/cdc-wdm0 or a QRTR node name */
  TransportOpenFlags flags;
  guint timeout_ms; /* per request; 0 means the backend's default */
  TransportRemovedFunc removed_func;
  gpointer removed_data;
  gboolean removed;          /* set once the port is gone: every later call fails PORT_GONE */
  gchar *imei;               /* cached by transport_get_imei_finish() */
  gboolean imei_unsupported; /* the modem said it has none: not asked again */
  guint rats;                /* TransportRat bits, once rats_known */
  gboolean rats_known;       /* cached by transport_get_rats_finish() */
  gboolean rats_unsupported; /* the modem would not say: not asked again */
};

/* Backends. Each returns a transport that is not open yet. */
Transport *transport_new_qmi(const char *port, TransportOpenFlags flags);
Transport *transport_new_mbim(const char *port, TransportOpenFlags flags);
Transport *transport_new_at(const char *port, guint baudrate);

const char *transport_kind_to_string(TransportKind kind);
void transport_free(Transport *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Transport, transport_free)

void transport_set_removed_func(Transport *t, TransportRemovedFunc func, gpointer data);
/* For backends: marks the port gone and tells the owner, once. */
void transport_report_removed(Transport *t);

void transport_open(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
gboolean transport_open_finish(Transport *t, GAsyncResult *res, GError **error);
void transport_list_slots(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                          gpointer data);
GPtrArray *transport_list_slots_finish(Transport *t, GAsyncResult *res, GError **error);
void transport_open_channel(Transport *t, guint slot, GBytes *aid, GCancellable *cancellable,
                            GAsyncReadyCallback cb, gpointer data);
guint transport_open_channel_finish(Transport *t, GAsyncResult *res, GError **error);
void transport_transmit(Transport *t, guint slot, guint channel, GBytes *apdu,
                        GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data);
GBytes *transport_transmit_finish(Transport *t, GAsyncResult *res, GError **error);
void transport_close_channel(Transport *t, guint slot, guint channel, GCancellable *cancellable,
                             GAsyncReadyCallback cb, gpointer data);
gboolean transport_close_channel_finish(Transport *t, GAsyncResult *res, GError **error);
void transport_switch_slot(Transport *t, guint slot, GCancellable *cancellable,
                           GAsyncReadyCallback cb, gpointer data);
gboolean transport_switch_slot_finish(Transport *t, GAsyncResult *res, GError **error);
void transport_reload_sim(Transport *t, guint slot, GCancellable *cancellable,
                          GAsyncReadyCallback cb, gpointer data);
gboolean transport_reload_sim_finish(Transport *t, GAsyncResult *res, GError **error);
void transport_close(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                     gpointer data);
gboolean transport_close_finish(Transport *t, GAsyncResult *res, GError **error);

/*
 * The modem's IMEI, 15 digits (or 14/16 as the modem reports it: digits
 * only), read once and cached by the transport. NOT_SUPPORTED when the modem
 * does not say. SGP.22 (5.7.13, DeviceInfo in ctxParams1) sends it, and its
 * first 8 digits as the TAC, to the SM-DP+ with a download. The port must be
 * open for the first call; later calls answer from the cache.
 */
void transport_get_imei(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                        gpointer data);
gchar *transport_get_imei_finish(Transport *t, GAsyncResult *res, GError **error);
/* For backends: the IMEI in what the modem sent (surrounding blanks and
 * quotes dropped), or NULL with PROTOCOL when it is not 14 to 16 digits, or
 * NOT_SUPPORTED when it is empty. */
gchar *transport_parse_imei(const char *reported, GError **error);

/*
 * The radio access technologies the modem supports (TransportRat bits),
 * read once and cached as the IMEI is: SGP.22 DeviceInfo's
 * deviceCapabilities describe them to the SM-DP+. NOT_SUPPORTED when the
 * modem does not say (it is not asked again then). The port must be open
 * for the first call.
 */
void transport_get_rats(Transport *t, GCancellable *cancellable, GAsyncReadyCallback cb,
                        gpointer data);
gboolean transport_get_rats_finish(Transport *t, GAsyncResult *res, guint *rats, GError **error);
/* "gsm,umts,lte,nr-nsa,nr-sa" (the bits set, in that order), for logs. */
gchar *transport_rats_to_string(guint rats);

G_END_DECLS
