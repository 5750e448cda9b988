/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The BER-TLV reader and writer: what SGP.22's DER needs and nothing it forbids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "es10/es10.h"
#include "es10/tlv.h"

/* Bytes of a hex literal; the tests keep them alive in one array. */
static GPtrArray *arena;

static const guint8 *bytes(const char *hex, gsize *len)
{
  GBytes *b = es10_hex_decode(hex, NULL);

  assert_non_null(b);
  g_ptr_array_add(arena, b);
  return g_bytes_get_data(b, len);
}

static int setup(void **state)
{
  arena = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  return 0;
}

static int teardown(void **state)
{
  g_clear_pointer(&arena, g_ptr_array_unref);
  return 0;
}

static void expect_parse_error(const guint8 *buf, gsize len, gint code)
{
  g_autoptr(GError) error = NULL;
  Tlv t;

  assert_false(tlv_parse(buf, len, &t, &error));
  assert_non_null(error);
  assert_true(error->domain == ES10_ERROR);
  assert_int_equal(error->code, code);
}

static gchar *finish_hex(TlvWriter *w)
{
  g_autoptr(GBytes) b = tlv_writer_finish(w);
  gsize len;
  const guint8 *p = g_bytes_get_data(b, &len);

  return es10_hex_encode(p, len);
}

static void test_tlv_reads_one_two_and_three_byte_tags(void **state)
{
  struct {
    const char *hex;
    guint32 tag;
    gboolean constructed;
  } cases[] = {
      {"5A0198", 0x5A, FALSE},
      {"BF2D00", 0xBF2D, TRUE},
      {"9F700101", 0x9F70, FALSE},
      {"BF810100", 0xBF8101, TRUE},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    gsize len;
    const guint8 *buf = bytes(cases[i].hex, &len);
    Tlv t;

    assert_true(tlv_parse(buf, len, &t, &error));
    assert_null(error);
    assert_int_equal(t.tag, cases[i].tag);
    assert_int_equal(tlv_tag_is_constructed(t.tag), cases[i].constructed);
    assert_ptr_equal(t.raw, buf);
    assert_int_equal(t.raw_length, len);
  }
}

static void test_tlv_rejects_four_byte_and_padded_tags(void **state)
{
  gsize len;
  const guint8 *buf = bytes("BF81818100", &len);

  expect_parse_error(buf, len, ES10_ERROR_MALFORMED);
  /* X.690 8.1.2.4.2 c): 1F 80 .. pads the tag number with zero bits. */
  buf = bytes("9F807000", &len);
  expect_parse_error(buf, len, ES10_ERROR_MALFORMED);
}

static void test_tlv_reads_one_to_four_length_bytes(void **state)
{
  const gsize sizes[] = {0, 127, 128, 255, 256, 65535, 65536};

  for (gsize i = 0; i < G_N_ELEMENTS(sizes); i++) {
    gsize n = sizes[i], hdr;
    g_autofree guint8 *buf = g_malloc0(n + 6);
    Tlv t;

    buf[0] = 0x04;
    if (n < 0x80) {
      buf[1] = (guint8)n;
      hdr = 2;
    } else if (n <= 0xFF) {
      buf[1] = 0x81;
      buf[2] = (guint8)n;
      hdr = 3;
    } else if (n <= 0xFFFF) {
      buf[1] = 0x82;
      buf[2] = (guint8)(n >> 8);
      buf[3] = (guint8)n;
      hdr = 4;
    } else {
      buf[1] = 0x83;
      buf[2] = (guint8)(n >> 16);
      buf[3] = (guint8)(n >> 8);
      buf[4] = (guint8)n;
      hdr = 5;
    }
    assert_true(tlv_parse(buf, hdr + n, &t, NULL));
    assert_int_equal(t.length, n);
    assert_ptr_equal(t.value, buf + hdr);
  }
}

