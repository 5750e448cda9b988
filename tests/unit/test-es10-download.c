/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The profile download half of the ES10 codec (SGP.22 3.1.3) and activation
 * codes (SGP.22 4.1): each encoder against DER written out from rsp.asn,
 * each decoder on good, error and malformed answers, the Bound Profile
 * Package split as SGP.22 2.5.5 orders it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "es10/activation.h"
#include "es10/es10.h"

/* ---- Building DER by hand (as in test-es10.c) --------------------------- */

static GPtrArray *arena;

static const char *keep(gchar *s)
{
  g_ptr_array_add(arena, s);
  return s;
}

/* One element: tag and value in hex, with its DER length worked out. */
static const char *T(const char *tag, const char *value)
{
  gsize n = strlen(value) / 2;
  g_autofree gchar *len = NULL;

  if (n < 0x80)
    len = g_strdup_printf("%02zX", n);
  else if (n <= 0xFF)
    len = g_strdup_printf("81%02zX", n);
  else
    len = g_strdup_printf("82%04zX", n);
  return keep(g_strconcat(tag, len, value, NULL));
}

/* Hex pieces one after the other; NULL ends the list. */
static const char *C(const char *first, ...)
{
  GString *s = g_string_new(first);
  va_list ap;
  const char *p;

  va_start(ap, first);
  while ((p = va_arg(ap, const char *)))
    g_string_append(s, p);
  va_end(ap);
  return keep(g_string_free(s, FALSE));
}

static const char *U(const char *s)
{
  return keep(es10_hex_encode((const guint8 *)s, strlen(s)));
}

/* n bytes of the value b, in hex. */
static const char *R(guint8 b, gsize n)
{
  GString *s = g_string_new(NULL);

  for (gsize i = 0; i < n; i++)
    g_string_append_printf(s, "%02X", b);
  return keep(g_string_free(s, FALSE));
}

static GBytes *B(const char *hex)
{
  GBytes *b = es10_hex_decode(hex, NULL);

  assert_non_null(b);
  return b;
}

static const char *H(GBytes *b)
{
  gsize len;
  const guint8 *p = g_bytes_get_data(b, &len);

  return keep(es10_hex_encode(p, len));
}

static int setup(void **state)
{
  arena = g_ptr_array_new_with_free_func(g_free);
  return 0;
}

static int teardown(void **state)
{
  g_clear_pointer(&arena, g_ptr_array_unref);
  return 0;
}

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

/* ---- Bound Profile Package ---------------------------------------------- */

static const char *bpp_isc(void)
{
  /* InitialiseSecureChannelRequest: remoteOpId 82 01 01, transactionId 80,
   * controlRefTemplate A6, smdpOtpk 5F49, smdpSign 5F37. */
  return T("BF23", C("820101", T("80", TXID),
                     T("A6", C("800188", "810110",
                               "8401"
                               "01",
                               NULL)),
                     T("5F49", C("04", R(0x21, 64), NULL)), T("5F37", R(0x22, 64)), NULL));
}

static void assert_segments(GPtrArray *segs, const char *const *expected, gsize n)
{
  assert_int_equal(segs->len, n);
  for (gsize i = 0; i < n; i++)
    assert_string_equal(H(segs->pdata[i]), expected[i]);
}

static gboolean split(const char *hex, GPtrArray **out, GError **error)
{
  g_autoptr(GBytes) der = B(hex);

  return es10b_bound_profile_package_split(g_bytes_get_data(der, NULL), g_bytes_get_size(der), out,
                                           error);
}

