/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * euicc-sim as a client sees it: APDUs in, status words and ES10 answers out,
 * and the card's state afterwards. Card files come from ESIMD_CARDS_DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <cmocka.h>

#include "es10/tlv.h"
#include "euicc-sim.h"

#define ISDR "A0000005591010FFFFFFFF8900000100"
#define ICCID_UK "8944476500001234567"
#define ICCID_US "89012604100000123456"
#define ICCID_TRAVEL "89445001000000654321"

/* ------------------------------------------------------------------ */
/* Utilities                                                            */

static EuiccSim *load(const char *name)
{
  const char *dir = g_getenv("ESIMD_CARDS_DIR");
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  EuiccSim *sim;

  assert_non_null(dir);
  path = g_build_filename(dir, name, NULL);
  sim = euicc_sim_new_from_file(path, &error);
  if (!sim)
    fail_msg("%s", error->message);
  return sim;
}

static GByteArray *hex(const char *text)
{
  GByteArray *a = g_byte_array_new();
  int hi = -1;

  for (const char *p = text; *p; p++) {
    int v = g_ascii_xdigit_value(*p);
    if (v < 0)
      continue;
    if (hi < 0) {
      hi = v;
    } else {
      guint8 b = (guint8)(hi << 4 | v);
      g_byte_array_append(a, &b, 1);
      hi = -1;
    }
  }
  return a;
}

/* Sends one APDU; the response must not have been dropped. */
static GBytes *tx(EuiccSim *sim, const guint8 *apdu, gsize len)
{
  GBytes *r = euicc_sim_transmit(sim, apdu, len);
  assert_non_null(r);
  assert_true(g_bytes_get_size(r) >= 2);
  return r;
}

static GBytes *tx_hex(EuiccSim *sim, const char *text)
{
  g_autoptr(GByteArray) a = hex(text);
  return tx(sim, a->data, a->len);
}

static guint16 sw_of(GBytes *r)
{
  gsize n;
  const guint8 *p = g_bytes_get_data(r, &n);
  return (guint16)(p[n - 2] << 8 | p[n - 1]);
}

static guint16 sw_hex(EuiccSim *sim, const char *text)
{
  g_autoptr(GBytes) r = tx_hex(sim, text);
  return sw_of(r);
}

static guint8 cla_for(guint8 ch, gboolean proprietary)
{
  if (ch < 4)
    return (guint8)((proprietary ? 0x80 : 0x00) | ch);
  return (guint8)((proprietary ? 0xC0 : 0x40) | (ch - 4));
}

static guint8 open_channel(EuiccSim *sim)
{
  g_autoptr(GBytes) r = tx_hex(sim, "0070000001");
  assert_int_equal(sw_of(r), 0x9000);
  assert_int_equal(g_bytes_get_size(r), 3);
  return ((const guint8 *)g_bytes_get_data(r, NULL))[0];
}

static guint16 select_aid(EuiccSim *sim, guint8 ch, const char *aid)
{
  g_autofree char *apdu =
      g_strdup_printf("%02XA40400%02zX%s00", cla_for(ch, FALSE), strlen(aid) / 2, aid);
  return sw_hex(sim, apdu);
}

static guint8 open_isdr(EuiccSim *sim)
{
  guint8 ch = open_channel(sim);
  assert_int_equal(select_aid(sim, ch, ISDR), 0x9000);
  return ch;
}

/* Fetches whatever 61xx announces, with Le = 00, and returns the joined data. */
static GByteArray *collect(EuiccSim *sim, guint8 ch, GBytes *first, guint *rounds)
{
  GByteArray *data = g_byte_array_new();
  g_autoptr(GBytes) r = g_bytes_ref(first);
  guint n = 0;

  for (;;) {
    gsize len;
    const guint8 *p = g_bytes_get_data(r, &len);
    g_byte_array_append(data, p, (guint)(len - 2));
    if (p[len - 2] != 0x61)
      break;
    {
      guint8 get[5] = {cla_for(ch, FALSE), 0xC0, 0x00, 0x00, 0x00};
      g_bytes_unref(r);
      r = tx(sim, get, 5);
      n++;
    }
  }
  assert_int_equal(sw_of(r), 0x9000);
  if (rounds)
    *rounds = n;
  return data;
}

/* STORE DATA in segments of seg bytes, then GET RESPONSE: the ES10 answer. */
static GByteArray *es10_seg(EuiccSim *sim, guint8 ch, const guint8 *cmd, gsize len, gsize seg)
{
  g_autoptr(GBytes) r = NULL;
  gsize off = 0;
  guint block = 0;

  while (off < len) {
    gsize n = MIN(seg, len - off);
    gboolean last = off + n == len;
    g_autoptr(GByteArray) apdu = g_byte_array_new();
    guint8 hdr[5] = {cla_for(ch, TRUE), 0xE2, last ? 0x91 : 0x11, (guint8)block, (guint8)n};
    g_byte_array_append(apdu, hdr, 5);
    g_byte_array_append(apdu, cmd + off, (guint)n);
    if (last) {
      guint8 le = 0;
      g_byte_array_append(apdu, &le, 1);
    }
    g_clear_pointer(&r, g_bytes_unref);
    r = tx(sim, apdu->data, apdu->len);
    if (!last)
      assert_int_equal(sw_of(r), 0x9000);
    off += n;
    block++;
  }
  return collect(sim, ch, r, NULL);
}

static GByteArray *es10_hex(EuiccSim *sim, guint8 ch, const char *text)
{
  g_autoptr(GByteArray) cmd = hex(text);
  return es10_seg(sim, ch, cmd->data, cmd->len, 255);
}

/* The single INTEGER [0] of an ES10 result (BF31 { 80 n } and friends). */
static guint64 result_of(GByteArray *der, guint32 tag)
{
  Tlv top, child;
  guint64 v = 999;

  assert_true(tlv_parse(der->data, der->len, &top, NULL));
  assert_int_equal(top.tag, tag);
  assert_true(tlv_find(&top, 0x80, &child, NULL));
  assert_true(tlv_get_uint(&child, &v, NULL));
  return v;
}

static guint64 es10_result(EuiccSim *sim, guint8 ch, const char *text, guint32 tag)
{
  g_autoptr(GByteArray) der = es10_hex(sim, ch, text);
  return result_of(der, tag);
}

static char *iccid_hex(const char *digits)
{
  char out[21];
  gsize n = strlen(digits);

  for (gsize i = 0; i < 20; i += 2) {
    out[i] = i + 1 < n ? digits[i + 1] : 'F';
    out[i + 1] = i < n ? digits[i] : 'F';
  }
  out[20] = '\0';
  return g_strdup(out);
}

static char *enable_cmd(const char *tag, const char *iccid)
{
  g_autofree char *bcd = iccid_hex(iccid);
  return g_strdup_printf("%s11A00C5A0A%s8101FF", tag, bcd);
}

static guint64 switch_profile(EuiccSim *sim, guint8 ch, const char *tag, const char *iccid)
{
  g_autofree char *cmd = enable_cmd(tag, iccid);
  guint32 t = (guint32)g_ascii_strtoull(tag, NULL, 16);
  return es10_result(sim, ch, cmd, t);
}

static guint64 delete_profile(EuiccSim *sim, guint8 ch, const char *iccid)
{
  g_autofree char *bcd = iccid_hex(iccid);
  g_autofree char *cmd = g_strdup_printf("BF330C5A0A%s", bcd);
  return es10_result(sim, ch, cmd, 0xBF33);
}

