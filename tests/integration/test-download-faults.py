#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Profile download (SGP.22 3.1.3) through esimd when the SM-DP+ misbehaves:
smdp-sim's knobs (tests/sim/smdp-sim.md) refuse, expire, fail with 5xx, cut
the Bound Profile Package mid-answer or answer slowly. In every case the
Download1 object, the card and the SM-DP+'s log must tell the same story:
the right org.esimd.Error, no profile and no install notification on the
card, the session ended on the card (CancelSession in its APDU log) and at
the SM-DP+ (cancelSession), and the next download on the same card installs.

Which cases run on which transport: a cut BPP and an expired transaction
run over QMI, MBIM and AT. They end a session that the card already
prepared (PrepareDownload) and, for the cut, one whose BPP was half
received: the CancelSession and the recovery go through the transport's
APDU path after a network failure, which is where the transports differ.
The other faults are decided at the SM-DP+ before the card sees anything
the expired case does not already send, so they run over QMI only."""

import harness
from downloads import (AC_CC, AC_PLAIN, CANCEL_SESSION, CC, DOWNLOAD, FINAL_STATES, ICCID_CC,
                       ICCID_PLAIN, LOAD_BPP, DownloadBase, es10_commands)

AUTHENTICATE_SERVER = "BF38"
PREPARE_DOWNLOAD = "BF21"
from harness import EUICC

REJECTED = "org.esimd.Error.DownloadRejected"
UNREACHABLE = "org.esimd.Error.SmdpUnreachable"
CC_WRONG = "org.esimd.Error.ConfirmationCodeWrong"
CANCELLED = "org.esimd.Error.Cancelled"
GET_BPP = "es9plus/getBoundProfilePackage"
CANCEL = "es9plus/cancelSession"
AUTH_CLIENT = "es9plus/authenticateClient"
NOTIFY = "es9plus/handleNotification"
# CancelSessionReason undefinedReason (127, SGP.22 v2.2), as smdp-sim logs
# it: an SM-DP+ failure is none of the user's reasons.
UNDEFINED_REASON = "undefinedReason"


class FaultBase(DownloadBase):
    def knob(self, command):
        self.smdp.command(command)

    def assert_session_cancelled(self):
        """The card ended the session (CancelSession) and loaded nothing."""
        commands = es10_commands(self.apdu_log)
        self.assertIn(CANCEL_SESSION, commands)
        self.assertNotIn(LOAD_BPP, commands)

    def assert_next_download_installs(self, bpp_records=1):
        """The card is free and clean again: a download goes through."""
        path = self.owner().download(self.euicc, AC_PLAIN, accept=True)
        self.assert_installed(path, ICCID_PLAIN, nth=bpp_records)
        # A fresh session: the SM-DP+ kept no one-time key of the failed one.
        self.assertIsNone(self.last_record(AUTH_CLIENT)["bppEuiccOtpk"])


class EveryTransport:
    """The faults whose recovery runs through the card's transport."""

    def test_cut_bpp(self):
        self.knob("cut-bpp 1")
        path = self.owner().download(self.euicc, AC_PLAIN, accept=True)
        self.assert_nothing_installed(path, UNREACHABLE)
        self.assertIn("getBoundProfilePackage", self.prop(path, "ErrorMessage"))
        self.assertEqual(self.wait_record(GET_BPP)["result"], "cut")
        self.assert_session_cancelled()
        # The SM-DP+ heard the card's signed cancel: it forgets the BPP.
        cancel = self.wait_record(CANCEL)
        self.assertEqual((cancel["result"], cancel["reason"]), ("ok", UNDEFINED_REASON), cancel)
        self.assertEqual(cancel["transactionId"], self.last_record(GET_BPP)["transactionId"])
        self.assert_next_download_installs(bpp_records=2)

    def test_expired_transaction(self):
        # Expired between the consent and the BPP: the card holds a
        # prepared session the SM-DP+ no longer knows.
        path = self.owner().download(self.euicc, AC_PLAIN)
        self.wait_state(path, ("confirming",))
        self.knob("expire-next 1")
        self.world.call(path, DOWNLOAD, "Accept", "a{sv}", 0)
        self.assert_nothing_installed(path, REJECTED)
        message = self.prop(path, "ErrorMessage")
        self.assertIn("8.10.1", message)
        self.assertIn("3.9", message)
        record = self.wait_record(GET_BPP)
        self.assertEqual((record["result"], record["statusCodeData"]["subjectCode"],
                          record["statusCodeData"]["reasonCode"]), ("failed", "8.10.1", "3.9"))
        self.assert_session_cancelled()
        self.assert_next_download_installs(bpp_records=2)


