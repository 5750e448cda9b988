/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the transport tests share: bounded waiting on the default main
 * context, the card files of $ESIMD_CARDS_DIR, a started modem-sim, and the
 * transport calls made synchronous for a test; for the service tests a fake
 * ModemManager on a private dbus-daemon and the Manager's calls waited for.
 * Every wait fails the test after TEST_WAIT_LIMIT_MS instead of hanging.
 */
#pragma once

#include <glib.h>
#include <gio/gio.h>

#include "euicc-sim.h"
#include "modem-sim.h"
#include "service/service.h"
#include "transport/transport.h"

/* Far beyond any answer in a test, far below meson's timeout. */
#define TEST_WAIT_LIMIT_MS 20000

/* ---- bounded waiting ---- */

/* A GAsyncReadyCallback: keeps a reference on res in *(GAsyncResult **)data,
 * which must still be NULL. */
void test_got_result(GObject *source, GAsyncResult *res, gpointer data);

/* Runs the loop until *slot is set; fails the test after TEST_WAIT_LIMIT_MS. */
void test_wait_result(GAsyncResult **slot);

typedef gboolean (*TestCondition)(gpointer data);

/* Runs the loop until cond(data) holds; FALSE when TEST_WAIT_LIMIT_MS passed
 * first. */
gboolean test_wait_until(TestCondition cond, gpointer data);

/* Runs the loop for ms, whatever happens (late answers arriving, etc.). */
void test_run_for(guint ms);
/* Until the card in slot of the simulated modem has seen more than before
 * APDUs: the event a test waits for to act "while the card works". */
void test_wait_card_apdu(ModemSim *ms, guint slot, guint before);

/* Lets pending sources (late answers, closes) run, without blocking. */
void test_drain(void);

/* ---- cards and modem-sim ---- */

/* The path of a card file in $ESIMD_CARDS_DIR; fails the test without it. */
gchar *test_card_path(const char *name);

/* Loads a card file of $ESIMD_CARDS_DIR; fails the test if it cannot. */
EuiccSim *test_card_load(const char *name);

/* An Iso7816TransmitFunc over a bare EuiccSim (user_data): no answer is a
 * TRANSPORT_ERROR_TIMEOUT. */
GBytes *test_sim_transmit(gpointer user_data, GBytes *command, GError **error);

/*
 * Starts modem-sim speaking protocol, with n_cards slots holding the named
 * card files (NULL or "empty": an empty slot), and the options up to the
 * first NULL among n_options. Fails the test on any error.
 */
ModemSim *test_modem_sim_start(ModemSimProtocol protocol, const char *const *cards, guint n_cards,
                               const char *const *options, guint n_options);

/* ---- temporary folders ---- */

/* Removes path and everything below it, as far as it can; quiet about what
 * is already gone. */
void test_remove_tree(const char *path);

/* ---- transport calls, each waited for ---- */

/* The ISD-R's AID (SGP.22 2.2.3). */
GBytes *test_isdr_aid(void);

gboolean test_transport_open(Transport *t, GError **error);
GPtrArray *test_transport_list_slots(Transport *t, GError **error);
/* Opens a logical channel to the ISD-R (SGP.22 2.2.3) of the card in slot. */
guint test_transport_open_isdr(Transport *t, guint slot, GError **error);
gboolean test_transport_close_channel(Transport *t, guint slot, guint channel, GError **error);
GBytes *test_transport_transmit(Transport *t, guint slot, guint channel, GBytes *apdu,
                                GError **error);
gboolean test_transport_switch_slot(Transport *t, guint slot, GError **error);
gboolean test_transport_reload_sim(Transport *t, guint slot, GError **error);
gboolean test_transport_close(Transport *t, GError **error);
gchar *test_transport_get_imei(Transport *t, GError **error);

/* One ES10 command as STORE DATA on the channel; the response DER. */
GBytes *test_es10_call(Transport *t, guint slot, guint channel, GBytes *request, GError **error);

/* GET EUICC DATA for the EID (SGP.22 5.7.20) on the channel. */
gchar *test_es10_get_eid(Transport *t, guint slot, guint channel, GError **error);

/* ---- more bounded waiting ---- */

/* Runs the loop until *counter reaches want; fails the test after
 * TEST_WAIT_LIMIT_MS. */
void test_wait_count(const guint *counter, guint want);

/* Runs the loop until *counter is back to 0; fails the test after
 * TEST_WAIT_LIMIT_MS. */
void test_wait_count_down(const guint *counter);

/* ---- a fake ModemManager on a private dbus-daemon ---- */

#define TEST_MM_NAME "org.freedesktop.ModemManager1"
#define TEST_MM_PATH "/org/freedesktop/ModemManager1"

typedef struct {
  GPid pid;                    /* the private dbus-daemon, killed with the test */
  gchar *address;              /* its address, for the client under test */
  GDBusConnection *connection; /* the fake ModemManager's */
  GDBusNodeInfo *info;
  guint registrations[2];
} TestFakeMm;

/*
 * Starts a private dbus-daemon and serves, at TEST_MM_PATH, ModemManager's
 * InhibitDevice(s uid, b inhibit) and the ObjectManager's GetManagedObjects
 * through vtable (with user_data). The fake does not own TEST_MM_NAME yet.
 * Fails the test on any error.
 */
void test_fake_mm_start(TestFakeMm *mm, const GDBusInterfaceVTable *vtable, gpointer user_data);

/* Answers GetManagedObjects with one modem, TEST_MM_PATH "/Modem/0", whose
 * Device property is device, with a Manufacturer when that is not NULL. */
void test_fake_mm_return_modem(GDBusMethodInvocation *invocation, const char *device,
                               const char *manufacturer);

/* Owns or gives up TEST_MM_NAME, as ModemManager starting or stopping would. */
void test_fake_mm_set_running(TestFakeMm *mm, gboolean running);

/* Unregisters the fake, lets pending closes run, stops the bus. */
void test_fake_mm_stop(TestFakeMm *mm);

/* ---- the service layer, each call waited for ---- */

/* Adds the modem on port (no qmi-proxy/mbim-proxy in between); device may
 * be "" when no sysfs device goes with it. */
void test_manager_add_modem(Manager *manager, TransportKind kind, const char *port,
                            const char *device);

/* Waits until every modem added so far was probed once; fails the test on
 * an error. */
void test_manager_wait_probed(Manager *manager);

/* Manager1.Scan(), waited for; fails the test on an error. */
void test_manager_scan(Manager *manager);

/* Shuts the manager down and waits; fails the test on an error. The manager
 * is still to be freed. */
void test_manager_shutdown(Manager *manager);

/* Shuts the manager down, frees it, and lets what it left pending run. */
void test_manager_stop(Manager *manager);
