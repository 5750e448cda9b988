/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * es10/activation.c: activation codes (SGP.22 4.1) as a user types or
 * scans them, and the SM-DP+ addresses they may name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "es10/activation.h"

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
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_activation_code_good),
      cmocka_unit_test(test_activation_code_bad),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
