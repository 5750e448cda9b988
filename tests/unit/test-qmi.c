/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMI backend against modem-sim's QMI mode through the real libqmi, in
 * one process on one main context (qmi-proxy, when used, is spawned by
 * libqmi). Slots, logical channels, the whole ES10 surface over STORE DATA,
 * and every fault: timeout, unplug, dropped answers, garbage, malformed QMI,
 * QMI errors, no free channel, a plain SIM. Every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "es10/es10.h"
#include "modem-sim.h"
#include "transport/iso7816.h"
#include "test-util.h"
#include "transport/transport.h"

/* The backend's per-request timeout in tests that do not test timeouts. */
#define REQUEST_TIMEOUT_MS 5000

#define ICCID_ENABLED "8944476500001234567"
#define ICCID_SECOND "89012604100000123456"
#define ICCID_THIRD "89445001000000654321"

/* The simulated modem of one test: its slots ("empty" for none) and knobs. */
typedef struct {
  const char *slots[3];
  const char *options[4];
  TransportOpenFlags flags;
} SimSetup;

typedef struct {
  const SimSetup *setup;
  ModemSim *ms;
  Transport *t;
  guint removed_calls;
} Fixture;

static EuiccSim *card(Fixture *f, guint slot)
{
  return modem_sim_get_card(f->ms, slot);
}

static void set_option(Fixture *f, const char *option)
{
  g_autoptr(GError) error = NULL;

  assert_true(modem_sim_set_option(f->ms, option, &error));
}

/* ---- fixture ------------------------------------------------------------ */

static void on_removed(Transport *t, gpointer data)
{
  Fixture *f = data;

  f->removed_calls++;
}

/* The SimSetup comes in *state (cmocka's prestate); the Fixture goes out. */
static int setup(void **state)
{
  const SimSetup *s = *state;
  Fixture *f = g_new0(Fixture, 1);
  guint n_cards = 0;
  g_autoptr(GError) error = NULL;

  f->setup = s;
  while (n_cards < G_N_ELEMENTS(s->slots) && s->slots[n_cards])
    n_cards++;
  f->ms = test_modem_sim_start(MODEM_SIM_PROTOCOL_QMI, s->slots, n_cards, s->options,
                               G_N_ELEMENTS(s->options));
  f->t = transport_new_qmi(modem_sim_get_port(f->ms), s->flags);
  f->t->timeout_ms = REQUEST_TIMEOUT_MS;
  transport_set_removed_func(f->t, on_removed, f);
  assert_true(test_transport_open(f->t, &error));
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  Fixture *f = *state;

  assert_true(test_transport_close(f->t, NULL));
  transport_free(f->t);
  modem_sim_free(f->ms);
  test_drain();
  g_free(f);
  return 0;
}

/* The simulated modems the tests run against. */
#define EUICC "three-profiles.card"
#define NO_PROXY TRANSPORT_OPEN_FLAGS_NO_PROXY
static const SimSetup two_slots = {.slots = {EUICC, "plain-sim.card"}, .flags = NO_PROXY};
/* Through qmi-proxy, as beside ModemManager. */
static const SimSetup proxy = {.slots = {EUICC, "plain-sim.card"},
                               .flags = TRANSPORT_OPEN_FLAGS_NONE};
static const SimSetup no_slot_status = {
    .slots = {EUICC}, .options = {"no-slot-status"}, .flags = NO_PROXY};
static const SimSetup empty_second_slot = {.slots = {EUICC, "empty"}, .flags = NO_PROXY};
static const SimSetup two_channels = {
    .slots = {EUICC}, .options = {"max-channels=2"}, .flags = NO_PROXY};
static const SimSetup close_after_3 = {
    .slots = {EUICC}, .options = {"close-after=3"}, .flags = NO_PROXY};

/* ---- slots -------------------------------------------------------------- */

