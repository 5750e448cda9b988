/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Discovery: finds modems through udev, groups their ports by physical
 * device, picks one control port per modem and reports it as a ModemSpec.
 *
 * Ports considered:
 * - usbmisc cdc-wdm*: QMI when ID_MM_PORT_TYPE_QMI=1 or the USB interface is
 *   bound to qmi_wwan, MBIM when ID_MM_PORT_TYPE_MBIM=1 or cdc_mbim;
 * - wwan (kernel WWAN framework) wwanXqmiY / wwanXmbimY / wwanXatY, by the
 *   port's "type" attribute, else by its name;
 * - tty: only ports ModemManager's rules mark (ID_MM_PORT_TYPE_AT_PRIMARY,
 *   ID_MM_PORT_TYPE_AT_SECONDARY, or ID_MM_CANDIDATE on a USB modem), never
 *   every serial port; ID_MM_PORT_IGNORE=1 drops a tty.
 * The modem ("device", equal to ModemManager's Modem.Device) is the sysfs path
 * of the nearest USB device or PCI function above the port, or of the wwan
 * device's parent.
 *
 * One control port per modem: QMI, then MBIM, then AT primary, AT secondary,
 * other AT; equal ranks go by port name. A port with ESIMD_PORT_TYPE set ranks
 * above every port without it.
 *
 * udev properties esimd reads (set them in a rules file, see udev/):
 *   ESIMD_IGNORE=1        on a port: skip that port; on the USB/PCI device
 *                         (a rule with ATTRS{idVendor} matches both): skip
 *                         the whole modem.
 *   ESIMD_PORT_TYPE=qmi|mbim|at
 *                         use this port, speaking this protocol, whatever
 *                         the driver or ModemManager says.
 *   ESIMD_NO_PROXY=1      open QMI/MBIM ports directly, not through
 *                         qmi-proxy / mbim-proxy.
 *   ESIMD_AT_CSIM_ONLY=1  the modem's +CCHO/+CGLA are broken: go through
 *                         +CSIM alone (reported as DISCOVERY_QUIRK_AT_CSIM_ONLY).
 *   ID_MM_TTY_BAUDRATE=N  (ModemManager's) baud rate of an AT tty.
 *
 * QRTR modems (SoC modems reached over the IPC router) have no udev node to
 * watch: they are configured statically (qrtr:NODE) for now.
 * TODO: find them through the QRTR name service's modem service lookup.
 */
#pragma once

#include <gio/gio.h>

#include "transport/transport.h"

G_BEGIN_DECLS

/* A modem the daemon was told about (command line, config) or found. */
typedef struct {
  TransportKind kind;
  gchar *port;    /* control port path */
  gchar *device;  /* sysfs path of the modem, "" when unknown */
  guint baudrate; /* AT only, 0 = default */
  TransportOpenFlags flags;
} ModemSpec;

typedef enum {
  DISCOVERY_QUIRK_NONE = 0,
  /* ESIMD_AT_CSIM_ONLY=1: use +CSIM only, never +CCHO/+CGLA. */
  DISCOVERY_QUIRK_AT_CSIM_ONLY = 1 << 0,
} DiscoveryQuirks;

/* Called from the main loop (or from discovery_start()); a callback must not
 * free the Discovery. */
typedef struct {
  /* A modem appeared, or its best control port changed (then modem_removed
   * for the old port comes first). spec is borrowed for the call. */
  void (*modem_added)(const ModemSpec *spec, DiscoveryQuirks quirks, gpointer user_data);
  /* The port of a modem reported before is gone (unplug, driver unbind, or
   * ESIMD_IGNORE set later); reported at once. spec is the one modem_added
   * gave, borrowed for the call. */
  void (*modem_removed)(const ModemSpec *spec, gpointer user_data);
} DiscoveryListener;

typedef struct {
  /* Flags every reported ModemSpec starts with (NO_PROXY when the
   * configuration turns the proxies off). */
  TransportOpenFlags flags;
  /* Quiet time after the last port event of a device before its modem is
   * reported, so that the preferred port wins; 0 = 1500 ms. */
  guint settle_ms;
} DiscoveryConfig;

typedef struct _Discovery Discovery;

Discovery *discovery_new(const DiscoveryConfig *config, const DiscoveryListener *listener,
                         gpointer user_data);
/* Reports nothing more, including modems still settling. */
void discovery_free(Discovery *discovery);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Discovery, discovery_free)

/* A port configured statically: the modem it belongs to is never reported.
 * Call before discovery_start(). Symlinks (/dev/serial/by-id/...) are
 * resolved. */
void discovery_exclude_port(Discovery *discovery, const char *port);

/* Starts watching udev, then reports the modems present now before it
 * returns (they are settled already); later ones come from the main loop.
 * Fails when udev cannot be read. */
gboolean discovery_start(Discovery *discovery, GError **error);

G_END_DECLS
