#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The promises of the design that users rely on, each seen from outside:
identifiers shortened in the log unless asked for in full; non-standard
ISD-R AIDs tried after the GSMA one; object paths that are counters holding
no identifier; a signal for every change a client can see; one operation at
a time per eUICC while different eUICCs work in parallel; polkit asked for
the documented action before anything reaches the card."""

import json
import os
import re
import subprocess

import harness
from harness import EUICC, MANAGER, NOBODY, OBJECT_MANAGER, PROFILE, PROPERTIES

CARD = "three-profiles.card"
GSMA_ISDR_AID = "A0000005591010FFFFFFFF8900000100"
ACCESS_DENIED = "org.freedesktop.DBus.Error.AccessDenied"
REMOVED = "org.esimd.Error.Removed"
ESIMD_INTERFACES = (MANAGER, EUICC, PROFILE)

# dbus/org.esimd.policy, as DESIGN.md's authorization table names them.
SWITCH = "org.esimd.profile.switch"
DELETE = "org.esimd.profile.delete"
CONFIGURE = "org.esimd.euicc.configure"
RESET = "org.esimd.euicc.reset"


def card_ids(card):
    """The EID and every ICCID of a card file."""
    data = harness.parse_card(card)
    ids = [data["card"]["eid"]] if "eid" in data["card"] else []
    return ids + [p["iccid"] for p in data["profiles"]]


def iccid_on_card(iccid):
    """An ICCID as the card encodes it (ITU-T E.118 BCD, nibbles swapped,
    F-padded): the form a raw APDU dump would carry."""
    digits = iccid + ("F" if len(iccid) % 2 else "")
    return "".join(digits[i + 1] + digits[i] for i in range(0, len(digits), 2))


def apdu_pairs(path):
    """The APDU log of modem-sim as [(command, response)], response None
    when it was dropped."""
    pairs = []
    with open(path) as f:
        for line in f:
            if line.startswith("> "):
                pairs.append([line[2:].strip(), None])
            elif line.startswith("< ") and pairs:
                pairs[-1][1] = line[2:].strip()
    return [tuple(p) for p in pairs]


def apdu_commands(path):
    return [c for c, _ in apdu_pairs(path)] if os.path.exists(path) else []


def selected_aid(command):
    """The AID of a SELECT by DF name (INS A4, P1 04), else None."""
    if len(command) < 10 or command[2:4] != "A4" or command[4:6] != "04":
        return None
    lc = int(command[8:10], 16)
    return command[10:10 + 2 * lc]


def text_hex(text):
    return text.encode().hex().upper()


class DesignCase(harness.WorldTestCase):
    def esimd_stops_cleanly(self):
        status = self.world.stop_esimd()
        self.assertEqual(status, 0, "esimd did not exit cleanly on SIGTERM")

    def profiles_by_state(self, euicc):
        by_state = {}
        for path in self.world.profile_paths(euicc):
            by_state.setdefault(self.world.get_property(path, PROFILE, "State"), []).append(path)
        return by_state

    def gdbus_call(self, path, interface, method, *gvariant_args, user=None):
        """One client process making one call (its own connection); the
        caller waits for it with communicate()."""
        argv = ["gdbus", "call", "--address", self.world.address, "--dest", harness.BUS_NAME,
                "--object-path", path, "--method", f"{interface}.{method}",
                "--timeout", str(int(harness.timeout(120)))] + list(gvariant_args)
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] + argv
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        return proc


# -- 1. identifiers in the log -------------------------------------------------


class Logging(DesignCase):
    """DESIGN.md: "EID and ICCID are shortened in logs unless the user asks
    for full identifiers" (config full-identifiers=true). esimd runs with
    --verbose (the harness passes it), so debug messages count too."""

    def run_operations(self, protocol, config=None):
        card = harness.parse_card(CARD)
        self.world.add_modem(protocol, [CARD])
        self.world.start_esimd(config=config)
        euicc = self.world.euicc_paths()[0]
        by_iccid = {self.world.get_property(p, PROFILE, "Iccid"): p
                    for p in self.world.profile_paths(euicc)}
        first, second, third = (by_iccid[p["iccid"]] for p in card["profiles"])
        self.world.call(first, PROFILE, "Disable")
        self.world.call(second, PROFILE, "Enable")
        self.world.call(third, PROFILE, "SetNickname", "s", "Holiday")
        self.world.call(first, PROFILE, "Delete")
        self.world.call(euicc, EUICC, "Refresh")
        self.esimd_stops_cleanly()
        return card, self.world.esimd_log_text()

    def assert_no_full_identifier(self, protocol):
        card, log = self.run_operations(protocol)
        self.assertIn("Ready", log, "the log does not even say the daemon came up")
        eid = card["card"]["eid"]
        leaks = [eid] if eid in log else []
        for profile in card["profiles"]:
            iccid = profile["iccid"]
            leaks += [form for form in (iccid, iccid_on_card(iccid)) if form in log]
        lines = [line for line in log.splitlines() if any(leak in line for leak in leaks)]
        self.assertEqual(leaks, [], f"full identifiers in the {protocol} log without "
                         "full-identifiers=true, e.g.:\n" + "\n".join(lines[:5]))

    def test_qmi_log_shortens_eid_and_iccids(self):
        self.assert_no_full_identifier("qmi")

    def test_mbim_log_shortens_eid_and_iccids(self):
        self.assert_no_full_identifier("mbim")

    def test_at_log_shortens_eid_and_iccids(self):
        self.assert_no_full_identifier("at")

    def test_full_identifiers_true_logs_them_in_full(self):
        card, log = self.run_operations("qmi", config={"full-identifiers": "true"})
        self.assertIn(card["card"]["eid"], log)
        # The profiles disabled, enabled and deleted are named in the log.
        for profile in card["profiles"][:2]:
            self.assertIn(profile["iccid"], log)


# -- 2. non-standard ISD-R AIDs --------------------------------------------------


class AlternativeIsdr(DesignCase):
    """DESIGN.md: "Non-standard ISD-R AIDs (removable eUICCs) are tried after
    the GSMA one". two-aids.card answers only at a vendor AID."""

    def assert_found_after_gsma(self, protocol):
        card = harness.parse_card("two-aids.card")
        apdu_log = os.path.join(self.world.tmpdir, "apdu.log")
        self.world.add_modem(protocol, ["two-aids.card"], options=[f"apdu-log={apdu_log}"])
        self.world.start_esimd()

        # The eUICC is there with its profiles.
        euiccs = self.world.euicc_paths()
        self.assertEqual(len(euiccs), 1)
        self.assertEqual(self.world.get_property(euiccs[0], EUICC, "Eid"), card["card"]["eid"])
        iccids = sorted(self.world.get_property(p, PROFILE, "Iccid")
                        for p in self.world.profile_paths(euiccs[0]))
        self.assertEqual(iccids, sorted(p["iccid"] for p in card["profiles"]))

        # The GSMA AID was tried first (and refused), the vendor one after.
        selects = [(selected_aid(c), r) for c, r in apdu_pairs(apdu_log) if selected_aid(c)]
        self.assertTrue(selects, "no SELECT by AID reached the card")
        self.assertEqual(selects[0][0], GSMA_ISDR_AID,
                         f"the first ISD-R AID tried: {selects[0][0]}")
        self.assertEqual(selects[0][1], "6A82")
        vendor = card["card"]["isdr-aid"]
        answered = [i for i, (aid, r) in enumerate(selects) if aid == vendor and r
                    and not r.startswith("6A")]
        self.assertTrue(answered, f"the vendor AID {vendor} was never selected")

    def test_qmi_tries_gsma_aid_first_then_the_vendor_one(self):
        self.assert_found_after_gsma("qmi")

    def test_mbim_tries_gsma_aid_first_then_the_vendor_one(self):
        self.assert_found_after_gsma("mbim")

    def test_at_tries_gsma_aid_first_then_the_vendor_one(self):
        self.assert_found_after_gsma("at")


