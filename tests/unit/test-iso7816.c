/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The APDU layer against two cards: a scripted card written here, which
 * answers exactly the sizes and status words a test asks for and checks the
 * commands it gets, and euicc-sim, the SGP.22 card model.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <glib/gstdio.h>

#include "transport/iso7816.h"
#include "euicc-sim.h"
#include "test-util.h"

/* ---- the scripted card ---- */

typedef enum {
  /* T=0 style: the answer to a command is 61xx alone; data only via GET RESPONSE. */
  FAKE_STYLE_T0,
  /* T=1 style: up to Le bytes with the answer, 61xx when more is left. */
  FAKE_STYLE_T1,
} FakeStyle;

typedef struct {
  GPtrArray *commands; /* GBytes*, every command APDU received */
  FakeStyle style;
  gsize response_size; /* data bytes of the answer to the final command */
  guint16 final_sw;
  guint16 block_sw;              /* answer to a STORE DATA that is not the last block */
  gboolean exact_le;             /* answer 6Cxx unless Le is exactly the response size */
  gboolean always_6c;            /* answer 6Cxx to everything, the Le notwithstanding */
  gint truncate_to;              /* >= 0: answer every command with that many bytes */
  gboolean stalled_get_response; /* GET RESPONSE answers 61 10 without data */
  guint8 open_channel;           /* MANAGE CHANNEL open answers this channel */
  guint16 manage_sw;
  guint16 select_sw;
  /* the answer being handed out */
  GByteArray *pending;
  gsize pending_pos;
  guint announced; /* what the last 61xx announced, 1..256 */
  guint channel;   /* the channel the answer belongs to */
  guint wrong_cla; /* GET RESPONSE with a CLA of another channel */
  guint wrong_le;  /* GET RESPONSE whose Le is not what 61xx announced */
} FakeCard;

static FakeCard *fake_card_new(FakeStyle style, gsize response_size)
{
  FakeCard *fc = g_new0(FakeCard, 1);

  fc->commands = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
  fc->style = style;
  fc->response_size = response_size;
  fc->final_sw = 0x9000;
  fc->block_sw = 0x9000;
  fc->truncate_to = -1;
  fc->open_channel = 1;
  fc->manage_sw = 0x9000;
  fc->select_sw = 0x9000;
  fc->pending = g_byte_array_new();
  return fc;
}

static void fake_card_free(FakeCard *fc)
{
  g_ptr_array_unref(fc->commands);
  g_byte_array_unref(fc->pending);
  g_free(fc);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeCard, fake_card_free)

static guint8 pattern_byte(gsize i)
{
  return (guint8)(i * 7 + 3);
}

static GBytes *answer(const guint8 *data, gsize len, guint16 sw)
{
  GByteArray *r = g_byte_array_new();
  guint8 sw_bytes[2] = {(guint8)(sw >> 8), (guint8)sw};

  if (len)
    g_byte_array_append(r, data, (guint)len);
  g_byte_array_append(r, sw_bytes, 2);
  return g_byte_array_free_to_bytes(r);
}

static GBytes *answer_sw(guint16 sw)
{
  return answer(NULL, 0, sw);
}

/* Le of a short command APDU, 0 when it has none. */
static guint command_le(const guint8 *b, gsize len)
{
  if (len == 5)
    return b[4] ? b[4] : 256;
  if (len > 5 && len == 6u + b[4])
    return b[len - 1] ? b[len - 1] : 256;
  return 0;
}

/* Hands out up to max bytes of the pending answer, then 61xx or the final SW. */
static GBytes *fake_card_hand_out(FakeCard *fc, guint max)
{
  gsize left = fc->pending->len - fc->pending_pos;
  gsize n = MIN(left, (gsize)max);
  GBytes *r;

  left -= n;
  if (left > 0) {
    fc->announced = (guint)MIN(left, (gsize)256);
    r = answer(fc->pending->data + fc->pending_pos, n, (guint16)(0x6100 | (fc->announced & 0xFF)));
  } else {
    r = answer(fc->pending->data + fc->pending_pos, n, fc->final_sw);
  }
  fc->pending_pos += n;
  return r;
}

static GBytes *fake_card_final(FakeCard *fc, const guint8 *b, gsize len)
{
  guint le = command_le(b, len);

  if (fc->always_6c)
    return answer_sw(0x6C10);
  if (fc->exact_le && le != fc->response_size)
    return answer_sw((guint16)(0x6C00 | (fc->response_size & 0xFF)));

  g_byte_array_set_size(fc->pending, 0);
  for (gsize i = 0; i < fc->response_size; i++) {
    guint8 v = pattern_byte(i);
    g_byte_array_append(fc->pending, &v, 1);
  }
  fc->pending_pos = 0;
  fc->channel = iso7816_cla_get_channel(b[0]);

  if (fc->style == FAKE_STYLE_T0 && !fc->exact_le) {
    if (fc->response_size == 0)
      return answer_sw(fc->final_sw);
    fc->announced = (guint)MIN(fc->response_size, (gsize)256);
    return answer_sw((guint16)(0x6100 | (fc->announced & 0xFF)));
  }
  return fake_card_hand_out(fc, le ? le : 256);
}

static GBytes *fake_card_transmit(FakeCard *fc, GBytes *command)
{
  gsize len;
  const guint8 *b = g_bytes_get_data(command, &len);

  g_ptr_array_add(fc->commands, g_bytes_ref(command));
  assert_true(len >= 4);

  if (fc->truncate_to >= 0) {
    static const guint8 junk[2] = {0x90, 0x00};
    return g_bytes_new(junk, (gsize)fc->truncate_to);
  }

  switch (b[1]) {
  case 0x70: /* MANAGE CHANNEL */
    if (b[2] == 0x80)
      return answer_sw(0x9000);
    if (fc->manage_sw != 0x9000)
      return answer_sw(fc->manage_sw);
    return answer(&fc->open_channel, 1, 0x9000);
  case 0xA4: /* SELECT */
    return answer_sw(fc->select_sw);
  case 0xC0: /* GET RESPONSE */
    if (fc->stalled_get_response)
      return answer_sw(0x6110);
    if (iso7816_cla_get_channel(b[0]) != fc->channel || (b[0] & 0x80))
      fc->wrong_cla++;
    if (command_le(b, len) != fc->announced)
      fc->wrong_le++;
    return fake_card_hand_out(fc, command_le(b, len));
  case 0xE2: /* STORE DATA */
    if (b[2] == 0x11)
      return answer_sw(fc->block_sw);
    return fake_card_final(fc, b, len);
  default:
    return fake_card_final(fc, b, len);
  }
}

static GBytes *fake_transmit(gpointer user_data, GBytes *command, GError **error)
{
  return fake_card_transmit(user_data, command);
}

static const guint8 *command_at(FakeCard *fc, guint i, gsize *len)
{
  assert_true(i < fc->commands->len);
  return g_bytes_get_data(g_ptr_array_index(fc->commands, i), len);
}

