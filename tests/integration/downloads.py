# SPDX-License-Identifier: GPL-2.0-or-later
"""The world of a profile download test (SGP.22 3.1.3): an empty eUICC with
a real test PKI (mkpki) behind modem-sim on one transport, smdp-sim --pki as
the SM-DP+ with the profiles below, and esimd delivering notifications to
it. Shared by test-download.py and test-download-faults.py.

The caller that owns a download keeps a connection of its own (Gio): a
busctl call leaves the bus as soon as it has its answer, which cancels the
download it started."""

import json
import os

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

import harness  # noqa: E402
from harness import EUICC, PROFILE  # noqa: E402

DOWNLOAD = "org.esimd.Download1"
EID = "89049032123451234512345678901235"
ADDRESS = "smdp.example.com"
ICCID_PLAIN = "8949449999999990023"
ICCID_CC = "8949449999999990031"
ICCID_EVENT = "8949449999999990049"
AC_PLAIN = f"LPA:1${ADDRESS}$MID-PLAIN"
AC_CC = f"1${ADDRESS}$MID-CC$$1"
CC = "4711"
FINAL_STATES = ("done", "failed", "cancelled")

PROFILES = {"profiles": {
    "MID-PLAIN": {"iccid": ICCID_PLAIN, "name": "Plain test profile",
                  "service-provider": "Example Mobile", "class": "operational",
                  "owner": "26201", "extra-bytes": 3000},
    "MID-CC": {"iccid": ICCID_CC, "name": "Needs a code", "service-provider": "Example Mobile",
               "class": "operational", "cc": CC},
    "EV-1": {"iccid": ICCID_EVENT, "name": "From an event"},
}, "events": {EID: [{"address": ADDRESS, "event-id": "EV-1"}, ["rsp.example.net", "EV-2"]]}}

# ES10 commands as the first STORE DATA block of each starts (SGP.22 5.7).
CANCEL_SESSION = "BF41"
LOAD_BPP = "BF36"


def variant_options(options):
    out = {}
    for key, value in options.items():
        out[key] = GLib.Variant("b" if isinstance(value, bool) else "s", value)
    return out


class Owner:
    """A bus connection of its own that starts downloads and owns them
    until closed."""

    def __init__(self, world):
        self.conn = Gio.DBusConnection.new_for_address_sync(
            world.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
            | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)

    def download(self, euicc, activation_code, **options):
        res = self.conn.call_sync(
            harness.BUS_NAME, euicc, EUICC, "Download",
            GLib.Variant("(sa{sv})", (activation_code, variant_options(options))),
            GLib.VariantType("(o)"), Gio.DBusCallFlags.NONE,
            int(harness.timeout() * 1000), None)
        return res.unpack()[0]

    def close(self):
        if not self.conn.is_closed():
            self.conn.close_sync(None)


def es10_commands(apdu_log):
    """The ES10 commands in a modem-sim APDU log, in order: the first two
    bytes (hex) of each STORE DATA sequence's first block."""
    tags = []
    if not os.path.exists(apdu_log):
        return tags
    with open(apdu_log) as f:
        for line in f:
            if not line.startswith("> "):
                continue
            apdu = line[2:].strip().replace(" ", "")
            # CLA INS P1 P2 Lc data: STORE DATA is INS E2, block 0 is P2 00.
            if len(apdu) >= 14 and apdu[2:4] == "E2" and apdu[6:8] == "00":
                tags.append(apdu[10:14])
    return tags


