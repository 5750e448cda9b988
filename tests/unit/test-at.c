/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The AT backend against modem-sim's AT mode, in one process on one main
 * context: every ES10 operation in every modem quirk and in the +CSIM
 * fallback, faults (timeout, unplug, garbage), stale channels, a plain SIM
 * and a port held by someone else. Every wait is bounded.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "es10/es10.h"
#include "modem-sim.h"
#include "transport/at-private.h"
#include "transport/iso7816.h"
#include "test-util.h"
#include "transport/transport.h"

/* How the simulated modem is set up for one test. */
typedef struct {
  const char *card;
  const char *options[4];
} SimSetup;

typedef struct {
  const SimSetup *setup;
  ModemSim *ms;
  Transport *t;
  guint removed_calls;
} Fixture;

/* ---- ES10 calls on the ISD-R channel ---- */

static GPtrArray *list_profiles(Transport *t, guint channel)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) req = es10c_get_profiles_info_encode(NULL, &error);
  g_autoptr(GBytes) rsp = NULL;
  Es10cGetProfilesInfoResult result;
  GPtrArray *profiles = NULL;

  assert_non_null(req);
  rsp = test_es10_call(t, 1, channel, req, &error);
  if (!rsp)
    fail_msg("GetProfilesInfo: %s", error->message);
  if (!es10c_get_profiles_info_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp), &result,
                                      &profiles, &error))
    fail_msg("GetProfilesInfo decode: %s", error->message);
  assert_int_equal(result, ES10C_GET_PROFILES_INFO_OK);
  return profiles;
}

static Es10ProfileInfo *find_profile(GPtrArray *profiles, const char *iccid)
{
  for (guint i = 0; i < profiles->len; i++) {
    Es10ProfileInfo *p = g_ptr_array_index(profiles, i);

    if (p->iccid && g_str_equal(p->iccid, iccid))
      return p;
  }
  return NULL;
}

static GPtrArray *list_notifications(Transport *t, guint channel)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) req = es10b_list_notification_encode(0, &error);
  g_autoptr(GBytes) rsp = NULL;
  Es10bListNotificationResult result;
  GPtrArray *list = NULL;

  assert_non_null(req);
  rsp = test_es10_call(t, 1, channel, req, &error);
  if (!rsp)
    fail_msg("ListNotification: %s", error->message);
  if (!es10b_list_notification_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp), &result,
                                      &list, &error))
    fail_msg("ListNotification decode: %s", error->message);
  assert_int_equal(result, ES10B_LIST_NOTIFICATION_OK);
  return list;
}

/* ---- fixture ---- */

static void on_removed(Transport *t, gpointer data)
{
  Fixture *f = data;

  f->removed_calls++;
}

static ModemSim *start_modem(const SimSetup *setup)
{
  const char *card = setup && setup->card ? setup->card : "three-profiles.card";

  return test_modem_sim_start(MODEM_SIM_PROTOCOL_AT, &card, 1, setup ? setup->options : NULL,
                              setup ? G_N_ELEMENTS(setup->options) : 0);
}

static Transport *new_transport(Fixture *f)
{
  Transport *t = transport_new_at(modem_sim_get_port(f->ms), 0);

  transport_set_removed_func(t, on_removed, f);
  return t;
}

static int setup(void **state)
{
  Fixture *f = g_new0(Fixture, 1);
  g_autoptr(GError) error = NULL;

  f->setup = *state;
  f->ms = start_modem(f->setup);
  f->t = new_transport(f);
  if (!test_transport_open(f->t, &error))
    fail_msg("open: %s", error->message);
  *state = f;
  return 0;
}

/* A fixture whose transport is created but not opened. */
static int setup_unopened(void **state)
{
  Fixture *f = g_new0(Fixture, 1);

  f->setup = *state;
  f->ms = start_modem(f->setup);
  f->t = new_transport(f);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  Fixture *f = *state;

  if (f->t && !f->t->removed) {
    g_autoptr(GError) error = NULL;

    test_transport_close(f->t, &error);
  }
  g_clear_pointer(&f->t, transport_free);
  g_clear_pointer(&f->ms, modem_sim_free);
  /* Answers queued for a closed pty, sources being destroyed: let them go. */
  test_drain();
  g_free(f);
  return 0;
}

static EuiccSim *card_of(Fixture *f)
{
  return modem_sim_get_card(f->ms, 1);
}

static guint open_isdr(Fixture *f)
{
  g_autoptr(GError) error = NULL;
  guint channel = test_transport_open_isdr(f->t, 1, &error);

  if (!channel)
    fail_msg("open channel: %s", error->message);
  assert_true(channel >= 1 && channel <= ISO7816_MAX_CHANNEL);
  assert_true(euicc_sim_get_open_channels(card_of(f)) & (1u << channel));
  return channel;
}

/* ---- the ES10 surface, per modem flavour ---- */

