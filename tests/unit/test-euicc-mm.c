/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * esimd beside ModemManager, through the service layer: a profile switch is
 * wrapped in InhibitDevice(device, true) before the card sees it and
 * InhibitDevice(device, false) after, whatever its outcome; an AT port that
 * ModemManager holds is used only inside inhibition windows (the probe, then
 * each burst of operations), closed between them, and the modem given back
 * after each; without ModemManager everything works as before. A fake
 * ModemManager on a private dbus-daemon records every InhibitDevice call
 * with the number of APDUs the card had seen by then, and plays the AT
 * port's owner: it lets go of the port (TIOCEXCL) when inhibited and takes
 * it again when given the modem back; modem-sim plays the modem. Also the AT quirk that comes with
 * a modem from discovery: +CSIM only, against a scripted AT modem on a pty that records every
 * command. And the modem's IMEI, read once per modem (modem_get_imei), inside one
 * inhibition window when ModemManager owns the AT port. Every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <glib-unix.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "system/mm.h"
#include "modem-sim.h"
#include "service/service-private.h"
#include "test-util.h"

#define MODEM_DEVICE "/sys/devices/pci0000:00/0000:00:14.0/usb2/2-3"

#define ICCID_FIRST "8944476500001234567"   /* three-profiles: enabled */
#define ICCID_SECOND "89012604100000123456" /* three-profiles: disabled */
#define ICCID_THIRD "89445001000000654321"  /* three-profiles: disabled */
#define ICCID_PPR1 "8944500000000000101"    /* ppr: enabled, may not be disabled */
/* How long esimd keeps a modem whose AT port ModemManager owns after the
 * last operation: short, so that the tests wait for the release as an
 * event; and a hold that outlasts any test, where one asserts on the hold. */
#define TEST_LINGER_MS 20
#define HOLD_LINGER_MS (10 * 60 * 1000)

typedef struct {
  gchar *uid;
  gboolean inhibit;
  guint apdus;        /* what the card in slot 1 had seen when the call came */
  guint32 channels;   /* the logical channels open on the card then */
  gboolean port_free; /* uninhibit: nobody held the AT port when the owner took it back */
} InhibitCall;

typedef struct {
  ModemSimProtocol protocol;
  const char *card;
  const char *option;
  gboolean mm_running;   /* the fake owns ModemManager's name */
  gboolean hold_port;    /* another program holds the port with TIOCEXCL */
  gboolean late_release; /* the fake lets go of the port a moment after it answers */
} SimSetup;

typedef struct {
  ModemSim *ms;
  Manager *manager;
  MmClient *mm;
  guint removed;
  TestFakeMm fake;
  GPtrArray *calls; /* InhibitCall* */
  int holder;       /* the fd holding the AT port exclusively, -1 when none */
  gboolean owner;   /* the fake ModemManager owns the AT port (takes it back) */
  gboolean late_release;
} Fixture;

/* ---- bounded waiting ---------------------------------------------------- */

static void wait_calls(Fixture *f, guint want)
{
  test_wait_count(&f->calls->len, want);
  assert_int_equal(f->calls->len, want);
}

/* ---- the fake ModemManager ---------------------------------------------- */

static void inhibit_call_free(InhibitCall *c)
{
  g_free(c->uid);
  g_free(c);
}

static guint card_apdus(Fixture *f)
{
  return euicc_sim_get_apdu_count(modem_sim_get_card(f->ms, 1));
}

static void release_port(Fixture *f)
{
  if (f->holder < 0)
    return;
  ioctl(f->holder, TIOCNXCL);
  close(f->holder);
  f->holder = -1;
}

/* As ModemManager does: it answers InhibitDevice, then closes its ports. */
static gboolean release_port_later(gpointer data)
{
  release_port(data);
  return G_SOURCE_REMOVE;
}

/* TRUE when someone holds the port with TIOCEXCL. root opens it anyway;
 * anyone else is refused. */