# -- 3. object paths -----------------------------------------------------------

PATH_RE = re.compile(r"^/org/esimd(/euicc/(0|[1-9][0-9]*)(/profile/(0|[1-9][0-9]*))?)?$")


class ObjectPaths(DesignCase):
    """DESIGN.md: "Object paths never contain an EID or ICCID (they are
    personal identifiers): they are counters." """

    def test_no_path_holds_any_part_of_an_eid_or_iccid(self):
        # One card per modem: every eUICC is reachable, every profile listed.
        cards = [("qmi", "three-profiles.card"), ("qmi", "iccid-lengths.card"),
                 ("mbim", "eight-icons.card"), ("at", "two-aids.card")]
        ids = []
        for protocol, card in cards:
            self.world.add_modem(protocol, [card])
            ids += card_ids(card)
        self.world.start_esimd(wait_euiccs=4)
        objects = self.world.managed_objects()
        self.assertEqual(len([p for p in objects if EUICC in objects[p]]), 4)
        self.assertEqual(len([p for p in objects if PROFILE in objects[p]]), 3 + 3 + 8 + 2)
        for path in objects:
            self.assertRegex(path, PATH_RE)
            # Counters of this size are short; any run of six digits or more
            # of a path that occurs in an identifier gives part of it away.
            for run in re.findall(r"[0-9A-Fa-f]{6,}", path):
                for ident in ids:
                    self.assertNotIn(run, ident, f"{path} holds part of {ident}")
                    self.assertNotIn(run.upper(), iccid_on_card(ident))
        self.assertEqual(len(set(objects)), len(objects))

    def test_paths_are_counters_never_reused(self):
        first = self.world.add_modem("qmi", [CARD])
        # A device esimd knows but that is not there yet: tried again on Scan.
        later = os.path.join(self.world.tmpdir, "later-modem")
        returning = os.path.join(self.world.tmpdir, "returning-modem")
        self.world.start_esimd(devices=[first.device, f"mbim:{later}", f"qmi:{returning}"],
                               wait_euiccs=1)
        euicc = self.world.euicc_paths()[0]
        seen = set(self.world.managed_objects())

        def by_iccid():
            return {self.world.get_property(p, PROFILE, "Iccid"): p
                    for p in self.world.profile_paths(euicc)}

        before = by_iccid()
        doomed = self.profiles_by_state(euicc)["disabled"][0]
        doomed_iccid = self.world.get_property(doomed, PROFILE, "Iccid")
        self.world.call(doomed, PROFILE, "Delete")
        self.world.call(euicc, EUICC, "Refresh")
        self.world.call(harness.MANAGER_PATH, MANAGER, "Scan")
        objects = self.world.managed_objects()
        self.assertNotIn(doomed, objects, "the deleted profile's path is back")
        # Every other profile keeps its path: M is not handed to another one.
        expected = {i: p for i, p in before.items() if i != doomed_iccid}
        self.assertEqual(by_iccid(), expected)
        self.assertEqual(set(objects) - seen, set(), "new objects after Refresh and Scan")

        # A second modem appears: its eUICC and profiles get paths never used.
        second = self.world.add_modem("mbim", ["eight-icons.card"])
        os.symlink(second.port, later)
        self.world.call(harness.MANAGER_PATH, MANAGER, "Scan")
        euiccs = self.world.euicc_paths()
        self.assertEqual(len(euiccs), 2)
        new_euicc = [p for p in euiccs if p != euicc][0]
        self.assertRegex(new_euicc, PATH_RE)
        self.assertNotIn(new_euicc, seen)
        new_paths = set(self.world.managed_objects()) - seen
        self.assertEqual(len(new_paths), 1 + 8)
        for path in new_paths:
            self.assertTrue(path == new_euicc or path.startswith(new_euicc + "/profile/"), path)

        # The first card leaves and comes back on another modem: it is a new
        # object, not its old path found again by its EID.
        seen |= set(self.world.managed_objects())
        mon = self.world.monitor()
        harness.modem_command(first, "unplug")
        mon.wait_for(lambda m: m.get("member") == "InterfacesRemoved"
                     and m.get("payload", {}).get("data", [None])[0] == euicc,
                     what="the unplugged eUICC to leave")
        harness.wait_until(lambda: euicc not in self.world.euicc_paths(),
                           what="Manager1.Euiccs without the unplugged eUICC")
        again = self.world.add_modem("qmi", [CARD])
        os.symlink(again.port, returning)
        self.world.call(harness.MANAGER_PATH, MANAGER, "Scan")
        euiccs = self.world.euicc_paths()
        self.assertEqual(len(euiccs), 2)
        back = [p for p in euiccs if p != new_euicc][0]
        self.assertEqual(self.world.get_property(back, EUICC, "Eid"),
                         harness.parse_card(CARD)["card"]["eid"])
        self.assertNotIn(back, seen, "the returning card got an old path back")
        for path in self.world.profile_paths(back):
            self.assertNotIn(path, seen)


