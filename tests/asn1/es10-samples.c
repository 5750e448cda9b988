/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Prints the download commands as check-es10-der.py judges them, one line
 * each: "PDU-TYPE HEX LABEL". Requests come from the codec's encoders;
 * responses are built here from rsp.asn's shapes and must also pass the
 * codec's own decoders (the program fails if one does not), so that both
 * sides of each command meet asn1c's strict DER reading.
 *   es10-samples CERT.der
 * CERT.der is any X.509 certificate in DER: it stands in for the server,
 * eUICC and EUM certificates, which the codec passes through unchanged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es10/es10.h"
#include "es10/iccid.h"

static GBytes *certificate;

#define TXID "0102030405060708090A0B0C0D0E0F10"

static void emit(const char *pdu, GBytes *der, const char *label)
{
  g_autofree gchar *hex = NULL;
  gsize len;
  const guint8 *p;

  if (!der) {
    fprintf(stderr, "es10-samples: %s: the encoder refused\n", label);
    exit(1);
  }
  p = g_bytes_get_data(der, &len);
  hex = es10_hex_encode(p, len);
  printf("%s %s %s\n", pdu, hex, label);
  g_bytes_unref(der);
}

static void must(gboolean ok, GError *error, const char *label)
{
  if (!ok) {
    fprintf(stderr, "es10-samples: %s: %s\n", label, error ? error->message : "failed");
    exit(1);
  }
}

static void put_hex(TlvWriter *w, guint32 tag, const char *hex)
{
  g_autoptr(GBytes) b = es10_hex_decode(hex, NULL);

  tlv_writer_put(w, tag, g_bytes_get_data(b, NULL), g_bytes_get_size(b));
}

static void put_fill(TlvWriter *w, guint32 tag, guint8 fill, gsize n)
{
  g_autofree guint8 *v = g_malloc(n);

  memset(v, fill, n);
  tlv_writer_put(w, tag, v, n);
}

static void put_str(TlvWriter *w, guint32 tag, const char *s)
{
  tlv_writer_put(w, tag, (const guint8 *)s, strlen(s));
}

static void put_certificate(TlvWriter *w)
{
  tlv_writer_put_raw(w, g_bytes_get_data(certificate, NULL), g_bytes_get_size(certificate));
}

static GBytes *build(void (*fn)(TlvWriter *w))
{
  TlvWriter w;

  tlv_writer_init(&w);
  fn(&w);
  return tlv_writer_finish(&w);
}

/* ---- What the servers send (passed through by the encoders) ------------- */

static void server_signed1(TlvWriter *w)
{
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, TXID);
  put_fill(w, 0x81, 0xA5, 16);
  put_str(w, 0x83, "smdp.example.com");
  put_fill(w, 0x84, 0xC3, 16);
  tlv_writer_end(w);
}

static void signature(TlvWriter *w)
{
  put_fill(w, 0x5F37, 0x5A, 64);
}

static void pkid(TlvWriter *w)
{
  put_hex(w, 0x04, "F54172BDF98A95D65CBEB88A38A1C11D800A85C3");
}

static void smdp_signed2(TlvWriter *w)
{
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, TXID);
  tlv_writer_put_bool(w, 0x01, TRUE);
  tlv_writer_end(w);
}

/* StoreMetadataRequest as ES9+ authenticateClient carries it: every field. */
static void store_metadata(TlvWriter *w)
{
  guint8 bcd[ICCID_BCD_LEN];

  iccid_to_bcd("89014103211118510720", bcd, NULL);
  tlv_writer_begin(w, 0xBF25);
  tlv_writer_put(w, 0x5A, bcd, sizeof(bcd));
  put_str(w, 0x91, "Example Mobile");
  put_str(w, 0x92, "Test profile");
  tlv_writer_put_uint(w, 0x93, ES10_ICON_TYPE_PNG);
  put_fill(w, 0x94, 0x89, 200);
  tlv_writer_put_uint(w, 0x95, ES10_PROFILE_CLASS_PROVISIONING);
  tlv_writer_begin(w, 0xB6);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, "0780");
  put_str(w, 0x81, "smdp.example.com");
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xB7);
  put_hex(w, 0x80, "62F210");
  tlv_writer_end(w);
  put_hex(w, 0x99, "0640");
  tlv_writer_end(w);
}