static void assert_two_slots(Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) slots = test_transport_list_slots(f->t, &error);
  TransportSlot *s1, *s2;

  assert_non_null(slots);
  assert_int_equal(slots->len, 2);
  s1 = g_ptr_array_index(slots, 0);
  s2 = g_ptr_array_index(slots, 1);
  assert_int_equal(s1->slot, 1);
  assert_true(s1->card_present);
  assert_true(s1->active);
  assert_int_equal(s1->is_euicc, TRANSPORT_TRISTATE_YES);
  assert_non_null(s1->eid);
  assert_string_equal(s1->eid, euicc_sim_get_eid(card(f, 1)));
  assert_int_equal(s2->slot, 2);
  assert_true(s2->card_present);
  assert_false(s2->active);
  assert_int_equal(s2->is_euicc, TRANSPORT_TRISTATE_NO);
  assert_null(s2->eid);
}

static void test_direct_open_lists_euicc_and_plain_sim(void **state)
{
  assert_two_slots(*state);
}

static void test_proxy_open_lists_euicc_and_plain_sim(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *eid = NULL;
  guint channel;

  assert_two_slots(f);
  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_non_null(eid);
  assert_string_equal(eid, euicc_sim_get_eid(card(f, 1)));
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
}

static void test_empty_slot_has_no_card(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) slots = test_transport_list_slots(f->t, &error);
  TransportSlot *s2;

  assert_non_null(slots);
  assert_int_equal(slots->len, 2);
  s2 = g_ptr_array_index(slots, 1);
  assert_false(s2->card_present);
  assert_int_equal(s2->is_euicc, TRANSPORT_TRISTATE_UNKNOWN);
  assert_null(s2->eid);
}

static void test_no_slot_status_falls_back_to_card_status(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) slots = test_transport_list_slots(f->t, &error);
  g_autofree gchar *eid = NULL;
  TransportSlot *s1;
  guint channel;

  assert_non_null(slots);
  assert_int_equal(slots->len, 1);
  s1 = g_ptr_array_index(slots, 0);
  assert_true(s1->card_present);
  assert_true(s1->active);
  assert_int_equal(s1->is_euicc, TRANSPORT_TRISTATE_UNKNOWN);
  assert_null(s1->eid);

  /* The card still answers ES10: the EID comes from GetEID instead. */
  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_non_null(eid);
  assert_string_equal(eid, euicc_sim_get_eid(card(f, 1)));

  /* A modem without slot status has nothing to switch to. */
  assert_false(test_transport_switch_slot(f->t, 2, &error));
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED));
}

static void test_switch_slot_reaches_plain_sim_that_refuses_isdr(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) slots = NULL;
  TransportSlot *s2;

  slots = test_transport_list_slots(f->t, &error);
  assert_non_null(slots);
  /* Slot 2 is not mapped to a logical slot yet. */
  assert_int_equal(test_transport_open_isdr(f->t, 2, &error), 0);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED));
  g_clear_error(&error);

  assert_true(test_transport_switch_slot(f->t, 2, &error));
  assert_int_equal(modem_sim_get_active_slot(f->ms), 2);
  g_clear_pointer(&slots, g_ptr_array_unref);
  slots = test_transport_list_slots(f->t, &error);
  assert_non_null(slots);
  s2 = g_ptr_array_index(slots, 1);
  assert_true(s2->active);

  assert_int_equal(test_transport_open_isdr(f->t, 2, &error), 0);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND));
  g_clear_error(&error);
  /* The refused SELECT left no channel behind. */
  assert_int_equal(euicc_sim_get_open_channels(card(f, 2)), 0);

  /* And back: the eUICC answers again. */
  assert_true(test_transport_switch_slot(f->t, 1, &error));
  assert_int_not_equal(test_transport_open_isdr(f->t, 1, &error), 0);
}

static void test_reload_sim_closes_channels(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel;

  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  assert_int_not_equal(euicc_sim_get_open_channels(card(f, 1)), 0);
  assert_true(test_transport_reload_sim(f->t, 1, &error));
  assert_int_equal(euicc_sim_get_open_channels(card(f, 1)), 0);
  assert_int_not_equal(test_transport_open_isdr(f->t, 1, &error), 0);
}

