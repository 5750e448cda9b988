/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the service-layer download tests share: one smdp-sim with a test PKI
 * for the whole group, and per test a Manager over modem-sim whose card is
 * an empty eUICC holding that PKI's keys, with the Download's announcements
 * recorded.
 */
#pragma once

#include <glib.h>

#include "euicc-sim.h"
#include "modem-sim.h"
#include "service/service.h"
#include "smdp-fixture.h"
#include "transport/transport.h"

#define EID "89049032123451234512345678901235" /* mkpki's default */
#define ADDRESS "smdp.example.com"
#define ICCID_PLAIN "8949449999999990023"
#define ICCID_CC "8949449999999990031"
#define ICCID_PPR2 "8949449999999990049" /* PPR2, owner 26201 */
#define ICCID_PPR1 "8949449999999990056" /* PPR1, owner 26201 */
#define AC_PLAIN "LPA:1$" ADDRESS "$MID-PLAIN"
#define AC_CC "1$" ADDRESS "$MID-CC$$1"

typedef struct {
  ModemSim *ms;
  Manager *manager;
  Euicc *euicc;
  GPtrArray *states;    /* gchar*: each state the Download announced, in order */
  gdouble progress;     /* the last progress announced */
  guint progress_steps; /* how often it grew */
  gboolean progress_went_back;
} DownloadFixture;

/* cmocka group setup and teardown: smdp-sim serving MID-PLAIN and MID-CC. */
int download_fixture_start_world(void **state);
int download_fixture_stop_world(void **state);
SmdpFixture *download_fixture_smdp(void);

/* A DownloadFixture in *state over protocol, modem-sim option (or NULL). */
int download_fixture_setup(void **state, ModemSimProtocol protocol, TransportKind kind,
                           const char *option);
/* The same over QMI on an eUICC whose card file has extra lines too
 * (tests/sim/README.md: rat-rule, [profile] ...). */
int download_fixture_setup_card(void **state, const char *extra);
int download_fixture_teardown(void **state);

/* A DownloadChangedFunc recording in the DownloadFixture (data) what d announces. */
void download_fixture_changed(Download *d, gpointer data);

/* euicc_download() with f recording what it announces; fails the test on error. */
Download *download_fixture_start(DownloadFixture *f, const char *ac,
                                 const DownloadOptions *options);
/* Until d is done, failed or cancelled. */
gboolean download_fixture_is_final(gpointer d);
void download_fixture_wait_final(Download *d);
EuiccSim *download_fixture_card(DownloadFixture *f);