# -- 4. signals for every change ---------------------------------------------------


class Signals(DesignCase):
    """DESIGN.md: "Every change on the card shows up as PropertiesChanged
    and, for objects that come and go, InterfacesAdded/InterfacesRemoved."
    After each operation, a client that kept GetManagedObjects from before
    and applied the signals in order holds what GetManagedObjects says
    after; and nothing unchanged is announced."""

    def setUp(self):
        super().setUp()
        self.modem = self.world.add_modem("qmi", [CARD])
        self.later = os.path.join(self.world.tmpdir, "later-modem")
        # A short transport timeout: a dropped answer (the card acted, esimd
        # never heard) is how the card changes behind esimd's back.
        self.world.start_esimd(devices=[self.modem.device, f"mbim:{self.later}"],
                               wait_euiccs=1,
                               config={"timeout-ms": str(int(harness.timeout(3) * 1000))})
        self.euicc = self.world.euicc_paths()[0]
        self.monitor = self.world.monitor()
        res = self.world.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                "org.freedesktop.DBus", "GetNameOwner", "s", harness.BUS_NAME)
        self.esimd_name = json.loads(res.stdout)["data"][0]

    def barrier(self):
        """The index in the monitor's messages up to which every signal esimd
        sent before answering a call made now is seen: the bus keeps the
        order of one sender's messages, and esimd answers in order. Only
        the barrier asks for Manager1.Version."""
        start = len(self.monitor.messages)
        self.world.busctl("call", harness.BUS_NAME, harness.MANAGER_PATH, PROPERTIES, "Get",
                          "ss", MANAGER, "Version")
        messages = self.monitor.messages
        call = self.monitor.wait_for(
            lambda m: m.get("type") == "method_call" and m.get("member") == "Get"
            and m.get("payload", {}).get("data") == [MANAGER, "Version"]
            and messages.index(m) >= start, what="the barrier call")
        reply = self.monitor.wait_for(
            lambda m: m.get("type") == "method_return"
            and m.get("destination") == call["sender"]
            and m.get("reply_cookie") == call["cookie"], what="the barrier call's reply")
        return messages.index(reply)

    def esimd_signals(self, start, end):
        return [m for m in self.monitor.messages[start:end]
                if m.get("type") == "signal" and m.get("sender") == self.esimd_name]

    def snapshot(self):
        """GetManagedObjects, plus Manager1 on the ObjectManager's own path
        (which GetManagedObjects leaves out)."""
        objects = self.world.managed_objects()
        objects[harness.MANAGER_PATH] = {MANAGER: self.world.get_all(harness.MANAGER_PATH,
                                                                     MANAGER)}
        return objects

    def step(self, what, action):
        """Runs action() and compares the signals it caused with the objects
        before and after; what does not match goes to self.missing (a change
        without its signal) or self.extra (a signal without a change)."""
        before = self.snapshot()
        start = self.barrier()
        action()
        end = self.barrier()
        after = self.snapshot()
        signals = self.esimd_signals(start, end)

        mirror = {p: {i: dict(props) for i, props in ifaces.items()}
                  for p, ifaces in before.items()}
        announced = {}
        for m in signals:
            data = m.get("payload", {}).get("data", [])
            if m.get("member") == "InterfacesAdded" and m.get("interface") == OBJECT_MANAGER:
                mirror[data[0]] = {i: {k: v["data"] for k, v in props.items()}
                                   for i, props in data[1].items()}
            elif m.get("member") == "InterfacesRemoved" and m.get("interface") == OBJECT_MANAGER:
                for iface in data[1]:
                    mirror.get(data[0], {}).pop(iface, None)
                if data[0] in mirror and not any(i in ESIMD_INTERFACES for i in mirror[data[0]]):
                    del mirror[data[0]]
            elif m.get("member") == "PropertiesChanged" and m.get("interface") == PROPERTIES:
                iface, changed, invalidated = data
                for k, v in changed.items():
                    mirror.setdefault(m["path"], {}).setdefault(iface, {})[k] = v["data"]
                    announced.setdefault(m["path"], set()).add((iface, k))
                for k in invalidated:
                    announced.setdefault(m["path"], set()).add((iface, k))
                    mirror.get(m["path"], {}).get(iface, {})[k] = after.get(
                        m["path"], {}).get(iface, {}).get(k)

        def esimd_only(objects):
            return {p: {i: props for i, props in ifaces.items() if i in ESIMD_INTERFACES}
                    for p, ifaces in objects.items()}

        mirrored, actual = esimd_only(mirror), esimd_only(after)
        for path in sorted(set(mirrored) | set(actual)):
            if mirrored.get(path) != actual.get(path):
                self.missing.append(f"{what}: a client following the signals holds "
                                    f"{mirrored.get(path)} for {path}, GetManagedObjects says "
                                    f"{actual.get(path)}")
        for path in sorted(set(before) & set(after)):
            differ = {(i, k) for i in ESIMD_INTERFACES for k, v in before[path].get(i, {}).items()
                      if after[path].get(i, {}).get(k) != v}
            said = announced.get(path, set())
            for iface, prop in sorted(differ - said):
                self.missing.append(f"{what}: {path} {prop} changed without PropertiesChanged")
            for iface, prop in sorted(said - differ):
                self.extra.append(f"{what}: {path} {prop} announced although unchanged")
        for path in sorted(set(before) - set(after)):
            if not any(m.get("member") == "InterfacesRemoved" and m["payload"]["data"][0] == path
                       for m in signals):
                self.missing.append(f"{what}: no InterfacesRemoved for {path}")
        for path in sorted(set(after) - set(before)):
            if not any(m.get("member") == "InterfacesAdded" and m["payload"]["data"][0] == path
                       for m in signals):
                self.missing.append(f"{what}: no InterfacesAdded for {path}")
        return before, after

    def call(self, path, interface, method, signature="", *args):
        return lambda: self.world.call(path, interface, method, signature, *args)

    def behind_esimds_back(self, fault, path, method, *gvariant_args):
        """The card acts on a command but its answer is lost: esimd reports
        a failure and its cache stays as it was."""
        def action():
            harness.modem_set_option(self.modem, f"fault={fault}@1")
            name, _ = self.world.gdbus_error(path, PROFILE, method, gvariant_args)
            self.assertIsNotNone(name, f"{method} with a lost answer succeeded")
        return action

    def run_every_kind_of_change(self):
        self.missing, self.extra = [], []
        enabled = self.profiles_by_state(self.euicc)["enabled"][0]
        others = [p for p in self.world.profile_paths(self.euicc) if p != enabled]

        self.step("Disable", self.call(enabled, PROFILE, "Disable"))
        self.step("Enable", self.call(others[0], PROFILE, "Enable"))
        self.step("SetNickname", self.call(others[1], PROFILE, "SetNickname", "s", "Signals"))
        self.step("SetDefaultSmdpAddress",
                  self.call(self.euicc, EUICC, "SetDefaultSmdpAddress", "s", "rsp.example.org"))
        self.step("Delete", self.call(enabled, PROFILE, "Delete"))

        # The card changes behind esimd's back; Refresh finds it.
        self.step("a nickname set outside",
                  self.behind_esimds_back("drop:BF29", others[1], "SetNickname", '"Outside"'))
        _, after = self.step("Refresh after a nickname set outside",
                             self.call(self.euicc, EUICC, "Refresh"))
        self.assertEqual(after[others[1]][PROFILE]["Nickname"], "Outside")
        self.step("a delete outside", self.behind_esimds_back("drop:BF33", others[1], "Delete"))
        _, after = self.step("Refresh after a delete outside",
                             self.call(self.euicc, EUICC, "Refresh"))
        self.assertNotIn(others[1], after)

        # ResetMemory of the operational profiles removes the one left.
        _, after = self.step("ResetMemory(1)", self.call(self.euicc, EUICC, "ResetMemory", "u", 1))
        self.assertEqual(after[self.euicc][EUICC]["Profiles"], [])
        _, after = self.step("ResetMemory(4)", self.call(self.euicc, EUICC, "ResetMemory", "u", 4))
        self.assertEqual(after[self.euicc][EUICC]["DefaultSmdpAddress"], "")

        # A modem that appears brings its eUICC and profiles with
        # InterfacesAdded, and Manager1.Euiccs changes.
        second_modem = self.world.add_modem("mbim", ["eight-icons.card"])
        os.symlink(second_modem.port, self.later)
        _, after = self.step("Scan finding a new modem",
                             self.call(harness.MANAGER_PATH, MANAGER, "Scan"))
        self.assertEqual(len(after[harness.MANAGER_PATH][MANAGER]["Euiccs"]), 2)

        self.step("Refresh with nothing changed", self.call(self.euicc, EUICC, "Refresh"))

    def test_every_change_is_announced(self):
        self.run_every_kind_of_change()
        self.assertEqual(self.missing, [], "changes a client was not told of:\n"
                         + "\n".join(self.missing))

    def test_nothing_unchanged_is_announced(self):
        self.run_every_kind_of_change()
        self.assertEqual(self.extra, [], "signals for properties that did not change:\n"
                         + "\n".join(self.extra))