static guint count_ins(FakeCard *fc, guint8 ins)
{
  guint n = 0;

  for (guint i = 0; i < fc->commands->len; i++) {
    gsize len;
    if (command_at(fc, i, &len)[1] == ins)
      n++;
  }
  return n;
}

static GBytes *make_request(gsize len)
{
  guint8 *buf = g_malloc(len);

  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8)(i ^ 0x5A);
  return g_bytes_new_take(buf, len);
}

static void assert_pattern(GBytes *data, gsize expected_len)
{
  gsize len;
  const guint8 *b = g_bytes_get_data(data, &len);

  assert_int_equal(len, expected_len);
  for (gsize i = 0; i < len; i++)
    if (b[i] != pattern_byte(i))
      fail_msg("byte %zu of the response is %02X, not %02X", i, b[i], pattern_byte(i));
}

/* ---- command APDUs and CLA ---- */

static void test_apdu_cases_1_to_4(void **state)
{
  static const guint8 data[3] = {1, 2, 3};
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) c1 =
      iso7816_apdu_build(0x00, 0x70, 0x80, 0x01, NULL, 0, ISO7816_LE_NONE, &error);
  g_autoptr(GBytes) c2 = iso7816_apdu_build(0x00, 0xC0, 0, 0, NULL, 0, 256, &error);
  g_autoptr(GBytes) c2b = iso7816_apdu_build(0x00, 0xC0, 0, 0, NULL, 0, 17, &error);
  g_autoptr(GBytes) c3 = iso7816_apdu_build(0x80, 0xE2, 0x91, 0, data, 3, ISO7816_LE_NONE, &error);
  g_autoptr(GBytes) c4 = iso7816_apdu_build(0x80, 0xE2, 0x91, 0, data, 3, 256, &error);
  static const guint8 e1[] = {0x00, 0x70, 0x80, 0x01};
  static const guint8 e2[] = {0x00, 0xC0, 0, 0, 0x00};
  static const guint8 e2b[] = {0x00, 0xC0, 0, 0, 17};
  static const guint8 e3[] = {0x80, 0xE2, 0x91, 0, 3, 1, 2, 3};
  static const guint8 e4[] = {0x80, 0xE2, 0x91, 0, 3, 1, 2, 3, 0x00};

  assert_null(error);
  assert_memory_equal(g_bytes_get_data(c1, NULL), e1, sizeof e1);
  assert_int_equal(g_bytes_get_size(c1), sizeof e1);
  assert_memory_equal(g_bytes_get_data(c2, NULL), e2, sizeof e2);
  assert_int_equal(g_bytes_get_size(c2), sizeof e2);
  assert_memory_equal(g_bytes_get_data(c2b, NULL), e2b, sizeof e2b);
  assert_int_equal(g_bytes_get_size(c2b), sizeof e2b);
  assert_memory_equal(g_bytes_get_data(c3, NULL), e3, sizeof e3);
  assert_int_equal(g_bytes_get_size(c3), sizeof e3);
  assert_memory_equal(g_bytes_get_data(c4, NULL), e4, sizeof e4);
  assert_int_equal(g_bytes_get_size(c4), sizeof e4);
}

static void test_apdu_rejects_what_does_not_fit(void **state)
{
  guint8 data[256] = {0};
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) ok = iso7816_apdu_build(0x80, 0xE2, 0x91, 0, data, 255, 256, &error);
  GBytes *too_long;

  assert_non_null(ok);
  assert_int_equal(g_bytes_get_size(ok), 4 + 1 + 255 + 1);
  too_long = iso7816_apdu_build(0x80, 0xE2, 0x91, 0, data, 256, 256, &error);
  assert_null(too_long);
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);
  assert_null(iso7816_apdu_build(0x00, 0xC0, 0, 0, NULL, 0, 257, &error));
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);

  /* A transmit of bytes that are no short APDU is refused before anything is sent. */
  {
    static const guint8 extended[] = {0x80, 0xE2, 0x91, 0x00, 0x00, 0x01, 0x00, 0xAA};
    g_autoptr(GBytes) apdu = g_bytes_new_static(extended, sizeof extended);
    assert_null(iso7816_exchange_new_transmit(0, apdu, NULL, &error));
    assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
  }
}

static void test_cla_every_channel(void **state)
{
  g_autoptr(GError) error = NULL;
  guint8 cla = 0xFF;

  for (guint ch = 0; ch <= 19; ch++) {
    guint8 iso, gp;
    assert_true(iso7816_cla_for_channel(ch, ISO7816_CLA_INTERINDUSTRY, &iso, &error));
    assert_true(iso7816_cla_for_channel(ch, ISO7816_CLA_PROPRIETARY, &gp, &error));
    if (ch <= 3) {
      assert_int_equal(iso, ch);
      assert_int_equal(gp, 0x80 | ch);
    } else {
      assert_int_equal(iso, 0x40 | (ch - 4));
      assert_int_equal(gp, 0xC0 | (ch - 4));
    }
    assert_int_equal(iso7816_cla_get_channel(iso), ch);
    assert_int_equal(iso7816_cla_get_channel(gp), ch);
  }
  assert_false(iso7816_cla_for_channel(20, ISO7816_CLA_INTERINDUSTRY, &cla, &error));
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
  assert_int_equal(cla, 0xFF);
}

/* ---- STORE DATA segmentation (SGP.22 5.7.2) ---- */

/* Checks the STORE DATA blocks the card saw carry the request as the spec says. */
static void assert_store_data_blocks(FakeCard *fc, GBytes *request, guint segment, guint channel)
{
  gsize total;
  const guint8 *req = g_bytes_get_data(request, &total);
  guint blocks = (guint)((total + segment - 1) / segment);
  guint8 cla;
  gsize offset = 0;

  iso7816_cla_for_channel(channel, ISO7816_CLA_PROPRIETARY, &cla, NULL);
  assert_int_equal(count_ins(fc, 0xE2), blocks);
  for (guint i = 0; i < blocks; i++) {
    gsize len;
    const guint8 *c = command_at(fc, i, &len);
    gsize lc = MIN((gsize)segment, total - offset);

    assert_int_equal(c[0], cla);
    assert_int_equal(c[1], 0xE2);
    assert_int_equal(c[2], i + 1 == blocks ? 0x91 : 0x11);
    assert_int_equal(c[3], i);
    assert_int_equal(c[4], lc);
    assert_int_equal(len, 5 + lc + 1);
    assert_memory_equal(c + 5, req + offset, lc);
    assert_int_equal(c[len - 1], 0x00); /* Le = 00 on every block */
    offset += lc;
  }
  assert_int_equal(offset, total);
}

static void run_segmentation(guint segment, gsize request_len)
{
  g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 40);
  g_autoptr(GBytes) request = make_request(request_len);
  g_autoptr(GError) error = NULL;
  Iso7816Limits limits = {.segment_size = segment};
  g_autoptr(GBytes) response =
      iso7816_store_data_sync(fake_transmit, fc, 2, request, &limits, &error);

  assert_null(error);
  assert_non_null(response);
  assert_pattern(response, 40);
  assert_store_data_blocks(fc, request, segment, 2);
}

