/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the LPA reads of the SM-DP+'s data during a download
 * (es10b-smdp.c, x509.c): StoreMetadataRequest and SmdpSigned2 on DER
 * written out from rsp.asn, good and malformed, and the SM-DP+ OID in the
 * certificates that mkpki makes when the test runs, as well as in broken
 * certificates built by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "es10/es10.h"
#include "es10/iccid.h"

#include "der-hex.h"
#include "test-util.h"

static char *pki_dir;

/* The ICCID as DER carries it (BCD), in hex. */
static const char *bcd_iccid(const char *iccid)
{
  guint8 bcd[ICCID_BCD_LEN];

  assert_true(iccid_to_bcd(iccid, bcd, NULL));
  return keep(es10_hex_encode(bcd, sizeof bcd));
}

/* ---- StoreMetadataRequest ----------------------------------------------- */

#define ICCID "8949449999999990023"

static gboolean metadata(const char *hex, Es10StoreMetadataRequest **out, GError **error)
{
  g_autoptr(GBytes) b = B(hex);

  return es10_store_metadata_request_decode(g_bytes_get_data(b, NULL), g_bytes_get_size(b), out,
                                            error);
}

/* Every field of SGP.22 5.5.3, in rsp.asn order. */
static void test_store_metadata_every_field(void **state)
{
  g_autoptr(Es10StoreMetadataRequest) m = NULL;
  g_autoptr(GError) error = NULL;
  Es10NotificationConfig *c;
  const char *der =
      T("BF25",
        C(T("5A", bcd_iccid(ICCID)), T("91", U("Example Mobile")), T("92", U("Plain test profile")),
          T("93", "01"), T("94", R(0x89, 300)), T("95", "01"),
          T("B6", C(T("30", C(T("80", "0780"), T("81", U("smdp.example.com")), NULL)),
                    T("30", C(T("80", "0470"), T("81", U("rsp.example.net")), NULL)), NULL)),
          T("B7", C(T("80", "62F210"), T("81", "AB"), NULL)), T("99", "0560"), NULL));

  if (!metadata(der, &m, &error))
    fail_msg("%s", error->message);
  assert_string_equal(m->iccid, ICCID);
  assert_string_equal(m->service_provider_name, "Example Mobile");
  assert_string_equal(m->profile_name, "Plain test profile");
  assert_true(m->has_icon_type);
  assert_int_equal(m->icon_type, ES10_ICON_TYPE_PNG);
  assert_int_equal(g_bytes_get_size(m->icon), 300);
  assert_int_equal(((const guint8 *)g_bytes_get_data(m->icon, NULL))[299], 0x89);
  assert_int_equal(m->profile_class, ES10_PROFILE_CLASS_PROVISIONING);
  assert_non_null(m->notification_config);
  assert_int_equal(m->notification_config->len, 2);
  c = g_ptr_array_index(m->notification_config, 0);
  assert_int_equal(c->operations, ES10_NOTIFICATION_INSTALL);
  assert_string_equal(c->notification_address, "smdp.example.com");
  c = g_ptr_array_index(m->notification_config, 1);
  assert_int_equal(c->operations,
                   ES10_NOTIFICATION_ENABLE | ES10_NOTIFICATION_DISABLE | ES10_NOTIFICATION_DELETE);
  assert_non_null(m->owner);
  assert_string_equal(m->owner->mcc_mnc, "26201");
  assert_non_null(m->owner->gid1);
  assert_null(m->owner->gid2);
  assert_true(m->has_policy_rules);
  assert_int_equal(m->policy_rules, ES10_PPR1 | ES10_PPR2);
}

/* The three mandatory fields alone: the others absent, profileClass operational. */
static void test_store_metadata_minimal(void **state)
{
  g_autoptr(Es10StoreMetadataRequest) m = NULL;
  g_autoptr(GError) error = NULL;

  if (!metadata(T("BF25", C(T("5A", bcd_iccid(ICCID)), "9100", "9200", NULL)), &m, &error))
    fail_msg("%s", error->message);
  assert_string_equal(m->iccid, ICCID);
  assert_string_equal(m->service_provider_name, "");
  assert_string_equal(m->profile_name, "");
  assert_false(m->has_icon_type);
  assert_null(m->icon);
  assert_int_equal(m->profile_class, ES10_PROFILE_CLASS_OPERATIONAL);
  assert_null(m->notification_config);
  assert_null(m->owner);
  assert_false(m->has_policy_rules);
}