static gboolean port_is_exclusive(Fixture *f)
{
  int excl = 0;
  int fd = open(modem_sim_get_port(f->ms), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

  if (fd < 0)
    return TRUE;
  if (ioctl(fd, TIOCGEXCL, &excl) < 0)
    excl = 0;
  close(fd);
  return excl != 0;
}

/* The owner takes its port back, as ModemManager does when it gets the
 * modem back; whether esimd had let go of it by then is recorded. */
static void take_port(Fixture *f, InhibitCall *c)
{
  c->port_free = !port_is_exclusive(f);
  if (f->holder >= 0)
    return;
  f->holder = open(modem_sim_get_port(f->ms), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (f->holder >= 0 && ioctl(f->holder, TIOCEXCL) < 0)
    release_port(f);
}

static void fake_method_call(GDBusConnection *connection, const char *sender,
                             const char *object_path, const char *interface_name,
                             const char *method_name, GVariant *parameters,
                             GDBusMethodInvocation *invocation, gpointer user_data)
{
  Fixture *f = user_data;

  if (g_str_equal(method_name, "GetManagedObjects")) {
    test_fake_mm_return_modem(invocation, MODEM_DEVICE, NULL);
    return;
  }
  if (g_str_equal(method_name, "InhibitDevice")) {
    InhibitCall *c = g_new0(InhibitCall, 1);

    g_variant_get(parameters, "(sb)", &c->uid, &c->inhibit);
    c->apdus = card_apdus(f);
    c->channels = euicc_sim_get_open_channels(modem_sim_get_card(f->ms, 1));
    g_ptr_array_add(f->calls, c);
    /* ModemManager closes the modem's ports when it is inhibited, and
     * opens them again when it has the modem back. */
    if (c->inhibit && f->late_release)
      g_timeout_add(150, release_port_later, f);
    else if (c->inhibit)
      release_port(f);
    else if (f->owner && !modem_sim_is_unplugged(f->ms))
      take_port(f, c);
    g_dbus_method_invocation_return_value(invocation, NULL);
    return;
  }
  g_dbus_method_invocation_return_dbus_error(invocation, "org.freedesktop.DBus.Error.UnknownMethod",
                                             method_name);
}

static const GDBusInterfaceVTable fake_vtable = {.method_call = fake_method_call};

static const InhibitCall *call_at(Fixture *f, guint i)
{
  assert_true(i < f->calls->len);
  return g_ptr_array_index(f->calls, i);
}

/* ---- fixtures ------------------------------------------------------------ */

static void on_euicc_removed(Euicc *euicc, gpointer data)
{
  Fixture *f = data;

  f->removed++;
}

static const ServiceListener listener = {
    .euicc_removed = on_euicc_removed,
};

static int setup_with(void **state, const SimSetup *s)
{
  Fixture *f = g_new0(Fixture, 1);
  /* The fake ModemManager reports no SIM: a switch waits this long for one. */
  ManagerConfig config = {
      .transport_timeout_ms = 5000, .linger_ms = TEST_LINGER_MS, .sim_wait_ms = 50};

  f->holder = -1;
  f->late_release = s->late_release;
  f->calls = g_ptr_array_new_with_free_func((GDestroyNotify)inhibit_call_free);
  test_fake_mm_start(&f->fake, &fake_vtable, f);
  if (s->mm_running)
    test_fake_mm_set_running(&f->fake, TRUE);
  f->ms = test_modem_sim_start(s->protocol, &s->card, 1, &s->option, 1);
  if (s->hold_port) {
    f->holder = open(modem_sim_get_port(f->ms), O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(f->holder >= 0);
    assert_int_equal(ioctl(f->holder, TIOCEXCL), 0);
    f->owner = s->mm_running;
  }

  f->mm = mm_client_new(f->fake.address);
  config.mm = f->mm;
  f->manager = manager_new(&config, &listener, f);
  test_manager_add_modem(
      f->manager, s->protocol == MODEM_SIM_PROTOCOL_AT ? TRANSPORT_KIND_AT : TRANSPORT_KIND_QMI,
      modem_sim_get_port(f->ms), MODEM_DEVICE);
  test_manager_wait_probed(f->manager);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  Fixture *f = *state;

  test_manager_stop(f->manager);
  mm_client_free(f->mm);
  test_drain();
  modem_sim_free(f->ms);
  test_drain();
  release_port(f);
  test_fake_mm_stop(&f->fake);
  g_ptr_array_unref(f->calls);
  g_free(f);
  return 0;
}

static int setup_three(void **state)
{
  static const SimSetup s = {
      .protocol = MODEM_SIM_PROTOCOL_QMI, .card = "three-profiles.card", .mm_running = TRUE};

  return setup_with(state, &s);
}

static int setup_ppr(void **state)
{
  static const SimSetup s = {
      .protocol = MODEM_SIM_PROTOCOL_QMI, .card = "ppr.card", .mm_running = TRUE};

  return setup_with(state, &s);
}

static int setup_slow(void **state)
{
  static const SimSetup s = {.protocol = MODEM_SIM_PROTOCOL_QMI,
                             .card = "three-profiles.card",
                             .option = "delay-ms=100",
                             .mm_running = TRUE};

  return setup_with(state, &s);
}

static int setup_no_mm(void **state)
{
  static const SimSetup s = {.protocol = MODEM_SIM_PROTOCOL_QMI, .card = "three-profiles.card"};

  return setup_with(state, &s);
}

static int setup_at_held(void **state)
{
  static const SimSetup s = {.protocol = MODEM_SIM_PROTOCOL_AT,
                             .card = "three-profiles.card",
                             .mm_running = TRUE,
                             .hold_port = TRUE};

  return setup_with(state, &s);
}

static int setup_at_held_late_release(void **state)
{
  static const SimSetup s = {.protocol = MODEM_SIM_PROTOCOL_AT,
                             .card = "three-profiles.card",
                             .mm_running = TRUE,
                             .hold_port = TRUE,
                             .late_release = TRUE};

  return setup_with(state, &s);
}

static int setup_at_free(void **state)
{
  static const SimSetup s = {
      .protocol = MODEM_SIM_PROTOCOL_AT, .card = "three-profiles.card", .mm_running = TRUE};

  return setup_with(state, &s);
}

static int setup_at_held_no_mm(void **state)
{
  static const SimSetup s = {
      .protocol = MODEM_SIM_PROTOCOL_AT, .card = "three-profiles.card", .hold_port = TRUE};

  return setup_with(state, &s);
}

/* ---- operations ---------------------------------------------------------- */

static Euicc *the_euicc(Fixture *f)
{
  assert_int_equal(manager_get_euiccs(f->manager)->len, 1);
  return g_ptr_array_index(manager_get_euiccs(f->manager), 0);
}

static guint id_of(Euicc *euicc, const char *iccid)
{
  GPtrArray *profiles = euicc_get_profiles(euicc);

  for (guint i = 0; i < profiles->len; i++) {
    const Profile *p = g_ptr_array_index(profiles, i);

    if (g_str_equal(p->iccid, iccid))
      return p->id;
  }
  fail_msg("no profile %s", iccid);
  return 0;
}

typedef struct {
  Fixture *f;
  GAsyncResult *res;
  guint calls_at_answer; /* InhibitDevice calls seen when the answer came */
  gpointer data;
} Answer;

static void got_answer(GObject *source, GAsyncResult *res, gpointer data)
{
  Answer *a = data;

  assert_null(a->res);
  a->res = g_object_ref(res);
  a->calls_at_answer = a->f->calls->len;
}

typedef enum { OP_ENABLE, OP_DISABLE, OP_RESET } SwitchOp;

static gboolean run_op(Fixture *f, SwitchOp op, guint arg, Answer *a, GError **error)
{
  Euicc *euicc = the_euicc(f);

  a->f = f;
  switch (op) {
  case OP_ENABLE:
    euicc_profile_enable(euicc, arg, NULL, got_answer, a);
    break;
  case OP_DISABLE:
    euicc_profile_disable(euicc, arg, NULL, got_answer, a);
    break;
  case OP_RESET:
    euicc_reset_memory(euicc, arg, NULL, got_answer, a);
    break;
  }
  test_wait_result(&a->res);
  return euicc_operation_finish(euicc, a->res, error);
}

/*
 * The two calls of one switch: inhibit before the card saw anything of it,
 * uninhibit after its last APDU and before the caller heard back.
 */
static void assert_wrapped(Fixture *f, const Answer *a, guint apdus_before)
{
  assert_int_equal(f->calls->len, 2);
  assert_string_equal(call_at(f, 0)->uid, MODEM_DEVICE);
  assert_true(call_at(f, 0)->inhibit);
  assert_int_equal(call_at(f, 0)->apdus, apdus_before);
  assert_string_equal(call_at(f, 1)->uid, MODEM_DEVICE);
  assert_false(call_at(f, 1)->inhibit);
  assert_int_equal(call_at(f, 1)->apdus, card_apdus(f));
  assert_int_equal(a->calls_at_answer, 2);
}

/* ---- tests --------------------------------------------------------------- */

static void test_enable_is_wrapped_in_inhibition(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  guint before = card_apdus(f);
  Answer a = {0};
  g_autoptr(GError) error = NULL;

  assert_int_equal(f->calls->len, 0); /* the probe inhibits nothing */
  if (!run_op(f, OP_ENABLE, id_of(euicc, ICCID_SECOND), &a, &error))
    fail_msg("enable: %s", error->message);
  g_clear_object(&a.res);
  assert_true(card_apdus(f) > before);
  assert_int_equal(euicc_sim_get_profile_state(modem_sim_get_card(f->ms, 1), ICCID_SECOND), 1);
  assert_wrapped(f, &a, before);
}

static void test_disable_is_wrapped_in_inhibition(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  guint before = card_apdus(f);
  Answer a = {0};
  g_autoptr(GError) error = NULL;

  if (!run_op(f, OP_DISABLE, id_of(euicc, ICCID_FIRST), &a, &error))
    fail_msg("disable: %s", error->message);
  g_clear_object(&a.res);
  assert_int_equal(euicc_sim_get_profile_state(modem_sim_get_card(f->ms, 1), ICCID_FIRST), 0);
  assert_null(euicc_get_enabled_profile(euicc));
  assert_wrapped(f, &a, before);
}

static void test_memory_reset_is_wrapped_in_inhibition(void **state)
{
  Fixture *f = *state;
  guint before = card_apdus(f);
  Answer a = {0};
  g_autoptr(GError) error = NULL;

  if (!run_op(f, OP_RESET, 1 /* operational profiles */, &a, &error))
    fail_msg("reset: %s", error->message);
  g_clear_object(&a.res);
  assert_null(euicc_get_enabled_profile(the_euicc(f)));
  assert_wrapped(f, &a, before);
}

static void test_address_only_reset_inhibits_nothing(void **state)
{
  Fixture *f = *state;
  Answer a = {0};
  g_autoptr(GError) error = NULL;

  if (!run_op(f, OP_RESET, 4 /* default SM-DP+ address */, &a, &error))
    fail_msg("reset: %s", error->message);
  g_clear_object(&a.res);
  assert_int_equal(f->calls->len, 0);
}

static void test_card_refusal_gives_modem_back(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  guint before = card_apdus(f);
  Answer a = {0};
  g_autoptr(GError) error = NULL;

  /* PPR1: the card itself refuses the disable. */
  assert_false(run_op(f, OP_DISABLE, id_of(euicc, ICCID_PPR1), &a, &error));
  g_clear_object(&a.res);
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_DISALLOWED_BY_POLICY));
  assert_true(card_apdus(f) > before);
  assert_int_equal(euicc_sim_get_profile_state(modem_sim_get_card(f->ms, 1), ICCID_PPR1), 1);
  assert_wrapped(f, &a, before);
}

static void test_refusal_from_cache_inhibits_nothing(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  Answer a = {0};
  g_autoptr(GError) error = NULL;

  /* Already enabled: refused before anything reaches the card or
   * ModemManager. */
  assert_false(run_op(f, OP_ENABLE, id_of(euicc, ICCID_FIRST), &a, &error));
  g_clear_object(&a.res);
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_PROFILE_ENABLED));
  assert_int_equal(f->calls->len, 0);
}

