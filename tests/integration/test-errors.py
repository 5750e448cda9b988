#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Each org.esimd.Error a caller can meet, reached on purpose through the
card's state, its policy rules, a fault of the simulated card or modem
(some switched on after the daemon's probe, through modem-sim's stdin), an
inactive slot, or an SM-DP+ that cannot be reached or refuses: the error
name, a message a person can act on, the card unchanged where the operation
did not happen, and esimctl's exit status for the class."""

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
    extra_slots = ()

    def setUp(self):
        super().setUp()
        self.card = harness.parse_card(self.card_file)
        self.apdu_log = os.path.join(self.world.tmpdir, "apdu.log")
        self.modem = self.world.add_modem(self.protocol, [self.card_file] + list(self.extra_slots),
                                          options=list(self.modem_options) +
                                          [f"apdu-log={self.apdu_log}"])
        self.world.start_esimd(config=self.config, args=self.esimd_args())
        self.euicc = self.euicc_in_slot(1)

    def esimd_args(self):
        return []

    def euicc_in_slot(self, slot):
        for path in self.world.euicc_paths():
            if self.world.get_property(path, EUICC, "Slot") == slot:
                return path
        raise AssertionError(f"no eUICC in slot {slot}")

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

    def apdu_lines(self):
        with open(self.apdu_log) as f:
            return len(f.read().splitlines())

    def commands_with(self, text, log=None):
        """The command APDUs in the APDU log (slot 1's unless another
        log is named) that carry this hex."""
        path = log or self.apdu_log
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [line[2:] for line in f.read().splitlines()
                    if line.startswith("> ") and text in line]


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


class CatBusy(ErrorCase):
    # The card answers EnableProfile with catBusy (SGP.22 5.7.16: a proactive
    # session of the SIM toolkit is running) and does nothing.
    modem_options = ("fault=result:BF31=5",)

    def test_cat_busy_while_the_card_runs_a_toolkit_session(self):
        before = self.states()
        target = self.path_of(self.iccid(1))
        message = self.assert_error("org.esimd.Error.CatBusy", target, PROFILE, "Enable")
        self.assertIn("try again", message)
        self.assertEqual(self.states(), before)
        res = self.assert_esimctl_status(4, "enable", self.iccid(1))
        self.assertIn("toolkit", res.stderr)
        # The card reads back as it was: nothing switched.
        self.world.call(self.euicc, EUICC, "Refresh")
        self.assertEqual(self.states(), before)
        # Once the session is over, the same call goes through.
        harness.modem_set_option(self.modem, "clear-faults")
        self.assertEqual(self.world.call(target, PROFILE, "Enable"), [])
        self.assertEqual(self.world.get_property(target, PROFILE, "State"), "enabled")
        self.assertEqual(self.world.get_property(self.path_of(self.iccid(0)), PROFILE, "State"),
                         "disabled")


class UndefinedErrorRetry(ErrorCase):
    # The first EnableProfile is answered with undefinedError (127), as
    # cards do that will only switch with refreshFlag clear.
    modem_options = ("fault=result:BF31=127@1",)

    def test_enable_goes_through_after_one_undefined_error(self):
        target = self.path_of(self.iccid(1))
        self.assertEqual(self.world.call(target, PROFILE, "Enable"), [])
        # Sent twice: refreshFlag set (81 01 FF), then clear (81 01 00), and
        # the card switched on the second.
        enables = self.commands_with("BF31")
        self.assertEqual(len(enables), 2, enables)
        self.assertIn("8101FF", enables[0])
        self.assertIn("810100", enables[1])
        expected = {self.iccid(0): "disabled", self.iccid(1): "enabled",
                    self.iccid(2): "disabled"}
        self.assertEqual(self.states(), expected)
        self.assertEqual(self.world.get_property(self.euicc, EUICC, "EnabledProfile"), target)
        # What the cache says is what the card says.
        self.world.call(self.euicc, EUICC, "Refresh")
        self.assertEqual(self.states(), expected)

    def test_disable_goes_through_after_one_undefined_error(self):
        harness.modem_set_option(self.modem, "fault=result:BF32=127@1")
        enabled = self.path_of(self.iccid(0))
        self.assertEqual(self.world.call(enabled, PROFILE, "Disable"), [])
        disables = self.commands_with("BF32")
        self.assertEqual(len(disables), 2, disables)
        self.assertIn("810100", disables[1])
        self.world.call(self.euicc, EUICC, "Refresh")
        self.assertEqual(set(self.states().values()), {"disabled"})
        self.assertEqual(self.world.get_property(self.euicc, EUICC, "EnabledProfile"), "/")

    def test_card_error_when_the_retry_fails_too(self):
        harness.modem_set_option(self.modem, "clear-faults")
        harness.modem_set_option(self.modem, "fault=result:BF31=127@2")
        before = self.states()
        message = self.assert_error("org.esimd.Error.CardError", self.path_of(self.iccid(1)),
                                    PROFILE, "Enable")
        self.assertIn("enable profile", message)
        self.assertEqual(len(self.commands_with("BF31")), 2)
        self.world.call(self.euicc, EUICC, "Refresh")
        self.assertEqual(self.states(), before)


