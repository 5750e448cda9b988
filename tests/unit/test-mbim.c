/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The MBIM backend against modem-sim's MBIM mode: the real libmbim on one
 * side, an independent MBIM function on the other, both on one main context
 * in this process (mbim-proxy, when used, is its own process). Slots, the
 * ISD-R channel and the whole ES10 surface through it, and every fault the
 * simulator can inject. Every wait is bounded.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <gio/gunixsocketaddress.h>

#include "es10/es10.h"
#include "modem-sim.h"
#include "transport/iso7816.h"
#include "test-util.h"
#include "transport/transport.h"

/* What the tests give the backend per request unless a test says otherwise. */
#define REQUEST_TIMEOUT_MS 5000

/* The simulated modem of one test: card files by name (NULL: empty slot). */
typedef struct {
  const char *cards[3];
  guint n_slots;
  const char *options[4];
  TransportOpenFlags flags;
} SimSetup;

typedef struct {
  const SimSetup *setup;
  ModemSim *ms;
  Transport *t;
  guint removed_calls;
  GPid proxy_pid;
} Fixture;

/* ---- waiting and ES10 calls ---- */

static gboolean no_open_channels(gpointer card)
{
  return euicc_sim_get_open_channels(card) == 0;
}

/* Runs the loop until the card has no logical channel open, or fails. */
static void wait_no_open_channels(EuiccSim *card)
{
  test_wait_until(no_open_channels, card);
  assert_int_equal(euicc_sim_get_open_channels(card), 0);
}

static GPtrArray *list_profiles(Transport *t, guint channel, GError **error)
{
  g_autoptr(GBytes) req = es10c_get_profiles_info_encode(NULL, error);
  g_autoptr(GBytes) rsp = NULL;
  Es10cGetProfilesInfoResult result = ES10C_GET_PROFILES_INFO_UNDEFINED_ERROR;
  GPtrArray *profiles = NULL;

  if (!req || !(rsp = test_es10_call(t, 1, channel, req, error)))
    return NULL;
  if (!es10c_get_profiles_info_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp), &result,
                                      &profiles, error))
    return NULL;
  assert_int_equal(result, ES10C_GET_PROFILES_INFO_OK);
  return profiles;
}

static void assert_error(const GError *error, GQuark domain, gint code)
{
  if (!error)
    fail_msg("expected an error %s/%d, got success", g_quark_to_string(domain), code);
  if (error->domain != domain || error->code != code)
    fail_msg("expected %s/%d, got %s/%d: %s", g_quark_to_string(domain), code,
             g_quark_to_string(error->domain), error->code, error->message);
}

/* ---- fixture ---- */

static void on_removed(Transport *t, gpointer data)
{
  Fixture *f = data;

  f->removed_calls++;
}

static Fixture *fixture_new(const SimSetup *setup)
{
  Fixture *f = g_new0(Fixture, 1);

  f->setup = setup;
  f->ms = test_modem_sim_start(MODEM_SIM_PROTOCOL_MBIM, setup->cards, setup->n_slots,
                               setup->options, G_N_ELEMENTS(setup->options));
  f->t = transport_new_mbim(modem_sim_get_port(f->ms), setup->flags);
  f->t->timeout_ms = REQUEST_TIMEOUT_MS;
  transport_set_removed_func(f->t, on_removed, f);
  return f;
}

static int setup_unopened(void **state)
{
  *state = fixture_new(*state);
  return 0;
}

static int setup(void **state)
{
  Fixture *f = fixture_new(*state);
  g_autoptr(GError) error = NULL;

  *state = f;
  if (!test_transport_open(f->t, &error))
    fail_msg("open: %s", error->message);
  return 0;
}

static int teardown(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;

  if (f->t) {
    test_transport_close(f->t, &error);
    transport_free(f->t);
  }
  modem_sim_free(f->ms);
  if (f->proxy_pid) {
    kill(f->proxy_pid, SIGTERM);
    waitpid(f->proxy_pid, NULL, 0);
    g_spawn_close_pid(f->proxy_pid);
  }
  g_free(f);
  return 0;
}

static const SimSetup two_cards = {
    .cards = {"three-profiles.card", "plain-sim.card", NULL},
    .n_slots = 3,
    .flags = TRANSPORT_OPEN_FLAGS_NO_PROXY,
};

/* ---- tests ---- */

static void test_slots_show_euicc_plain_sim_and_empty_slot(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) slots = test_transport_list_slots(f->t, &error);
  TransportSlot *s;

  assert_non_null(slots);
  assert_int_equal(slots->len, 3);

  s = g_ptr_array_index(slots, 0);
  assert_int_equal(s->slot, 1);
  assert_true(s->card_present);
  assert_int_equal(s->is_euicc, TRANSPORT_TRISTATE_YES);
  assert_true(s->active);
  /* MBIM's slot status has no EID: the ISD-R is the only source. */
  assert_null(s->eid);

  s = g_ptr_array_index(slots, 1);
  assert_int_equal(s->slot, 2);
  assert_true(s->card_present);
  assert_int_not_equal(s->is_euicc, TRANSPORT_TRISTATE_YES);
  assert_false(s->active);

  s = g_ptr_array_index(slots, 2);
  assert_int_equal(s->slot, 3);
  assert_false(s->card_present);
  assert_false(s->active);
}

