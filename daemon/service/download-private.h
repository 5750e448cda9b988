/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The codec helpers of download.c (download-codec.c).
 */
#pragma once

#include "service/service-private.h"

G_BEGIN_DECLS

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

G_END_DECLS
