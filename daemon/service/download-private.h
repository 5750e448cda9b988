/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The codec helpers of download.c (download-codec.c).
 */
#pragma once

#include "service/service-private.h"

G_BEGIN_DECLS

/* CancelSessionReason values (SGP.22 5.7.14) that es10's encoder does not
 * take (it stops at pprNotAllowed). */
#define CANCEL_LOAD_BPP_EXECUTION_ERROR 5
#define CANCEL_UNDEFINED_REASON 127

/* How long it waits at CONFIRMING before it cancels the session with
 * reason timeout (tests shorten it); set before it gets there. */
void download_set_consent_timeout_ms(Download *d, guint ms);

void download_metadata_free(DownloadMetadata *m);
/* StoreMetadataRequest (BF25 DER) as the API shows it. */
DownloadMetadata *download_metadata_decode(GBytes *der, GError **error);
/* smdpSigned2's ccRequiredFlag (SGP.22 5.6.2). */
gboolean download_cc_required_decode(GBytes *smdp_signed2, gboolean *out, GError **error);
/* CancelSessionRequest (BF41) for any CancelSessionReason of SGP.22 5.7.14. */
GBytes *download_cancel_request(GBytes *transaction_id, guint reason, GError **error);

G_END_DECLS