# -- 5. one operation per eUICC, eUICCs in parallel -------------------------------------


class Parallel(DesignCase):
    """DESIGN.md: "One operation at a time per eUICC, in arrival order ...;
    different eUICCs work in parallel." Card A loses the answer to a
    SetNickname, so that operation stays at the card until the test unplugs
    modem A (no timeout fires: timeout-ms is far beyond the test). Whatever
    the machine's speed, while it is there a second call on A must not reach
    card A, and calls on card B must be served."""

    def test_a_busy_euicc_holds_its_queue_but_not_the_other_euicc(self):
        log_a = os.path.join(self.world.tmpdir, "apdu-a.log")
        log_b = os.path.join(self.world.tmpdir, "apdu-b.log")
        modem_a = self.world.add_modem("qmi", [CARD], options=[f"apdu-log={log_a}"])
        self.world.add_modem("mbim", ["eight-icons.card"], options=[f"apdu-log={log_b}"])
        self.world.start_esimd(config={"timeout-ms": "600000"})
        by_eid = {self.world.get_property(p, EUICC, "Eid"): p for p in self.world.euicc_paths()}
        euicc_a = by_eid[harness.parse_card(CARD)["card"]["eid"]]
        euicc_b = by_eid[harness.parse_card("eight-icons.card")["card"]["eid"]]
        profile_a = self.world.profile_paths(euicc_a)[1]
        profiles_b = self.world.profile_paths(euicc_b)

        harness.modem_set_option(modem_a, "fault=drop:BF29@1")
        monitor = self.world.monitor()
        stuck = self.gdbus_call(profile_a, PROFILE, "SetNickname", '"stuck"')
        harness.wait_until(lambda: any(text_hex("stuck") in c and r is None
                                       for c, r in apdu_pairs(log_a)),
                           what="card A to take the SetNickname whose answer is lost")
        commands_a = apdu_commands(log_a)
        queued = self.gdbus_call(profile_a, PROFILE, "SetNickname", '"queued"')
        monitor.wait_for(lambda m: m.get("type") == "method_call" and m.get("path") == profile_a
                         and m.get("payload", {}).get("data") == ["queued"],
                         what="the second call on A delivered to esimd")

        # Card B is served, several times over, while A's operation is open.
        b_before = len(apdu_commands(log_b))
        self.assertEqual(self.world.call(profiles_b[2], PROFILE, "SetNickname", "s", "served"), [])
        self.assertEqual(self.world.call(profiles_b[3], PROFILE, "Enable"), [])
        self.assertEqual(self.world.get_property(profiles_b[2], PROFILE, "Nickname"), "served")
        self.assertEqual(self.world.get_property(euicc_b, EUICC, "EnabledProfile"),
                         profiles_b[3])
        commands_b = apdu_commands(log_b)[b_before:]
        self.assertTrue(any(text_hex("served") in c for c in commands_b))

        self.assertIsNone(stuck.poll(), "A's first call ended although its card never answered")
        self.assertIsNone(queued.poll(), "A's second call ended before the first")
        # Card A saw nothing since: the second call waits its turn.
        self.assertEqual(apdu_commands(log_a), commands_a)
        self.assertFalse(any(text_hex("queued") in c for c in apdu_commands(log_a)))

        # Modem A goes away: both its calls end, the queued one never at the card.
        harness.modem_command(modem_a, "unplug")
        for proc in (stuck, queued):
            _, err = proc.communicate(timeout=harness.timeout(60))
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn(REMOVED, err)
        self.assertFalse(any(text_hex("queued") in c for c in apdu_commands(log_a)))