static void test_tlv_reads_four_length_bytes(void **state)
{
  gsize len;
  const guint8 *buf = bytes("04840000000301020380", &len);
  Tlv t;

  /* Not minimal, but well-formed BER: 3 bytes announced in four length bytes. */
  assert_true(tlv_parse(buf, len - 1, &t, NULL));
  assert_int_equal(t.length, 3);
  expect_parse_error(buf, len, ES10_ERROR_TRAILING_DATA);
}

static void test_tlv_rejects_five_length_bytes(void **state)
{
  gsize len;
  const guint8 *buf = bytes("04850000000001AA", &len);

  expect_parse_error(buf, len, ES10_ERROR_MALFORMED);
}

static void test_tlv_rejects_indefinite_length(void **state)
{
  gsize len;
  const guint8 *buf = bytes("30800401AA0000", &len);

  expect_parse_error(buf, len, ES10_ERROR_MALFORMED);
}

static void test_tlv_rejects_length_past_buffer(void **state)
{
  gsize len;
  const guint8 *buf = bytes("04050102", &len);

  expect_parse_error(buf, len, ES10_ERROR_MALFORMED);
  buf = bytes("0482FFFF00", &len);
  expect_parse_error(buf, len, ES10_ERROR_MALFORMED);
}

static void test_tlv_rejects_trailing_bytes(void **state)
{
  gsize len;
  const guint8 *buf = bytes("04010000", &len);

  expect_parse_error(buf, len, ES10_ERROR_TRAILING_DATA);
}

static void test_tlv_rejects_empty_input(void **state)
{
  expect_parse_error(NULL, 0, ES10_ERROR_MALFORMED);
}

/* Walks every constructed element, as a decoder would. */
static gboolean walk(const Tlv *t, GError **error)
{
  TlvIter iter;
  Tlv child;
  GError *local = NULL;

  if (!tlv_tag_is_constructed(t->tag))
    return TRUE;
  if (!tlv_iter_init(&iter, t, error))
    return FALSE;
  while (tlv_iter_next(&iter, &child, &local)) {
    if (!walk(&child, error))
      return FALSE;
  }
  if (local) {
    g_propagate_error(error, local);
    return FALSE;
  }
  return TRUE;
}

static GBytes *nested(guint levels)
{
  TlvWriter w;

  tlv_writer_init(&w);
  for (guint i = 0; i < levels; i++)
    tlv_writer_begin(&w, 0x30);
  for (guint i = 0; i < levels; i++)
    tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

static void test_tlv_nesting_stops_at_max_depth(void **state)
{
  g_autoptr(GBytes) ok = nested(TLV_MAX_DEPTH);
  g_autoptr(GError) error = NULL;
  gsize len;
  const guint8 *p = g_bytes_get_data(ok, &len);
  Tlv t;
  guint8 *deep;

  assert_true(tlv_parse(p, len, &t, NULL));
  assert_true(walk(&t, &error));
  assert_null(error);

  /* One more level: the writer refuses to open it, so build it by hand. */
  deep = g_malloc(len + 2);
  deep[0] = 0x30;
  deep[1] = (guint8)len;
  memcpy(deep + 2, p, len);
  assert_true(tlv_parse(deep, len + 2, &t, NULL));
  assert_false(walk(&t, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_TOO_DEEP));
  g_free(deep);
}

static void test_tlv_truncated_at_every_byte_fails_cleanly(void **state)
{
  gsize len;
  const guint8 *buf = bytes("BF2D2CA02AE3285A0A98101430121181157002"
                            "9F700101"
                            "9004576F726B"
                            "9206"
                            "4D7954656C63"
                            "950102"
                            "B7058003130014",
                            &len);
  Tlv t;

  assert_true(tlv_parse(buf, len, &t, NULL));
  assert_true(walk(&t, NULL));
  for (gsize cut = 0; cut < len; cut++) {
    g_autoptr(GError) error = NULL;
    g_autofree guint8 *copy = g_memdup2(buf, cut); /* exact size: ASan sees any overread */

    assert_false(tlv_parse(copy, cut, &t, &error));
    assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MALFORMED));
  }
}

