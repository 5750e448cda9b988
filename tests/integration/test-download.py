#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Profile install on the bus (SGP.22 3.1.3): Euicc1.Download and the
Download1 object, against a card with a real test PKI (mkpki) in modem-sim
and smdp-sim --pki as the SM-DP+ (the world is downloads.DownloadBase). The
core cases run over QMI, MBIM and AT; the rest over QMI, where nothing they
check depends on the transport. SM-DP+ faults: test-download-faults.py."""

import importlib.util
import json
import os
import select
import subprocess
import time

import harness
from downloads import (AC_CC, AC_PLAIN, ADDRESS, CANCEL_SESSION, CC, DOWNLOAD,  # noqa: F401
                       EID, FINAL_STATES, ICCID_CC, ICCID_EVENT, ICCID_PLAIN, LOAD_BPP, PROFILES,
                       DownloadBase, Owner, es10_commands)
from harness import EUICC, NOBODY, PROFILE

INSTALL = "org.esimd.profile.install"
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"


class CoreCases:
    """The cases every transport runs: what a user does, from the activation
    code to the profile on the card and the SM-DP+'s record of it."""

    def test_install_with_accept(self):
        monitor = self.world.monitor()
        start = time.monotonic()
        path = self.owner().download(self.euicc, AC_PLAIN, accept=True)
        self.assertTrue(path.startswith(self.euicc + "/download/"), path)
        added = monitor.wait_for_signal("InterfacesAdded")
        self.assertEqual(added[0], path)
        self.assertIn(DOWNLOAD, added[1])
        self.assertEqual(self.wait_state(path, ("done", "failed", "cancelled")), "done",
                         self.prop(path, "ErrorMessage"))
        # Nothing read back after the install: the profile is what its
        # metadata and the card's install result say, and the install
        # result is the one notification it wrote. The card agrees.
        install = es10_commands(self.apdu_log)
        install = install[len(install) - install[::-1].index("BF20") - 1:]
        # (the delivery of the install result may have begun: RetrieveNotificationsList)
        install = install[:install.index("BF2B")] if "BF2B" in install else install
        self.assertFalse({"BF2D", "BF28"} & set(install), install)
        profile = self.prop(path, "Profile")
        told = self.world.get_all(profile, PROFILE)
        self.assert_installed(path, ICCID_PLAIN)
        self.assertEqual(self.world.get_all(profile, PROFILE), told)
        pending = [m["payload"]["data"][1]["PendingNotifications"]["data"]
                   for m in monitor.signals("PropertiesChanged", path=self.euicc)
                   if "PendingNotifications" in m["payload"]["data"][1]]
        self.assertEqual(pending[:1], [1], pending)
        print(f"install over {self.transport} took {time.monotonic() - start:.1f} s")
        props = self.world.get_all(path, DOWNLOAD)
        self.assertEqual(props["SmdpAddress"], ADDRESS)
        self.assertEqual(self.world.get_property(props["Profile"], PROFILE, "Name"),
                         "Plain test profile")
        # Followed by PropertiesChanged: the last State sent is done.
        states = [m["payload"]["data"][1]["State"]["data"]
                  for m in monitor.signals("PropertiesChanged", path=path)
                  if "State" in m["payload"]["data"][1]]
        self.assertEqual(states[-1], "done")
        self.assertIn("downloading", states)
        # The whole package went to the card, each segment once.
        bpp = self.last_record("es9plus/getBoundProfilePackage")
        loads = [t for t in es10_commands(self.apdu_log) if t == LOAD_BPP]
        self.assertEqual(len(loads), 1)
        self.assertGreater(sum(bpp["segments"].values()), 3)

    def test_install_with_code(self):
        path = self.owner().download(self.euicc, AC_CC)
        self.wait_state(path, ("confirming",))
        self.assertTrue(self.prop(path, "ConfirmationCodeRequired"))
        self.assertEqual(self.prop(path, "Error"), "")
        # A wrong code first: refused by the SM-DP+, which allows another
        # try; the download is back at confirming, saying why.
        self.world.call(path, DOWNLOAD, "Accept", "a{sv}", 1, "confirmation-code", "s", "0000")
        self.assertEqual(self.wait_state(path, ("confirming",) + FINAL_STATES), "confirming")
        self.assertEqual(self.prop(path, "Error"), "org.esimd.Error.ConfirmationCodeWrong")
        self.assertIn("refused", self.prop(path, "ErrorMessage"))
        progress = self.prop(path, "Progress")
        self.assertGreater(progress, 0)
        # The refused code is not kept: Accept without one is refused.
        with self.assertRaises(harness.CallError) as ctx:
            self.world.call(path, DOWNLOAD, "Accept", "a{sv}", 0)
        self.assertEqual(ctx.exception.name, "org.esimd.Error.ConfirmationCodeWrong")
        self.world.call(path, DOWNLOAD, "Accept", "a{sv}", 1, "confirmation-code", "s", CC)
        self.assert_installed(path, ICCID_CC, nth=2)
        self.assertEqual(es10_commands(self.apdu_log).count("BF21"), 2)
        self.assertEqual(self.records("es9plus/cancelSession"), [])

    def test_reject(self):
        path = self.owner().download(self.euicc, AC_PLAIN)
        self.wait_state(path, ("confirming",))
        with self.assertRaises(harness.CallError) as ctx:
            self.world.call(path, DOWNLOAD, "Reject", "s", "maybe")
        self.assertEqual(ctx.exception.name, "org.freedesktop.DBus.Error.InvalidArgs")
        self.world.call(path, DOWNLOAD, "Reject", "s", "rejected")
        self.assert_nothing_installed(path, "org.esimd.Error.Cancelled")
        record = self.wait_record("es9plus/cancelSession")
        self.assertEqual((record["result"], record["reason"]), ("ok", "endUserRejection"))
        self.assertEqual(self.records("es9plus/getBoundProfilePackage"), [])
        self.assertNotIn(LOAD_BPP, es10_commands(self.apdu_log))
        self.assertIn(CANCEL_SESSION, es10_commands(self.apdu_log))

    def test_postponed(self):
        path = self.owner().download(self.euicc, AC_CC)
        self.wait_state(path, ("confirming",))
        self.world.call(path, DOWNLOAD, "Reject", "s", "postponed")
        self.assert_nothing_installed(path, "org.esimd.Error.Cancelled")
        record = self.wait_record("es9plus/cancelSession")
        self.assertEqual((record["result"], record["reason"]), ("ok", "postponed"))
        self.assertEqual(self.records("es9plus/getBoundProfilePackage"), [])
        # Later: the same code installs.
        path = self.owner().download(self.euicc, AC_CC, accept=True,
                                     **{"confirmation-code": CC})
        self.assert_installed(path, ICCID_CC)

    def test_caller_leaving_cancels(self):
        monitor = self.world.monitor()
        owner = self.owner()
        path = owner.download(self.euicc, AC_PLAIN)
        self.wait_state(path, ("confirming",))
        owner.close()
        record = self.wait_record("es9plus/cancelSession")
        self.assertEqual((record["result"], record["reason"]), ("ok", "postponed"))
        removed = monitor.wait_for_signal("InterfacesRemoved")
        self.assertEqual(removed[0], path)
        self.assertIn(DOWNLOAD, removed[1])
        self.assertNotIn(path, self.world.managed_objects())
        self.assertEqual(self.card_iccids(), [])
        self.assertEqual(self.records("es9plus/getBoundProfilePackage"), [])
        # The card is free again: the next download goes through.
        path = self.owner().download(self.euicc, AC_PLAIN, accept=True)
        self.assert_installed(path, ICCID_PLAIN)


