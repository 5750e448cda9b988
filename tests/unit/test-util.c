/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "test-util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <glib/gstdio.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ---- temporary folders ---- */

void test_remove_tree(const char *path)
{
  GDir *d = g_dir_open(path, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name(d))) {
    g_autofree char *p = g_build_filename(path, name, NULL);

    if (g_file_test(p, G_FILE_TEST_IS_DIR))
      test_remove_tree(p);
    else
      g_unlink(p);
  }
  if (d)
    g_dir_close(d);
  g_rmdir(path);
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

gchar *test_transport_get_imei(Transport *t, GError **error)
{
  g_autoptr(GAsyncResult) res = NULL;

  transport_get_imei(t, NULL, test_got_result, &res);
  test_wait_result(&res);
  return transport_get_imei_finish(t, res, error);
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

/* ---- more bounded waiting ---- */

typedef struct {
  const guint *counter;
  guint want;
} CountWait;

static gboolean count_reached(gpointer data)
{
  const CountWait *w = data;

  return *w->counter >= w->want;
}

void test_wait_count(const guint *counter, guint want)
{
  CountWait w = {counter, want};

  if (!test_wait_until(count_reached, &w))
    fail_msg("count %u, not %u, after %d ms", *counter, want, TEST_WAIT_LIMIT_MS);
}

static gboolean count_is_zero(gpointer data)
{
  return *(const guint *)data == 0;
}

void test_wait_count_down(const guint *counter)
{
  if (!test_wait_until(count_is_zero, (gpointer)counter))
    fail_msg("count still %u after %d ms", *counter, TEST_WAIT_LIMIT_MS);
}

/* ---- a fake ModemManager on a private dbus-daemon ---- */

static const char fake_mm_xml[] = "<node>"
                                  " <interface name='org.freedesktop.ModemManager1'>"
                                  "  <method name='InhibitDevice'>"
                                  "   <arg name='uid' type='s' direction='in'/>"
                                  "   <arg name='inhibit' type='b' direction='in'/>"
                                  "  </method>"
                                  " </interface>"
                                  " <interface name='org.freedesktop.DBus.ObjectManager'>"
                                  "  <method name='GetManagedObjects'>"
                                  "   <arg name='objects' type='a{oa{sa{sv}}}' direction='out'/>"
                                  "  </method>"
                                  " </interface>"
                                  "</node>";

/* The private bus dies with the test, even when the test crashes. */
static void bus_child_setup(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/* A private dbus-daemon; returns its address. */
static gchar *bus_start(GPid *pid)
{
  const char *argv[] = {"dbus-daemon", "--session", "--nofork", "--print-address=1", NULL};
  g_autoptr(GError) error = NULL;
  GString *address = g_string_new(NULL);
  int out = -1;
  char c;

  assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
                                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                           G_SPAWN_STDERR_TO_DEV_NULL,
                                       bus_child_setup, NULL, pid, NULL, &out, NULL, &error));
  while (read(out, &c, 1) == 1 && c != '\n')
    g_string_append_c(address, c);
  close(out);
  assert_true(address->len > 0);
  return g_string_free(address, FALSE);
}

void test_fake_mm_start(TestFakeMm *mm, const GDBusInterfaceVTable *vtable, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  mm->address = bus_start(&mm->pid);
  mm->connection =
      g_dbus_connection_new_for_address_sync(mm->address,
                                             G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                             NULL, NULL, &error);
  assert_non_null(mm->connection);
  mm->info = g_dbus_node_info_new_for_xml(fake_mm_xml, &error);
  assert_non_null(mm->info);
  for (guint i = 0; i < G_N_ELEMENTS(mm->registrations); i++) {
    mm->registrations[i] = g_dbus_connection_register_object(
        mm->connection, TEST_MM_PATH, mm->info->interfaces[i], vtable, user_data, NULL, &error);
    assert_true(mm->registrations[i] > 0);
  }
}