/* ---- channels and APDUs ------------------------------------------------- */

static void test_isdr_channel_gives_eid(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *eid = NULL;
  guint channel;

  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  assert_true(euicc_sim_get_open_channels(card(f, 1)) & (1u << channel));
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_non_null(eid);
  assert_string_equal(eid, euicc_sim_get_eid(card(f, 1)));
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
  assert_int_equal(euicc_sim_get_open_channels(card(f, 1)), 0);
}

static void test_channels_above_three_carry_apdus(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channels[6];

  for (guint i = 0; i < G_N_ELEMENTS(channels); i++) {
    channels[i] = test_transport_open_isdr(f->t, 1, &error);
    assert_int_not_equal(channels[i], 0);
    for (guint k = 0; k < i; k++)
      assert_int_not_equal(channels[i], channels[k]);
  }
  /* Channels 4..19 use the further interindustry CLA (ISO 7816-4 5.4.1). */
  for (guint i = 0; i < G_N_ELEMENTS(channels); i++) {
    g_autofree gchar *eid = NULL;

    if (channels[i] <= 3)
      continue;
    eid = test_es10_get_eid(f->t, 1, channels[i], &error);
    assert_non_null(eid);
    assert_string_equal(eid, euicc_sim_get_eid(card(f, 1)));
  }
  assert_true(channels[5] > 3);
  for (guint i = 0; i < G_N_ELEMENTS(channels); i++)
    assert_true(test_transport_close_channel(f->t, 1, channels[i], &error));
  assert_int_equal(euicc_sim_get_open_channels(card(f, 1)), 0);
}

static void test_long_response_comes_back_through_get_response(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) req = es10c_get_profiles_info_encode(NULL, &error);
  g_autoptr(GBytes) der = NULL;
  g_autoptr(GBytes) apdu = NULL;
  g_autoptr(GBytes) raw = NULL;
  g_autoptr(GPtrArray) profiles = NULL;
  Es10cGetProfilesInfoResult result;
  guint channel;
  gsize len;
  const guint8 *p;

  /* Small chunks make even the profile list span many GET RESPONSEs. */
  euicc_sim_set_response_chunk(card(f, 1), 64);
  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);

  /* Raw: the backend hands 61xx up untouched, for iso7816 to fetch the rest. */
  p = g_bytes_get_data(req, &len);
  {
    g_autoptr(GByteArray) a = g_byte_array_new();
    guint8 hdr[5] = {0x80 | (guint8)channel, 0xE2, 0x91, 0x00, (guint8)len};

    g_byte_array_append(a, hdr, sizeof hdr);
    g_byte_array_append(a, p, (guint)len);
    apdu = g_byte_array_free_to_bytes(g_steal_pointer(&a));
  }
  raw = test_transport_transmit(f->t, 1, channel, apdu, &error);
  assert_non_null(raw);
  p = g_bytes_get_data(raw, &len);
  assert_true(len >= 2 && len <= 64 + 2);
  assert_int_equal(p[len - 2], 0x61);

  /* Reassembled by iso7816 over Send APDU: the whole list. */
  der = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(der);
  assert_true(g_bytes_get_size(der) > 256);
  assert_true(es10c_get_profiles_info_decode(g_bytes_get_data(der, NULL), g_bytes_get_size(der),
                                             &result, &profiles, &error));
  assert_int_equal(result, ES10C_GET_PROFILES_INFO_OK);
  assert_int_equal(profiles->len, euicc_sim_get_profile_count(card(f, 1)));
}

/* ---- the ES10 surface over QMI ------------------------------------------ */

static gint es10_result(Es10Command cmd, GBytes *rsp)
{
  g_autoptr(GError) error = NULL;
  gint result = -1;

  assert_non_null(rsp);
  assert_true(
      es10_decode_result(cmd, g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp), &result, &error));
  return result;
}