static void test_unplug_mid_switch_gives_modem_back(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  Answer a = {0};
  g_autoptr(GError) error = NULL;

  guint before = card_apdus(f);

  /* Every answer takes 100 ms: the unplug lands once the card has the
   * enable's command, while the modem has not answered it yet. */
  a.f = f;
  euicc_profile_enable(euicc, id_of(euicc, ICCID_SECOND), NULL, got_answer, &a);
  test_wait_card_apdu(f->ms, 1, before);
  modem_sim_unplug(f->ms);
  test_wait_result(&a.res);
  assert_false(euicc_operation_finish(euicc, a.res, &error));
  g_clear_object(&a.res);
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_REMOVED));
  wait_calls(f, 2);
  assert_string_equal(call_at(f, 0)->uid, MODEM_DEVICE);
  assert_true(call_at(f, 0)->inhibit);
  assert_string_equal(call_at(f, 1)->uid, MODEM_DEVICE);
  assert_false(call_at(f, 1)->inhibit);
  test_wait_count(&f->removed, 1);
  assert_int_equal(f->removed, 1);
}

static void test_without_modemmanager_switches_work(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  Answer a = {0};
  Answer b = {0};
  g_autoptr(GError) error = NULL;

  if (!run_op(f, OP_ENABLE, id_of(euicc, ICCID_SECOND), &a, &error))
    fail_msg("enable: %s", error->message);
  g_clear_object(&a.res);
  if (!run_op(f, OP_DISABLE, id_of(euicc, ICCID_SECOND), &b, &error))
    fail_msg("disable: %s", error->message);
  g_clear_object(&b.res);
  assert_null(euicc_get_enabled_profile(euicc));
  assert_int_equal(f->calls->len, 0);
}

