/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ICCIDs in the Iccid form of SGP.22: 10 bytes of swapped BCD, 'F' padded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "es10/es10.h"
#include "es10/iccid.h"

static gchar *encode_hex(const char *iccid)
{
  guint8 bcd[ICCID_BCD_LEN];
  g_autoptr(GError) error = NULL;

  if (!iccid_to_bcd(iccid, bcd, &error))
    return NULL;
  assert_null(error);
  return es10_hex_encode(bcd, sizeof(bcd));
}

static gchar *decode_hex(const char *hex, GError **error)
{
  g_autoptr(GBytes) b = es10_hex_decode(hex, NULL);
  gsize len;
  const guint8 *p;

  assert_non_null(b);
  p = g_bytes_get_data(b, &len);
  return iccid_from_bcd(p, len, error);
}

static void round_trip(const char *iccid, const char *expected_hex)
{
  g_autofree gchar *hex = encode_hex(iccid);
  g_autofree gchar *back = NULL;
  g_autoptr(GError) error = NULL;

  assert_non_null(hex);
  assert_string_equal(hex, expected_hex);
  back = decode_hex(hex, &error);
  assert_null(error);
  assert_string_equal(back, iccid);
}

static void test_iccid_20_digits_round_trip(void **state)
{
  round_trip("89014103211118510720", "98101430121181157002");
}

static void test_iccid_19_digits_pads_one_nibble(void **state)
{
  round_trip("8944500102198304826", "984405102091384028F6");
}

static void test_iccid_18_digits_is_still_ten_bytes(void **state)
{
  /* An 18-digit ICCID sent as 9 bytes is a bug seen in the field: SGP.22's
   * Iccid is SIZE(10), the last byte all padding. */
  guint8 bcd[ICCID_BCD_LEN + 1];

  memset(bcd, 0xAA, sizeof(bcd));
  assert_true(iccid_to_bcd("898830300000000000", bcd, NULL));
  assert_int_equal(bcd[ICCID_BCD_LEN - 1], 0xFF);
  assert_int_equal(bcd[ICCID_BCD_LEN], 0xAA); /* nothing written past 10 bytes */
  round_trip("898830300000000000", "988803030000000000FF");
}

static void test_iccid_rejects_wrong_digit_counts(void **state)
{
  const char *bad[] = {"", "89882", "89883030000000000", "898830300000000000001"};

  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    guint8 bcd[ICCID_BCD_LEN];

    assert_false(iccid_to_bcd(bad[i], bcd, &error));
    assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
  }
}

static void test_iccid_rejects_non_digits(void **state)
{
  const char *bad[] = {"8988303000000000000F", "89883030000000000a0", "8988 30300000000000",
                       "89883030000000000-00"};

  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;

    assert_false(iccid_validate(bad[i], &error));
    assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_ARGUMENT));
  }
  assert_false(iccid_validate(NULL, NULL));
}

static void test_iccid_decode_rejects_wrong_sizes(void **state)
{
  const char *bad[] = {"988803030000000000", "988803030000000000FFFF", ""};

  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *s = decode_hex(bad[i], &error);

    assert_null(s);
    assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  }
}

static void test_iccid_decode_rejects_non_bcd(void **state)
{
  const char *bad[] = {
      "9810143012118115700A", /* a nibble A */
      "98101430F21181157002", /* a digit after padding */
      "FFFFFFFFFFFFFFFFFFFF", /* no digits */
      "9810143012118115FFFF", /* 16 digits: too short to be an ICCID */
  };

  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *s = decode_hex(bad[i], &error);

    assert_null(s);
    assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE));
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_iccid_20_digits_round_trip),
      cmocka_unit_test(test_iccid_19_digits_pads_one_nibble),
      cmocka_unit_test(test_iccid_18_digits_is_still_ten_bytes),
      cmocka_unit_test(test_iccid_rejects_wrong_digit_counts),
      cmocka_unit_test(test_iccid_rejects_non_digits),
      cmocka_unit_test(test_iccid_decode_rejects_wrong_sizes),
      cmocka_unit_test(test_iccid_decode_rejects_non_bcd),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