class Download(CoreCases, DownloadBase):
    """Over QMI: the core cases and everything else about the object."""

    def test_consent_through_busctl(self):
        owner = self.owner()
        path = owner.download(self.euicc, AC_PLAIN)
        self.assertEqual(self.wait_state(path, ("confirming", "failed")), "confirming")
        metadata = self.prop(path, "Metadata")
        self.assertEqual(metadata["iccid"]["data"], ICCID_PLAIN)
        self.assertEqual(metadata["name"]["data"], "Plain test profile")
        self.assertEqual(metadata["service-provider"]["data"], "Example Mobile")
        self.assertEqual(metadata["class"]["data"], "operational")
        self.assertEqual(metadata["owner-mcc-mnc"]["data"], "26201")
        self.assertFalse(self.prop(path, "ConfirmationCodeRequired"))
        self.assertEqual(self.prop(path, "Profile"), "/")
        # The object is what dbus/org.esimd.Download1.xml says.
        spec = importlib.util.spec_from_file_location(
            "introspection", os.path.join(os.path.dirname(__file__), "test-introspection.py"))
        introspection = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(introspection)
        contract = introspection.contract()[DOWNLOAD]
        live = introspection.interfaces_of(self.world.introspect(path))[DOWNLOAD]
        self.assertEqual(introspection.differences(contract, live), [])
        self.assertIn(path, self.world.managed_objects())
        # Root accepts through busctl: it is not the owner, polkit is not asked for root.
        self.world.call(path, DOWNLOAD, "Accept", "a{sv}", 0)
        self.assertEqual(self.wait_state(path, ("done", "failed")), "done")
        self.assertNotEqual(self.prop(path, "Profile"), "/")

    def test_wrong_confirmation_code(self):
        # Given up front with accept, refused: paused at confirming all the
        # same, the refusal shown; Cancel then ends it as at any pause.
        monitor = self.world.monitor()
        path = self.owner().download(self.euicc, AC_CC, accept=True,
                                     **{"confirmation-code": "0000"})
        self.assertEqual(self.wait_state(path, ("confirming",) + FINAL_STATES), "confirming")
        self.assertEqual(self.prop(path, "Error"), "org.esimd.Error.ConfirmationCodeWrong")
        self.assertNotEqual(self.prop(path, "ErrorMessage"), "")
        self.assertTrue(self.prop(path, "ConfirmationCodeRequired"))
        record = self.wait_record("es9plus/getBoundProfilePackage")
        self.assertEqual(record["statusCodeData"]["subjectCode"], "8.2.7")
        self.world.call(path, DOWNLOAD, "Cancel")
        self.assertEqual(self.wait_state(path, FINAL_STATES), "cancelled")
        self.assertEqual(self.prop(path, "Error"), "org.esimd.Error.Cancelled")
        record = self.wait_record("es9plus/cancelSession")
        self.assertEqual((record["result"], record["reason"]), ("ok", "postponed"))
        # Both errors were announced, the one replacing the other.

        def errors():
            return [m["payload"]["data"][1]["Error"]["data"]
                    for m in monitor.signals("PropertiesChanged", path=path)
                    if "Error" in m["payload"]["data"][1]]
        harness.wait_until(lambda: "org.esimd.Error.Cancelled" in errors(), 20,
                           "the cancel to be announced")
        self.assertEqual(errors(), ["org.esimd.Error.ConfirmationCodeWrong",
                                    "org.esimd.Error.Cancelled"])
        # Accept without a code while the SM-DP+ wants one: refused, still waiting.
        path = self.owner().download(self.euicc, AC_CC)
        self.wait_state(path, ("confirming",))
        with self.assertRaises(harness.CallError) as ctx:
            self.world.call(path, DOWNLOAD, "Accept", "a{sv}", 0)
        self.assertEqual(ctx.exception.name, "org.esimd.Error.ConfirmationCodeWrong")
        self.assertEqual(self.prop(path, "State"), "confirming")
        self.world.call(path, DOWNLOAD, "Accept", "a{sv}", 1, "confirmation-code", "s", "4711")
        self.assertEqual(self.wait_state(path, ("done", "failed")), "done")

    def test_bad_activation_code(self):
        for code in ("", "1$", "2$smdp.example.com$X", "LPA:1$$MID"):
            with self.subTest(code=code):
                with self.assertRaises(harness.CallError) as ctx:
                    self.world.call(self.euicc, EUICC, "Download", "sa{sv}", code, 0)
                self.assertEqual(ctx.exception.name, "org.esimd.Error.InvalidActivationCode")
        with self.assertRaises(harness.CallError) as ctx:
            self.world.call(self.euicc, EUICC, "Download", "sa{sv}", AC_PLAIN, 1, "color", "s",
                            "red")
        self.assertEqual(ctx.exception.name, "org.freedesktop.DBus.Error.InvalidArgs")
        self.assertEqual([p for p in self.world.managed_objects() if "/download/" in p], [])
        self.assertEqual(self.smdp.received(), [])

    def test_discover_then_download_the_event(self):
        # "" asks the card's root SM-DS (smds.example.com in the card file's default).
        events = self.world.call(self.euicc, EUICC, "Discover", "s", "")[0]
        self.assertEqual(events, [[ADDRESS, "EV-1"], ["rsp.example.net", "EV-2"]])
        record = self.wait_record("es11/authenticateClient")
        self.assertEqual((record["result"], record["events"]), ("ok", ["EV-1", "EV-2"]))
        self.assertEqual(record["host"].split(":")[0], "smds.example.com")
        path = self.owner().download(self.euicc, f"1${events[0][0]}${events[0][1]}", accept=True)
        self.assertEqual(self.wait_state(path, ("done", "failed", "cancelled")), "done",
                         self.prop(path, "ErrorMessage"))
        self.assertEqual(self.prop(path, "Metadata")["iccid"]["data"], ICCID_EVENT)
        # An SM-DS that is not there: the SM-DP+ error class, nothing installed besides.
        with self.assertRaises(harness.CallError) as ctx:
            self.world.call(self.euicc, EUICC, "Discover", "s", "nosuch.example.org")
        self.assertIn(ctx.exception.name, ("org.esimd.Error.SmdpRejected",
                                           "org.esimd.Error.SmdpUnreachable"))

    def test_shutdown_while_waiting_for_consent(self):
        # SIGTERM while a download waits for consent: esimd does not wait
        # out the consent timeout; it ends the session as postponed, on the
        # card and at the SM-DP+, and exits cleanly.
        path = self.owner().download(self.euicc, AC_PLAIN)
        self.wait_state(path, ("confirming",))
        start = time.monotonic()
        status = self.world.stop_esimd(seconds=20)
        self.assertEqual(status, 0)
        self.assertLess(time.monotonic() - start, 15)
        record = self.wait_record("es9plus/cancelSession")
        self.assertEqual((record["result"], record["reason"]), ("ok", "postponed"))

    def test_modem_unplugged_mid_download(self):
        # The download's path is below the eUICC's: it goes with it.
        monitor = self.world.monitor()
        path = self.owner().download(self.euicc, AC_PLAIN)
        self.wait_state(path, ("confirming",))
        harness.modem_command(self.world.modems[0], "unplug")
        removed = monitor.wait_for(
            lambda m: m.get("member") == "InterfacesRemoved"
            and m["payload"]["data"][0] == path, what="the download's InterfacesRemoved")
        self.assertIn(DOWNLOAD, removed["payload"]["data"][1])
        harness.wait_until(lambda: self.world.euicc_paths() == [], 20, "the eUICC to go")
        self.assertNotIn(path, self.world.managed_objects())