/*
 * The calls so far make n inhibition windows of an AT port ModemManager
 * owns: inhibit, uninhibit, in turn. Every APDU the card saw came inside a
 * window, every window was used, and when ModemManager got the modem back
 * the card's channels and the port were closed.
 */
static void assert_windows(Fixture *f, guint n)
{
  assert_int_equal(f->calls->len, 2 * n);
  for (guint i = 0; i < f->calls->len; i++) {
    const InhibitCall *c = call_at(f, i);

    assert_string_equal(c->uid, MODEM_DEVICE);
    assert_int_equal(c->inhibit, i % 2 == 0);
    if (i % 2 == 1) {
      assert_true(c->apdus > call_at(f, i - 1)->apdus);
      assert_int_equal(c->channels, 0);
      assert_true(c->port_free);
    } else {
      assert_int_equal(c->apdus, i == 0 ? 0 : call_at(f, i - 1)->apdus);
    }
  }
  assert_int_equal(card_apdus(f), call_at(f, f->calls->len - 1)->apdus);
}

static void queue_nickname(Fixture *f, const char *iccid, const char *nickname, Answer *a)
{
  Euicc *euicc = the_euicc(f);

  a->f = f;
  euicc_profile_set_nickname(euicc, id_of(euicc, iccid), nickname, NULL, got_answer, a);
}

static void assert_answered_ok(Fixture *f, Answer *a)
{
  g_autoptr(GError) error = NULL;

  test_wait_result(&a->res);
  if (!euicc_operation_finish(the_euicc(f), a->res, &error))
    fail_msg("operation: %s", error->message);
  g_clear_object(&a->res);
}

static void test_busy_at_port_is_given_back_after_the_probe(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  const Profile *enabled;
  guint apdus;

  /* The probe found the port busy, had ModemManager release the modem,
   * read the card, closed the port and gave the modem back. */
  wait_calls(f, 2);
  assert_windows(f, 1);
  assert_true(f->holder >= 0);
  assert_true(port_is_exclusive(f));

  /* What it read is served from the cache, without the modem. */
  apdus = card_apdus(f);
  assert_string_equal(euicc_get_eid(euicc), euicc_sim_get_eid(modem_sim_get_card(f->ms, 1)));
  assert_int_equal(euicc_get_profiles(euicc)->len, 3);
  enabled = euicc_get_enabled_profile(euicc);
  assert_non_null(enabled);
  assert_string_equal(enabled->iccid, ICCID_FIRST);
  assert_string_equal(enabled->nickname, "Work");
  assert_true(*euicc_get_info(euicc)->svn);
  assert_int_equal(card_apdus(f), apdus);
  assert_int_equal(f->calls->len, 2);
}

static void test_busy_at_port_still_closing_after_inhibit_is_waited_for(void **state)
{
  Fixture *f = *state;

  /* ModemManager answered InhibitDevice before it let go of its port: the
   * probe tried again until the port was free, and read the card. */
  wait_calls(f, 2);
  assert_windows(f, 1);
  assert_int_equal(euicc_get_profiles(the_euicc(f))->len, 3);
  assert_true(f->holder >= 0);
}

