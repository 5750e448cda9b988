#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A modem that goes away: the call in flight fails with
org.esimd.Error.Removed, the eUICC and its profiles leave the bus with
InterfacesRemoved (and Manager1.Euiccs changes), and esimd keeps running
and serving the other modem."""

import os
import subprocess

import harness
from harness import EUICC, MANAGER, OBJECT_MANAGER, PROFILE


class Unplug(harness.WorldTestCase):
    def setUp(self):
        super().setUp()
        self.apdu_log = os.path.join(self.world.tmpdir, "apdu.log")
        # Answers wait a little, so that a call is surely in flight when the
        # port closes.
        self.doomed = self.world.add_modem("qmi", ["three-profiles.card"], options=[
            "delay-ms=200", f"apdu-log={self.apdu_log}"])
        self.other = self.world.add_modem("mbim", ["eight-icons.card"])
        self.world.start_esimd()
        self.monitor = self.world.monitor()
        by_eid = {self.world.get_property(p, EUICC, "Eid"): p for p in self.world.euicc_paths()}
        self.doomed_euicc = by_eid[harness.parse_card("three-profiles.card")["card"]["eid"]]
        self.other_euicc = by_eid[harness.parse_card("eight-icons.card")["card"]["eid"]]
        self.doomed_paths = [self.doomed_euicc] + self.world.profile_paths(self.doomed_euicc)

    def assert_doomed_gone_and_other_served(self):
        for path in self.doomed_paths:
            self.monitor.wait_for(
                lambda m, p=path: m.get("type") == "signal"
                and m.get("member") == "InterfacesRemoved"
                and m.get("interface") == OBJECT_MANAGER
                and m.get("payload", {}).get("data", [None])[0] == p,
                what=f"InterfacesRemoved for {path}")
        harness.wait_until(lambda: self.world.euicc_paths() == [self.other_euicc],
                           what="Manager1.Euiccs without the unplugged eUICC")
        objects = self.world.managed_objects()
        for path in self.doomed_paths:
            self.assertNotIn(path, objects)
        euiccs = self.monitor.wait_for_properties_changed(harness.MANAGER_PATH, MANAGER,
                                                          "Euiccs")
        self.assertEqual(euiccs, [self.other_euicc])

        self.assertIsNone(self.world.esimd_proc.poll(), "esimd died with the modem")
        profile = self.world.profile_paths(self.other_euicc)[2]
        self.assertEqual(self.world.call(profile, PROFILE, "SetNickname", "s", "still here"), [])
        self.assertEqual(self.world.get_property(profile, PROFILE, "Nickname"), "still here")
        # A call to an object that went away is refused by the bus layer.
        name, _ = self.world.gdbus_error(self.doomed_paths[1], PROFILE, "Enable")
        self.assertIn(name, ("org.freedesktop.DBus.Error.UnknownObject",
                             "org.freedesktop.DBus.Error.UnknownMethod"))

    def test_port_closed_mid_call_fails_the_call_with_removed(self):
        target = self.doomed_paths[2]
        with open(self.apdu_log) as f:
            lines_before = len(f.read().splitlines())
        call = subprocess.Popen(
            ["gdbus", "call", "--address", self.world.address, "--dest", harness.BUS_NAME,
             "--object-path", target, "--method", f"{PROFILE}.Enable",
             "--timeout", str(int(harness.timeout()))],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: call.poll() is None and call.kill())

        def at_card():
            with open(self.apdu_log) as f:
                return any("BF31" in line for line in f.read().splitlines()[lines_before:])
        harness.wait_until(at_card, what="EnableProfile at the card")
        self.doomed.proc.kill()
        _, err = call.communicate(timeout=harness.timeout())
        self.assertNotEqual(call.returncode, 0)
        self.assertIn("org.esimd.Error.Removed", err)
        self.assert_doomed_gone_and_other_served()

    def test_queued_calls_fail_with_removed_too(self):
        profiles = self.doomed_paths[1:]
        calls = [subprocess.Popen(
            ["gdbus", "call", "--address", self.world.address, "--dest", harness.BUS_NAME,
             "--object-path", profiles[i % len(profiles)], "--method",
             f"{PROFILE}.SetNickname", f'"n{i}"', "--timeout", str(int(harness.timeout()))],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i in range(4)]
        for c in calls:
            self.addCleanup(lambda c=c: c.poll() is None and c.kill())
        harness.wait_until(lambda: len([m for m in self.monitor.messages
                                        if m.get("type") == "method_call"
                                        and m.get("member") == "SetNickname"]) == 4,
                           what="the four calls delivered")
        self.doomed.proc.kill()
        for c in calls:
            _, err = c.communicate(timeout=harness.timeout())
            # The first may have finished before the port closed; the rest
            # cannot have.
            if c.returncode != 0:
                self.assertIn("org.esimd.Error.Removed", err)
        self.assertGreaterEqual(sum(c.returncode != 0 for c in calls), 3)
        self.assert_doomed_gone_and_other_served()

    def test_idle_modem_unplugged_removes_its_objects(self):
        self.doomed.proc.terminate()
        self.doomed.proc.wait(harness.timeout(10))
        self.assert_doomed_gone_and_other_served()
        res = self.world.esimctl("--json", "list")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn(harness.parse_card("eight-icons.card")["card"]["eid"], res.stdout)
        self.assertNotIn(harness.parse_card("three-profiles.card")["card"]["eid"], res.stdout)


if __name__ == "__main__":
    harness.main()
