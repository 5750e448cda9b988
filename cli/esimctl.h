/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the parts of esimctl share: the options every command sees, the exit
 * statuses (esimctl(1) documents them; scripts rely on them) and the error
 * reporting that turns a D-Bus error into one line and one exit status.
 */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

#define ESIMD_BUS_NAME "org.esimd"
#define ESIMD_MANAGER_PATH "/org/esimd"
#define ESIMD_MANAGER_IFACE "org.esimd.Manager1"
#define ESIMD_EUICC_IFACE "org.esimd.Euicc1"
#define ESIMD_PROFILE_IFACE "org.esimd.Profile1"

/* Exit statuses, one per class of failure (esimctl(1), EXIT STATUS). */
enum {
  EXIT_OK = 0,
  EXIT_FAILURE_OTHER = 1,
  EXIT_USAGE = 2,
  EXIT_NOT_FOUND = 3,
  EXIT_REFUSED = 4,
  EXIT_ACCESS_DENIED = 5,
  EXIT_MODEM = 6,
  EXIT_SMDP = 7,
  EXIT_NO_DAEMON = 8,
};

typedef struct {
  sd_bus *bus;
  gboolean json;
  gboolean full;                 /* EIDs unshortened in tables */
  gboolean yes;                  /* no confirmation for delete and install */
  gboolean enable;               /* install: enable the profile once installed */
  const char *confirmation_code; /* install --confirmation-code, NULL when not given */
  const char *smds;              /* discover and install --event: --smds, NULL: the root SM-DS */
  guint event;                   /* install --event N (1-based as discover numbers them), 0: none */
  const char *eid;               /* --eid PREFIX, NULL when not given */
} Esimctl;

/* Prints "esimctl: MESSAGE" on stderr and returns status. */
int esimctl_fail(int status, const char *format, ...) G_GNUC_PRINTF(2, 3);
/* Prints the daemon's message as is and returns the exit status of its
 * error name. */
int esimctl_fail_bus(const sd_bus_error *error, int r);
/* The exit status for a D-Bus error name (EXIT_FAILURE_OTHER when unknown). */
int esimctl_status_for_error(const char *name);

/* Sends a method call built by the caller, as esimctl_call() does. */
int esimctl_send(Esimctl *ctl, sd_bus_message *call, gboolean interactive, sd_bus_error *error,
                 sd_bus_message **reply);
/* Calls METHOD on an esimd object with a timeout that lets slow cards
 * finish; methods that change something let polkit ask the user
 * (interactive authorization). Arguments as for sd_bus_message_append(). */
int esimctl_call(Esimctl *ctl, const char *path, const char *iface, const char *method,
                 gboolean interactive, sd_bus_error *error, sd_bus_message **reply,
                 const char *types, ...);