static void test_busy_at_port_each_operation_takes_the_modem_again(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  Answer a = {0};
  Answer b = {0};
  guint apdus;
  g_autoptr(GError) error = NULL;

  wait_calls(f, 2);

  /* A switch: the modem is taken again, once (the switch's own inhibition
   * is the port's), and the caller hears back inside the window. */
  if (!run_op(f, OP_ENABLE, id_of(euicc, ICCID_SECOND), &a, &error))
    fail_msg("enable: %s", error->message);
  g_clear_object(&a.res);
  assert_int_equal(a.calls_at_answer, 3);
  assert_int_equal(euicc_sim_get_profile_state(modem_sim_get_card(f->ms, 1), ICCID_SECOND), 1);
  assert_string_equal(euicc_get_enabled_profile(euicc)->iccid, ICCID_SECOND);
  wait_calls(f, 4);
  assert_windows(f, 2);
  assert_true(f->holder >= 0);

  /* Any operation, not only switches: taken and given back again. The port
   * is opened anew, but the stale-channel sweep of the first open is not
   * repeated: the window costs the channel (MANAGE CHANNEL, SELECT) and the
   * command. */
  apdus = card_apdus(f);
  queue_nickname(f, ICCID_THIRD, "Travel", &b);
  assert_answered_ok(f, &b);
  assert_int_equal(card_apdus(f) - apdus, 3);
  assert_int_equal(b.calls_at_answer, 5);
  assert_string_equal(euicc_sim_get_profile_nickname(modem_sim_get_card(f->ms, 1), ICCID_THIRD),
                      "Travel");
  wait_calls(f, 6);
  assert_windows(f, 3);
  assert_true(f->holder >= 0);
}

typedef struct {
  Fixture *f;
  Answer *late;
} BurstEnd;

/* The last answer of the burst: one more call comes while esimd still
 * holds the modem. */
static void got_last_of_burst(GObject *source, GAsyncResult *res, gpointer data)
{
  Answer *a = data;
  BurstEnd *end = a->data;

  got_answer(source, res, a);
  queue_nickname(end->f, ICCID_FIRST, "Late", end->late);
}

static void test_busy_at_port_burst_is_served_in_one_window(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  static const char *const names[] = {"One", "Two", "Three"};
  Answer burst[5] = {{0}};
  Answer late = {0};
  BurstEnd end = {f, &late};
  EuiccSim *card;

  wait_calls(f, 2);

  /* Five calls at once, queued behind one another. */
  for (guint i = 0; i < 3; i++)
    queue_nickname(f, ICCID_FIRST, names[i], &burst[i]);
  burst[3].f = f;
  euicc_set_default_smdp_address(euicc, "smdp.example.com", NULL, got_answer, &burst[3]);
  burst[4].f = f;
  burst[4].data = &end;
  euicc_profile_enable(euicc, id_of(euicc, ICCID_SECOND), NULL, got_last_of_burst, &burst[4]);
  for (guint i = 0; i < G_N_ELEMENTS(burst); i++) {
    assert_answered_ok(f, &burst[i]);
    assert_int_equal(burst[i].calls_at_answer, 3);
  }
  assert_answered_ok(f, &late);
  assert_int_equal(late.calls_at_answer, 3);

  /* One window for all six; the modem goes back once. */
  wait_calls(f, 4);
  assert_windows(f, 2);
  assert_false(euicc_holds_modem(euicc)); /* no other release to come */
  test_drain();
  assert_int_equal(f->calls->len, 4);
  card = modem_sim_get_card(f->ms, 1);
  assert_string_equal(euicc_sim_get_profile_nickname(card, ICCID_FIRST), "Late");
  assert_string_equal(euicc_sim_get_default_smdp_address(card), "smdp.example.com");
  assert_int_equal(euicc_sim_get_profile_state(card, ICCID_SECOND), 1);
}

static void test_busy_at_port_shutdown_gives_modem_back(void **state)
{
  Fixture *f = *state;
  Answer a = {0};

  wait_calls(f, 2);
  /* Held after the answer for as long as the test needs. */
  euicc_set_linger_ms(the_euicc(f), HOLD_LINGER_MS);
  queue_nickname(f, ICCID_FIRST, "Home", &a);
  assert_answered_ok(f, &a);
  assert_int_equal(f->calls->len, 3); /* held a moment after the answer */

  /* Shut down meanwhile: the modem goes back before the shutdown is
   * done, without waiting out the linger. */
  test_manager_shutdown(f->manager);
  assert_windows(f, 2);
  assert_true(f->holder >= 0);
}

static void test_busy_at_port_unplug_gives_modem_back(void **state)
{
  Fixture *f = *state;
  Answer a = {0};

  wait_calls(f, 2);
  /* Held after the answer for as long as the test needs. */
  euicc_set_linger_ms(the_euicc(f), HOLD_LINGER_MS);
  queue_nickname(f, ICCID_FIRST, "Home", &a);
  assert_answered_ok(f, &a);
  assert_int_equal(f->calls->len, 3);

  /* Unplugged while esimd holds it: the eUICC goes, and ModemManager is
   * told at once that the modem is its own again. */
  modem_sim_unplug(f->ms);
  test_wait_count(&f->removed, 1);
  assert_true(f->removed >= 1);
  wait_calls(f, 4);
  assert_string_equal(call_at(f, 3)->uid, MODEM_DEVICE);
  assert_false(call_at(f, 3)->inhibit);
  assert_int_equal(call_at(f, 3)->apdus, card_apdus(f));
  /* The eUICC is gone, and its linger with it: nothing more comes. */
  test_drain();
  assert_int_equal(f->calls->len, 4);
}