/* Components of later versions (v2.2's serviceSpecificData [34], tag BF22) are skipped. */
static void test_store_metadata_extension_skipped(void **state)
{
  g_autoptr(Es10StoreMetadataRequest) m = NULL;
  g_autoptr(GError) error = NULL;

  if (!metadata(T("BF25", C(T("5A", bcd_iccid(ICCID)), T("91", U("SP")), T("92", U("N")),
                            T("BF22", T("80", "01")), NULL)),
                &m, &error))
    fail_msg("%s", error->message);
  assert_string_equal(m->service_provider_name, "SP");
}

static void test_store_metadata_rejects(void **state)
{
  const char *iccid = T("5A", bcd_iccid(ICCID));
  const char *sp = T("91", U("SP")), *name = T("92", U("N"));
  struct {
    const char *der;
    Es10Error code;
  } cases[] = {
      /* a mandatory field missing */
      {T("BF25", C(sp, name, NULL)), ES10_ERROR_MISSING_FIELD},
      {T("BF25", C(iccid, name, NULL)), ES10_ERROR_MISSING_FIELD},
      {T("BF25", C(iccid, sp, NULL)), ES10_ERROR_MISSING_FIELD},
      /* not a StoreMetadataRequest */
      {T("E3", C(iccid, sp, name, NULL)), ES10_ERROR_UNEXPECTED_TAG},
      {T("BF2D", C(iccid, sp, name, NULL)), ES10_ERROR_UNEXPECTED_TAG},
      {C(T("BF25", C(iccid, sp, name, NULL)), "00", NULL), ES10_ERROR_TRAILING_DATA},
      /* SIZE limits: 32 and 64 characters, 1024 bytes of icon, 10 bytes of ICCID */
      {T("BF25", C(iccid, T("91", R('a', 33)), name, NULL)), ES10_ERROR_INVALID_VALUE},
      {T("BF25", C(iccid, sp, T("92", R('a', 65)), NULL)), ES10_ERROR_INVALID_VALUE},
      {T("BF25", C(iccid, sp, name, T("93", "00"), T("94", R(0, 1025)), NULL)),
       ES10_ERROR_INVALID_VALUE},
      {T("BF25", C(T("5A", "98941999999999"), sp, name, NULL)), ES10_ERROR_INVALID_VALUE},
      /* values out of their INTEGER's named range */
      {T("BF25", C(iccid, sp, name, T("93", "02"), NULL)), ES10_ERROR_INVALID_VALUE},
      {T("BF25", C(iccid, sp, name, T("95", "03"), NULL)), ES10_ERROR_INVALID_VALUE},
      /* an icon with no type */
      {T("BF25", C(iccid, sp, name, T("94", "FFD8"), NULL)), ES10_ERROR_INVALID_VALUE},
      /* a field twice */
      {T("BF25", C(iccid, sp, name, name, NULL)), ES10_ERROR_MALFORMED},
      /* wrong types inside */
      {T("BF25", C(iccid, sp, T("92", "C0AF"), NULL)), ES10_ERROR_INVALID_VALUE},
      {T("BF25", C(iccid, sp, name, T("B7", T("80", "62F2")), NULL)), ES10_ERROR_INVALID_VALUE},
      {T("BF25",
         C(iccid, sp, name, T("B6", T("31", C(T("80", "0780"), T("81", "61"), NULL))), NULL)),
       ES10_ERROR_UNEXPECTED_TAG},
      {T("BF25", C(iccid, sp, name, T("B6", T("30", T("80", "0780"))), NULL)),
       ES10_ERROR_MISSING_FIELD},
      {T("BF25", C(iccid, sp, name, T("99", "08"), NULL)), ES10_ERROR_MALFORMED},
      /* not DER at all */
      {"BF2505", ES10_ERROR_MALFORMED},
      {"", ES10_ERROR_MALFORMED},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(Es10StoreMetadataRequest) m = NULL;
    g_autoptr(GError) error = NULL;

    if (metadata(cases[i].der, &m, &error))
      fail_msg("case %zu decoded", i);
    assert_null(m);
    if (!g_error_matches(error, ES10_ERROR, (gint)cases[i].code))
      fail_msg("case %zu: error %d (%s), not %d", i, error->code, error->message, cases[i].code);
  }
}