class DownloadBase(harness.WorldTestCase):
    """One empty eUICC on modem-sim over `transport`, smdp-sim as its
    SM-DP+, esimd delivering notifications (the install result is one)."""

    transport = "qmi"
    with_polkit = False

    def setUp(self):
        super().setUp()
        if self.with_polkit:
            if os.geteuid() != 0:
                self.skipTest("needs root to run clients as another user")
            self.world.start_polkit()
        pki = harness.make_pki(self.world, EID)
        card = os.path.join(self.world.tmpdir, "euicc.card")
        with open(card, "w") as f:
            # An empty eUICC whose keys are the PKI's (pki is relative to
            # the card file's folder).
            f.write(f"type euicc\neid {EID}\npki {os.path.basename(pki)}\n"
                    f"default-smdp {ADDRESS}\n")
        profiles = os.path.join(self.world.tmpdir, "profiles.json")
        with open(profiles, "w") as f:
            json.dump(PROFILES, f)
        self.smdp = harness.SmdpSim(self.world, args=["--profiles", profiles], pki=pki)
        self.apdu_log = os.path.join(self.world.tmpdir, "apdu.log")
        self.modem = self.world.add_modem(self.transport, [card],
                                          options=[f"apdu-log={self.apdu_log}"])
        self.world.start_esimd(args=self.smdp.esimd_args(),
                               config={"auto-send-notifications": "true"})
        self.euicc = self.world.euicc_paths()[0]
        self.owners = []

    def tearDown(self):
        for owner in self.owners:
            owner.close()
        super().tearDown()

    def owner(self):
        owner = Owner(self.world)
        self.owners.append(owner)
        return owner

    def prop(self, path, name):
        return self.world.get_property(path, DOWNLOAD, name)

    def wait_state(self, path, states, seconds=harness.DEFAULT_TIMEOUT):
        seen = []

        def reached():
            seen.append(self.prop(path, "State"))
            return seen[-1] in states
        harness.wait_until(reached, seconds, f"{path} to reach {states} (last {seen[-1:]})",
                           interval=0.1)
        return seen[-1]

    def records(self, function):
        return [r for r in self.smdp.received() if r.get("function") == function]

    def last_record(self, function):
        records = self.records(function)
        return records[-1] if records else None

    def wait_record(self, function, count=1):
        """The last of the first `count` records of function, once there."""
        harness.wait_until(lambda: len(self.records(function)) >= count, 20,
                           f"smdp-sim to log {function} ({count})")
        return self.records(function)[count - 1]

    def card_iccids(self):
        """The profiles the card holds, read again from the card."""
        self.world.call(self.euicc, EUICC, "Refresh")
        return sorted(self.world.get_property(p, PROFILE, "Iccid")
                      for p in self.world.profile_paths(self.euicc))

    def card_notifications(self):
        return self.world.call(self.euicc, EUICC, "ListNotifications")[0]

    def assert_installed(self, path, iccid, nth=1):
        """The download at path installed iccid, and the SM-DP+'s record
        agrees: its nth getBoundProfilePackage went out whole, the card's
        signed install result reached it and left the card after that."""
        self.assertEqual(self.wait_state(path, FINAL_STATES), "done",
                         self.prop(path, "ErrorMessage"))
        props = self.world.get_all(path, DOWNLOAD)
        self.assertEqual((props["Error"], props["ErrorMessage"]), ("", ""))
        self.assertEqual(props["Progress"], 1.0)
        self.assertEqual(props["Metadata"]["iccid"]["data"], iccid)
        profile = props["Profile"]
        self.assertIn(profile, self.world.profile_paths(self.euicc))
        self.assertEqual(self.world.get_property(profile, PROFILE, "Iccid"), iccid)
        self.assertIn(iccid, self.card_iccids())
        bpp = self.wait_record("es9plus/getBoundProfilePackage", nth)
        self.assertEqual((bpp["result"], bpp["iccid"]), ("ok", iccid))
        tid = bpp["transactionId"]

        def delivered():
            return [r for r in self.records("es9plus/handleNotification")
                    if (r.get("installResult") or {}).get("transactionId") == tid
                    and r["result"] == "delivered"]
        harness.wait_until(delivered, 20, "the install result to reach smdp-sim")
        # Accepted once (tries the SM-DP+ failed may come before).
        [note] = delivered()
        self.assertEqual((note["iccid"], note["operation"]), (iccid, "install"))
        self.assertEqual((note["installResult"]["signatureValid"],
                          note["installResult"]["finalResult"]), (True, "success"))
        # Removed from the card once the SM-DP+ confirmed it.
        harness.wait_until(
            lambda: not [n for n in self.card_notifications() if n[0] == note["seq"]], 20,
            "the delivered install notification to leave the card")

    def assert_nothing_installed(self, path, error, iccids=()):
        """The download at path ended with the D-Bus error `error` and left
        the card as it was (holding iccids)."""
        state = self.wait_state(path, FINAL_STATES)
        self.assertEqual(self.prop(path, "Error"), error, self.prop(path, "ErrorMessage"))
        self.assertEqual(state, "cancelled" if error == "org.esimd.Error.Cancelled" else "failed")
        self.assertNotEqual(self.prop(path, "ErrorMessage"), "")
        self.assertEqual(self.prop(path, "Profile"), "/")
        self.assertEqual(self.card_iccids(), sorted(iccids))
        # No install notification: nothing was installed, nothing to report.
        self.assertEqual([n for n in self.card_notifications() if n[1] == "install"], [])