class DownloadMbim(CoreCases, DownloadBase):
    transport = "mbim"


class DownloadAt(CoreCases, DownloadBase):
    transport = "at"


class Esimctl(DownloadBase):
    def test_install_yes(self):
        res = self.world.esimctl("install", "--yes", AC_PLAIN, seconds=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        # Not a terminal: one plain line per state, then the result.
        lines = res.stdout.splitlines()
        self.assertEqual(lines[-1], f"Installed Plain test profile ({ICCID_PLAIN}).")
        self.assertIn("downloading", " ".join(lines))
        self.assertIn("Operator  Example Mobile", res.stderr)
        profiles = self.world.profile_paths(self.euicc)
        self.assertEqual([self.world.get_property(p, PROFILE, "Iccid") for p in profiles],
                         [ICCID_PLAIN])
        self.assertEqual(self.world.get_property(profiles[0], PROFILE, "State"), "disabled")
        # esimctl left: its download object went with it.
        self.assertEqual([p for p in self.world.managed_objects() if "/download/" in p], [])

    def test_install_json_with_code_and_enable(self):
        res = self.world.esimctl("--json", "install", "--yes", "--confirmation-code", "4711",
                                 "--enable", AC_CC, seconds=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        doc = json.loads(res.stdout)
        self.assertEqual((doc["iccid"], doc["name"], doc["class"], doc["installed"]),
                         (ICCID_CC, "Needs a code", "operational", True))
        self.assertEqual(self.world.get_property(doc["profile"], PROFILE, "State"), "enabled")

    def on_terminal(self, args, answers):
        """Runs esimctl with a pty as its terminal; answers: [(prompt, reply)]
        in order. Returns (exit status, everything it wrote)."""
        master, slave = os.openpty()
        proc = subprocess.Popen([os.environ["ESIMCTL"], f"--bus={self.world.address}"] + args,
                                stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        out = b""
        deadline = time.monotonic() + harness.timeout(60)
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        break  # the child closed the terminal
                    if not chunk:
                        break
                    out += chunk
                if answers and answers[0][0].encode() in out:
                    os.write(master, answers.pop(0)[1].encode() + b"\n")
                if proc.poll() is not None and not ready:
                    break
            status = proc.wait(harness.timeout(10))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(master)
        return status, out.decode(errors="replace")

    def test_terminal_consent_code_and_progress_line(self):
        status, out = self.on_terminal(["install", AC_CC], [("Install this profile? [y/N]", "y"),
                                                           ("Confirmation code: ", "4711")])
        self.assertEqual(status, 0, out)
        self.assertIn("Name      Needs a code", out)
        self.assertIn(f"ICCID     {ICCID_CC}", out)
        # The progress line is redrawn in place and ends full.
        self.assertIn("\r[", out)
        self.assertIn("] 100% ", out)
        self.assertNotIn("4711", out)  # the code is not echoed
        self.assertIn(f"Installed Needs a code ({ICCID_CC}).", out)

    def test_terminal_code_typed_again(self):
        # The first code typed is wrong: the SM-DP+ allows another try, so
        # esimctl says so and asks again (still without echo); the second
        # one installs, in the same session.
        status, out = self.on_terminal(
            ["install", AC_CC],
            [("Install this profile? [y/N]", "y"), ("Confirmation code: ", "0000"),
             ("try again.\r\nConfirmation code: ", "4711")])
        self.assertEqual(status, 0, out)
        self.assertIn("The SM-DP+ refused the confirmation code; try again.", out)
        self.assertEqual(out.count("Confirmation code: "), 2, out)
        self.assertNotIn("0000", out)
        self.assertNotIn("4711", out)
        self.assertIn(f"Installed Needs a code ({ICCID_CC}).", out)
        bpps = self.records("es9plus/getBoundProfilePackage")
        self.assertEqual([b["result"] for b in bpps], ["failed", "ok"])
        self.assertEqual(bpps[0]["transactionId"], bpps[1]["transactionId"])
        self.assertEqual(self.records("es9plus/cancelSession"), [])

    def test_terminal_no_rejects(self):
        status, out = self.on_terminal(["install", AC_PLAIN],
                                       [("Install this profile? [y/N]", "n")])
        self.assertEqual(status, 1, out)
        self.assertIn("Not installed.", out)
        harness.wait_until(
            lambda: any(r.get("function") == "es9plus/cancelSession"
                        and r.get("reason") == "endUserRejection" for r in self.smdp.received()),
            20, "the rejection to reach smdp-sim")
        self.assertEqual(self.world.profile_paths(self.euicc), [])

    def test_discover(self):
        res = self.world.esimctl("discover")
        self.assertEqual(res.returncode, 0, res.stderr)
        rows = [line.split() for line in res.stdout.splitlines()]
        self.assertEqual(rows[0], ["#", "SM-DP+", "EVENT", "ACTIVATION", "CODE"])
        self.assertEqual(rows[1:], [["1", ADDRESS, "EV-1", f"LPA:1${ADDRESS}$EV-1"],
                                    ["2", "rsp.example.net", "EV-2", "LPA:1$rsp.example.net$EV-2"]])
        res = self.world.esimctl("--json", "discover", "--smds", "smds.example.com")
        self.assertEqual(res.returncode, 0, res.stderr)
        events = json.loads(res.stdout)["events"]
        self.assertEqual([(e["number"], e["eid"], e["event-id"]) for e in events],
                         [(1, EID, "EV-1"), (2, EID, "EV-2")])
        # The code it prints installs.
        res = self.world.esimctl("install", "--yes", events[0]["activation-code"], seconds=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn(f"({ICCID_EVENT})", res.stdout)

    def test_install_event(self):
        res = self.world.esimctl("discover")
        self.assertEqual(res.returncode, 0, res.stderr)
        numbered = [line.split()[:3] for line in res.stdout.splitlines()[1:]]
        self.assertEqual(numbered, [["1", ADDRESS, "EV-1"], ["2", "rsp.example.net", "EV-2"]])
        # Beyond the events: a usage error that says how many there are,
        # and nothing is downloaded.
        before = len(self.smdp.received())
        res = self.world.esimctl("install", "--yes", "--event", "3", seconds=60)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("holds 2 events", res.stderr)
        self.assertEqual([r["function"] for r in self.smdp.received()[before:]],
                         ["es11/initiateAuthentication", "es11/authenticateClient"])
        # An activation code and --event: which one is meant is unclear.
        res = self.world.esimctl("install", "--yes", "--event", "1", AC_PLAIN)
        self.assertEqual(res.returncode, 2, res.stderr)
        res = self.world.esimctl("install", "--yes", "--event", "0")
        self.assertEqual(res.returncode, 2, res.stderr)

        before = len(self.smdp.received())
        res = self.world.esimctl("--json", "install", "--yes", "--event", "1", seconds=60)
        self.assertEqual(res.returncode, 0, res.stderr)
        doc = json.loads(res.stdout)
        self.assertEqual((doc["iccid"], doc["smdp-address"], doc["installed"]),
                         (ICCID_EVENT, ADDRESS, True))
        profiles = self.world.profile_paths(self.euicc)
        self.assertEqual([self.world.get_property(p, PROFILE, "Iccid") for p in profiles],
                         [ICCID_EVENT])
        # The SM-DS was asked first, then the event's SM-DP+ gave the profile.
        functions = [r["function"] for r in self.smdp.received()[before:]]
        self.assertIn("es11/authenticateClient", functions)
        self.assertIn("es9plus/getBoundProfilePackage", functions)
        self.assertLess(functions.index("es11/authenticateClient"),
                        functions.index("es9plus/initiateAuthentication"))
        self.assertLess(functions.index("es9plus/initiateAuthentication"),
                        functions.index("es9plus/getBoundProfilePackage"))
        record = self.last_record("es9plus/getBoundProfilePackage")
        self.assertEqual(record["result"], "ok")

    def test_refusals_and_exit_statuses(self):
        # No terminal, no --yes: refused before anything is asked of esimd.
        res = self.world.esimctl("install", AC_PLAIN)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("--yes", res.stderr)
        self.assertEqual(self.smdp.received(), [])
        res = self.world.esimctl("install", "--yes", "1$nothing")
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("activation code", res.stderr)
        # A wrong code: the SM-DP+ refuses (exit status 7, the SM-DP+ class).
        # It would take another, but the code came on the command line:
        # esimctl rejects the paused download instead of asking.
        res = self.world.esimctl("install", "--yes", "--confirmation-code", "0000", AC_CC,
                                 seconds=60)
        self.assertEqual(res.returncode, 7, res.stderr)
        self.assertIn("confirmation code", res.stderr)
        self.assertIn("3.8", res.stderr)
        harness.wait_until(
            lambda: any(r.get("function") == "es9plus/cancelSession"
                        and r.get("reason") == "endUserRejection" for r in self.smdp.received()),
            20, "the rejection to reach smdp-sim")
        self.assertEqual(len(self.records("es9plus/getBoundProfilePackage")), 1)
        before = len(self.records("es9plus/cancelSession"))
        # No code at all and no terminal to ask on: refused, rejected.
        res = self.world.esimctl("install", "--yes", AC_CC, seconds=60)
        self.assertEqual(res.returncode, 2, res.stderr)
        self.assertIn("--confirmation-code", res.stderr)
        harness.wait_until(
            lambda: any(r.get("reason") == "endUserRejection"
                        for r in self.records("es9plus/cancelSession")[before:]),
            20, "the rejection to reach smdp-sim")
        self.assertEqual(self.world.profile_paths(self.euicc), [])


class DiscoverRefused(DownloadBase):
    """Event retrieval (SGP.22 3.6.3) when the card refuses the SM-DS."""

    def test_card_refusal_reaches_the_smds(self):
        self.assertEqual(len(self.world.call(self.euicc, EUICC, "Discover", "s", "")[0]), 2)
        # The SM-DS hands out the last transactionId again: the card, which
        # used it, refuses the server at AuthenticateServer (undefinedError).
        self.smdp.command("reuse-transaction 1")
        # One call: a second one (harness.call asks gdbus for the error
        # name) would find the knob spent.
        name, message = self.world.gdbus_error(self.euicc, EUICC, "Discover", ["''"])
        self.assertEqual(name, "org.esimd.Error.DownloadRejected", message)
        self.assertIn("undefined error", message)
        self.assertIn("did not accept the SM-DS smds.example.com", message)
        initiate = self.records("es11/initiateAuthentication")[-1]
        self.assertTrue(initiate["reusedTransaction"])
        # SGP.22 3.0.1: the AuthenticateResponseError goes to the SM-DS in
        # authenticateClient, which ends its transaction on it.
        answers = [r for r in self.records("es11/authenticateClient")
                   if r["transactionId"] == initiate["transactionId"]]
        self.assertEqual(len(answers), 2, answers)
        self.assertEqual((answers[1]["result"], answers[1]["authenticateErrorCode"]),
                         ("failed", 127))
        self.assertEqual(answers[1]["statusCodeData"]["subjectCode"], "8.1")
        # The card took no harm: the next retrieval works.
        self.assertEqual(len(self.world.call(self.euicc, EUICC, "Discover", "s", "")[0]), 2)


class DownloadPolkit(DownloadBase):
    with_polkit = True

    def test_unprivileged_caller_needs_the_install_action(self):
        with self.assertRaises(harness.CallError) as ctx:
            self.world.call(self.euicc, EUICC, "Download", "sa{sv}", AC_PLAIN, 0, user=NOBODY)
        self.assertEqual(ctx.exception.name, ACCESS_DENIED)
        self.assertIn(INSTALL, ctx.exception.message)
        self.assertEqual(self.smdp.received(), [])
        self.world.set_polkit_allowed([INSTALL])
        path = self.world.call(self.euicc, EUICC, "Download", "sa{sv}", AC_PLAIN, 1, "accept",
                               "b", "true", user=NOBODY)[0]
        self.assertTrue(path.startswith(self.euicc + "/download/"), path)
        self.world.set_polkit_allowed([])
        with self.assertRaises(harness.CallError) as ctx:
            self.world.call(self.euicc, EUICC, "Discover", "s", "", user=NOBODY)
        self.assertEqual(ctx.exception.name, ACCESS_DENIED)
        self.world.set_polkit_allowed([INSTALL])
        # busctl left right after the reply: its download is cancelled and goes.
        harness.wait_until(lambda: path not in self.world.managed_objects(), 30,
                           "the download of a caller who left to go")


if __name__ == "__main__":
    harness.main()
