/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The manager: modems in, eUICCs out. Several modems probed in parallel,
 * plain SIMs skipped, a modem that cannot be opened tried again on Scan, a
 * card that appears found by Scan, an unplugged modem taking its eUICCs
 * with it, ids never reused, shutdown closing every channel. Against
 * modem-sim in QMI mode on one main context; every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "modem-sim.h"
#include "service/service.h"
#include "test-util.h"

#define EID_THREE "89049032123451234512345678901235"
#define EID_PPR "89049032123451234512345678902002"

typedef struct {
  ModemSim *ms[2];
  Manager *manager;
  GPtrArray *events; /* gchar* */
  guint added;
  guint removed;
  gchar *tmpdir;
} Fixture;

/* ---- listener ------------------------------------------------------------ */

static void on_euicc_added(Euicc *euicc, gpointer data)
{
  Fixture *f = data;

  f->added++;
  g_ptr_array_add(f->events,
                  g_strdup_printf("added %u %s", euicc_get_id(euicc), euicc_get_eid(euicc)));
}

static void on_euicc_removed(Euicc *euicc, gpointer data)
{
  Fixture *f = data;

  f->removed++;
  g_ptr_array_add(f->events, g_strdup_printf("removed %u", euicc_get_id(euicc)));
}

static const ServiceListener listener = {
    .euicc_added = on_euicc_added,
    .euicc_removed = on_euicc_removed,
};

static const char *event(Fixture *f, guint i)
{
  assert_true(i < f->events->len);
  return g_ptr_array_index(f->events, i);
}

/* ---- fixture -------------------------------------------------------------- */

static ModemSim *start_modem_with(ModemSimProtocol protocol, const char *const *cards,
                                  const char *option)
{
  return test_modem_sim_start(protocol, cards, g_strv_length((gchar **)cards), &option, 1);
}

static ModemSim *start_modem(const char *const *cards, const char *option)
{
  return start_modem_with(MODEM_SIM_PROTOCOL_QMI, cards, option);
}

static void add_modem_kind(Fixture *f, TransportKind kind, const char *port)
{
  test_manager_add_modem(f->manager, kind, port, "");
}

static void add_modem_at(Fixture *f, const char *port)
{
  add_modem_kind(f, TRANSPORT_KIND_QMI, port);
}

static void wait_probed(Fixture *f)
{
  test_manager_wait_probed(f->manager);
}

static void scan(Fixture *f)
{
  test_manager_scan(f->manager);
}

static int setup(void **state)
{
  Fixture *f = g_new0(Fixture, 1);
  ManagerConfig config = {.transport_timeout_ms = 5000};

  f->events = g_ptr_array_new_with_free_func(g_free);
  f->manager = manager_new(&config, &listener, f);
  f->tmpdir = g_dir_make_tmp("esimd-manager-XXXXXX", NULL);
  assert_non_null(f->tmpdir);
  *state = f;
  return 0;
}

static void shutdown_manager(Fixture *f)
{
  test_manager_shutdown(f->manager);
}