static void test_store_data_segments_6(void **state)
{
  run_segmentation(6, 6);
  run_segmentation(6, 7);
  run_segmentation(6, 1000);
  run_segmentation(6, 6 * 256); /* the most blocks P2 can number */
}

static void test_store_data_segments_120(void **state)
{
  run_segmentation(120, 1);
  run_segmentation(120, 240);
  run_segmentation(120, 241);
  run_segmentation(120, 1000);
}

static void test_store_data_segments_255(void **state)
{
  run_segmentation(255, 255);
  run_segmentation(255, 256);
  run_segmentation(255, 4000);
  /* The default is 255. */
  {
    g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 0);
    g_autoptr(GBytes) request = make_request(600);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) response =
        iso7816_store_data_sync(fake_transmit, fc, 1, request, NULL, &error);
    assert_non_null(response);
    assert_store_data_blocks(fc, request, 255, 1);
  }
}

static void test_store_data_refuses_bad_sizes(void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) empty = g_bytes_new(NULL, 0);
  g_autoptr(GBytes) too_big = make_request(6 * 256 + 1);
  g_autoptr(GBytes) small = make_request(10);
  Iso7816Limits seg5 = {.segment_size = 5};
  Iso7816Limits seg6 = {.segment_size = 6};
  Iso7816Limits seg256 = {.segment_size = 256};

  assert_null(iso7816_exchange_new_store_data(1, empty, NULL, &error));
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);
  assert_null(iso7816_exchange_new_store_data(1, too_big, &seg6, &error));
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);
  assert_null(iso7816_exchange_new_store_data(1, small, &seg5, &error));
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);
  assert_null(iso7816_exchange_new_store_data(1, small, &seg256, &error));
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
  g_clear_error(&error);
  assert_null(iso7816_exchange_new_store_data(20, small, NULL, &error));
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
}

/* ---- response reassembly ---- */

static const gsize response_sizes[] = {0, 1, 255, 256, 257, 1000, 4000};

static void run_response_size(FakeStyle style, gsize size)
{
  g_autoptr(FakeCard) fc = fake_card_new(style, size);
  g_autoptr(GBytes) request = make_request(20);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) response = iso7816_store_data_sync(fake_transmit, fc, 1, request, NULL, &error);
  guint get_responses;

  assert_null(error);
  assert_non_null(response);
  assert_pattern(response, size);
  /* One GET RESPONSE per 256 bytes (T=0), or per 256 bytes past the first
   * 256 that came with the answer (T=1); each with the Le the card announced. */
  get_responses = (guint)((size + 255) / 256);
  if (style == FAKE_STYLE_T1)
    get_responses = get_responses > 0 ? get_responses - 1 : 0;
  assert_int_equal(count_ins(fc, 0xC0), get_responses);
  assert_int_equal(fc->commands->len, 1 + get_responses);
  assert_int_equal(fc->wrong_cla, 0);
  assert_int_equal(fc->wrong_le, 0);
}

static void test_response_sizes_t0(void **state)
{
  for (gsize i = 0; i < G_N_ELEMENTS(response_sizes); i++)
    run_response_size(FAKE_STYLE_T0, response_sizes[i]);
}

static void test_response_sizes_t1(void **state)
{
  for (gsize i = 0; i < G_N_ELEMENTS(response_sizes); i++)
    run_response_size(FAKE_STYLE_T1, response_sizes[i]);
}

static void test_get_response_uses_channel_cla(void **state)
{
  for (guint ch = 0; ch <= 19; ch++) {
    g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 600);
    g_autoptr(GBytes) request = make_request(300);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) response =
        iso7816_store_data_sync(fake_transmit, fc, ch, request, NULL, &error);
    guint8 iso_cla;

    assert_non_null(response);
    assert_pattern(response, 600);
    assert_store_data_blocks(fc, request, 255, ch);
    iso7816_cla_for_channel(ch, ISO7816_CLA_INTERINDUSTRY, &iso_cla, NULL);
    assert_int_equal(count_ins(fc, 0xC0), 3);
    for (guint i = 2; i < fc->commands->len; i++) {
      gsize len;
      const guint8 *c = command_at(fc, i, &len);
      assert_int_equal(c[0], iso_cla);
      assert_int_equal(c[1], 0xC0);
    }
  }
}

static void test_6cxx_reissues_with_card_le(void **state)
{
  static const guint8 get_data[] = {0x00, 0xCA, 0x00, 0x5A, 0x00};
  g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T1, 0x2A);
  g_autoptr(GBytes) apdu = g_bytes_new_static(get_data, sizeof get_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(Iso7816Response) r = NULL;
  const guint8 *c;
  gsize len;

  fc->exact_le = TRUE;
  r = iso7816_transmit_sync(fake_transmit, fc, 0, apdu, NULL, &error);
  assert_non_null(r);
  assert_int_equal(r->sw, 0x9000);
  assert_pattern(r->data, 0x2A);
  assert_int_equal(fc->commands->len, 2);
  c = command_at(fc, 1, &len);
  assert_int_equal(len, 5);
  assert_memory_equal(c, get_data, 4); /* the same command ... */
  assert_int_equal(c[4], 0x2A);        /* ... with the Le the card asked for */
}

static void test_6cxx_on_store_data_keeps_data(void **state)
{
  g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T1, 0x33);
  g_autoptr(GBytes) request = make_request(10);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) response = NULL;
  const guint8 *first, *again;
  gsize first_len, again_len;

  fc->exact_le = TRUE;
  response = iso7816_store_data_sync(fake_transmit, fc, 1, request, NULL, &error);
  assert_non_null(response);
  assert_pattern(response, 0x33);
  assert_int_equal(fc->commands->len, 2);
  first = command_at(fc, 0, &first_len);
  again = command_at(fc, 1, &again_len);
  assert_int_equal(first_len, again_len);
  assert_memory_equal(first, again, first_len - 1);
  assert_int_equal(again[again_len - 1], 0x33);
}

static void test_6cxx_forever_is_a_protocol_error(void **state)
{
  g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T1, 1);
  g_autoptr(GBytes) request = make_request(10);
  g_autoptr(GError) error = NULL;

  fc->always_6c = TRUE;
  assert_null(iso7816_store_data_sync(fake_transmit, fc, 1, request, NULL, &error));
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_PROTOCOL));
  assert_int_equal(fc->commands->len, 4); /* the command and three re-issues */
}

static void test_91xx_is_success_with_data(void **state)
{
  static const guint8 get_data[] = {0x00, 0xCA, 0x00, 0x5A, 0x00};
  g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 300);
  g_autoptr(GBytes) request = make_request(10);
  g_autoptr(GBytes) apdu = g_bytes_new_static(get_data, sizeof get_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(Iso7816Response) r = NULL;

  fc->final_sw = 0x911A;
  response = iso7816_store_data_sync(fake_transmit, fc, 1, request, NULL, &error);
  assert_null(error);
  assert_pattern(response, 300);

  g_ptr_array_set_size(fc->commands, 0);
  r = iso7816_transmit_sync(fake_transmit, fc, 0, apdu, NULL, &error);
  assert_non_null(r);
  assert_int_equal(r->sw, 0x911A);
  assert_true(iso7816_sw_is_success(r->sw));
  assert_pattern(r->data, 300);
}