/* Number of ProfileInfo (E3) in a GetProfilesInfo answer. */
static guint count_profiles(GByteArray *der)
{
  Tlv top, list, item;
  TlvIter it;
  guint n = 0;

  assert_true(tlv_parse(der->data, der->len, &top, NULL));
  assert_int_equal(top.tag, 0xBF2D);
  assert_true(tlv_find(&top, 0xA0, &list, NULL));
  assert_true(tlv_iter_init(&it, &list, NULL));
  while (tlv_iter_next(&it, &item, NULL)) {
    assert_int_equal(item.tag, 0xE3);
    n++;
  }
  return n;
}

static guint last_event(EuiccSim *sim, const char **iccid)
{
  guint n = euicc_sim_get_notification_count(sim), event = 99;
  assert_true(n > 0);
  assert_true(euicc_sim_get_notification(sim, n - 1, NULL, &event, NULL, iccid));
  return event;
}

/* ------------------------------------------------------------------ */
/* Channels and the APDU layer                                          */

static void test_manage_channel_opens_and_closes(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 a = open_channel(sim), b = open_channel(sim);

  assert_int_equal(a, 1);
  assert_int_equal(b, 2);
  assert_int_equal(euicc_sim_get_open_channels(sim), 0x6);
  assert_int_equal(sw_hex(sim, "00708001"), 0x9000);
  assert_int_equal(euicc_sim_get_open_channels(sim), 0x4);
  /* A closed channel takes no commands and cannot be closed again. */
  assert_int_equal(select_aid(sim, 1, ISDR), 0x6881);
  assert_int_equal(sw_hex(sim, "00708001"), 0x6881);
  /* The lowest free number is handed out again. */
  assert_int_equal(open_channel(sim), 1);
  assert_int_equal(sw_hex(sim, "00708000"), 0x6A86);
}

static void test_manage_channel_exhaustion(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");

  euicc_sim_set_max_channels(sim, 3);
  for (int i = 1; i <= 3; i++)
    assert_int_equal(open_channel(sim), i);
  assert_int_equal(sw_hex(sim, "0070000001"), 0x6A81);
  assert_int_equal(euicc_sim_get_open_channels(sim), 0xE);
  assert_int_equal(sw_hex(sim, "00708002"), 0x9000);
  assert_int_equal(open_channel(sim), 2);
}

static void test_nineteen_channels_with_both_cla_forms(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");

  for (guint ch = 1; ch <= 19; ch++)
    assert_int_equal(open_channel(sim), ch);
  assert_int_equal(sw_hex(sim, "0070000001"), 0x6A81);
  assert_int_equal(euicc_sim_get_open_channels(sim), 0xFFFFE);
  for (guint8 ch = 1; ch <= 19; ch++) {
    g_autoptr(GByteArray) eid = NULL;
    Tlv top;
    /* SELECT in the ISO form on even channels, the GlobalPlatform form on odd. */
    g_autofree char *sel = g_strdup_printf("%02XA4040010" ISDR "00", cla_for(ch, ch % 2));
    assert_int_equal(sw_hex(sim, sel), 0x9000);
    eid = es10_hex(sim, ch, "BF3E035C015A");
    assert_true(tlv_parse(eid->data, eid->len, &top, NULL));
    assert_int_equal(top.tag, 0xBF3E);
  }
  /* STORE DATA in the ISO form (0x4X) on channel 19 works as well. */
  assert_int_equal(sw_hex(sim, "4FE2910006BF3E035C015A"), 0x6115);
}

static void test_apdu_errors(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);

  assert_int_equal(ch, 1);
  assert_int_equal(sw_hex(sim, "01CA00FE00"), 0x6D00);       /* unknown INS */
  assert_int_equal(sw_hex(sim, "FFA4040000"), 0x6E00);       /* bad CLA */
  assert_int_equal(sw_hex(sim, "21A4040000"), 0x6E00);       /* reserved CLA */
  assert_int_equal(sw_hex(sim, "0070400001"), 0x6A86);       /* MANAGE CHANNEL P1 */
  assert_int_equal(sw_hex(sim, "01A4040110" ISDR), 0x6A86);  /* SELECT P2 */
  assert_int_equal(sw_hex(sim, "81E2210003BF2D00"), 0x6A86); /* STORE DATA P1 */
  assert_int_equal(sw_hex(sim, "01C0010000"), 0x6A86);       /* GET RESPONSE P1 */
  assert_int_equal(sw_hex(sim, "01A4"), 0x6700);             /* too short */
  assert_int_equal(sw_hex(sim, "81E2910005BF2D00"), 0x6700); /* Lc past the end */
  assert_int_equal(sw_hex(sim, "81E29100"), 0x6700);         /* no data */
  assert_int_equal(euicc_sim_get_apdu_count(sim), 12);
}

static void test_select_isdr_answers_fci(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_channel(sim);
  g_autoptr(GBytes) r = tx_hex(sim, "01A4040010" ISDR "00");
  g_autoptr(GBytes) r3 = NULL;
  g_autoptr(GByteArray) fci = NULL;
  Tlv top, aid;

  assert_int_equal(sw_of(r), 0x9000);
  assert_true(tlv_parse(g_bytes_get_data(r, NULL), g_bytes_get_size(r) - 2, &top, NULL));
  assert_int_equal(top.tag, 0x6F);
  assert_true(tlv_find(&top, 0x84, &aid, NULL));
  assert_int_equal(aid.length, 16);
  /* Without Le (T=0 style) the card announces the FCI with 61xx. */
  r3 = tx_hex(sim, "01A4040010" ISDR);
  assert_int_equal(sw_of(r3) & 0xFF00, 0x6100);
  fci = collect(sim, ch, r3, NULL);
  assert_int_equal(fci->len, g_bytes_get_size(r) - 2);
  assert_memory_equal(fci->data, g_bytes_get_data(r, NULL), fci->len);
  /* P2 = 0C: no FCI wanted. */
  assert_int_equal(sw_hex(sim, "01A4040C10" ISDR), 0x9000);
  /* P2 = 04, as modems send it when a client opens a channel: the same template. */
  {
    g_autoptr(GBytes) r4 = tx_hex(sim, "01A4040410" ISDR "00");
    assert_int_equal(sw_of(r4), 0x9000);
    assert_true(g_bytes_equal(r4, r));
  }
}

static void test_select_unknown_aid(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);

  assert_int_equal(select_aid(sim, ch, "A0000000871002FF44FF1289"), 0x6A82);
  /* A failed SELECT leaves the ISD-R selected (ISO 7816-4 7.1.1). */
  assert_int_equal(sw_hex(sim, "81E2910003BF2D00"), 0x6100);
  /* A channel that never selected it cannot STORE DATA. */
  assert_int_equal(select_aid(sim, open_channel(sim), "A0000000871002FF44FF1289"), 0x6A82);
  assert_int_equal(sw_hex(sim, "82E2910003BF2D00"), 0x6985);
}

static void test_plain_sim_refuses_isdr(void **state)
{
  g_autoptr(EuiccSim) sim = load("plain-sim.card");
  guint8 ch = open_channel(sim);

  assert_false(euicc_sim_is_euicc(sim));
  assert_null(euicc_sim_get_eid(sim));
  assert_string_equal(euicc_sim_get_iccid(sim), "8944110000001234567");
  assert_int_equal(ch, 1);
  assert_int_equal(select_aid(sim, ch, ISDR), 0x6A82);
  assert_int_equal(sw_hex(sim, "81E2910003BF2D00"), 0x6985);
  assert_int_equal(sw_hex(sim, "00708001"), 0x9000);
}