/* ---- SmdpSigned2 -------------------------------------------------------- */

static gboolean signed2(const char *hex, Es10SmdpSigned2 **out, GError **error)
{
  g_autoptr(GBytes) b = B(hex);

  return es10_smdp_signed2_decode(g_bytes_get_data(b, NULL), g_bytes_get_size(b), out, error);
}

static void test_smdp_signed2(void **state)
{
  g_autoptr(Es10SmdpSigned2) s = NULL;
  g_autoptr(Es10SmdpSigned2) s2 = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) id = B(R(0xA5, 16));
  const char *key = C("04", R(0x11, 64), NULL);
  g_autoptr(GBytes) otpk = B(key);

  /* ccRequiredFlag TRUE as DER writes it, no bppEuiccOtpk. */
  if (!signed2(T("30", C(T("80", R(0xA5, 16)), "0101FF", NULL)), &s, &error))
    fail_msg("%s", error->message);
  assert_true(g_bytes_equal(s->transaction_id, id));
  assert_true(s->cc_required);
  assert_null(s->bpp_euicc_otpk);

  /* FALSE, with the one-time key of an earlier attempt. */
  if (!signed2(T("30", C(T("80", "01"), "010100", T("5F49", key), NULL)), &s2, &error))
    fail_msg("%s", error->message);
  assert_int_equal(g_bytes_get_size(s2->transaction_id), 1);
  assert_false(s2->cc_required);
  assert_true(g_bytes_equal(s2->bpp_euicc_otpk, otpk));
}

static void test_smdp_signed2_rejects(void **state)
{
  const char *id = T("80", R(1, 8));
  struct {
    const char *der;
    Es10Error code;
  } cases[] = {
      {T("30", id), ES10_ERROR_MISSING_FIELD},
      {T("30", "0101FF"), ES10_ERROR_MISSING_FIELD},
      {T("30", C(T("80", R(1, 17)), "0101FF", NULL)), ES10_ERROR_INVALID_VALUE},
      {T("30", C("8000", "0101FF", NULL)), ES10_ERROR_INVALID_VALUE},
      {T("30", C(id, "0102FFFF", NULL)), ES10_ERROR_MALFORMED},
      {T("30", C(id, "0100", NULL)), ES10_ERROR_MALFORMED},
      {T("30", C(id, "0101FF", "0101FF", NULL)), ES10_ERROR_MALFORMED},
      {T("30", C(id, "0101FF", "5F4900", NULL)), ES10_ERROR_INVALID_VALUE},
      {T("A0", C(id, "0101FF", NULL)), ES10_ERROR_UNEXPECTED_TAG},
      {C(T("30", C(id, "0101FF", NULL)), "3000", NULL), ES10_ERROR_TRAILING_DATA},
      {"3005800101", ES10_ERROR_MALFORMED},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(Es10SmdpSigned2) s = NULL;
    g_autoptr(GError) error = NULL;

    if (signed2(cases[i].der, &s, &error))
      fail_msg("case %zu decoded", i);
    assert_null(s);
    if (!g_error_matches(error, ES10_ERROR, (gint)cases[i].code))
      fail_msg("case %zu: error %d (%s), not %d", i, error->code, error->message, cases[i].code);
  }
}

/* ---- The SM-DP+ OID in a certificate ------------------------------------ */

/* The DER of one of mkpki's PEM certificates. */
static GBytes *pki_cert(const char *name)
{
  g_autofree char *path = g_build_filename(pki_dir, name, NULL);
  g_autofree char *pem = NULL;
  g_autoptr(GString) b64 = g_string_new(NULL);
  g_auto(GStrv) lines = NULL;
  gboolean in = FALSE;
  guchar *der;
  gsize len;

  if (!g_file_get_contents(path, &pem, NULL, NULL))
    fail_msg("no %s", path);
  lines = g_strsplit(pem, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (g_str_has_prefix(lines[i], "-----BEGIN CERTIFICATE"))
      in = TRUE;
    else if (g_str_has_prefix(lines[i], "-----END"))
      break;
    else if (in)
      g_string_append(b64, lines[i]);
  }
  der = g_base64_decode(b64->str, &len);
  assert_true(len > 100);
  return g_bytes_new_take(der, len);
}