static void test_isdr_channel_gives_the_eid(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);
  g_autofree gchar *eid = NULL;

  assert_null(error);
  assert_in_range(channel, 1, 19);
  assert_true(euicc_sim_get_open_channels(card) & (1u << channel));
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_null(error);
  assert_string_equal(eid, euicc_sim_get_eid(card));
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
  assert_int_equal(euicc_sim_get_open_channels(card), 0);
}

/* A raw GET EID STORE DATA: the status word comes back after the data. */
static void test_transmit_returns_data_then_status_word(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);
  guint8 cmd[] = {0x80, 0xE2, 0x91, 0x00, 0x06, 0xBF, 0x3E, 0x03, 0x5C, 0x01, 0x5A, 0x00};
  g_autoptr(GBytes) apdu = NULL;
  g_autoptr(GBytes) rsp = NULL;
  gsize len;
  const guint8 *r;
  guint8 cla;

  assert_int_not_equal(channel, 0);
  assert_true(iso7816_cla_for_channel(channel, ISO7816_CLA_PROPRIETARY, &cla, &error));
  cmd[0] = cla;
  apdu = g_bytes_new(cmd, sizeof cmd);
  rsp = test_transport_transmit(f->t, 1, channel, apdu, &error);
  assert_non_null(rsp);
  r = g_bytes_get_data(rsp, &len);
  /* BF3E 12 5A 10 <16 bytes of EID> 90 00 */
  assert_int_equal(len, 2 + 1 + 2 + 16 + 2);
  assert_memory_equal(r, ((const guint8[]){0xBF, 0x3E, 0x12, 0x5A, 0x10}), 5);
  assert_int_equal(r[len - 2], 0x90);
  assert_int_equal(r[len - 1], 0x00);
}

static void test_es10_surface_through_the_modem(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);
  g_autoptr(GBytes) req = NULL;
  g_autoptr(GBytes) rsp = NULL;
  g_autoptr(Es10bEuiccInfo2) info = NULL;
  g_autoptr(GPtrArray) profiles = NULL;
  g_autoptr(GPtrArray) notifications = NULL;
  Es10ProfileInfo *p;
  Es10cEnableProfileResult enable_result = ES10C_ENABLE_PROFILE_UNDEFINED_ERROR;
  Es10cDisableProfileResult disable_result = ES10C_DISABLE_PROFILE_UNDEFINED_ERROR;
  Es10cDeleteProfileResult delete_result = ES10C_DELETE_PROFILE_UNDEFINED_ERROR;
  Es10cSetNicknameResult nick_result = ES10C_SET_NICKNAME_UNDEFINED_ERROR;
  Es10bListNotificationResult list_result = ES10B_LIST_NOTIFICATION_UNDEFINED_ERROR;

  assert_int_not_equal(channel, 0);

  /* EUICCInfo2 */
  req = es10b_get_euicc_info2_encode();
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10b_get_euicc_info2_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                           &info, &error));
  assert_true(info->has_free_nv_memory);
  assert_int_equal(info->free_nv_memory, 380512);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* the profile list */
  profiles = list_profiles(f->t, channel, &error);
  assert_non_null(profiles);
  assert_int_equal(profiles->len, euicc_sim_get_profile_count(card));
  p = g_ptr_array_index(profiles, 0);
  assert_string_equal(p->iccid, "8944476500001234567");
  assert_true(p->has_state);
  assert_int_equal(p->state, ES10_PROFILE_STATE_ENABLED);

  /* disable the enabled one, enable another */
  req = es10c_disable_profile_encode(ES10_PROFILE_ID_ICCID, "8944476500001234567", FALSE, &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10c_disable_profile_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                           &disable_result, &error));
  assert_int_equal(disable_result, ES10C_DISABLE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_state(card, "8944476500001234567"), 0);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  req = es10c_enable_profile_encode(ES10_PROFILE_ID_ICCID, "89012604100000123456", FALSE, &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10c_enable_profile_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                          &enable_result, &error));
  assert_int_equal(enable_result, ES10C_ENABLE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_state(card, "89012604100000123456"), 1);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* delete a disabled one */
  req = es10c_delete_profile_encode(ES10_PROFILE_ID_ICCID, "89445001000000654321", &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10c_delete_profile_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                          &delete_result, &error));
  assert_int_equal(delete_result, ES10C_DELETE_PROFILE_OK);
  assert_int_equal(euicc_sim_get_profile_state(card, "89445001000000654321"), -1);
  assert_int_equal(euicc_sim_get_profile_count(card), 2);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* nickname */
  req = es10c_set_nickname_encode("89012604100000123456", "Travel", &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10c_set_nickname_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                        &nick_result, &error));
  assert_int_equal(nick_result, ES10C_SET_NICKNAME_OK);
  assert_string_equal(euicc_sim_get_profile_nickname(card, "89012604100000123456"), "Travel");
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* the notifications the card wrote for all that */
  req = es10b_list_notification_encode(0, &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10b_list_notification_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                             &list_result, &notifications, &error));
  assert_int_equal(list_result, ES10B_LIST_NOTIFICATION_OK);
  assert_int_equal(notifications->len, euicc_sim_get_notification_count(card));
  assert_true(notifications->len >= 3);

  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
  assert_int_equal(euicc_sim_get_open_channels(card), 0);
}