static void test_es10_operations_work_over_this_modem(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel = open_isdr(f);
  g_autofree gchar *eid = NULL;
  g_autoptr(GBytes) info2_req = es10b_get_euicc_info2_encode();
  g_autoptr(GBytes) info2_rsp = NULL;
  g_autoptr(Es10bEuiccInfo2) info2 = NULL;
  g_autoptr(GPtrArray) profiles = NULL;
  g_autoptr(GPtrArray) notifications = NULL;
  g_autoptr(GBytes) req = NULL;
  g_autoptr(GBytes) rsp = NULL;
  guint n_notifications;
  Es10cSetNicknameResult nickname_result;
  Es10cDisableProfileResult disable_result;
  Es10cEnableProfileResult enable_result;
  Es10cDeleteProfileResult delete_result;
  Es10bRemoveNotificationResult remove_result;

  /* EID */
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  if (!eid)
    fail_msg("GetEID: %s", error->message);
  assert_string_equal(eid, euicc_sim_get_eid(card_of(f)));

  /* EUICCInfo2 */
  info2_rsp = test_es10_call(f->t, 1, channel, info2_req, &error);
  if (!info2_rsp)
    fail_msg("GetEuiccInfo2: %s", error->message);
  assert_true(es10b_get_euicc_info2_decode(g_bytes_get_data(info2_rsp, NULL),
                                           g_bytes_get_size(info2_rsp), &info2, &error));
  assert_int_equal(info2->svn.major, 2);
  assert_int_equal(info2->svn.minor, 2);
  assert_int_equal(info2->svn.revision, 2);
  assert_true(info2->has_free_nv_memory);
  assert_int_equal(info2->free_nv_memory, 380512);

  /* list */
  profiles = list_profiles(f->t, channel);
  assert_int_equal(profiles->len, 3);
  assert_int_equal(find_profile(profiles, "8944476500001234567")->state,
                   ES10_PROFILE_STATE_ENABLED);
  assert_string_equal(find_profile(profiles, "8944476500001234567")->nickname, "Work");
  g_clear_pointer(&profiles, g_ptr_array_unref);

  notifications = list_notifications(f->t, channel);
  n_notifications = notifications->len;
  g_clear_pointer(&notifications, g_ptr_array_unref);

  /* nickname */
  req = es10c_set_nickname_encode("89012604100000123456", "Abroad", &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10c_set_nickname_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                        &nickname_result, &error));
  assert_int_equal(nickname_result, ES10C_SET_NICKNAME_OK);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* disable the enabled profile */
  req = es10c_disable_profile_encode(ES10_PROFILE_ID_ICCID, "8944476500001234567", FALSE, &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10c_disable_profile_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                           &disable_result, &error));
  assert_int_equal(disable_result, ES10C_DISABLE_PROFILE_OK);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* enable another */
  req = es10c_enable_profile_encode(ES10_PROFILE_ID_ICCID, "89012604100000123456", FALSE, &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10c_enable_profile_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                          &enable_result, &error));
  assert_int_equal(enable_result, ES10C_ENABLE_PROFILE_OK);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* delete a disabled one */
  req = es10c_delete_profile_encode(ES10_PROFILE_ID_ICCID, "89445001000000654321", &error);
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  assert_non_null(rsp);
  assert_true(es10c_delete_profile_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                          &delete_result, &error));
  assert_int_equal(delete_result, ES10C_DELETE_PROFILE_OK);
  g_clear_pointer(&req, g_bytes_unref);
  g_clear_pointer(&rsp, g_bytes_unref);

  /* what a user would see afterwards */
  profiles = list_profiles(f->t, channel);
  assert_int_equal(profiles->len, 2);
  assert_null(find_profile(profiles, "89445001000000654321"));
  assert_int_equal(find_profile(profiles, "8944476500001234567")->state,
                   ES10_PROFILE_STATE_DISABLED);
  assert_int_equal(find_profile(profiles, "89012604100000123456")->state,
                   ES10_PROFILE_STATE_ENABLED);
  assert_string_equal(find_profile(profiles, "89012604100000123456")->nickname, "Abroad");
  assert_string_equal(euicc_sim_get_iccid(card_of(f)), "89012604100000123456");

  /* notifications: disable, enable and delete each left one behind */
  notifications = list_notifications(f->t, channel);
  assert_int_equal(notifications->len, n_notifications + 3);
  {
    Es10NotificationMetadata *last = g_ptr_array_index(notifications, notifications->len - 1);
    guint32 seq = last->seq_number;
    g_autoptr(GBytes) rreq =
        es10b_retrieve_notifications_list_encode(ES10B_SEARCH_SEQ_NUMBER, seq, &error);
    g_autoptr(GBytes) rrsp = test_es10_call(f->t, 1, channel, rreq, &error);
    g_autoptr(GPtrArray) pending = NULL;
    g_autoptr(GBytes) dreq = es10b_remove_notification_from_list_encode(seq);
    g_autoptr(GBytes) drsp = NULL;
    Es10bRetrieveNotificationsResult rresult;

    assert_non_null(rrsp);
    assert_true(es10b_retrieve_notifications_list_decode(
        g_bytes_get_data(rrsp, NULL), g_bytes_get_size(rrsp), &rresult, &pending, &error));
    assert_int_equal(rresult, ES10B_RETRIEVE_NOTIFICATIONS_OK);
    assert_int_equal(pending->len, 1);

    drsp = test_es10_call(f->t, 1, channel, dreq, &error);
    assert_non_null(drsp);
    assert_true(es10b_remove_notification_from_list_decode(
        g_bytes_get_data(drsp, NULL), g_bytes_get_size(drsp), &remove_result, &error));
    assert_int_equal(remove_result, ES10B_REMOVE_NOTIFICATION_OK);
  }
  g_clear_pointer(&notifications, g_ptr_array_unref);
  notifications = list_notifications(f->t, channel);
  assert_int_equal(notifications->len, n_notifications + 2);

  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
  assert_int_equal(euicc_sim_get_open_channels(card_of(f)), 0);
}

/* A response longer than one APDU: the card announces the rest with 61xx
 * and GET RESPONSE fetches it, through +CGLA or through +CSIM. */