static gboolean registered_id(GBytes *der, gchar **oid, GError **error)
{
  return es10_certificate_get_registered_id(g_bytes_get_data(der, NULL), g_bytes_get_size(der), oid,
                                            error);
}

/* mkpki puts the SM-DP+ OID into DPauth and DPpb, the SM-DS OID into DSauth. */
static void test_registered_id_of_mkpki_certificates(void **state)
{
  struct {
    const char *file;
    const char *oid; /* NULL: none */
  } cases[] = {
      {"dpauth.pem", "2.999.10"},
      {"dppb.pem", "2.999.10"},
      {"dsauth.pem", "2.999.20"},
      /* a subjectAltName of DNS names and addresses only */
      {"dptls.pem", NULL},
      /* no subjectAltName */
      {"ci.pem", NULL},
      {"euicc.pem", NULL},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GBytes) der = pki_cert(cases[i].file);
    g_autoptr(GError) error = NULL;
    g_autofree gchar *oid = NULL;

    if (!registered_id(der, &oid, &error))
      fail_msg("%s: %s", cases[i].file, error->message);
    if (g_strcmp0(oid, cases[i].oid) != 0)
      fail_msg("%s: OID %s, not %s", cases[i].file, oid ? oid : "(none)",
               cases[i].oid ? cases[i].oid : "(none)");
  }
}

/* Every truncation of a real certificate is an error, never a guess. */
static void test_registered_id_truncated(void **state)
{
  g_autoptr(GBytes) der = pki_cert("dpauth.pem");
  gsize len;
  const guint8 *p = g_bytes_get_data(der, &len);

  for (gsize n = 0; n < len; n++) {
    g_autoptr(GError) error = NULL;
    gchar *oid = NULL;

    if (es10_certificate_get_registered_id(p, n, &oid, &error))
      fail_msg("%zu of %zu bytes read as a certificate", n, len);
    assert_null(oid);
    assert_non_null(error);
  }
}

/* A certificate shaped as RFC 5280 has it, with the extensions given. */
static const char *cert_with(const char *extensions)
{
  const char *tbs =
      C(T("A0", "020102"), T("02", "01"), T("30", T("06", "2A8648CE3D040302")), T("30", ""),
        T("30", ""), T("30", ""), T("30", T("30", "")), extensions, NULL);

  return T("30", C(T("30", tbs), T("30", T("06", "2A8648CE3D040302")), T("03", "0000"), NULL));
}

/* subjectAltName with extnValue holding these GeneralNames. */
static const char *san(const char *names)
{
  return T("30", C(T("06", "551D11"), T("04", T("30", names)), NULL));
}