static void test_bpp_split_with_every_part(void **state)
{
  g_autoptr(GPtrArray) segs = NULL;
  const char *a0 = T("A0", T("87", R(0x87, 40)));
  const char *m1 = T("88", R(0x81, 20));
  const char *m2 = T("88", R(0x82, 30));
  const char *a1 = T("A1", C(m1, m2, NULL));
  const char *a2 = T("A2", T("87", R(0x97, 50)));
  const char *p1 = T("86", R(0x61, 10));
  const char *p2 = T("86", R(0x62, 200)); /* long form length 81 C8 */
  const char *p3 = T("86", R(0x63, 300)); /* long form length 82 01 2C */
  const char *a3 = T("A3", C(p1, p2, p3, NULL));
  const char *body = C(bpp_isc(), a0, a1, a2, a3, NULL);
  const char *bpp = T("BF36", body);
  /* The BF36 header alone: its tag and a two-byte length. */
  const char *bf36_header = keep(g_strndup(bpp, strlen(bpp) - strlen(body)));
  const char *expected[] = {
      C(bf36_header, bpp_isc(), NULL),
      a0,
      "A136", /* m1 is 2 + 20 bytes, m2 2 + 30: 54 = 0x36 */
      m1,
      m2,
      a2,
      keep(g_strndup(a3, strlen(a3) - strlen(C(p1, p2, p3, NULL)))),
      p1,
      p2,
      p3,
  };
  GString *joined = g_string_new(NULL);

  /* BF36's header by hand: BF23 (4 + 167), A0 (2 + 42), A1 (2 + 54), A2
   * (2 + 52), A3 (4 + 519) make 848 = 0x0350 bytes. */
  assert_string_equal(bf36_header, "BF36820350");
  /* A3: 12 + 203 + 304 = 519 bytes = 0x0207, a two-byte long form. */
  assert_string_equal(expected[6], "A3820207");

  assert_true(split(bpp, &segs, NULL));
  assert_segments(segs, expected, G_N_ELEMENTS(expected));
  /* Nothing lost, nothing added, nothing reordered. */
  for (guint i = 0; i < segs->len; i++)
    g_string_append(joined, H(segs->pdata[i]));
  assert_string_equal(joined->str, bpp);
  g_string_free(joined, TRUE);
}

static void test_bpp_split_without_a2(void **state)
{
  g_autoptr(GPtrArray) segs = NULL;
  const char *a0 = T("A0", T("87", R(0x87, 3)));
  const char *a1 = T("A1", C(T("88", "01"), T("88", "02"), NULL));
  const char *a3 = T("A3", C(T("86", "0A"), T("86", "0B"), T("86", "0C"), NULL));
  const char *bpp = T("BF36", C(bpp_isc(), a0, a1, a3, NULL));
  const char *isc = bpp_isc();
  g_autofree gchar *first = NULL;
  const char *expected[9];
  gsize body = strlen(isc) / 2 + 7 + 8 + 11;

  /* BF36's length: the BF23 plus A0 (2 + 5), A1 (2 + 6), A3 (2 + 9). */
  assert_true(body >= 0x80 && body <= 0xFF);
  first = g_strdup_printf("BF3681%02zX%s", body, isc);
  expected[0] = first;
  expected[1] = "A0058703878787";
  expected[2] = "A106";
  expected[3] = "880101";
  expected[4] = "880102";
  expected[5] = "A309";
  expected[6] = "86010A";
  expected[7] = "86010B";
  expected[8] = "86010C";
  assert_true(split(bpp, &segs, NULL));
  assert_segments(segs, expected, G_N_ELEMENTS(expected));
}