static void test_long_response_is_fetched_whole(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel = open_isdr(f);
  g_autoptr(GBytes) req = es10c_get_profiles_info_encode(NULL, &error);
  guint before = euicc_sim_get_apdu_count(card_of(f));
  g_autoptr(GBytes) rsp = test_es10_call(f->t, 1, channel, req, &error);
  g_autoptr(GPtrArray) profiles = NULL;
  Es10cGetProfilesInfoResult result;

  if (!rsp)
    fail_msg("GetProfilesInfo: %s", error->message);
  assert_true(g_bytes_get_size(rsp) > 256);
  /* STORE DATA and at least one GET RESPONSE. */
  assert_true(euicc_sim_get_apdu_count(card_of(f)) - before >= 2);
  assert_true(es10c_get_profiles_info_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp),
                                             &result, &profiles, &error));
  assert_int_equal(profiles->len, 3);
}

/* The same by hand, one APDU at a time: the transport hands back 61xx
 * untouched, and GET RESPONSE on the channel gives the data in pieces. */
static void test_get_response_by_hand(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel = open_isdr(f);
  /* STORE DATA, last block, GetProfilesInfo with no argument; no Le, as a
   * T=0 card gets every command (SGP.22 5.7.2). */
  guint8 store[] = {0x80, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2D, 0x00};
  guint8 get_response[] = {0x00, 0xC0, 0x00, 0x00, 0x00};
  g_autoptr(GBytes) cmd = NULL;
  g_autoptr(GBytes) rsp = NULL;
  g_autoptr(GByteArray) data = g_byte_array_new();
  guint pieces = 0;
  const guint8 *p;
  gsize len;

  assert_true(iso7816_cla_for_channel(channel, ISO7816_CLA_PROPRIETARY, &store[0], NULL));
  assert_true(iso7816_cla_for_channel(channel, ISO7816_CLA_INTERINDUSTRY, &get_response[0], NULL));
  cmd = g_bytes_new(store, sizeof store);
  rsp = test_transport_transmit(f->t, 1, channel, cmd, &error);
  if (!rsp)
    fail_msg("STORE DATA: %s", error->message);
  p = g_bytes_get_data(rsp, &len);
  assert_int_equal(len, 2);
  assert_int_equal(p[0], 0x61);

  g_clear_pointer(&cmd, g_bytes_unref);
  cmd = g_bytes_new(get_response, sizeof get_response);
  while (p[len - 2] == 0x61) {
    assert_true(++pieces < 10);
    g_clear_pointer(&rsp, g_bytes_unref);
    rsp = test_transport_transmit(f->t, 1, channel, cmd, &error);
    if (!rsp)
      fail_msg("GET RESPONSE: %s", error->message);
    p = g_bytes_get_data(rsp, &len);
    assert_true(len >= 2);
    g_byte_array_append(data, p, (guint)(len - 2));
  }
  assert_int_equal(p[len - 2], 0x90);
  assert_int_equal(p[len - 1], 0x00);
  assert_true(pieces >= 2);
  assert_true(data->len > 256);
  assert_int_equal(data->data[0], 0xBF);
  assert_int_equal(data->data[1], 0x2D);
}

/* ---- faults ---- */

static void test_timeout_fails_cleanly_and_next_command_works(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel = open_isdr(f);
  g_autofree gchar *eid = NULL;
  g_autoptr(GBytes) req = es10c_get_profiles_info_encode(NULL, NULL);
  g_autoptr(GBytes) rsp = NULL;

  f->t->timeout_ms = 200;
  assert_true(modem_sim_set_option(f->ms, "delay-ms=800", NULL));
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_null(eid);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT));
  g_clear_error(&error);

  /* The modem recovers; its late answer must not be taken for the next. */
  assert_true(modem_sim_set_option(f->ms, "delay-ms=0", NULL));
  f->t->timeout_ms = 0;
  rsp = test_es10_call(f->t, 1, channel, req, &error);
  if (!rsp)
    fail_msg("after a timeout: %s", error->message);
  assert_int_equal(((const guint8 *)g_bytes_get_data(rsp, NULL))[0], 0xBF);
  assert_int_equal(((const guint8 *)g_bytes_get_data(rsp, NULL))[1], 0x2D);
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_non_null(eid);
  assert_string_equal(eid, euicc_sim_get_eid(card_of(f)));
  assert_false(f->t->removed);
}

/* A modem that does not answer at first: open fails with a timeout, and
 * once it answers, a new open works although its late answers are still
 * on their way. */
static void test_silent_modem_fails_open_then_recovers(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *eid = NULL;

  f->t->timeout_ms = 200;
  assert_true(modem_sim_set_option(f->ms, "delay-ms=800", NULL));
  assert_false(test_transport_open(f->t, &error));
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT));
  assert_false(f->t->removed);
  g_clear_error(&error);

  assert_true(modem_sim_set_option(f->ms, "delay-ms=0", NULL));
  f->t->timeout_ms = 0;
  if (!test_transport_open(f->t, &error))
    fail_msg("second open: %s", error->message);
  eid = test_es10_get_eid(f->t, 1, open_isdr(f), &error);
  assert_non_null(eid);
  assert_string_equal(eid, euicc_sim_get_eid(card_of(f)));
}

static void test_unplug_mid_command_reports_port_gone(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel = open_isdr(f);
  g_autofree gchar *eid = NULL;

  /* The modem dies instead of passing the next APDU to the card. */
  assert_true(modem_sim_set_option(f->ms, "close-after=1", NULL));
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_null(eid);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE));
  assert_int_equal(f->removed_calls, 1);
  assert_true(f->t->removed);
  g_clear_error(&error);

  /* Every later call fails the same way, at once. */
  assert_int_equal(test_transport_open_isdr(f->t, 1, &error), 0);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE));
  assert_int_equal(f->removed_calls, 1);
  g_clear_error(&error);

  /* Closing what is gone is no error. */
  assert_true(test_transport_close(f->t, &error));
}