static void test_busy_at_port_removal_gives_modem_back(void **state)
{
  Fixture *f = *state;
  Answer a = {0};

  wait_calls(f, 2);
  /* Held after the answer for as long as the test needs. */
  euicc_set_linger_ms(the_euicc(f), HOLD_LINGER_MS);
  queue_nickname(f, ICCID_FIRST, "Home", &a);
  assert_answered_ok(f, &a);
  assert_int_equal(f->calls->len, 3);

  /* Discovery saw the modem go while esimd held it. */
  manager_remove_modem(f->manager, modem_sim_get_port(f->ms));
  assert_int_equal(f->removed, 1);
  wait_calls(f, 4);
  assert_windows(f, 2);
  test_drain();
  assert_int_equal(f->calls->len, 4);
}

static void test_free_at_port_stays_open_beside_modemmanager(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  guint before = card_apdus(f);
  Answer a = {0};
  g_autoptr(GError) error = NULL;

  /* Nobody held the port: esimd opened it without asking ModemManager and
   * keeps it, as for QMI and MBIM. */
  assert_int_equal(f->calls->len, 0);
  assert_true(port_is_exclusive(f));
  if (!run_op(f, OP_ENABLE, id_of(euicc, ICCID_SECOND), &a, &error))
    fail_msg("enable: %s", error->message);
  g_clear_object(&a.res);
  assert_wrapped(f, &a, before);
  /* It holds nothing on demand, so no release is to come. */
  assert_false(euicc_holds_modem(euicc));
  test_drain();
  assert_int_equal(f->calls->len, 2);
  assert_true(port_is_exclusive(f));
}

static gboolean refresh_as(Fixture *f, ServiceReadMode mode)
{
  Euicc *euicc = the_euicc(f);
  g_autoptr(GAsyncResult) res = NULL;

  euicc_refresh(euicc, mode, NULL, test_got_result, &res);
  test_wait_result(&res);
  return euicc_operation_finish(euicc, res, NULL);
}

static gboolean scan_as(Fixture *f, ServiceReadMode mode)
{
  g_autoptr(GAsyncResult) res = NULL;

  manager_scan(f->manager, mode, NULL, test_got_result, &res);
  test_wait_result(&res);
  return manager_scan_finish(f->manager, res, NULL);
}

static void test_busy_at_port_quiet_refresh_and_scan_leave_modemmanager_alone(void **state)
{
  Fixture *f = *state;
  Euicc *euicc = the_euicc(f);
  guint apdus;

  wait_calls(f, 2);
  apdus = card_apdus(f);

  /* A caller who may not disturb the modem: answered from the cache,
   * ModemManager keeps the modem and the card sees nothing. */
  assert_true(refresh_as(f, SERVICE_READ_QUIET));
  assert_true(scan_as(f, SERVICE_READ_QUIET));
  test_drain();
  assert_int_equal(f->calls->len, 2);
  assert_int_equal(card_apdus(f), apdus);
  assert_true(port_is_exclusive(f));
  assert_int_equal(euicc_get_profiles(euicc)->len, 3);

  /* One who may: the card is read, in a window of its own. */
  assert_true(refresh_as(f, SERVICE_READ_MAY_DISTURB));
  assert_true(card_apdus(f) > apdus);
  wait_calls(f, 4);
  assert_windows(f, 2);
}

static void test_quiet_refresh_reads_a_card_it_needs_take_nothing_for(void **state)
{
  Fixture *f = *state;
  guint apdus = card_apdus(f);

  /* QMI through its own port: reading disturbs nobody, so it is done. */
  assert_true(refresh_as(f, SERVICE_READ_QUIET));
  assert_true(card_apdus(f) > apdus);
  assert_int_equal(f->calls->len, 0);
}

static void test_busy_at_port_without_modemmanager_stays_busy(void **state)
{
  Fixture *f = *state;

  /* Nobody to ask: the port stays the other program's, and no eUICC. */
  assert_int_equal(manager_get_euiccs(f->manager)->len, 0);
  assert_int_equal(f->calls->len, 0);
  assert_true(f->holder >= 0);

  /* Once the other program lets go, a Scan finds the card. */
  release_port(f);
  test_manager_scan(f->manager);
  assert_int_equal(manager_get_euiccs(f->manager)->len, 1);
  assert_int_equal(f->calls->len, 0);
}

/* ---- the modem's IMEI ------------------------------------------------------ */

static gchar *get_imei(Fixture *f, GError **error)
{
  Modem *modem = euicc_get_modem(the_euicc(f));
  g_autoptr(GAsyncResult) res = NULL;

  modem_get_imei(modem, NULL, test_got_result, &res);
  test_wait_result(&res);
  return modem_get_imei_finish(modem, res, error);
}