static void test_two_aids_reachable_only_at_alternative(void **state)
{
  g_autoptr(EuiccSim) sim = load("two-aids.card");
  guint8 ch = open_channel(sim);
  g_autoptr(GByteArray) der = NULL;

  assert_int_equal(select_aid(sim, ch, ISDR), 0x6A82);
  assert_int_equal(select_aid(sim, ch, "A0000005591010FFFFFFFF8900050500"), 0x9000);
  der = es10_hex(sim, ch, "BF2D00");
  assert_int_equal(count_profiles(der), 2);
}

/* ------------------------------------------------------------------ */
/* STORE DATA and GET RESPONSE                                          */

static void test_store_data_needs_isdr(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_channel(sim);

  assert_int_equal(ch, 1);
  assert_int_equal(sw_hex(sim, "81E2910003BF2D00"), 0x6985);
  assert_int_equal(sw_hex(sim, "80E2910003BF2D00"), 0x6985);
}

static void test_store_data_segments(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  /* A 308-byte GetProfilesInfo: its tagList names ICCID and state 100 times. */
  g_autoptr(GByteArray) cmd = g_byte_array_new();
  g_autoptr(GByteArray) whole = NULL;
  const gsize sizes[] = {6, 120, 255};
  guint8 head[] = {0xBF, 0x2D, 0x82, 0x01, 0x30, 0x5C, 0x82, 0x01, 0x2C};

  g_byte_array_append(cmd, head, sizeof(head));
  for (int i = 0; i < 100; i++)
    g_byte_array_append(cmd, (const guint8 *)"\x5A\x9F\x70", 3);
  assert_int_equal(cmd->len, 5 + 0x130);
  whole = es10_seg(sim, ch, cmd->data, cmd->len, 255);
  assert_int_equal(count_profiles(whole), 3);
  for (gsize i = 0; i < G_N_ELEMENTS(sizes); i++) {
    g_autoptr(GByteArray) seg = es10_seg(sim, ch, cmd->data, cmd->len, sizes[i]);
    assert_int_equal(seg->len, whole->len);
    assert_memory_equal(seg->data, whole->data, whole->len);
  }
  /* Only the fields asked for: ICCID and state, no names. */
  {
    Tlv top, list, info, t;
    assert_true(tlv_parse(whole->data, whole->len, &top, NULL));
    assert_true(tlv_find(&top, 0xA0, &list, NULL));
    assert_true(tlv_find(&list, 0xE3, &info, NULL));
    assert_true(tlv_find(&info, 0x5A, &t, NULL));
    assert_true(tlv_find(&info, 0x9F70, &t, NULL));
    assert_false(tlv_find(&info, 0x92, &t, NULL));
    assert_false(tlv_find(&info, 0x4F, &t, NULL));
  }
}

static void test_store_data_wrong_block_order(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) der = NULL;

  assert_int_equal(ch, 1);
  assert_int_equal(sw_hex(sim, "81E2110002BF2D"), 0x9000);
  assert_int_equal(sw_hex(sim, "81E2910201"
                               "00"),
                   0x6A86); /* block 2 after block 0 */
  /* The broken command is gone: block 1 now is out of order too. */
  assert_int_equal(sw_hex(sim, "81E2910101"
                               "00"),
                   0x6A86);
  /* A fresh command from block 0 works. */
  der = es10_hex(sim, ch, "BF2D00");
  assert_int_equal(count_profiles(der), 3);
}

static void test_malformed_es10(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);

  assert_int_equal(ch, 1);
  assert_int_equal(sw_hex(sim, "81E2910004BF2D0500"), 0x6A80);   /* length past end */
  assert_int_equal(sw_hex(sim, "81E2910005BF2D00FFFF"), 0x6A80); /* trailing bytes */
  assert_int_equal(sw_hex(sim, "81E2910005BF31025A00"), 0x6A80); /* no profile identifier */
  assert_int_equal(sw_hex(sim, "81E2910003BF7100"), 0x6A88);     /* no such function */
}

static void test_get_response_over_256(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GBytes) first = tx_hex(sim, "81E2910003BF2D0000");
  g_autoptr(GByteArray) der = NULL;
  guint rounds;
  Tlv top;

  /* Le = 00: 256 bytes, and 61xx for the rest. */
  assert_int_equal(g_bytes_get_size(first), 258);
  assert_int_equal(sw_of(first) & 0xFF00, 0x6100);
  der = collect(sim, ch, first, &rounds);
  assert_true(der->len > 256);
  assert_int_equal(rounds, 1);
  assert_int_equal(sw_of(first) & 0xFF, der->len - 256);
  assert_true(tlv_parse(der->data, der->len, &top, NULL));
  assert_int_equal(count_profiles(der), 3);
}

static void test_get_response_over_1000(void **state)
{
  g_autoptr(EuiccSim) sim = load("eight-icons.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GBytes) first = tx_hex(sim, "81E2910003BF2D00");
  g_autoptr(GByteArray) der = NULL;
  guint rounds;
  Tlv top, list, info, icon;

  /* Case 3 (no Le): only 61 00 (256 or more waiting). */
  assert_int_equal(g_bytes_get_size(first), 2);
  assert_int_equal(sw_of(first), 0x6100);
  der = collect(sim, ch, first, &rounds);
  assert_true(der->len > 1000);
  assert_int_equal(rounds, (der->len + 255) / 256);
  assert_int_equal(count_profiles(der), 8);
  assert_true(tlv_parse(der->data, der->len, &top, NULL));
  assert_true(tlv_find(&top, 0xA0, &list, NULL));
  assert_true(tlv_find(&list, 0xE3, &info, NULL));
  assert_true(tlv_find(&info, 0x94, &icon, NULL));
  assert_memory_equal(icon.value, "\x89PNG\r\n\x1A\n", 8);
}

static void test_response_chunk_is_configurable(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GBytes) first = NULL;
  g_autoptr(GByteArray) der = NULL;
  guint rounds;

  euicc_sim_set_response_chunk(sim, 100);
  first = tx_hex(sim, "81E2910003BF2D0000");
  assert_int_equal(g_bytes_get_size(first), 102);
  der = collect(sim, ch, first, &rounds);
  assert_int_equal(rounds, (der->len - 1) / 100);
  assert_int_equal(count_profiles(der), 3);
}

static void test_get_response_wrong_le_and_nothing_pending(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GBytes) r = NULL;
  guint16 sw;

  assert_int_equal(ch, 1);
  assert_int_equal(sw_hex(sim, "01C0000000"), 0x6985);
  sw = sw_hex(sim, "81E2910006BF3E035C015A");
  assert_int_equal(sw, 0x6115);
  /* Asking for more than is there: 6Cxx names the right Le, nothing is lost. */
  assert_int_equal(sw_hex(sim, "01C0000020"), 0x6C15);
  r = tx_hex(sim, "01C0000015");
  assert_int_equal(sw_of(r), 0x9000);
  assert_int_equal(g_bytes_get_size(r), 0x15 + 2);
  assert_int_equal(sw_hex(sim, "01C0000000"), 0x6985);
  /* Another command forfeits the waiting data. */
  assert_int_equal(sw_hex(sim, "81E2910006BF3E035C015A"), 0x6115);
  assert_int_equal(sw_hex(sim, "01A4040C10" ISDR), 0x9000);
  assert_int_equal(sw_hex(sim, "01C0000000"), 0x6985);
}

