/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the files of service/ share and nobody else sees: the modem (one
 * Transport, reference counted so that an operation still in flight keeps
 * its port alive), the eUICC's life cycle as the manager drives it, and the
 * error and log helpers.
 */
#pragma once

#include "es10/es10.h"
#include "service/service.h"

G_BEGIN_DECLS

/* ---- errors.c ---------------------------------------------------------- */

/*
 * Turns an error from below (TRANSPORT_ERROR, ISO7816_*, ES10_ERROR,
 * G_IO_ERROR_CANCELLED) into an ESIMD_ERROR whose message says what was
 * being done; an ESIMD_ERROR passes through unchanged. Takes ownership.
 */
GError *service_error_from(GError *error, const char *doing);
/*
 * The card answered cmd with a result code other than ok: the error the
 * caller gets, from one table. subject (a shortened ICCID, a sequence number)
 * goes where the message names it.
 */
GError *service_result_error(Es10Command cmd, gint result, const char *subject);
/*
 * An ES9+ failure (ES9P_ERROR) while doing something with the SM-DP+ at
 * address: UNREACHABLE -> SMDP_UNREACHABLE, REJECTED -> DOWNLOAD_REJECTED
 * (subject and reason codes in the message), CONFIRMATION_CODE ->
 * CONFIRMATION_CODE_WRONG. Other domains as service_error_from(). Takes it.
 */
GError *service_es9p_error(GError *error, const char *address, const char *doing);
/* An identifier (EID, ICCID) as logs show it: "890490…21" unless full. */
gchar *service_id_for_log(const char *id, gboolean full);

/* ---- modem.c ----------------------------------------------------------- */

typedef struct _Modem Modem;

/* What a probe saw on one slot. */
typedef struct {
  guint slot;
  gboolean card_present;
  gboolean active;
  TransportTristate is_euicc; /* as far as the modem knows */
  gchar *eid;                 /* as the modem reports it (upper-case hex), or NULL */
  GBytes *isdr_aid;           /* the ISD-R AID that answered; NULL when not reached */
  guint channel;              /* the logical channel left open to it, 0 when none */
} ModemSlotProbe;

void modem_slot_probe_free(ModemSlotProbe *probe);

/* mm (borrowed, may be NULL): the ModemManager client, asked to let go of
 * the modem when its AT port is busy (see modem_acquire). */
Modem *modem_new(const ModemSpec *spec, guint timeout_ms, MmClient *mm);
Modem *modem_ref(Modem *modem);
/* The last reference closes the port (asynchronously) and frees it. */
void modem_unref(Modem *modem);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Modem, modem_unref)

Transport *modem_get_transport(Modem *modem);
const ModemSpec *modem_get_spec(Modem *modem);
gboolean modem_is_removed(Modem *modem);
/* What ModemManager calls the modem (its Modem.Device): the spec's device,
 * or for a port given without one the USB or PCI device above it; "" when
 * unknown (then ModemManager is never asked about it). */
const char *modem_get_mm_device(Modem *modem);

/*
 * Holding the port. A modem's port is open while anything holds it. Most
 * ports, once opened, stay open until the modem goes. An AT port that
 * ModemManager owns (busy at the first open, ModemManager managing the
 * modem) is "on demand": the first acquire inhibits the modem in
 * ModemManager and opens the port, the last release closes the port and
 * gives the modem back. Acquires and releases run in call order.
 */
void modem_acquire(Modem *modem, GCancellable *cancellable, GAsyncReadyCallback cb,
                   gpointer user_data);
gboolean modem_acquire_finish(Modem *modem, GAsyncResult *res, GError **error);
/* cb may be NULL; it completes once the port is closed and given back. */
void modem_release(Modem *modem, GAsyncReadyCallback cb, gpointer user_data);
gboolean modem_release_finish(Modem *modem, GAsyncResult *res, GError **error);
/* TRUE once the port is known to be ModemManager's: used only while held. */
gboolean modem_is_on_demand(Modem *modem);
/* Changes every time the port is opened: logical channels do not outlive
 * the port session they were opened in. */
guint modem_get_port_session(Modem *modem);
/* The modem was removed: an on-demand port is closed and ModemManager gets
 * the modem back now, whoever still holds it; no acquire succeeds after. */
void modem_detach(Modem *modem);

/*
 * Acquires the modem, lists the slots, and on each slot with a card whose
 * bit is not set in skip_slots (bit n for slot n) looks for an ISD-R,
 * leaving a channel open to the one found. Returns a GPtrArray of
 * ModemSlotProbe for every slot the modem has; the caller then holds the
 * modem once, and releases it (modem_release) when it has read the cards.
 */
void modem_probe(Modem *modem, guint64 skip_slots, GCancellable *cancellable,
                 GAsyncReadyCallback cb, gpointer user_data);
GPtrArray *modem_probe_finish(Modem *modem, GAsyncResult *res, GError **error);

/* Closes the port now, after what it is doing, and gives back an inhibition
 * held for it; the modem stays usable only for freeing. */
void modem_close(Modem *modem, GCancellable *cancellable, GAsyncReadyCallback cb,
                 gpointer user_data);
gboolean modem_close_finish(Modem *modem, GAsyncResult *res, GError **error);

/*
 * The modem's IMEI (digits only), for the DeviceInfo an SM-DP+ gets with a
 * download (SGP.22 5.7.13 ctxParams1: tac is its first 8 digits). Read
 * through the transport once per modem, holding the port meanwhile (an
 * on-demand AT port is inhibited and opened for it, and given back after);
 * every later call answers from the transport's cache without touching the
 * port. ESIMD_ERROR_NOT_SUPPORTED when the modem reports none.
 */
