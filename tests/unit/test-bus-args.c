/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bus/args.c: what a caller may pass to SetDefaultSmdpAddress, SetNickname
 * and ResetMemory, and what it is told when it may not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "bus/bus-private.h"

/* Refused as the caller's fault, with a message containing want. */
static void assert_refused(gboolean ok, GError *error, const char *want)
{
  assert_false(ok);
  assert_non_null(error);
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_INVALID_ARGS));
  if (!strstr(error->message, want))
    fail_msg("\"%s\" does not say \"%s\"", error->message, want);
}

/* The same, reading the error only once the check has returned (an
 * argument list has no order of evaluation). */
static void assert_refused_after(gboolean ok, GError **error, const char *want)
{
  assert_refused(ok, *error, want);
  g_clear_error(error);
}

static void test_smdp_addresses_that_pass(void **state)
{
  static const char *const good[] = {
      "", /* clears the default */
      "smdp.example.com",
      "SMDP.Example.COM",
      "rsp-1.example.net:8443",
      "a.b",
      "x",
  };

  for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
    g_autoptr(GError) error = NULL;

    if (!bus_check_smdp_address(good[i], &error))
      fail_msg("\"%s\" refused: %s", good[i], error->message);
  }
}

static void test_smdp_addresses_refused_with_the_reason(void **state)
{
  static const struct {
    const char *address;
    const char *why;
  } bad[] = {
      {"https://smdp.example.com", "only letters, digits"},
      {"smdp..example.com", "empty or ends with '-'"},
      {"-smdp.example.com", "starts with '-'"},
      {"smdp-.example.com", "empty or ends with '-'"},
      {"smdp.example.com.", "ends with '.' or '-'"},
      {"smdp example.com", "only letters, digits"},
      {":443", "no host name"},
      {"smdp.example.com:0", "port after ':'"},
      {"smdp.example.com:65536", "port after ':'"},
      {"smdp.example.com:", "port after ':'"},
      {"smdp.example.com:44x", "only letters, digits"},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    gboolean ok = bus_check_smdp_address(bad[i].address, &error);

    assert_refused(ok, error, bad[i].why);
    /* The caller sees what it sent. */
    assert_non_null(strstr(error->message, bad[i].address));
  }
}

static void test_smdp_address_length_limits(void **state)
{
  g_autoptr(GString) label = g_string_new(NULL);
  g_autoptr(GString) host = g_string_new(NULL);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *long_label = NULL;

  g_string_append_len(label, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 63);
  long_label = g_strconcat(label->str, ".example.com", NULL);
  assert_true(bus_check_smdp_address(long_label, NULL));
  g_string_append_c(label, 'a');
  g_free(long_label);
  long_label = g_strconcat(label->str, ".example.com", NULL);
  assert_refused_after(bus_check_smdp_address(long_label, &error), &error, "longer than 63");

  while (host->len < 254)
    g_string_append(host, "abcdefg.");
  g_string_truncate(host, 254);
  host->str[253] = 'x';
  assert_refused_after(bus_check_smdp_address(host->str, &error), &error, "longer than 253");
}

static void test_nicknames(void **state)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *max = g_strnfill(64, 'n');
  g_autofree gchar *over = g_strnfill(65, 'n');
  /* 32 two-byte characters: 64 bytes, as the card counts. */
  g_autoptr(GString) umlauts = g_string_new(NULL);

  assert_true(bus_check_nickname("", NULL));
  assert_true(bus_check_nickname("Work", NULL));
  assert_true(bus_check_nickname(max, NULL));
  for (guint i = 0; i < 32; i++)
    g_string_append(umlauts, "ü");
  assert_true(bus_check_nickname(umlauts->str, NULL));
  g_string_append(umlauts, "ü");
  assert_refused_after(bus_check_nickname(umlauts->str, &error), &error, "66 bytes long");
  assert_refused_after(bus_check_nickname(over, &error), &error, "at most 64 bytes");
  assert_refused_after(bus_check_nickname("bad \xff utf-8", &error), &error, "not valid UTF-8");
}

static void test_reset_options(void **state)
{
  g_autoptr(GError) error = NULL;

  for (guint32 options = 1; options <= 7; options++)
    assert_true(bus_check_reset_options(options, NULL));
  assert_refused_after(bus_check_reset_options(0, &error), &error, "No reset options given");
  assert_refused_after(bus_check_reset_options(8, &error), &error, "Unknown reset options 0x8");
  /* Only the unknown bits are named. */
  assert_refused_after(bus_check_reset_options(0x13, &error), &error, "Unknown reset options 0x10");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_smdp_addresses_that_pass),
      cmocka_unit_test(test_smdp_addresses_refused_with_the_reason),
      cmocka_unit_test(test_smdp_address_length_limits),
      cmocka_unit_test(test_nicknames),
      cmocka_unit_test(test_reset_options),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