/* Channels 4..19 need the further interindustry CLA (ISO 7816-4 5.4.1). */
static void test_channels_above_three_work(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;
  guint channels[6];

  for (guint i = 0; i < G_N_ELEMENTS(channels); i++) {
    channels[i] = test_transport_open_isdr(f->t, 1, &error);
    if (!channels[i])
      fail_msg("channel %u: %s", i, error->message);
  }
  assert_true(channels[5] > 3);
  for (guint i = 0; i < G_N_ELEMENTS(channels); i++) {
    g_autofree gchar *eid = test_es10_get_eid(f->t, 1, channels[i], &error);

    if (!eid)
      fail_msg("GetEID on channel %u: %s", channels[i], error->message);
    assert_string_equal(eid, euicc_sim_get_eid(card));
  }
  for (guint i = 0; i < G_N_ELEMENTS(channels); i++)
    assert_true(test_transport_close_channel(f->t, 1, channels[i], &error));
  assert_int_equal(euicc_sim_get_open_channels(card), 0);
}

/* The profile list passes 256 bytes: GET RESPONSE in the modem, several
 * MBIM fragments on the wire, or 61xx handled above the transport. */
static void test_long_responses_arrive_whole(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);
  g_autoptr(GPtrArray) profiles = NULL;
  guint8 cmd[] = {0x80, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2D, 0x00, 0x00};
  g_autoptr(GBytes) apdu = NULL;
  g_autoptr(GBytes) rsp = NULL;
  guint8 cla;

  assert_int_not_equal(channel, 0);
  assert_true(iso7816_cla_for_channel(channel, ISO7816_CLA_PROPRIETARY, &cla, &error));
  cmd[0] = cla;
  apdu = g_bytes_new(cmd, sizeof cmd);
  rsp = test_transport_transmit(f->t, 1, channel, apdu, &error);
  assert_non_null(rsp);
  /* With the modem collecting 61xx the whole list is one response. */
  assert_true(g_bytes_get_size(rsp) > 258);
  assert_int_equal(((const guint8 *)g_bytes_get_data(rsp, NULL))[g_bytes_get_size(rsp) - 2], 0x90);

  profiles = list_profiles(f->t, channel, &error);
  assert_non_null(profiles);
  assert_int_equal(profiles->len, 3);
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
}

static void test_61xx_passed_through_is_reassembled_above(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);
  g_autoptr(GPtrArray) profiles = NULL;

  assert_int_not_equal(channel, 0);
  profiles = list_profiles(f->t, channel, &error);
  assert_non_null(profiles);
  assert_int_equal(profiles->len, 3);
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
}

static void test_plain_sim_refuses_the_isdr(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);

  assert_int_equal(channel, 0);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND);
  /* The status word of the failed SELECT is in the message. */
  assert_non_null(strstr(error->message, "6A82"));
  assert_int_equal(euicc_sim_get_open_channels(card), 0);
}

/* Some modems report the failed SELECT only in the status word, with the
 * channel open: the backend closes it again. */
static void test_select_failure_in_status_word_is_aid_not_found(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;

  assert_int_equal(test_transport_open_isdr(f->t, 1, &error), 0);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND);
  assert_non_null(strstr(error->message, "6A82"));
  wait_no_open_channels(card);
}

static void test_timeout_leaves_no_channel_open(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *eid = NULL;
  guint channel;

  /* The modem opens the channel at once but answers after the timeout. */
  f->t->timeout_ms = 200;
  assert_true(modem_sim_set_option(f->ms, "delay-ms=600", NULL));
  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_equal(channel, 0);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT);
  g_clear_error(&error);
  wait_no_open_channels(card);
  assert_false(f->t->removed);

  /* Usable again once the modem is quick. */
  assert_true(modem_sim_set_option(f->ms, "delay-ms=0", NULL));
  f->t->timeout_ms = REQUEST_TIMEOUT_MS;
  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_string_equal(eid, euicc_sim_get_eid(card));
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
}

static void test_apdu_without_answer_times_out_then_channel_works(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);
  g_autofree gchar *eid = NULL;

  assert_int_not_equal(channel, 0);
  f->t->timeout_ms = 200;
  assert_true(euicc_sim_add_fault(card, "drop:BF3E@1", NULL));
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_null(eid);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT);
  g_clear_error(&error);

  f->t->timeout_ms = REQUEST_TIMEOUT_MS;
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_string_equal(eid, euicc_sim_get_eid(card));
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
}

