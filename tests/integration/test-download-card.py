#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The eUICC refusing a download, driven through esimd over QMI, MBIM and
AT: a BPP whose MAC fails, segments out of their place, a transactionId
the card has used before, a card without room, an ICCID the card already
holds, and the modem pulled out while the card loads a BPP.

In each case the caller's Download1 fails with the card's reason, the
SM-DP+ hears of it the way SGP.22 says (the card's signed install result
through handleNotification, or its refusal through authenticateClient),
the card holds nothing half-installed and no notification is left
behind, and the next download on the same card goes through."""

import json
import os

import harness
from downloads import Owner
from harness import EUICC, PROFILE

DOWNLOAD = "org.esimd.Download1"
EID = "89049032123451234512345678901235"
ADDRESS = "smdp.example.com"
ICCID_A = "8949449999999990106"
ICCID_B = "8949449999999990114"
ICCID_ON_CARD = "8949449999999990122"
REJECTED = "org.esimd.Error.DownloadRejected"
# The modem beside the one under test (an EID of its own, not EID's).
OTHER_CARD = "eight-icons.card"
FINAL = ("done", "failed", "cancelled")

PROFILES = {"profiles": {
    "MID-A": {"iccid": ICCID_A, "name": "Profile A", "extra-bytes": 1500},
    "MID-B": {"iccid": ICCID_B, "name": "Profile B"},
    "MID-DUP": {"iccid": ICCID_ON_CARD, "name": "Same ICCID as on the card"},
}, "events": {}}

# A profile already on the card, disabled so that it can be deleted.
ON_CARD = f"""
[profile]
iccid {ICCID_ON_CARD}
isdp-aid A0000005591010FFFFFFFF8900001000
state disabled
name Already here
provider Example Mobile
class operational
"""


class CardRefusals:
    """The cases; a subclass names the transport."""

    transport = None

    def setUp(self):
        super().setUp()
        self.owners = []
        self.addCleanup(lambda: [o.close() for o in self.owners])

    def start(self, card_extra="", config=None):
        """An eUICC with the test PKI behind a modem of this transport,
        another modem beside it, smdp-sim, and esimd delivering
        notifications (the install result goes back like any other)."""
        pki = harness.make_pki(self.world, EID)
        card = os.path.join(self.world.tmpdir, "euicc.card")
        with open(card, "w") as f:
            f.write(f"type euicc\neid {EID}\npki {os.path.basename(pki)}\n"
                    f"default-smdp {ADDRESS}\n{card_extra}")
        profiles = os.path.join(self.world.tmpdir, "profiles.json")
        with open(profiles, "w") as f:
            json.dump(PROFILES, f)
        self.apdu_log = os.path.join(self.world.tmpdir, "apdu.log")
        self.smdp = harness.SmdpSim(self.world, args=["--profiles", profiles], pki=pki)
        self.modem = self.world.add_modem(self.transport, [card],
                                          options=[f"apdu-log={self.apdu_log}"])
        self.other = self.world.add_modem(self.transport, [OTHER_CARD])
        self.world.start_esimd(args=self.smdp.esimd_args(),
                               config=dict({"auto-send-notifications": "true"}, **(config or {})))
        by_eid = {self.world.get_property(p, EUICC, "Eid"): p for p in self.world.euicc_paths()}
        self.euicc = by_eid[EID]
        self.other_euicc = by_eid[harness.parse_card(OTHER_CARD)["card"]["eid"]]

    # -- helpers --

    def download(self, matching_id):
        owner = Owner(self.world)
        self.owners.append(owner)
        return owner.download(self.euicc, f"LPA:1${ADDRESS}${matching_id}", accept=True)

    def prop(self, path, name):
        return self.world.get_property(path, DOWNLOAD, name)

    def finish(self, path):
        state = harness.wait_until(
            lambda: (lambda s: s if s in FINAL else None)(self.prop(path, "State")),
            what=f"{path} to end")
        return state, self.prop(path, "Error"), self.prop(path, "ErrorMessage")

    def records(self, function, tid=None):
        return [r for r in self.smdp.received() if r.get("function") == function
                and (tid is None or r.get("transactionId") == tid)]

    def iccids(self):
        return sorted(self.world.get_property(p, PROFILE, "Iccid")
                      for p in self.world.profile_paths(self.euicc))

    def card_state(self):
        """What the card itself holds, read again from it, once esimd
        delivered what notifications there were."""
        harness.wait_until(
            lambda: self.world.get_property(self.euicc, EUICC, "PendingNotifications") == 0,
            what="the notifications to leave the card")
        self.world.call(self.euicc, EUICC, "Refresh")
        info = self.world.get_property(self.euicc, EUICC, "Info")
        notes = self.world.call(self.euicc, EUICC, "ListNotifications")[0]
        return self.iccids(), info["free-nv-memory"]["data"], notes

    def assert_refused(self, path, reason):
        """The download failed with the card's reason and left no Profile."""
        state, error, message = self.finish(path)
        print(f"{self.transport}: {error}: {message}")
        self.assertEqual((state, error), ("failed", REJECTED), message)
        self.assertIn(reason, message)
        self.assertEqual(self.prop(path, "Profile"), "/")

    def assert_install_error_reported(self, before):
        """After a ProfileInstallationResult with an error: the SM-DP+ got
        it, signed by the card, through handleNotification, and no cancel
        on top (the result ended the session, SGP.22 3.1.3.3); the card
        is as it was, its notification delivered and removed."""
        bpp = self.records("es9plus/getBoundProfilePackage")[-1]
        self.assertEqual(bpp["result"], "ok")
        tid = bpp["transactionId"]

        def reported():
            return [r for r in self.records("es9plus/handleNotification")
                    if (r.get("installResult") or {}).get("transactionId") == tid
                    and r["result"] == "delivered"]
        note = harness.wait_until(reported, what="the install result at the SM-DP+")[0]
        self.assertEqual(note["installResult"], {"transactionId": tid, "signatureValid": True,
                                                 "finalResult": "error"})
        self.assertEqual(self.records("es9plus/cancelSession", tid), [])
        self.assertEqual(self.card_state(), before)

    def assert_next_download_installs(self, matching_id, iccid):
        path = self.download(matching_id)
        state, error, message = self.finish(path)
        self.assertEqual(state, "done", f"{error}: {message}")
        profile = self.prop(path, "Profile")
        self.assertEqual(self.world.get_property(profile, PROFILE, "Iccid"), iccid)
        self.assertIn(iccid, self.iccids())

    # -- the card's refusals --

    def test_bad_mac(self):
        self.start()
        before = self.card_state()
        self.smdp.command("tamper-bpp 1")
        path = self.download("MID-A")
        self.assert_refused(path, "failed the secure channel check")
        self.assertTrue(self.records("es9plus/getBoundProfilePackage")[-1]["tampered"])
        self.assert_install_error_reported(before)
        self.assert_next_download_installs("MID-A", ICCID_A)

    def test_segments_out_of_order(self):
        self.start()
        before = self.card_state()
        self.smdp.command("swap-segments 1")
        path = self.download("MID-A")
        # SCP03t chains the MACs: a moved segment fails its C-MAC.
        self.assert_refused(path, "failed the secure channel check")
        self.assertTrue(self.records("es9plus/getBoundProfilePackage")[-1]["swappedSegments"])
        self.assert_install_error_reported(before)
        self.assert_next_download_installs("MID-A", ICCID_A)

    def test_full_card(self):
        self.start("max-profiles 1\n" + ON_CARD)
        before = self.card_state()
        path = self.download("MID-A")
        self.assert_refused(path, "not enough memory")
        self.assert_install_error_reported(before)
        # Nothing half-installed takes the one place: once the profile
        # there is deleted, the same download fits.
        on_card = self.world.profile_paths(self.euicc)[0]
        self.world.call(on_card, PROFILE, "Delete")
        self.assert_next_download_installs("MID-A", ICCID_A)

    def test_iccid_already_on_the_card(self):
        self.start(ON_CARD)
        before = self.card_state()
        path = self.download("MID-DUP")
        self.assert_refused(path, "a profile with that ICCID is already installed")
        self.assert_install_error_reported(before)
        self.assertEqual(self.iccids(), [ICCID_ON_CARD])
        self.assert_next_download_installs("MID-B", ICCID_B)

    def test_reused_transaction(self):
        self.start()
        self.assert_next_download_installs("MID-A", ICCID_A)
        before = self.card_state()
        self.smdp.command("reuse-transaction 1")
        path = self.download("MID-B")
        state, error, message = self.finish(path)
        print(f"{self.transport}: {error}: {message}")
        self.assertEqual((state, error), ("failed", REJECTED), message)
        self.assertIn("undefined error", message)
        self.assertEqual(self.prop(path, "Profile"), "/")
        initiate = self.records("es9plus/initiateAuthentication")[-1]
        self.assertTrue(initiate["reusedTransaction"])
        tid = initiate["transactionId"]
        # The card's refusal goes to the SM-DP+ (authenticateClient with the
        # AuthenticateResponseError), which ends that transaction; no BPP.
        answer = harness.wait_until(lambda: self.records("es9plus/authenticateClient", tid)[1:],
                                    what="the refusal at the SM-DP+")[0]
        self.assertEqual((answer["result"], answer["authenticateErrorCode"]), ("failed", 127))
        self.assertEqual(answer["statusCodeData"]["subjectCode"], "8.1")
        self.assertEqual(len(self.records("es9plus/getBoundProfilePackage", tid)), 1)
        self.assertEqual(self.card_state(), before)
        self.assert_next_download_installs("MID-B", ICCID_B)

    # -- an answer lost --

    def test_answer_lost_mid_bpp(self):
        # esimd gives up on the card's answer after timeout-ms and ends the
        # session on the card and at the SM-DP+ as loadBppExecutionError.
        self.start(config={"timeout-ms": str(int(harness.timeout(2) * 1000))})
        before = self.card_state()
        harness.modem_set_option(self.modem, "fault=drop:BF36@1")
        path = self.download("MID-A")
        state, error, message = self.finish(path)
        print(f"{self.transport}: {error}: {message}")
        self.assertEqual(state, "failed", message)
        self.assertEqual(error, "org.esimd.Error.Timeout", message)
        # The message is for people: it names the step, not the APDU (a
        # BPP segment, the transaction id) the modem was sent.
        tid = self.records("es9plus/getBoundProfilePackage")[-1]["transactionId"]
        self.assertNotIn(tid.upper(), message.upper())
        self.assertLess(len(message), 300, message)
        self.assertEqual(self.prop(path, "Profile"), "/")
        cancel = harness.wait_until(lambda: self.records("es9plus/cancelSession", tid),
                                    what="the cancelSession at the SM-DP+")[0]
        self.assertEqual((cancel["result"], cancel["reason"], cancel["smdpOidMatches"]),
                         ("ok", "loadBppExecutionError", True))
        self.assertEqual([r for r in self.records("es9plus/handleNotification")
                          if (r.get("installResult") or {}).get("finalResult") == "success"],
                         [])
        self.assertEqual(self.card_state(), before)
        self.assert_next_download_installs("MID-A", ICCID_A)

    # -- the modem pulled out --

    def test_unplugged_mid_bpp(self):
        self.start()
        monitor = self.world.monitor()
        # The card acts on the first BPP segment; its answer is lost, so
        # esimd is still waiting for it when the modem goes.
        harness.modem_set_option(self.modem, "fault=drop:BF36@1")
        path = self.download("MID-A")

        def dropped():
            with open(self.apdu_log) as f:
                return "# response dropped" in f.read()
        harness.wait_until(dropped, what="the card to lose a BPP segment's answer")
        self.assertEqual(self.prop(path, "State"), "installing")
        harness.modem_command(self.modem, "unplug")
        # The download leaves the bus with its eUICC (or fails as Removed
        # if it ends first).
        removed = monitor.wait_for(
            lambda m: m.get("member") == "InterfacesRemoved"
            and m["payload"]["data"][0] == path, what="the download's InterfacesRemoved")
        self.assertIn(DOWNLOAD, removed["payload"]["data"][1])
        harness.wait_until(lambda: self.world.euicc_paths() == [self.other_euicc],
                           what="the eUICC to go")
        self.assertNotIn(path, self.world.managed_objects())
        # esimd keeps serving the other modem.
        self.assertIsNone(self.world.esimd_proc.poll(), "esimd died with the modem")
        self.world.call(self.other_euicc, EUICC, "Refresh")
        self.assertEqual(len(self.world.profile_paths(self.other_euicc)),
                         len(harness.parse_card(OTHER_CARD)["profiles"]))
        # The SM-DP+ handed out the BPP and never heard of an install.
        bpp = self.records("es9plus/getBoundProfilePackage")[-1]
        self.assertEqual(bpp["result"], "ok")
        self.assertEqual([r for r in self.records("es9plus/handleNotification")
                          if r.get("installResult")], [])
        # A download that is gone cannot be driven any more.
        with self.assertRaises(harness.CallError) as ctx:
            self.world.call(path, DOWNLOAD, "Cancel")
        self.assertIn(ctx.exception.name, ("org.freedesktop.DBus.Error.UnknownObject",
                                           "org.freedesktop.DBus.Error.UnknownMethod"))


class Qmi(CardRefusals, harness.WorldTestCase):
    transport = "qmi"


class Mbim(CardRefusals, harness.WorldTestCase):
    transport = "mbim"


class At(CardRefusals, harness.WorldTestCase):
    transport = "at"


if __name__ == "__main__":
    harness.main()
