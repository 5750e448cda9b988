#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Each org.esimd.Error a caller can meet, reached on purpose through the
card's state, its policy rules or a fault of the simulated card or modem:
the error name, a message a person can act on, the card unchanged where
the operation did not happen, and esimctl's exit status for the class.

Not reached here: Transport and NotSupported need a modem fault that starts
after the daemon's probe (every modem-sim fault that makes the modem itself
fail also hits the probe, and then there is no object to call), CatBusy a
card that answers catBusy, and SmdpUnreachable/SmdpRejected are not method
errors: SendNotifications reports each delivery in its result."""

import os
import subprocess
import time

import harness
from harness import EUICC, PROFILE

CARD = "three-profiles.card"


class ErrorCase(harness.WorldTestCase):
    card_file = CARD
    protocol = "qmi"
    modem_options = ()
    config = None

    def setUp(self):
        super().setUp()
        self.card = harness.parse_card(self.card_file)
        self.apdu_log = os.path.join(self.world.tmpdir, "apdu.log")
        self.modem = self.world.add_modem(self.protocol, [self.card_file],
                                          options=list(self.modem_options) +
                                          [f"apdu-log={self.apdu_log}"])
        self.world.start_esimd(config=self.config)
        self.euicc = self.world.euicc_paths()[0]

    def path_of(self, iccid):
        for path in self.world.profile_paths(self.euicc):
            if self.world.get_property(path, PROFILE, "Iccid") == iccid:
                return path
        raise AssertionError(f"no profile {iccid}")

    def iccid(self, index):
        return self.card["profiles"][index]["iccid"]

    def states(self):
        return {self.world.get_property(p, PROFILE, "Iccid"):
                self.world.get_property(p, PROFILE, "State")
                for p in self.world.profile_paths(self.euicc)}

    def assert_error(self, name, path, interface, method, args=(), user=None):
        got, message = self.world.gdbus_error(path, interface, method, list(args), user=user)
        self.assertEqual(got, name, message)
        self.assertTrue(message and len(message) > 10, f"{name} without a usable message")
        return message

    def assert_esimctl_status(self, status, *args):
        res = self.world.esimctl(*args)
        self.assertEqual(res.returncode, status, res.stdout + res.stderr)
        self.assertTrue(res.stderr.startswith("esimctl: "), res.stderr)
        return res


class CardState(ErrorCase):
    def test_profile_enabled_for_delete_or_enable_of_the_enabled_profile(self):
        before = self.states()
        enabled = self.path_of(self.iccid(0))
        message = self.assert_error("org.esimd.Error.ProfileEnabled", enabled, PROFILE, "Delete")
        self.assertIn("enabled", message.lower())
        self.assert_error("org.esimd.Error.ProfileEnabled", enabled, PROFILE, "Enable")
        self.assertEqual(self.states(), before)
        self.assert_esimctl_status(4, "delete", "--yes", self.iccid(0))

    def test_profile_not_enabled_for_disable_of_a_disabled_profile(self):
        before = self.states()
        self.assert_error("org.esimd.Error.ProfileNotEnabled", self.path_of(self.iccid(1)),
                          PROFILE, "Disable")
        self.assertEqual(self.states(), before)
        self.assert_esimctl_status(4, "disable", self.iccid(1))

    def test_not_found_for_a_notification_the_card_does_not_hold(self):
        self.assert_error("org.esimd.Error.NotFound", self.euicc, EUICC, "RemoveNotification",
                          ["@u 4242"])
        self.assert_esimctl_status(3, "notifications", "remove", "4242")

    def test_invalid_args_for_bad_arguments_before_anything_is_queued(self):
        lines_before = self.apdu_lines()
        enabled = self.path_of(self.iccid(0))
        self.assert_error("org.freedesktop.DBus.Error.InvalidArgs", enabled, PROFILE,
                          "SetNickname", ['"' + "n" * 65 + '"'])
        self.assert_error("org.freedesktop.DBus.Error.InvalidArgs", self.euicc, EUICC,
                          "ResetMemory", ["@u 0"])
        self.assert_error("org.freedesktop.DBus.Error.InvalidArgs", self.euicc, EUICC,
                          "ResetMemory", ["@u 8"])
        self.assert_error("org.freedesktop.DBus.Error.InvalidArgs", self.euicc, EUICC,
                          "SetDefaultSmdpAddress", ['"not an address/"'])
        self.assertEqual(self.apdu_lines(), lines_before, "a refused call reached the card")
        self.assert_esimctl_status(2, "nickname", self.iccid(0), "n" * 65)

    def test_access_denied_for_an_unprivileged_caller_without_polkit(self):
        enabled = self.path_of(self.iccid(0))
        message = self.assert_error("org.freedesktop.DBus.Error.AccessDenied", enabled, PROFILE,
                                    "Disable", user=harness.NOBODY)
        self.assertIn("polkit", message)
        self.assertEqual(self.world.get_property(enabled, PROFILE, "State"), "enabled")

    def apdu_lines(self):
        with open(self.apdu_log) as f:
            return len(f.read().splitlines())


class Policy(ErrorCase):
    card_file = "ppr.card"

    def test_disallowed_by_policy_for_ppr1_and_ppr2(self):
        before = self.states()
        locked = self.path_of(self.iccid(0))     # enabled, PPR1
        undeletable = self.path_of(self.iccid(1))  # disabled, PPR2
        free = self.path_of(self.iccid(2))
        # PPR1: the enabled profile may not be disabled, nor replaced.
        self.assert_error("org.esimd.Error.DisallowedByPolicy", locked, PROFILE, "Disable")
        self.assert_error("org.esimd.Error.DisallowedByPolicy", free, PROFILE, "Enable")
        # PPR2: may not be deleted.
        self.assert_error("org.esimd.Error.DisallowedByPolicy", undeletable, PROFILE, "Delete")
        self.assertEqual(self.states(), before)
        self.assertEqual(len(self.world.profile_paths(self.euicc)), 3)
        self.assert_esimctl_status(4, "disable", self.iccid(0))


class CardStatusWord(ErrorCase):
    # The card answers EnableProfile with 6F00 ("no precise diagnosis").
    modem_options = ("fault=sw:BF31=6F00",)

    def test_card_error_for_a_status_word_the_card_answers(self):
        before = self.states()
        message = self.assert_error("org.esimd.Error.CardError", self.path_of(self.iccid(1)),
                                    PROFILE, "Enable")
        self.assertIn("6F00", message)
        self.assertEqual(self.states(), before)
        self.assert_esimctl_status(4, "enable", self.iccid(2))


class CardGarbage(ErrorCase):
    # The card answers DisableProfile with bytes that are not DER.
    modem_options = ("fault=garbage:BF32",)

    def test_card_error_for_an_answer_that_cannot_be_decoded(self):
        self.assert_error("org.esimd.Error.CardError", self.path_of(self.iccid(0)), PROFILE,
                          "Disable")


class LostAnswer(ErrorCase):
    # The card acts on the first SetNickname but its answer never reaches the modem's
    # client; esimd gives up after timeout-ms.
    modem_options = ("fault=drop:BF29@1",)
    config = {"timeout-ms": "1000"}

    def test_timeout_when_the_answer_never_comes(self):
        message = self.assert_error("org.esimd.Error.Timeout", self.path_of(self.iccid(1)),
                                    PROFILE, "SetNickname", ['"Lost"'])
        self.assertIn("in time", message)
        # The daemon keeps serving the card afterwards.
        self.assertEqual(self.world.call(self.path_of(self.iccid(2)), PROFILE, "SetNickname",
                                         "s", "Found"), [])
        self.assertEqual(self.world.get_property(self.path_of(self.iccid(2)), PROFILE,
                                                 "Nickname"), "Found")


class LostAnswerThroughEsimctl(ErrorCase):
    modem_options = ("fault=drop:BF29@1",)
    config = {"timeout-ms": "1000"}

    def test_esimctl_exits_6_on_a_modem_timeout(self):
        res = self.assert_esimctl_status(6, "nickname", self.iccid(1), "Lost")
        self.assertIn("in time", res.stderr)


class Unplugged(ErrorCase):
    # Every answer waits, so that a call is surely in flight when the modem
    # goes away.
    modem_options = ("delay-ms=300",)

    def test_removed_when_the_modem_goes_away_mid_call(self):
        target = self.path_of(self.iccid(1))
        with open(self.apdu_log) as f:
            lines_before = len(f.read().splitlines())
        call = subprocess.Popen(
            ["gdbus", "call", "--address", self.world.address, "--dest", harness.BUS_NAME,
             "--object-path", target, "--method", f"{PROFILE}.Enable",
             "--timeout", str(int(harness.timeout()))],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: call.poll() is None and call.kill())

        def enable_reached_card():
            with open(self.apdu_log) as f:
                return any("BF31" in line for line in f.read().splitlines()[lines_before:])
        harness.wait_until(enable_reached_card, what="EnableProfile at the card")
        self.modem.proc.kill()
        _, err = call.communicate(timeout=harness.timeout())
        self.assertNotEqual(call.returncode, 0)
        self.assertIn("org.esimd.Error.Removed", err)
        harness.wait_until(lambda: self.world.euicc_paths() == [], what="the eUICC to go")
        self.assertIsNone(self.world.esimd_proc.poll(), "esimd died with the modem")


if __name__ == "__main__":
    harness.main()