static void test_unplug_while_waiting_fails_queued_commands(void **state)
{
  Fixture *f = *state;
  guint channel = open_isdr(f);
  guint8 apdu[] = {0x80, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x3E, 0x00};
  g_autoptr(GBytes) cmd = NULL;
  GAsyncResult *res[3] = {NULL, NULL, NULL};

  /* GET EUICC DATA as one STORE DATA block (SGP.22 5.7.2). */
  assert_true(iso7816_cla_for_channel(channel, ISO7816_CLA_PROPRIETARY, &apdu[0], NULL));
  cmd = g_bytes_new(apdu, sizeof apdu);
  assert_true(modem_sim_set_option(f->ms, "delay-ms=5000", NULL));
  for (guint i = 0; i < G_N_ELEMENTS(res); i++)
    transport_transmit(f->t, 1, channel, cmd, NULL, test_got_result, &res[i]);
  test_run_for(50);
  modem_sim_unplug(f->ms);
  for (guint i = 0; i < G_N_ELEMENTS(res); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) rsp = NULL;

    test_wait_result(&res[i]);
    rsp = transport_transmit_finish(f->t, res[i], &error);
    assert_null(rsp);
    assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PORT_GONE));
    g_object_unref(res[i]);
  }
  assert_int_equal(f->removed_calls, 1);
}

static void test_garbage_answer_is_protocol_error(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel = open_isdr(f);
  g_autofree gchar *eid = NULL;

  assert_true(modem_sim_set_option(f->ms, "quirk=garbage", NULL));
  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_null(eid);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL));
  g_clear_error(&error);

  eid = test_es10_get_eid(f->t, 1, channel, &error);
  if (!eid)
    fail_msg("after garbage: %s", error->message);
  assert_string_equal(eid, euicc_sim_get_eid(card_of(f)));
}

/* Commands given at once run one at a time, in order, and each gets its own
 * answer. */
static void test_commands_queue_in_order(void **state)
{
  Fixture *f = *state;
  guint channel = open_isdr(f);
  g_autoptr(GBytes) eid_req = es10c_get_eid_encode();
  g_autoptr(GBytes) info_req = es10b_get_euicc_info2_encode();
  GAsyncResult *res[4] = {NULL};

  for (guint i = 0; i < G_N_ELEMENTS(res); i++)
    iso7816_store_data_async(f->t, 1, channel, i % 2 ? info_req : eid_req, NULL, NULL,
                             test_got_result, &res[i]);
  for (guint i = 0; i < G_N_ELEMENTS(res); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) rsp = NULL;
    const guint8 *p;

    test_wait_result(&res[i]);
    rsp = iso7816_store_data_finish(res[i], &error);
    if (!rsp)
      fail_msg("request %u: %s", i, error->message);
    p = g_bytes_get_data(rsp, NULL);
    assert_int_equal(p[0], 0xBF);
    assert_int_equal(p[1], i % 2 ? 0x22 : 0x3E);
    g_object_unref(res[i]);
  }
}

static void test_cancelled_command_leaves_the_others(void **state)
{
  Fixture *f = *state;
  guint channel = open_isdr(f);
  g_autoptr(GBytes) eid_req = es10c_get_eid_encode();
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autoptr(GAsyncResult) first = NULL;
  g_autoptr(GAsyncResult) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) rsp = NULL;
  g_autofree gchar *eid = NULL;

  iso7816_store_data_async(f->t, 1, channel, eid_req, NULL, NULL, test_got_result, &first);
  iso7816_store_data_async(f->t, 1, channel, eid_req, NULL, cancellable, test_got_result, &second);
  g_cancellable_cancel(cancellable);
  test_wait_result(&second);
  assert_null(iso7816_store_data_finish(second, &error));
  assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  g_clear_error(&error);
  test_wait_result(&first);
  rsp = iso7816_store_data_finish(first, &error);
  assert_non_null(rsp);

  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_string_equal(eid, euicc_sim_get_eid(card_of(f)));
}

/* ---- channels, slots, ports ---- */

static void open_channel_on_card(EuiccSim *card)
{
  const guint8 open[] = {0x00, 0x70, 0x00, 0x00, 0x01};
  g_autoptr(GBytes) rsp = euicc_sim_transmit(card, open, sizeof open);

  assert_non_null(rsp);
  assert_int_equal(g_bytes_get_size(rsp), 3);
}

/* An earlier client crashed with channels open: opening the port closes
 * them, so that the card does not run out. */
static void test_stale_channels_are_closed_on_open(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  Transport *crashed = new_transport(f);

  /* A client that died before it could close anything: one channel it
   * opened through the modem, two with its own MANAGE CHANNEL. */
  assert_true(test_transport_open(crashed, &error));
  assert_int_equal(test_transport_open_isdr(crashed, 1, &error), 1);
  open_channel_on_card(card_of(f));
  open_channel_on_card(card_of(f));
  transport_free(crashed);
  assert_int_equal(euicc_sim_get_open_channels(card_of(f)), 0x2 | 0x4 | 0x8);

  assert_true(test_transport_open(f->t, &error));
  assert_int_equal(euicc_sim_get_open_channels(card_of(f)), 0);
  assert_int_equal(open_isdr(f), 1);
}

/* The card has one logical channel: a second open is refused, and the
 * first one still works. */
static void test_no_free_channel_is_refused(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  guint channel = open_isdr(f);
  g_autofree gchar *eid = NULL;

  assert_int_equal(test_transport_open_isdr(f->t, 1, &error), 0);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_CHANNEL_REFUSED));
  g_clear_error(&error);

  eid = test_es10_get_eid(f->t, 1, channel, &error);
  assert_non_null(eid);
  assert_true(test_transport_close_channel(f->t, 1, channel, &error));
  assert_int_equal(open_isdr(f), channel);
}