static void test_bpp_split_rejects_malformed(void **state)
{
  const char *isc = bpp_isc();
  const char *a0 = T("A0", T("87", "01"));
  const char *a1 = T("A1", T("88", "02"));
  const char *a2 = T("A2", T("87", "03"));
  const char *a3 = T("A3", T("86", "04"));
  struct {
    const char *hex;
    Es10Error code;
  } cases[] = {
      /* Not a BPP. */
      {T("BF37", C(isc, a0, a1, a3, NULL)), ES10_ERROR_UNEXPECTED_TAG},
      /* No InitialiseSecureChannelRequest first. */
      {T("BF36", C(a0, a1, a3, NULL)), ES10_ERROR_UNEXPECTED_TAG},
      {"BF3600", ES10_ERROR_MISSING_FIELD},
      /* Parts missing, out of order, or of the wrong kind. */
      {T("BF36", C(isc, a1, a3, NULL)), ES10_ERROR_UNEXPECTED_TAG},
      {T("BF36", C(isc, a0, a3, NULL)), ES10_ERROR_UNEXPECTED_TAG},
      {T("BF36", C(isc, a0, a1, NULL)), ES10_ERROR_MISSING_FIELD},
      {T("BF36", C(isc, a0, a1, a2, NULL)), ES10_ERROR_MISSING_FIELD},
      {T("BF36", C(isc, a0, a1, a3, a2, NULL)), ES10_ERROR_TRAILING_DATA},
      {T("BF36", C(isc, a0, a1, a2, a2, a3, NULL)), ES10_ERROR_UNEXPECTED_TAG},
      {T("BF36", C(isc, a0, a1, a3, a3, NULL)), ES10_ERROR_TRAILING_DATA},
      {T("BF36", C(isc, T("A0", T("88", "01")), a1, a3, NULL)), ES10_ERROR_UNEXPECTED_TAG},
      {T("BF36", C(isc, a0, T("A1", C(T("88", "01"), T("87", "01"), NULL)), a3, NULL)),
       ES10_ERROR_UNEXPECTED_TAG},
      {T("BF36", C(isc, a0, a1, T("A2", T("86", "01")), a3, NULL)), ES10_ERROR_UNEXPECTED_TAG},
      {T("BF36", C(isc, a0, a1, T("A3", C(T("86", "01"), T("88", "01"), NULL)), NULL)),
       ES10_ERROR_UNEXPECTED_TAG},
      /* Empty sequences. */
      {T("BF36", C(isc, "A000", a1, a3, NULL)), ES10_ERROR_MISSING_FIELD},
      {T("BF36", C(isc, a0, "A100", a3, NULL)), ES10_ERROR_MISSING_FIELD},
      {T("BF36", C(isc, a0, a1, "A200", a3, NULL)), ES10_ERROR_MISSING_FIELD},
      {T("BF36", C(isc, a0, a1, "A300", NULL)), ES10_ERROR_MISSING_FIELD},
      /* A part that is not constructed. */
      {T("BF36", C(isc, "8000", a1, a3, NULL)), ES10_ERROR_UNEXPECTED_TAG},
      /* Bytes after the BPP. */
      {C(T("BF36", C(isc, a0, a1, a3, NULL)), "00", NULL), ES10_ERROR_TRAILING_DATA},
      /* A child whose length runs past its parent. */
      {T("BF36", C(isc, a0, a1, "A303860504", NULL)), ES10_ERROR_MALFORMED},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GPtrArray) segs = NULL;
    g_autoptr(GError) error = NULL;

    if (split(cases[i].hex, &segs, &error))
      fail_msg("case %zu: split a malformed BPP", i);
    assert_null(segs);
    if (!g_error_matches(error, ES10_ERROR, cases[i].code))
      fail_msg("case %zu: %s (code %d, wanted %d)", i, error->message, error->code, cases[i].code);
  }

  /* Every truncation of a good BPP fails cleanly. */
  {
    g_autoptr(GBytes) der = B(T("BF36", C(isc, a0, a1, a2, a3, NULL)));
    gsize len;
    const guint8 *p = g_bytes_get_data(der, &len);

    for (gsize cut = 0; cut < len; cut++) {
      g_autoptr(GPtrArray) segs = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree guint8 *copy = g_memdup2(p, cut);

      assert_false(es10b_bound_profile_package_split(copy, cut, &segs, &error));
      assert_true(error && error->domain == ES10_ERROR);
    }
  }
}

/* ---- ProfileInstallationResult ------------------------------------------ */

static const char *pir(const char *metadata_bits, const char *oid, const char *final_result)
{
  const char *meta =
      T("BF2F", C("800105", T("81", metadata_bits), T("0C", U(SMDP)), T("5A", ICCID1_BCD), NULL));
  const char *data =
      T("BF27", C(T("80", TXID), meta, oid ? T("06", oid) : "", T("A2", final_result), NULL));

  return T("BF37", C(data, T("5F37", R(0x5A, 64)), NULL));
}

static gboolean decode_pir(const char *hex, Es10bProfileInstallationResult **out, GError **error)
{
  g_autoptr(GBytes) der = B(hex);

  return es10b_load_bound_profile_package_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der),
                                                 out, error);
}

