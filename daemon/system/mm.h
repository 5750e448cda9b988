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

/* TRUE while ModemManager holds an inhibition of device for this client. */
gboolean mm_is_inhibited(MmClient *mm, const char *device);

G_END_DECLS