static void test_plain_sim_has_no_isdr(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GPtrArray) slots = NULL;

  assert_int_equal(test_transport_open_isdr(f->t, 1, &error), 0);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_AID_NOT_FOUND));
  assert_int_equal(euicc_sim_get_open_channels(card_of(f)), 0);

  /* The port still works. */
  transport_list_slots(f->t, NULL, test_got_result, &res);
  test_wait_result(&res);
  slots = transport_list_slots_finish(f->t, res, &error);
  assert_non_null(slots);
  assert_int_equal(slots->len, 1);
  assert_true(((TransportSlot *)g_ptr_array_index(slots, 0))->card_present);
}

static void test_single_slot_is_listed(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GAsyncResult) switched = NULL;
  g_autoptr(GAsyncResult) reloaded = NULL;
  g_autoptr(GPtrArray) slots = NULL;
  g_autoptr(GBytes) aid = test_isdr_aid();
  g_autoptr(GAsyncResult) slot2 = NULL;
  TransportSlot *slot;

  transport_list_slots(f->t, NULL, test_got_result, &res);
  test_wait_result(&res);
  slots = transport_list_slots_finish(f->t, res, &error);
  assert_non_null(slots);
  assert_int_equal(slots->len, 1);
  slot = g_ptr_array_index(slots, 0);
  assert_int_equal(slot->slot, 1);
  assert_true(slot->card_present);
  assert_true(slot->active);
  assert_int_equal(slot->is_euicc, TRANSPORT_TRISTATE_UNKNOWN);

  transport_switch_slot(f->t, 1, NULL, test_got_result, &switched);
  test_wait_result(&switched);
  assert_false(transport_switch_slot_finish(f->t, switched, &error));
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED));
  g_clear_error(&error);

  transport_reload_sim(f->t, 1, NULL, test_got_result, &reloaded);
  test_wait_result(&reloaded);
  assert_false(transport_reload_sim_finish(f->t, reloaded, &error));
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED));
  g_clear_error(&error);

  transport_open_channel(f->t, 2, aid, NULL, test_got_result, &slot2);
  test_wait_result(&slot2);
  assert_int_equal(transport_open_channel_finish(f->t, slot2, &error), 0);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED));
}

static void test_port_held_exclusively_is_busy(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  int holder = open(modem_sim_get_port(f->ms), O_RDWR | O_NOCTTY | O_CLOEXEC);

  assert_true(holder >= 0);
  assert_int_equal(ioctl(holder, TIOCEXCL), 0);
  assert_false(test_transport_open(f->t, &error));
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_BUSY));
  assert_non_null(strstr(error->message, "ModemManager"));
  g_clear_error(&error);

  /* Once the other program lets go, the port opens. */
  ioctl(holder, TIOCNXCL);
  close(holder);
  if (!test_transport_open(f->t, &error))
    fail_msg("after release: %s", error->message);
  open_isdr(f);
}

/* ---- the simulated modem itself, seen from the wire ---- */