/* ---- What the card answers ---------------------------------------------- */

static void euicc_info2(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF22);
  put_hex(w, 0x81, "020300");
  put_hex(w, 0x82, "020200");
  put_hex(w, 0x83, "040100");
  put_hex(w, 0x84, "8101088203024F80");
  put_hex(w, 0x85, "067A26C0");
  put_hex(w, 0x88, "04F0");
  tlv_writer_begin(w, 0xA9);
  put_hex(w, 0x04, "F54172BDF98A95D65CBEB88A38A1C11D800A85C3");
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xAA);
  put_hex(w, 0x04, "F54172BDF98A95D65CBEB88A38A1C11D800A85C3");
  tlv_writer_end(w);
  put_hex(w, 0x04, "000201");
  put_str(w, 0x0C, "GI-BA-UP-0419");
  tlv_writer_end(w);
}

static void authenticate_ok(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF38);
  tlv_writer_begin(w, 0xA0);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, TXID);
  put_str(w, 0x83, "smdp.example.com");
  put_fill(w, 0x84, 0xC3, 16);
  euicc_info2(w);
  tlv_writer_begin(w, 0xA0);
  put_str(w, 0x80, "MATCH-1");
  tlv_writer_begin(w, 0xA1);
  put_hex(w, 0x80, "35290611");
  tlv_writer_begin(w, 0xA1);
  put_hex(w, 0x85, "0F0000");
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
  signature(w);
  put_certificate(w);
  put_certificate(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void authenticate_error(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF38);
  tlv_writer_begin(w, 0xA1);
  put_hex(w, 0x80, TXID);
  tlv_writer_put_uint(w, 0x02, ES10B_AUTHENTICATE_CI_PK_UNKNOWN);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void prepare_download_ok(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF21);
  tlv_writer_begin(w, 0xA0);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, TXID);
  put_fill(w, 0x5F49, 0x04, 65);
  put_fill(w, 0x04, 0x3C, 32);
  tlv_writer_end(w);
  signature(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void prepare_download_error(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF21);
  tlv_writer_begin(w, 0xA1);
  put_hex(w, 0x80, TXID);
  tlv_writer_put_uint(w, 0x02, ES10B_DOWNLOAD_INVALID_TRANSACTION_ID);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void cancel_session_ok(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF41);
  tlv_writer_begin(w, 0xA0);
  tlv_writer_begin(w, 0x30);
  put_hex(w, 0x80, TXID);
  put_hex(w, 0x81, "2B0601040181F802");
  tlv_writer_put_uint(w, 0x82, ES10B_CANCEL_POSTPONED);
  tlv_writer_end(w);
  signature(w);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

static void cancel_session_error(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF41);
  tlv_writer_put_uint(w, 0x81, ES10B_CANCEL_SESSION_INVALID_TRANSACTION_ID);
  tlv_writer_end(w);
}