/* ------------------------------------------------------------------ */
/* ES10 functions and SGP.22 state rules                                */

static void test_get_eid(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) der = es10_hex(sim, ch, "BF3E035C015A");
  g_autoptr(GByteArray) want = hex("BF3E125A10"
                                   "89049032123451234512345678901235");

  assert_string_equal(euicc_sim_get_eid(sim), "89049032123451234512345678901235");
  assert_int_equal(der->len, want->len);
  assert_memory_equal(der->data, want->data, want->len);
  assert_int_equal(sw_hex(sim, "81E2910003BF3E00"), 0x6A80); /* no tagList */
}

static void test_get_profiles_info_all_and_by_criteria(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) all = es10_hex(sim, ch, "BF2D00");
  g_autoptr(GByteArray) by_aid =
      es10_hex(sim, ch, "BF2D14A0124F10A0000005591010FFFFFFFF8900001100");
  g_autoptr(GByteArray) by_class = es10_hex(sim, ch, "BF2D05A003950102");
  g_autoptr(GByteArray) by_test = es10_hex(sim, ch, "BF2D05A003950100");
  g_autoptr(GByteArray) bad = es10_hex(sim, ch, "BF2D06A0045A021234");
  g_autofree char *uk = iccid_hex(ICCID_UK);
  g_autofree char *cmd = g_strdup_printf("BF2D0EA00C5A0A%s", uk);
  g_autoptr(GByteArray) by_iccid = es10_hex(sim, ch, cmd);
  Tlv top, list, info, t;
  guint64 v;

  assert_int_equal(count_profiles(all), 3);
  assert_int_equal(count_profiles(by_aid), 1);
  assert_int_equal(count_profiles(by_class), 3);
  assert_int_equal(count_profiles(by_test), 0);
  assert_true(tlv_parse(bad->data, bad->len, &top, NULL));
  assert_true(tlv_find(&top, 0x81, &t, NULL)); /* incorrectInputValues */
  assert_true(tlv_get_uint(&t, &v, NULL));
  assert_int_equal(v, 1);

  assert_int_equal(count_profiles(by_iccid), 1);
  assert_true(tlv_parse(by_iccid->data, by_iccid->len, &top, NULL));
  assert_true(tlv_find(&top, 0xA0, &list, NULL));
  assert_true(tlv_find(&list, 0xE3, &info, NULL));
  assert_true(tlv_find(&info, 0x9F70, &t, NULL));
  assert_true(tlv_get_uint(&t, &v, NULL));
  assert_int_equal(v, 1);
  assert_true(tlv_find(&info, 0x90, &t, NULL));
  assert_int_equal(t.length, 4);
  assert_memory_equal(t.value, "Work", 4);
  assert_true(tlv_find(&info, 0xB7, &t, NULL));
  /* profileClass is DEFAULT operational, so DER leaves it out. */
  assert_false(tlv_find(&info, 0x95, &t, NULL));
}

static void test_enable_switches_and_notifies_both(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  guint seq0, seq1, event;
  const char *iccid, *addr;

  assert_int_equal(euicc_sim_get_notification_count(sim), 0);
  assert_int_equal(switch_profile(sim, ch, "BF31", ICCID_US), 0);
  assert_int_equal(euicc_sim_get_profile_state(sim, ICCID_US), 1);
  assert_int_equal(euicc_sim_get_profile_state(sim, ICCID_UK), 0);
  assert_string_equal(euicc_sim_get_iccid(sim), ICCID_US);
  /* The implicit disable of the UK profile comes first, then the enable. */
  assert_int_equal(euicc_sim_get_notification_count(sim), 2);
  assert_true(euicc_sim_get_notification(sim, 0, &seq0, &event, &addr, &iccid));
  assert_int_equal(event, 2);
  assert_string_equal(iccid, ICCID_UK);
  assert_string_equal(addr, "smdp.example.com");
  assert_true(euicc_sim_get_notification(sim, 1, &seq1, &event, &addr, &iccid));
  assert_int_equal(event, 1);
  assert_string_equal(iccid, ICCID_US);
  assert_string_equal(addr, "rsp.example.net");
  assert_int_equal(seq1, seq0 + 1);
}

static void test_enable_by_aid(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);

  assert_int_equal(
      es10_result(sim, ch, "BF3117A0124F10A0000005591010FFFFFFFF89000012008101FF", 0xBF31), 0);
  assert_int_equal(euicc_sim_get_profile_state(sim, ICCID_TRAVEL), 1);
  /* The travel profile has no enable address: only UK's disable is written. */
  assert_int_equal(euicc_sim_get_notification_count(sim), 1);
  assert_int_equal(last_event(sim, NULL), 2);
}

static void test_enable_enabled_profile_refused(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);

  assert_int_equal(switch_profile(sim, ch, "BF31", ICCID_UK), 2); /* profileNotInDisabledState */
  assert_int_equal(euicc_sim_get_profile_state(sim, ICCID_UK), 1);
  assert_int_equal(euicc_sim_get_notification_count(sim), 0);
}

static void test_unknown_profile_not_found(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  const char *nobody = "89440000000000000000";

  assert_int_equal(switch_profile(sim, ch, "BF31", nobody), 1);
  assert_int_equal(switch_profile(sim, ch, "BF32", nobody), 1);
  assert_int_equal(delete_profile(sim, ch, nobody), 1);
  assert_int_equal(
      es10_result(sim, ch, "BF3117A0124F10A0000005591010FFFFFFFF89000099008101FF", 0xBF31), 1);
  assert_int_equal(euicc_sim_get_profile_count(sim), 3);
  assert_int_equal(euicc_sim_get_notification_count(sim), 0);
}

static void test_disable_enabled_profile(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  const char *iccid;

  assert_int_equal(switch_profile(sim, ch, "BF32", ICCID_UK), 0);
  assert_int_equal(euicc_sim_get_profile_state(sim, ICCID_UK), 0);
  assert_null(euicc_sim_get_iccid(sim));
  assert_int_equal(last_event(sim, &iccid), 2);
  assert_string_equal(iccid, ICCID_UK);
  /* Disabling it again: profileNotInEnabledState, nothing written. */
  assert_int_equal(switch_profile(sim, ch, "BF32", ICCID_UK), 2);
  assert_int_equal(euicc_sim_get_notification_count(sim), 1);
}

static void test_delete_disabled_profile(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) der = NULL;
  const char *iccid, *addr;
  guint event;

  assert_int_equal(delete_profile(sim, ch, ICCID_US), 0);
  assert_int_equal(euicc_sim_get_profile_count(sim), 2);
  assert_int_equal(euicc_sim_get_profile_state(sim, ICCID_US), -1);
  assert_true(euicc_sim_get_notification(sim, 0, NULL, &event, &addr, &iccid));
  assert_int_equal(event, 3);
  assert_string_equal(addr, "smdp.example.net");
  assert_string_equal(iccid, ICCID_US);
  der = es10_hex(sim, ch, "BF2D00");
  assert_int_equal(count_profiles(der), 2);
  assert_int_equal(delete_profile(sim, ch, ICCID_US), 1);
}

static void test_delete_enabled_profile_refused(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);

  assert_int_equal(delete_profile(sim, ch, ICCID_UK), 2);
  assert_int_equal(euicc_sim_get_profile_count(sim), 3);
  assert_int_equal(euicc_sim_get_notification_count(sim), 0);
}

