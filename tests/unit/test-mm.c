/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ModemManager inhibition against a fake ModemManager on a private
 * dbus-daemon: the fake owns org.freedesktop.ModemManager1, lists modems
 * through the ObjectManager interface, and records each InhibitDevice call
 * with its arguments and the caller's unique name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "system/mm.h"
#include "test-util.h"

#define MODEM_DEVICE "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1"
#define OTHER_DEVICE "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"

typedef struct {
  gchar *uid;
  gboolean inhibit;
  gchar *sender;
} InhibitCall;

typedef struct {
  TestFakeMm fake;
  GPtrArray *calls;   /* InhibitCall* */
  const char *refuse; /* D-Bus error name InhibitDevice answers, or NULL */
  MmClient *mm;
} Fixture;

static void inhibit_call_free(InhibitCall *c)
{
  g_free(c->uid);
  g_free(c->sender);
  g_free(c);
}

static void fake_method_call(GDBusConnection *connection, const char *sender,
                             const char *object_path, const char *interface_name,
                             const char *method_name, GVariant *parameters,
                             GDBusMethodInvocation *invocation, gpointer user_data)
{
  Fixture *f = user_data;

  if (g_str_equal(method_name, "GetManagedObjects")) {
    /* One modem, MODEM_DEVICE, with the Device property InhibitDevice wants. */
    test_fake_mm_return_modem(invocation, MODEM_DEVICE, "Quectel");
    return;
  }
  if (g_str_equal(method_name, "InhibitDevice")) {
    InhibitCall *c = g_new0(InhibitCall, 1);

    g_variant_get(parameters, "(sb)", &c->uid, &c->inhibit);
    c->sender = g_strdup(sender);
    g_ptr_array_add(f->calls, c);
    if (f->refuse)
      g_dbus_method_invocation_return_dbus_error(invocation, f->refuse, "Not authorized");
    else
      g_dbus_method_invocation_return_value(invocation, NULL);
    return;
  }
  g_dbus_method_invocation_return_dbus_error(invocation, "org.freedesktop.DBus.Error.UnknownMethod",
                                             method_name);
}

static const GDBusInterfaceVTable fake_vtable = {.method_call = fake_method_call};

static void fake_set_running(Fixture *f, gboolean running)
{
  test_fake_mm_set_running(&f->fake, running);
}

static gboolean fake_name_has_owner(Fixture *f, const char *name)
{
  g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
      f->fake.connection, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
      "NameHasOwner", g_variant_new("(s)", name), G_VARIANT_TYPE("(b)"), G_DBUS_CALL_FLAGS_NONE, -1,
      NULL, NULL);
  gboolean has = FALSE;

  assert_non_null(reply);
  g_variant_get(reply, "(b)", &has);
  return has;
}

static int setup(void **state)
{
  Fixture *f = g_new0(Fixture, 1);

  test_fake_mm_start(&f->fake, &fake_vtable, f);
  f->calls = g_ptr_array_new_with_free_func((GDestroyNotify)inhibit_call_free);
  f->mm = mm_client_new(f->fake.address);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  Fixture *f = *state;

  g_clear_pointer(&f->mm, mm_client_free);
  test_fake_mm_stop(&f->fake);
  g_ptr_array_unref(f->calls);
  g_free(f);
  return 0;
}

static gboolean flag_is_set(gpointer data)
{
  return *(const gboolean *)data;
}

/* Runs the main loop until *flag is TRUE; fails after the timeout. */
static void wait_for_flag(const gboolean *flag)
{
  test_wait_until(flag_is_set, (gpointer)flag);
  assert_true(*flag);
}

/* Runs the main loop until cond(data) holds; fails after the timeout. */
static void wait_until(TestCondition cond, gpointer data)
{
  test_wait_until(cond, data);
  assert_true(cond(data));
}

typedef struct {
  MmClient *mm;
  gboolean done;
  gboolean ok;
  GError *error;
} Result;

static void on_inhibit_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
  Result *r = user_data;

  r->ok = mm_inhibit_finish(r->mm, res, &r->error);
  r->done = TRUE;
}

static void on_uninhibit_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
  Result *r = user_data;

  r->ok = mm_uninhibit_finish(r->mm, res, &r->error);
  r->done = TRUE;
}

static void inhibit(Fixture *f, const char *device, gboolean on, Result *r)
{
  *r = (Result){.mm = f->mm};
  if (on)
    mm_inhibit(f->mm, device, NULL, on_inhibit_done, r);
  else
    mm_uninhibit(f->mm, device, NULL, on_uninhibit_done, r);
}

