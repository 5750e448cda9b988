/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Discovery against a fake sysfs and fake uevents (umockdev): which modems
 * are reported, with which control port, and when. Runs under umockdev's
 * preload library (meson sets LD_PRELOAD).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <umockdev.h>

#include "discovery/discovery.h"

/* Short, so that the tests that wait for it stay short; the tests never
 * depend on how fast anything runs within it. */
#define TEST_SETTLE_MS 100
/* Bound on every wait for an event that must come. */
#define TEST_EVENT_TIMEOUT_MS 10000

typedef struct {
  gboolean added; /* modem_added, else modem_removed */
  TransportKind kind;
  gchar *port;
  gchar *device;
  guint baudrate;
  TransportOpenFlags flags;
  DiscoveryQuirks quirks;
} Event;

typedef struct {
  UMockdevTestbed *tb;
  Discovery *discovery;
  GPtrArray *events; /* Event*, in the order reported */
  guint n_added;
  guint n_removed;
} Fixture;

static void event_free(Event *e)
{
  g_free(e->port);
  g_free(e->device);
  g_free(e);
}

static Event *record(Fixture *f, gboolean added, const ModemSpec *spec, DiscoveryQuirks quirks)
{
  Event *e = g_new0(Event, 1);

  e->added = added;
  e->kind = spec->kind;
  e->port = g_strdup(spec->port);
  e->device = g_strdup(spec->device);
  e->baudrate = spec->baudrate;
  e->flags = spec->flags;
  e->quirks = quirks;
  g_ptr_array_add(f->events, e);
  return e;
}

static void on_modem_added(const ModemSpec *spec, DiscoveryQuirks quirks, gpointer user_data)
{
  Fixture *f = user_data;

  record(f, TRUE, spec, quirks);
  f->n_added++;
}

static void on_modem_removed(const ModemSpec *spec, gpointer user_data)
{
  Fixture *f = user_data;

  record(f, FALSE, spec, DISCOVERY_QUIRK_NONE);
  f->n_removed++;
}

static const DiscoveryListener listener = {
    .modem_added = on_modem_added,
    .modem_removed = on_modem_removed,
};

static int setup(void **state)
{
  Fixture *f = g_new0(Fixture, 1);

  /* The testbed first: the check looks at the /sys it redirects. */
  f->tb = umockdev_testbed_new();
  if (!umockdev_in_mock_environment()) {
    fprintf(stderr, "run under umockdev's preload (LD_PRELOAD=libumockdev-preload.so.0)\n");
    g_object_unref(f->tb);
    g_free(f);
    return -1;
  }
  f->events = g_ptr_array_new_with_free_func((GDestroyNotify)event_free);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  Fixture *f = *state;

  g_clear_pointer(&f->discovery, discovery_free);
  g_ptr_array_unref(f->events);
  g_object_unref(f->tb);
  /* Let sources the discovery removed go before the next test. */
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_free(f);
  return 0;
}

static void start(Fixture *f, TransportOpenFlags flags, const char *const *excluded)
{
  const DiscoveryConfig config = {.flags = flags, .settle_ms = TEST_SETTLE_MS};
  g_autoptr(GError) error = NULL;

  f->discovery = discovery_new(&config, &listener, f);
  for (guint i = 0; excluded && excluded[i]; i++)
    discovery_exclude_port(f->discovery, excluded[i]);
  assert_true(discovery_start(f->discovery, &error));
  assert_null(error);
}