class QmiFaults(EveryTransport, FaultBase):
    transport = "qmi"

    def test_refused_matching_id(self):
        self.knob("refuse-matching-id MID-PLAIN")
        path = self.owner().download(self.euicc, AC_PLAIN, accept=True)
        self.assert_nothing_installed(path, REJECTED)
        message = self.prop(path, "ErrorMessage")
        self.assertIn("8.2.6", message)
        self.assertIn("3.8", message)
        record = self.wait_record(AUTH_CLIENT)
        self.assertEqual((record["result"], record["statusCodeData"]["subjectCode"]),
                         ("failed", "8.2.6"))
        self.assertEqual(self.records(GET_BPP), [])
        # The card authenticated the server: its session is ended too.
        self.assert_session_cancelled()
        self.knob("refuse-matching-id off")
        self.assert_next_download_installs()

    def test_wrong_confirmation_code(self):
        # Given up front with accept: the SM-DP+ refuses it (8.2.7 / 3.8) and
        # keeps its transaction open, so the download is back at confirming
        # with the refusal shown, nothing cancelled anywhere.
        path = self.owner().download(self.euicc, AC_CC, accept=True,
                                     **{"confirmation-code": "0000"})
        self.assertEqual(self.wait_state(path, ("confirming",) + FINAL_STATES), "confirming")
        props = self.world.get_all(path, DOWNLOAD)
        self.assertEqual(props["Error"], CC_WRONG, props["ErrorMessage"])
        self.assertIn("reason 3.8", props["ErrorMessage"])
        self.assertTrue(props["ConfirmationCodeRequired"])
        self.assertGreater(props["Progress"], 0)
        record = self.wait_record(GET_BPP)
        self.assertEqual((record["result"], record["statusCodeData"]["subjectCode"],
                          record["statusCodeData"]["reasonCode"]), ("failed", "8.2.7", "3.8"))
        self.assertNotIn(CANCEL_SESSION, es10_commands(self.apdu_log))
        self.assertEqual(self.records(CANCEL), [])
        # The right code: the card prepares the download again in the same
        # session (its hashCc is signed in), and it installs.
        self.world.call(path, DOWNLOAD, "Accept", "a{sv}", 1, "confirmation-code", "s", CC)
        self.assert_installed(path, ICCID_CC, nth=2)
        self.assertEqual(self.prop(path, "Progress"), 1.0)
        commands = es10_commands(self.apdu_log)
        self.assertEqual(commands.count(PREPARE_DOWNLOAD), 2, commands)
        self.assertEqual(commands.count(AUTHENTICATE_SERVER), 1, commands)
        self.assertNotIn(CANCEL_SESSION, commands)
        self.assertEqual(self.records(CANCEL), [])

    def test_confirmation_code_tries_used_up(self):
        # Two tries here: the second wrong code is 8.2.7 / 6.4, which ends
        # the transaction; the download fails and the session is cancelled.
        self.knob("cc-attempts 2")
        path = self.owner().download(self.euicc, AC_CC, accept=True,
                                     **{"confirmation-code": "0000"})
        self.assertEqual(self.wait_state(path, ("confirming",) + FINAL_STATES), "confirming")
        self.world.call(path, DOWNLOAD, "Accept", "a{sv}", 1, "confirmation-code", "s", "1111")
        self.assert_nothing_installed(path, CC_WRONG)
        self.assertIn("reason 6.4", self.prop(path, "ErrorMessage"))
        record = self.wait_record(GET_BPP, 2)
        self.assertEqual((record["result"], record["statusCodeData"]["reasonCode"]),
                         ("failed", "6.4"))
        # The card's session is cancelled and its signed answer offered to
        # the SM-DP+, which had ended the transaction already.
        self.assert_session_cancelled()
        self.wait_record(CANCEL)
        # The right code, later, on the same card.
        self.knob("cc-attempts 3")
        path = self.owner().download(self.euicc, AC_CC, accept=True, **{"confirmation-code": CC})
        self.assert_installed(path, ICCID_CC, nth=3)

    def test_wrong_code_then_rejected(self):
        # Reject at the second pause ends it as at the first: endUserRejection.
        path = self.owner().download(self.euicc, AC_CC, accept=True,
                                     **{"confirmation-code": "0000"})
        self.assertEqual(self.wait_state(path, ("confirming",) + FINAL_STATES), "confirming")
        self.world.call(path, DOWNLOAD, "Reject", "s", "rejected")
        self.assert_nothing_installed(path, CANCELLED)
        self.assert_session_cancelled()
        cancel = self.wait_record(CANCEL)
        self.assertEqual((cancel["result"], cancel["reason"]), ("ok", "endUserRejection"), cancel)

    def test_server_errors(self):
        # 500 at the first step: nothing reached the card's session.
        self.knob("fail-mode 500")
        self.knob("fault-on initiateAuthentication")
        self.knob("fail-next 1")
        path = self.owner().download(self.euicc, AC_PLAIN, accept=True)
        self.assert_nothing_installed(path, UNREACHABLE)
        self.assertIn("500", self.prop(path, "ErrorMessage"))
        self.assertEqual(self.wait_record("es9plus/initiateAuthentication")["result"], "http-500")
        self.assertNotIn(CANCEL_SESSION, es10_commands(self.apdu_log))
        self.assertEqual(self.records(CANCEL), [])
        # 503 on every getBoundProfilePackage: the session is ended on both
        # sides (cancelSession itself is not hit).
        self.knob("fault-on getBoundProfilePackage")
        self.knob("status 503")
        path = self.owner().download(self.euicc, AC_PLAIN, accept=True)
        self.assert_nothing_installed(path, UNREACHABLE)
        self.assertIn("503", self.prop(path, "ErrorMessage"))
        self.assertEqual(self.wait_record(GET_BPP)["result"], "http-503")
        self.assert_session_cancelled()
        cancel = self.wait_record(CANCEL)
        self.assertEqual((cancel["result"], cancel["reason"]), ("ok", UNDEFINED_REASON), cancel)
        self.knob("status off")
        self.assert_next_download_installs(bpp_records=2)

    def test_slow_smdp(self):
        # Every ES9+ answer comes late: the download waits them out, and
        # its Progress and State move on the bus as each answer comes, not
        # only once the profile is on its way to the card.
        monitor = self.world.monitor()
        self.knob("delay-ms 300")
        path = self.owner().download(self.euicc, AC_PLAIN, accept=True)
        self.assert_installed(path, ICCID_PLAIN)
        state, states, waiting, progress = "authenticating", [], [], []
        for m in monitor.signals("PropertiesChanged", path=path):
            if m["payload"]["data"][0] != DOWNLOAD:
                continue
            changed = m["payload"]["data"][1]
            if "State" in changed:
                state = changed["State"]["data"]
                states.append(state)
            if "Progress" in changed:
                progress.append(changed["Progress"]["data"])
                if state in ("authenticating", "downloading"):
                    waiting.append(progress[-1])
        self.assertEqual(states, ["downloading", "installing", "done"])
        self.assertEqual(progress, sorted(set(progress)))
        self.assertEqual(progress[-1], 1.0)
        # One step for each answer of the SM-DP+ before the load.
        self.assertGreaterEqual(len(waiting), 2, progress)
        self.assertGreater(waiting[0], 0.0)

    def test_caller_leaving_while_installing(self):
        # A slow card: the caller leaves while the profile is being loaded.
        # The session ends as postponed, the card keeps nothing of it.
        owner = self.owner()
        path = owner.download(self.euicc, AC_PLAIN)
        self.wait_state(path, ("confirming",))
        harness.modem_set_option(self.modem, "delay-ms=100")
        self.world.call(path, DOWNLOAD, "Accept", "a{sv}", 0)
        self.wait_state(path, ("installing",))
        owner.close()
        cancel = self.wait_record(CANCEL)
        self.assertEqual((cancel["result"], cancel["reason"]), ("ok", "postponed"))
        self.assertEqual(self.wait_record(GET_BPP)["result"], "ok")
        harness.wait_until(lambda: path not in self.world.managed_objects(), 20,
                           "the download object to go")
        harness.modem_set_option(self.modem, "delay-ms=0")
        self.assertEqual(self.card_iccids(), [])
        self.assertEqual([n for n in self.card_notifications() if n[1] == "install"], [])
        commands = es10_commands(self.apdu_log)
        self.assertIn(LOAD_BPP, commands)
        self.assertIn(CANCEL_SESSION, commands[commands.index(LOAD_BPP):])
        self.assert_next_download_installs(bpp_records=2)

    def test_caller_leaving_while_the_smdp_is_slow(self):
        # The caller leaves while esimd waits for the BPP: the session ends
        # as postponed on the card and at the SM-DP+, nothing is loaded.
        self.knob("fault-on getBoundProfilePackage")
        self.knob("delay-ms 20000")
        owner = self.owner()
        path = owner.download(self.euicc, AC_PLAIN, accept=True)
        harness.wait_until(lambda: "POST /gsma/rsp2/es9plus/getBoundProfilePackage"
                           in self.world.esimd_log_text(), 20, "esimd to ask for the BPP")
        self.assertEqual(self.prop(path, "State"), "downloading")
        owner.close()
        cancel = self.wait_record(CANCEL)
        self.assertEqual((cancel["result"], cancel["reason"]), ("ok", "postponed"))
        harness.wait_until(lambda: path not in self.world.managed_objects(), 20,
                           "the download object to go")
        self.assertEqual(self.card_iccids(), [])
        self.assert_session_cancelled()
        self.knob("delay-ms 0")
        self.assert_next_download_installs()

    def test_install_result_kept_until_the_smdp_confirms(self):
        # The SM-DP+ fails handleNotification: the profile is installed, and
        # its install result stays on the card until it is delivered.
        self.knob("fault-on handleNotification")
        self.knob("status 500")
        path = self.owner().download(self.euicc, AC_PLAIN, accept=True)
        self.assertEqual(self.wait_state(path, FINAL_STATES), "done",
                         self.prop(path, "ErrorMessage"))
        self.assertEqual(self.card_iccids(), [ICCID_PLAIN])
        self.assertEqual(self.wait_record(NOTIFY)["result"], "http-500")
        [note] = [n for n in self.card_notifications() if n[1] == "install"]
        self.assertEqual(note[3], ICCID_PLAIN)
        self.knob("status off")
        results = self.world.call(self.euicc, EUICC, "SendNotifications", "au", 0)[0]
        self.assertIn([note[0], True], [r[:2] for r in results])
        self.assert_installed(path, ICCID_PLAIN)


class MbimFaults(EveryTransport, FaultBase):
    transport = "mbim"


class AtFaults(EveryTransport, FaultBase):
    transport = "at"


if __name__ == "__main__":
    harness.main()