static int open_raw(Fixture *f)
{
  int fd = open(modem_sim_get_port(f->ms), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

  assert_true(fd >= 0);
  return fd;
}

/* Sends one command line and returns every byte the modem sent back, up to
 * and including its final result. */
static gchar *raw_command(int fd, const char *line, const char *ending)
{
  g_autoptr(GString) in = g_string_new(NULL);
  g_autofree gchar *out = g_strconcat(line, ending, NULL);
  gint64 deadline = g_get_monotonic_time() + TEST_WAIT_LIMIT_MS * G_TIME_SPAN_MILLISECOND;
  gboolean expired = FALSE;

  assert_int_equal(write(fd, out, strlen(out)), (ssize_t)strlen(out));
  while (!(expired = g_get_monotonic_time() > deadline)) {
    char buf[512];
    ssize_t n;

    g_main_context_iteration(NULL, FALSE);
    while ((n = read(fd, buf, sizeof buf)) > 0)
      g_string_append_len(in, buf, n);
    if (g_str_has_suffix(in->str, "\r\nOK\r\n") || g_str_has_suffix(in->str, "ERROR\r\n") ||
        (strstr(in->str, "+CME ERROR:") && g_str_has_suffix(in->str, "\r\n")))
      break;
    g_usleep(1000);
  }
  if (expired)
    fail_msg("no final result to %s; got \"%s\"", line, in->str);
  return g_string_free(g_steal_pointer(&in), FALSE);
}

/* Sends one command line; asserts that the modem answered exactly expected
 * (anything, when expected is NULL). */
static void assert_exchange(int fd, const char *line, const char *ending, const char *expected)
{
  g_autofree gchar *answer = raw_command(fd, line, ending);

  if (expected)
    assert_string_equal(answer, expected);
}

#define ISDR_HEX "A0000005591010FFFFFFFF8900000100"

static void test_modem_sim_frames_answers_like_a_modem(void **state)
{
  Fixture *f = *state;
  int fd = open_raw(f);

  /* Echo is on until ATE0, as on a real modem. */
  assert_exchange(fd, "AT", "\r", "AT\r\r\nOK\r\n");
  assert_exchange(fd, "ATE0", "\r", "ATE0\r\r\nOK\r\n");
  /* CR LF works as well as CR. */
  assert_exchange(fd, "AT", "\r\n", "\r\nOK\r\n");
  assert_exchange(fd, "AT+CPIN?", "\r", "\r\n+CPIN: READY\r\n\r\nOK\r\n");
  assert_exchange(fd, "AT+CCHO=?", "\r", "\r\nOK\r\n");
  assert_exchange(fd, "AT+NOSUCH", "\r", "\r\nERROR\r\n");
  assert_exchange(fd, "AT+CCHO=\"" ISDR_HEX "\"", "\r", "\r\n+CCHO: 1\r\n\r\nOK\r\n");
  assert_exchange(fd, "AT+CCHC=1", "\r", "\r\nOK\r\n");
  /* Errors are plain ERROR by default, whatever +CMEE says. */
  assert_exchange(fd, "AT+CCHC=1", "\r", "\r\nERROR\r\n");
  close(fd);
}

static void test_modem_sim_quirks_show_on_the_wire(void **state)
{
  Fixture *f = *state;
  int fd = open_raw(f);

  assert_exchange(fd, "ATE0", "\r", NULL);
  /* no-test-commands: the test form fails, the command works. */
  assert_exchange(fd, "AT+CCHO=?", "\r", "\r\n+CREG: 1\r\n\r\nERROR\r\n");
  /* ccho-nospace, and urc around the answer. */
  assert_exchange(fd, "AT+CCHO=\"" ISDR_HEX "\"", "\r",
                  "\r\n+CREG: 1\r\n\r\n+CCHO:1\r\n\r\nRING\r\n\r\nOK\r\n");
  /* cme-error: numbered errors. */
  assert_exchange(fd, "AT+CCHC=7", "\r", "\r\n+CREG: 1\r\n\r\n+CME ERROR: 21\r\n");
  close(fd);
}

static void test_modem_sim_csim_only_lacks_channel_commands(void **state)
{
  Fixture *f = *state;
  int fd = open_raw(f);

  assert_exchange(fd, "ATE0", "\r", NULL);
  assert_exchange(fd, "AT+CCHO=\"" ISDR_HEX "\"", "\r",
                  "\r\n+CME ERROR: operation not supported\r\n");
  assert_exchange(fd, "AT+CGLA=1,10,\"01C0000000\"", "\r",
                  "\r\n+CME ERROR: operation not supported\r\n");
  /* MANAGE CHANNEL open through +CSIM: channel 1, 9000. */
  assert_exchange(fd, "AT+CSIM=10,\"0070000001\"", "\r", "\r\n+CSIM: 6,\"019000\"\r\n\r\nOK\r\n");
  assert_int_equal(euicc_sim_get_open_channels(card_of(f)), 0x2);
  close(fd);
}

/* ---- the table ---- */

static const SimSetup plain_modem = {NULL, {NULL}};
static const SimSetup ccho_nospace = {NULL, {"quirk=ccho-nospace"}};
static const SimSetup ccho_bare = {NULL, {"quirk=ccho-bare"}};
static const SimSetup no_test_commands = {NULL, {"quirk=no-test-commands"}};
static const SimSetup cme_numeric = {NULL, {"quirk=cme-error"}};
static const SimSetup cme_verbose = {NULL, {"quirk=cme-error-verbose"}};
static const SimSetup urc = {NULL, {"quirk=urc"}};
static const SimSetup csim_only = {NULL, {"quirk=csim-only"}};
static const SimSetup csim_only_cme = {NULL, {"quirk=csim-only", "quirk=cme-error"}};
static const SimSetup csim_only_verbose = {NULL, {"quirk=csim-only", "quirk=cme-error-verbose"}};
static const SimSetup csim_only_urc = {NULL, {"quirk=csim-only", "quirk=urc", "quirk=ccho-bare"}};
static const SimSetup everything = {
    NULL, {"quirk=ccho-bare", "quirk=no-test-commands", "quirk=cme-error-verbose", "quirk=urc"}};
static const SimSetup wire_quirks = {
    NULL, {"quirk=no-test-commands", "quirk=ccho-nospace", "quirk=urc", "quirk=cme-error"}};
static const SimSetup csim_only_verbose_only = {NULL,
                                                {"quirk=csim-only", "quirk=cme-error-verbose"}};
static const SimSetup one_channel = {NULL, {"max-channels=1"}};
static const SimSetup one_channel_cme = {NULL, {"max-channels=1", "quirk=cme-error"}};
static const SimSetup one_channel_csim = {NULL, {"max-channels=1", "quirk=csim-only"}};
static const SimSetup plain_sim = {"plain-sim.card", {NULL}};
static const SimSetup plain_sim_cme = {"plain-sim.card", {"quirk=cme-error"}};
static const SimSetup plain_sim_csim = {"plain-sim.card", {"quirk=csim-only"}};

/* ---- the modem's IMEI (AT+CGSN) ---- */

/* Read once: a changed answer afterwards is not seen by this transport, only
 * by a new one; whatever the answer's form (bare, quoted, with URCs). */
static void test_imei_is_read_once_per_transport(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *first = test_transport_get_imei(f->t, &error);
  g_autofree gchar *again = NULL;
  g_autofree gchar *fresh = NULL;
  g_autoptr(Transport) other = NULL;

  if (!first)
    fail_msg("get_imei: %s", error->message);
  assert_string_equal(first, MODEM_SIM_DEFAULT_IMEI);

  assert_true(modem_sim_set_option(f->ms, "imei=490154203237518", NULL));
  again = test_transport_get_imei(f->t, &error);
  assert_non_null(again);
  assert_string_equal(again, MODEM_SIM_DEFAULT_IMEI);

  /* The modem answers the new IMEI to whoever asks it now. */
  test_transport_close(f->t, NULL);
  other = new_transport(f);
  if (!test_transport_open(other, &error))
    fail_msg("open: %s", error->message);
  fresh = test_transport_get_imei(other, &error);
  if (!fresh)
    fail_msg("get_imei: %s", error->message);
  assert_string_equal(fresh, "490154203237518");
  test_transport_close(other, NULL);
}

/* A modem without an IMEI refuses AT+CGSN: NOT_SUPPORTED, and it is not asked
 * again. */
static void test_imei_refused_is_not_supported(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *imei = test_transport_get_imei(f->t, &error);

  assert_null(imei);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED));
  g_clear_error(&error);

  assert_true(modem_sim_set_option(f->ms, "imei=490154203237518", NULL));
  imei = test_transport_get_imei(f->t, &error);
  assert_null(imei);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_NOT_SUPPORTED));

  /* The port still works after the refusal. */
  open_isdr(f);
}

