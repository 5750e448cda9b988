#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Reading never touches the card: every property of every object (Get,
GetAll, GetManagedObjects, introspection) and esimctl's reading commands
are served from the daemon's cache, so the cards' APDU logs do not grow."""

import os

import harness
from harness import EUICC, MANAGER, OBJECT_MANAGER, PROFILE

# A card per transport, with icons and policy rules among them.
MODEMS = (("qmi", "three-profiles.card"), ("mbim", "eight-icons.card"), ("at", "ppr.card"))


class NoApdu(harness.WorldTestCase):
    def setUp(self):
        super().setUp()
        self.logs = []
        for protocol, card in MODEMS:
            log = os.path.join(self.world.tmpdir, f"apdu-{protocol}.log")
            self.world.add_modem(protocol, [card], options=[f"apdu-log={log}"])
            self.logs.append(log)
        self.world.start_esimd()

    def apdu_counts(self):
        counts = []
        for log in self.logs:
            with open(log) as f:
                counts.append(sum(1 for line in f if line.startswith("> ")))
        return counts

    def test_reading_everything_sends_no_apdu(self):
        before = self.apdu_counts()
        self.assertTrue(all(before), f"the probe left no APDU in some log: {before}")

        objects = self.world.managed_objects()
        self.assertEqual(len([p for p in objects if EUICC in objects[p]]), len(MODEMS))
        reads = 0
        for path, interfaces in objects.items():
            for interface, props in interfaces.items():
                if interface not in (EUICC, PROFILE):
                    continue
                self.assertEqual(self.world.get_all(path, interface), props)
                for name in props:
                    self.world.get_property(path, interface, name)
                    reads += 1
                self.world.introspect(path)
        for name in ("Version", "Euiccs"):
            self.world.get_property(harness.MANAGER_PATH, MANAGER, name)
        self.world.busctl("call", harness.BUS_NAME, harness.MANAGER_PATH, OBJECT_MANAGER,
                          "GetManagedObjects")
        self.world.busctl("tree", harness.BUS_NAME)
        for args in (("list",), ("--json", "list"), ("show",), ("info",), ("--json", "info")):
            res = self.world.esimctl(*args)
            self.assertEqual(res.returncode, 0, res.stderr)
        res = self.world.esimctl("show", harness.parse_card("ppr.card")["profiles"][0]["iccid"])
        self.assertEqual(res.returncode, 0, res.stderr)

        self.assertGreater(reads, 50)
        self.assertEqual(self.apdu_counts(), before, "reading a property reached a card")

    def test_the_logs_do_see_an_operation(self):
        # The check above means something only if an operation shows up.
        before = self.apdu_counts()
        euicc = [p for p in self.world.euicc_paths()
                 if self.world.get_property(p, EUICC, "Transport") == "qmi"][0]
        profile = self.world.profile_paths(euicc)[1]
        self.world.call(profile, PROFILE, "SetNickname", "s", "counted")
        after = self.apdu_counts()
        self.assertGreater(after[0], before[0])
        self.assertEqual(after[1:], before[1:])


if __name__ == "__main__":
    harness.main()
