/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the three files of a download share: the Download object
 * (download-object.c), its step machine (download.c) and the codec helpers
 * (download-codec.c).
 */
#pragma once

#include "service/service-private.h"

G_BEGIN_DECLS

struct _Download {
  gint ref;
  Euicc *euicc;
  gchar *smdp_address;
  gchar *matching_id;
  gchar *smdp_oid; /* the activation code's, dotted; NULL when it has none */
  gchar *confirmation_code;
  gboolean accept;
  gboolean consented; /* by Accept() at CONFIRMING: the PPRs shown included */
  gboolean enable;
  DownloadState state;
  gdouble progress;
  DownloadMetadata *metadata;
  gboolean cc_required;
  gchar *iccid; /* once installed */
  GError *error;
  DownloadChangedFunc changed;
  gpointer data;
  GTask *task;            /* the operation while it exists (borrowed) */
  gboolean waiting;       /* paused at CONFIRMING */
  GSource *consent_timer; /* while waiting */
  guint consent_timeout_ms;
  gboolean cancel_requested; /* download_cancel() or download_reject() */
  guint cancel_reason;       /* the CancelSessionReason they asked for */
  gboolean finished;
  GCancellable *cancellable; /* the queue entry and the forward ES9+ calls */
};

/* ---- download-object.c, for the step machine ---- */

/* Tells the caller (DownloadChangedFunc) that something changed. */
void download_emit_changed(Download *d);
void download_set_state(Download *d, DownloadState state);
/* Progress only grows (org.esimd.Download1). */
void download_set_progress(Download *d, gdouble progress);
/* Waits at CONFIRMING for download_accept() or download_reject(), or for
 * the consent timeout, which cancels it. */
void download_pause_for_consent(Download *d);
/* The SM-DP+ refused the confirmation code but allows another try: error
 * (taken) shows why until the next Accept, which must bring a new code. */
void download_refuse_code(Download *d, GError *error);

/* ---- download.c, for the object ---- */

/* The operation of the download, not queued yet. */
GTask *download_op_new(Download *d, GAsyncReadyCallback cb, gpointer user_data);
/* Goes on where it stopped: after a pause, a cancel or an abandoned card. */
void download_op_resume(GTask *task);
/* Goes on from the pause at CONFIRMING, accepted. */
void download_op_confirmed(GTask *task);

/* ---- download-codec.c ---- */

/* How long it waits at CONFIRMING before it cancels the session with
 * reason timeout (tests shorten it); set before it gets there. */
void download_set_consent_timeout_ms(Download *d, guint ms);

void download_metadata_free(DownloadMetadata *m);
/* StoreMetadataRequest (BF25 DER) as the API shows it. */
DownloadMetadata *download_metadata_decode(GBytes *der, GError **error);
/*
 * The profile a download installed, as the card holds it: the metadata it
 * was given (StoreMetadataRequest, BF25 DER; SGP.22 2.5.5) with the ISD-P
 * the install result names, disabled (5.5.3). NULL when the metadata does
 * not decode.
 */
Es10ProfileInfo *download_installed_profile(GBytes *metadata_der, const char *isdp_aid);
/* smdpSigned2 (SGP.22 5.7.5), which must be for the eUICC's transaction. */
Es10SmdpSigned2 *download_smdp_signed2_decode(GBytes *der, GBytes *transaction_id, GError **error);
/*
 * SGP.22 4.1 and 3.1.3.1: an activation code that carries an SM-DP+ OID is
 * only good for the SM-DP+ whose CERT.DPauth.ECDSA (the serverCertificate
 * of initiateAuthentication) has that OID as its subjectAltName
 * registeredID. TRUE when expected is NULL or they match; otherwise
 * ESIMD_ERROR_INVALID_ACTIVATION_CODE naming both.
 */
gboolean download_check_smdp_oid(const char *expected, GBytes *server_certificate,
                                 const char *address, GError **error);

/* ---- Profile Policy Rules (download-ppr.c; SGP.22 2.9, 3.1.3.2) ---- */

/* The PPRs (Es10Ppr bits) of the metadata (BF25 DER) that the RAT must
 * allow; 0 when it has none, and then the RAT is not read. */
guint32 download_ppr_wanted(GBytes *metadata_der);
/* PPR1 on an eUICC that already holds an operational profile (the
 * cache): FALSE with ESIMD_ERROR_DISALLOWED_BY_POLICY. */
gboolean download_ppr_check_profiles(Euicc *euicc, guint32 pprs, const char *iccid, GError **error);
/* The first rule of the RAT (Es10bRatRule*; 2.9.2: read in order) that
 * has ppr (one Es10Ppr bit) and an allowed operator matching owner; NULL
 * when none does, or when the profile has no owner. */
const Es10bRatRule *download_ppr_find_rule(GPtrArray *rat, guint32 ppr,
                                           const Es10OperatorId *owner);
/* Every PPR of the metadata against the RAT (Es10bRatRule*) for its
 * owner: FALSE with ESIMD_ERROR_DISALLOWED_BY_POLICY naming the refused
 * ones; else *consent_required when a matching rule wants the user's
 * consent to them. */
gboolean download_ppr_check_rat(GBytes *metadata_der, GPtrArray *rat, gboolean *consent_required,
                                GError **error);

G_END_DECLS