static void test_es10_operations_change_the_card(void **state)
{
  Fixture *f = *state;
  EuiccSim *c = card(f, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) rsp = NULL;
  g_autoptr(GBytes) req = NULL;
  g_autoptr(Es10bEuiccInfo2) info = NULL;
  g_autoptr(GPtrArray) profiles = NULL;
  g_autoptr(GPtrArray) notifications = NULL;
  Es10cGetProfilesInfoResult list_result;
  Es10bListNotificationResult notif_result;
  guint channel, n_notifications;
  gboolean seen_enabled = FALSE;

  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);

  /* EUICCInfo2 (SGP.22 5.7.8) */
  req = es10b_get_euicc_info2_encode();
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10b_get_euicc_info2_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                           &info, &error));
  assert_int_equal(info->svn.major, 2);
  assert_int_equal(info->svn.minor, 2);
  assert_true(info->has_free_nv_memory);
  assert_int_equal(info->free_nv_memory, 380512);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* GetProfilesInfo (5.7.15) */
  req = es10c_get_profiles_info_encode(NULL, &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10c_get_profiles_info_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                             &list_result, &profiles, &error));
  assert_int_equal(profiles->len, 3);
  for (guint i = 0; i < profiles->len; i++) {
    Es10ProfileInfo *p = g_ptr_array_index(profiles, i);

    if (p->has_state && p->state == ES10_PROFILE_STATE_ENABLED) {
      assert_string_equal(p->iccid, ICCID_ENABLED);
      seen_enabled = TRUE;
    }
  }
  assert_true(seen_enabled);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* DisableProfile, EnableProfile (5.7.17, 5.7.16) */
  req = es10c_disable_profile_encode(ES10_PROFILE_ID_ICCID, ICCID_ENABLED, FALSE, &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_int_equal(es10_result(ES10_CMD_DISABLE_PROFILE, rsp), ES10C_DISABLE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_state(c, ICCID_ENABLED), 0);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  req = es10c_enable_profile_encode(ES10_PROFILE_ID_ICCID, ICCID_SECOND, FALSE, &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_int_equal(es10_result(ES10_CMD_ENABLE_PROFILE, rsp), ES10C_ENABLE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_state(c, ICCID_SECOND), 1);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* SetNickname (5.7.21) */
  req = es10c_set_nickname_encode(ICCID_SECOND, "Roaming", &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_int_equal(es10_result(ES10_CMD_SET_NICKNAME, rsp), ES10C_SET_NICKNAME_OK);
  assert_string_equal(euicc_sim_get_profile_nickname(c, ICCID_SECOND), "Roaming");
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* DeleteProfile (5.7.18) of a disabled profile */
  req = es10c_delete_profile_encode(ES10_PROFILE_ID_ICCID, ICCID_THIRD, &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_int_equal(es10_result(ES10_CMD_DELETE_PROFILE, rsp), ES10C_DELETE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_count(c), 2);
  assert_int_equal(euicc_sim_get_profile_state(c, ICCID_THIRD), -1);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* ListNotification (5.7.9) shows what the card keeps; remove one (5.7.11). */
  req = es10b_list_notification_encode(0, &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10b_list_notification_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                             &notif_result, &notifications, &error));
  n_notifications = euicc_sim_get_notification_count(c);
  assert_int_equal(notifications->len, n_notifications);
  assert_true(n_notifications > 0);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  req = es10b_remove_notification_from_list_encode(
      ((Es10NotificationMetadata *)g_ptr_array_index(notifications, 0))->seq_number);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_int_equal(es10_result(ES10_CMD_REMOVE_NOTIFICATION_FROM_LIST, rsp),
                   ES10B_REMOVE_NOTIFICATION_OK);
  assert_int_equal(euicc_sim_get_notification_count(c), n_notifications - 1);

  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
}

/* ---- faults ------------------------------------------------------------- */

static gboolean no_channel_open(gpointer data)
{
  Fixture *f = data;

  return euicc_sim_get_apdu_count(card(f, 1)) >= 3 && euicc_sim_get_open_channels(card(f, 1)) == 0;
}

static void test_timeout_leaves_no_channel_open(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *eid = NULL;
  guint channel;

  f->t->timeout_ms = 150;
  set_option(f, "delay-ms=600");
  assert_int_equal(test_transport_open_isdr(f->t, 1, &error), 0);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT));
  g_clear_error(&error);

  /* The late answer opened a channel; the backend closes it again
   * (MANAGE CHANNEL open, SELECT, then MANAGE CHANNEL close). */
  assert_true(test_wait_until(no_channel_open, f));

  set_option(f, "delay-ms=0");
  f->t->timeout_ms = REQUEST_TIMEOUT_MS;
  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_non_null(eid);
  assert_int_equal(f->removed_calls, 0);
}

