/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The end of a profile download in the ES10 codec: the Bound Profile
 * Package split into what LoadBoundProfilePackage sends, in the order of
 * SGP.22 2.5.5, and the ProfileInstallationResult the card answers with
 * (SGP.22 5.7.6), on good, error and malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "der-hex.h"
#include "es10/es10.h"

#define TXID "0102030405060708090A0B0C0D0E0F10"
#define SMDP "smdp.example.com"
#define ICCID1_BCD "98101430121181157002"
#define AID1 "A0000005591010FFFFFFFF8900001000"

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

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, der_hex_setup, der_hex_teardown)
  const struct CMUnitTest tests[] = {
      T_(test_bpp_split_with_every_part),        T_(test_bpp_split_without_a2),
      T_(test_bpp_split_rejects_malformed),      T_(test_decode_installation_success),
      T_(test_decode_installation_error),        T_(test_decode_installation_malformed),
      T_(test_load_bpp_answer_empty_means_more),
  };
#undef T_
  return cmocka_run_group_tests(tests, NULL, NULL);
}
