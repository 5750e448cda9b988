#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""esimctl against esimd and a simulated QMI modem: every command in text
and --json, the delete confirmation, the exit status of each error class
with the daemon's message passed through, --eid with several cards, and
the manual pages agreeing with --help."""

import json
import os
import pty
import re
import select
import shutil
import subprocess
import time

import harness
from harness import EUICC, PROFILE

CARD = "three-profiles.card"
MAN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "man")

# esimctl(1), EXIT STATUS
EXIT_OK, EXIT_OTHER, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_REFUSED = 0, 1, 2, 3, 4
EXIT_ACCESS_DENIED, EXIT_MODEM, EXIT_SMDP, EXIT_NO_DAEMON = 5, 6, 7, 8

PROFILE_KEYS = {"path", "eid", "iccid", "isdp_aid", "state", "class", "name",
                "service_provider", "nickname", "owner_mcc_mnc", "icon_type", "icon",
                "connection", "policy_rules"}
EUICC_KEYS = {"path", "eid", "transport", "port", "device", "slot", "slot_active",
              "enabled_profile", "default_smdp_address", "root_smds_address",
              "pending_notifications", "modem", "info", "profiles"}


class EsimctlCase(harness.WorldTestCase):
    cards = [CARD]
    esimd_args = ()

    def setUp(self):
        super().setUp()
        self.card = harness.parse_card(CARD)
        # One modem per card: each card is in its modem's active slot.
        self.modems = [self.world.add_modem("qmi", [card]) for card in self.cards]
        self.modem = self.modems[0]
        self.world.start_esimd(args=self.esimd_args)
        self.euicc = self.euicc_of(self.card["card"]["eid"])
        self.enabled = next(p["iccid"] for p in self.card["profiles"]
                            if p.get("state") == "enabled")
        self.disabled = [p["iccid"] for p in self.card["profiles"]
                         if p.get("state") != "enabled"]

    def euicc_of(self, eid):
        for path in self.world.euicc_paths():
            if self.world.get_property(path, EUICC, "Eid") == eid:
                return path
        return None

    def esimctl(self, *args, status=EXIT_OK, user=None):
        res = self.world.esimctl(*args, user=user)
        self.assertEqual(res.returncode, status,
                         f"esimctl {' '.join(map(str, args))}: {res.stdout}{res.stderr}")
        return res

    def esimctl_json(self, *args):
        return json.loads(self.esimctl("--json", *args).stdout)

    def profile_path(self, iccid):
        for path in self.world.profile_paths(self.euicc):
            if self.world.get_property(path, PROFILE, "Iccid") == iccid:
                return path
        return None

    def assert_failure(self, res, status, message=None):
        """A failure: one "esimctl: ..." line on stderr (the daemon's message
        when given) and the exit status of its class."""
        self.assertEqual(res.returncode, status, res.stdout + res.stderr)
        self.assertTrue(res.stderr.startswith("esimctl: "), res.stderr)
        if message is not None:
            self.assertEqual(res.stderr.splitlines()[0], f"esimctl: {message}")


class Commands(EsimctlCase):
    def test_list_shows_every_profile_of_the_card(self):
        out = self.esimctl("list").stdout
        self.assertIn("qmi", out)
        self.assertIn(self.modem.port, out)
        for p in self.card["profiles"]:
            line = next((l for l in out.splitlines() if p["iccid"] in l), None)
            self.assertIsNotNone(line, f"{p['iccid']} missing from:\n{out}")
            self.assertIn(p.get("state", "disabled"), line)
            self.assertIn(p["name"], line)
            self.assertIn(p["provider"], line)
            if "nickname" in p:
                self.assertIn(p["nickname"], line)
        # Without a command, esimctl lists.
        self.assertEqual(self.esimctl().stdout, out)
        # The EID is shortened unless --full.
        eid = self.card["card"]["eid"]
        self.assertNotIn(eid, out)
        self.assertIn(eid, self.esimctl("--full", "list").stdout)

    def test_list_json_has_the_documented_keys_and_the_card_state(self):
        doc = self.esimctl_json("list")
        self.assertEqual(len(doc["euiccs"]), 1)
        card = doc["euiccs"][0]
        self.assertEqual(set(card), EUICC_KEYS)
        self.assertEqual(card["eid"], self.card["card"]["eid"])
        self.assertEqual(card["transport"], "qmi")
        self.assertEqual(card["port"], self.modem.port)
        self.assertEqual(card["slot"], 1)
        self.assertIs(card["slot_active"], True)
        self.assertEqual(card["enabled_profile"], self.enabled)
        self.assertEqual(card["default_smdp_address"], self.card["card"]["default-smdp"])
        self.assertEqual(card["path"], self.euicc)
        self.assertEqual(card["info"]["svn"], self.card["card"]["svn"])
        self.assertEqual([p["iccid"] for p in card["profiles"]],
                         [p["iccid"] for p in self.card["profiles"]])
        for want, got in zip(self.card["profiles"], card["profiles"]):
            self.assertEqual(set(got), PROFILE_KEYS)
            self.assertEqual(got["state"], want.get("state", "disabled"))
            self.assertEqual(got["name"], want["name"])
            self.assertEqual(got["service_provider"], want["provider"])
            self.assertEqual(got["nickname"], want.get("nickname", ""))
            self.assertEqual(got["owner_mcc_mnc"], want["owner"])
            self.assertEqual(got["isdp_aid"], want["isdp-aid"])
            self.assertEqual(got["class"], want["class"])
            self.assertEqual(got["eid"], self.card["card"]["eid"])
            self.assertEqual(got["policy_rules"], [])
        # No profile has policy rules: no POLICY column to widen the table.
        self.assertNotIn("POLICY", self.esimctl("list").stdout)

    def test_show_prints_every_property_of_a_profile_or_card(self):
        path = self.profile_path(self.enabled)
        out = self.esimctl("show", self.enabled).stdout
        for name, value in self.world.get_all(path, PROFILE).items():
            self.assertRegex(out, rf"(?m)^\s*{name}\s", f"{name} missing from:\n{out}")
            if isinstance(value, str) and value:
                self.assertIn(value, out)
        doc = self.esimctl_json("show", self.enabled)
        self.assertEqual(set(doc), PROFILE_KEYS)
        self.assertEqual(doc["path"], path)

        out = self.esimctl("show").stdout
        for name in self.world.get_all(self.euicc, EUICC):
            self.assertRegex(out, rf"(?m)^\s*{name}[:\s]", f"{name} missing from:\n{out}")
        eid = self.card["card"]["eid"]
        doc = self.esimctl_json("show", eid[:12])
        self.assertEqual([c["eid"] for c in doc["euiccs"]], [eid])

        res = self.world.esimctl("show", "8999999999999999999")
        self.assert_failure(res, EXIT_NOT_FOUND)

    def test_info_shows_euiccinfo2_and_addresses(self):
        out = self.esimctl("info").stdout
        card = self.card["card"]
        for text in (card["eid"], card["default-smdp"], card["root-smds"], card["svn"],
                     card["firmware-version"], card["free-nv-memory"]):
            self.assertIn(text, out)
        doc = self.esimctl_json("info")
        self.assertEqual(len(doc["euiccs"]), 1)
        entry = doc["euiccs"][0]
        self.assertEqual(set(entry), {"eid", "default_smdp_address", "root_smds_address", "info"})
        self.assertEqual(entry["root_smds_address"], card["root-smds"])
        self.assertEqual(entry["info"]["firmware-version"], card["firmware-version"])
        self.assertEqual(entry["info"]["free-nv-memory"], int(card["free-nv-memory"]))
        self.assertEqual(entry["info"]["installed-applications"],
                         int(card["installed-applications"]))

    def test_disable_enable_and_nickname_change_the_card(self):
        other = self.disabled[0]
        out = self.esimctl("disable", self.enabled).stdout
        self.assertIn(self.enabled, out)
        self.assertEqual(self.world.get_property(self.profile_path(self.enabled), PROFILE,
                                                 "State"), "disabled")

        doc = self.esimctl_json("enable", other)
        self.assertEqual(doc["iccid"], other)
        self.assertEqual(doc["state"], "enabled")
        self.assertEqual(self.world.get_property(self.euicc, EUICC, "EnabledProfile"),
                         self.profile_path(other))

        doc = self.esimctl_json("nickname", other, "Trips abroad")
        self.assertEqual(doc["nickname"], "Trips abroad")
        self.assertEqual(self.world.get_property(self.profile_path(other), PROFILE, "Nickname"),
                         "Trips abroad")
        self.esimctl("nickname", other, "")
        self.assertEqual(self.world.get_property(self.profile_path(other), PROFILE, "Nickname"),
                         "")
        # ICCIDs may be typed with the F padding of their BCD form.
        self.esimctl("disable", other + "F")
        self.assertEqual(self.esimctl_json("list")["euiccs"][0]["enabled_profile"], None)

    def test_delete_asks_or_refuses_without_yes(self):
        victim = self.disabled[-1]
        name = next(p["name"] for p in self.card["profiles"] if p["iccid"] == victim)

        # Standard input is not a terminal here: no --yes, no delete.
        res = self.world.esimctl("delete", victim)
        self.assert_failure(res, EXIT_USAGE)
        self.assertIn("--yes", res.stderr)
        self.assertIsNotNone(self.profile_path(victim))

        # On a terminal it asks; "n" keeps the profile, "y" deletes it.
        status, output = self.run_on_terminal(["delete", victim], "n\n")
        self.assertEqual(status, EXIT_OTHER, output)
        self.assertIn(f"Delete profile {name} ({victim})? This cannot be undone. [y/N]", output)
        self.assertIsNotNone(self.profile_path(victim))
        status, output = self.run_on_terminal(["delete", victim], "y\n")
        self.assertEqual(status, EXIT_OK, output)
        harness.wait_until(lambda: self.profile_path(victim) is None, what="the profile gone")

        doc = self.esimctl_json("delete", "--yes", self.disabled[0])
        self.assertEqual(doc, {"eid": self.card["card"]["eid"], "iccid": self.disabled[0],
                               "deleted": True})
        self.assertEqual(len(self.world.profile_paths(self.euicc)), 1)

    def run_on_terminal(self, args, answer):
        """Runs esimctl with a pty as stdin and stderr; answers the question.
        Returns (exit status, what it wrote)."""
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen([os.environ["ESIMCTL"], f"--bus={self.world.address}"] + args,
                                    stdin=slave, stdout=slave, stderr=slave)
            os.close(slave)
            slave = None
            output = b""
            deadline = time.monotonic() + harness.timeout()
            answered = False
            while time.monotonic() < deadline:
                ready, _, _ = select.select([master], [], [], 0.1)
                if ready:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        chunk = b""
                    output += chunk
                    if not answered and b"[y/N]" in output:
                        os.write(master, answer.encode())
                        answered = True
                    if not chunk and proc.poll() is not None:
                        break
                elif proc.poll() is not None:
                    break
            if proc.poll() is None:
                proc.kill()
            status = proc.wait(harness.timeout(5))
            return status, output.decode(errors="replace")
        finally:
            os.close(master)
            if slave is not None:
                os.close(slave)

    def test_card_refusals_exit_4_with_the_daemons_message(self):
        path = self.profile_path(self.disabled[0])
        name, message = self.world.gdbus_error(path, PROFILE, "Disable")
        self.assertEqual(name, "org.esimd.Error.ProfileNotEnabled")
        res = self.world.esimctl("disable", self.disabled[0])
        self.assert_failure(res, EXIT_REFUSED, message)

        path = self.profile_path(self.enabled)
        name, message = self.world.gdbus_error(path, PROFILE, "Delete")
        self.assertEqual(name, "org.esimd.Error.ProfileEnabled")
        res = self.world.esimctl("delete", "--yes", self.enabled)
        self.assert_failure(res, EXIT_REFUSED, message)
        res = self.world.esimctl("enable", self.enabled)
        self.assert_failure(res, EXIT_REFUSED)
        self.assertIn("esimctl: ", res.stderr)

    def test_usage_and_not_found_exit_statuses(self):
        self.assert_failure(self.world.esimctl("frobnicate"), EXIT_USAGE)
        self.assert_failure(self.world.esimctl("enable"), EXIT_USAGE)
        self.assert_failure(self.world.esimctl("nickname", self.enabled), EXIT_USAGE)
        self.assert_failure(self.world.esimctl("notifications", "remove", "x"), EXIT_USAGE)
        res = self.world.esimctl("--no-such-option")
        self.assertEqual(res.returncode, EXIT_USAGE)
        self.assert_failure(self.world.esimctl("enable", "8900000000000000000"), EXIT_NOT_FOUND,
                            "No profile with ICCID 8900000000000000000")
        self.assert_failure(self.world.esimctl("--eid", "1234", "list"), EXIT_NOT_FOUND)
        # A nickname the daemon refuses as InvalidArgs is a usage error.
        path = self.profile_path(self.enabled)
        name, message = self.world.gdbus_error(path, PROFILE, "SetNickname", ['"' + "x" * 65 + '"'])
        self.assertEqual(name, "org.freedesktop.DBus.Error.InvalidArgs")
        self.assert_failure(self.world.esimctl("nickname", self.enabled, "x" * 65), EXIT_USAGE,
                            message)

    def test_access_denied_exits_5_with_the_daemons_message(self):
        # No polkit on the test bus: only root may change things.
        path = self.profile_path(self.enabled)
        name, message = self.world.gdbus_error(path, PROFILE, "Disable", user=harness.NOBODY)
        self.assertEqual(name, "org.freedesktop.DBus.Error.AccessDenied")
        res = self.world.esimctl("disable", self.enabled, user=harness.NOBODY)
        self.assert_failure(res, EXIT_ACCESS_DENIED, message)
        # Reading needs nobody's permission.
        self.assertIn(self.enabled, self.world.esimctl("list", user=harness.NOBODY).stdout)
        self.assertEqual(self.world.get_property(path, PROFILE, "State"), "enabled")

    def test_daemon_not_running_exits_8(self):
        self.world.stop_esimd()
        res = self.world.esimctl("list")
        self.assert_failure(res, EXIT_NO_DAEMON)
        self.assertIn("not running", res.stderr)
        res = subprocess.run([os.environ["ESIMCTL"], "--bus=unix:path=/nonexistent/bus", "list"],
                             capture_output=True, text=True, timeout=harness.timeout())
        self.assert_failure(res, EXIT_NO_DAEMON)

    def test_version_and_help(self):
        version = self.world.get_property(harness.MANAGER_PATH, harness.MANAGER, "Version")
        self.assertEqual(self.esimctl("--version").stdout.strip(), f"esimctl {version}")
        for command in ("list", "show", "enable", "disable", "delete", "nickname", "info",
                        "notifications"):
            out = self.esimctl(command, "--help").stdout
            self.assertRegex(out, rf"esimctl \[OPTIONS\.\.\.\] {command}\b")


class Notifications(EsimctlCase):
    # Every SM-DP+ connection goes to a closed local port: delivery fails
    # without leaving the machine.
    esimd_args = ("--smdp-host-override=127.0.0.1:9",)

    def test_notifications_list_send_remove(self):
        self.assertIn("No notifications", self.esimctl("notifications").stdout)
        self.assertEqual(self.esimctl_json("notifications", "list"), {"notifications": []})

        self.esimctl("disable", self.enabled)
        doc = self.esimctl_json("notifications", "list")
        self.assertEqual(len(doc["notifications"]), 1)
        n = doc["notifications"][0]
        self.assertEqual(set(n), {"eid", "seq", "operation", "iccid", "address"})
        self.assertEqual((n["operation"], n["iccid"], n["address"], n["eid"]),
                         ("disable", self.enabled, "smdp.example.com", self.card["card"]["eid"]))
        out = self.esimctl("notifications", "list").stdout
        self.assertRegex(out, rf"(?m)^.*\b{n['seq']}\s+disable\s+{self.enabled}\s+smdp.example.com")

        # Delivery to the unreachable SM-DP+ fails (SmdpUnreachable, with the
        # daemon's message naming the server): the notification stays.
        res = self.world.esimctl("--json", "notifications", "send")
        self.assertEqual(res.returncode, EXIT_SMDP, res.stdout + res.stderr)
        self.assertIn("smdp.example.com", res.stderr)
        res = self.world.esimctl("notifications", "send", n["seq"])
        self.assertEqual(res.returncode, EXIT_SMDP, res.stdout + res.stderr)
        self.assertIn("could not be reached", res.stderr)
        self.assertEqual(len(self.esimctl_json("notifications")["notifications"]), 1)

        doc = self.esimctl_json("notifications", "remove", n["seq"])
        self.assertEqual(doc, {"eid": self.card["card"]["eid"], "seq": n["seq"],
                               "removed": True})
        self.assertEqual(self.esimctl_json("notifications")["notifications"], [])
        _, message = self.world.gdbus_error(self.euicc, EUICC, "RemoveNotification",
                                            [f"@u {n['seq']}"])
        self.assert_failure(self.world.esimctl("notifications", "remove", n["seq"]),
                            EXIT_NOT_FOUND, message)


class SeveralCards(EsimctlCase):
    cards = [CARD, "eight-icons.card"]

    def test_eid_picks_a_card_and_ambiguity_lists_the_candidates(self):
        other = harness.parse_card("eight-icons.card")
        eids = [self.card["card"]["eid"], other["card"]["eid"]]
        common = os.path.commonprefix(eids)

        doc = self.esimctl_json("list")
        self.assertEqual(sorted(c["eid"] for c in doc["euiccs"]), sorted(eids))
        doc = self.esimctl_json("--eid", eids[1][:len(common) + 1], "list")
        self.assertEqual([c["eid"] for c in doc["euiccs"]], [eids[1]])

        # A changing command that needs one card: refused, naming both.
        res = self.world.esimctl("notifications", "remove", "1")
        self.assert_failure(res, EXIT_USAGE)
        for eid in eids:
            self.assertIn(eid, res.stderr)
        res = self.world.esimctl("--eid", common, "notifications", "remove", "1")
        self.assert_failure(res, EXIT_USAGE)
        for eid in eids:
            self.assertIn(eid, res.stderr)

        # An ICCID is found on whichever card holds it.
        second = next(p["iccid"] for p in other["profiles"] if p.get("state") != "enabled")
        doc = self.esimctl_json("enable", second)
        self.assertEqual((doc["eid"], doc["state"]), (eids[1], "enabled"))
        # ... but not when --eid names the other card.
        res = self.world.esimctl("--eid", eids[0], "disable", second)
        self.assert_failure(res, EXIT_NOT_FOUND)


class PolicyRules(EsimctlCase):
    """ppr.card: list shows a POLICY column, --json carries policy_rules."""
    cards = ["ppr.card"]

    def test_list_shows_the_rules_that_refuse_disable_or_delete(self):
        card = harness.parse_card("ppr.card")
        locked, undeletable, free = (p["iccid"] for p in card["profiles"])
        lines = self.esimctl("list").stdout.splitlines()
        header = next(l for l in lines if l.strip().startswith("ICCID"))
        self.assertTrue(header.rstrip().endswith("POLICY"), header)
        row = {i: next(l for l in lines if i in l) for i in (locked, undeletable, free)}
        self.assertTrue(row[locked].rstrip().endswith("disable-not-allowed"), row[locked])
        self.assertTrue(row[undeletable].rstrip().endswith("delete-not-allowed"),
                        row[undeletable])
        self.assertTrue(row[free].rstrip().endswith("-"), row[free])
        self.assertNotIn("not-allowed", row[free])

        doc = self.esimctl_json("list")
        rules = {p["iccid"]: p["policy_rules"] for p in doc["euiccs"][0]["profiles"]}
        self.assertEqual(rules, {locked: ["disable-not-allowed"],
                                 undeletable: ["delete-not-allowed"], free: []})
        self.assertEqual(self.esimctl_json("show", locked)["policy_rules"],
                         ["disable-not-allowed"])


class InactiveSlot(EsimctlCase):
    """A modem with two slots: the eUICC in the slot the modem does not use
    is listed with its EID and nothing else; every read command works on it."""
    cards = []

    def setUp(self):
        harness.WorldTestCase.setUp(self)
        self.card = harness.parse_card("eight-icons.card")
        self.world.add_modem("qmi", [CARD, "eight-icons.card"])
        self.world.start_esimd()

    def test_read_commands_work_on_a_card_without_profiles(self):
        eid = self.card["card"]["eid"]
        text = self.esimctl("--eid", eid, "info").stdout
        self.assertIn(eid, text)
        self.assertRegex(text, r"Default SM-DP\+ address +\(none\)")
        self.assertRegex(text, r"Root SM-DS address +\(none\)")
        text = self.esimctl("--eid", eid, "show").stdout
        self.assertRegex(text, r"SlotActive +no")
        self.assertRegex(text, r"Profiles +\(none\)")
        doc = self.esimctl_json("--eid", eid, "info")
        self.assertEqual(doc["euiccs"][0]["eid"], eid)
        doc = self.esimctl_json("--eid", eid, "list")
        self.assertEqual(doc["euiccs"][0]["profiles"], [])
        self.assertIn("(no profiles)", self.esimctl("list").stdout)


def man_section(path, title):
    """The lines of one .SH section of a man page."""
    lines, inside = [], False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith(".SH "):
                inside = line[4:].strip().strip('"') == title
                continue
            if inside:
                lines.append(line)
    return lines


def man_tagged_words(lines):
    """The first word of each .TP tag line, fonts and escapes removed."""
    words = []
    for i, line in enumerate(lines):
        if line.startswith(".TP") and i + 1 < len(lines):
            tag = re.sub(r"\\f[BIRP]", "", lines[i + 1])
            tag = re.sub(r"^\.(BR|BI|IR|B|I|RB)\s+", "", tag).replace("\\-", "-")
            words.append(tag)
    return words


def man_options(path):
    """Every --option named in the tags of the OPTIONS section."""
    found = set()
    for tag in man_tagged_words(man_section(path, "OPTIONS")):
        found.update(re.findall(r"--[a-z][a-z-]*", tag.replace('"', " ")))
    return found


def help_options(text):
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))


class ManPages(harness.WorldTestCase):
    def page(self, name):
        path = os.path.join(MAN_DIR, name)
        self.assertTrue(os.path.exists(path), path)
        return path

    def test_esimctl_page_lists_exactly_the_commands_and_options_of_help(self):
        res = self.world.esimctl("--help")
        self.assertEqual(res.returncode, 0)
        help_text = res.stdout
        commands_part = help_text.split("Commands:", 1)[1].split("Options:", 1)[0]
        help_commands = {line.split()[0] for line in commands_part.splitlines() if line.strip()}
        options_part = help_text.split("Options:", 1)[1]

        page = self.page("esimctl.1")
        man_commands = {tag.replace('"', " ").split()[0]
                        for tag in man_tagged_words(man_section(page, "COMMANDS"))}
        self.assertEqual(man_commands, help_commands)
        self.assertEqual(man_options(page), help_options(options_part))
        # Every subcommand of notifications is in both.
        commands_text = "\n".join(man_section(page, "COMMANDS"))
        for sub in ("send", "remove"):
            self.assertIn(f"notifications {sub}", commands_part)
            self.assertIn(f"notifications {sub}", commands_text)
        self.assertIn("notifications [list", commands_part)
        self.assertIn('.BR notifications " [" list ]', commands_text)
        # Every exit status esimctl uses is documented.
        statuses = {tag.strip() for tag in man_tagged_words(man_section(page, "EXIT STATUS"))}
        self.assertEqual(statuses, {str(n) for n in range(9)})

    def test_esimd_page_lists_exactly_the_options_of_help(self):
        res = subprocess.run([harness.env_path("ESIMD"), "--help"], capture_output=True,
                             text=True, timeout=harness.timeout())
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(man_options(self.page("esimd.8")), help_options(res.stdout))

    def test_esimd_conf_page_documents_every_key_the_daemon_reads(self):
        # The keys are what the daemon accepts: a file of them all starts it.
        page = self.page("esimd.conf.5")
        keys = {tag.split("=")[0].strip() for tag in
                man_tagged_words(man_section(page, "KEYS"))}
        self.assertEqual(keys, {"devices", "use-proxy", "udev", "auto-send-notifications",
                                "timeout-ms", "full-identifiers", "smdp-ca-file",
                                "smdp-ca-dir", "notification-retry-seconds",
                                "modem-linger-ms", "sim-change-timeout-seconds",
                                "network-manager"})
        example = "\n".join(man_section(page, "EXAMPLE")).replace("\\-", "-")
        for key in keys - {"smdp-ca-file"}:
            self.assertIn(f"{key}=", example)

    def test_pages_render_without_warnings(self):
        groff = shutil.which("groff")
        self.assertIsNotNone(groff, "groff is needed to check the manual pages")
        for name in ("esimd.8", "esimctl.1", "esimd.conf.5", "esimd-dbus.7"):
            res = subprocess.run([groff, "-man", "-ww", "-z", "-K", "utf8", self.page(name)],
                                 capture_output=True, text=True, timeout=harness.timeout())
            self.assertEqual((res.returncode, res.stderr), (0, ""), name)

    def test_dbus_page_names_every_member_and_error(self):
        text = open(self.page("esimd-dbus.7")).read().replace("\\-", "-")
        dbus_dir = harness.dbus_dir()
        for xml in ("org.esimd.Manager1.xml", "org.esimd.Euicc1.xml", "org.esimd.Profile1.xml",
                    "org.esimd.Download1.xml"):
            with open(os.path.join(dbus_dir, xml)) as f:
                contract = f.read()
            for kind, name in re.findall(r'<(property|method|signal) name="([A-Za-z]+)"',
                                         contract):
                self.assertRegex(text, rf"(?m)^\.B[IR]? {name}\b", f"{kind} {name}")
        for error in ("NotFound", "ProfileEnabled", "ProfileNotEnabled", "DisallowedByPolicy",
                      "CatBusy", "CardError", "Transport", "Timeout", "Removed", "NotSupported",
                      "SmdpUnreachable", "SmdpRejected", "InvalidActivationCode",
                      "ConfirmationCodeWrong", "DownloadRejected", "Cancelled"):
            self.assertIn(f"org.esimd.Error.{error}", text)


if __name__ == "__main__":
    harness.main()