static void test_cancelled_open_leaves_no_channel_open(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autoptr(GBytes) aid = test_isdr_aid();

  set_option(f, "delay-ms=400");
  transport_open_channel(f->t, 1, aid, cancellable, test_got_result, &res);
  g_cancellable_cancel(cancellable);
  test_wait_result(&res);
  assert_int_equal(transport_open_channel_finish(f->t, res, &error), 0);
  assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  assert_true(test_wait_until(no_channel_open, f));
}

static void test_missing_port_is_port_gone(void **state)
{
  g_autoptr(Transport) t = transport_new_qmi("/dev/esimd-no-such-port", 0);
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;

  transport_open(t, NULL, test_got_result, &res);
  test_wait_result(&res);
  assert_false(transport_open_finish(t, res, &error));
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE));
}

static void test_dropped_answer_times_out(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *eid = NULL;
  guint channel;

  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  assert_true(euicc_sim_add_fault(card(f, 1), "drop:BF3E@1", &error));
  f->t->timeout_ms = 200;
  assert_null(test_es10_get_eid(f->t, 1, channel, &error));
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT));
  g_clear_error(&error);

  /* The fault fired once: the next GetEID works. */
  f->t->timeout_ms = REQUEST_TIMEOUT_MS;
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_non_null(eid);
}

static gboolean was_removed(gpointer data)
{
  return ((Fixture *)data)->removed_calls > 0;
}

static void test_unplug_gives_port_gone_and_removal(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) slots = NULL;

  modem_sim_unplug(f->ms);
  assert_true(test_wait_until(was_removed, f));
  slots = test_transport_list_slots(f->t, &error);
  assert_null(slots);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE));
  assert_int_equal(f->removed_calls, 1);
}

static void test_port_closing_mid_exchange_gives_port_gone(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *eid = NULL;
  guint channel;

  /* MANAGE CHANNEL and SELECT pass; the modem vanishes on STORE DATA. */
  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_null(eid);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE));
  assert_true(modem_sim_is_unplugged(f->ms));
  assert_true(test_wait_until(was_removed, f));
  assert_int_equal(f->removed_calls, 1);
}

static void test_garbage_from_card_fails_decoding(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *eid = NULL;
  guint channel;

  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  assert_true(euicc_sim_add_fault(card(f, 1), "garbage:BF3E@1", &error));
  assert_null(test_es10_get_eid(f->t, 1, channel, &error));
  assert_non_null(error);
  assert_true(error->domain == ES10_ERROR || error->domain == ISO7816_ERROR);
  g_clear_error(&error);
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_non_null(eid);
}

static void test_malformed_qmi_answer_is_protocol_error(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *eid = NULL;
  guint channel;

  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  set_option(f, "malformed=0x003B");
  assert_null(test_es10_get_eid(f->t, 1, channel, &error));
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL));
  g_clear_error(&error);
  set_option(f, "clear-errors");
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_non_null(eid);
}

