/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Between udev.c (what udev says about one port) and discovery.c (grouping
 * ports into modems and choosing one). Not for use outside discovery/.
 */
#pragma once

#include <gio/gio.h>

#include "discovery/discovery.h"

G_BEGIN_DECLS

/* How much a port is wanted as the control port; higher wins. */
typedef enum {
  PORT_RANK_AT = 1, /* a tty ModemManager calls a candidate, nothing more */
  PORT_RANK_AT_SECONDARY,
  PORT_RANK_AT_PRIMARY,
  PORT_RANK_MBIM,
  PORT_RANK_QMI,
  /* Added to the rank of a port whose type ESIMD_PORT_TYPE forces. */
  PORT_RANK_FORCED = 16,
} PortRank;

/* One control port as udev describes it. */
typedef struct {
  gchar *syspath; /* the port's own sysfs path: the key, known on removal too */
  gchar *port;    /* device node, /dev/cdc-wdm0 */
  gchar *device;  /* sysfs path of the modem (ModemManager's Modem.Device) */
  TransportKind kind;
  guint rank;               /* PortRank, plus PORT_RANK_FORCED when forced */
  guint baudrate;           /* ID_MM_TTY_BAUDRATE, 0 = default */
  TransportOpenFlags flags; /* ESIMD_NO_PROXY */
  DiscoveryQuirks quirks;
} DiscoveryPort;

void discovery_port_free(DiscoveryPort *port);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DiscoveryPort, discovery_port_free)

/* The port (transfer full) is a control port, new or changed. */
typedef void (*DiscoveryPortAddedFunc)(DiscoveryPort *port, gpointer user_data);
/* The port at this sysfs path is gone or no longer a control port; may name
 * a port never added. */
typedef void (*DiscoveryPortRemovedFunc)(const char *syspath, gpointer user_data);

typedef struct _DiscoveryUdev DiscoveryUdev;

/* Starts the monitor on the main context; events come only after
 * discovery_udev_enumerate() returned. */
DiscoveryUdev *discovery_udev_new(DiscoveryPortAddedFunc added, DiscoveryPortRemovedFunc removed,
                                  gpointer user_data, GError **error);
/* Calls added() for every control port present now. */
void discovery_udev_enumerate(DiscoveryUdev *self);
void discovery_udev_free(DiscoveryUdev *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DiscoveryUdev, discovery_udev_free)

G_END_DECLS