static int teardown(void **state)
{
  Fixture *f = *state;
  g_autofree char *link = g_build_filename(f->tmpdir, "modem0", NULL);

  if (f->manager) {
    shutdown_manager(f);
    manager_free(f->manager);
  }
  test_drain();
  for (guint i = 0; i < G_N_ELEMENTS(f->ms); i++)
    g_clear_pointer(&f->ms[i], modem_sim_free);
  test_drain();
  unlink(link);
  rmdir(f->tmpdir);
  g_free(f->tmpdir);
  g_ptr_array_unref(f->events);
  g_free(f);
  return 0;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_two_modems_are_probed_in_parallel(void **state)
{
  Fixture *f = *state;
  const char *slow_cards[] = {"three-profiles.card", NULL};
  const char *fast_cards[] = {"ppr.card", NULL};
  Euicc *slow, *fast;
  g_autoptr(GAsyncResult) res_slow = NULL;
  g_autoptr(GAsyncResult) res_fast = NULL;

  /* The first modem added answers slowly; had the probes run one after the
   * other, its eUICC would be announced first. */
  f->ms[0] = start_modem(slow_cards, "delay-ms=150");
  f->ms[1] = start_modem(fast_cards, NULL);
  add_modem_at(f, modem_sim_get_port(f->ms[0]));
  add_modem_at(f, modem_sim_get_port(f->ms[1]));
  wait_probed(f);

  assert_int_equal(manager_get_euiccs(f->manager)->len, 2);
  assert_string_equal(event(f, 0), "added 0 " EID_PPR);
  assert_string_equal(event(f, 1), "added 1 " EID_THREE);
  fast = manager_lookup_euicc(f->manager, 0);
  slow = manager_lookup_euicc(f->manager, 1);
  assert_string_equal(euicc_get_port(fast), modem_sim_get_port(f->ms[1]));
  assert_string_equal(euicc_get_port(slow), modem_sim_get_port(f->ms[0]));

  /* Operations on the two cards run side by side too. */
  euicc_profile_enable(slow, ((const Profile *)g_ptr_array_index(euicc_get_profiles(slow), 1))->id,
                       NULL, test_got_result, &res_slow);
  euicc_profile_set_nickname(fast, 0, "Fast", NULL, test_got_result, &res_fast);
  test_wait_result(&res_fast);
  assert_null(res_slow);
  assert_true(euicc_operation_finish(fast, res_fast, NULL));
  test_wait_result(&res_slow);
  assert_true(euicc_operation_finish(slow, res_slow, NULL));
  assert_int_equal(
      euicc_sim_get_profile_state(modem_sim_get_card(f->ms[0], 1), "89012604100000123456"), 1);
}

static void test_modem_with_plain_sim_has_no_euicc(void **state)
{
  Fixture *f = *state;
  const char *cards[] = {"plain-sim.card", NULL};

  f->ms[0] = start_modem(cards, NULL);
  add_modem_at(f, modem_sim_get_port(f->ms[0]));
  wait_probed(f);
  assert_int_equal(manager_get_euiccs(f->manager)->len, 0);
  assert_int_equal(f->events->len, 0);
  /* Every ISD-R AID was asked for; the card answered each with 6A82. */
  assert_true(euicc_sim_get_apdu_count(modem_sim_get_card(f->ms[0], 1)) > 0);
}

static void test_at_euicc_without_enabled_profile_is_found(void **state)
{
  Fixture *f = *state;
  const char *cards[] = {"empty.card", NULL};

  /* The modem follows the card: with no profile enabled it answers +CPIN?
   * "+CME ERROR: 10" (SIM not inserted), as modems do; the ISD-R answers
   * all the same. */
  const char *options[] = {"quirk=profile-sim", "quirk=cme-error"};

  f->ms[0] = test_modem_sim_start(MODEM_SIM_PROTOCOL_AT, cards, 1, options, 2);
  add_modem_kind(f, TRANSPORT_KIND_AT, modem_sim_get_port(f->ms[0]));
  wait_probed(f);
  assert_int_equal(manager_get_euiccs(f->manager)->len, 1);
  assert_string_equal(euicc_get_eid(g_ptr_array_index(manager_get_euiccs(f->manager), 0)),
                      euicc_sim_get_eid(modem_sim_get_card(f->ms[0], 1)));
}

static void test_scan_finds_card_that_appeared(void **state)
{
  Fixture *f = *state;
  const char *cards[] = {"plain-sim.card", NULL};
  g_autofree char *path = g_build_filename(g_getenv("ESIMD_CARDS_DIR"), "empty.card", NULL);
  g_autoptr(GError) error = NULL;
  Euicc *euicc;

  f->ms[0] = start_modem(cards, NULL);
  add_modem_at(f, modem_sim_get_port(f->ms[0]));
  wait_probed(f);
  assert_int_equal(manager_get_euiccs(f->manager)->len, 0);

  /* An eUICC goes into a second slot, and the modem switches to it. */
  assert_true(modem_sim_add_slot(f->ms[0], path, &error));
  modem_sim_set_active_slot(f->ms[0], 2);
  scan(f);
  assert_int_equal(manager_get_euiccs(f->manager)->len, 1);
  euicc = manager_lookup_euicc(f->manager, 0);
  assert_non_null(euicc);
  assert_int_equal(euicc_get_slot(euicc), 2);
  assert_int_equal(f->added, 1);

  /* A second Scan finds nothing new and keeps the eUICC. */
  scan(f);
  assert_int_equal(manager_get_euiccs(f->manager)->len, 1);
  assert_int_equal(f->added, 1);
  assert_int_equal(f->removed, 0);
}

static void test_modem_that_fails_to_open_is_retried_on_scan(void **state)
{
  Fixture *f = *state;
  const char *cards[] = {"three-profiles.card", NULL};
  g_autofree char *link = g_build_filename(f->tmpdir, "modem0", NULL);

  /* The port is not there yet: the probe fails, waiting still completes. */
  add_modem_at(f, link);
  wait_probed(f);
  assert_int_equal(manager_get_euiccs(f->manager)->len, 0);

  f->ms[0] = start_modem(cards, NULL);
  assert_int_equal(symlink(modem_sim_get_port(f->ms[0]), link), 0);
  scan(f);
  assert_int_equal(manager_get_euiccs(f->manager)->len, 1);
  assert_string_equal(event(f, 0), "added 0 " EID_THREE);
}

static void test_unplugged_modem_takes_its_euicc_and_ids_are_not_reused(void **state)
{
  Fixture *f = *state;
  const char *cards[] = {"three-profiles.card", NULL};
  const char *other[] = {"ppr.card", NULL};

  f->ms[0] = start_modem(cards, NULL);
  add_modem_at(f, modem_sim_get_port(f->ms[0]));
  wait_probed(f);
  assert_int_equal(f->added, 1);

  modem_sim_unplug(f->ms[0]);
  test_wait_count(&f->removed, 1);
  assert_string_equal(event(f, 1), "removed 0");
  assert_int_equal(manager_get_euiccs(f->manager)->len, 0);
  assert_null(manager_lookup_euicc(f->manager, 0));

  f->ms[1] = start_modem(other, NULL);
  add_modem_at(f, modem_sim_get_port(f->ms[1]));
  wait_probed(f);
  assert_string_equal(event(f, 2), "added 1 " EID_PPR);
  assert_non_null(manager_lookup_euicc(f->manager, 1));
}

static void test_shutdown_closes_every_channel(void **state)
{
  Fixture *f = *state;
  const char *cards[] = {"three-profiles.card", NULL};
  EuiccSim *card;

  f->ms[0] = start_modem(cards, NULL);
  add_modem_at(f, modem_sim_get_port(f->ms[0]));
  wait_probed(f);
  card = modem_sim_get_card(f->ms[0], 1);
  assert_int_not_equal(euicc_sim_get_open_channels(card), 0);

  shutdown_manager(f);
  assert_int_equal(euicc_sim_get_open_channels(card), 0);
  manager_free(f->manager);
  f->manager = NULL;
}

static void test_removed_modem_takes_its_euicc(void **state)
{
  Fixture *f = *state;
  const char *cards[] = {"three-profiles.card", NULL};

  f->ms[0] = start_modem(cards, NULL);
  add_modem_at(f, modem_sim_get_port(f->ms[0]));
  wait_probed(f);
  assert_int_equal(f->added, 1);

  /* Discovery says the modem went away. */
  manager_remove_modem(f->manager, modem_sim_get_port(f->ms[0]));
  assert_int_equal(f->removed, 1);
  assert_string_equal(event(f, 1), "removed 0");
  assert_int_equal(manager_get_euiccs(f->manager)->len, 0);
  /* An unknown port changes nothing; a Scan no longer knows the modem. */
  manager_remove_modem(f->manager, "/dev/does-not-exist");
  scan(f);
  assert_int_equal(manager_get_euiccs(f->manager)->len, 0);
  assert_int_equal(f->events->len, 2);
}

static void test_euicc_in_inactive_slot_is_listed_and_read_once_active(void **state)
{
  Fixture *f = *state;
  const char *cards[] = {"three-profiles.card", "eight-icons.card", NULL};
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  Euicc *active, *inactive;

  f->ms[0] = start_modem(cards, NULL);
  add_modem_at(f, modem_sim_get_port(f->ms[0]));
  wait_probed(f);

  /* Both eUICCs are there; the one in the slot the modem does not use is
   * known by the EID the modem reports, and cannot be reached yet. */
  assert_int_equal(manager_get_euiccs(f->manager)->len, 2);
  active = manager_lookup_euicc(f->manager, 0);
  inactive = manager_lookup_euicc(f->manager, 1);
  assert_int_equal(euicc_get_slot(active), 1);
  assert_true(euicc_get_slot_active(active));
  assert_int_equal(euicc_get_slot(inactive), 2);
  assert_false(euicc_get_slot_active(inactive));
  assert_string_equal(euicc_get_eid(inactive), euicc_sim_get_eid(modem_sim_get_card(f->ms[0], 2)));
  assert_int_equal(euicc_get_profiles(inactive)->len, 0);
  euicc_refresh(inactive, SERVICE_READ_MAY_DISTURB, NULL, test_got_result, &res);
  test_wait_result(&res);
  assert_false(euicc_operation_finish(inactive, res, &error));
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_NOT_SUPPORTED));

  /* The modem switches to slot 2: a Scan reads that card, same object. */
  modem_sim_set_active_slot(f->ms[0], 2);
  scan(f);
  assert_int_equal(manager_get_euiccs(f->manager)->len, 2);
  assert_ptr_equal(manager_lookup_euicc(f->manager, 1), inactive);
  assert_true(euicc_get_slot_active(inactive));
  assert_false(euicc_get_slot_active(active));
  assert_int_equal(euicc_get_profiles(inactive)->len, 8);
  assert_int_equal(f->added, 2);
  assert_int_equal(f->removed, 0);
}