static void test_size_cap(void **state)
{
  Iso7816Limits limits = {.max_response = 1000};
  g_autoptr(GBytes) request = make_request(10);

  for (FakeStyle style = FAKE_STYLE_T0; style <= FAKE_STYLE_T1; style++) {
    g_autoptr(FakeCard) at_cap = fake_card_new(style, 1000);
    g_autoptr(FakeCard) past_cap = fake_card_new(style, 1001);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) ok =
        iso7816_store_data_sync(fake_transmit, at_cap, 1, request, &limits, &error);
    GBytes *too_big;

    assert_null(error);
    assert_pattern(ok, 1000);
    too_big = iso7816_store_data_sync(fake_transmit, past_cap, 1, request, &limits, &error);
    assert_null(too_big);
    assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_RESPONSE_TOO_LARGE));
  }

  /* The default cap is 64 KiB. */
  {
    g_autoptr(FakeCard) huge = fake_card_new(FAKE_STYLE_T0, 64 * 1024 + 1);
    g_autoptr(GError) error = NULL;
    assert_null(iso7816_store_data_sync(fake_transmit, huge, 1, request, NULL, &error));
    assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_RESPONSE_TOO_LARGE));
  }
}

static void test_card_status_reaches_caller(void **state)
{
  static const guint8 get_data[] = {0x00, 0xCA, 0x00, 0x5A, 0x00};
  g_autoptr(GBytes) apdu = g_bytes_new_static(get_data, sizeof get_data);
  g_autoptr(GBytes) request = make_request(700);
  static const guint16 statuses[] = {0x6A88, 0x6985, 0x6A82, 0x6A80, 0x6D00};

  for (gsize i = 0; i < G_N_ELEMENTS(statuses); i++) {
    g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T1, 0);
    g_autoptr(GError) error = NULL;
    g_autoptr(Iso7816Response) r = NULL;

    /* A raw exchange: the status word is the answer, not an error. */
    fc->final_sw = statuses[i];
    r = iso7816_transmit_sync(fake_transmit, fc, 0, apdu, NULL, &error);
    assert_null(error);
    assert_non_null(r);
    assert_int_equal(r->sw, statuses[i]);
    assert_int_equal(g_bytes_get_size(r->data), 0);

    /* An ES10 request: the status word is the error code. */
    assert_null(iso7816_store_data_sync(fake_transmit, fc, 1, request, NULL, &error));
    assert_true(g_error_matches(error, ISO7816_STATUS_ERROR, statuses[i]));
  }

  /* A refused intermediate block stops the segments there. */
  {
    g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T1, 10);
    g_autoptr(GError) error = NULL;
    fc->block_sw = 0x6A80;
    assert_null(iso7816_store_data_sync(fake_transmit, fc, 1, request, NULL, &error));
    assert_true(g_error_matches(error, ISO7816_STATUS_ERROR, 0x6A80));
    assert_int_equal(fc->commands->len, 1);
  }
}

static void test_malformed_response(void **state)
{
  g_autoptr(GBytes) request = make_request(300);

  for (gint n = 0; n < 2; n++) {
    g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 10);
    g_autoptr(GError) error = NULL;

    fc->truncate_to = n;
    assert_null(iso7816_store_data_sync(fake_transmit, fc, 1, request, NULL, &error));
    assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_MALFORMED_RESPONSE));
    assert_int_equal(fc->commands->len, 1); /* nothing more is sent */
  }
}

static void test_stalled_get_response(void **state)
{
  g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 10);
  g_autoptr(GBytes) request = make_request(10);
  g_autoptr(GError) error = NULL;

  fc->stalled_get_response = TRUE;
  assert_null(iso7816_store_data_sync(fake_transmit, fc, 1, request, NULL, &error));
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_PROTOCOL));
  assert_int_equal(fc->commands->len, 2);
}

static GBytes *failing_transmit(gpointer user_data, GBytes *command, GError **error)
{
  guint *calls = user_data;

  (*calls)++;
  if (*calls == 2) {
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT, "no answer");
    return NULL;
  }
  if (*calls == 3)
    return NULL; /* no answer and no reason */
  return answer_sw(0x9000);
}

static void test_transport_failure_ends_exchange(void **state)
{
  g_autoptr(GBytes) request = make_request(600);
  g_autoptr(GError) error = NULL;
  guint calls = 0;

  assert_null(iso7816_store_data_sync(failing_transmit, &calls, 1, request, NULL, &error));
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT));
  assert_int_equal(calls, 2);
  g_clear_error(&error);
  assert_null(iso7816_store_data_sync(failing_transmit, &calls, 1, request, NULL, &error));
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_NO_RESPONSE));
}

/* ---- the sans-IO core on its own ---- */

static void test_exchange_steps(void **state)
{
  static const guint8 first_answer[] = {0x61, 0x03};
  static const guint8 last_answer[] = {0xAA, 0xBB, 0xCC, 0x90, 0x00};
  g_autoptr(GBytes) request = make_request(8);
  g_autoptr(GError) error = NULL;
  Iso7816Limits limits = {.segment_size = 6};
  g_autoptr(Iso7816Exchange) ex = iso7816_exchange_new_store_data(5, request, &limits, &error);
  g_autoptr(Iso7816Response) r = NULL;
  GBytes *cmd, *resp;
  guint channel = 99;
  const guint8 *c;

  assert_non_null(ex);
  cmd = iso7816_exchange_next(ex, &channel);
  c = g_bytes_get_data(cmd, NULL);
  assert_int_equal(channel, 5);
  assert_int_equal(c[0], 0xC1);
  assert_int_equal(c[2], 0x11);
  g_bytes_unref(cmd);
  resp = answer_sw(0x9000);
  iso7816_exchange_feed(ex, resp);
  g_bytes_unref(resp);

  cmd = iso7816_exchange_next(ex, &channel);
  c = g_bytes_get_data(cmd, NULL);
  assert_int_equal(c[2], 0x91);
  assert_int_equal(c[3], 1);
  assert_int_equal(c[4], 2);
  g_bytes_unref(cmd);
  resp = g_bytes_new_static(first_answer, sizeof first_answer);
  iso7816_exchange_feed(ex, resp);
  g_bytes_unref(resp);

  cmd = iso7816_exchange_next(ex, &channel);
  c = g_bytes_get_data(cmd, NULL);
  assert_int_equal(g_bytes_get_size(cmd), 5);
  assert_int_equal(c[0], 0x41);
  assert_int_equal(c[1], 0xC0);
  assert_int_equal(c[4], 0x03);
  g_bytes_unref(cmd);
  assert_false(iso7816_exchange_is_finished(ex));
  resp = g_bytes_new_static(last_answer, sizeof last_answer);
  iso7816_exchange_feed(ex, resp);
  g_bytes_unref(resp);

  assert_true(iso7816_exchange_is_finished(ex));
  assert_null(iso7816_exchange_next(ex, &channel));
  assert_int_equal(iso7816_exchange_get_command_count(ex), 3);
  assert_true(iso7816_exchange_get_result(ex, &error));
  r = iso7816_exchange_steal_response(ex);
  assert_int_equal(r->sw, 0x9000);
  assert_int_equal(g_bytes_get_size(r->data), 3);
  assert_memory_equal(g_bytes_get_data(r->data, NULL), last_answer, 3);
}

