/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bus/: the D-Bus face of the daemon. It connects to a bus with sd-bus, runs
 * that connection inside the one GLib main loop, exports Manager1, Euicc1
 * and Profile1 over the service layer, and turns the service's change reports
 * into PropertiesChanged / InterfacesAdded / InterfacesRemoved. It decides
 * nothing: every answer comes from service.h, every refusal from polkit.
 */
#pragma once

#include <gio/gio.h>

#include "service/service.h"

G_BEGIN_DECLS

#define BUS_NAME "org.esimd"
#define BUS_MANAGER_PATH "/org/esimd"

typedef struct _Bus Bus;

/* Called once when the bus connection is lost. */
typedef void (*BusDisconnectedFunc)(Bus *bus, gpointer user_data);

/* Connects to "system", "session" or a D-Bus address (unix:path=...). */
Bus *bus_new(const char *where, GError **error);
/* Cancels every pending call, flushes what is queued and disconnects. */
void bus_free(Bus *bus);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Bus, bus_free)

void bus_set_disconnected_func(Bus *bus, BusDisconnectedFunc func, gpointer user_data);

/* The listener to hand to manager_new(), with the Bus as its user_data. */
const ServiceListener *bus_get_service_listener(void);

/* Registers the objects over this manager; call before bus_request_name(). */
gboolean bus_export(Bus *bus, Manager *manager, GError **error);
/* Forgets the manager (before manager_free): objects vanish from the bus. */
void bus_unexport(Bus *bus);

/* Takes the well-known name; fails when another process holds it. */
gboolean bus_request_name(Bus *bus, GError **error);
void bus_release_name(Bus *bus);

G_END_DECLS