/* Inhibits or uninhibits and waits; asserts success. */
static void inhibit_ok(Fixture *f, const char *device, gboolean on)
{
  Result r;

  inhibit(f, device, on, &r);
  wait_for_flag(&r.done);
  assert_null(r.error);
  assert_true(r.ok);
}

static const InhibitCall *call_at(Fixture *f, guint i)
{
  assert_true(i < f->calls->len);
  return g_ptr_array_index(f->calls, i);
}

/* ---- tests ---- */

static void test_inhibit_and_uninhibit_reach_modemmanager(void **state)
{
  Fixture *f = *state;

  fake_set_running(f, TRUE);
  inhibit_ok(f, MODEM_DEVICE, TRUE);
  assert_int_equal(f->calls->len, 1);
  assert_string_equal(call_at(f, 0)->uid, MODEM_DEVICE);
  assert_true(call_at(f, 0)->inhibit);
  assert_true(mm_is_inhibited(f->mm, MODEM_DEVICE));

  inhibit_ok(f, MODEM_DEVICE, FALSE);
  assert_int_equal(f->calls->len, 2);
  assert_string_equal(call_at(f, 1)->uid, MODEM_DEVICE);
  assert_false(call_at(f, 1)->inhibit);
  /* The same connection asked both times: the inhibition is tied to it. */
  assert_string_equal(call_at(f, 1)->sender, call_at(f, 0)->sender);
  assert_false(mm_is_inhibited(f->mm, MODEM_DEVICE));
}

/* How the daemon under an integration test finds a fake ModemManager. */
static void test_bus_address_from_environment(void **state)
{
  Fixture *f = *state;
  g_autoptr(MmClient) from_env = NULL;
  Result r;

  g_setenv("ESIMD_MM_BUS_ADDRESS", f->fake.address, TRUE);
  from_env = mm_client_new(NULL);
  g_unsetenv("ESIMD_MM_BUS_ADDRESS");
  fake_set_running(f, TRUE);
  r = (Result){.mm = from_env};
  mm_inhibit(from_env, MODEM_DEVICE, NULL, on_inhibit_done, &r);
  wait_for_flag(&r.done);
  assert_true(r.ok);
  assert_int_equal(f->calls->len, 1);
  assert_true(mm_is_inhibited(from_env, MODEM_DEVICE));
}

static void test_modemmanager_not_running_is_not_an_error(void **state)
{
  Fixture *f = *state;

  inhibit_ok(f, MODEM_DEVICE, TRUE);
  assert_false(mm_is_inhibited(f->mm, MODEM_DEVICE));
  inhibit_ok(f, MODEM_DEVICE, FALSE);
  assert_int_equal(f->calls->len, 0);
}

static void test_no_bus_is_not_an_error(void **state)
{
  Fixture *f = *state;
  g_autoptr(MmClient) lonely = mm_client_new("unix:path=/nonexistent/esimd-test-bus");
  Result r = {.mm = lonely};

  mm_inhibit(lonely, MODEM_DEVICE, NULL, on_inhibit_done, &r);
  wait_for_flag(&r.done);
  assert_null(r.error);
  assert_true(r.ok);
  assert_false(mm_is_inhibited(lonely, MODEM_DEVICE));
  (void)f;
}

static void test_device_modemmanager_does_not_manage_is_left_alone(void **state)
{
  Fixture *f = *state;

  fake_set_running(f, TRUE);
  inhibit_ok(f, OTHER_DEVICE, TRUE);
  inhibit_ok(f, OTHER_DEVICE, FALSE);
  assert_int_equal(f->calls->len, 0);
  assert_false(mm_is_inhibited(f->mm, OTHER_DEVICE));
}

/* A profile switch inside an AT session: the inner pair does not give the
 * modem back. Four calls made at once run in order. */
static void test_nested_inhibits_reach_modemmanager_once(void **state)
{
  Fixture *f = *state;
  Result r[4];

  fake_set_running(f, TRUE);
  inhibit(f, MODEM_DEVICE, TRUE, &r[0]);
  inhibit(f, MODEM_DEVICE, TRUE, &r[1]);
  inhibit(f, MODEM_DEVICE, FALSE, &r[2]);
  for (guint i = 0; i < 3; i++) {
    wait_for_flag(&r[i].done);
    assert_true(r[i].ok);
  }
  assert_int_equal(f->calls->len, 1);
  assert_true(call_at(f, 0)->inhibit);
  assert_true(mm_is_inhibited(f->mm, MODEM_DEVICE));

  inhibit(f, MODEM_DEVICE, FALSE, &r[3]);
  wait_for_flag(&r[3].done);
  assert_true(r[3].ok);
  assert_int_equal(f->calls->len, 2);
  assert_false(call_at(f, 1)->inhibit);
  assert_false(mm_is_inhibited(f->mm, MODEM_DEVICE));
}