/* ---- logical channels ---- */

static void test_open_channel_every_number(void **state)
{
  static const guint8 aid_bytes[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                     0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00};
  g_autoptr(GBytes) aid = g_bytes_new_static(aid_bytes, sizeof aid_bytes);

  for (guint ch = 1; ch <= 19; ch++) {
    g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 0);
    g_autoptr(GError) error = NULL;
    const guint8 *c;
    gsize len;
    guint8 cla;

    fc->open_channel = (guint8)ch;
    assert_int_equal(iso7816_open_channel_sync(fake_transmit, fc, aid, &error), ch);
    assert_null(error);
    assert_int_equal(fc->commands->len, 2);
    c = command_at(fc, 0, &len);
    assert_int_equal(len, 5);
    assert_int_equal(c[0], 0x00); /* MANAGE CHANNEL open, on the basic channel */
    assert_int_equal(c[1], 0x70);
    assert_int_equal(c[2], 0x00);
    assert_int_equal(c[3], 0x00);
    assert_int_equal(c[4], 0x01);
    c = command_at(fc, 1, &len);
    iso7816_cla_for_channel(ch, ISO7816_CLA_INTERINDUSTRY, &cla, NULL);
    assert_int_equal(c[0], cla); /* SELECT on the new channel */
    assert_int_equal(c[1], 0xA4);
    assert_int_equal(c[2], 0x04);
    assert_int_equal(c[4], sizeof aid_bytes);
    assert_memory_equal(c + 5, aid_bytes, sizeof aid_bytes);

    assert_true(iso7816_close_channel_sync(fake_transmit, fc, ch, &error));
    c = command_at(fc, 2, &len);
    assert_int_equal(len, 4);
    assert_int_equal(c[1], 0x70);
    assert_int_equal(c[2], 0x80);
    assert_int_equal(c[3], ch);
  }
}

static void test_open_channel_failures(void **state)
{
  static const guint8 aid_bytes[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10};
  g_autoptr(GBytes) aid = g_bytes_new_static(aid_bytes, sizeof aid_bytes);
  g_autoptr(GBytes) short_aid = g_bytes_new_static(aid_bytes, 4);

  {
    g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 0);
    g_autoptr(GError) error = NULL;
    fc->manage_sw = 0x6A81;
    assert_int_equal(iso7816_open_channel_sync(fake_transmit, fc, aid, &error), 0);
    assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED));
    assert_int_equal(fc->commands->len, 1);
  }
  {
    /* The application is missing: the channel opened for it is closed again. */
    g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 0);
    g_autoptr(GError) error = NULL;
    const guint8 *c;
    gsize len;
    fc->open_channel = 7;
    fc->select_sw = 0x6A82;
    assert_int_equal(iso7816_open_channel_sync(fake_transmit, fc, aid, &error), 0);
    assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND));
    assert_int_equal(fc->commands->len, 3);
    c = command_at(fc, 2, &len);
    assert_int_equal(c[1], 0x70);
    assert_int_equal(c[2], 0x80);
    assert_int_equal(c[3], 7);
  }
  {
    g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 0);
    g_autoptr(GError) error = NULL;
    fc->select_sw = 0x6999;
    assert_int_equal(iso7816_open_channel_sync(fake_transmit, fc, aid, &error), 0);
    assert_true(g_error_matches(error, ISO7816_STATUS_ERROR, 0x6999));
    assert_int_equal(fc->commands->len, 3);
  }
  {
    /* A channel number out of 1..19 cannot be used, nor closed. */
    g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 0);
    g_autoptr(GError) error = NULL;
    fc->open_channel = 20;
    assert_int_equal(iso7816_open_channel_sync(fake_transmit, fc, aid, &error), 0);
    assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_PROTOCOL));
  }
  {
    g_autoptr(GError) error = NULL;
    assert_null(iso7816_exchange_new_open_channel(short_aid, NULL, &error));
    assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
    g_clear_error(&error);
    assert_null(iso7816_exchange_new_close_channel(0, &error));
    assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
    g_clear_error(&error);
    assert_null(iso7816_exchange_new_close_channel(20, &error));
    assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
  }
}

/* ---- the asynchronous driver over a transport ---- */

typedef struct {
  Transport parent;
  FakeCard *card;
  guint slot_seen;
  GPtrArray *channels_seen;        /* GUINT_TO_POINTER */
  GCancellable *cancel_on_command; /* cancelled when command number cancel_at arrives */
  guint cancel_at;
  guint fail_at; /* 1-based command number answered with PORT_GONE; 0 never */
} FakeTransport;

static void fake_transport_transmit(Transport *t, guint slot, guint channel, GBytes *apdu,
                                    GCancellable *cancellable, GAsyncReadyCallback cb,
                                    gpointer data)
{
  FakeTransport *ft = (FakeTransport *)t;
  g_autoptr(GTask) task = g_task_new(NULL, cancellable, cb, data);
  guint n;

  ft->slot_seen = slot;
  g_ptr_array_add(ft->channels_seen, GUINT_TO_POINTER(channel));
  n = ft->channels_seen->len;
  if (ft->fail_at == n) {
    g_task_return_new_error(task, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE, "port gone");
    return;
  }
  if (ft->cancel_on_command && ft->cancel_at == n)
    g_cancellable_cancel(ft->cancel_on_command);
  g_task_return_pointer(task, fake_card_transmit(ft->card, apdu), (GDestroyNotify)g_bytes_unref);
}

static GBytes *fake_transport_transmit_finish(Transport *t, GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer(G_TASK(res), error);
}

static void fake_transport_finalize(Transport *t)
{
  FakeTransport *ft = (FakeTransport *)t;
  g_ptr_array_unref(ft->channels_seen);
}

static const TransportOps fake_transport_ops = {
    .transmit = fake_transport_transmit,
    .transmit_finish = fake_transport_transmit_finish,
    .finalize = fake_transport_finalize,
};

static Transport *fake_transport_new(FakeCard *card)
{
  FakeTransport *ft = g_new0(FakeTransport, 1);

  ft->parent.ops = &fake_transport_ops;
  ft->parent.kind = TRANSPORT_KIND_QMI;
  ft->parent.port = g_strdup("fake");
  ft->card = card;
  ft->channels_seen = g_ptr_array_new();
  return &ft->parent;
}

