/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * euicc-sim-rsp: the eUICC's side of a profile download (SGP.22 3.1.3,
 * ES10b in 5.7): its credentials (CERT.EUICC.ECDSA, CERT.EUM.ECDSA, the CI
 * it trusts, SK.EUICC.ECDSA), the RSP session (challenge, authentication,
 * one-time key pair) and the loading of a Bound Profile Package with SCP03t.
 * Private to euicc-sim: euicc-sim.c routes the ES10b commands here.
 */
#pragma once

#include <glib.h>

#include "card-file.h"
#include "es10/tlv.h"

G_BEGIN_DECLS

typedef struct _SimRsp SimRsp;

SimRsp *sim_rsp_new(void);
void sim_rsp_free(SimRsp *rsp);

/*
 * Loads the credentials from PEM files: the CI certificate the card trusts,
 * the eUICC certificate (its serialNumber must be eid) and its private key,
 * the EUM certificate.
 */
gboolean sim_rsp_load(SimRsp *rsp, const char *eid, const char *ci_cert, const char *euicc_cert,
                      const char *euicc_key, const char *eum_cert, GError **error);
gboolean sim_rsp_is_loaded(SimRsp *rsp);
/* The subjectKeyIdentifier of the loaded CI (what EUICCInfo1 lists), NULL when none. */
GBytes *sim_rsp_get_ci_pkid(SimRsp *rsp);
/* DER of CERT.EUICC.ECDSA and CERT.EUM.ECDSA, NULL when none is loaded. */
GBytes *sim_rsp_get_euicc_certificate(SimRsp *rsp);
GBytes *sim_rsp_get_eum_certificate(SimRsp *rsp);
/* Signs with SK.EUICC.ECDSA, the signature as r || s (SGP.22 2.6.7). */
gboolean sim_rsp_sign(SimRsp *rsp, const guint8 *data, gsize len, guint8 sig[64]);

/* ES10b handlers: the request element in, the response written to w, a status word back. */
guint16 sim_rsp_get_euicc_challenge(SimRsp *rsp, const Tlv *req, TlvWriter *w);
guint16 sim_rsp_authenticate_server(SimRsp *rsp, SimCard *card, GBytes *euicc_info2, const Tlv *req,
                                    TlvWriter *w);
guint16 sim_rsp_prepare_download(SimRsp *rsp, const Tlv *req, TlvWriter *w);
guint16 sim_rsp_cancel_session(SimRsp *rsp, const Tlv *req, TlvWriter *w);

/*
 * ES10b.LoadBoundProfilePackage: TRUE when the joined STORE DATA command is
 * a BPP segment (SGP.22 2.5.5: the card is loading a BPP, or it starts
 * with BF36).
 */
gboolean sim_rsp_is_bpp_segment(SimRsp *rsp, const guint8 *data, gsize len);
/*
 * Processes one segment. Writes nothing while more segments are expected,
 * the ProfileInstallationResult after the last one or on the first error.
 */
guint16 sim_rsp_load_bpp_segment(SimRsp *rsp, SimCard *card, const guint8 *data, gsize len,
                                 TlvWriter *w);

G_END_DECLS