/* Read once per modem: what the modem says later is not asked. */
static void test_imei_is_read_once_per_modem(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *first = get_imei(f, &error);
  g_autofree gchar *again = NULL;

  if (!first)
    fail_msg("modem_get_imei: %s", error->message);
  assert_string_equal(first, MODEM_SIM_DEFAULT_IMEI);
  assert_true(modem_sim_set_option(f->ms, "imei=490154203237518", NULL));
  again = get_imei(f, &error);
  assert_non_null(again);
  assert_string_equal(again, MODEM_SIM_DEFAULT_IMEI);
  /* A port that stays open needs no inhibition for it. */
  assert_int_equal(f->calls->len, 0);
}

/* ModemManager's AT port: taken inside one inhibition window for the first
 * read, given back after, and not taken again for the second. */
static void test_busy_at_port_imei_takes_the_modem_once(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *first = NULL;
  g_autofree gchar *again = NULL;

  wait_calls(f, 2); /* the probe's window */
  first = get_imei(f, &error);
  if (!first)
    fail_msg("modem_get_imei: %s", error->message);
  assert_string_equal(first, MODEM_SIM_DEFAULT_IMEI);
  wait_calls(f, 4);
  assert_true(call_at(f, 2)->inhibit);
  assert_false(call_at(f, 3)->inhibit);
  assert_true(call_at(f, 3)->port_free);
  assert_true(port_is_exclusive(f));
  /* No channel left open on the card by the window. */
  assert_int_equal(call_at(f, 3)->channels, 0);

  assert_true(modem_sim_set_option(f->ms, "imei=490154203237518", NULL));
  again = get_imei(f, &error);
  assert_non_null(again);
  assert_string_equal(again, MODEM_SIM_DEFAULT_IMEI);
  assert_int_equal(f->calls->len, 4);
}

/* A modem without an IMEI: NotSupported, asked once. */
static void test_imei_missing_is_not_supported(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *imei = get_imei(f, &error);

  assert_null(imei);
  if (!g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_NOT_SUPPORTED))
    fail_msg("got %s", error ? error->message : "no error");
  g_clear_error(&error);
  assert_true(modem_sim_set_option(f->ms, "imei=490154203237518", NULL));
  imei = get_imei(f, &error);
  assert_null(imei);
  assert_true(g_error_matches(error, ESIMD_ERROR, ESIMD_ERROR_NOT_SUPPORTED));
}

static int setup_no_imei(void **state)
{
  static const SimSetup s = {.protocol = MODEM_SIM_PROTOCOL_QMI,
                             .card = "three-profiles.card",
                             .option = "imei=",
                             .mm_running = TRUE};

  return setup_with(state, &s);
}

static int setup_at_held_no_imei(void **state)
{
  static const SimSetup s = {.protocol = MODEM_SIM_PROTOCOL_AT,
                             .card = "three-profiles.card",
                             .option = "imei=",
                             .mm_running = TRUE,
                             .hold_port = TRUE};

  return setup_with(state, &s);
}

/* ---- the AT quirk discovery reports with the modem ------------------------ */

/*
 * A modem on a pty that records every command line and answers as one whose
 * +CCHO family is missing: ERROR for +CCHO/+CCHC/+CGLA, MANAGE CHANNEL
 * through +CSIM gets channel 1, every other +CSIM APDU 9000.
 */
typedef struct {
  int master;
  GString *in;
  GPtrArray *lines; /* gchar*: the command lines, in order */
  guint watch;
} ScriptedModem;

static void scripted_answer(ScriptedModem *m, const char *line)
{
  const char *answer = "\r\nOK\r\n";

  if (g_str_has_prefix(line, "AT+CCHO") || g_str_has_prefix(line, "AT+CCHC") ||
      g_str_has_prefix(line, "AT+CGLA"))
    answer = "\r\nERROR\r\n";
  else if (g_str_equal(line, "AT+CMEE?"))
    answer = "\r\n+CMEE: 1\r\n\r\nOK\r\n";
  else if (g_str_equal(line, "AT+CSIM=10,\"0070000001\""))
    answer = "\r\n+CSIM: 6,\"019000\"\r\n\r\nOK\r\n";
  else if (g_str_has_prefix(line, "AT+CSIM="))
    answer = "\r\n+CSIM: 4,\"9000\"\r\n\r\nOK\r\n";
  assert_int_equal(write(m->master, answer, strlen(answer)), (ssize_t)strlen(answer));
}

static gboolean scripted_readable(int fd, GIOCondition condition, gpointer data)
{
  ScriptedModem *m = data;
  char buf[512];
  ssize_t n = read(fd, buf, sizeof buf);
  char *cr;

  if (n <= 0) {
    m->watch = 0;
    return G_SOURCE_REMOVE;
  }
  g_string_append_len(m->in, buf, n);
  while ((cr = memchr(m->in->str, '\r', m->in->len))) {
    g_autofree gchar *line = g_strndup(m->in->str, (gsize)(cr - m->in->str));

    g_string_erase(m->in, 0, (gssize)(cr - m->in->str) + 1);
    g_strstrip(line);
    if (!*line)
      continue;
    g_ptr_array_add(m->lines, g_strdup(line));
    scripted_answer(m, line);
  }
  return G_SOURCE_CONTINUE;
}