static gboolean cancel_now(gpointer data)
{
  g_cancellable_cancel(data);
  return G_SOURCE_REMOVE;
}

static void test_cancelled_request_says_cancelled(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GPtrArray) slots = NULL;

  assert_true(modem_sim_set_option(f->ms, "delay-ms=500", NULL));
  g_timeout_add(50, cancel_now, cancellable);
  transport_list_slots(f->t, cancellable, test_got_result, &res);
  test_wait_result(&res);
  slots = transport_list_slots_finish(f->t, res, &error);
  assert_null(slots);
  assert_error(error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error(&error);

  /* The late answer is dropped; the next request gets its own. */
  assert_true(modem_sim_set_option(f->ms, "delay-ms=0", NULL));
  slots = test_transport_list_slots(f->t, &error);
  assert_non_null(slots);
  assert_int_equal(slots->len, 3);
  assert_int_equal(euicc_sim_get_open_channels(card), 0);
}

static gboolean unplug_now(gpointer data)
{
  modem_sim_unplug(data);
  return G_SOURCE_REMOVE;
}

static void test_vanished_port_is_port_gone_and_reported_once(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);
  g_autofree gchar *eid = NULL;

  assert_int_not_equal(channel, 0);
  /* The modem goes away instead of answering the next APDU. */
  assert_true(modem_sim_set_option(f->ms, "close-after=1", NULL));
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_null(eid);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE);
  g_clear_error(&error);
  assert_true(f->t->removed);
  assert_int_equal(f->removed_calls, 1);

  /* Everything afterwards fails the same way, without another report. */
  assert_int_equal(test_transport_open_isdr(f->t, 1, &error), 0);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE);
  assert_int_equal(f->removed_calls, 1);
}

static void test_unplug_while_waiting_fails_the_request(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) slots = NULL;

  /* The answer would come late; the port vanishes first. */
  assert_true(modem_sim_set_option(f->ms, "delay-ms=3000", NULL));
  g_timeout_add(50, unplug_now, f->ms);
  slots = test_transport_list_slots(f->t, &error);
  assert_null(slots);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE);
  assert_int_equal(f->removed_calls, 1);
}

static void test_garbage_answer_is_a_protocol_error(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);
  g_autofree gchar *eid = NULL;

  assert_int_not_equal(channel, 0);
  assert_true(modem_sim_set_option(f->ms, "garbage=apdu@1", NULL));
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_null(eid);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL);
  g_clear_error(&error);

  /* The card itself answering garbage is the codec's business. */
  assert_true(euicc_sim_add_fault(card, "garbage:BF3E@1", NULL));
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_null(eid);
  assert_non_null(error);
  assert_int_equal(error->domain, ES10_ERROR);
  g_clear_error(&error);

  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_string_equal(eid, euicc_sim_get_eid(card));
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
}

typedef struct {
  const char *option;
  gboolean on_open; /* the fault hits open channel, else the APDU */
  TransportError expected;
} StatusCase;

static void test_injected_status_maps_to_transport_errors(void **state)
{
  Fixture *f = *state;
  static const StatusCase cases[] = {
      {"status=open-channel:0x87430001@1", TRUE, TRANSPORT_ERROR_CHANNEL_REFUSED},
      {"status=open-channel:0x87430002@1", TRUE, TRANSPORT_ERROR_AID_NOT_FOUND},
      {"status=open-channel:3@1", TRUE, TRANSPORT_ERROR_NO_CARD},
      {"status=open-channel:1@1", TRUE, TRANSPORT_ERROR_BUSY},
      {"status=apdu:9@1", FALSE, TRANSPORT_ERROR_NOT_SUPPORTED},
      {"status=apdu:2@1", FALSE, TRANSPORT_ERROR_FAILED},
      {"status=apdu:0x87430003@1", FALSE, TRANSPORT_ERROR_FAILED},
  };
  EuiccSim *card = modem_sim_get_card(f->ms, 1);

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(GError) error = NULL;
    guint channel = 0;

    if (!cases[i].on_open) {
      channel = test_transport_open_isdr(f->t, 1, &error);
      assert_int_not_equal(channel, 0);
    }
    assert_true(modem_sim_set_option(f->ms, cases[i].option, NULL));
    if (cases[i].on_open) {
      assert_int_equal(test_transport_open_isdr(f->t, 1, &error), 0);
    } else {
      g_autofree gchar *eid = test_es10_get_eid(f->t, 1, channel, &error);

      assert_null(eid);
    }
    if (!error || error->domain != TRANSPORT_ERROR || error->code != (gint)cases[i].expected)
      fail_msg("%s: expected %d, got %s", cases[i].option, cases[i].expected,
               error ? error->message : "success");
    g_clear_error(&error);
    if (channel)
      assert_true(test_transport_close_channel(f->t, 1, channel, &error));
    assert_int_equal(euicc_sim_get_open_channels(card), 0);
  }
}