void modem_get_imei(Modem *modem, GCancellable *cancellable, GAsyncReadyCallback cb,
                    gpointer user_data);
gchar *modem_get_imei_finish(Modem *modem, GAsyncResult *res, GError **error);
/*
 * DeviceInfo's deviceCapabilities for the radio access technologies the
 * modem reports. modem_get_imei reads them with the IMEI, in the same hold
 * of the port, and the transport caches them: call this after it. Nothing
 * is claimed when the modem did not say.
 */
void modem_get_device_capabilities(Modem *modem, Es10DeviceInfo *info);

/* ---- device-caps.c ------------------------------------------------------ */

/* deviceCapabilities for TransportRat bits, each RAT at the release
 * device-caps.c documents; the others absent. */
void device_caps_from_rats(guint rats, Es10DeviceInfo *info);

/* The ISD-R AIDs tried on each slot, in order, NULL-terminated (hex). */
extern const char *const modem_isdr_aids[];

/* ---- euicc.c: the life cycle, for manager.c ----------------------------- */

typedef struct {
  gboolean full_identifiers;
  gboolean auto_send_notifications;
  const char *smdp_ca_file;
  const char *smdp_host_override;
  const char *smdp_ca_dir;
  guint notify_retry_first_s; /* 0: the default */
  guint linger_ms;            /* 0: EUICC_LINGER_MS */
  MmClient *mm;               /* borrowed; NULL: switches are not announced to ModemManager */
  MmWatch *mm_watch;          /* borrowed; NULL: what ModemManager reports is not known */
  NmProfiles *nm;             /* borrowed; NULL: no NetworkManager connections are kept */
  guint sim_wait_ms;          /* 0: EUICC_SIM_WAIT_MS */
} EuiccSettings;

/* How long a switch waits for ModemManager to report the new SIM. */
#define EUICC_SIM_WAIT_MS 30000

/*
 * How long an eUICC keeps a modem whose AT port ModemManager owns after its
 * last operation. While esimd holds it, ModemManager is kept off the modem
 * (no data, no calls), so it goes back soon; but not at once, so that a
 * burst of calls (a settings page reading, then switching) is served in one
 * inhibition instead of having ModemManager drop and probe the modem again
 * for each.
 */
#define EUICC_LINGER_MS 2000

/* dst gets its own copies of the strings; _clear frees them. */
void euicc_settings_copy(EuiccSettings *dst, const EuiccSettings *src);
void euicc_settings_clear(EuiccSettings *settings);

/* A card found on a modem slot, with its channel already open. Not yet
 * announced: nothing is sent to the listener before euicc_set_id(). */
Euicc *euicc_new(Modem *modem, const ModemSlotProbe *probe, const EuiccSettings *settings,
                 const ServiceListener *listener, gpointer listener_data);
Euicc *euicc_ref(Euicc *euicc);
void euicc_unref(Euicc *euicc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Euicc, euicc_unref)

/* Fills the cache (EID, EUICCInfo2, addresses, profiles, notifications). */
void euicc_probe(Euicc *euicc, GCancellable *cancellable, GAsyncReadyCallback cb,
                 gpointer user_data);
/* A card known so far only from the modem's slot report (an eUICC in an
 * inactive slot): it gets its ISD-R channel once the probe reaches it. */
gboolean euicc_has_channel(Euicc *euicc);
void euicc_attach_channel(Euicc *euicc, GBytes *isdr_aid, guint channel);
/* The id it will be known by; from then on changes reach the listener. */
void euicc_set_id(Euicc *euicc, guint id);
Modem *euicc_get_modem(Euicc *euicc);
/* Called when an operation finds that the card left its slot. */
void euicc_set_gone_func(Euicc *euicc, void (*func)(Euicc *euicc, gpointer user_data),
                         gpointer user_data);
void euicc_set_slot_active(Euicc *euicc, gboolean active);
/* ModemManager's modems changed: the listener hears EUICC_CHANGED_MODEM. */
void euicc_modem_changed(Euicc *euicc);
/* Makes sure each profile has its NetworkManager connection (after the
 * eUICC is announced, and when NetworkManager appears). */
void euicc_sync_connections(Euicc *euicc);
/* Whether it holds a modem whose AT port ModemManager owns (a release after
 * the linger is then still to come), and the linger from the next
 * operation's end on: for tests, which wait on events, not on the clock. */
gboolean euicc_holds_modem(Euicc *euicc);
void euicc_set_linger_ms(Euicc *euicc, guint linger_ms);
/*
 * The card is gone (modem removed, card pulled): every operation queued or
 * running is answered with this error, the listener is told no more, and
 * timers stop. The caller still holds its reference.
 */
void euicc_invalidate(Euicc *euicc, const GError *error);
/* Drops the queued operations with the error, lets the running one finish,
 * then closes the channel and lets go of the modem. */
void euicc_close(Euicc *euicc, const GError *error, GAsyncReadyCallback cb, gpointer user_data);
gboolean euicc_close_finish(Euicc *euicc, GAsyncResult *res, GError **error);

/* Delivers the notifications the card holds now if auto-send is on (and
 * retries with backoff on network failure). */
void euicc_schedule_notifications(Euicc *euicc);

/* ---- ppr.c: Profile Policy Rules by name ---- */

/* The API's names of PPR bits (Es10Ppr: "disable-not-allowed", ...),
 * NULL-terminated. */
gchar **service_ppr_names(guint32 pprs);
/* For messages: "PPR1 (disabling not allowed) and PPR2 (...)". */
gchar *service_ppr_text(guint32 pprs);

G_END_DECLS