/* Letters where the digits should be: PROTOCOL, not a made-up IMEI. */
static void test_imei_malformed_is_protocol_error(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *imei = test_transport_get_imei(f->t, &error);

  assert_null(imei);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL));
}

/* 14 digits (no check digit) and 16 (IMEISV) are passed on as the modem
 * reports them; the setup's first option is "imei=DIGITS". */
static void test_imei_of_other_lengths_is_passed_on(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *imei = test_transport_get_imei(f->t, &error);

  if (!imei)
    fail_msg("get_imei: %s", error->message);
  assert_string_equal(imei, f->setup->options[0] + strlen("imei="));
}

static const SimSetup cgsn_quoted = {NULL, {"quirk=cgsn-quoted"}};
static const SimSetup no_imei = {NULL, {"imei="}};
static const SimSetup no_imei_cme = {NULL, {"imei=", "quirk=cme-error"}};
static const SimSetup bad_imei = {NULL, {"imei=3529061112345X"}};
static const SimSetup short_imei = {NULL, {"imei=3529061112345"}};
static const SimSetup imei_14 = {NULL, {"imei=35290611123456"}};
static const SimSetup imeisv_quoted = {NULL, {"imei=3529061112345601", "quirk=cgsn-quoted"}};
static const SimSetup bad_imei_quoted = {NULL, {"imei=35290611", "quirk=cgsn-quoted"}};

/* ---- the AT+WS46=? answer (27.007 5.9), without a modem ---- */

enum {
  G = TRANSPORT_RAT_GERAN,
  U = TRANSPORT_RAT_UTRAN,
  E = TRANSPORT_RAT_EUTRAN,
  NSA = TRANSPORT_RAT_NR_NSA,
  SA = TRANSPORT_RAT_NR_SA,
};

static guint ws46_ok(const char *line)
{
  g_autoptr(GError) error = NULL;
  guint rats = 0xdead;

  if (!at_parse_ws46(line, &rats, &error))
    fail_msg("%s: %s", line, error->message);
  return rats;
}

static void assert_ws46_refused(const char *line)
{
  g_autoptr(GError) error = NULL;
  guint rats = 0xdead;

  if (at_parse_ws46(line, &rats, &error))
    fail_msg("%s was taken as 0x%x", line, rats);
  assert_true(g_error_matches(error, TRANSPORT_ERROR, TRANSPORT_ERROR_PROTOCOL));
  assert_non_null(strstr(error->message, line));
  assert_int_equal(rats, 0);
}

static void test_ws46_list_and_ranges_become_rats(void **state)
{
  assert_int_equal(ws46_ok("+WS46: (12,22,25,28-31)"), G | U | E);
  assert_int_equal(ws46_ok("+WS46: (12)"), G);
  assert_int_equal(ws46_ok("+WS46: (28)"), E);
  /* 36 is NG-RAN alone: standalone; 37 is beside E-UTRAN: non-standalone. */
  assert_int_equal(ws46_ok("+WS46: (36)"), SA);
  assert_int_equal(ws46_ok("+WS46: (37)"), E | NSA);
  assert_int_equal(ws46_ok("+WS46: (40)"), U | SA);
  assert_int_equal(ws46_ok("+WS46: (12,22,25,28-31,35-42)"), G | U | E | NSA | SA);
}

static void test_ws46_odd_spacing_and_no_parentheses(void **state)
{
  assert_int_equal(ws46_ok("+WS46:(12,22)"), G | U);
  assert_int_equal(ws46_ok("+WS46:   (  12 ,  28  )  "), G | E);
  assert_int_equal(ws46_ok("+WS46: 12,22,28"), G | U | E);
  assert_int_equal(ws46_ok("+WS46:28-31"), G | U | E);
  assert_int_equal(ws46_ok("+WS46: 36"), SA);
}

static void test_ws46_range_across_nr_codes(void **state)
{
  /* 31..37 crosses 32-34 (not radio access networks) into the NR ones. */
  assert_int_equal(ws46_ok("+WS46: (31-37)"), G | U | E | NSA | SA);
  assert_int_equal(ws46_ok("+WS46: (36-36)"), SA);
  assert_int_equal(ws46_ok("+WS46: (40-42)"), G | U | SA);
}

static void test_ws46_unknown_codes_are_left_out(void **state)
{
  /* 27.007's 23 (WLAN) and 32-34 are no radio access network SGP.22 names. */
  assert_int_equal(ws46_ok("+WS46: (0,23,32-34)"), 0);
  assert_int_equal(ws46_ok("+WS46: (23,28,99)"), E);
  assert_int_equal(ws46_ok("+WS46: (0-255)"), G | U | E | NSA | SA);
  /* 2^32 + 12 must not wrap around to 12, nor 2^64 - 1 to anything. */
  assert_int_equal(ws46_ok("+WS46: (4294967308)"), 0);
  assert_int_equal(ws46_ok("+WS46: (28,18446744073709551615)"), E);
  assert_int_equal(ws46_ok("+WS46: (250-18446744073709551615)"), 0);
}

static void test_ws46_empty_list_is_protocol_error(void **state)
{
  assert_ws46_refused("+WS46:");
  assert_ws46_refused("+WS46: ");
  assert_ws46_refused("+WS46: ()");
  assert_ws46_refused("+WS46: (,)");
}