static void test_out_of_channels_is_refused_then_recovers(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;
  guint first = test_transport_open_isdr(f->t, 1, &error);
  guint again;

  assert_int_not_equal(first, 0);
  assert_int_equal(test_transport_open_isdr(f->t, 1, &error), 0);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED);
  g_clear_error(&error);

  assert_true(test_transport_close_channel(f->t, 1, first, &error));
  again = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(again, 0);
  assert_true(test_transport_close_channel(f->t, 1, again, &error));
  assert_int_equal(euicc_sim_get_open_channels(card), 0);
}

static void test_switching_slots_follows_the_device_slot_mappings(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) slots = NULL;
  g_autofree gchar *eid = NULL;
  guint channel;

  /* Only the active slot's card is reachable. */
  assert_int_equal(test_transport_open_isdr(f->t, 2, &error), 0);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED);
  g_clear_error(&error);

  assert_true(test_transport_switch_slot(f->t, 2, &error));
  assert_int_equal(modem_sim_get_active_slot(f->ms), 2);
  slots = test_transport_list_slots(f->t, &error);
  assert_non_null(slots);
  assert_false(((TransportSlot *)g_ptr_array_index(slots, 0))->active);
  assert_true(((TransportSlot *)g_ptr_array_index(slots, 1))->active);

  /* The plain SIM there has no ISD-R. */
  assert_int_equal(test_transport_open_isdr(f->t, 2, &error), 0);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND);
  g_clear_error(&error);

  /* An empty slot is refused before anything changes. */
  assert_false(test_transport_switch_slot(f->t, 3, &error));
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NO_CARD);
  g_clear_error(&error);
  assert_int_equal(modem_sim_get_active_slot(f->ms), 2);

  assert_true(test_transport_switch_slot(f->t, 1, &error));
  assert_int_equal(modem_sim_get_active_slot(f->ms), 1);
  /* Asking for the active slot changes nothing. */
  assert_true(test_transport_switch_slot(f->t, 1, &error));

  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_string_equal(eid, euicc_sim_get_eid(modem_sim_get_card(f->ms, 1)));
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
}

/* Someone else (ModemManager, mbimcli) switched: the backend notices. */
static void test_switch_behind_our_back_is_noticed(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;

  modem_sim_set_active_slot(f->ms, 2);
  assert_int_equal(test_transport_open_isdr(f->t, 1, &error), 0);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED);
  g_clear_error(&error);
  assert_int_equal(test_transport_open_isdr(f->t, 2, &error), 0);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND);
}

static void test_modem_without_slot_extensions_has_one_slot(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) slots = test_transport_list_slots(f->t, &error);
  TransportSlot *s;
  guint channel;

  assert_non_null(slots);
  assert_int_equal(slots->len, 1);
  s = g_ptr_array_index(slots, 0);
  assert_int_equal(s->slot, 1);
  assert_true(s->card_present);
  assert_true(s->active);

  assert_false(test_transport_switch_slot(f->t, 2, &error));
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED);
  g_clear_error(&error);
  assert_true(test_transport_switch_slot(f->t, 1, &error));

  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
}

static void test_reload_sim_resets_the_card(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);

  assert_int_not_equal(channel, 0);
  assert_true(test_transport_reload_sim(f->t, 1, &error));
  /* A reset card has no logical channel open. */
  assert_int_equal(euicc_sim_get_open_channels(card), 0);
  /* Closing the channel the reset took is not an error. */
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));

  assert_false(test_transport_reload_sim(f->t, 2, &error));
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED);
  g_clear_error(&error);

  assert_true(modem_sim_set_option(f->ms, "no-uicc-reset", NULL));
  assert_false(test_transport_reload_sim(f->t, 1, &error));
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED);
}

/* A channel left open by an earlier run in our group is released on open. */
static void test_open_releases_channels_left_over(void **state)
{
  Fixture *f = *state;
  EuiccSim *card = modem_sim_get_card(f->ms, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(Transport) second = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);

  assert_int_not_equal(channel, 0);
  /* The first owner vanishes without closing anything. */
  transport_free(g_steal_pointer(&f->t));
  assert_int_not_equal(euicc_sim_get_open_channels(card), 0);

  second = transport_new_mbim(modem_sim_get_port(f->ms), TRANSPORT_OPEN_FLAGS_NO_PROXY);
  second->timeout_ms = REQUEST_TIMEOUT_MS;
  assert_true(test_transport_open(second, &error));
  assert_int_equal(euicc_sim_get_open_channels(card), 0);
  assert_true(test_transport_close(second, &error));
}

/*
 * Waits until something listens on mbim-proxy's abstract socket, so that
 * libmbim finds our proxy and does not start one of its own that would
 * outlive the test.
 */