static void test_policy_rules(void **state)
{
  g_autoptr(EuiccSim) sim = load("ppr.card");
  guint8 ch = open_isdr(sim);
  const char *locked = "8944500000000000101", *undeletable = "8944500000000000202";

  /* PPR1: no disable, neither explicit nor by enabling another profile. */
  assert_int_equal(switch_profile(sim, ch, "BF32", locked), 3);
  assert_int_equal(switch_profile(sim, ch, "BF31", "8944500000000000303"), 3);
  assert_int_equal(euicc_sim_get_profile_state(sim, locked), 1);
  /* PPR2: no delete. */
  assert_int_equal(delete_profile(sim, ch, undeletable), 3);
  assert_int_equal(euicc_sim_get_profile_count(sim), 3);
  assert_int_equal(euicc_sim_get_notification_count(sim), 0);
  /* A profile without rules deletes fine. */
  assert_int_equal(delete_profile(sim, ch, "8944500000000000303"), 0);
}

static void test_get_rat(void **state)
{
  g_autoptr(EuiccSim) sim = load("ppr.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) der = es10_hex(sim, ch, "BF4300");
  g_autoptr(GByteArray) want = hex("BF4315A013301180020560A1073005800"
                                   "3EEEEEE820207 80");

  assert_int_equal(der->len, want->len);
  assert_memory_equal(der->data, want->data, want->len);
}

static void test_notifications_only_where_configured(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);

  /* Travel has an address for delete only. */
  assert_int_equal(switch_profile(sim, ch, "BF31", ICCID_TRAVEL), 0);
  assert_int_equal(switch_profile(sim, ch, "BF32", ICCID_TRAVEL), 0);
  assert_int_equal(euicc_sim_get_notification_count(sim), 1); /* UK's disable */
  assert_int_equal(delete_profile(sim, ch, ICCID_TRAVEL), 0);
  assert_int_equal(euicc_sim_get_notification_count(sim), 2);
  assert_int_equal(last_event(sim, NULL), 3);
}

static void test_notify_always(void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EuiccSim) sim = euicc_sim_new_from_data("eid 89049032123451234512345678909009\n"
                                                    "default-smdp smdp.example.com\n"
                                                    "notify-always yes\n"
                                                    "[profile]\n"
                                                    "iccid 8944000000000000011\n"
                                                    "isdp-aid A0000005591010FFFFFFFF8900001000\n"
                                                    "state disabled\n",
                                                    &error);
  guint8 ch;
  const char *addr;

  assert_non_null(sim);
  ch = open_isdr(sim);
  assert_int_equal(switch_profile(sim, ch, "BF31", "8944000000000000011"), 0);
  assert_true(euicc_sim_get_notification(sim, 0, NULL, NULL, &addr, NULL));
  assert_string_equal(addr, "smdp.example.com");
}

static void test_memory_reset(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) der = NULL;

  /* Default SM-DP+ address only. */
  assert_int_equal(es10_result(sim, ch, "BF340482020520", 0xBF34), 0);
  assert_null(euicc_sim_get_default_smdp_address(sim));
  assert_int_equal(euicc_sim_get_profile_count(sim), 3);
  /* Field-loaded test profiles: there are none. */
  assert_int_equal(es10_result(sim, ch, "BF340482020640", 0xBF34), 1);
  assert_int_equal(euicc_sim_get_profile_count(sim), 3);
  /* Operational profiles, the enabled one included, each with its delete notification. */
  assert_int_equal(es10_result(sim, ch, "BF340482020780", 0xBF34), 0);
  assert_int_equal(euicc_sim_get_profile_count(sim), 0);
  assert_null(euicc_sim_get_iccid(sim));
  assert_int_equal(euicc_sim_get_notification_count(sim), 3);
  assert_int_equal(last_event(sim, NULL), 3);
  der = es10_hex(sim, ch, "BF2D00");
  assert_int_equal(count_profiles(der), 0);
  assert_int_equal(es10_result(sim, ch, "BF340482020780", 0xBF34), 1);
}

static void test_memory_reset_keeps_what_is_not_asked(void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EuiccSim) sim = euicc_sim_new_from_data(
      "eid 89049032123451234512345678909009\n"
      "default-smdp smdp.example.com\n"
      "[profile]\niccid 8944000000000000011\nisdp-aid A0000005591010FFFFFFFF8900001000\n"
      "class test\n"
      "[profile]\niccid 8944000000000000022\nisdp-aid A0000005591010FFFFFFFF8900001100\n"
      "class test\npreloaded yes\n"
      "[profile]\niccid 8944000000000000033\nisdp-aid A0000005591010FFFFFFFF8900001200\n",
      &error);
  guint8 ch;

  assert_non_null(sim);
  ch = open_isdr(sim);
  assert_int_equal(es10_result(sim, ch, "BF340482020640", 0xBF34), 0);
  assert_int_equal(euicc_sim_get_profile_state(sim, "8944000000000000011"), -1);
  assert_int_equal(euicc_sim_get_profile_state(sim, "8944000000000000022"), 0);
  assert_int_equal(euicc_sim_get_profile_state(sim, "8944000000000000033"), 0);
  assert_string_equal(euicc_sim_get_default_smdp_address(sim), "smdp.example.com");
}