static void test_tlv_iter_tells_end_from_error(void **state)
{
  gsize len;
  const guint8 *good = bytes("3006800101810102", &len);
  const guint8 *bad;
  TlvIter iter;
  Tlv t, child;
  GError *error = NULL;
  guint n = 0;

  assert_true(tlv_parse(good, len, &t, NULL));
  assert_true(tlv_iter_init(&iter, &t, NULL));
  while (tlv_iter_next(&iter, &child, &error)) {
    assert_int_equal(child.depth, 1);
    n++;
  }
  assert_null(error);
  assert_int_equal(n, 2);

  /* The second child claims 5 bytes but the parent holds 1. */
  bad = bytes("3006800101810502", &len);
  assert_true(tlv_parse(bad, len, &t, NULL));
  assert_true(tlv_iter_init(&iter, &t, NULL));
  assert_true(tlv_iter_next(&iter, &child, &error));
  assert_false(tlv_iter_next(&iter, &child, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MALFORMED));
  g_clear_error(&error);
  /* A broken element ends the walk. */
  assert_false(tlv_iter_next(&iter, &child, &error));
  assert_null(error);
}

static void test_tlv_iter_refuses_primitive_parent(void **state)
{
  gsize len;
  const guint8 *buf = bytes("0403800101", &len);
  g_autoptr(GError) error = NULL;
  TlvIter iter;
  Tlv t;

  assert_true(tlv_parse(buf, len, &t, NULL));
  assert_false(tlv_iter_init(&iter, &t, &error));
  assert_true(g_error_matches(error, ES10_ERROR, ES10_ERROR_MALFORMED));
}

static void test_tlv_find_gives_first_match_or_nothing(void **state)
{
  gsize len;
  const guint8 *buf = bytes("BF3109800101810102800103", &len);
  g_autoptr(GError) error = NULL;
  Tlv t, found;
  guint64 v;

  assert_true(tlv_parse(buf, len, &t, NULL));
  assert_true(tlv_find(&t, 0x81, &found, &error));
  assert_true(tlv_get_uint(&found, &v, NULL));
  assert_int_equal(v, 2);
  assert_true(tlv_find(&t, 0x80, &found, &error));
  assert_true(tlv_get_uint(&found, &v, NULL));
  assert_int_equal(v, 1);
  assert_false(tlv_find(&t, 0x82, &found, &error));
  assert_null(error);
}

static void test_tlv_get_uint_accepts_padding_refuses_sign_and_size(void **state)
{
  struct {
    const char *hex;
    gboolean ok;
    guint64 value;
  } cases[] = {
      {"800100", TRUE, 0},
      {"80017F", TRUE, 127},
      {"80020080", TRUE, 128},
      {"8003000005", TRUE, 5}, /* a card's non-minimal padding */
      {"800900FFFFFFFFFFFFFFFF", TRUE, G_MAXUINT64},
      {"800180", FALSE, 0},                 /* negative */
      {"8000", FALSE, 0},                   /* no content */
      {"8009010000000000000000", FALSE, 0}, /* does not fit 64 bits */
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    gsize len;
    const guint8 *buf = bytes(cases[i].hex, &len);
    guint64 v = 0;
    Tlv t;

    assert_true(tlv_parse(buf, len, &t, NULL));
    assert_int_equal(tlv_get_uint(&t, &v, &error), cases[i].ok);
    if (cases[i].ok)
      assert_true(v == cases[i].value);
    else
      assert_non_null(error);
  }
}

static void test_tlv_get_bool(void **state)
{
  gsize len;
  const guint8 *buf = bytes("8101FF", &len);
  gboolean b = FALSE;
  Tlv t;

  assert_true(tlv_parse(buf, len, &t, NULL));
  assert_true(tlv_get_bool(&t, &b, NULL));
  assert_true(b);
  buf = bytes("810200FF", &len);
  assert_true(tlv_parse(buf, len, &t, NULL));
  assert_false(tlv_get_bool(&t, &b, NULL));
}