# -- 6. polkit is asked for the documented action -----------------------------------------


class Authorization(DesignCase):
    """DESIGN.md's table: every changing method of Euicc1/Profile1 asks
    polkit for its action; a caller polkit denies gets AccessDenied and the
    card receives nothing. (test-polkit proves the error names the action
    and that granting it lets the call through.)"""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("needs root to run clients as another user")
        self.world.start_polkit()
        self.apdu_log = os.path.join(self.world.tmpdir, "apdu.log")
        self.world.add_modem("qmi", ["with-notifications.card"],
                             options=[f"apdu-log={self.apdu_log}"])
        self.world.start_esimd()
        self.euicc = self.world.euicc_paths()[0]

    def test_each_changing_method_asks_its_action_and_touches_no_card(self):
        by_state = self.profiles_by_state(self.euicc)
        enabled, disabled = by_state["enabled"][0], by_state["disabled"][0]
        seq = self.world.call(self.euicc, EUICC, "ListNotifications")[0][0][0]
        methods = [
            (disabled, PROFILE, "Enable", [], SWITCH),
            (enabled, PROFILE, "Disable", [], SWITCH),
            (disabled, PROFILE, "SetNickname", ['"Mine"'], SWITCH),
            (disabled, PROFILE, "Delete", [], DELETE),
            (self.euicc, EUICC, "SetDefaultSmdpAddress", ['"rsp.example.org"'], CONFIGURE),
            (self.euicc, EUICC, "RemoveNotification", [f"@u {seq}"], CONFIGURE),
            (self.euicc, EUICC, "ResetMemory", ["@u 7"], RESET),
        ]
        objects = self.world.managed_objects()
        commands = apdu_commands(self.apdu_log)
        monitor = self.world.monitor()
        problems = []
        for path, interface, method, args, action in methods:
            start = len(monitor.messages)
            name, message = self.world.gdbus_error(path, interface, method, args, user=NOBODY)
            if name != ACCESS_DENIED:
                problems.append(f"{method} as an unprivileged caller: {name} {message}")
            call = monitor.wait_for(
                lambda m: m.get("type") == "method_call" and m.get("member") == method
                and m.get("path") == path and monitor.messages.index(m) >= start,
                what=f"the {method} call")
            # The answer to the caller comes after anything esimd asked for it.
            answer = monitor.wait_for(
                lambda m: m.get("type") in ("method_return", "error")
                and m.get("destination") == call["sender"]
                and m.get("reply_cookie") == call["cookie"], what=f"the answer to {method}")
            asked = [m for m in monitor.messages[monitor.messages.index(call):
                                                 monitor.messages.index(answer)]
                     if m.get("type") == "method_call"
                     and m.get("member") == "CheckAuthorization"]
            if not asked:
                problems.append(f"{method}: polkit was not asked")
            else:
                subject, action_id = asked[0]["payload"]["data"][:2]
                if action_id != action:
                    problems.append(f"{method}: polkit was asked about {action_id}, "
                                    f"not {action}")
                # polkit is asked about the caller, not about esimd.
                if subject[0] != "system-bus-name" or \
                        subject[1]["name"]["data"] != call["sender"]:
                    problems.append(f"{method}: polkit was asked about {subject}, not the "
                                    f"caller {call['sender']}")
            if apdu_commands(self.apdu_log) != commands:
                problems.append(f"{method} reached the card although polkit said no")
                commands = apdu_commands(self.apdu_log)
        self.assertEqual(problems, [], "\n".join(problems))
        self.assertEqual(self.world.managed_objects(), objects)
        self.assertEqual(len(self.world.call(self.euicc, EUICC, "ListNotifications")[0]), 4)


if __name__ == "__main__":
    harness.main()
