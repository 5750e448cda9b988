/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * smdp-sim for a unit test: a test PKI made by tests/sim/mkpki in a fresh
 * temporary folder, smdp-sim --pki serving the given profiles on a free
 * port of 127.0.0.1, its stdin knobs and its JSON log (smdp-sim.md). Every
 * failure fails the test.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "euicc-sim.h"

typedef struct _SmdpFixture SmdpFixture;

/* Makes the PKI (eid NULL: mkpki's default EID) in a new temporary folder,
 * writes profiles_json there and starts smdp-sim once it listens. */
SmdpFixture *smdp_fixture_start(const char *profiles_json, const char *eid);

/* Stops smdp-sim and removes the temporary folder. */
void smdp_fixture_stop(SmdpFixture *f);

guint smdp_fixture_get_port(SmdpFixture *f);
/* The temporary folder, which holds the PKI as "pki". */
const char *smdp_fixture_get_dir(SmdpFixture *f);
const char *smdp_fixture_get_pki_dir(SmdpFixture *f);
/* The test CI's certificate, the trust anchor of smdp-sim's TLS. */
const char *smdp_fixture_get_ca_file(SmdpFixture *f);

/* Makes, in the temporary folder, a CA that signed nothing smdp-sim shows;
 * its certificate's path. */
gchar *smdp_fixture_make_other_ca(SmdpFixture *f);

/* One stdin command (e.g. "status 503"); its "OK {...}" answer line. */
gchar *smdp_fixture_knob(SmdpFixture *f, const char *command);

/* Every record of the log whose function starts with prefix ("" for all). */
GPtrArray *smdp_fixture_records(SmdpFixture *f, const char *prefix);

/* The last record of function; fails the test when there is none. */
JsonObject *smdp_fixture_last_record(SmdpFixture *f, const char *function);

/* The card side of an ES9+ test: an empty eUICC (euicc-sim, mkpki's
 * default EID) holding the fixture's PKI, a logical channel open on its
 * ISD-R. Free sim with euicc_sim_free(). */
typedef struct {
  EuiccSim *sim;
  guint8 ch;
} SmdpCard;

void smdp_fixture_card_open(SmdpFixture *f, SmdpCard *c);
/* One ES10 command, through the project's own ISO 7816 driver (STORE DATA
 * blocks, GET RESPONSE); fails the test on error. */
GBytes *smdp_card_es10(SmdpCard *c, GBytes *command);