typedef struct {
  GMainLoop *loop;
  GAsyncResult *result;
} AsyncWait;

static gboolean async_wait_timeout(gpointer data)
{
  fail_msg("the asynchronous operation did not complete");
  return G_SOURCE_REMOVE;
}

static void async_wait_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  AsyncWait *w = data;
  w->result = g_object_ref(res);
  g_main_loop_quit(w->loop);
}

/* Runs the loop until the result arrives; bounded so a lost callback fails. */
static GAsyncResult *async_wait_run(AsyncWait *w)
{
  guint timeout = g_timeout_add_seconds(20, async_wait_timeout, NULL);

  if (!w->result)
    g_main_loop_run(w->loop);
  g_source_remove(timeout);
  return w->result;
}

static void async_wait_init(AsyncWait *w)
{
  w->loop = g_main_loop_new(NULL, FALSE);
  w->result = NULL;
}

static void async_wait_clear(AsyncWait *w)
{
  g_main_loop_unref(w->loop);
  g_clear_object(&w->result);
}

static void test_async_store_data(void **state)
{
  for (gsize i = 0; i < G_N_ELEMENTS(response_sizes); i++) {
    g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, response_sizes[i]);
    g_autoptr(Transport) t = fake_transport_new(fc);
    FakeTransport *ft = (FakeTransport *)t;
    g_autoptr(GBytes) request = make_request(700);
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) response = NULL;
    AsyncWait w;

    async_wait_init(&w);
    iso7816_store_data_async(t, 2, 13, request, NULL, NULL, async_wait_ready, &w);
    response = iso7816_store_data_finish(async_wait_run(&w), &error);
    async_wait_clear(&w);
    assert_null(error);
    assert_pattern(response, response_sizes[i]);
    assert_store_data_blocks(fc, request, 255, 13);
    assert_int_equal(ft->slot_seen, 2);
    for (guint j = 0; j < ft->channels_seen->len; j++)
      assert_int_equal(GPOINTER_TO_UINT(g_ptr_array_index(ft->channels_seen, j)), 13);
  }
}

static void test_async_open_transmit_close(void **state)
{
  static const guint8 aid_bytes[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF};
  static const guint8 get_data[] = {0x00, 0xCA, 0x00, 0x5A, 0x00};
  g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T1, 0x21);
  g_autoptr(Transport) t = fake_transport_new(fc);
  FakeTransport *ft = (FakeTransport *)t;
  g_autoptr(GBytes) aid = g_bytes_new_static(aid_bytes, sizeof aid_bytes);
  g_autoptr(GBytes) apdu = g_bytes_new_static(get_data, sizeof get_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(Iso7816Response) r = NULL;
  AsyncWait w;

  fc->open_channel = 4;
  async_wait_init(&w);
  iso7816_open_channel_async(t, 1, aid, NULL, async_wait_ready, &w);
  assert_int_equal(iso7816_open_channel_finish(async_wait_run(&w), &error), 4);
  async_wait_clear(&w);
  assert_null(error);
  /* MANAGE CHANNEL goes on the basic channel, SELECT on the new one. */
  assert_int_equal(GPOINTER_TO_UINT(g_ptr_array_index(ft->channels_seen, 0)), 0);
  assert_int_equal(GPOINTER_TO_UINT(g_ptr_array_index(ft->channels_seen, 1)), 4);

  fc->exact_le = TRUE;
  async_wait_init(&w);
  iso7816_transmit_async(t, 1, 0, apdu, NULL, NULL, async_wait_ready, &w);
  r = iso7816_transmit_finish(async_wait_run(&w), &error);
  async_wait_clear(&w);
  assert_non_null(r);
  assert_int_equal(r->sw, 0x9000);
  assert_pattern(r->data, 0x21);

  async_wait_init(&w);
  iso7816_close_channel_async(t, 1, 4, NULL, async_wait_ready, &w);
  assert_true(iso7816_close_channel_finish(async_wait_run(&w), &error));
  async_wait_clear(&w);

  /* A request that cannot be made fails through the callback, too. */
  async_wait_init(&w);
  iso7816_close_channel_async(t, 1, 0, NULL, async_wait_ready, &w);
  assert_false(iso7816_close_channel_finish(async_wait_run(&w), &error));
  async_wait_clear(&w);
  assert_true(g_error_matches(error, ISO7816_ERROR, ISO7816_ERROR_INVALID_ARGUMENT));
}

static void test_async_card_status_and_transport_error(void **state)
{
  g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 0);
  g_autoptr(Transport) t = fake_transport_new(fc);
  FakeTransport *ft = (FakeTransport *)t;
  g_autoptr(GBytes) request = make_request(600);
  g_autoptr(GError) error = NULL;
  AsyncWait w;

  fc->final_sw = 0x6985;
  async_wait_init(&w);
  iso7816_store_data_async(t, 1, 1, request, NULL, NULL, async_wait_ready, &w);
  assert_null(iso7816_store_data_finish(async_wait_run(&w), &error));
  async_wait_clear(&w);
  assert_true(g_error_matches(error, ISO7816_STATUS_ERROR, 0x6985));
  g_clear_error(&error);

  g_ptr_array_set_size(ft->channels_seen, 0);
  g_ptr_array_set_size(fc->commands, 0);
  ft->fail_at = 2;
  async_wait_init(&w);
  iso7816_store_data_async(t, 1, 1, request, NULL, NULL, async_wait_ready, &w);
  assert_null(iso7816_store_data_finish(async_wait_run(&w), &error));
  async_wait_clear(&w);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE));
  assert_int_equal(ft->channels_seen->len, 2);
}

static void test_async_cancel(void **state)
{
  g_autoptr(FakeCard) fc = fake_card_new(FAKE_STYLE_T0, 100);
  g_autoptr(Transport) t = fake_transport_new(fc);
  FakeTransport *ft = (FakeTransport *)t;
  g_autoptr(GBytes) request = make_request(1000);
  g_autoptr(GCancellable) before = g_cancellable_new();
  g_autoptr(GCancellable) midway = g_cancellable_new();
  g_autoptr(GError) error = NULL;
  AsyncWait w;

  g_cancellable_cancel(before);
  async_wait_init(&w);
  iso7816_store_data_async(t, 1, 1, request, NULL, before, async_wait_ready, &w);
  assert_null(iso7816_store_data_finish(async_wait_run(&w), &error));
  async_wait_clear(&w);
  assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  assert_int_equal(fc->commands->len, 0);
  g_clear_error(&error);

  /* Cancelled while the second block is out: no third block is sent. */
  ft->cancel_on_command = midway;
  ft->cancel_at = 2;
  async_wait_init(&w);
  iso7816_store_data_async(t, 1, 1, request, NULL, midway, async_wait_ready, &w);
  assert_null(iso7816_store_data_finish(async_wait_run(&w), &error));
  async_wait_clear(&w);
  assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  assert_int_equal(fc->commands->len, 2);
}

/* ---- against euicc-sim ---- */