static void test_decode_installation_success(void **state)
{
  g_autoptr(Es10bProfileInstallationResult) r = NULL;
  /* finalResult [2] { successResult [0] { aid 4F, simaResponse 04 } }. */
  const char *hex =
      pir("0780", "2B0601040181F8020101", T("A0", C(T("4F", AID1), "04029000", NULL)));

  assert_true(decode_pir(hex, &r, NULL));
  assert_int_equal(r->result, ES10B_INSTALL_OK);
  assert_string_equal(H(r->der), hex);
  assert_string_equal(H(r->transaction_id), TXID);
  assert_string_equal(r->isdp_aid, AID1);
  assert_string_equal(r->smdp_oid, "1.3.6.1.4.1.31746.1.1");
  assert_int_equal(r->metadata.seq_number, 5);
  assert_int_equal(r->metadata.operation, ES10_NOTIFICATION_INSTALL);
  assert_string_equal(r->metadata.notification_address, SMDP);
  assert_string_equal(r->metadata.iccid, "89014103211118510720");
  g_clear_pointer(&r, es10b_profile_installation_result_free);

  /* smdpOid is optional; the strict decoder gives the same. */
  hex = pir("0780", NULL, T("A0", C(T("4F", AID1), "0400", NULL)));
  {
    g_autoptr(GBytes) der = B(hex);
    assert_true(es10b_profile_installation_result_decode(g_bytes_get_data(der, NULL),
                                                         g_bytes_get_size(der), &r, NULL));
  }
  assert_null(r->smdp_oid);
  assert_int_equal(r->result, ES10B_INSTALL_OK);
}

