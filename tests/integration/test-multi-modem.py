#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Several modems at once: one Euicc1 object per slot holding an eUICC
(none for an empty slot or a plain SIM), each saying which transport, port
and slot it is on, and operations on different eUICCs running in parallel
while each eUICC's own queue stays in order."""

import subprocess

import harness
from harness import EUICC, MANAGER, PROFILE


class MultiModem(harness.WorldTestCase):
    def euiccs_by_eid(self):
        return {self.world.get_property(p, EUICC, "Eid"): p for p in self.world.euicc_paths()}

    def test_four_slots_on_two_modems_give_one_object_per_euicc(self):
        qmi = self.world.add_modem("qmi", ["three-profiles.card", "eight-icons.card"])
        mbim = self.world.add_modem("mbim", ["empty", "plain-sim.card"])
        self.world.start_esimd(wait_euiccs=1)
        # Scan returns once every modem has been probed again: the count is
        # final then.
        self.world.call(harness.MANAGER_PATH, MANAGER, "Scan")

        first = harness.parse_card("three-profiles.card")["card"]["eid"]
        second = harness.parse_card("eight-icons.card")["card"]["eid"]
        by_eid = self.euiccs_by_eid()
        # SGP.22 eUICCs in both QMI slots; the MBIM modem holds an empty slot
        # and a plain SIM, which are not eUICCs.
        self.assertEqual(sorted(by_eid), sorted([first, second]),
                         "one Euicc1 per slot holding an eUICC (Euicc1.xml), the inactive "
                         "slot included")
        for eid, slot, active in ((first, 1, True), (second, 2, False)):
            props = self.world.get_all(by_eid[eid], EUICC)
            self.assertEqual((props["Transport"], props["Port"], props["Slot"],
                              props["SlotActive"]), ("qmi", qmi.port, slot, active))
        for path in self.world.euicc_paths():
            self.assertNotEqual(self.world.get_property(path, EUICC, "Port"), mbim.port)

    def test_each_modem_is_its_own_object_with_its_transport_and_port(self):
        qmi = self.world.add_modem("qmi", ["three-profiles.card"])
        mbim = self.world.add_modem("mbim", ["eight-icons.card"])
        at = self.world.add_modem("at", ["ppr.card"])
        self.world.start_esimd()
        by_eid = self.euiccs_by_eid()
        self.assertEqual(len(by_eid), 3)
        for modem, card in ((qmi, "three-profiles.card"), (mbim, "eight-icons.card"),
                            (at, "ppr.card")):
            data = harness.parse_card(card)
            path = by_eid[data["card"]["eid"]]
            props = self.world.get_all(path, EUICC)
            self.assertEqual((props["Transport"], props["Port"], props["Slot"]),
                             (modem.protocol, modem.port, 1))
            iccids = sorted(self.world.get_property(p, PROFILE, "Iccid")
                            for p in props["Profiles"])
            self.assertEqual(iccids, sorted(p["iccid"] for p in data["profiles"]))
        # Profile paths live under their own eUICC's path.
        for path in by_eid.values():
            for profile in self.world.profile_paths(path):
                self.assertTrue(profile.startswith(path + "/profile/"), profile)

    def test_a_stuck_card_does_not_hold_up_another_modem(self):
        # The card behind the QMI modem never answers its first SetNickname
        # (the daemon gives up after timeout-ms); the MBIM modem's card is
        # served meanwhile.
        self.world.add_modem("qmi", ["three-profiles.card"], options=["fault=drop:BF29@1"])
        self.world.add_modem("mbim", ["eight-icons.card"])
        self.world.start_esimd(config={"timeout-ms": "15000"})
        by_eid = self.euiccs_by_eid()
        stuck = self.world.profile_paths(
            by_eid[harness.parse_card("three-profiles.card")["card"]["eid"]])[1]
        free_euicc = by_eid[harness.parse_card("eight-icons.card")["card"]["eid"]]
        free = self.world.profile_paths(free_euicc)[1]

        monitor = self.world.monitor()
        stuck_call = subprocess.Popen(
            ["gdbus", "call", "--address", self.world.address, "--dest", harness.BUS_NAME,
             "--object-path", stuck, "--method", f"{PROFILE}.SetNickname", '"stuck"',
             "--timeout", str(int(harness.timeout(60)))],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: stuck_call.poll() is None and stuck_call.kill())
        monitor.wait_for(lambda m: m.get("type") == "method_call" and m.get("path") == stuck,
                         what="the stuck call delivered")

        # Two operations on the other card complete while the first waits.
        self.world.call(free, PROFILE, "SetNickname", "s", "served")
        self.world.call(free, PROFILE, "Enable")
        self.assertIsNone(stuck_call.poll(), "the stuck call ended before the other card was "
                          "served: nothing shows the cards worked in parallel")
        self.assertEqual(self.world.get_property(free, PROFILE, "Nickname"), "served")
        self.assertEqual(self.world.get_property(free_euicc, EUICC, "EnabledProfile"), free)

        _, err = stuck_call.communicate(timeout=harness.timeout(60))
        self.assertNotEqual(stuck_call.returncode, 0)
        self.assertIn("org.esimd.Error.Timeout", err)


if __name__ == "__main__":
    harness.main()