static void test_tlv_writer_nests_and_patches_lengths(void **state)
{
  TlvWriter w;
  g_autofree gchar *hex = NULL;
  g_autofree guint8 *big = g_malloc0(200);

  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xBF31);
  tlv_writer_begin(&w, 0xA0);
  tlv_writer_put(&w, 0x5A, (const guint8 *)"\x98\x10", 2);
  tlv_writer_end(&w);
  tlv_writer_put_bool(&w, 0x81, TRUE);
  tlv_writer_end(&w);
  hex = finish_hex(&w);
  assert_string_equal(hex, "BF3109A0045A0298108101FF");
  g_clear_pointer(&hex, g_free);

  /* A constructed value past 127 bytes takes a long-form length. */
  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xE3);
  tlv_writer_put(&w, 0x94, big, 200);
  tlv_writer_end(&w);
  hex = finish_hex(&w);
  assert_int_equal(strlen(hex), 2 * (1 + 2 + 1 + 2 + 200));
  assert_memory_equal(hex, "E381CB9481C8", 12);
}

static void test_tlv_writer_uint_is_minimal_and_positive(void **state)
{
  struct {
    guint64 v;
    const char *hex;
  } cases[] = {
      {0, "800100"},
      {0x7F, "80017F"},
      {0x80, "80020080"},
      {0x0100, "80020100"},
      {0x12345678, "800412345678"},
      {G_MAXUINT64, "800900FFFFFFFFFFFFFFFF"},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    TlvWriter w;
    g_autofree gchar *hex = NULL;

    tlv_writer_init(&w);
    tlv_writer_put_uint(&w, 0x80, cases[i].v);
    hex = finish_hex(&w);
    assert_string_equal(hex, cases[i].hex);
  }
}

static void test_tlv_writer_raw_and_clear(void **state)
{
  TlvWriter w;
  g_autofree gchar *hex = NULL;
  static const guint8 der[] = {0x30, 0x00};

  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0xA0);
  tlv_writer_put_raw(&w, der, sizeof(der));
  tlv_writer_put(&w, 0x04, NULL, 0);
  tlv_writer_end(&w);
  hex = finish_hex(&w);
  assert_string_equal(hex, "A00430000400");

  /* Clearing an unfinished writer frees what it holds (LeakSanitizer checks). */
  tlv_writer_init(&w);
  tlv_writer_begin(&w, 0x30);
  tlv_writer_put_uint(&w, 0x02, 1);
  tlv_writer_clear(&w);
  assert_null(w.buf);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tlv_reads_one_two_and_three_byte_tags),
      cmocka_unit_test(test_tlv_rejects_four_byte_and_padded_tags),
      cmocka_unit_test(test_tlv_reads_one_to_four_length_bytes),
      cmocka_unit_test(test_tlv_reads_four_length_bytes),
      cmocka_unit_test(test_tlv_rejects_five_length_bytes),
      cmocka_unit_test(test_tlv_rejects_indefinite_length),
      cmocka_unit_test(test_tlv_rejects_length_past_buffer),
      cmocka_unit_test(test_tlv_rejects_trailing_bytes),
      cmocka_unit_test(test_tlv_rejects_empty_input),
      cmocka_unit_test(test_tlv_nesting_stops_at_max_depth),
      cmocka_unit_test(test_tlv_truncated_at_every_byte_fails_cleanly),
      cmocka_unit_test(test_tlv_iter_tells_end_from_error),
      cmocka_unit_test(test_tlv_iter_refuses_primitive_parent),
      cmocka_unit_test(test_tlv_find_gives_first_match_or_nothing),
      cmocka_unit_test(test_tlv_get_uint_accepts_padding_refuses_sign_and_size),
      cmocka_unit_test(test_tlv_get_bool),
      cmocka_unit_test(test_tlv_writer_nests_and_patches_lengths),
      cmocka_unit_test(test_tlv_writer_uint_is_minimal_and_positive),
      cmocka_unit_test(test_tlv_writer_raw_and_clear),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