static void test_decode_installation_error(void **state)
{
  g_autoptr(Es10bProfileInstallationResult) r = NULL;
  g_autoptr(GError) error = NULL;
  static const gint reasons[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 127};

  /* errorResult [1] { bppCommandId [0], errorReason [1], simaResponse [2] }. */
  assert_true(decode_pir(pir("0780", "2B0601", T("A1", C("800105", "81010A", "82029000", NULL))),
                         &r, NULL));
  assert_int_equal(r->result, ES10B_INSTALL_INSUFFICIENT_MEMORY);
  assert_int_equal(r->bpp_command_id, ES10B_BPP_LOAD_PROFILE_ELEMENTS);
  assert_null(r->isdp_aid);
  assert_non_null(r->der);
  assert_string_equal(es10b_bpp_command_id_to_string(r->bpp_command_id), "loadProfileElements");
  assert_string_equal(es10_result_get_message(ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE, r->result),
                      "not enough memory on the card for the profile");
  g_clear_pointer(&r, es10b_profile_installation_result_free);

  /* Every ErrorReason rsp.asn names decodes, with a name and a message. */
  for (gsize i = 0; i < G_N_ELEMENTS(reasons); i++) {
    g_autofree gchar *code = g_strdup_printf("%02X", reasons[i]);

    assert_true(decode_pir(pir("0780", NULL, T("A1", C("800100", T("81", code), NULL))), &r, NULL));
    assert_int_equal(r->result, reasons[i]);
    assert_int_equal(r->bpp_command_id, ES10B_BPP_INITIALISE_SECURE_CHANNEL);
    assert_non_null(es10_result_get_name(ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE, reasons[i]));
    assert_string_not_equal(
        es10_result_get_message(ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE, reasons[i]),
        "unknown result code");
    g_clear_pointer(&r, es10b_profile_installation_result_free);
  }
  assert_string_equal(es10_result_get_name(ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE, 9),
                      "installFailedDueToIccidAlreadyExistsOnEuicc");
  assert_string_equal(es10b_bpp_command_id_to_string(6), "unknown");

  /* Out of range: errorReason 16 and 0, bppCommandId 6. */
  assert_false(decode_pir(pir("0780", NULL,
                              T("A1", "8001008101"
                                      "10")),
                          &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  g_clear_error(&error);
  assert_false(decode_pir(pir("0780", NULL, T("A1", "800100810100")), &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  g_clear_error(&error);
  assert_false(decode_pir(pir("0780", NULL, T("A1", "800106810101")), &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  assert_non_null(strstr(error->message, "bppCommandId"));
  g_clear_error(&error);
  assert_null(r);
}

static void test_decode_installation_malformed(void **state)
{
  Es10bProfileInstallationResult *r = NULL;
  const char *good_final = T("A0", C(T("4F", AID1), "0400", NULL));
  struct {
    const char *hex;
    Es10Error code;
  } cases[] = {
      /* A delete notification is no installation result. */
      {pir("0410", NULL, good_final), ES10_ERROR_INVALID_VALUE},
      /* An OID whose last byte wants a continuation, or padded. */
      {pir("0780", "2B86", good_final), ES10_ERROR_INVALID_VALUE},
      {pir("0780", "2B8001", good_final), ES10_ERROR_INVALID_VALUE},
      {pir("0780", "", good_final), ES10_ERROR_INVALID_VALUE},
      /* An AID of 4 bytes (SuccessResult says 5..16). */
      {pir("0780", NULL, T("A0", C(T("4F", "A0000005"), "0400", NULL))), ES10_ERROR_INVALID_VALUE},
      /* Without simaResponse. */
      {pir("0780", NULL, T("A0", T("4F", AID1))), ES10_ERROR_MISSING_FIELD},
      /* Both alternatives, none, an unknown one. */
      {pir("0780", NULL, C(good_final, T("A1", "800100810101"), NULL)), ES10_ERROR_TRAILING_DATA},
      {pir("0780", NULL, ""), ES10_ERROR_MISSING_FIELD},
      {pir("0780", NULL, T("A5", "")), ES10_ERROR_UNEXPECTED_TAG},
      /* Without the signature, without the data. */
      {T("BF37", T("BF27", C(T("80", TXID), "BF2F00", NULL))), ES10_ERROR_MISSING_FIELD},
      {T("BF37", T("5F37", "00")), ES10_ERROR_MISSING_FIELD},
      /* The request's tag is not the answer's. */
      {T("BF36", T("5F37", "00")), ES10_ERROR_UNEXPECTED_TAG},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;

    if (decode_pir(cases[i].hex, &r, &error))
      fail_msg("case %zu decoded", i);
    if (!g_error_matches(error, ES10_ERROR, cases[i].code))
      fail_msg("case %zu: %s (code %d, wanted %d)", i, error->message, error->code, cases[i].code);
  }
  assert_null(r);
}

static void test_load_bpp_answer_empty_means_more(void **state)
{
  Es10bProfileInstallationResult *r = (gpointer)&r;
  g_autoptr(GError) error = NULL;

  /* While the card wants more segments it answers 9000 with no data. */
  assert_true(es10b_load_bound_profile_package_decode(NULL, 0, &r, NULL));
  assert_null(r);
  /* The strict decoder wants a result. */
  assert_false(es10b_profile_installation_result_decode(NULL, 0, &r, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MALFORMED));
  assert_int_equal(es10_command_get_tag(ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE), 0xBF36);
  assert_int_equal(es10_command_get_response_tag(ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE), 0xBF37);
  assert_int_equal(es10_command_get_response_tag(ES10_CMD_PREPARE_DOWNLOAD), 0xBF21);
}

/* ---- Activation codes --------------------------------------------------- */

static void test_activation_code_good(void **state)
{
  struct {
    const char *text, *address, *matching_id, *oid;
    gboolean cc;
  } cases[] = {
      /* The example of SGP.22 4.1. */
      {"1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815", "SMDP.GSMA.COM", "04386-AGYFT-A74Y8-3F815", NULL,
       FALSE},
      {"LPA:1$smdp.example.com$MATCH", "smdp.example.com", "MATCH", NULL, FALSE},
      {"LPA:1$smdp.example.com:8443$MATCH$1.3.6.1.4.1.31746$1", "smdp.example.com:8443", "MATCH",
       "1.3.6.1.4.1.31746", TRUE},
      {"1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$$1", "SMDP.GSMA.COM", "04386-AGYFT-A74Y8-3F815",
       NULL, TRUE},
      {"1$smdp.example.com$MATCH$2.999", "smdp.example.com", "MATCH", "2.999", FALSE},
      {"1$smdp.example.com$MATCH$0.0$1", "smdp.example.com", "MATCH", "0.0", TRUE},
      /* The SM-DS event form; a local test server. */
      {"1$127.0.0.1:4443$EVENT-0001", "127.0.0.1:4443", "EVENT-0001", NULL, FALSE},
      {"1$localhost:65535$E", "localhost:65535", "E", NULL, FALSE},
      {"1$a-b.c1$X!~#", "a-b.c1", "X!~#", NULL, FALSE},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(Es10ActivationCode) ac = NULL;
    g_autoptr(GError) error = NULL;

    if (!es10_activation_code_parse(cases[i].text, &ac, &error))
      fail_msg("%s: %s", cases[i].text, error->message);
    assert_string_equal(ac->address, cases[i].address);
    assert_string_equal(ac->matching_id, cases[i].matching_id);
    if (cases[i].oid)
      assert_string_equal(ac->oid, cases[i].oid);
    else
      assert_null(ac->oid);
    assert_int_equal(ac->cc_required, cases[i].cc);
  }
}

static void test_activation_code_bad(void **state)
{
  g_autofree gchar *label64 = g_strnfill(64, 'a');
  g_autofree gchar *long_label = g_strdup_printf("1$%s.com$T", label64);
  g_autofree gchar *label63 = g_strnfill(63, 'b');
  /* 4 labels of 63 and the dots: 255 characters. */
  g_autofree gchar *long_host =
      g_strdup_printf("1$%s.%s.%s.%s$T", label63, label63, label63, label63);
  struct {
    const char *text;
    const char *part; /* what the message must name */
  } cases[] = {
      {NULL, "none"},
      {"", "empty"},
      {"LPA:", "empty"},
      {"2$smdp.example.com$T", "AC_Format"},
      {"lpa:1$smdp.example.com$T", "AC_Format"},
      {" 1$smdp.example.com$T", "AC_Format"},
      {"1", "at least"},
      {"1$smdp.example.com", "at least"},
      {"1$$T", "address"},
      {"1$smdp..com$T", "address"},
      {"1$-smdp.com$T", "address"},
      {"1$smdp-.com$T", "address"},
      {"1$smdp.com.$T", "address"},
      {"1$.smdp.com$T", "address"},
      {"1$smdp_x.com$T", "address"},
      {"1$smdp.com:0$T", "address"},
      {"1$smdp.com:65536$T", "address"},
      {"1$smdp.com:$T", "address"},
      {"1$smdp.com:08443$T", "address"},
      {"1$smdp.com:84a$T", "address"},
      {"1$smdp.com:1:2$T", "address"},
      {"1$https://smdp.com$T", "address"},
      {"1$sm\xc3\xa9"
       "dp.com$T",
       "address"},
      {long_label, "address"},
      {long_host, "address"},
      {"1$smdp.com$", "AC_Token"},
      {"1$smdp.com$TO KEN", "AC_Token"},
      {"1$smdp.com$TOKEN\n", "AC_Token"},
      {"1$smdp.com$T\xc3\xa9", "AC_Token"},
      {"1$smdp.com$T$", "OID"},
      {"1$smdp.com$T$1.3.6.", "OID"},
      {"1$smdp.com$T$.1.3", "OID"},
      {"1$smdp.com$T$1..3", "OID"},
      {"1$smdp.com$T$abc", "OID"},
      {"1$smdp.com$T$3.1", "OID"},
      {"1$smdp.com$T$01.2", "OID"},
      {"1$smdp.com$T$1.02", "OID"},
      {"1$smdp.com$T$1", "OID"},
      {"1$smdp.com$T$1.2$0", "Flag"},
      {"1$smdp.com$T$1.2$", "Flag"},
      {"1$smdp.com$T$$", "Flag"},
      {"1$smdp.com$T$$11", "Flag"},
      {"1$smdp.com$T$1.2$1$x", "at most 5"},
      {"1$smdp.com\xff$T", "UTF-8"},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(Es10ActivationCode) ac = NULL;
    g_autoptr(GError) error = NULL;

    if (es10_activation_code_parse(cases[i].text, &ac, &error))
      fail_msg("case %zu (%s) parsed", i, cases[i].text);
    assert_null(ac);
    assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ACTIVATION_CODE));
    if (!strstr(error->message, cases[i].part))
      fail_msg("case %zu: \"%s\" does not name %s", i, error->message, cases[i].part);
  }
  /* The address check on its own. */
  assert_true(es10_activation_code_address_is_valid("smdp.example.com:443"));
  assert_false(es10_activation_code_address_is_valid("smdp.example.com:443/path"));
  assert_false(es10_activation_code_address_is_valid(NULL));
}

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
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
      T_(test_bpp_split_with_every_part),
      T_(test_bpp_split_without_a2),
      T_(test_bpp_split_rejects_malformed),
      T_(test_decode_installation_success),
      T_(test_decode_installation_error),
      T_(test_decode_installation_malformed),
      T_(test_load_bpp_answer_empty_means_more),
      T_(test_activation_code_good),
      T_(test_activation_code_bad),
  };
#undef T_
  return cmocka_run_group_tests(tests, NULL, NULL);
}