static gboolean on_timeout(gpointer user_data)
{
  gboolean *fired = user_data;

  *fired = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop until *counter reaches n; fails after the timeout. */
static void wait_for(guint *counter, guint n)
{
  gboolean fired = FALSE;
  guint id = g_timeout_add(TEST_EVENT_TIMEOUT_MS, on_timeout, &fired);

  while (*counter < n && !fired)
    g_main_context_iteration(NULL, TRUE);
  if (!fired)
    g_source_remove(id);
  assert_int_equal(*counter, n);
}

/* Runs the main loop for several settle windows, for the tests that show
 * nothing more happens. */
static void run_quiet(void)
{
  gboolean fired = FALSE;

  g_timeout_add(TEST_SETTLE_MS * 5, on_timeout, &fired);
  while (!fired)
    g_main_context_iteration(NULL, TRUE);
}

static const Event *event_at(Fixture *f, guint i)
{
  assert_true(i < f->events->len);
  return g_ptr_array_index(f->events, i);
}

static void assert_event(const Event *e, gboolean added, TransportKind kind, const char *port,
                         const char *device)
{
  assert_int_equal(e->added, added);
  assert_int_equal(e->kind, kind);
  assert_string_equal(e->port, port);
  assert_string_equal(e->device, device);
}

/* ---- the fake machine ---- */

/* extra_property: NULL, or a property set to "1" on the device. */
static char *add_usb_device(UMockdevTestbed *tb, const char *name, const char *vid, const char *pid,
                            const char *extra_property)
{
  return umockdev_testbed_add_device(tb, "usb", name, NULL, "idVendor", vid, "idProduct", pid, NULL,
                                     "DEVTYPE", "usb_device", extra_property, "1", NULL);
}

/* A USB interface bound to a driver (the "driver" link libudev reads). */
static char *add_usb_interface(UMockdevTestbed *tb, const char *usb, const char *name,
                               const char *driver)
{
  char *iface = umockdev_testbed_add_device(tb, "usb", name, usb, NULL, "DEVTYPE", "usb_interface",
                                            "DRIVER", driver, NULL);
  g_autofree char *link = g_strconcat("../../../bus/usb/drivers/", driver, NULL);

  umockdev_testbed_set_attribute_link(tb, iface, "driver", link);
  return iface;
}

/* extra_property: NULL, or a property set to "1" on the port. */
static char *add_cdc_wdm(UMockdevTestbed *tb, const char *iface, const char *name,
                         const char *extra_property)
{
  return umockdev_testbed_add_device(tb, "usbmisc", name, iface, NULL, "DEVNAME", name,
                                     extra_property, "1", NULL);
}

/* A USB serial port as ModemManager's rules leave it: a candidate, with the
 * AT port type, and the baud rate when its rules know one (else NULL). */
static char *add_mm_tty(UMockdevTestbed *tb, const char *iface, const char *name,
                        const char *at_type, const char *baud)
{
  return umockdev_testbed_add_device(tb, "tty", name, iface, NULL, "DEVNAME", name,
                                     "ID_MM_CANDIDATE", "1", at_type, "1",
                                     baud ? "ID_MM_TTY_BAUDRATE" : NULL, baud, NULL);
}

typedef struct {
  char *usb;
  char *qmi_iface;
  char *at_iface;
  char *cdc_wdm;
  char *tty_primary;
  char *tty_secondary;
} QmiModem;

static void qmi_modem_clear(QmiModem *m)
{
  g_free(m->usb);
  g_free(m->qmi_iface);
  g_free(m->at_iface);
  g_free(m->cdc_wdm);
  g_free(m->tty_primary);
  g_free(m->tty_secondary);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(QmiModem, qmi_modem_clear)

/* USB modem 1-1: cdc-wdm0 on qmi_wwan, ttyUSB2 (AT primary, 921600 baud),
 * ttyUSB3 (AT secondary). */
static void add_qmi_modem(UMockdevTestbed *tb, QmiModem *m, gboolean with_qmi)
{
  m->usb = add_usb_device(tb, "1-1", "2c7c", "0125", NULL);
  m->at_iface = add_usb_interface(tb, m->usb, "1-1:1.2", "option");
  m->tty_primary = add_mm_tty(tb, m->at_iface, "ttyUSB2", "ID_MM_PORT_TYPE_AT_PRIMARY", "921600");
  m->tty_secondary = add_mm_tty(tb, m->at_iface, "ttyUSB3", "ID_MM_PORT_TYPE_AT_SECONDARY", NULL);
  if (with_qmi) {
    m->qmi_iface = add_usb_interface(tb, m->usb, "1-1:1.4", "qmi_wwan");
    m->cdc_wdm = add_cdc_wdm(tb, m->qmi_iface, "cdc-wdm0", NULL);
  }
}

/* ---- tests ---- */

/* The machine at start: a QMI modem with AT ports, an MBIM-only modem, a
 * PCI modem on the kernel WWAN framework, an AT-only modem, an ignored
 * modem, a serial adapter and a built-in UART. One report per modem, each
 * with its preferred port, in device order. */
static void test_enumeration_reports_each_modem_once(void **state)
{
  Fixture *f = *state;
  UMockdevTestbed *tb = f->tb;
  g_auto(QmiModem) qmi = {0};
  g_autofree char *mbim_usb = NULL, *mbim_iface = NULL, *mbim_port = NULL;
  g_autofree char *pci = NULL, *mhi = NULL, *wwan = NULL, *wwan_mbim = NULL, *wwan_at = NULL,
                  *wwan_qcdm = NULL;
  g_autofree char *at_usb = NULL, *at_iface = NULL, *at_tty = NULL, *at_tty2 = NULL;
  g_autofree char *ign_usb = NULL, *ign_iface = NULL, *ign_port = NULL;
  g_autofree char *serial_usb = NULL, *serial_iface = NULL, *serial_tty = NULL, *uart = NULL;

  add_qmi_modem(tb, &qmi, TRUE);

  mbim_usb = add_usb_device(tb, "2-1", "1199", "9091", NULL);
  mbim_iface = add_usb_interface(tb, mbim_usb, "2-1:1.12", "cdc_mbim");
  mbim_port = add_cdc_wdm(tb, mbim_iface, "cdc-wdm1", "ESIMD_NO_PROXY");

  /* pci -> mhi0 -> wwan0 -> wwan0mbim0 / wwan0at0 / wwan0qcdm0 */
  pci =
      umockdev_testbed_add_device(tb, "pci", "0000:01:00.0", NULL, "vendor", "0x17cb", NULL, NULL);
  mhi = umockdev_testbed_add_device(tb, "mhi", "mhi0", pci, NULL, NULL);
  wwan = umockdev_testbed_add_device(tb, "wwan", "wwan0", mhi, NULL, NULL);
  /* No "type" attribute (before Linux 5.14): the name says MBIM. */
  wwan_mbim = umockdev_testbed_add_device(tb, "wwan", "wwan0mbim0", wwan, NULL, "DEVNAME",
                                          "wwan0mbim0", NULL);
  wwan_at = umockdev_testbed_add_device(tb, "wwan", "wwan0at0", wwan, "type", "AT", NULL, "DEVNAME",
                                        "wwan0at0", NULL);
  wwan_qcdm = umockdev_testbed_add_device(tb, "wwan", "wwan0qcdm0", wwan, "type", "QCDM", NULL,
                                          "DEVNAME", "wwan0qcdm0", NULL);

  at_usb = add_usb_device(tb, "4-1", "1e0e", "9001", NULL);
  at_iface = add_usb_interface(tb, at_usb, "4-1:1.2", "option");
  at_tty2 = add_mm_tty(tb, at_iface, "ttyUSB11", "ID_MM_PORT_TYPE_AT_SECONDARY", NULL);
  at_tty =
      umockdev_testbed_add_device(tb, "tty", "ttyUSB10", at_iface, NULL, "DEVNAME", "ttyUSB10",
                                  "ID_MM_CANDIDATE", "1", "ID_MM_PORT_TYPE_AT_PRIMARY", "1",
                                  "ID_MM_TTY_BAUDRATE", "460800", "ESIMD_AT_CSIM_ONLY", "1", NULL);

  /* A rule matching ATTRS{idVendor} sets ESIMD_IGNORE on the device. */
  ign_usb = add_usb_device(tb, "3-1", "05c6", "9025", "ESIMD_IGNORE");
  ign_iface = add_usb_interface(tb, ign_usb, "3-1:1.4", "qmi_wwan");
  ign_port = add_cdc_wdm(tb, ign_iface, "cdc-wdm2", "ID_MM_PORT_TYPE_QMI");

  /* Not modems: a USB serial adapter ModemManager did not mark, a UART. */
  serial_usb = add_usb_device(tb, "5-1", "0403", "6001", NULL);
  serial_iface = add_usb_interface(tb, serial_usb, "5-1:1.0", "ftdi_sio");
  serial_tty = umockdev_testbed_add_device(tb, "tty", "ttyUSB0", serial_iface, NULL, "DEVNAME",
                                           "ttyUSB0", NULL);
  uart = umockdev_testbed_add_device(tb, "tty", "ttyS0", NULL, NULL, "DEVNAME", "ttyS0", NULL);

  start(f, TRANSPORT_OPEN_FLAGS_NONE, NULL);

  /* Reported before discovery_start() returned: the enumeration is settled. */
  assert_int_equal(f->n_added, 4);
  assert_int_equal(f->n_removed, 0);

  /* Device order: /sys/devices/0000:01:00.0, 1-1, 2-1, 4-1. */
  assert_event(event_at(f, 0), TRUE, TRANSPORT_KIND_MBIM, "/dev/wwan0mbim0", pci);
  assert_int_equal(event_at(f, 0)->flags, TRANSPORT_OPEN_FLAGS_NONE);

  assert_event(event_at(f, 1), TRUE, TRANSPORT_KIND_QMI, "/dev/cdc-wdm0", qmi.usb);
  assert_int_equal(event_at(f, 1)->baudrate, 0);
  assert_int_equal(event_at(f, 1)->quirks, DISCOVERY_QUIRK_NONE);

  assert_event(event_at(f, 2), TRUE, TRANSPORT_KIND_MBIM, "/dev/cdc-wdm1", mbim_usb);
  assert_int_equal(event_at(f, 2)->flags, TRANSPORT_OPEN_FLAGS_NO_PROXY);

  assert_event(event_at(f, 3), TRUE, TRANSPORT_KIND_AT, "/dev/ttyUSB10", at_usb);
  assert_int_equal(event_at(f, 3)->baudrate, 460800);
  assert_int_equal(event_at(f, 3)->quirks, DISCOVERY_QUIRK_AT_CSIM_ONLY);

  /* Nothing more comes for the ports that lost. */
  run_quiet();
  assert_int_equal(f->events->len, 4);
}

/* A tty alone on a modem is reported with ModemManager's baud rate, and
 * the flags from the configuration. */
static void test_at_modem_gets_baudrate_and_flags(void **state)
{
  Fixture *f = *state;
  g_auto(QmiModem) m = {0};

  add_qmi_modem(f->tb, &m, FALSE);
  start(f, TRANSPORT_OPEN_FLAGS_NO_PROXY, NULL);

  assert_int_equal(f->n_added, 1);
  assert_event(event_at(f, 0), TRUE, TRANSPORT_KIND_AT, "/dev/ttyUSB2", m.usb);
  assert_int_equal(event_at(f, 0)->baudrate, 921600);
  assert_int_equal(event_at(f, 0)->flags, TRANSPORT_OPEN_FLAGS_NO_PROXY);
}

/* Hotplug: the ttys appear before qmi_wwan binds; the modem is reported
 * once, on its QMI port, after the quiet time. */
static void test_settle_lets_qmi_win_over_earlier_at_ports(void **state)
{
  Fixture *f = *state;
  g_auto(QmiModem) m = {0};

  start(f, TRANSPORT_OPEN_FLAGS_NONE, NULL);
  assert_int_equal(f->n_added, 0);

  add_qmi_modem(f->tb, &m, TRUE);
  umockdev_testbed_uevent(f->tb, m.tty_primary, "add");
  umockdev_testbed_uevent(f->tb, m.tty_secondary, "add");
  umockdev_testbed_uevent(f->tb, m.cdc_wdm, "add");

  wait_for(&f->n_added, 1);
  assert_event(event_at(f, 0), TRUE, TRANSPORT_KIND_QMI, "/dev/cdc-wdm0", m.usb);
  run_quiet();
  assert_int_equal(f->events->len, 1);
}

/* A QMI port that comes after the modem was reported on AT takes over:
 * the AT modem is removed, then the QMI one added. */
static void test_late_qmi_port_replaces_at_port(void **state)
{
  Fixture *f = *state;
  g_auto(QmiModem) m = {0};

  add_qmi_modem(f->tb, &m, FALSE);
  start(f, TRANSPORT_OPEN_FLAGS_NONE, NULL);
  assert_int_equal(f->n_added, 1);
  assert_event(event_at(f, 0), TRUE, TRANSPORT_KIND_AT, "/dev/ttyUSB2", m.usb);

  m.qmi_iface = add_usb_interface(f->tb, m.usb, "1-1:1.4", "qmi_wwan");
  m.cdc_wdm = add_cdc_wdm(f->tb, m.qmi_iface, "cdc-wdm0", NULL);
  umockdev_testbed_uevent(f->tb, m.cdc_wdm, "add");

  wait_for(&f->n_added, 2);
  assert_int_equal(f->events->len, 3);
  assert_event(event_at(f, 1), FALSE, TRANSPORT_KIND_AT, "/dev/ttyUSB2", m.usb);
  assert_event(event_at(f, 2), TRUE, TRANSPORT_KIND_QMI, "/dev/cdc-wdm0", m.usb);
}

/* Unplug: the removal of the port in use is reported at once, and nothing
 * is reported for the modem's other ports leaving with it. */
static void test_unplug_reports_removal_once(void **state)
{
  Fixture *f = *state;
  g_auto(QmiModem) m = {0};

  add_qmi_modem(f->tb, &m, TRUE);
  start(f, TRANSPORT_OPEN_FLAGS_NONE, NULL);
  assert_int_equal(f->n_added, 1);

  umockdev_testbed_uevent(f->tb, m.cdc_wdm, "remove");
  umockdev_testbed_uevent(f->tb, m.tty_primary, "remove");
  umockdev_testbed_uevent(f->tb, m.tty_secondary, "remove");
  umockdev_testbed_remove_device(f->tb, m.usb);

  wait_for(&f->n_removed, 1);
  assert_event(event_at(f, 1), FALSE, TRANSPORT_KIND_QMI, "/dev/cdc-wdm0", m.usb);
  run_quiet();
  assert_int_equal(f->events->len, 2);
}

/* The QMI driver unbinds but the modem stays: its AT port takes over once
 * things are quiet. */
static void test_lost_qmi_port_falls_back_to_at(void **state)
{
  Fixture *f = *state;
  g_auto(QmiModem) m = {0};

  add_qmi_modem(f->tb, &m, TRUE);
  start(f, TRANSPORT_OPEN_FLAGS_NONE, NULL);

  umockdev_testbed_uevent(f->tb, m.cdc_wdm, "remove");
  umockdev_testbed_remove_device(f->tb, m.cdc_wdm);

  wait_for(&f->n_added, 2);
  assert_int_equal(f->events->len, 3);
  assert_event(event_at(f, 1), FALSE, TRANSPORT_KIND_QMI, "/dev/cdc-wdm0", m.usb);
  assert_event(event_at(f, 2), TRUE, TRANSPORT_KIND_AT, "/dev/ttyUSB2", m.usb);
  assert_int_equal(event_at(f, 2)->baudrate, 921600);
}

/* ESIMD_IGNORE on one port skips that port only. */
static void test_ignored_port_leaves_the_others(void **state)
{
  Fixture *f = *state;
  g_auto(QmiModem) m = {0};

  add_qmi_modem(f->tb, &m, FALSE);
  m.qmi_iface = add_usb_interface(f->tb, m.usb, "1-1:1.4", "qmi_wwan");
  m.cdc_wdm = add_cdc_wdm(f->tb, m.qmi_iface, "cdc-wdm0", "ESIMD_IGNORE");
  start(f, TRANSPORT_OPEN_FLAGS_NONE, NULL);

  assert_int_equal(f->events->len, 1);
  assert_event(event_at(f, 0), TRUE, TRANSPORT_KIND_AT, "/dev/ttyUSB2", m.usb);
}

/* A rule reloaded later (udevadm trigger) marks the port in use ignored:
 * the change event removes it at once. */
static void test_change_to_ignored_removes_modem(void **state)
{
  Fixture *f = *state;
  g_auto(QmiModem) m = {0};

  add_qmi_modem(f->tb, &m, TRUE);
  start(f, TRANSPORT_OPEN_FLAGS_NONE, NULL);

  umockdev_testbed_set_property(f->tb, m.cdc_wdm, "ESIMD_IGNORE", "1");
  umockdev_testbed_uevent(f->tb, m.cdc_wdm, "change");

  wait_for(&f->n_removed, 1);
  assert_event(event_at(f, 1), FALSE, TRANSPORT_KIND_QMI, "/dev/cdc-wdm0", m.usb);
  wait_for(&f->n_added, 2);
  assert_event(event_at(f, 2), TRUE, TRANSPORT_KIND_AT, "/dev/ttyUSB2", m.usb);
}

/* ESIMD_PORT_TYPE forces a port and its protocol, over the usual order. */
static void test_forced_port_type_wins(void **state)
{
  Fixture *f = *state;
  g_auto(QmiModem) m = {0};

  add_qmi_modem(f->tb, &m, TRUE);
  umockdev_testbed_set_property(f->tb, m.tty_secondary, "ESIMD_PORT_TYPE", "at");
  start(f, TRANSPORT_OPEN_FLAGS_NONE, NULL);

  assert_int_equal(f->events->len, 1);
  assert_event(event_at(f, 0), TRUE, TRANSPORT_KIND_AT, "/dev/ttyUSB3", m.usb);
}

/* A modem configured statically is not reported again, by none of its
 * ports, even when the configuration names a port esimd would not pick. */
static void test_excluded_port_hides_its_modem(void **state)
{
  Fixture *f = *state;
  g_auto(QmiModem) m = {0};
  g_autofree char *mbim_usb = NULL, *mbim_iface = NULL, *mbim_port = NULL;
  const char *const excluded[] = {"/dev/ttyUSB3", NULL};

  add_qmi_modem(f->tb, &m, TRUE);
  mbim_usb = add_usb_device(f->tb, "2-1", "1199", "9091", NULL);
  mbim_iface = add_usb_interface(f->tb, mbim_usb, "2-1:1.12", "cdc_mbim");
  mbim_port = add_cdc_wdm(f->tb, mbim_iface, "cdc-wdm1", NULL);
  start(f, TRANSPORT_OPEN_FLAGS_NONE, excluded);

  assert_int_equal(f->events->len, 1);
  assert_event(event_at(f, 0), TRUE, TRANSPORT_KIND_MBIM, "/dev/cdc-wdm1", mbim_usb);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_enumeration_reports_each_modem_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_at_modem_gets_baudrate_and_flags, setup, teardown),
      cmocka_unit_test_setup_teardown(test_settle_lets_qmi_win_over_earlier_at_ports, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_late_qmi_port_replaces_at_port, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unplug_reports_removal_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lost_qmi_port_falls_back_to_at, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ignored_port_leaves_the_others, setup, teardown),
      cmocka_unit_test_setup_teardown(test_change_to_ignored_removes_modem, setup, teardown),
      cmocka_unit_test_setup_teardown(test_forced_port_type_wins, setup, teardown),
      cmocka_unit_test_setup_teardown(test_excluded_port_hides_its_modem, setup, teardown),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