static void wait_for_proxy(void)
{
  g_autoptr(GSocketClient) client = g_socket_client_new();
  g_autoptr(GSocketAddress) addr =
      g_unix_socket_address_new_with_type("mbim-proxy", -1, G_UNIX_SOCKET_ADDRESS_ABSTRACT);
  gint64 deadline = g_get_monotonic_time() + TEST_WAIT_LIMIT_MS * G_TIME_SPAN_MILLISECOND;

  while (g_get_monotonic_time() < deadline) {
    g_autoptr(GSocketConnection) conn =
        g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, NULL);

    if (conn)
      return;
    g_usleep(20 * 1000);
  }
  fail_msg("mbim-proxy did not start listening");
}

static gboolean was_removed(gpointer f)
{
  return ((Fixture *)f)->removed_calls > 0;
}

/* Through mbim-proxy, as beside ModemManager. The test starts the proxy
 * itself so that it can stop it again. */
static void test_open_through_mbim_proxy(void **state)
{
  Fixture *f = *state;
  const char *proxy = "/usr/libexec/mbim-proxy";
  g_autoptr(GError) error = NULL;
  g_autofree gchar *eid = NULL;
  g_autofree gchar *imei = NULL;
  g_autoptr(GPtrArray) slots = NULL;
  char *argv[] = {(char *)proxy, (char *)"--empty-timeout=30", NULL};
  guint channel;

  if (!g_file_test(proxy, G_FILE_TEST_IS_EXECUTABLE))
    fail_msg("%s is missing: the proxy path cannot be tested", proxy);
  /* If a proxy runs already, ours exits and libmbim uses that one. */
  if (!g_spawn_async(NULL, argv, NULL,
                     G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL |
                         G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &f->proxy_pid, &error))
    fail_msg("cannot start %s: %s", proxy, error->message);
  wait_for_proxy();

  if (!test_transport_open(f->t, &error))
    fail_msg("open through mbim-proxy: %s", error->message);
  slots = test_transport_list_slots(f->t, &error);
  assert_non_null(slots);
  assert_int_equal(slots->len, 3);
  channel = test_transport_open_isdr(f->t, 1, &error);
  assert_int_not_equal(channel, 0);
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_string_equal(eid, euicc_sim_get_eid(modem_sim_get_card(f->ms, 1)));
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
  /* Device Caps goes through the proxy to the modem. */
  imei = test_transport_get_imei(f->t, &error);
  if (!imei)
    fail_msg("get_imei through mbim-proxy: %s", error->message);
  assert_string_equal(imei, MODEM_SIM_DEFAULT_IMEI);

  /* The modem vanishes: the proxy drops us, and that is a removal too. */
  modem_sim_unplug(f->ms);
  test_wait_until(was_removed, f);
  assert_int_equal(f->removed_calls, 1);
  assert_true(f->t->removed);
}

/* ---- the simulator on its own, raw bytes ---- */

static void put_le32(guint8 *p, guint32 v)
{
  p[0] = (guint8)v;
  p[1] = (guint8)(v >> 8);
  p[2] = (guint8)(v >> 16);
  p[3] = (guint8)(v >> 24);
}