static void test_qmi_errors_map_to_transport_errors(void **state)
{
  static const struct {
    const char *option;
    gboolean on_open; /* the error hits Open Logical Channel, else Send APDU */
    TransportError expected;
  } cases[] = {
      {"error=0x0042:68", TRUE, TRANSPORT_ERROR_CHANNEL_REFUSED}, /* insufficient resources */
      {"error=0x0042:80", TRUE, TRANSPORT_ERROR_AID_NOT_FOUND},   /* SIM file not found */
      {"error=0x0042:71", TRUE, TRANSPORT_ERROR_NOT_SUPPORTED},   /* invalid QMI command */
      {"error=0x003B:94", FALSE, TRANSPORT_ERROR_NOT_SUPPORTED},  /* not supported */
      {"error=0x003B:102", FALSE, TRANSPORT_ERROR_NO_CARD},       /* no SIM */
      {"error=0x003B:3", FALSE, TRANSPORT_ERROR_FAILED},          /* internal */
  };
  Fixture *f = *state;

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    g_autofree gchar *eid = NULL;
    guint channel = 0;

    if (!cases[i].on_open) {
      channel = test_transport_open_isdr(f->t, 1, &error);
      assert_int_not_equal(channel, 0);
    }
    set_option(f, cases[i].option);
    if (cases[i].on_open) {
      assert_int_equal(test_transport_open_isdr(f->t, 1, &error), 0);
    } else {
      eid = test_es10_get_eid(f->t, 1, channel, &error);
      assert_null(eid);
    }
    if (!g_error_matches(error, TRANSPORT_ERROR, cases[i].expected))
      fail_msg("%s: got %s", cases[i].option, error ? error->message : "no error");
    g_clear_error(&error);
    set_option(f, "clear-errors");

    /* Usable again once the modem behaves. */
    if (!channel)
      channel = test_transport_open_isdr(f->t, 1, &error);
    assert_int_not_equal(channel, 0);
    eid = test_es10_get_eid(f->t, 1, channel, &error);
    assert_non_null(eid);
    assert_true(test_transport_close_channel(f->t, 1, channel, &error));
  }
  assert_int_equal(euicc_sim_get_open_channels(card(f, 1)), 0);
}

static void test_out_of_channels_is_channel_refused(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint a, b, c;

  a = test_transport_open_isdr(f->t, 1, &error);
  b = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(a, 0);
  assert_int_not_equal(b, 0);
  assert_int_equal(test_transport_open_isdr(f->t, 1, &error), 0);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED));
  g_clear_error(&error);

  assert_true(test_transport_close_channel(f->t, 1, a, &error));
  c = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(c, 0);
}

/* ---- the modem's IMEI (DMS Get IDs) ------------------------------------ */

/* Read once per transport through a DMS client of its own, beside UIM: a
 * changed IMEI is seen by the next transport only. */
static void test_imei_is_read_once_per_transport(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *first = test_transport_get_imei(f->t, &error);
  g_autofree gchar *again = NULL;
  g_autofree gchar *fresh = NULL;
  g_autofree gchar *eid = NULL;
  guint channel;

  if (!first)
    fail_msg("get_imei: %s", error->message);
  assert_string_equal(first, MODEM_SIM_DEFAULT_IMEI);

  /* UIM keeps working beside the DMS client. */
  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_non_null(eid);
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));

  set_option(f, "imei=490154203237518");
  again = test_transport_get_imei(f->t, &error);
  assert_non_null(again);
  assert_string_equal(again, MODEM_SIM_DEFAULT_IMEI);

  /* Closing releases both clients; a new transport asks the modem again. */
  assert_true(test_transport_close(f->t, &error));
  transport_free(f->t);
  f->t = transport_new_qmi(modem_sim_get_port(f->ms), f->setup->flags);
  f->t->timeout_ms = REQUEST_TIMEOUT_MS;
  assert_true(test_transport_open(f->t, &error));
  fresh = test_transport_get_imei(f->t, &error);
  if (!fresh)
    fail_msg("get_imei: %s", error->message);
  assert_string_equal(fresh, "490154203237518");
}

