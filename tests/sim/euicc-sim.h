/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * euicc-sim: a model of one UICC slot's card. An eUICC answers SGP.22 ES10 on
 * its ISD-R and follows SGP.22's state rules; a plain SIM (card file
 * "type plain") refuses the ISD-R with 6A82. Command APDUs in, response APDUs
 * (data followed by SW1 SW2) out; no I/O of its own except the APDU log.
 */
#pragma once

#include <glib.h>
#include <stdio.h>

G_BEGIN_DECLS

#define EUICC_SIM_ERROR (euicc_sim_error_quark())
GQuark euicc_sim_error_quark(void);

typedef enum {
  EUICC_SIM_ERROR_CARD_FILE, /* the card file is not valid: message names the line */
  EUICC_SIM_ERROR_FAULT,     /* a fault spec is not valid */
} EuiccSimError;

typedef struct _EuiccSim EuiccSim;

/* The GSMA ISD-R AID, SGP.22 2.2.3. */
#define EUICC_SIM_ISDR_AID "A0000005591010FFFFFFFF8900000100"

EuiccSim *euicc_sim_new_from_file(const char *path, GError **error);
EuiccSim *euicc_sim_new_from_data(const char *text, GError **error);
void euicc_sim_free(EuiccSim *sim);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EuiccSim, euicc_sim_free)

/*
 * Processes one command APDU and returns the response APDU. Returns NULL when
 * a "drop" fault swallowed the response (the caller then sends nothing).
 */
GBytes *euicc_sim_transmit(EuiccSim *sim, const guint8 *apdu, gsize len);

/* TRUE for an eUICC, FALSE for a plain SIM. */
gboolean euicc_sim_is_euicc(EuiccSim *sim);
/* The EID as 32 upper-case hex digits, NULL for a plain SIM. */
const char *euicc_sim_get_eid(EuiccSim *sim);
/* The ICCID of the plain SIM, or of the enabled profile; NULL when none. */
const char *euicc_sim_get_iccid(EuiccSim *sim);
/* The enabled profile's owner (profileOwner, SGP.22 2.4.2) as MCC and MNC
 * digits ("310410", "23415"); NULL when no profile is enabled or it names no
 * owner. What a modem builds the IMSI's home network from. Free with g_free. */
gchar *euicc_sim_dup_owner_mccmnc(EuiccSim *sim);
/* The enabled profile's service provider name, NULL when none. */
const char *euicc_sim_get_provider(EuiccSim *sim);
/* Logical channels open on the card: bit n set for channel n (1..19). */
guint32 euicc_sim_get_open_channels(EuiccSim *sim);
/* How many logical channels the card offers (default 19, minimum 0). */
void euicc_sim_set_max_channels(EuiccSim *sim, guint max);
/* Whether a switch with refreshFlag set resets the card once it answered,
 * closing its logical channels (SGP.22 5.7.16/5.7.17: REFRESH in UICC Reset
 * mode, which the modem runs). Off for a bare card; modem-sim turns it on
 * for the cards behind it. */
void euicc_sim_set_refresh_resets(EuiccSim *sim, gboolean resets);

/*
 * Fault knobs, one spec each (the grammar is in euicc-sim(1) usage and
 * tests/sim/README.md):
 *   sw:CMD=SWSW     answer CMD with that status word and no data
 *   drop:CMD        swallow the response to CMD
 *   garbage:CMD     answer CMD with bytes that are no valid DER, SW 9000
 *   result:CMD=N    answer CMD with its response carrying result code N
 *                   (decimal), SW 9000, e.g. result:BF31=5 (catBusy); CMD one
 *                   of BF29 BF30 BF31 BF32 BF33 BF34 BF3F
 * CMD is an ES10 tag in hex (BF2D, BF31, ...), or select, manage-channel,
 * get-response, any. A spec ending in "@N" fires only N times.
 * Also accepted: store-data (every STORE DATA block). A drop lets the card
 * act and loses only the answer; sw, garbage and result answer without acting.
 */
