#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The D-Bus API against a simulated modem holding three-profiles.card:
every property of Manager1, Euicc1 and Profile1 read with busctl and checked
against the card file, and every method called with its effect seen as a
client sees it (reply, properties, PropertiesChanged, InterfacesRemoved,
GetManagedObjects)."""

import re
import subprocess

import harness
from harness import EUICC, MANAGER, PROFILE

CARD = "three-profiles.card"

# The card model's defaults for keys a card file leaves out
# (tests/sim/README.md, "Card files").
CARD_DEFAULTS = {
    "root-smds": "smds.example.com",
    "svn": "2.2.2",
    "profile-version": "2.3.1",
    "firmware-version": "1.0.0",
    "pp-version": "1.0.0",
    "sas-accreditation": "EX-SAS-0001",
    "category": "2",
    "installed-applications": "4",
    "free-nv-memory": "412000",
    "free-volatile-memory": "12000",
    "ci-pkid": "F54172BDF98A95D65CBEB88A38A1C11D800A85C3",
}

# A card file's ppr key (PprIds bit names) as Profile1.PolicyRules names them;
# ppr-update-control restricts nothing on the card and is not shown.
PPR_NAMES = {"ppr1": "disable-not-allowed", "ppr2": "delete-not-allowed",
             "ppr3": "delete-on-disable"}


def policy_rules(profile):
    return [PPR_NAMES[r] for r in profile.get("ppr", "").split(",") if r in PPR_NAMES]


# SGP.22 rsp.asn EUICCInfo2.euiccCategory
CATEGORY_NAMES = {"0": "other", "1": "basic", "2": "medium", "3": "contactless"}


def card_value(card, key):
    return card["card"].get(key, CARD_DEFAULTS.get(key))


class Api(harness.WorldTestCase):
    def setUp(self):
        super().setUp()
        self.card = harness.parse_card(CARD)
        self.modem = self.world.add_modem("qmi", [CARD])
        self.world.start_esimd()
        self.euicc = self.world.euicc_paths()[0]

    # -- helpers --

    def profile_by_iccid(self):
        """{ICCID: object path} as the daemon lists them."""
        return {self.world.get_property(p, PROFILE, "Iccid"): p
                for p in self.world.profile_paths(self.euicc)}

    def card_profile(self, index):
        return self.card["profiles"][index]

    def path_of(self, index):
        return self.profile_by_iccid()[self.card_profile(index)["iccid"]]

    def assert_call_error(self, name, path, interface, method, signature="", *args):
        with self.assertRaises(harness.CallError) as ctx:
            self.world.call(path, interface, method, signature, *args)
        self.assertEqual(ctx.exception.name, name, ctx.exception.message)
        self.assertTrue(ctx.exception.message, "an error without a message helps nobody")
        return ctx.exception

    # -- Manager1 --

    def test_manager_lists_the_one_euicc_under_a_counter_path(self):
        self.assertEqual(len(self.world.euicc_paths()), 1)
        self.assertRegex(self.euicc, r"^/org/esimd/euicc/[0-9]+$")
        self.assertNotIn(self.card["card"]["eid"], self.euicc)

    def test_manager_version_is_the_daemon_version(self):
        out = subprocess.run([harness.env_path("ESIMD"), "--version"], capture_output=True,
                             text=True, timeout=harness.timeout(10)).stdout
        version = self.world.get_property(harness.MANAGER_PATH, MANAGER, "Version")
        self.assertRegex(version, r"^[0-9]+\.[0-9]+")
        self.assertEqual(out.strip(), f"esimd {version}")

    def test_scan_keeps_the_same_objects(self):
        before = self.world.managed_objects()
        self.assertEqual(self.world.call(harness.MANAGER_PATH, MANAGER, "Scan"), [])
        harness.wait_until(lambda: len(self.world.euicc_paths()) == 1, what="the eUICC back")
        self.assertEqual(sorted(self.world.managed_objects()), sorted(before))

    # -- Euicc1 properties --

    def test_euicc_properties_match_the_card(self):
        props = self.world.get_all(self.euicc, EUICC)
        card = self.card["card"]
        enabled = [p for p in self.card["profiles"] if p.get("state") == "enabled"]
        self.assertEqual(len(enabled), 1)

        self.assertEqual(props["Eid"], card["eid"])
        self.assertEqual(props["Transport"], "qmi")
        self.assertEqual(props["Port"], self.modem.port)
        self.assertEqual(props["Device"], "")  # a port given with --device has no sysfs path
        self.assertEqual(props["Slot"], 1)
        self.assertIs(props["SlotActive"], True)
        self.assertEqual(len(props["Profiles"]), len(self.card["profiles"]))
        self.assertEqual(props["EnabledProfile"], self.profile_by_iccid()[enabled[0]["iccid"]])
        self.assertEqual(props["DefaultSmdpAddress"], card_value(self.card, "default-smdp"))
        self.assertEqual(props["RootSmdsAddress"], card_value(self.card, "root-smds"))
        self.assertEqual(props["PendingNotifications"], len(self.card["notifications"]))

    def test_euicc_info_matches_the_card(self):
        info = {k: v["data"] for k, v in
                self.world.get_property(self.euicc, EUICC, "Info").items()}
        for key in ("svn", "profile-version", "firmware-version", "pp-version",
                    "sas-accreditation"):
            self.assertEqual(info[key], card_value(self.card, key), key)
        self.assertEqual(info["category"], CATEGORY_NAMES[card_value(self.card, "category")])
        for key in ("free-nv-memory", "free-volatile-memory", "installed-applications"):
            self.assertEqual(info[key], int(card_value(self.card, key)), key)
        ci = card_value(self.card, "ci-pkid")
        ci = ci if isinstance(ci, list) else [ci]
        for key in ("ci-pkid-verification", "ci-pkid-signing"):
            self.assertEqual([k.upper() for k in info[key]], [c.upper() for c in ci], key)

    def test_each_profile_is_an_object_whose_path_has_no_iccid(self):
        paths = self.world.profile_paths(self.euicc)
        for path in paths:
            self.assertRegex(path, "^" + re.escape(self.euicc) + r"/profile/[0-9]+$")
            for p in self.card["profiles"]:
                self.assertNotIn(p["iccid"], path)

    # -- Profile1 properties --

    def test_profile_properties_match_the_card(self):
        by_iccid = self.profile_by_iccid()
        self.assertEqual(sorted(by_iccid), sorted(p["iccid"] for p in self.card["profiles"]))
        for p in self.card["profiles"]:
            props = self.world.get_all(by_iccid[p["iccid"]], PROFILE)
            with self.subTest(iccid=p["iccid"]):
                self.assertEqual(props["Iccid"], p["iccid"])
                self.assertEqual(props["IsdpAid"], p["isdp-aid"].upper())
                self.assertEqual(props["State"], p.get("state", "disabled"))
                self.assertEqual(props["Class"], p.get("class", "operational"))
                self.assertEqual(props["Name"], p.get("name", ""))
                self.assertEqual(props["ServiceProvider"], p.get("provider", ""))
                self.assertEqual(props["Nickname"], p.get("nickname", ""))
                self.assertEqual(props["OwnerMccMnc"], p.get("owner", ""))
                self.assertEqual(props["IconType"], p.get("icon-type", "none"))
                self.assertEqual(props["Icon"], [])
                self.assertEqual(props["PolicyRules"], policy_rules(p))

    # -- ObjectManager --

    def test_get_managed_objects_lists_every_object_with_its_properties(self):
        objects = self.world.managed_objects()
        profiles = self.world.profile_paths(self.euicc)
        self.assertEqual(sorted(objects), sorted([self.euicc] + profiles))
        self.assertEqual(objects[self.euicc][EUICC], self.world.get_all(self.euicc, EUICC))
        for path in profiles:
            self.assertEqual(objects[path][PROFILE], self.world.get_all(path, PROFILE))
            self.assertNotIn(EUICC, objects[path])

    # -- methods: the profile life cycle --

    def test_disable_enable_nickname_delete_seen_by_a_client(self):
        mon = self.world.monitor()
        first, second, third = (self.path_of(i) for i in range(3))
        self.assertEqual(self.world.get_property(first, PROFILE, "State"), "enabled")

        # Disable the enabled profile: nothing is enabled afterwards.
        self.assertEqual(self.world.call(first, PROFILE, "Disable"), [])
        self.assertEqual(mon.wait_for_properties_changed(first, PROFILE, "State"), "disabled")
        self.assertEqual(mon.wait_for_properties_changed(self.euicc, EUICC, "EnabledProfile"),
                         "/")
        self.assertEqual(self.world.get_property(first, PROFILE, "State"), "disabled")
        self.assertEqual(self.world.get_property(self.euicc, EUICC, "EnabledProfile"), "/")

        # Enable the second.
        self.assertEqual(self.world.call(second, PROFILE, "Enable"), [])
        self.assertEqual(mon.wait_for_properties_changed(second, PROFILE, "State"), "enabled")
        harness.wait_until(
            lambda: self.world.get_property(self.euicc, EUICC, "EnabledProfile") == second,
            what="EnabledProfile to name the second profile")
        self.assertEqual(self.world.get_property(second, PROFILE, "State"), "enabled")

        # Name the third.
        self.assertEqual(self.world.call(third, PROFILE, "SetNickname", "s", "Holiday ✈"), [])
        self.assertEqual(mon.wait_for_properties_changed(third, PROFILE, "Nickname"),
                         "Holiday ✈")
        self.assertEqual(self.world.get_property(third, PROFILE, "Nickname"), "Holiday ✈")

        # Delete the third (disabled): its object goes away.
        self.assertEqual(self.world.call(third, PROFILE, "Delete"), [])
        removed = mon.wait_for_signal("InterfacesRemoved", harness.MANAGER_PATH)
        self.assertEqual(removed[0], third)
        self.assertIn(PROFILE, removed[1])
        profiles = mon.wait_for_properties_changed(self.euicc, EUICC, "Profiles")
        self.assertEqual(sorted(profiles), sorted([first, second]))
        self.assertEqual(sorted(self.world.profile_paths(self.euicc)), sorted([first, second]))
        self.assertNotIn(third, self.world.managed_objects())
        self.assert_call_error("org.freedesktop.DBus.Error.UnknownObject", third, PROFILE,
                               "Enable")

        # The card itself agrees once read again.
        self.assertEqual(self.world.call(self.euicc, EUICC, "Refresh"), [])
        self.assertEqual(sorted(self.profile_by_iccid()),
                         sorted(self.card_profile(i)["iccid"] for i in (0, 1)))
        self.assertEqual(self.world.get_property(second, PROFILE, "State"), "enabled")

    def test_operations_refused_by_the_card_state_name_the_reason(self):
        first, second = self.path_of(0), self.path_of(1)
        self.assert_call_error("org.esimd.Error.ProfileNotEnabled", second, PROFILE, "Disable")
        self.assert_call_error("org.esimd.Error.ProfileEnabled", first, PROFILE, "Delete")
        self.assert_call_error("org.esimd.Error.ProfileEnabled", first, PROFILE, "Enable")
        self.assertEqual(self.world.get_property(first, PROFILE, "State"), "enabled")
        self.assertEqual(len(self.world.profile_paths(self.euicc)), 3)

    # -- methods: arguments refused before anything is queued --

    def test_bad_arguments_are_invalid_args_and_change_nothing(self):
        first = self.path_of(0)
        invalid = "org.freedesktop.DBus.Error.InvalidArgs"
        e = self.assert_call_error(invalid, first, PROFILE, "SetNickname", "s", "x" * 65)
        self.assertIn("64", e.message)
        # 22 three-byte characters: 66 bytes though only 22 characters.
        self.assert_call_error(invalid, first, PROFILE, "SetNickname", "s", "€" * 22)
        e = self.assert_call_error(invalid, self.euicc, EUICC, "ResetMemory", "u", 8)
        self.assertIn("0x8", e.message)
        self.assert_call_error(invalid, self.euicc, EUICC, "ResetMemory", "u", 0)
        for address in ("not a host", "smdp..example.com", "-smdp.example.com",
                        "smdp.example.com:0", "smdp.example.com:http", "a" * 64 + ".com"):
            with self.subTest(address=address):
                self.assert_call_error(invalid, self.euicc, EUICC, "SetDefaultSmdpAddress",
                                       "s", address)
        self.assertEqual(self.world.get_property(first, PROFILE, "Nickname"),
                         self.card_profile(0).get("nickname", ""))
        self.assertEqual(self.world.get_property(self.euicc, EUICC, "DefaultSmdpAddress"),
                         card_value(self.card, "default-smdp"))
        self.assertEqual(len(self.world.profile_paths(self.euicc)), 3)

    def test_set_nickname_takes_64_bytes(self):
        first = self.path_of(0)
        self.assertEqual(self.world.call(first, PROFILE, "SetNickname", "s", "n" * 64), [])
        self.assertEqual(self.world.get_property(first, PROFILE, "Nickname"), "n" * 64)
        self.assertEqual(self.world.call(first, PROFILE, "SetNickname", "s", ""), [])
        self.assertEqual(self.world.get_property(first, PROFILE, "Nickname"), "")

    # -- methods: the eUICC --

    def test_set_default_smdp_address_changes_the_property(self):
        mon = self.world.monitor()
        self.assertEqual(self.world.call(self.euicc, EUICC, "SetDefaultSmdpAddress", "s",
                                         "rsp.example.org"), [])
        self.assertEqual(
            mon.wait_for_properties_changed(self.euicc, EUICC, "DefaultSmdpAddress"),
            "rsp.example.org")
        self.assertEqual(self.world.call(self.euicc, EUICC, "Refresh"), [])
        self.assertEqual(self.world.get_property(self.euicc, EUICC, "DefaultSmdpAddress"),
                         "rsp.example.org")

    def test_reset_memory_of_the_default_address_clears_it(self):
        self.assertTrue(card_value(self.card, "default-smdp"))
        self.assertEqual(self.world.call(self.euicc, EUICC, "ResetMemory", "u", 4), [])
        harness.wait_until(
            lambda: self.world.get_property(self.euicc, EUICC, "DefaultSmdpAddress") == "",
            what="DefaultSmdpAddress to be cleared")
        # Bit 2 alone leaves the profiles.
        self.assertEqual(len(self.world.profile_paths(self.euicc)), 3)

    def test_notifications_listed_removed_and_sent(self):
        first = self.path_of(0)
        # A fresh card holds none; sending all of none delivers nothing.
        self.assertEqual(self.world.call(self.euicc, EUICC, "ListNotifications"), [[]])
        self.assertEqual(self.world.call(self.euicc, EUICC, "SendNotifications", "au", 0), [[]])
        # Asking for ones the card does not hold answers for each, undelivered.
        results = self.world.call(self.euicc, EUICC, "SendNotifications", "au", 2, 998, 999)[0]
        self.assertEqual([(seq, delivered) for seq, delivered, _ in results],
                         [(998, False), (999, False)])
        self.assertTrue(all(message for _, _, message in results))

        # Disabling writes one for the SM-DP+ the card names for "disable".
        self.world.call(first, PROFILE, "Disable")
        listed = self.world.call(self.euicc, EUICC, "ListNotifications")[0]
        self.assertEqual(len(listed), 1)
        seq, operation, address, iccid = listed[0]
        self.assertEqual(operation, "disable")
        self.assertEqual(iccid, self.card_profile(0)["iccid"])
        self.assertEqual(address, "smdp.example.com")
        harness.wait_until(
            lambda: self.world.get_property(self.euicc, EUICC, "PendingNotifications") == 1,
            what="PendingNotifications to count it")

        # Dropping it unsent empties the list.
        self.assertEqual(self.world.call(self.euicc, EUICC, "RemoveNotification", "u", seq), [])
        self.assertEqual(self.world.call(self.euicc, EUICC, "ListNotifications"), [[]])
        harness.wait_until(
            lambda: self.world.get_property(self.euicc, EUICC, "PendingNotifications") == 0,
            what="PendingNotifications back to 0")
        self.assert_call_error("org.esimd.Error.NotFound", self.euicc, EUICC,
                               "RemoveNotification", "u", seq)


class PolicyRules(harness.WorldTestCase):
    """Profile1.PolicyRules on ppr.card: a client sees before trying that
    Disable of the PPR1 profile and Delete of the PPR2 one will be refused."""

    def test_policy_rules_match_the_card_and_the_refusals(self):
        card = harness.parse_card("ppr.card")
        self.world.add_modem("qmi", ["ppr.card"])
        self.world.start_esimd()
        euicc = self.world.euicc_paths()[0]
        by_iccid = {self.world.get_property(p, PROFILE, "Iccid"): p
                    for p in self.world.profile_paths(euicc)}
        seen = {}
        for p in card["profiles"]:
            seen[p["iccid"]] = self.world.get_property(by_iccid[p["iccid"]], PROFILE,
                                                       "PolicyRules")
            self.assertEqual(seen[p["iccid"]], policy_rules(p), p["iccid"])
        locked, undeletable, free = (p["iccid"] for p in card["profiles"])
        self.assertEqual(seen[locked], ["disable-not-allowed"])
        self.assertEqual(seen[undeletable], ["delete-not-allowed"])
        self.assertEqual(seen[free], [])
        # What the property promised is what the card does.
        for iccid, method in ((locked, "Disable"), (undeletable, "Delete")):
            with self.assertRaises(harness.CallError) as ctx:
                self.world.call(by_iccid[iccid], PROFILE, method)
            self.assertEqual(ctx.exception.name, "org.esimd.Error.DisallowedByPolicy")
        # A refresh of an unchanged card leaves them as they were.
        self.world.call(euicc, EUICC, "Refresh")
        self.assertEqual(self.world.get_property(by_iccid[locked], PROFILE, "PolicyRules"),
                         ["disable-not-allowed"])


class Arrival(harness.WorldTestCase):
    """What a client already on the bus sees when the daemon finds a card."""

    def test_euicc_and_profiles_arrive_with_interfaces_added(self):
        card = harness.parse_card(CARD)
        self.world.add_modem("qmi", [CARD])
        mon = self.world.monitor()
        self.world.start_esimd()
        euicc = self.world.euicc_paths()[0]

        added = mon.wait_for_signal("InterfacesAdded", harness.MANAGER_PATH)
        self.assertEqual(added[0], euicc)
        props = {k: v["data"] for k, v in added[1][EUICC].items()}
        self.assertEqual(props["Eid"], card["card"]["eid"])
        self.assertEqual(props, self.world.get_all(euicc, EUICC))

        profiles = self.world.profile_paths(euicc)
        for path in profiles:
            m = mon.wait_for(lambda m, path=path: m.get("member") == "InterfacesAdded"
                             and m["payload"]["data"][0] == path,
                             what=f"InterfacesAdded for {path}")
            iface = m["payload"]["data"][1][PROFILE]
            self.assertIn(iface["Iccid"]["data"], [p["iccid"] for p in card["profiles"]])
        self.assertEqual(mon.wait_for_properties_changed(harness.MANAGER_PATH, MANAGER,
                                                         "Euiccs"), [euicc])


if __name__ == "__main__":
    harness.main()