static void test_refusal_is_reported(void **state)
{
  Fixture *f = *state;
  Result r;

  fake_set_running(f, TRUE);
  f->refuse = "org.freedesktop.ModemManager1.Error.Core.Unauthorized";
  inhibit(f, MODEM_DEVICE, TRUE, &r);
  wait_for_flag(&r.done);
  assert_false(r.ok);
  assert_non_null(r.error);
  assert_non_null(strstr(r.error->message, "ModemManager refused"));
  assert_non_null(strstr(r.error->message, "Not authorized"));
  g_clear_error(&r.error);
  assert_false(mm_is_inhibited(f->mm, MODEM_DEVICE));

  /* Not counted as held: the next attempt asks again. */
  f->refuse = NULL;
  inhibit_ok(f, MODEM_DEVICE, TRUE);
  assert_int_equal(f->calls->len, 2);
  assert_true(mm_is_inhibited(f->mm, MODEM_DEVICE));
}

static void on_name_owner_changed(GDBusConnection *connection, const char *sender, const char *path,
                                  const char *interface, const char *signal, GVariant *parameters,
                                  gpointer user_data)
{
  gboolean *gone = user_data;
  const char *new_owner;

  g_variant_get(parameters, "(&s&s&s)", NULL, NULL, &new_owner);
  if (!*new_owner)
    *gone = TRUE;
}

/* The connection that inhibited stays up while the client lives, and goes
 * when it is freed, which is what makes ModemManager take the modem back if
 * esimd stops in the middle of a switch. */
static void test_inhibition_connection_lives_with_client(void **state)
{
  Fixture *f = *state;
  gboolean gone = FALSE;
  const char *sender;
  guint sub;

  fake_set_running(f, TRUE);
  inhibit_ok(f, MODEM_DEVICE, TRUE);
  sender = call_at(f, 0)->sender;
  sub = g_dbus_connection_signal_subscribe(
      f->fake.connection, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
      "/org/freedesktop/DBus", sender, G_DBUS_SIGNAL_FLAGS_NONE, on_name_owner_changed, &gone,
      NULL);
  assert_true(fake_name_has_owner(f, sender));

  g_clear_pointer(&f->mm, mm_client_free);
  wait_for_flag(&gone);
  assert_false(fake_name_has_owner(f, sender));
  g_dbus_connection_signal_unsubscribe(f->fake.connection, sub);
}

static gboolean modem_not_inhibited(gpointer user_data)
{
  Fixture *f = user_data;

  return !mm_is_inhibited(f->mm, MODEM_DEVICE);
}

/* ModemManager restarts while it holds the modem for us: the new one holds
 * nothing, so the uninhibit has nothing to undo and asks nothing. */
static void test_modemmanager_restart_forgets_inhibition(void **state)
{
  Fixture *f = *state;

  fake_set_running(f, TRUE);
  inhibit_ok(f, MODEM_DEVICE, TRUE);
  assert_true(mm_is_inhibited(f->mm, MODEM_DEVICE));

  fake_set_running(f, FALSE);
  wait_until(modem_not_inhibited, f);

  fake_set_running(f, TRUE);
  inhibit_ok(f, MODEM_DEVICE, FALSE);
  assert_int_equal(f->calls->len, 1);

  /* And the next switch inhibits the new ModemManager. */
  inhibit_ok(f, MODEM_DEVICE, TRUE);
  assert_int_equal(f->calls->len, 2);
  assert_true(call_at(f, 1)->inhibit);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_inhibit_and_uninhibit_reach_modemmanager, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_modemmanager_not_running_is_not_an_error, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_no_bus_is_not_an_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bus_address_from_environment, setup, teardown),
      cmocka_unit_test_setup_teardown(test_device_modemmanager_does_not_manage_is_left_alone, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_nested_inhibits_reach_modemmanager_once, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refusal_is_reported, setup, teardown),
      cmocka_unit_test_setup_teardown(test_inhibition_connection_lives_with_client, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_modemmanager_restart_forgets_inhibition, setup,
                                      teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