static void test_registered_id_by_hand(void **state)
{
  /* 1.3.6.1.4.1.31746.1.1 as contents: 2B 06 01 04 01 81 F8 02 01 01 */
  const char *rid = T("88", "2B0601040181F8020101");
  const char *dns = T("82", U("smdp.example.com"));
  const char *key_usage = T("30", C(T("06", "551D0F"), "0101FF", T("04", "03020780"), NULL));
  struct {
    const char *der;
    const char *oid;
  } good[] = {
      {cert_with(T("A3", T("30", C(key_usage, san(C(dns, rid, NULL)), NULL)))),
       "1.3.6.1.4.1.31746.1.1"},
      /* critical flag present */
      {cert_with(
           T("A3", T("30", T("30", C(T("06", "551D11"), "0101FF", T("04", T("30", rid)), NULL))))),
       "1.3.6.1.4.1.31746.1.1"},
      /* a v1 certificate: no extensions at all */
      {cert_with(""), NULL},
      {cert_with(T("A3", T("30", san(dns)))), NULL},
  };
  struct {
    const char *der;
    Es10Error code;
  } bad[] = {
      {cert_with(T("A3", T("30", san(C(rid, rid, NULL))))), ES10_ERROR_INVALID_VALUE},
      {cert_with(T("A3", T("30", C(san(dns), san(rid), NULL)))), ES10_ERROR_INVALID_VALUE},
      /* an OID whose last subidentifier does not end */
      {cert_with(T("A3", T("30", san(T("88", "2B0681"))))), ES10_ERROR_MALFORMED},
      {cert_with(T("A3", T("30", san(T("88", ""))))), ES10_ERROR_MALFORMED},
      /* extnValue that is no GeneralNames */
      {cert_with(T("A3", T("30", T("30", C(T("06", "551D11"), T("04", "0500"), NULL))))),
       ES10_ERROR_UNEXPECTED_TAG},
      {cert_with(T("A3", T("30", T("30", C(T("06", "551D11"), T("04", "30"), NULL))))),
       ES10_ERROR_MALFORMED},
      /* an Extension without its extnValue, or not a SEQUENCE */
      {cert_with(T("A3", T("30", T("30", T("06", "551D11"))))), ES10_ERROR_MISSING_FIELD},
      {cert_with(T("A3", T("30", T("31", T("06", "551D11"))))), ES10_ERROR_UNEXPECTED_TAG},
      {cert_with(T("A3", T("30", T("30", C(T("02", "551D11"), T("04", "3000"), NULL))))),
       ES10_ERROR_UNEXPECTED_TAG},
      /* [3] without its SEQUENCE */
      {cert_with("A300"), ES10_ERROR_MISSING_FIELD},
      /* not a certificate */
      {T("31", T("30", "")), ES10_ERROR_UNEXPECTED_TAG},
      {T("30", T("02", "01")), ES10_ERROR_UNEXPECTED_TAG},
      {T("30", ""), ES10_ERROR_MISSING_FIELD},
      {C(cert_with(""), "00", NULL), ES10_ERROR_TRAILING_DATA},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
    g_autoptr(GBytes) der = B(good[i].der);
    g_autoptr(GError) error = NULL;
    g_autofree gchar *oid = NULL;

    if (!registered_id(der, &oid, &error))
      fail_msg("good case %zu: %s", i, error->message);
    if (g_strcmp0(oid, good[i].oid) != 0)
      fail_msg("good case %zu: %s", i, oid ? oid : "(none)");
  }
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GBytes) der = B(bad[i].der);
    g_autoptr(GError) error = NULL;
    gchar *oid = NULL;

    if (registered_id(der, &oid, &error))
      fail_msg("bad case %zu read: %s", i, oid ? oid : "(none)");
    assert_null(oid);
    if (!g_error_matches(error, ES10_ERROR, (gint)bad[i].code))
      fail_msg("bad case %zu: error %d (%s), not %d", i, error->code, error->message, bad[i].code);
  }
}

/* ---- the PKI ------------------------------------------------------------ */

static int make_pki(void **state)
{
  const char *cards = g_getenv("ESIMD_CARDS_DIR");
  g_autofree char *mkpki = NULL, *err = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;

  assert_non_null(cards);
  mkpki = g_build_filename(cards, "..", "mkpki", NULL);
  pki_dir = g_dir_make_tmp("es10-smdp-XXXXXX", &error);
  assert_non_null(pki_dir);
  {
    const char *argv[] = {"sh", mkpki, pki_dir, NULL};

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                      NULL, NULL, NULL, &err, &status, &error) ||
        !g_spawn_check_wait_status(status, NULL))
      fail_msg("mkpki failed: %s", err ? err : error->message);
  }
  return 0;
}

static int remove_pki(void **state)
{
  test_remove_tree(pki_dir);
  g_clear_pointer(&pki_dir, g_free);
  return 0;
}

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, der_hex_setup, der_hex_teardown)
  const struct CMUnitTest tests[] = {
      T_(test_store_metadata_every_field),
      T_(test_store_metadata_minimal),
      T_(test_store_metadata_extension_skipped),
      T_(test_store_metadata_rejects),
      T_(test_smdp_signed2),
      T_(test_smdp_signed2_rejects),
      T_(test_registered_id_of_mkpki_certificates),
      T_(test_registered_id_truncated),
      T_(test_registered_id_by_hand),
  };
#undef T_
  return cmocka_run_group_tests(tests, make_pki, remove_pki);
}