static gchar *scripted_modem_start(ScriptedModem *m)
{
  m->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  assert_true(m->master >= 0);
  assert_int_equal(grantpt(m->master), 0);
  assert_int_equal(unlockpt(m->master), 0);
  m->in = g_string_new(NULL);
  m->lines = g_ptr_array_new_with_free_func(g_free);
  m->watch = g_unix_fd_add(m->master, G_IO_IN | G_IO_HUP | G_IO_ERR, scripted_readable, m);
  return g_strdup(ptsname(m->master));
}

static void scripted_modem_stop(ScriptedModem *m)
{
  if (m->watch)
    g_source_remove(m->watch);
  close(m->master);
  g_string_free(m->in, TRUE);
  g_ptr_array_unref(m->lines);
}

static gboolean scripted_saw(ScriptedModem *m, const char *prefix)
{
  for (guint i = 0; i < m->lines->len; i++)
    if (g_str_has_prefix(g_ptr_array_index(m->lines, i), prefix))
      return TRUE;
  return FALSE;
}

/* Opens the port and a channel to the ISD-R; returns the channel. */
static guint open_isdr_over(ScriptedModem *m, TransportOpenFlags flags)
{
  g_autofree gchar *port = scripted_modem_start(m);
  Transport *t = transport_new_at(port, 0);
  g_autoptr(GError) error = NULL;
  guint channel;

  t->flags = flags;
  if (!test_transport_open(t, &error))
    fail_msg("open: %s", error->message);
  channel = test_transport_open_isdr(t, 1, &error);
  if (!channel)
    fail_msg("open channel: %s", error->message);
  assert_true(test_transport_close(t, NULL));
  transport_free(t);
  test_drain();
  return channel;
}

static void test_at_csim_only_never_tries_ccho(void **state)
{
  ScriptedModem m = {0};

  assert_int_equal(open_isdr_over(&m, TRANSPORT_OPEN_FLAGS_AT_CSIM_ONLY), 1);
  assert_false(scripted_saw(&m, "AT+CCHO"));
  assert_false(scripted_saw(&m, "AT+CCHC"));
  assert_false(scripted_saw(&m, "AT+CGLA"));
  assert_true(scripted_saw(&m, "AT+CSIM=10,\"0070000001\""));
  scripted_modem_stop(&m);
}

static void test_at_without_quirk_tries_ccho_first(void **state)
{
  ScriptedModem m = {0};

  /* The same modem without the flag: +CCHO is probed, then +CSIM. */
  assert_int_equal(open_isdr_over(&m, TRANSPORT_OPEN_FLAGS_NONE), 1);
  assert_true(scripted_saw(&m, "AT+CCHO"));
  assert_true(scripted_saw(&m, "AT+CSIM=10,\"0070000001\""));
  scripted_modem_stop(&m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_enable_is_wrapped_in_inhibition, setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_disable_is_wrapped_in_inhibition, setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_memory_reset_is_wrapped_in_inhibition, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_address_only_reset_inhibits_nothing, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_card_refusal_gives_modem_back, setup_ppr, teardown),
      cmocka_unit_test_setup_teardown(test_refusal_from_cache_inhibits_nothing, setup_three,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_unplug_mid_switch_gives_modem_back, setup_slow,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_without_modemmanager_switches_work, setup_no_mm,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_busy_at_port_is_given_back_after_the_probe,
                                      setup_at_held, teardown),
      cmocka_unit_test_setup_teardown(test_busy_at_port_still_closing_after_inhibit_is_waited_for,
                                      setup_at_held_late_release, teardown),
      cmocka_unit_test_setup_teardown(test_busy_at_port_each_operation_takes_the_modem_again,
                                      setup_at_held, teardown),
      cmocka_unit_test_setup_teardown(test_busy_at_port_burst_is_served_in_one_window,
                                      setup_at_held, teardown),
      cmocka_unit_test_setup_teardown(test_busy_at_port_shutdown_gives_modem_back, setup_at_held,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_busy_at_port_unplug_gives_modem_back, setup_at_held,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_busy_at_port_removal_gives_modem_back, setup_at_held,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_busy_at_port_quiet_refresh_and_scan_leave_modemmanager_alone, setup_at_held,
          teardown),
      cmocka_unit_test_setup_teardown(test_quiet_refresh_reads_a_card_it_needs_take_nothing_for,
                                      setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_free_at_port_stays_open_beside_modemmanager,
                                      setup_at_free, teardown),
      cmocka_unit_test_setup_teardown(test_busy_at_port_without_modemmanager_stays_busy,
                                      setup_at_held_no_mm, teardown),
      cmocka_unit_test_setup_teardown(test_imei_is_read_once_per_modem, setup_three, teardown),
      cmocka_unit_test_setup_teardown(test_imei_is_read_once_per_modem, setup_at_free, teardown),
      cmocka_unit_test_setup_teardown(test_busy_at_port_imei_takes_the_modem_once, setup_at_held,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_imei_missing_is_not_supported, setup_no_imei, teardown),
      cmocka_unit_test_setup_teardown(test_imei_missing_is_not_supported, setup_at_held_no_imei,
                                      teardown),
      cmocka_unit_test(test_at_csim_only_never_tries_ccho),
      cmocka_unit_test(test_at_without_quirk_tries_ccho_first),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