gboolean euicc_sim_add_fault(EuiccSim *sim, const char *spec, GError **error);
void euicc_sim_clear_faults(EuiccSim *sim);
/* Latency to add to every APDU; the caller decides how to wait it out. */
void euicc_sim_set_delay_ms(EuiccSim *sim, guint ms);
guint euicc_sim_get_delay_ms(EuiccSim *sim);

/* Writes every command and response as "> HEX" / "< HEX" lines; NULL stops it. */
gboolean euicc_sim_set_apdu_log(EuiccSim *sim, const char *path, GError **error);
/* Number of command APDUs seen so far (what the APDU log would count). */
guint euicc_sim_get_apdu_count(EuiccSim *sim);
/* The DER deviceInfo (A1, SGP.22 5.7.13 ctxParams1) of the last
 * AuthenticateServer request, NULL before one; the APDU log has it as a
 * "# deviceInfo HEX" line. */
GBytes *euicc_sim_get_device_info(EuiccSim *sim);

/*
 * Additions for tests and tools: the card's state as a user of the card
 * would see it, without an APDU.
 */

/* Largest response chunk handed out per APDU before 61xx (1..256, default 256). */
void euicc_sim_set_response_chunk(EuiccSim *sim, guint bytes);
/* Number of profiles installed. */
guint euicc_sim_get_profile_count(EuiccSim *sim);
/* 1 enabled, 0 disabled, -1 when no profile has that ICCID (digits). */
int euicc_sim_get_profile_state(EuiccSim *sim, const char *iccid);
/* The nickname of the profile, NULL when unset or unknown. */
const char *euicc_sim_get_profile_nickname(EuiccSim *sim, const char *iccid);
/* Sets the profile's policy rules (PprIds bits: 1 << 1 is PPR1) the way an
 * SM-DP+'s ES6 UpdateMetadata would, without a session; FALSE when no
 * profile has that ICCID. */
gboolean euicc_sim_set_profile_pprs(EuiccSim *sim, const char *iccid, guint32 pprs);
/* The default SM-DP+ address, NULL when none is set. */
const char *euicc_sim_get_default_smdp_address(EuiccSim *sim);
/* Pending notifications, in the order the card keeps them (ascending seq). */
guint euicc_sim_get_notification_count(EuiccSim *sim);
/*
 * The notification at index: its sequence number, its event (0 install,
 * 1 enable, 2 disable, 3 delete as in SGP.22 NotificationEvent), its SM-DP+
 * address and ICCID (NULL when none); FALSE when index is out of range.
 */
gboolean euicc_sim_get_notification(EuiccSim *sim, guint index, guint *seq, guint *event,
                                    const char **address, const char **iccid);

/*
 * The card's RSP credentials (SGP.22 4.5): the CI certificate it trusts,
 * CERT.EUICC.ECDSA with its private key and CERT.EUM.ECDSA, PEM files as
 * tests/sim/mkpki makes them. Without them the card answers
 * AuthenticateServer with undefinedError. The CI's subjectKeyIdentifier
 * joins the front of the card's CI PKID lists. The card file's "pki DIR"
 * does the same at load.
 */
gboolean euicc_sim_load_pki(EuiccSim *sim, const char *ci_cert, const char *euicc_cert,
                            const char *euicc_key, const char *eum_cert, GError **error);
/* The same from DIR/ci.pem, DIR/euicc.pem, DIR/euicc.key, DIR/eum.pem. */
gboolean euicc_sim_load_pki_dir(EuiccSim *sim, const char *dir, GError **error);
/*
 * What the card holds for a profile (FALSE when no profile has that ICCID):
 * name, service provider, class (0 test, 1 provisioning, 2 operational),
 * the ISD-P AID in hex (to g_free). Any pointer may be NULL.
 */
gboolean euicc_sim_get_profile_info(EuiccSim *sim, const char *iccid, const char **name,
                                    const char **provider, int *klass, char **aid_hex);
/* Free non-volatile memory in bytes, as EUICCInfo2 reports it; a download uses it up. */
guint euicc_sim_get_free_nv_memory(EuiccSim *sim);

G_END_DECLS