static void test_ws46_garbage_is_protocol_error(void **state)
{
  assert_ws46_refused("+WS46: (x)");
  assert_ws46_refused("+WS46: (12,x)");
  assert_ws46_refused("+WS46: (12;22)");
  assert_ws46_refused("+WS46: (12-)");
  assert_ws46_refused("+WS46: (-12)");
  assert_ws46_refused("+WS46: (12 - 22)");
  assert_ws46_refused("+WS46: (28-31-36)");
  /* A line cut short, or parentheses that do not pair up. */
  assert_ws46_refused("+WS46: (12,");
  assert_ws46_refused("+WS46: (12,22");
  assert_ws46_refused("+WS46: 12)");
  assert_ws46_refused("+WS46: (12))");
  /* A reversed range says nothing the modem meant: not "no RATs". */
  assert_ws46_refused("+WS46: (31-28)");
  assert_ws46_refused("+WS46: (12,31-28)");
  /* More digits than 64 bits hold. */
  assert_ws46_refused("+WS46: (99999999999999999999999)");
  assert_ws46_refused("+WS46: (12-99999999999999999999999)");
}

#define PER_MODEM(fn, setup_fn, modem)                                                             \
  cmocka_unit_test_prestate_setup_teardown(fn, setup_fn, teardown, (void *)&(modem))

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ws46_list_and_ranges_become_rats),
      cmocka_unit_test(test_ws46_odd_spacing_and_no_parentheses),
      cmocka_unit_test(test_ws46_range_across_nr_codes),
      cmocka_unit_test(test_ws46_unknown_codes_are_left_out),
      cmocka_unit_test(test_ws46_empty_list_is_protocol_error),
      cmocka_unit_test(test_ws46_garbage_is_protocol_error),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, plain_modem),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, ccho_nospace),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, ccho_bare),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, no_test_commands),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, cme_numeric),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, cme_verbose),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, urc),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, everything),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, csim_only),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, csim_only_cme),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, csim_only_verbose),
      PER_MODEM(test_es10_operations_work_over_this_modem, setup, csim_only_urc),
      PER_MODEM(test_long_response_is_fetched_whole, setup, plain_modem),
      PER_MODEM(test_long_response_is_fetched_whole, setup, csim_only),
      PER_MODEM(test_get_response_by_hand, setup, plain_modem),
      PER_MODEM(test_get_response_by_hand, setup, csim_only),
      PER_MODEM(test_timeout_fails_cleanly_and_next_command_works, setup, plain_modem),
      PER_MODEM(test_timeout_fails_cleanly_and_next_command_works, setup, urc),
      PER_MODEM(test_timeout_fails_cleanly_and_next_command_works, setup, csim_only),
      PER_MODEM(test_silent_modem_fails_open_then_recovers, setup_unopened, plain_modem),
      PER_MODEM(test_silent_modem_fails_open_then_recovers, setup_unopened, urc),
      PER_MODEM(test_unplug_mid_command_reports_port_gone, setup, plain_modem),
      PER_MODEM(test_unplug_mid_command_reports_port_gone, setup, csim_only),
      PER_MODEM(test_unplug_while_waiting_fails_queued_commands, setup, plain_modem),
      PER_MODEM(test_garbage_answer_is_protocol_error, setup, plain_modem),
      PER_MODEM(test_garbage_answer_is_protocol_error, setup, csim_only),
      PER_MODEM(test_commands_queue_in_order, setup, urc),
      PER_MODEM(test_cancelled_command_leaves_the_others, setup, plain_modem),
      PER_MODEM(test_stale_channels_are_closed_on_open, setup_unopened, plain_modem),
      PER_MODEM(test_stale_channels_are_closed_on_open, setup_unopened, cme_numeric),
      PER_MODEM(test_stale_channels_are_closed_on_open, setup_unopened, csim_only),
      PER_MODEM(test_no_free_channel_is_refused, setup, one_channel),
      PER_MODEM(test_no_free_channel_is_refused, setup, one_channel_cme),
      PER_MODEM(test_no_free_channel_is_refused, setup, one_channel_csim),
      PER_MODEM(test_plain_sim_has_no_isdr, setup, plain_sim),
      PER_MODEM(test_plain_sim_has_no_isdr, setup, plain_sim_cme),
      PER_MODEM(test_plain_sim_has_no_isdr, setup, plain_sim_csim),
      PER_MODEM(test_single_slot_is_listed, setup, plain_modem),
      PER_MODEM(test_port_held_exclusively_is_busy, setup_unopened, plain_modem),
      PER_MODEM(test_imei_is_read_once_per_transport, setup, plain_modem),
      PER_MODEM(test_imei_is_read_once_per_transport, setup, cgsn_quoted),
      PER_MODEM(test_imei_is_read_once_per_transport, setup, urc),
      PER_MODEM(test_imei_is_read_once_per_transport, setup, cme_numeric),
      PER_MODEM(test_imei_refused_is_not_supported, setup, no_imei),
      PER_MODEM(test_imei_refused_is_not_supported, setup, no_imei_cme),
      PER_MODEM(test_imei_malformed_is_protocol_error, setup, bad_imei),
      PER_MODEM(test_imei_malformed_is_protocol_error, setup, bad_imei_quoted),
      PER_MODEM(test_imei_malformed_is_protocol_error, setup, short_imei),
      PER_MODEM(test_imei_of_other_lengths_is_passed_on, setup, imei_14),
      PER_MODEM(test_imei_of_other_lengths_is_passed_on, setup, imeisv_quoted),
      PER_MODEM(test_modem_sim_frames_answers_like_a_modem, setup_unopened, plain_modem),
      PER_MODEM(test_modem_sim_quirks_show_on_the_wire, setup_unopened, wire_quirks),
      PER_MODEM(test_modem_sim_csim_only_lacks_channel_commands, setup_unopened,
                csim_only_verbose_only),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
