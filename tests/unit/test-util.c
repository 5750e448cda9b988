/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test-util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "es10/es10.h"
#include "transport/iso7816.h"

/* The ISD-R's AID (SGP.22 2.2.3), as EUICC_SIM_ISDR_AID spells it in hex. */
static const guint8 isdr_aid[] = {0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF,
                                  0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00};

/* ---- bounded waiting ---- */

static gboolean on_limit(gpointer data)
{
  *(gboolean *)data = TRUE;
  return G_SOURCE_REMOVE;
}

void test_got_result(GObject *source, GAsyncResult *res, gpointer data)
{
  GAsyncResult **slot = data;

  assert_null(*slot);
  *slot = g_object_ref(res);
}

static gboolean result_arrived(gpointer data)
{
  return *(GAsyncResult **)data != NULL;
}

void test_wait_result(GAsyncResult **slot)
{
  if (!test_wait_until(result_arrived, slot))
    fail_msg("no answer within %d ms", TEST_WAIT_LIMIT_MS);
}

gboolean test_wait_until(TestCondition cond, gpointer data)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add(TEST_WAIT_LIMIT_MS, on_limit, &expired);

  while (!cond(data) && !expired)
    g_main_context_iteration(NULL, TRUE);
  if (!expired)
    g_source_remove(id);
  return !expired;
}

void test_run_for(guint ms)
{
  gboolean expired = FALSE;

  g_timeout_add(ms, on_limit, &expired);
  while (!expired)
    g_main_context_iteration(NULL, TRUE);
}

void test_drain(void)
{
  /* Bounded: a source that keeps itself pending must not hang the test. */
  for (guint i = 0; i < 1000 && g_main_context_pending(NULL); i++)
    g_main_context_iteration(NULL, FALSE);
}

/* ---- cards and modem-sim ---- */

gchar *test_card_path(const char *name)
{
  const char *dir = g_getenv("ESIMD_CARDS_DIR");

  assert_non_null(dir);
  return g_build_filename(dir, name, NULL);
}

EuiccSim *test_card_load(const char *name)
{
  g_autofree gchar *path = test_card_path(name);
  g_autoptr(GError) error = NULL;
  EuiccSim *sim = euicc_sim_new_from_file(path, &error);

  if (!sim)
    fail_msg("cannot load %s: %s", path, error->message);
  return sim;
}

GBytes *test_sim_transmit(gpointer user_data, GBytes *command, GError **error)
{
  gsize len;
  const guint8 *b = g_bytes_get_data(command, &len);
  GBytes *response = euicc_sim_transmit(user_data, b, len);

  if (!response)
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT, "The card did not answer");
  return response;
}

ModemSim *test_modem_sim_start(ModemSimProtocol protocol, const char *const *cards, guint n_cards,
                               const char *const *options, guint n_options)
{
  ModemSim *ms = modem_sim_new(protocol);
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < n_cards; i++) {
    g_autofree gchar *path = NULL;

    if (cards[i] && !g_str_equal(cards[i], "empty"))
      path = test_card_path(cards[i]);
    if (!modem_sim_add_slot(ms, path, &error))
      fail_msg("slot %u (%s): %s", i + 1, cards[i] ? cards[i] : "empty", error->message);
  }
  for (guint i = 0; i < n_options && options[i]; i++)
    if (!modem_sim_set_option(ms, options[i], &error))
      fail_msg("option %s: %s", options[i], error->message);
  if (!modem_sim_start(ms, &error))
    fail_msg("modem-sim: %s", error->message);
  return ms;
}

/* ---- transport calls, each waited for ---- */

GBytes *test_isdr_aid(void)
{
  return g_bytes_new_static(isdr_aid, sizeof isdr_aid);
}

gboolean test_transport_open(Transport *t, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  transport_open(t, NULL, test_got_result, &res);
  test_wait_result(&res);
  return transport_open_finish(t, res, error);
}

GPtrArray *test_transport_list_slots(Transport *t, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  transport_list_slots(t, NULL, test_got_result, &res);
  test_wait_result(&res);
  return transport_list_slots_finish(t, res, error);
}

guint test_transport_open_isdr(Transport *t, guint slot, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GBytes) aid = test_isdr_aid();

  transport_open_channel(t, slot, aid, NULL, test_got_result, &res);
  test_wait_result(&res);
  return transport_open_channel_finish(t, res, error);
}

gboolean test_transport_close_channel(Transport *t, guint slot, guint channel, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  transport_close_channel(t, slot, channel, NULL, test_got_result, &res);
  test_wait_result(&res);
  return transport_close_channel_finish(t, res, error);
}

GBytes *test_transport_transmit(Transport *t, guint slot, guint channel, GBytes *apdu,
                                GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  transport_transmit(t, slot, channel, apdu, NULL, test_got_result, &res);
  test_wait_result(&res);
  return transport_transmit_finish(t, res, error);
}

gboolean test_transport_switch_slot(Transport *t, guint slot, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  transport_switch_slot(t, slot, NULL, test_got_result, &res);
  test_wait_result(&res);
  return transport_switch_slot_finish(t, res, error);
}

gboolean test_transport_reload_sim(Transport *t, guint slot, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  transport_reload_sim(t, slot, NULL, test_got_result, &res);
  test_wait_result(&res);
  return transport_reload_sim_finish(t, res, error);
}

gboolean test_transport_close(Transport *t, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  transport_close(t, NULL, test_got_result, &res);
  test_wait_result(&res);
  return transport_close_finish(t, res, error);
}

GBytes *test_es10_call(Transport *t, guint slot, guint channel, GBytes *request, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  iso7816_store_data_async(t, slot, channel, request, NULL, NULL, test_got_result, &res);
  test_wait_result(&res);
  return iso7816_store_data_finish(res, error);
}

gchar *test_es10_get_eid(Transport *t, guint slot, guint channel, GError **error)
{
  g_autoptr(GBytes) req = es10c_get_eid_encode();
  g_autoptr(GBytes) rsp = test_es10_call(t, slot, channel, req, error);
  gchar *eid = NULL;

  if (!rsp ||
      !es10c_get_eid_decode(g_bytes_get_data(rsp, NULL), g_bytes_get_size(rsp), &eid, error))
    return NULL;
  return eid;
}