static void test_memory_reset_empty_card(void **state)
{
  g_autoptr(EuiccSim) sim = load("empty.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) der = es10_hex(sim, ch, "BF2D00");

  assert_int_equal(count_profiles(der), 0);
  assert_int_equal(es10_result(sim, ch, "BF340482020560", 0xBF34), 1);
}

static void test_list_notification_with_filter(void **state)
{
  g_autoptr(EuiccSim) sim = load("with-notifications.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) all = es10_hex(sim, ch, "BF2800");
  g_autoptr(GByteArray) some = es10_hex(sim, ch, "BF2804810205 60");
  Tlv top, list, meta, t;
  TlvIter it;
  guint n = 0;
  guint64 seq;

  assert_true(tlv_parse(all->data, all->len, &top, NULL));
  assert_true(tlv_find(&top, 0xA0, &list, NULL));
  assert_true(tlv_iter_init(&it, &list, NULL));
  while (tlv_iter_next(&it, &meta, NULL)) {
    assert_int_equal(meta.tag, 0xBF2F);
    assert_true(tlv_find(&meta, 0x80, &t, NULL));
    assert_true(tlv_get_uint(&t, &seq, NULL));
    assert_int_equal(seq, 4 + n);
    n++;
  }
  assert_int_equal(n, 4);
  /* enable | disable only: seq 5 and 6. */
  assert_true(tlv_parse(some->data, some->len, &top, NULL));
  assert_true(tlv_find(&top, 0xA0, &list, NULL));
  assert_true(tlv_iter_init(&it, &list, NULL));
  n = 0;
  while (tlv_iter_next(&it, &meta, NULL)) {
    assert_true(tlv_find(&meta, 0x80, &t, NULL));
    assert_true(tlv_get_uint(&t, &seq, NULL));
    assert_true(seq == 5 || seq == 6);
    n++;
  }
  assert_int_equal(n, 2);
}

static void test_retrieve_notifications(void **state)
{
  g_autoptr(EuiccSim) sim = load("with-notifications.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) all = es10_hex(sim, ch, "BF2B00");
  g_autoptr(GByteArray) one = es10_hex(sim, ch, "BF2B05A003800106");
  g_autoptr(GByteArray) none = es10_hex(sim, ch, "BF2B05A003800163");
  g_autoptr(GByteArray) installs = es10_hex(sim, ch, "BF2B06A00481020780");
  Tlv top, list, item, meta, t;
  TlvIter it;
  guint n = 0;

  assert_true(tlv_parse(all->data, all->len, &top, NULL));
  assert_true(tlv_find(&top, 0xA0, &list, NULL));
  assert_true(tlv_iter_init(&it, &list, NULL));
  while (tlv_iter_next(&it, &item, NULL)) {
    if (n == 0) {
      /* The install result is a ProfileInstallationResult. */
      assert_int_equal(item.tag, 0xBF37);
    } else {
      /* The others: OtherSignedNotification with signature and two certificates. */
      TlvIter parts;
      guint certs = 0;
      assert_int_equal(item.tag, 0x30);
      assert_true(tlv_find(&item, 0xBF2F, &meta, NULL));
      assert_true(tlv_find(&item, 0x5F37, &t, NULL));
      assert_int_equal(t.length, 64);
      assert_true(tlv_iter_init(&parts, &item, NULL));
      while (tlv_iter_next(&parts, &t, NULL))
        certs += t.tag == 0x30;
      assert_int_equal(certs, 2);
    }
    n++;
  }
  assert_int_equal(n, 4);

  assert_true(tlv_parse(one->data, one->len, &top, NULL));
  assert_true(tlv_find(&top, 0xA0, &list, NULL));
  assert_true(tlv_find(&list, 0x30, &item, NULL));
  assert_true(tlv_find(&item, 0xBF2F, &meta, NULL));
  assert_true(tlv_find(&meta, 0x81, &t, NULL)); /* disable: bit 2 */
  assert_int_equal(t.length, 2);
  assert_int_equal(t.value[0], 5);
  assert_int_equal(t.value[1], 0x20);

  assert_true(tlv_parse(none->data, none->len, &top, NULL));
  assert_true(tlv_find(&top, 0x81, &t, NULL)); /* noResultAvailable */
  assert_int_equal(t.value[0], 1);

  assert_true(tlv_parse(installs->data, installs->len, &top, NULL));
  assert_true(tlv_find(&top, 0xA0, &list, NULL));
  assert_true(tlv_iter_init(&it, &list, NULL));
  n = 0;
  while (tlv_iter_next(&it, &item, NULL)) {
    assert_int_equal(item.tag, 0xBF37);
    n++;
  }
  assert_int_equal(n, 1);
}

static void test_remove_notification(void **state)
{
  g_autoptr(EuiccSim) sim = load("with-notifications.card");
  guint8 ch = open_isdr(sim);
  guint seq;

  assert_int_equal(es10_result(sim, ch, "BF3003800105", 0xBF30), 0);
  assert_int_equal(euicc_sim_get_notification_count(sim), 3);
  assert_int_equal(es10_result(sim, ch, "BF3003800105", 0xBF30), 1); /* nothingToDelete */
  assert_true(euicc_sim_get_notification(sim, 1, &seq, NULL, NULL, NULL));
  assert_int_equal(seq, 6);
  /* New notifications continue after the highest sequence number. */
  assert_int_equal(switch_profile(sim, ch, "BF32", "8944476500005550001"), 0);
  assert_true(euicc_sim_get_notification(sim, 3, &seq, NULL, NULL, NULL));
  assert_int_equal(seq, 8);
}

static void test_set_nickname(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  g_autofree char *us = iccid_hex(ICCID_US);
  g_autofree char *cmd = g_strdup_printf("BF29125A0A%s9004486F6D65", us);

  assert_null(euicc_sim_get_profile_nickname(sim, ICCID_US));
  assert_int_equal(es10_result(sim, ch, cmd, 0xBF29), 0);
  assert_string_equal(euicc_sim_get_profile_nickname(sim, ICCID_US), "Home");
  assert_int_equal(es10_result(sim, ch, "BF290F5A0A98440000000000000000900178", 0xBF29), 1);
}

static void test_configured_addresses(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) before = es10_hex(sim, ch, "BF3C00");
  g_autoptr(GByteArray) want =
      hex("BF3C248010736D64702E6578616D706C652E636F6D8110736D64732E6578616D706C652E636F6D");
  g_autoptr(GByteArray) after = NULL;
  Tlv top, t;

  assert_int_equal(before->len, want->len);
  assert_memory_equal(before->data, want->data, want->len);
  assert_int_equal(es10_result(sim, ch, "BF3F0B8009782E6578616D706C65", 0xBF3F), 0);
  assert_string_equal(euicc_sim_get_default_smdp_address(sim), "x.example");
  /* An empty address removes it. */
  assert_int_equal(es10_result(sim, ch, "BF3F028000", 0xBF3F), 0);
  after = es10_hex(sim, ch, "BF3C00");
  assert_true(tlv_parse(after->data, after->len, &top, NULL));
  assert_false(tlv_find(&top, 0x80, &t, NULL));
  assert_true(tlv_find(&top, 0x81, &t, NULL));
}

static void test_euicc_info(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) info1 = es10_hex(sim, ch, "BF2000");
  g_autoptr(GByteArray) info2 = es10_hex(sim, ch, "BF2200");
  g_autoptr(GByteArray) resource = hex("810105820305CE6083022EE0");
  Tlv top, t;
  const guint32 mandatory[] = {0x81, 0x82, 0x83, 0x84, 0x85, 0x88, 0xA9, 0xAA, 0x04, 0x0C};

  assert_true(tlv_parse(info1->data, info1->len, &top, NULL));
  assert_int_equal(top.tag, 0xBF20);
  assert_true(tlv_find(&top, 0xA9, &t, NULL));
  assert_true(tlv_parse(info2->data, info2->len, &top, NULL));
  assert_int_equal(top.tag, 0xBF22);
  for (gsize i = 0; i < G_N_ELEMENTS(mandatory); i++)
    assert_true(tlv_find(&top, mandatory[i], &t, NULL));
  assert_true(tlv_find(&top, 0x83, &t, NULL));
  assert_memory_equal(t.value, "\x04\x06\x00", 3); /* firmware-version 4.6.0 */
  /* 5 applications, 380512 bytes free NV, 12000 bytes free RAM. */
  assert_true(tlv_find(&top, 0x84, &t, NULL));
  assert_int_equal(t.length, resource->len);
  assert_memory_equal(t.value, resource->data, resource->len);
}

static void test_iccid_lengths(void **state)
{
  g_autoptr(EuiccSim) sim = load("iccid-lengths.card");
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) der = es10_hex(sim, ch, "BF2D035C015A");
  g_autoptr(GByteArray) want = hex("BF2D2CA02AE30C5A0A984400000000002143FF"
                                   "E30C5A0A984400000000002143F5E30C5A0A98100000000000214365");

  assert_int_equal(der->len, want->len);
  assert_memory_equal(der->data, want->data, want->len);
  assert_int_equal(switch_profile(sim, ch, "BF31", "894400000000001234"), 0);
  assert_string_equal(euicc_sim_get_iccid(sim), "894400000000001234");
  assert_int_equal(switch_profile(sim, ch, "BF31", "89010000000000123456"), 0);
  assert_int_equal(euicc_sim_get_profile_state(sim, "894400000000001234"), 0);
  assert_int_equal(delete_profile(sim, ch, "8944000000000012345"), 0);
}

/* ------------------------------------------------------------------ */
/* Fault knobs, delay, log                                              */