static void installation_result(TlvWriter *w, gboolean success)
{
  guint8 bcd[ICCID_BCD_LEN];

  iccid_to_bcd("89014103211118510720", bcd, NULL);
  tlv_writer_begin(w, 0xBF37);
  tlv_writer_begin(w, 0xBF27);
  put_hex(w, 0x80, TXID);
  tlv_writer_begin(w, 0xBF2F);
  tlv_writer_put_uint(w, 0x80, 7);
  put_hex(w, 0x81, "0780");
  put_str(w, 0x0C, "smdp.example.com");
  tlv_writer_put(w, 0x5A, bcd, sizeof(bcd));
  tlv_writer_end(w);
  put_hex(w, 0x06, "2B0601040181F8020101");
  tlv_writer_begin(w, 0xA2);
  if (success) {
    tlv_writer_begin(w, 0xA0);
    put_hex(w, 0x4F, "A0000005591010FFFFFFFF8900001000");
    put_hex(w, 0x04, "9000");
    tlv_writer_end(w);
  } else {
    tlv_writer_begin(w, 0xA1);
    tlv_writer_put_uint(w, 0x80, ES10B_BPP_LOAD_PROFILE_ELEMENTS);
    tlv_writer_put_uint(w, 0x81, ES10B_INSTALL_INSUFFICIENT_MEMORY);
    tlv_writer_end(w);
  }
  tlv_writer_end(w);
  tlv_writer_end(w);
  signature(w);
  tlv_writer_end(w);
}

static void installation_success(TlvWriter *w)
{
  installation_result(w, TRUE);
}

static void installation_error(TlvWriter *w)
{
  installation_result(w, FALSE);
}

static void bound_profile_package(TlvWriter *w)
{
  tlv_writer_begin(w, 0xBF36);
  tlv_writer_begin(w, 0xBF23);
  tlv_writer_put_uint(w, 0x82, 1);
  put_hex(w, 0x80, TXID);
  tlv_writer_begin(w, 0xA6);
  put_hex(w, 0x80, "88");
  put_hex(w, 0x81, "10");
  put_hex(w, 0x84, "0102030405060708");
  tlv_writer_end(w);
  put_fill(w, 0x5F49, 0x04, 65);
  signature(w);
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xA0);
  put_fill(w, 0x87, 0x87, 40);
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xA1);
  put_fill(w, 0x88, 0x81, 20);
  put_fill(w, 0x88, 0x82, 30);
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xA2);
  put_fill(w, 0x87, 0x97, 50);
  tlv_writer_end(w);
  tlv_writer_begin(w, 0xA3);
  put_fill(w, 0x86, 0x61, 10);
  put_fill(w, 0x86, 0x62, 200);
  put_fill(w, 0x86, 0x63, 1020);
  tlv_writer_end(w);
  tlv_writer_end(w);
}

