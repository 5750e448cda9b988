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
/* smdpSigned2's ccRequiredFlag (SGP.22 5.6.2). */
gboolean download_cc_required_decode(GBytes *smdp_signed2, gboolean *out, GError **error);

G_END_DECLS