/* GetEuiccDataRequest for the EID: BF3E 03 5C 01 5A (SGP.22 5.7.20). */
static GBytes *get_eid_request(void)
{
  static const guint8 req[] = {0xBF, 0x3E, 0x03, 0x5C, 0x01, 0x5A};
  return g_bytes_new_static(req, sizeof req);
}

/* The EID out of BF3E { 5A 10 <16 bytes> }, as hex. */
static gchar *eid_from_response(GBytes *response)
{
  gsize len;
  const guint8 *b = g_bytes_get_data(response, &len);
  GString *hex = g_string_new(NULL);

  assert_int_equal(len, 3 + 2 + 16);
  assert_int_equal(b[0], 0xBF);
  assert_int_equal(b[1], 0x3E);
  assert_int_equal(b[3], 0x5A);
  assert_int_equal(b[4], 16);
  for (gsize i = 5; i < len; i++)
    g_string_append_printf(hex, "%02X", b[i]);
  return g_string_free(hex, FALSE);
}

static void test_sim_get_eid_on_every_channel(void **state)
{
  g_autoptr(EuiccSim) sim = test_card_load("three-profiles.card");
  g_autoptr(GBytes) aid = test_isdr_aid();
  g_autoptr(GBytes) request = get_eid_request();
  g_autoptr(GError) error = NULL;
  guint opened[19];

  for (guint i = 0; i < 19; i++) {
    g_autoptr(GBytes) response = NULL;
    g_autofree gchar *eid = NULL;

    opened[i] = iso7816_open_channel_sync(test_sim_transmit, sim, aid, &error);
    assert_null(error);
    assert_true(opened[i] >= 1 && opened[i] <= 19);
    assert_true(euicc_sim_get_open_channels(sim) & (1u << opened[i]));
    response = iso7816_store_data_sync(test_sim_transmit, sim, opened[i], request, NULL, &error);
    assert_null(error);
    eid = eid_from_response(response);
    assert_string_equal(eid, euicc_sim_get_eid(sim));
  }
  /* Every channel is taken now. */
  assert_int_equal(iso7816_open_channel_sync(test_sim_transmit, sim, aid, &error), 0);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED));
  g_clear_error(&error);

  for (guint i = 0; i < 19; i++)
    assert_true(iso7816_close_channel_sync(test_sim_transmit, sim, opened[i], &error));
  assert_int_equal(euicc_sim_get_open_channels(sim), 0);
}

/* SetNicknameRequest BF29 { 5A iccid, 90 nickname }, for an ICCID of 10 BCD bytes. */
static GBytes *set_nickname_request(const guint8 iccid_bcd[10], const char *nickname)
{
  GByteArray *r = g_byte_array_new();
  gsize nlen = strlen(nickname);
  guint8 head[] = {0xBF, 0x29, (guint8)(2 + 10 + 2 + nlen), 0x5A, 10};
  guint8 nick_head[] = {0x90, (guint8)nlen};

  g_assert(nlen <= 64);
  g_byte_array_append(r, head, sizeof head);
  g_byte_array_append(r, iccid_bcd, 10);
  g_byte_array_append(r, nick_head, sizeof nick_head);
  g_byte_array_append(r, (const guint8 *)nickname, (guint)nlen);
  return g_byte_array_free_to_bytes(r);
}

static guint8 hexbyte(const char *s)
{
  return (guint8)(g_ascii_xdigit_value(s[0]) << 4 | g_ascii_xdigit_value(s[1]));
}

/* The command lines ("> HEX") of an APDU log, as bytes. */
static GPtrArray *read_apdu_log(const char *path)
{
  g_autofree gchar *text = NULL;
  g_auto(GStrv) lines = NULL;
  GPtrArray *commands = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);

  assert_true(g_file_get_contents(path, &text, NULL, NULL));
  lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    GByteArray *cmd;
    const char *hex;

    if (!g_str_has_prefix(lines[i], "> "))
      continue;
    cmd = g_byte_array_new();
    hex = lines[i] + 2;
    for (gsize j = 0; g_ascii_isxdigit(hex[j]) && g_ascii_isxdigit(hex[j + 1]); j += 2) {
      guint8 b = hexbyte(hex + j);
      g_byte_array_append(cmd, &b, 1);
    }
    g_ptr_array_add(commands, g_byte_array_free_to_bytes(cmd));
  }
  return commands;
}

/* Swapped-BCD of an ICCID given as digits ('F' padded), as SGP.22 Iccid is. */
static void iccid_bcd(const char *digits, guint8 out[10])
{
  gsize n = strlen(digits);

  for (gsize i = 0; i < 10; i++) {
    guint lo = 2 * i < n ? (guint)(digits[2 * i] - '0') : 0xF;
    guint hi = 2 * i + 1 < n ? (guint)(digits[2 * i + 1] - '0') : 0xF;
    out[i] = (guint8)(hi << 4 | lo);
  }
}

static void run_sim_segments(guint segment)
{
  g_autoptr(EuiccSim) sim = test_card_load("three-profiles.card");
  g_autoptr(GBytes) aid = test_isdr_aid();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *dir = g_dir_make_tmp("iso7816-XXXXXX", &error);
  g_autofree gchar *log = g_build_filename(dir, "apdu.log", NULL);
  const char *nickname = "a nickname of exactly sixty-four characters, to span segments!!!";
  const char *iccid = euicc_sim_get_iccid(sim);
  Iso7816Limits limits = {.segment_size = segment};
  g_autoptr(GBytes) request = NULL;
  g_autoptr(GBytes) response = NULL;
  g_autoptr(GPtrArray) commands = NULL;
  guint8 bcd[10];
  guint channel, before;
  guint store_data = 0;

  assert_non_null(iccid);
  assert_int_equal(strlen(nickname), 64);
  iccid_bcd(iccid, bcd);
  request = set_nickname_request(bcd, nickname);

  channel = iso7816_open_channel_sync(test_sim_transmit, sim, aid, &error);
  assert_true(channel > 0);
  before = euicc_sim_get_apdu_count(sim);
  assert_true(euicc_sim_set_apdu_log(sim, log, &error));
  response = iso7816_store_data_sync(test_sim_transmit, sim, channel, request, &limits, &error);
  assert_null(error);
  assert_true(euicc_sim_set_apdu_log(sim, NULL, &error));

  /* SetNicknameResponse BF29 03 80 01 00: ok. */
  {
    static const guint8 ok[] = {0xBF, 0x29, 0x03, 0x80, 0x01, 0x00};
    assert_int_equal(g_bytes_get_size(response), sizeof ok);
    assert_memory_equal(g_bytes_get_data(response, NULL), ok, sizeof ok);
  }
  assert_string_equal(euicc_sim_get_profile_nickname(sim, iccid), nickname);

  commands = read_apdu_log(log);
  assert_int_equal(commands->len, euicc_sim_get_apdu_count(sim) - before);
  {
    gsize total;
    const guint8 *req = g_bytes_get_data(request, &total);
    guint blocks = (guint)((total + segment - 1) / segment);
    gsize offset = 0;
    guint8 cla;

    iso7816_cla_for_channel(channel, ISO7816_CLA_PROPRIETARY, &cla, NULL);
    for (guint i = 0; i < commands->len; i++) {
      gsize len;
      const guint8 *c = g_bytes_get_data(g_ptr_array_index(commands, i), &len);
      gsize lc;

      if (c[1] != 0xE2)
        continue;
      lc = MIN((gsize)segment, total - offset);
      assert_int_equal(c[0], cla);
      assert_int_equal(c[2], store_data + 1 == blocks ? 0x91 : 0x11);
      assert_int_equal(c[3], store_data);
      assert_int_equal(c[4], lc);
      assert_memory_equal(c + 5, req + offset, lc);
      assert_int_equal(len, 5 + lc + 1);
      assert_int_equal(c[len - 1], 0x00);
      offset += lc;
      store_data++;
    }
    assert_int_equal(store_data, blocks);
    assert_int_equal(offset, total);
  }
  g_unlink(log);
  g_rmdir(dir);
}

