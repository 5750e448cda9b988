/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Living beside ModemManager: while esimd switches a profile, or talks AT on
 * a port ModemManager owns, it asks ModemManager to let go of the modem
 * (org.freedesktop.ModemManager1.InhibitDevice, ModemManager 1.10+), and
 * gives it back afterwards so that ModemManager probes the modem again and
 * reads the new SIM.
 *
 * ModemManager keeps an inhibition only while the connection that asked for
 * it lives: the client keeps one private connection to the system bus for
 * its whole life, and freeing the client closes it, which releases every
 * inhibition left.
 *
 * ModemManager not running, not on the bus, or not managing the device is
 * not an error: there is nothing to inhibit, and the operation succeeds.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _MmClient MmClient;

/*
 * bus_address: the bus ModemManager is on; NULL means $ESIMD_MM_BUS_ADDRESS
 * when set (tests), else the system bus. Connects at the first operation.
 */
MmClient *mm_client_new(const char *bus_address);
/* Closes the connection: ModemManager drops what is still inhibited. */
void mm_client_free(MmClient *mm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmClient, mm_client_free)

/*
 * Inhibits the modem whose Modem.Device is device (a ModemSpec's device).
 * Calls nest: only the first inhibit and the last uninhibit of a device reach
 * ModemManager. Operations run one at a time in call order. A cancel after
 * the request went to ModemManager does not undo it: the operation completes
 * as ModemManager answered.
 */
void mm_inhibit(MmClient *mm, const char *device, GCancellable *cancellable, GAsyncReadyCallback cb,
                gpointer user_data);
gboolean mm_inhibit_finish(MmClient *mm, GAsyncResult *res, GError **error);
void mm_uninhibit(MmClient *mm, const char *device, GCancellable *cancellable,
                  GAsyncReadyCallback cb, gpointer user_data);
gboolean mm_uninhibit_finish(MmClient *mm, GAsyncResult *res, GError **error);

/* The bus address it was made for; NULL: the system bus. */
const char *mm_client_get_address(MmClient *mm);
/* TRUE while ModemManager holds an inhibition of device for this client. */
gboolean mm_is_inhibited(MmClient *mm, const char *device);

/*
 * mm-watch.c: what ModemManager reports about the modems, kept current:
 * which of its modem objects is on a device, and which SIM it has. changed
 * is called whenever a device's modem object changes (ModemManager probed
 * it again, left or came back). bus_address as for mm_client_new().
 */
typedef struct _MmWatch MmWatch;
typedef void (*MmWatchChangedFunc)(gpointer user_data);

MmWatch *mm_watch_new(const char *bus_address, MmWatchChangedFunc changed, gpointer user_data);
/* Connects and starts watching, once: when the first modem ModemManager
 * could know (one with a device) is there, so that a daemon given only bare
 * ports never opens the connection. */
void mm_watch_start(MmWatch *watch);
void mm_watch_free(MmWatch *watch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MmWatch, mm_watch_free)
/* ModemManager's object path of the modem on device; NULL when it has none. */
const char *mm_watch_get_modem(MmWatch *watch, const char *device);
/*
 * Completes once ModemManager reports the SIM with this ICCID for the
 * modem on device (iccid NULL: no SIM), as it does after it probed the
 * modem again. G_IO_ERROR_TIMED_OUT after timeout_ms; G_IO_ERROR_NOT_FOUND
 * at once when ModemManager is not running.
 */
void mm_watch_wait_sim(MmWatch *watch, const char *device, const char *iccid, guint timeout_ms,
                       GCancellable *cancellable, GAsyncReadyCallback cb, gpointer user_data);
gboolean mm_watch_wait_sim_finish(MmWatch *watch, GAsyncResult *res, GError **error);

G_END_DECLS