static guint32 get_le32(const guint8 *p)
{
  return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

/* Reads exactly len bytes from the port, running the loop for the modem. */
static void read_exact(int fd, guint8 *buf, gsize len)
{
  gsize got = 0;
  gint64 deadline = g_get_monotonic_time() + TEST_WAIT_LIMIT_MS * G_TIME_SPAN_MILLISECOND;

  while (got < len) {
    ssize_t n = read(fd, buf + got, len - got);

    if (n > 0) {
      got += (gsize)n;
      continue;
    }
    if (g_get_monotonic_time() > deadline)
      fail_msg("the modem answered %zu of %zu bytes", got, len);
    g_main_context_iteration(NULL, FALSE);
    g_usleep(1000);
  }
}

/* A COMMAND for MS UICC low level access APDU with a buffer of n bytes. */
static gsize build_command(guint8 *m, guint32 tid, guint32 total, guint32 current, guint32 buflen,
                           guint32 declared)
{
  static const guint8 uuid_uicc[16] = {0xc2, 0xf6, 0x58, 0x8e, 0xf0, 0x37, 0x4b, 0xc9,
                                       0x86, 0x65, 0xf4, 0xd4, 0x4b, 0xd0, 0x93, 0x67};
  gsize len = 48 + buflen;

  memset(m, 0, len);
  put_le32(m, 3);
  put_le32(m + 4, (guint32)len);
  put_le32(m + 8, tid);
  put_le32(m + 12, total);
  put_le32(m + 16, current);
  memcpy(m + 20, uuid_uicc, 16);
  put_le32(m + 36, 4); /* APDU */
  put_le32(m + 40, 1); /* set */
  put_le32(m + 44, declared);
  return len;
}

static void expect_function_error(int fd, guint32 tid, guint32 code)
{
  guint8 r[16];

  read_exact(fd, r, sizeof r);
  assert_int_equal(get_le32(r), 0x80000004);
  assert_int_equal(get_le32(r + 4), 16);
  assert_int_equal(get_le32(r + 8), tid);
  assert_int_equal(get_le32(r + 12), code);
}

/* MBIM 1.0 9.4.6: malformed input gets FUNCTION_ERROR, and the modem goes on. */
static void test_simulator_answers_bad_input_with_function_error(void **state)
{
  Fixture *f = *state;
  int fd = open(modem_sim_get_port(f->ms), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  guint8 m[128];
  guint8 r[16];
  gsize len;

  assert_true(fd >= 0);

  /* A command before OPEN. */
  len = build_command(m, 7, 1, 0, 0, 0);
  assert_int_equal(write(fd, m, len), (ssize_t)len);
  expect_function_error(fd, 7, 5 /* not opened */);

  /* OPEN, with a small maximum transfer. */
  put_le32(m, 1);
  put_le32(m + 4, 16);
  put_le32(m + 8, 8);
  put_le32(m + 12, 4096);
  assert_int_equal(write(fd, m, 16), 16);
  read_exact(fd, r, sizeof r);
  assert_int_equal(get_le32(r), 0x80000001);
  assert_int_equal(get_le32(r + 8), 8);
  assert_int_equal(get_le32(r + 12), 0);

  /* A buffer length that disagrees with the message length. */
  len = build_command(m, 9, 1, 0, 4, 40);
  assert_int_equal(write(fd, m, len), (ssize_t)len);
  expect_function_error(fd, 9, 3 /* length mismatch */);

  /* A second fragment with no first one. */
  len = build_command(m, 10, 2, 1, 0, 0);
  assert_int_equal(write(fd, m, len), (ssize_t)len);
  expect_function_error(fd, 10, 2 /* fragment out of sequence */);

  /* An unknown message type. */
  put_le32(m, 0x42);
  put_le32(m + 4, 12);
  put_le32(m + 8, 11);
  assert_int_equal(write(fd, m, 12), 12);
  expect_function_error(fd, 11, 6 /* unknown */);

  /* And a well-formed one still works: an APDU on a channel never opened. */
  len = build_command(m, 12, 1, 0, 24, 24);
  put_le32(m + 48, 1);      /* channel 1 */
  put_le32(m + 48 + 12, 4); /* command: size, then offset */
  put_le32(m + 48 + 16, 20);
  memcpy(m + 48 + 20, (const guint8[]){0x01, 0xCA, 0x00, 0x66}, 4);
  assert_int_equal(write(fd, m, len), (ssize_t)len);
  {
    guint8 done[48];

    read_exact(fd, done, sizeof done);
    assert_int_equal(get_le32(done), 0x80000003);
    assert_int_equal(get_le32(done + 8), 12);
    assert_int_equal(get_le32(done + 40), 0x87430003);
  }
  close(fd);
}

/* ---- the modem's IMEI (Basic Connect Device Caps) ---- */

/* DeviceId of a GSM-class modem, read once per transport. */
static void test_imei_is_read_once_per_transport(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *first = test_transport_get_imei(f->t, &error);
  g_autofree gchar *again = NULL;
  g_autofree gchar *fresh = NULL;

  if (!first)
    fail_msg("get_imei: %s", error->message);
  assert_string_equal(first, MODEM_SIM_DEFAULT_IMEI);

  assert_true(modem_sim_set_option(f->ms, "imei=490154203237518", NULL));
  again = test_transport_get_imei(f->t, &error);
  assert_non_null(again);
  assert_string_equal(again, MODEM_SIM_DEFAULT_IMEI);

  assert_true(test_transport_close(f->t, &error));
  transport_free(f->t);
  f->t = transport_new_mbim(modem_sim_get_port(f->ms), f->setup->flags);
  f->t->timeout_ms = REQUEST_TIMEOUT_MS;
  if (!test_transport_open(f->t, &error))
    fail_msg("open: %s", error->message);
  fresh = test_transport_get_imei(f->t, &error);
  if (!fresh)
    fail_msg("get_imei: %s", error->message);
  assert_string_equal(fresh, "490154203237518");
}

/* An empty DeviceId, or a modem refusing Device Caps: NOT_SUPPORTED, and not
 * asked again. */
static void test_imei_missing_is_not_supported(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *imei = test_transport_get_imei(f->t, &error);

  assert_null(imei);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED);
  g_clear_error(&error);

  assert_true(modem_sim_set_option(f->ms, "clear", NULL));
  assert_true(modem_sim_set_option(f->ms, "imei=490154203237518", NULL));
  imei = test_transport_get_imei(f->t, &error);
  assert_null(imei);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED);
}