/* The same service over each kind of modem: probe, then a profile switch. */
static void probe_and_switch_over(Fixture *f, ModemSimProtocol protocol, TransportKind kind)
{
  const char *cards[] = {"three-profiles.card", NULL};
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  EuiccSim *card;
  Euicc *euicc;
  const Profile *second;

  f->ms[0] = start_modem_with(protocol, cards, NULL);
  card = modem_sim_get_card(f->ms[0], 1);
  add_modem_kind(f, kind, modem_sim_get_port(f->ms[0]));
  wait_probed(f);
  assert_int_equal(manager_get_euiccs(f->manager)->len, 1);
  euicc = manager_lookup_euicc(f->manager, 0);
  assert_string_equal(euicc_get_eid(euicc), EID_THREE);
  assert_string_equal(euicc_get_transport(euicc), transport_kind_to_string(kind));
  assert_int_equal(euicc_get_profiles(euicc)->len, 3);

  second = g_ptr_array_index(euicc_get_profiles(euicc), 1);
  euicc_profile_enable(euicc, second->id, NULL, test_got_result, &res);
  test_wait_result(&res);
  assert_true(euicc_operation_finish(euicc, res, &error));
  assert_null(error);
  assert_ptr_equal(euicc_get_enabled_profile(euicc), second);
  assert_int_equal(euicc_sim_get_profile_state(card, second->iccid), 1);
}

static void test_probe_and_switch_over_mbim(void **state)
{
  probe_and_switch_over(*state, MODEM_SIM_PROTOCOL_MBIM, TRANSPORT_KIND_MBIM);
}

static void test_probe_and_switch_over_at(void **state)
{
  probe_and_switch_over(*state, MODEM_SIM_PROTOCOL_AT, TRANSPORT_KIND_AT);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_two_modems_are_probed_in_parallel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_modem_with_plain_sim_has_no_euicc, setup, teardown),
      cmocka_unit_test_setup_teardown(test_at_euicc_without_enabled_profile_is_found, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_scan_finds_card_that_appeared, setup, teardown),
      cmocka_unit_test_setup_teardown(test_modem_that_fails_to_open_is_retried_on_scan, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unplugged_modem_takes_its_euicc_and_ids_are_not_reused,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_shutdown_closes_every_channel, setup, teardown),
      cmocka_unit_test_setup_teardown(test_removed_modem_takes_its_euicc, setup, teardown),
      cmocka_unit_test_setup_teardown(test_euicc_in_inactive_slot_is_listed_and_read_once_active,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_probe_and_switch_over_mbim, setup, teardown),
      cmocka_unit_test_setup_teardown(test_probe_and_switch_over_at, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
