#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The same user flow over each transport, QMI, MBIM and AT: esimctl lists
the card, disables the enabled profile, enables another, sets and clears a
nickname, deletes a profile; each change is on the card afterwards (a fresh
daemon reads it back) and the eUICC says which transport it is on."""

import json

import harness
from harness import EUICC, PROFILE

CARD = "three-profiles.card"


class Flow:
    protocol = None

    def setUp(self):
        super().setUp()
        self.card = harness.parse_card(CARD)
        self.modem = self.world.add_modem(self.protocol, [CARD])
        self.world.start_esimd()

    def esimctl_json(self, *args):
        res = self.world.esimctl("--json", *args)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        return json.loads(res.stdout)

    def card_view(self):
        card = self.esimctl_json("list")["euiccs"]
        self.assertEqual(len(card), 1)
        return card[0]

    def states(self):
        return {p["iccid"]: (p["state"], p["nickname"]) for p in self.card_view()["profiles"]}

    def test_list_disable_enable_nickname_delete(self):
        first, second, third = (p["iccid"] for p in self.card["profiles"])
        view = self.card_view()
        self.assertEqual((view["transport"], view["port"], view["slot"]),
                         (self.protocol, self.modem.port, 1))
        self.assertEqual(view["eid"], self.card["card"]["eid"])
        self.assertEqual(self.world.get_property(self.world.euicc_paths()[0], EUICC,
                                                 "Transport"), self.protocol)
        self.assertEqual([p["iccid"] for p in view["profiles"]], [first, second, third])
        self.assertEqual(view["enabled_profile"], first)

        self.assertEqual(self.esimctl_json("disable", first)["state"], "disabled")
        self.assertIsNone(self.card_view()["enabled_profile"])
        self.assertEqual(self.esimctl_json("enable", second)["state"], "enabled")
        self.assertEqual(self.card_view()["enabled_profile"], second)
        self.assertEqual(self.esimctl_json("nickname", third, "Über-roaming")["nickname"],
                         "Über-roaming")
        self.assertEqual(self.esimctl_json("nickname", first, "")["nickname"], "")
        self.assertEqual(self.esimctl_json("delete", "--yes", first)["deleted"], True)

        expected = {second: ("enabled", ""), third: ("disabled", "Über-roaming")}
        self.assertEqual(self.states(), expected)
        # The card itself holds that state: a new daemon reads the same.
        self.assertEqual(self.world.stop_esimd(), 0)
        self.world.start_esimd()
        self.assertEqual(self.states(), expected)


class Qmi(Flow, harness.WorldTestCase):
    protocol = "qmi"


class Mbim(Flow, harness.WorldTestCase):
    protocol = "mbim"


class At(Flow, harness.WorldTestCase):
    protocol = "at"


if __name__ == "__main__":
    harness.main()
