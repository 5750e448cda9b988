#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""esimd restarted while the modem stays: the new daemon shows the card as
the card is (after a disable, an enable, a delete, a nickname), nothing it
kept from before, and it exits cleanly on SIGTERM each time."""

import harness
from harness import EUICC, PROFILE

CARD = "three-profiles.card"


class Restart(harness.WorldTestCase):
    def setUp(self):
        super().setUp()
        self.card = harness.parse_card(CARD)
        self.modem = self.world.add_modem("qmi", [CARD])
        self.world.start_esimd()

    def euicc(self):
        return self.world.euicc_paths()[0]

    def profiles(self):
        """{ICCID: {property: value}} as the daemon shows them now."""
        objects = self.world.managed_objects()
        return {props[PROFILE]["Iccid"]: props[PROFILE]
                for props in objects.values() if PROFILE in props}

    def path_of(self, iccid):
        for path in self.world.profile_paths(self.euicc()):
            if self.world.get_property(path, PROFILE, "Iccid") == iccid:
                return path
        raise AssertionError(f"no profile {iccid}")

    def restart(self):
        before = self.profiles()
        status = self.world.stop_esimd()
        self.assertEqual(status, 0, "esimd did not exit cleanly on SIGTERM")
        self.world.start_esimd()
        after = self.profiles()
        # Object paths are counters of one daemon's life; compare by ICCID.
        self.assertEqual(after, before)
        return after

    def enabled_iccid(self):
        path = self.world.get_property(self.euicc(), EUICC, "EnabledProfile")
        return None if path == "/" else self.world.get_property(path, PROFILE, "Iccid")

    def test_state_survives_restarts_after_each_kind_of_change(self):
        first, second, third = (p["iccid"] for p in self.card["profiles"])

        self.world.call(self.path_of(first), PROFILE, "Disable")
        after = self.restart()
        self.assertEqual(after[first]["State"], "disabled")
        self.assertIsNone(self.enabled_iccid())

        self.world.call(self.path_of(second), PROFILE, "Enable")
        after = self.restart()
        self.assertEqual(after[second]["State"], "enabled")
        self.assertEqual(self.enabled_iccid(), second)

        self.world.call(self.path_of(third), PROFILE, "SetNickname", "s", "Kept on the card")
        after = self.restart()
        self.assertEqual(after[third]["Nickname"], "Kept on the card")

        self.world.call(self.path_of(first), PROFILE, "Delete")
        after = self.restart()
        self.assertEqual(sorted(after), sorted([second, third]))
        self.assertEqual(len(self.world.profile_paths(self.euicc())), 2)

    def test_notifications_written_before_a_restart_are_still_pending(self):
        first = self.card["profiles"][0]["iccid"]
        self.world.call(self.path_of(first), PROFILE, "Disable")
        listed = self.world.call(self.euicc(), EUICC, "ListNotifications")[0]
        self.assertEqual(len(listed), 1)
        self.restart()
        self.assertEqual(self.world.call(self.euicc(), EUICC, "ListNotifications")[0], listed)
        self.assertEqual(self.world.get_property(self.euicc(), EUICC, "PendingNotifications"), 1)

    def test_sigkill_and_restart_still_shows_the_card(self):
        self.world.call(self.path_of(self.card["profiles"][1]["iccid"]), PROFILE, "Enable")
        before = self.profiles()
        self.world.stop_esimd(sig=9)
        self.world.start_esimd()
        self.assertEqual(self.profiles(), before)


if __name__ == "__main__":
    harness.main()