static void test_sim_segments_6(void **state)
{
  run_sim_segments(6);
}

static void test_sim_segments_120(void **state)
{
  run_sim_segments(120);
}

static void test_sim_segments_255(void **state)
{
  run_sim_segments(255);
}

/* GetProfilesInfo (BF2D 00) comes back the same whatever the card's chunk size. */
static void test_sim_response_chunks(void **state)
{
  static const guint8 list_all[] = {0xBF, 0x2D, 0x00};
  static const guint chunks[] = {256, 255, 100, 16, 1};
  g_autoptr(GBytes) request = g_bytes_new_static(list_all, sizeof list_all);
  g_autoptr(GBytes) aid = test_isdr_aid();
  g_autoptr(GBytes) reference = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS(chunks); i++) {
    g_autoptr(EuiccSim) sim = test_card_load("three-profiles.card");
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) response = NULL;
    guint channel, before;

    euicc_sim_set_response_chunk(sim, chunks[i]);
    channel = iso7816_open_channel_sync(test_sim_transmit, sim, aid, &error);
    assert_true(channel > 0);
    before = euicc_sim_get_apdu_count(sim);
    response = iso7816_store_data_sync(test_sim_transmit, sim, channel, request, NULL, &error);
    assert_null(error);
    assert_non_null(response);
    assert_true(g_bytes_get_size(response) > 3);
    /* One STORE DATA, then a GET RESPONSE per further chunk at most. */
    assert_true(euicc_sim_get_apdu_count(sim) - before <=
                1 + (g_bytes_get_size(response) + chunks[i] - 1) / chunks[i]);
    if (chunks[i] < g_bytes_get_size(response))
      assert_true(euicc_sim_get_apdu_count(sim) - before > 1);
    if (!reference)
      reference = g_bytes_ref(response);
    else
      assert_true(g_bytes_equal(reference, response));
  }
}

static void test_sim_card_errors(void **state)
{
  g_autoptr(EuiccSim) sim = test_card_load("three-profiles.card");
  g_autoptr(GBytes) aid = test_isdr_aid();
  g_autoptr(GBytes) request = get_eid_request();
  g_autoptr(GError) error = NULL;
  guint channel;

  channel = iso7816_open_channel_sync(test_sim_transmit, sim, aid, &error);
  assert_true(channel > 0);

  assert_true(euicc_sim_add_fault(sim, "sw:BF3E=6A88@1", &error));
  assert_null(iso7816_store_data_sync(test_sim_transmit, sim, channel, request, NULL, &error));
  assert_true(g_error_matches(error, ISO7816_STATUS_ERROR, 0x6A88));
  g_clear_error(&error);

  assert_true(euicc_sim_add_fault(sim, "drop:BF3E@1", &error));
  assert_null(iso7816_store_data_sync(test_sim_transmit, sim, channel, request, NULL, &error));
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT));
  g_clear_error(&error);

  /* Both faults fired once: the card answers again. */
  {
    g_autoptr(GBytes) response =
        iso7816_store_data_sync(test_sim_transmit, sim, channel, request, NULL, &error);
    g_autofree gchar *eid = NULL;
    assert_null(error);
    eid = eid_from_response(response);
    assert_string_equal(eid, euicc_sim_get_eid(sim));
  }

  assert_true(euicc_sim_add_fault(sim, "sw:manage-channel=6881@1", &error));
  assert_int_equal(iso7816_open_channel_sync(test_sim_transmit, sim, aid, &error), 0);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED));
  g_clear_error(&error);

  /* An AID the card does not have: the channel is given back. */
  {
    static const guint8 other[] = {0xA0, 0x00, 0x00, 0x00, 0x87, 0x10, 0x02};
    g_autoptr(GBytes) usim_like = g_bytes_new_static(other, sizeof other);
    guint32 open_before = euicc_sim_get_open_channels(sim);
    assert_int_equal(iso7816_open_channel_sync(test_sim_transmit, sim, usim_like, &error), 0);
    assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND));
    assert_int_equal(euicc_sim_get_open_channels(sim), open_before);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_apdu_cases_1_to_4),
      cmocka_unit_test(test_apdu_rejects_what_does_not_fit),
      cmocka_unit_test(test_cla_every_channel),
      cmocka_unit_test(test_store_data_segments_6),
      cmocka_unit_test(test_store_data_segments_120),
      cmocka_unit_test(test_store_data_segments_255),
      cmocka_unit_test(test_store_data_refuses_bad_sizes),
      cmocka_unit_test(test_response_sizes_t0),
      cmocka_unit_test(test_response_sizes_t1),
      cmocka_unit_test(test_get_response_uses_channel_cla),
      cmocka_unit_test(test_6cxx_reissues_with_card_le),
      cmocka_unit_test(test_6cxx_on_store_data_keeps_data),
      cmocka_unit_test(test_6cxx_forever_is_a_protocol_error),
      cmocka_unit_test(test_91xx_is_success_with_data),
      cmocka_unit_test(test_size_cap),
      cmocka_unit_test(test_card_status_reaches_caller),
      cmocka_unit_test(test_malformed_response),
      cmocka_unit_test(test_stalled_get_response),
      cmocka_unit_test(test_transport_failure_ends_exchange),
      cmocka_unit_test(test_exchange_steps),
      cmocka_unit_test(test_open_channel_every_number),
      cmocka_unit_test(test_open_channel_failures),
      cmocka_unit_test(test_async_store_data),
      cmocka_unit_test(test_async_open_transmit_close),
      cmocka_unit_test(test_async_card_status_and_transport_error),
      cmocka_unit_test(test_async_cancel),
      cmocka_unit_test(test_sim_get_eid_on_every_channel),
      cmocka_unit_test(test_sim_segments_6),
      cmocka_unit_test(test_sim_segments_120),
      cmocka_unit_test(test_sim_segments_255),
      cmocka_unit_test(test_sim_response_chunks),
      cmocka_unit_test(test_sim_card_errors),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