class ModemFailure(ErrorCase):
    def test_transport_when_the_modem_refuses_send_apdu_after_the_probe(self):
        before = self.states()
        target = self.path_of(self.iccid(1))
        # From now on the modem answers UIM Send APDU (0x003B) with QMI
        # error 3 (Internal): the card is never asked.
        harness.modem_set_option(self.modem, "error=0x003B:0x0003")
        lines_before = self.apdu_lines()
        message = self.assert_error("org.esimd.Error.Transport", target, PROFILE, "Enable")
        self.assertIn("modem", message.lower())
        self.assertIn("enabling profile", message)
        self.assertIn("Send APDU", message)
        res = self.assert_esimctl_status(6, "enable", self.iccid(1))
        self.assertIn("Send APDU", res.stderr)
        self.assertEqual(self.states(), before)
        with open(self.apdu_log) as f:
            self.assertNotIn("BF31", "".join(f.read().splitlines()[lines_before:]))
        # The modem recovers, and so does the daemon: the card is as it was,
        # and the same call now works.
        harness.modem_set_option(self.modem, "clear-errors")
        self.world.call(self.euicc, EUICC, "Refresh")
        self.assertEqual(self.states(), before)
        self.assertEqual(self.world.call(target, PROFILE, "Enable"), [])
        self.assertEqual(self.world.get_property(target, PROFILE, "State"), "enabled")


class InactiveSlot(ErrorCase):
    # A second eUICC in slot 2, which this single-SIM-stack modem does not
    # reach while slot 1 is active: the daemon knows its EID from the
    # modem's slot report, and nothing else can be done with it.
    extra_slots = ("eight-icons.card",)

    def test_not_supported_for_the_card_in_the_inactive_slot(self):
        self.world.call(harness.MANAGER_PATH, harness.MANAGER, "Scan")
        inactive = self.euicc_in_slot(2)
        self.assertIs(self.world.get_property(inactive, EUICC, "SlotActive"), False)
        address = self.world.get_property(inactive, EUICC, "DefaultSmdpAddress")
        message = self.assert_error("org.esimd.Error.NotSupported", inactive, EUICC,
                                    "SetDefaultSmdpAddress", ['"smdp.example.org"'])
        self.assertIn("Slot 2 is not active", message)
        message = self.assert_error("org.esimd.Error.NotSupported", inactive, EUICC,
                                    "ListNotifications")
        self.assertIn("notification", message)
        eid = self.world.get_property(inactive, EUICC, "Eid")
        res = self.assert_esimctl_status(6, "--eid", eid, "notifications", "list")
        self.assertIn("not active", res.stderr)
        # Nothing reached the card in slot 2; it and its object are unchanged.
        self.assertEqual(self.commands_with("BF3F", self.apdu_log + ".2"), [])
        self.assertEqual(self.world.get_property(inactive, EUICC, "DefaultSmdpAddress"), address)
        self.assertIn(inactive, self.world.euicc_paths())
        # The active card is served as before.
        self.assertEqual(len(self.world.profile_paths(self.euicc)), 3)