static void test_fault_sw(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  g_autoptr(GError) error = NULL;
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) der = NULL;

  assert_true(euicc_sim_add_fault(sim, "sw:BF31=6A88@1", &error));
  assert_int_equal(sw_hex(sim, "81E2910003BF2D00"), 0x6100); /* other tags unaffected */
  {
    g_autofree char *cmd = enable_cmd("BF31", ICCID_US);
    g_autofree char *apdu = g_strdup_printf("81E29100%02zX%s", strlen(cmd) / 2, cmd);
    assert_int_equal(sw_hex(sim, apdu), 0x6A88);
    /* The card did nothing. */
    assert_int_equal(euicc_sim_get_profile_state(sim, ICCID_US), 0);
  }
  /* @1: the second time goes through. */
  assert_int_equal(switch_profile(sim, ch, "BF31", ICCID_US), 0);
  der = es10_hex(sim, ch, "BF2D00");
  assert_int_equal(count_profiles(der), 3);
}

static void test_fault_drop(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  g_autoptr(GError) error = NULL;
  guint8 ch = open_isdr(sim);
  g_autofree char *cmd = enable_cmd("BF32", ICCID_UK);
  g_autoptr(GByteArray) apdu = NULL;
  g_autofree char *text = g_strdup_printf("81E29100%02zX%s00", strlen(cmd) / 2, cmd);

  assert_true(euicc_sim_add_fault(sim, "drop:BF32", &error));
  apdu = hex(text);
  /* No answer, but the card acted. */
  assert_null(euicc_sim_transmit(sim, apdu->data, apdu->len));
  assert_int_equal(euicc_sim_get_profile_state(sim, ICCID_UK), 0);
  assert_int_equal(sw_hex(sim, "01C0000000"), 0x6985);
  assert_int_equal(ch, 1);
}

static void test_fault_garbage(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  g_autoptr(GError) error = NULL;
  guint8 ch = open_isdr(sim);
  g_autoptr(GByteArray) der = NULL;
  Tlv top;

  assert_true(euicc_sim_add_fault(sim, "garbage:BF2D", &error));
  der = es10_hex(sim, ch, "BF2D00");
  assert_true(der->len > 0);
  assert_false(tlv_parse(der->data, der->len, &top, NULL));
  euicc_sim_clear_faults(sim);
  g_byte_array_unref(der);
  der = es10_hex(sim, ch, "BF2D00");
  assert_int_equal(count_profiles(der), 3);
}

static void test_fault_apdu_commands(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) open_apdu = hex("0070000001");
  g_autoptr(GBytes) r = NULL;
  guint8 ch;

  assert_true(euicc_sim_add_fault(sim, "sw:manage-channel=6F00@1", &error));
  assert_int_equal(sw_hex(sim, "0070000001"), 0x6F00);
  assert_int_equal(euicc_sim_get_open_channels(sim), 0);
  ch = open_channel(sim);
  assert_true(euicc_sim_add_fault(sim, "sw:select=6A82@2", &error));
  assert_int_equal(select_aid(sim, ch, ISDR), 0x6A82);
  assert_int_equal(select_aid(sim, ch, ISDR), 0x6A82);
  assert_int_equal(select_aid(sim, ch, ISDR), 0x9000);
  assert_true(euicc_sim_add_fault(sim, "garbage:get-response@1", &error));
  assert_int_equal(sw_hex(sim, "81E2910003BF2D00"), 0x6100);
  r = tx_hex(sim, "01C0000000");
  assert_int_equal(sw_of(r), 0x9000);
  assert_true(g_bytes_get_size(r) < 20);
  assert_true(euicc_sim_add_fault(sim, "drop:any@1", &error));
  assert_null(euicc_sim_transmit(sim, open_apdu->data, open_apdu->len));
  /* The dropped MANAGE CHANNEL still opened a channel. */
  assert_int_equal(euicc_sim_get_open_channels(sim), 0x6);
  assert_true(euicc_sim_add_fault(sim, "sw:store-data=6581@1", &error));
  assert_int_equal(sw_hex(sim, "81E2910003BF2D00"), 0x6581);
}

static void test_fault_result_answers_without_acting(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  g_autoptr(GError) error = NULL;
  guint8 ch = open_isdr(sim);

  /* catBusy (5) twice for EnableProfile, undefinedError (127) once for
   * DisableProfile: the card answers them and stays as it was. */
  assert_true(euicc_sim_add_fault(sim, "result:BF31=5@2", &error));
  assert_true(euicc_sim_add_fault(sim, "result:bf32=127@1", &error));
  assert_int_equal(switch_profile(sim, ch, "BF31", ICCID_US), 5);
  assert_int_equal(switch_profile(sim, ch, "BF31", ICCID_US), 5);
  assert_int_equal(switch_profile(sim, ch, "BF32", ICCID_UK), 127);
  assert_int_equal(euicc_sim_get_profile_state(sim, ICCID_US), 0);
  assert_int_equal(euicc_sim_get_profile_state(sim, ICCID_UK), 1);
  assert_int_equal(euicc_sim_get_notification_count(sim), 0);
  /* Used up: the next ones act. */
  assert_int_equal(switch_profile(sim, ch, "BF32", ICCID_UK), 0);
  assert_int_equal(switch_profile(sim, ch, "BF31", ICCID_US), 0);
  assert_int_equal(euicc_sim_get_profile_state(sim, ICCID_US), 1);
  assert_int_equal(euicc_sim_get_notification_count(sim), 2);
}

static void test_fault_result_for_other_result_commands(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  g_autoptr(GError) error = NULL;
  guint8 ch = open_isdr(sim);

  assert_true(euicc_sim_add_fault(sim, "result:BF33=5", &error));
  assert_true(euicc_sim_add_fault(sim, "result:BF3F=127@1", &error));
  assert_int_equal(delete_profile(sim, ch, ICCID_US), 5);
  assert_int_equal(delete_profile(sim, ch, ICCID_US), 5); /* no @N: every time */
  assert_int_equal(euicc_sim_get_profile_count(sim), 3);
  /* SetDefaultDpAddress "x.example": the card keeps its address. */
  assert_int_equal(es10_result(sim, ch, "BF3F0B8009782E6578616D706C65", 0xBF3F), 127);
  assert_string_equal(euicc_sim_get_default_smdp_address(sim), "smdp.example.com");
  assert_int_equal(es10_result(sim, ch, "BF3F0B8009782E6578616D706C65", 0xBF3F), 0);
  assert_string_equal(euicc_sim_get_default_smdp_address(sim), "x.example");
}

static void test_fault_specs_rejected(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  const char *bad[] = {"sw:BF2D",         "sw:BF2D=6A8", "sw:BF2D=XYZW",  "drop:select@0",
                       "drop:select@x",   "burn:BF2D",   "drop:BF",       "drop:ABCD",
                       "garbage:nothing", "result:BF31", "result:BF31=x", "result:BF31=256",
                       "result:BF2D=1",   "result:any=5"};

  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    assert_false(euicc_sim_add_fault(sim, bad[i], &error));
    assert_true(g_error_matches(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_FAULT));
  }
}

static void test_delay_knob(void **state)
{
  g_autoptr(EuiccSim) sim = load("empty.card");

  assert_int_equal(euicc_sim_get_delay_ms(sim), 0);
  euicc_sim_set_delay_ms(sim, 250);
  assert_int_equal(euicc_sim_get_delay_ms(sim), 250);
}