/* No IMEI TLV, or DMS refusing Get IDs: NOT_SUPPORTED, remembered. */
static void test_imei_missing_is_not_supported(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *imei = test_transport_get_imei(f->t, &error);

  assert_null(imei);
  if (!g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED))
    fail_msg("got %s", error->message);
  g_clear_error(&error);

  set_option(f, "clear-errors");
  set_option(f, "imei=490154203237518");
  imei = test_transport_get_imei(f->t, &error);
  assert_null(imei);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED));
}

/* An answer that does not come is a timeout, and is not remembered. */
static void test_imei_timeout_is_not_cached(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *imei = NULL;

  f->t->timeout_ms = 300;
  set_option(f, "delay-ms=1500");
  imei = test_transport_get_imei(f->t, &error);
  assert_null(imei);
  if (!g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT))
    fail_msg("got %s", error->message);
  g_clear_error(&error);
  set_option(f, "delay-ms=0");
  /* Let the late answers arrive and be dropped. */
  test_run_for(1600);
  f->t->timeout_ms = REQUEST_TIMEOUT_MS;
  imei = test_transport_get_imei(f->t, &error);
  if (!imei)
    fail_msg("get_imei: %s", error->message);
  assert_string_equal(imei, MODEM_SIM_DEFAULT_IMEI);
}

static const SimSetup no_imei = {.slots = {EUICC}, .options = {"imei="}, .flags = NO_PROXY};
static const SimSetup no_imei_proxy = {.slots = {EUICC}, .options = {"imei="}};
static const SimSetup dms_refuses = {
    .slots = {EUICC}, .options = {"error=0x0025:71"}, .flags = NO_PROXY};

#define TEST(fn, modem)                                                                            \
  cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&(modem))

int main(void)
{
  const struct CMUnitTest tests[] = {
      TEST(test_direct_open_lists_euicc_and_plain_sim, two_slots),
      TEST(test_proxy_open_lists_euicc_and_plain_sim, proxy),
      TEST(test_empty_slot_has_no_card, empty_second_slot),
      TEST(test_no_slot_status_falls_back_to_card_status, no_slot_status),
      TEST(test_switch_slot_reaches_plain_sim_that_refuses_isdr, two_slots),
      TEST(test_reload_sim_closes_channels, two_slots),
      TEST(test_isdr_channel_gives_eid, two_slots),
      TEST(test_channels_above_three_carry_apdus, two_slots),
      TEST(test_long_response_comes_back_through_get_response, two_slots),
      TEST(test_es10_operations_change_the_card, two_slots),
      TEST(test_timeout_leaves_no_channel_open, two_slots),
      TEST(test_cancelled_open_leaves_no_channel_open, two_slots),
      cmocka_unit_test(test_missing_port_is_port_gone),
      TEST(test_dropped_answer_times_out, two_slots),
      TEST(test_unplug_gives_port_gone_and_removal, two_slots),
      TEST(test_unplug_gives_port_gone_and_removal, proxy),
      TEST(test_port_closing_mid_exchange_gives_port_gone, close_after_3),
      TEST(test_garbage_from_card_fails_decoding, two_slots),
      TEST(test_malformed_qmi_answer_is_protocol_error, two_slots),
      TEST(test_qmi_errors_map_to_transport_errors, two_slots),
      TEST(test_out_of_channels_is_channel_refused, two_channels),
      TEST(test_imei_is_read_once_per_transport, two_slots),
      TEST(test_imei_is_read_once_per_transport, proxy),
      TEST(test_imei_missing_is_not_supported, no_imei),
      TEST(test_imei_missing_is_not_supported, no_imei_proxy),
      TEST(test_imei_missing_is_not_supported, dms_refuses),
      TEST(test_imei_timeout_is_not_cached, two_slots),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
