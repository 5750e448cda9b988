#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Profile Policy Rules at download time (SGP.22 2.9, 3.1.3.2), through
esimd over QMI with a card whose Rules Authorisation Table comes from its
card file's rat-rule lines, and smdp-sim handing out profiles with PPRs.

A PPR the RAT does not allow for the owner fails the Download1 with
org.esimd.Error.DisallowedByPolicy, the session cancelled with reason
pprNotAllowed at the SM-DP+ and nothing on the card; one it allows only
with consent shows in Metadata and esimctl install says that the consent
covers it."""

import json
import os

import harness
from downloads import Owner
from harness import EUICC, PROFILE

DOWNLOAD = "org.esimd.Download1"
EID = "89049032123451234512345678901235"
ADDRESS = "smdp.example.com"
ICCID_PPR2 = "8949449999999990205"
ICCID_OTHER = "8949449999999990213"
FINAL = ("done", "failed", "cancelled")

PROFILES = {"profiles": {
    "MID-PPR2": {"iccid": ICCID_PPR2, "name": "Undeletable", "owner": "26201",
                 "ppr": ["ppr2"]},
    "MID-OTHER": {"iccid": ICCID_OTHER, "name": "Other operator", "owner": "310410",
                  "ppr": "ppr2"},
}, "events": {}}

# PPR2 for the 262 operators, with the user's consent; nobody else.
RAT = "rat-rule ppr2 262EE consent\n"


class Policy(harness.WorldTestCase):
    def setUp(self):
        super().setUp()
        pki = harness.make_pki(self.world, EID)
        card = os.path.join(self.world.tmpdir, "euicc.card")
        with open(card, "w") as f:
            f.write(f"type euicc\neid {EID}\npki {os.path.basename(pki)}\n"
                    f"default-smdp {ADDRESS}\n{RAT}")
        profiles = os.path.join(self.world.tmpdir, "profiles.json")
        with open(profiles, "w") as f:
            json.dump(PROFILES, f)
        self.smdp = harness.SmdpSim(self.world, args=["--profiles", profiles], pki=pki)
        self.world.add_modem("qmi", [card])
        self.world.start_esimd(args=self.smdp.esimd_args())
        [self.euicc] = self.world.euicc_paths()
        self.owners = []
        self.addCleanup(lambda: [o.close() for o in self.owners])

    def prop(self, path, name):
        return self.world.get_property(path, DOWNLOAD, name)

    def iccids(self):
        return sorted(self.world.get_property(p, PROFILE, "Iccid")
                      for p in self.world.profile_paths(self.euicc))

    def test_not_allowed_is_cancelled(self):
        owner = Owner(self.world)
        self.owners.append(owner)
        path = owner.download(self.euicc, f"LPA:1${ADDRESS}$MID-OTHER", accept=True)
        state = harness.wait_until(
            lambda: (lambda s: s if s in FINAL else None)(self.prop(path, "State")),
            what="the download to end")
        message = self.prop(path, "ErrorMessage")
        self.assertEqual((state, self.prop(path, "Error")),
                         ("failed", "org.esimd.Error.DisallowedByPolicy"), message)
        self.assertIn("PPR2", message)
        self.assertIn("310410", message)
        self.assertEqual(self.prop(path, "Metadata")["policy-rules"]["data"],
                         ["delete-not-allowed"])
        [cancel] = [r for r in self.smdp.received()
                    if r.get("function") == "es9plus/cancelSession"]
        self.assertEqual((cancel["result"], cancel["reason"]), ("ok", "pprNotAllowed"))
        self.assertEqual(self.iccids(), [])

    def test_esimctl_shows_the_rules(self):
        res = self.world.esimctl("install", "--yes", f"1${ADDRESS}$MID-PPR2", seconds=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("Policy    the profile cannot be deleted (PPR2)", res.stderr)
        self.assertIn("Installing it means consenting to this rule (the eUICC requires "
                      "that consent).", res.stderr)
        self.assertEqual(self.iccids(), [ICCID_PPR2])


if __name__ == "__main__":
    harness.main()