void test_fake_mm_return_modem(GDBusMethodInvocation *invocation, const char *device,
                               const char *manufacturer)
{
  GVariantBuilder objects, interfaces, props;

  g_variant_builder_init(&props, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add(&props, "{sv}", "Device", g_variant_new_string(device));
  if (manufacturer)
    g_variant_builder_add(&props, "{sv}", "Manufacturer", g_variant_new_string(manufacturer));
  g_variant_builder_init(&interfaces, G_VARIANT_TYPE("a{sa{sv}}"));
  g_variant_builder_add(&interfaces, "{sa{sv}}", "org.freedesktop.ModemManager1.Modem", &props);
  g_variant_builder_init(&objects, G_VARIANT_TYPE("a{oa{sa{sv}}}"));
  g_variant_builder_add(&objects, "{oa{sa{sv}}}", TEST_MM_PATH "/Modem/0", &interfaces);
  g_dbus_method_invocation_return_value(invocation, g_variant_new("(a{oa{sa{sv}}})", &objects));
}

void test_fake_mm_set_running(TestFakeMm *mm, gboolean running)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
      mm->connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
      running ? "RequestName" : "ReleaseName",
      running ? g_variant_new("(su)", TEST_MM_NAME, 4 /* DO_NOT_QUEUE */)
              : g_variant_new("(s)", TEST_MM_NAME),
      G_VARIANT_TYPE("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  guint32 result = 0;

  assert_non_null(reply);
  g_variant_get(reply, "(u)", &result);
  assert_int_equal(result, 1); /* primary owner / released */
}

void test_fake_mm_stop(TestFakeMm *mm)
{
  for (guint i = 0; i < G_N_ELEMENTS(mm->registrations); i++)
    g_dbus_connection_unregister_object(mm->connection, mm->registrations[i]);
  g_dbus_connection_close_sync(mm->connection, NULL, NULL);
  g_clear_object(&mm->connection);
  /* Let the closes and their callbacks finish before the bus goes. */
  test_drain();
  kill(mm->pid, SIGTERM);
  waitpid(mm->pid, NULL, 0);
  g_spawn_close_pid(mm->pid);
  g_clear_pointer(&mm->address, g_free);
  g_clear_pointer(&mm->info, g_dbus_node_info_unref);
}

/* ---- the service layer, each call waited for ---- */

void test_manager_add_modem(Manager *manager, TransportKind kind, const char *port,
                            const char *device)
{
  ModemSpec spec = {
      .kind = kind,
      .port = (gchar *)port,
      .device = (gchar *)device,
      .flags = TRANSPORT_OPEN_FLAGS_NO_PROXY,
  };

  manager_add_modem(manager, &spec);
}

void test_manager_wait_probed(Manager *manager)
{
  g_autoptr(GAsyncResult) res = NULL;

  manager_wait_probed(manager, NULL, test_got_result, &res);
  test_wait_result(&res);
  assert_true(manager_wait_probed_finish(manager, res, NULL));
}

void test_manager_scan(Manager *manager)
{
  g_autoptr(GAsyncResult) res = NULL;

  manager_scan(manager, SERVICE_READ_MAY_DISTURB, NULL, test_got_result, &res);
  test_wait_result(&res);
  assert_true(manager_scan_finish(manager, res, NULL));
}

void test_manager_shutdown(Manager *manager)
{
  g_autoptr(GAsyncResult) res = NULL;

  manager_shutdown(manager, NULL, test_got_result, &res);
  test_wait_result(&res);
  assert_true(manager_shutdown_finish(manager, res, NULL));
}

void test_manager_stop(Manager *manager)
{
  test_manager_shutdown(manager);
  manager_free(manager);
  test_drain();
}

typedef struct {
  EuiccSim *card;
  guint before;
} ApduSeen;

static gboolean card_saw_apdu(gpointer data)
{
  ApduSeen *w = data;

  return euicc_sim_get_apdu_count(w->card) > w->before;
}

void test_wait_card_apdu(ModemSim *ms, guint slot, guint before)
{
  ApduSeen w = {modem_sim_get_card(ms, slot), before};

  g_assert_true(test_wait_until(card_saw_apdu, &w));
}