/* A Device Caps answer cut short is PROTOCOL, and the next read may succeed. */
static void test_imei_garbage_is_protocol_error(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *imei = NULL;

  assert_true(modem_sim_set_option(f->ms, "garbage=device-caps@1", NULL));
  imei = test_transport_get_imei(f->t, &error);
  assert_null(imei);
  assert_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL);
  g_clear_error(&error);
  imei = test_transport_get_imei(f->t, &error);
  if (!imei)
    fail_msg("get_imei: %s", error->message);
  assert_string_equal(imei, MODEM_SIM_DEFAULT_IMEI);
}

static const SimSetup no_imei = {
    .cards = {"three-profiles.card"},
    .n_slots = 1,
    .options = {"imei="},
    .flags = TRANSPORT_OPEN_FLAGS_NO_PROXY,
};
static const SimSetup no_device_caps = {
    .cards = {"three-profiles.card"},
    .n_slots = 1,
    .options = {"status=device-caps:9"},
    .flags = TRANSPORT_OPEN_FLAGS_NO_PROXY,
};

static const SimSetup plain_only = {
    .cards = {"plain-sim.card"},
    .n_slots = 1,
    .flags = TRANSPORT_OPEN_FLAGS_NO_PROXY,
};
static const SimSetup plain_status_only = {
    .cards = {"plain-sim.card"},
    .n_slots = 1,
    .options = {"select-status-only"},
    .flags = TRANSPORT_OPEN_FLAGS_NO_PROXY,
};
static const SimSetup fragments = {
    .cards = {"three-profiles.card"},
    .n_slots = 1,
    .options = {"max-transfer=64"},
    .flags = TRANSPORT_OPEN_FLAGS_NO_PROXY,
};
static const SimSetup pass_61xx = {
    .cards = {"three-profiles.card"},
    .n_slots = 1,
    .options = {"no-get-response", "max-transfer=100"},
    .flags = TRANSPORT_OPEN_FLAGS_NO_PROXY,
};
static const SimSetup one_channel = {
    .cards = {"three-profiles.card"},
    .n_slots = 1,
    .options = {"max-channels=1"},
    .flags = TRANSPORT_OPEN_FLAGS_NO_PROXY,
};
static const SimSetup no_ext = {
    .cards = {"three-profiles.card", "plain-sim.card"},
    .n_slots = 2,
    .options = {"no-basic-connect-ext"},
    .flags = TRANSPORT_OPEN_FLAGS_NO_PROXY,
};
static const SimSetup via_proxy = {
    .cards = {"three-profiles.card", "plain-sim.card", NULL},
    .n_slots = 3,
    .flags = TRANSPORT_OPEN_FLAGS_NONE,
};

#define TEST(fn, setup_fn, modem)                                                                  \
  cmocka_unit_test_prestate_setup_teardown(fn, setup_fn, teardown, (void *)&(modem))

int main(void)
{
  const struct CMUnitTest tests[] = {
      TEST(test_slots_show_euicc_plain_sim_and_empty_slot, setup, two_cards),
      TEST(test_isdr_channel_gives_the_eid, setup, two_cards),
      TEST(test_transmit_returns_data_then_status_word, setup, two_cards),
      TEST(test_es10_surface_through_the_modem, setup, two_cards),
      TEST(test_channels_above_three_work, setup, two_cards),
      TEST(test_long_responses_arrive_whole, setup, fragments),
      TEST(test_61xx_passed_through_is_reassembled_above, setup, pass_61xx),
      TEST(test_plain_sim_refuses_the_isdr, setup, plain_only),
      TEST(test_select_failure_in_status_word_is_aid_not_found, setup, plain_status_only),
      TEST(test_timeout_leaves_no_channel_open, setup, two_cards),
      TEST(test_apdu_without_answer_times_out_then_channel_works, setup, two_cards),
      TEST(test_cancelled_request_says_cancelled, setup, two_cards),
      TEST(test_vanished_port_is_port_gone_and_reported_once, setup, two_cards),
      TEST(test_unplug_while_waiting_fails_the_request, setup, two_cards),
      TEST(test_garbage_answer_is_a_protocol_error, setup, two_cards),
      TEST(test_injected_status_maps_to_transport_errors, setup, two_cards),
      TEST(test_out_of_channels_is_refused_then_recovers, setup, one_channel),
      TEST(test_switching_slots_follows_the_device_slot_mappings, setup, two_cards),
      TEST(test_switch_behind_our_back_is_noticed, setup, two_cards),
      TEST(test_modem_without_slot_extensions_has_one_slot, setup, no_ext),
      TEST(test_reload_sim_resets_the_card, setup, two_cards),
      TEST(test_open_releases_channels_left_over, setup, two_cards),
      TEST(test_open_through_mbim_proxy, setup_unopened, via_proxy),
      TEST(test_imei_is_read_once_per_transport, setup, two_cards),
      TEST(test_imei_missing_is_not_supported, setup, no_imei),
      TEST(test_imei_missing_is_not_supported, setup, no_device_caps),
      TEST(test_imei_garbage_is_protocol_error, setup, two_cards),
      TEST(test_simulator_answers_bad_input_with_function_error, setup_unopened, two_cards),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