class SmdpCase(ErrorCase):
    """Disabling the enabled profile makes the card write a disable
    notification for smdp.example.com; the test then asks for it to be sent."""

    def disable_and_list(self):
        self.world.call(self.path_of(self.iccid(0)), PROFILE, "Disable")
        listed = self.world.call(self.euicc, EUICC, "ListNotifications")[0]
        self.assertEqual([(op, address) for _, op, address, _ in listed],
                         [("disable", "smdp.example.com")])
        return listed[0][0]

    def assert_kept(self, seq):
        listed = self.world.call(self.euicc, EUICC, "ListNotifications")[0]
        self.assertEqual([n[0] for n in listed], [seq], "the notification left the card")
        self.assertEqual(self.world.get_property(self.euicc, EUICC, "PendingNotifications"), 1)


class SmdpUnreachable(SmdpCase):
    def esimd_args(self):
        # Every SM-DP+ connection goes to a local port nothing listens on.
        return [f"--smdp-host-override=127.0.0.1:{harness.closed_local_port()}"]

    def test_smdp_unreachable_when_no_notification_could_be_delivered(self):
        seq = self.disable_and_list()
        message = self.assert_error("org.esimd.Error.SmdpUnreachable", self.euicc, EUICC,
                                    "SendNotifications", ["@au []"])
        self.assertIn("smdp.example.com", message)
        self.assertIn("could not be reached", message)
        self.assert_kept(seq)
        message = self.assert_error("org.esimd.Error.SmdpUnreachable", self.euicc, EUICC,
                                    "SendNotifications", [f"@au [{seq}]"])
        self.assertIn("smdp.example.com", message)
        res = self.assert_esimctl_status(7, "notifications", "send")
        self.assertIn("smdp.example.com", res.stderr)
        self.assert_kept(seq)

    def test_a_mixed_outcome_is_answered_per_notification(self):
        # One the card holds (unreachable) and one it does not: no single
        # reason, so the call succeeds with a result for each.
        seq = self.disable_and_list()
        results = self.world.call(self.euicc, EUICC, "SendNotifications", "au", 2, seq, 4242)[0]
        self.assertEqual(sorted((s, d) for s, d, _ in results), [(seq, False), (4242, False)])
        by_seq = {s: m for s, _, m in results}
        self.assertIn("smdp.example.com", by_seq[seq])
        self.assertIn("4242", by_seq[4242])
        self.assert_kept(seq)


class SmdpRejected(SmdpCase):
    def esimd_args(self):
        # The SM-DP+ answers each notification with a failed
        # functionExecutionStatus (SGP.22 6.5.1.4): 8.8.1 / 3.8, refused.
        self.smdp = harness.SmdpSim(self.world, ["--reject", "refused"])
        return self.smdp.esimd_args()

    def test_smdp_rejected_when_the_smdp_refuses_every_notification(self):
        seq = self.disable_and_list()
        message = self.assert_error("org.esimd.Error.SmdpRejected", self.euicc, EUICC,
                                    "SendNotifications", ["@au []"])
        self.assertIn("smdp.example.com", message)
        self.assertIn("refused", message)
        self.assert_kept(seq)
        res = self.assert_esimctl_status(7, "notifications", "send", seq)
        self.assertIn("refused", res.stderr)
        self.assert_kept(seq)
        # It did reach the SM-DP+, which answered; it was not delivered.
        got = self.smdp.received()
        self.assertEqual({(r["seq"], r["result"]) for r in got}, {(seq, "rejected")})
        self.assertEqual(self.smdp.command("stats")["delivered"], 0)
        # Once the SM-DP+ takes it, it leaves the card.
        self.smdp.command("reject off")
        results = self.world.call(self.euicc, EUICC, "SendNotifications", "au", 0)[0]
        self.assertEqual([(s, d) for s, d, _ in results], [(seq, True)])
        self.assertEqual(self.world.call(self.euicc, EUICC, "ListNotifications"), [[]])


if __name__ == "__main__":
    harness.main()
