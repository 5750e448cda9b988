/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The profile download half of the ES10 codec (SGP.22 3.1.3) up to the
 * Bound Profile Package: each encoder against DER written out from rsp.asn,
 * each decoder on good, error and malformed answers. test-es10-bpp.c goes
 * on with the package and its installation result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "es10/es10.h"

#include "der-hex.h"

static void assert_encoded(GBytes *b, const char *expected_hex)
{
  assert_non_null(b);
  assert_string_equal(H(b), expected_hex);
  g_bytes_unref(b);
}

static void assert_invalid_argument(GBytes *b, GError **error)
{
  assert_null(b);
  assert_true(g_error_matches(*error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
  g_clear_error(error);
}

#define TXID "0102030405060708090A0B0C0D0E0F10"
#define CHAL "A1A2A3A4A5A6A7A8A9AAABACADAEAFB0"
#define SCHAL "C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0"
#define PKID1 "F54172BDF98A95D65CBEB88A38A1C11D800A85C3"
#define SMDP "smdp.example.com"
#define ICCID1_BCD "98101430121181157002"
#define AID1 "A0000005591010FFFFFFFF8900001000"

/* ---- GetEUICCChallenge -------------------------------------------------- */

static void test_euicc_challenge(void **state)
{
  guint8 c[ES10_CHALLENGE_LEN];
  g_autoptr(GBytes) good = B("BF2E1280"
                             "10" CHAL);
  g_autoptr(GBytes) short_ = B(T("BF2E", T("80", R(0xAA, 15))));
  g_autoptr(GBytes) missing = B("BF2E00");
  g_autoptr(GError) error = NULL;

  /* GetEuiccChallengeRequest: an empty SEQUENCE. */
  assert_encoded(es10b_get_euicc_challenge_encode(), "BF2E00");
  /* euiccChallenge Octet16, the one untagged component: [0] = 80. */
  assert_true(es10b_get_euicc_challenge_decode(g_bytes_get_data(good, NULL), g_bytes_get_size(good),
                                               c, NULL));
  assert_string_equal(keep(es10_hex_encode(c, sizeof(c))), CHAL);

  assert_false(es10b_get_euicc_challenge_decode(g_bytes_get_data(short_, NULL),
                                                g_bytes_get_size(short_), c, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  assert_non_null(strstr(error->message, "euiccChallenge"));
  g_clear_error(&error);
  assert_false(es10b_get_euicc_challenge_decode(g_bytes_get_data(missing, NULL),
                                                g_bytes_get_size(missing), c, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
}

/* ---- AuthenticateServer ------------------------------------------------- */

static const char *server_signed1(void)
{
  return T("30", C(T("80", TXID), T("81", CHAL), T("83", U(SMDP)), T("84", SCHAL), NULL));
}

static const char *fake_certificate(guint8 fill)
{
  /* Only passed through: one SEQUENCE is all the codec checks. */
  return T("30", C(T("30", T("02", "01")), T("04", R(fill, 40)), NULL));
}

typedef struct {
  GBytes *s1, *sig1, *pkid, *cert;
} ServerValues;

static void server_values(ServerValues *v)
{
  v->s1 = B(server_signed1());
  v->sig1 = B(T("5F37", R(0x55, 64)));
  v->pkid = B(T("04", PKID1));
  v->cert = B(fake_certificate(0xCE));
}

static void server_values_clear(ServerValues *v)
{
  g_clear_pointer(&v->s1, g_bytes_unref);
  g_clear_pointer(&v->sig1, g_bytes_unref);
  g_clear_pointer(&v->pkid, g_bytes_unref);
  g_clear_pointer(&v->cert, g_bytes_unref);
}

static void test_imei_to_device_info(void **state)
{
  Es10DeviceInfo info = {0};
  g_autoptr(GError) error = NULL;

  /* 15 digits: the TAC is the first 8 in reading order; the IMEI is
   * nibble-swapped with an F pad. */
  assert_true(es10_imei_to_device_info("356938035643809", &info, NULL));
  assert_string_equal(keep(es10_hex_encode(info.tac, 4)), "35693803");
  assert_string_equal(keep(es10_hex_encode(info.imei, 8)), "53968330653408F9");
  assert_true(info.has_imei);
  /* 14 digits: the check digit (9, Luhn) is computed: the same bytes. */
  memset(&info, 0, sizeof info);
  assert_true(es10_imei_to_device_info("35693803564380", &info, NULL));
  assert_string_equal(keep(es10_hex_encode(info.tac, 4)), "35693803");
  assert_string_equal(keep(es10_hex_encode(info.imei, 8)), "53968330653408F9");
  assert_true(info.has_imei);
  /* Another: 490154203237518 (check digit 8). */
  assert_true(es10_imei_to_device_info("49015420323751", &info, NULL));
  assert_string_equal(keep(es10_hex_encode(info.imei, 8)), "94104502237315F8");
  /* IMEISV: its IMEI is sent, the software version (the last two digits)
   * is not, the check digit is computed. */
  memset(&info, 0, sizeof info);
  assert_true(es10_imei_to_device_info("3569380356438091", &info, NULL));
  assert_string_equal(keep(es10_hex_encode(info.tac, 4)), "35693803");
  assert_string_equal(keep(es10_hex_encode(info.imei, 8)), "53968330653408F9");
  assert_true(es10_imei_to_device_info("3529061112345601", &info, NULL));
  assert_string_equal(keep(es10_hex_encode(info.imei, 8)), "53926011214365F5");

  /* A wrong check digit: refused, and the caller's DeviceInfo untouched. */
  memset(&info, 0, sizeof info);
  assert_false(es10_imei_to_device_info("356938035643808", &info, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
  assert_non_null(strstr(error->message, "check digit"));
  assert_false(info.has_imei);
  g_clear_error(&error);
  assert_false(es10_imei_to_device_info("3569380356438", &info, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);
  assert_false(es10_imei_to_device_info("35693803564380912", &info, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);
  assert_false(es10_imei_to_device_info("35693803564380A", &info, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);
  assert_false(es10_imei_to_device_info(NULL, &info, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
}

static void test_encode_authenticate_server(void **state)
{
  ServerValues v;
  Es10DeviceInfo info = {
      .tac = {0x35, 0x29, 0x06, 0x11},
      .capabilities_present = (1u << ES10_DEVCAP_GSM) | (1u << ES10_DEVCAP_EUTRAN),
      .has_imei = TRUE,
      .imei = {0x53, 0x92, 0x60, 0x11, 0x21, 0x43, 0x65, 0xF7},
  };
  Es10bAuthenticateServerRequest req = {0};
  g_autoptr(GError) error = NULL;
  const char *head;

  info.capabilities[ES10_DEVCAP_GSM] = (Es10Version){8, 0, 0};
  info.capabilities[ES10_DEVCAP_EUTRAN] = (Es10Version){15, 0, 0};
  server_values(&v);
  req.server_signed1 = v.s1;
  req.server_signature1 = v.sig1;
  req.euicc_ci_pkid_to_be_used = v.pkid;
  req.server_certificate = v.cert;
  req.matching_id = "MATCH-1";
  req.device_info = &info;

  /* The four server values verbatim, then ctxParams1: A0 (the CHOICE's
   * alternative [0]) holding matchingId [0] and deviceInfo [1] = A1 {tac [0],
   * deviceCapabilities [1] {gsm [0], eutran [5]}, imei [2]}. */
  head = C(server_signed1(), T("5F37", R(0x55, 64)), T("04", PKID1), fake_certificate(0xCE), NULL);
  assert_encoded(es10b_authenticate_server_encode(&req, NULL),
                 T("BF38", C(head,
                             T("A0", C("80074D415443482D31",
                                       T("A1", C("800435290611",
                                                 "A10A"
                                                 "8003080000"
                                                 "85030F0000",
                                                 "820853926011214365F7", NULL)),
                                       NULL)),
                             NULL)));

  /* The default SM-DP+ (SGP.22 3.1.3.2): an empty matchingId is still there. */
  req.matching_id = "";
  info.capabilities_present = 0;
  info.has_imei = FALSE;
  assert_encoded(es10b_authenticate_server_encode(&req, NULL), T("BF38", C(head,
                                                                           "A00C"
                                                                           "8000"
                                                                           "A108"
                                                                           "800435290611"
                                                                           "A100",
                                                                           NULL)));
  /* ES11: no matchingId at all. */
  req.matching_id = NULL;
  assert_encoded(es10b_authenticate_server_encode_es11(&req, NULL), T("BF38", C(head,
                                                                                "A00A"
                                                                                "A108"
                                                                                "800435290611"
                                                                                "A100",
                                                                                NULL)));
  req.matching_id = "EVENT-1";
  assert_invalid_argument(es10b_authenticate_server_encode_es11(&req, &error), &error);
  /* The SM-DP+ variant without one is the same bytes. */
  req.matching_id = NULL;
  assert_encoded(es10b_authenticate_server_encode(&req, NULL), T("BF38", C(head,
                                                                           "A00A"
                                                                           "A108"
                                                                           "800435290611"
                                                                           "A100",
                                                                           NULL)));

  /* Server values of the wrong type, or not one element, are refused. */
  req.server_signed1 = v.sig1;
  assert_invalid_argument(es10b_authenticate_server_encode(&req, &error), &error);
  req.server_signed1 = v.s1;
  req.server_signature1 = v.pkid;
  assert_invalid_argument(es10b_authenticate_server_encode(&req, &error), &error);
  req.server_signature1 = v.sig1;
  req.euicc_ci_pkid_to_be_used = NULL;
  assert_invalid_argument(es10b_authenticate_server_encode(&req, &error), &error);
  {
    g_autoptr(GBytes) trailing = B(C(T("04", PKID1), "00", NULL));
    req.euicc_ci_pkid_to_be_used = trailing;
    assert_invalid_argument(es10b_authenticate_server_encode(&req, &error), &error);
  }
  req.euicc_ci_pkid_to_be_used = v.pkid;
  req.server_certificate = v.s1; /* a SEQUENCE too: accepted, the codec does not judge it */
  {
    g_autoptr(GBytes) b = es10b_authenticate_server_encode(&req, NULL);
    assert_non_null(b);
  }
  req.server_certificate = v.sig1;
  assert_invalid_argument(es10b_authenticate_server_encode(&req, &error), &error);
  req.server_certificate = v.cert;
  req.device_info = NULL;
  assert_invalid_argument(es10b_authenticate_server_encode(&req, &error), &error);
  req.device_info = &info;
  info.capabilities_present = 1u << ES10_DEVCAP_COUNT;
  assert_invalid_argument(es10b_authenticate_server_encode(&req, &error), &error);
  info.capabilities_present = 0;
  req.matching_id = "bad\xff";
  assert_invalid_argument(es10b_authenticate_server_encode(&req, &error), &error);
  assert_invalid_argument(es10b_authenticate_server_encode(NULL, &error), &error);
  server_values_clear(&v);
}

static const char *authenticate_ok(const char *challenge)
{
  const char *info2 = T("BF22", C(T("81", "020300"), T("82", "020200"), NULL));
  const char *signed1 =
      T("30",
        C(T("80", TXID), T("83", U(SMDP)), T("84", challenge), info2,
          T("A0", C(T("80", U("MATCH-1")), T("A1", C(T("80", "35290611"), "A100", NULL)), NULL)),
          NULL));

  return T("BF38", T("A0", C(signed1, T("5F37", R(0x66, 64)), fake_certificate(0xE1),
                             fake_certificate(0xE2), NULL)));
}

static gboolean decode_auth(const char *hex, Es10bAuthenticateServerResponse **out, GError **error)
{
  g_autoptr(GBytes) der = B(hex);

  return es10b_authenticate_server_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der), out,
                                          error);
}

static void test_decode_authenticate_server_ok(void **state)
{
  g_autoptr(Es10bAuthenticateServerResponse) r = NULL;
  const char *hex = authenticate_ok(SCHAL);

  assert_true(decode_auth(hex, &r, NULL));
  assert_int_equal(r->result, ES10B_AUTHENTICATE_OK);
  /* The whole response goes to the SM-DP+ as it came. */
  assert_string_equal(H(r->der), hex);
  assert_string_equal(H(r->transaction_id), TXID);
  assert_string_equal(r->server_address, SMDP);
  assert_string_equal(keep(es10_hex_encode(r->server_challenge, 16)), SCHAL);
  assert_string_equal(r->matching_id, "MATCH-1");
  assert_string_equal(H(r->euicc_info2), T("BF22", C(T("81", "020300"), T("82", "020200"), NULL)));
  assert_string_equal(H(r->euicc_certificate), fake_certificate(0xE1));
  assert_string_equal(H(r->eum_certificate), fake_certificate(0xE2));
}

/* The euiccInfo2 the card signs is an EUICCInfo2 the GetEUICCInfo2 decoder reads. */
static void test_authenticate_server_euicc_info2_reads_back(void **state)
{
  g_autoptr(Es10bAuthenticateServerResponse) r = NULL;
  g_autoptr(Es10bEuiccInfo2) info = NULL;
  g_autofree gchar *svn = NULL;
  const char *info2 =
      T("BF22", C(T("81", "020300"), T("82", "020200"), T("83", "040100"), T("84", "810108"),
                  T("85", "067A26C0"), T("88", "04F0"), T("A9", T("04", PKID1)),
                  T("AA", T("04", PKID1)), T("04", "000201"), T("0C", U("GI-BA-UP-0419")), NULL));
  const char *signed1 = T("30", C(T("80", TXID), T("83", U(SMDP)), T("84", SCHAL), info2,
                                  T("A0", T("A1", C(T("80", "35290611"), "A100", NULL))), NULL));

  assert_true(decode_auth(T("BF38", T("A0", C(signed1, T("5F37", "00"), fake_certificate(1),
                                              fake_certificate(2), NULL))),
                          &r, NULL));
  assert_null(r->matching_id);
  assert_string_equal(H(r->euicc_info2), info2);
  assert_true(es10b_get_euicc_info2_decode(g_bytes_get_data(r->euicc_info2, NULL),
                                           g_bytes_get_size(r->euicc_info2), &info, NULL));
  svn = es10_version_to_string(&info->svn);
  assert_string_equal(svn, "2.2.0");
  assert_true(info->has_installed_applications);
  assert_int_equal(info->installed_applications, 8);
}

static void test_decode_authenticate_server_errors(void **state)
{
  g_autoptr(GError) error = NULL;
  Es10bAuthenticateServerResponse *r = NULL;
  /* AuthenticateResponseError [1]: transactionId [0], then the code as a
   * plain INTEGER (02): the SEQUENCE has a tag of its own, so no automatic tags. */
  static const gint codes[] = {1, 2, 3, 4, 5, 6, 7, 127};

  for (gsize i = 0; i < G_N_ELEMENTS(codes); i++) {
    g_autofree gchar *code = g_strdup_printf("%02X", codes[i]);

    assert_true(decode_auth(T("BF38", T("A1", C(T("80", TXID), T("02", code), NULL))), &r, NULL));
    assert_int_equal(r->result, codes[i]);
    assert_string_equal(H(r->transaction_id), TXID);
    assert_null(r->der);
    assert_string_not_equal(es10_result_get_message(ES10_CMD_AUTHENTICATE_SERVER, codes[i]),
                            "unknown result code");
    g_clear_pointer(&r, es10b_authenticate_server_response_free);
  }
  assert_string_equal(es10_result_get_name(ES10_CMD_AUTHENTICATE_SERVER, 7), "ciPKUnknown");
  assert_string_equal(es10_result_get_message(ES10_CMD_AUTHENTICATE_SERVER,
                                              ES10B_AUTHENTICATE_EUICC_CHALLENGE_MISMATCH),
                      "the server signed another challenge than the card's");

  /* Codes rsp.asn does not give, and 0 in the error alternative. */
  assert_false(decode_auth(T("BF38", T("A1", C(T("80", TXID), T("02", "08"), NULL))), &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  g_clear_error(&error);
  assert_false(decode_auth(T("BF38", T("A1", C(T("80", TXID), T("02", "00"), NULL))), &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  g_clear_error(&error);
  /* Without its transactionId. */
  assert_false(decode_auth(T("BF38", T("A1", T("02", "01"))), &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
  g_clear_error(&error);
  /* A transactionId of 17 bytes. */
  assert_false(
      decode_auth(T("BF38", T("A1", C(T("80", R(1, 17)), T("02", "01"), NULL))), &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  g_clear_error(&error);
  /* A serverChallenge of 15 bytes. */
  assert_false(decode_auth(authenticate_ok(R(0xC1, 15)), &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  assert_non_null(strstr(error->message, "serverChallenge"));
  g_clear_error(&error);
  /* Both alternatives. */
  assert_false(decode_auth(T("BF38", C(T("A1", C(T("80", TXID), T("02", "01"), NULL)),
                                       T("A1", C(T("80", TXID), T("02", "01"), NULL)), NULL)),
                           &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_TRAILING_DATA));
  g_clear_error(&error);
  /* An alternative that does not exist. */
  assert_false(decode_auth(T("BF38", T("A2", "")), &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG));
  g_clear_error(&error);
  /* Empty. */
  assert_false(decode_auth("BF3800", &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
  g_clear_error(&error);
  /* The eUM certificate left out. */
  {
    const char *signed1 = T("30", C(T("80", TXID), T("83", U(SMDP)), T("84", SCHAL), "BF2200",
                                    T("A0", T("A1", "")), NULL));
    assert_false(decode_auth(
        T("BF38", T("A0", C(signed1, T("5F37", "00"), fake_certificate(1), NULL))), &r, &error));
    assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
    assert_non_null(strstr(error->message, "eumCertificate"));
    g_clear_error(&error);
    /* The signature where the certificate belongs. */
    assert_false(decode_auth(T("BF38", T("A0", C(signed1, fake_certificate(1), T("5F37", "00"),
                                                 fake_certificate(1), NULL))),
                             &r, &error));
    assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG));
    g_clear_error(&error);
  }
  assert_null(r);
}

/* ---- hashCc and PrepareDownload ----------------------------------------- */

static void test_hash_confirmation_code(void **state)
{
  guint8 out[ES10_HASH_CC_LEN];
  g_autoptr(GBytes) txid = B(TXID);
  g_autoptr(GBytes) txid1 = B("AB");
  g_autoptr(GBytes) txid17 = B(R(1, 17));
  g_autoptr(GError) error = NULL;

  /* Worked out with Python's hashlib:
   * sha256(sha256(b"12345678").digest() + bytes.fromhex(TXID)). */
  assert_true(es10_hash_confirmation_code("12345678", txid, out, NULL));
  assert_string_equal(keep(es10_hex_encode(out, sizeof(out))),
                      "87B0215C5D8F952804B1C92D5F2AE9966568B47CD659519536D862E7A9470D2D");
  assert_true(es10_hash_confirmation_code("A1", txid1, out, NULL));
  assert_string_equal(keep(es10_hex_encode(out, sizeof(out))),
                      "72EE9B00E01FA66261A562A45B8307F912450979A7198E1870872450E74045E9");

  assert_false(es10_hash_confirmation_code("1234", txid17, out, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);
  assert_false(es10_hash_confirmation_code(NULL, txid, out, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);
  assert_false(es10_hash_confirmation_code("1234", NULL, out, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
}

static void test_encode_prepare_download(void **state)
{
  const char *signed2 = T("30", C(T("80", TXID), "010100", NULL));
  g_autoptr(GBytes) s2 = B(signed2);
  g_autoptr(GBytes) sig2 = B(T("5F37", R(0x77, 64)));
  g_autoptr(GBytes) cert = B(fake_certificate(0xDD));
  g_autoptr(GError) error = NULL;
  guint8 hash[ES10_HASH_CC_LEN];

  memset(hash, 0x3C, sizeof(hash));
  /* smdpSignature2 is tagged, so hashCc is a plain OCTET STRING (04). */
  assert_encoded(es10b_prepare_download_encode(s2, sig2, hash, cert, NULL),
                 T("BF21", C(signed2, T("5F37", R(0x77, 64)), T("04", R(0x3C, 32)),
                             fake_certificate(0xDD), NULL)));
  assert_encoded(es10b_prepare_download_encode(s2, sig2, NULL, cert, NULL),
                 T("BF21", C(signed2, T("5F37", R(0x77, 64)), fake_certificate(0xDD), NULL)));
  assert_invalid_argument(es10b_prepare_download_encode(sig2, sig2, NULL, cert, &error), &error);
  assert_invalid_argument(es10b_prepare_download_encode(s2, s2, NULL, cert, &error), &error);
  assert_invalid_argument(es10b_prepare_download_encode(s2, sig2, NULL, sig2, &error), &error);
  assert_invalid_argument(es10b_prepare_download_encode(s2, sig2, NULL, NULL, &error), &error);
}

static gboolean decode_pd(const char *hex, Es10bPrepareDownloadResponse **out, GError **error)
{
  g_autoptr(GBytes) der = B(hex);

  return es10b_prepare_download_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der), out,
                                       error);
}

static void test_decode_prepare_download(void **state)
{
  g_autoptr(Es10bPrepareDownloadResponse) r = NULL;
  g_autoptr(GError) error = NULL;
  const char *otpk = T("5F49", C("04", R(0x44, 64), NULL));
  const char *ok =
      T("BF21", T("A0", C(T("30", C(T("80", TXID), otpk, NULL)), T("5F37", R(0x88, 64)), NULL)));
  const char *ok_cc = T("BF21", T("A0", C(T("30", C(T("80", TXID), otpk, T("04", R(9, 32)), NULL)),
                                          T("5F37", R(0x88, 64)), NULL)));

  assert_true(decode_pd(ok, &r, NULL));
  assert_int_equal(r->result, ES10B_DOWNLOAD_OK);
  assert_string_equal(H(r->der), ok);
  assert_string_equal(H(r->transaction_id), TXID);
  g_clear_pointer(&r, es10b_prepare_download_response_free);
  assert_true(decode_pd(ok_cc, &r, NULL));
  assert_string_equal(H(r->der), ok_cc);
  g_clear_pointer(&r, es10b_prepare_download_response_free);

  /* PrepareDownloadResponseError: transactionId [0], DownloadErrorCode INTEGER. */
  assert_true(decode_pd(T("BF21", T("A1", C(T("80", TXID), "020105", NULL))), &r, NULL));
  assert_int_equal(r->result, ES10B_DOWNLOAD_INVALID_TRANSACTION_ID);
  assert_null(r->der);
  assert_string_equal(es10_result_get_name(ES10_CMD_PREPARE_DOWNLOAD, r->result),
                      "invalidTransactionId");
  g_clear_pointer(&r, es10b_prepare_download_response_free);
  for (gint code = 1; code <= 127; code++) {
    g_autofree gchar *c = g_strdup_printf("%02X", code);
    gboolean defined = code <= 5 || code == 127;

    assert_int_equal(decode_pd(T("BF21", T("A1", C(T("80", TXID), T("02", c), NULL))), &r, &error),
                     defined);
    if (defined) {
      assert_int_equal(r->result, code);
      assert_string_not_equal(es10_result_get_message(ES10_CMD_PREPARE_DOWNLOAD, code),
                              "unknown result code");
    } else {
      assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
    }
    g_clear_pointer(&r, es10b_prepare_download_response_free);
    g_clear_error(&error);
  }

  /* A hashCc of 31 bytes; no euiccOtpk; no signature. */
  assert_false(
      decode_pd(T("BF21", T("A0", C(T("30", C(T("80", TXID), otpk, T("04", R(9, 31)), NULL)),
                                    T("5F37", "00"), NULL))),
                &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  g_clear_error(&error);
  assert_false(
      decode_pd(T("BF21", T("A0", C(T("30", T("80", TXID)), T("5F37", "00"), NULL))), &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
  assert_non_null(strstr(error->message, "euiccOtpk"));
  g_clear_error(&error);
  assert_false(decode_pd(T("BF21", T("A0", T("30", C(T("80", TXID), otpk, NULL)))), &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
  g_clear_error(&error);
  assert_false(decode_pd(T("BF21", T("80", TXID)), &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_UNEXPECTED_TAG));
  g_clear_error(&error);
  assert_null(r);
}

/* ---- CancelSession ------------------------------------------------------ */

static void test_cancel_session(void **state)
{
  g_autoptr(GBytes) txid = B(TXID);
  g_autoptr(GBytes) txid17 = B(R(1, 17));
  g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) der = NULL;
  Es10bCancelSessionResult result;
  const char *ok = T("BF41", T("A0", C(T("30", C(T("80", TXID), "81032B0601", "820101", NULL)),
                                       T("5F37", R(0x99, 64)), NULL)));
  g_autoptr(GBytes) ok_b = B(ok);
  g_autoptr(GBytes) err_b = B("BF4103810105");
  g_autoptr(GBytes) bad_b = B("BF4103810104");
  g_autoptr(GBytes) unsigned_b = B(T("BF41", T("A0", T("30", T("80", TXID)))));

  /* CancelSessionRequest: transactionId [0], reason [1] (AUTOMATIC TAGS). */
  assert_encoded(es10b_cancel_session_encode(txid, ES10B_CANCEL_POSTPONED, NULL),
                 "BF4115"
                 "8010" TXID "810101");
  assert_encoded(es10b_cancel_session_encode(txid, ES10B_CANCEL_END_USER_REJECTION, NULL),
                 "BF4115"
                 "8010" TXID "810100");
  /* SGP.22 v2.2's reasons past pprNotAllowed: 4, 5 and 127; nothing else. */
  for (guint reason = 4; reason <= 5; reason++) {
    g_autoptr(GBytes) r = es10b_cancel_session_encode(txid, reason, NULL);

    assert_non_null(r);
    assert_int_equal(((const guint8 *)g_bytes_get_data(r, NULL))[g_bytes_get_size(r) - 1], reason);
  }
  {
    g_autoptr(GBytes) r = es10b_cancel_session_encode(txid, ES10B_CANCEL_UNDEFINED_REASON, NULL);

    assert_non_null(r);
  }
  assert_string_equal(es10b_cancel_session_reason_to_string(5), "loadBppExecutionError");
  assert_string_equal(es10b_cancel_session_reason_to_string(127), "undefinedReason");
  assert_invalid_argument(es10b_cancel_session_encode(txid, 6, &error), &error);
  assert_invalid_argument(es10b_cancel_session_encode(txid, 126, &error), &error);
  assert_invalid_argument(es10b_cancel_session_encode(txid17, 1, &error), &error);
  assert_invalid_argument(es10b_cancel_session_encode(empty, 1, &error), &error);
  assert_invalid_argument(es10b_cancel_session_encode(NULL, 1, &error), &error);
  assert_string_equal(es10b_cancel_session_reason_to_string(ES10B_CANCEL_PPR_NOT_ALLOWED),
                      "pprNotAllowed");
  assert_string_equal(es10b_cancel_session_reason_to_string(4), "metadataMismatch");
  assert_string_equal(es10b_cancel_session_reason_to_string(6), "unknown");

  assert_true(es10b_cancel_session_decode(g_bytes_get_data(ok_b, NULL), g_bytes_get_size(ok_b),
                                          &result, &der, NULL));
  assert_int_equal(result, ES10B_CANCEL_SESSION_OK);
  assert_string_equal(H(der), ok);
  g_clear_pointer(&der, g_bytes_unref);
  /* cancelSessionResponseError [1] INTEGER. */
  assert_true(es10b_cancel_session_decode(g_bytes_get_data(err_b, NULL), g_bytes_get_size(err_b),
                                          &result, &der, NULL));
  assert_int_equal(result, ES10B_CANCEL_SESSION_INVALID_TRANSACTION_ID);
  assert_null(der);
  assert_string_equal(es10_result_get_message(ES10_CMD_CANCEL_SESSION, result),
                      "no session with that transaction id");
  assert_false(es10b_cancel_session_decode(g_bytes_get_data(bad_b, NULL), g_bytes_get_size(bad_b),
                                           &result, &der, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  g_clear_error(&error);
  assert_false(es10b_cancel_session_decode(g_bytes_get_data(unsigned_b, NULL),
                                           g_bytes_get_size(unsigned_b), &result, &der, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MISSING_FIELD));
}

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, der_hex_setup, der_hex_teardown)
  const struct CMUnitTest tests[] = {
      T_(test_euicc_challenge),
      T_(test_imei_to_device_info),
      T_(test_encode_authenticate_server),
      T_(test_decode_authenticate_server_ok),
      T_(test_authenticate_server_euicc_info2_reads_back),
      T_(test_decode_authenticate_server_errors),
      T_(test_hash_confirmation_code),
      T_(test_encode_prepare_download),
      T_(test_decode_prepare_download),
      T_(test_cancel_session),
  };
#undef T_
  return cmocka_run_group_tests(tests, NULL, NULL);
}