static void test_apdu_log(void **state)
{
  g_autoptr(EuiccSim) sim = load("three-profiles.card");
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp("euicc-sim-XXXXXX", &error);
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GByteArray) drop = hex("0070000001");

  assert_non_null(dir);
  path = g_build_filename(dir, "apdu.log", NULL);
  assert_true(euicc_sim_set_apdu_log(sim, path, &error));
  open_channel(sim);
  assert_int_equal(sw_hex(sim, "01a4040c10" ISDR), 0x9000);
  assert_true(euicc_sim_add_fault(sim, "drop:manage-channel", &error));
  assert_null(euicc_sim_transmit(sim, drop->data, drop->len));
  assert_true(euicc_sim_set_apdu_log(sim, NULL, &error));
  assert_true(g_file_get_contents(path, &text, NULL, &error));
  assert_string_equal(text, "> 0070000001\n"
                            "< 019000\n"
                            "> 01A4040C10" ISDR "\n"
                            "< 9000\n"
                            "> 0070000001\n"
                            "# response dropped\n");
  assert_int_equal(euicc_sim_get_apdu_count(sim), 3);
  g_unlink(path);
  g_rmdir(dir);
}

/* ------------------------------------------------------------------ */
/* Card files                                                           */

static void test_every_shipped_card_loads(void **state)
{
  const char *cards[] = {
      "three-profiles.card", "empty.card",     "eight-icons.card", "ppr.card",
      "iccid-lengths.card",  "plain-sim.card", "two-aids.card",    "with-notifications.card"};
  const guint profiles[] = {3, 0, 8, 3, 3, 0, 2, 2};

  for (gsize i = 0; i < G_N_ELEMENTS(cards); i++) {
    g_autoptr(EuiccSim) sim = load(cards[i]);
    assert_int_equal(euicc_sim_get_profile_count(sim), profiles[i]);
  }
}

static void test_card_file_errors(void **state)
{
  static const struct {
    const char *text;
    const char *message;
  } cases[] = {
      {"eid 123\n", "line 1: eid wants 32 decimal digits"},
      {"# c\neid 89049032123451234512345678901235\nfrobnicate 1\n", "line 3: unknown key"},
      {"eid 89049032123451234512345678901235\n[profile]\niccid 12ab\n", "line 3: iccid wants"},
      {"eid 89049032123451234512345678901235\n[slot]\n", "line 2: unknown section"},
      {"eid 89049032123451234512345678901235\n\n[profile]\nisdp-aid A000000559\n[profile]\n",
       "line 3: [profile] without iccid"},
      {"eid 89049032123451234512345678901235\n[profile]\niccid 8944000000000000011\n",
       "line 2: [profile] without isdp-aid"},
      {"eid 89049032123451234512345678901235\n[profile]\niccid 8944000000000000011\n"
       "isdp-aid A0000005591010FFFFFFFF8900001000\nstate enabled\n[profile]\n"
       "iccid 8944000000000000022\nisdp-aid A0000005591010FFFFFFFF8900001100\n"
       "state enabled\n",
       "line 6: [profile] 8944000000000000022 is enabled, but so is"},
      {"eid 89049032123451234512345678901235\n[profile]\nstate on\n", "line 3: state is"},
      {"eid 89049032123451234512345678901235\n[profile]\nisdp-aid A0\n", "line 3: isdp-aid wants"},
      {"eid 89049032123451234512345678901235\n[profile]\nppr ppr9\n", "line 3: ppr: unknown name"},
      {"eid 89049032123451234512345678901235\n[profile]\nnotify reboot x.example\n",
       "line 3: unknown event"},
      {"eid 89049032123451234512345678901235\n[profile]\nicon-png 12\n", "line 3: icon-png"},
      {"eid 89049032123451234512345678901235\nsvn 2.2\n", "line 2: svn wants a version"},
      {"eid 89049032123451234512345678901235\nmax-channels 20\n", "line 2: max-channels wants"},
      {"eid 89049032123451234512345678901235\n[notification]\nseq 1\n",
       "line 2: [notification] without address"},
      {"eid 89049032123451234512345678901235\nmax-channels\n", "line 2: \"max-channels\" has no"},
      {"type plain\n", "names no iccid"},
      {"type sim\n", "line 1: type is euicc or plain"},
      {"default-smdp smdp.example.com\n", "names no eid"},
  };

  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(EuiccSim) sim = euicc_sim_new_from_data(cases[i].text, &error);
    assert_null(sim);
    assert_true(g_error_matches(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE));
    if (!strstr(error->message, cases[i].message))
      fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, error->message, cases[i].message);
  }
}

static void test_card_file_missing(void **state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EuiccSim) sim = euicc_sim_new_from_file("no-such-dir/none.card", &error);

  assert_null(sim);
  assert_true(g_error_matches(error, EUICC_SIM_ERROR, EUICC_SIM_ERROR_CARD_FILE));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_manage_channel_opens_and_closes),
      cmocka_unit_test(test_manage_channel_exhaustion),
      cmocka_unit_test(test_nineteen_channels_with_both_cla_forms),
      cmocka_unit_test(test_apdu_errors),
      cmocka_unit_test(test_select_isdr_answers_fci),
      cmocka_unit_test(test_select_unknown_aid),
      cmocka_unit_test(test_plain_sim_refuses_isdr),
      cmocka_unit_test(test_two_aids_reachable_only_at_alternative),
      cmocka_unit_test(test_store_data_needs_isdr),
      cmocka_unit_test(test_store_data_segments),
      cmocka_unit_test(test_store_data_wrong_block_order),
      cmocka_unit_test(test_malformed_es10),
      cmocka_unit_test(test_get_response_over_256),
      cmocka_unit_test(test_get_response_over_1000),
      cmocka_unit_test(test_response_chunk_is_configurable),
      cmocka_unit_test(test_get_response_wrong_le_and_nothing_pending),
      cmocka_unit_test(test_get_eid),
      cmocka_unit_test(test_get_profiles_info_all_and_by_criteria),
      cmocka_unit_test(test_enable_switches_and_notifies_both),
      cmocka_unit_test(test_enable_by_aid),
      cmocka_unit_test(test_enable_enabled_profile_refused),
      cmocka_unit_test(test_unknown_profile_not_found),
      cmocka_unit_test(test_disable_enabled_profile),
      cmocka_unit_test(test_delete_disabled_profile),
      cmocka_unit_test(test_delete_enabled_profile_refused),
      cmocka_unit_test(test_policy_rules),
      cmocka_unit_test(test_get_rat),
      cmocka_unit_test(test_notifications_only_where_configured),
      cmocka_unit_test(test_notify_always),
      cmocka_unit_test(test_memory_reset),
      cmocka_unit_test(test_memory_reset_keeps_what_is_not_asked),
      cmocka_unit_test(test_memory_reset_empty_card),
      cmocka_unit_test(test_list_notification_with_filter),
      cmocka_unit_test(test_retrieve_notifications),
      cmocka_unit_test(test_remove_notification),
      cmocka_unit_test(test_set_nickname),
      cmocka_unit_test(test_configured_addresses),
      cmocka_unit_test(test_euicc_info),
      cmocka_unit_test(test_iccid_lengths),
      cmocka_unit_test(test_fault_sw),
      cmocka_unit_test(test_fault_drop),
      cmocka_unit_test(test_fault_garbage),
      cmocka_unit_test(test_fault_apdu_commands),
      cmocka_unit_test(test_fault_result_answers_without_acting),
      cmocka_unit_test(test_fault_result_for_other_result_commands),
      cmocka_unit_test(test_fault_specs_rejected),
      cmocka_unit_test(test_delay_knob),
      cmocka_unit_test(test_apdu_log),
      cmocka_unit_test(test_every_shipped_card_loads),
      cmocka_unit_test(test_card_file_errors),
      cmocka_unit_test(test_card_file_missing),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
