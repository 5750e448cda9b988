#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Authorization: every method that changes something asks polkit for its
action (dbus/org.esimd.policy) before anything reaches the card; root passes
without asking; without polkit only root may act; reading needs nothing.
polkit is python-dbusmock's polkitd template on the private bus; the
unprivileged caller is busctl run as nobody (setpriv)."""

import os
import signal
import subprocess

import harness
from harness import EUICC, NOBODY, PROFILE

ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"

SWITCH = "org.esimd.profile.switch"
DELETE = "org.esimd.profile.delete"
CONFIGURE = "org.esimd.euicc.configure"
RESET = "org.esimd.euicc.reset"
ALL_ACTIONS = [SWITCH, DELETE, CONFIGURE, RESET]


class PolkitBase(harness.WorldTestCase):
    with_polkit = True

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("needs root to run clients as another user")
        if self.with_polkit:
            self.world.start_polkit()
        self.world.add_modem("qmi", ["three-profiles.card"])
        self.world.start_esimd()
        self.euicc = self.world.euicc_paths()[0]
        profiles = {self.world.get_property(p, PROFILE, "State"): p
                    for p in self.world.profile_paths(self.euicc)}
        self.enabled = profiles["enabled"]
        self.disabled = profiles["disabled"]

    def call_as_nobody(self, path, interface, method, signature="", *args):
        return self.world.call(path, interface, method, signature, *args, user=NOBODY)

    def assert_denied(self, path, interface, method, signature="", *args):
        with self.assertRaises(harness.CallError) as ctx:
            self.call_as_nobody(path, interface, method, signature, *args)
        self.assertEqual(ctx.exception.name, ACCESS_DENIED, ctx.exception.message)
        return ctx.exception.message

    def state(self, path):
        return self.world.get_property(path, PROFILE, "State")


class WithPolkit(PolkitBase):
    def methods(self):
        """(object, interface, method, signature, args, action) for every
        method that changes something."""
        return [
            (self.disabled, PROFILE, "Enable", "", (), SWITCH),
            (self.enabled, PROFILE, "Disable", "", (), SWITCH),
            (self.disabled, PROFILE, "SetNickname", "s", ("Mine",), SWITCH),
            (self.disabled, PROFILE, "Delete", "", (), DELETE),
            (self.euicc, EUICC, "SetDefaultSmdpAddress", "s", ("rsp.example.org",), CONFIGURE),
            (self.euicc, EUICC, "RemoveNotification", "u", (1,), CONFIGURE),
            (self.euicc, EUICC, "ResetMemory", "u", (1,), RESET),
        ]

    def test_unprivileged_caller_is_refused_when_polkit_denies(self):
        message = self.assert_denied(self.enabled, PROFILE, "Disable")
        self.assertIn(SWITCH, message)
        self.assertEqual(self.state(self.enabled), "enabled")

    def test_every_changing_method_is_refused_naming_its_action(self):
        for path, interface, method, signature, args, action in self.methods():
            with self.subTest(method=method):
                message = self.assert_denied(path, interface, method, signature, *args)
                self.assertIn(action, message)
        # Nothing reached the card.
        self.assertEqual(self.state(self.enabled), "enabled")
        self.assertEqual(len(self.world.profile_paths(self.euicc)), 3)
        self.assertEqual(self.world.get_property(self.euicc, EUICC, "DefaultSmdpAddress"),
                         "smdp.example.com")

    def test_each_method_passes_with_only_its_own_action_granted(self):
        for path, interface, method, signature, args, action in self.methods():
            with self.subTest(method=method):
                self.world.set_polkit_allowed([a for a in ALL_ACTIONS if a != action])
                self.assert_denied(path, interface, method, signature, *args)
                self.world.set_polkit_allowed([action])
                try:
                    self.call_as_nobody(path, interface, method, signature, *args)
                except harness.CallError as e:
                    # The card may refuse (no notification 1, say), but polkit
                    # no longer does.
                    self.assertNotEqual(e.name, ACCESS_DENIED, e.message)

    def test_unprivileged_caller_acts_when_polkit_allows(self):
        self.world.set_polkit_allowed([SWITCH])
        self.assertEqual(self.call_as_nobody(self.enabled, PROFILE, "Disable"), [])
        self.assertEqual(self.state(self.enabled), "disabled")
        self.assertEqual(self.call_as_nobody(self.disabled, PROFILE, "SetNickname", "s", "Mine"),
                         [])
        self.assertEqual(self.world.get_property(self.disabled, PROFILE, "Nickname"), "Mine")
        # profile.switch does not cover delete.
        self.assert_denied(self.disabled, PROFILE, "Delete")
        self.assertIn(self.disabled, self.world.profile_paths(self.euicc))

    def test_root_passes_without_asking(self):
        # polkit denies everything, yet root is not even asked.
        self.assertEqual(self.world.call(self.enabled, PROFILE, "Disable"), [])
        self.assertEqual(self.state(self.enabled), "disabled")

    def test_reading_needs_no_authorization(self):
        self.assertEqual(
            self.world.get_property(self.enabled, PROFILE, "State", user=NOBODY), "enabled")
        self.assertTrue(self.world.get_property(self.euicc, EUICC, "Eid", user=NOBODY))
        self.assertEqual(self.call_as_nobody(self.euicc, EUICC, "Refresh"), [])
        self.assertEqual(self.call_as_nobody(self.euicc, EUICC, "ListNotifications"), [[]])
        self.assertEqual(self.call_as_nobody(harness.MANAGER_PATH, harness.MANAGER, "Scan"), [])

    def test_caller_that_leaves_during_authorization_is_dropped(self):
        # polkit holds its answer; the caller gives up and leaves the bus;
        # polkit then says yes: the profile must stay as it was. (The mock
        # decides when asked, so the action is granted beforehand.)
        self.world.set_polkit_allowed([SWITCH])
        self.world.polkit_mock("SimulateHang", "b", "true")
        client = subprocess.Popen(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
             "busctl", f"--address={self.world.address}", "--timeout=120", "call",
             harness.BUS_NAME, self.enabled, PROFILE, "Disable"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            harness.wait_until(lambda: self.world.polkit_mock("HaveHangingCalls")[0],
                               what="the call to wait on polkit")
            names = [n for n in self.world.unique_names()
                     if self.world.connection_uid(n) == NOBODY]
            self.assertEqual(len(names), 1, "one unprivileged client on the bus")
        finally:
            client.send_signal(signal.SIGKILL)
            client.wait(harness.timeout(10))
        harness.wait_until(lambda: not self.world.name_has_owner(names[0]),
                           what="the client to leave the bus")

        self.world.polkit_mock("ReleaseHangingCalls")
        # Operations on an eUICC run in order: a Refresh sent after the
        # answer completes after anything that answer could have started.
        self.assertEqual(self.world.call(self.euicc, EUICC, "Refresh"), [])
        self.assertEqual(self.state(self.enabled), "enabled")


class WithoutPolkit(PolkitBase):
    with_polkit = False

    def test_unprivileged_caller_is_refused_saying_polkit_is_missing(self):
        message = self.assert_denied(self.enabled, PROFILE, "Disable")
        self.assertIn("polkit", message)
        self.assertEqual(self.state(self.enabled), "enabled")

    def test_root_acts_without_polkit(self):
        self.assertEqual(self.world.call(self.enabled, PROFILE, "Disable"), [])
        self.assertEqual(self.state(self.enabled), "disabled")
        self.assertEqual(self.world.call(self.disabled, PROFILE, "Delete"), [])
        self.assertNotIn(self.disabled, self.world.profile_paths(self.euicc))


if __name__ == "__main__":
    harness.main()