int main(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *cert = NULL;
  gsize cert_len;
  g_autoptr(GBytes) s1 = NULL, sig = NULL, pk = NULL, s2 = NULL, txid = NULL;
  Es10DeviceInfo info = {.tac = {0x35, 0x29, 0x06, 0x11}};
  Es10bAuthenticateServerRequest req = {0};
  guint8 hash_cc[ES10_HASH_CC_LEN];

  if (argc != 2) {
    fprintf(stderr, "usage: %s CERT.der\n", argv[0]);
    return 2;
  }
  if (!g_file_get_contents(argv[1], &cert, &cert_len, &error)) {
    fprintf(stderr, "es10-samples: %s\n", error->message);
    return 1;
  }
  certificate = g_bytes_new(cert, cert_len);
  s1 = build(server_signed1);
  sig = build(signature);
  pk = build(pkid);
  s2 = build(smdp_signed2);
  txid = es10_hex_decode(TXID, NULL);

  /* Requests, from the encoders. */
  emit("GetEuiccInfo1Request", es10b_get_euicc_info1_encode(), "GetEUICCInfo1");
  emit("GetEuiccChallengeRequest", es10b_get_euicc_challenge_encode(), "GetEUICCChallenge");
  must(es10_imei_to_device_info("356938035643809", &info, &error), error, "IMEI");
  /* Every capability a modem can report (esimd's releases, service/modem-caps.c). */
  info.capabilities_present = (1u << ES10_DEVCAP_GSM) | (1u << ES10_DEVCAP_UTRAN) |
                              (1u << ES10_DEVCAP_EUTRAN) | (1u << ES10_DEVCAP_NR_EPC) |
                              (1u << ES10_DEVCAP_NR_5GC) | (1u << ES10_DEVCAP_EUTRAN_5GC);
  info.capabilities[ES10_DEVCAP_GSM] = (Es10Version){11, 0, 0};
  info.capabilities[ES10_DEVCAP_UTRAN] = (Es10Version){11, 0, 0};
  info.capabilities[ES10_DEVCAP_EUTRAN] = (Es10Version){11, 0, 0};
  info.capabilities[ES10_DEVCAP_NR_EPC] = (Es10Version){15, 0, 0};
  info.capabilities[ES10_DEVCAP_NR_5GC] = (Es10Version){15, 0, 0};
  info.capabilities[ES10_DEVCAP_EUTRAN_5GC] = (Es10Version){15, 0, 0};
  req.server_signed1 = s1;
  req.server_signature1 = sig;
  req.euicc_ci_pkid_to_be_used = pk;
  req.server_certificate = certificate;
  req.device_info = &info;
  req.matching_id = "04386-AGYFT-A74Y8-3F815";
  emit("AuthenticateServerRequest", es10b_authenticate_server_encode(&req, &error),
       "AuthenticateServer with a matchingId and an IMEI");
  req.matching_id = NULL;
  info.has_imei = FALSE;
  info.capabilities_present = 0;
  emit("AuthenticateServerRequest", es10b_authenticate_server_encode_es11(&req, &error),
       "AuthenticateServer for an SM-DS");
  must(es10_hash_confirmation_code("12345678", txid, hash_cc, &error), error, "hashCc");
  emit("PrepareDownloadRequest",
       es10b_prepare_download_encode(s2, sig, hash_cc, certificate, &error),
       "PrepareDownload with hashCc");
  emit("PrepareDownloadRequest", es10b_prepare_download_encode(s2, sig, NULL, certificate, &error),
       "PrepareDownload");
  emit("CancelSessionRequest",
       es10b_cancel_session_encode(txid, ES10B_CANCEL_PPR_NOT_ALLOWED, &error), "CancelSession");
  /* The reasons SGP.22 v2.2 added (tests/asn1/rsp.asn names them). */
  emit("CancelSessionRequest",
       es10b_cancel_session_encode(txid, ES10B_CANCEL_METADATA_MISMATCH, &error),
       "CancelSession metadataMismatch");
  emit("CancelSessionRequest",
       es10b_cancel_session_encode(txid, ES10B_CANCEL_LOAD_BPP_EXECUTION_ERROR, &error),
       "CancelSession loadBppExecutionError");
  emit("CancelSessionRequest",
       es10b_cancel_session_encode(txid, ES10B_CANCEL_UNDEFINED_REASON, &error),
       "CancelSession undefinedReason");
  emit("RetrieveNotificationsListRequest",
       es10b_retrieve_notifications_list_encode(ES10B_SEARCH_SEQ_NUMBER, 300, &error),
       "RetrieveNotificationsList of one seqNumber");

  /* Responses: the codec's decoders must take what asn1c takes. */
  {
    g_autoptr(GBytes) d = build(authenticate_ok);
    g_autoptr(Es10bAuthenticateServerResponse) r = NULL;

    must(es10b_authenticate_server_decode(g_bytes_get_data(d, NULL), g_bytes_get_size(d), &r,
                                          &error),
         error, "AuthenticateServerResponse");
    emit("AuthenticateServerResponse", g_steal_pointer(&d), "AuthenticateServer answer");
  }
  {
    g_autoptr(GBytes) d = build(authenticate_error);
    g_autoptr(Es10bAuthenticateServerResponse) r = NULL;

    must(es10b_authenticate_server_decode(g_bytes_get_data(d, NULL), g_bytes_get_size(d), &r,
                                          &error),
         error, "AuthenticateServerResponse error");
    emit("AuthenticateServerResponse", g_steal_pointer(&d), "AuthenticateServer error");
  }
  {
    void (*builders[])(TlvWriter *) = {prepare_download_ok, prepare_download_error};

    for (gsize i = 0; i < G_N_ELEMENTS(builders); i++) {
      g_autoptr(GBytes) d = build(builders[i]);
      g_autoptr(Es10bPrepareDownloadResponse) r = NULL;

      must(
          es10b_prepare_download_decode(g_bytes_get_data(d, NULL), g_bytes_get_size(d), &r, &error),
          error, "PrepareDownloadResponse");
      emit("PrepareDownloadResponse", g_steal_pointer(&d),
           i ? "PrepareDownload error" : "PrepareDownload answer");
    }
  }
  {
    void (*builders[])(TlvWriter *) = {cancel_session_ok, cancel_session_error};

    for (gsize i = 0; i < G_N_ELEMENTS(builders); i++) {
      g_autoptr(GBytes) d = build(builders[i]);
      g_autoptr(GBytes) der = NULL;
      Es10bCancelSessionResult r;

      must(es10b_cancel_session_decode(g_bytes_get_data(d, NULL), g_bytes_get_size(d), &r, &der,
                                       &error),
           error, "CancelSessionResponse");
      emit("CancelSessionResponse", g_steal_pointer(&d),
           i ? "CancelSession error" : "CancelSession answer");
    }
  }
  {
    void (*builders[])(TlvWriter *) = {installation_success, installation_error};

    for (gsize i = 0; i < G_N_ELEMENTS(builders); i++) {
      g_autoptr(GBytes) d = build(builders[i]);
      g_autoptr(Es10bProfileInstallationResult) r = NULL;

      must(es10b_profile_installation_result_decode(g_bytes_get_data(d, NULL), g_bytes_get_size(d),
                                                    &r, &error),
           error, "ProfileInstallationResult");
      emit("ProfileInstallationResult", g_steal_pointer(&d),
           i ? "ProfileInstallationResult error" : "ProfileInstallationResult success");
    }
  }
  {
    g_autoptr(GBytes) d = build(bound_profile_package);
    g_autoptr(GPtrArray) segments = NULL;

    must(es10b_bound_profile_package_split(g_bytes_get_data(d, NULL), g_bytes_get_size(d),
                                           &segments, &error),
         error, "BoundProfilePackage");
    emit("BoundProfilePackage", g_steal_pointer(&d), "BoundProfilePackage");
  }
  {
    /* What the SM-DP+ sends that the LPA reads: the decoders must take what asn1c takes. */
    g_autoptr(GBytes) d = build(store_metadata);
    g_autoptr(Es10StoreMetadataRequest) m = NULL;
    g_autoptr(Es10SmdpSigned2) sd = NULL;

    must(es10_store_metadata_request_decode(g_bytes_get_data(d, NULL), g_bytes_get_size(d), &m,
                                            &error),
         error, "StoreMetadataRequest");
    emit("StoreMetadataRequest", g_steal_pointer(&d), "StoreMetadataRequest (profileMetadata)");
    must(es10_smdp_signed2_decode(g_bytes_get_data(s2, NULL), g_bytes_get_size(s2), &sd, &error),
         error, "SmdpSigned2");
    emit("SmdpSigned2", g_bytes_ref(s2), "smdpSigned2");
  }
  {
    /* GetEuiccChallengeResponse. */
    TlvWriter w;
    g_autoptr(GBytes) d = NULL;
    guint8 c[ES10_CHALLENGE_LEN];

    tlv_writer_init(&w);
    tlv_writer_begin(&w, 0xBF2E);
    put_fill(&w, 0x80, 0xA5, 16);
    tlv_writer_end(&w);
    d = tlv_writer_finish(&w);
    must(
        es10b_get_euicc_challenge_decode(g_bytes_get_data(d, NULL), g_bytes_get_size(d), c, &error),
        error, "GetEuiccChallengeResponse");
    emit("GetEuiccChallengeResponse", g_steal_pointer(&d), "GetEUICCChallenge answer");
  }
  g_bytes_unref(certificate);
  return 0;
}
