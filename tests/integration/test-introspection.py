#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The D-Bus contract in dbus/*.xml is what the running daemon introspects:
interfaces, methods and their arguments, signals, properties with type,
access and EmitsChangedSignal. Fails as soon as a vtable and the XML drift
apart."""

import copy
import glob
import os
import xml.etree.ElementTree as ET

import harness

EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"


def describe_interface(element):
    """An <interface> as comparable data. Argument names count: they are part
    of the documented API. A property without EmitsChangedSignal inherits the
    interface's, which defaults to "true" (D-Bus specification)."""
    annotations = {a.get("name"): a.get("value") for a in element.findall("annotation")}
    default_emits = annotations.get(EMITS, "true")
    methods = {}
    for m in element.findall("method"):
        methods[m.get("name")] = {
            "args": [(a.get("direction", "in"), a.get("type"), a.get("name"))
                     for a in m.findall("arg")],
            "annotations": {a.get("name"): a.get("value") for a in m.findall("annotation")},
        }
    signals = {}
    for s in element.findall("signal"):
        signals[s.get("name")] = {
            "args": [(a.get("type"), a.get("name")) for a in s.findall("arg")],
            "annotations": {a.get("name"): a.get("value") for a in s.findall("annotation")},
        }
    properties = {}
    for p in element.findall("property"):
        anns = {a.get("name"): a.get("value") for a in p.findall("annotation")}
        properties[p.get("name")] = {
            "type": p.get("type"),
            "access": p.get("access"),
            "emits": anns.pop(EMITS, default_emits),
            "annotations": anns,
        }
    annotations.pop(EMITS, None)
    return {"methods": methods, "signals": signals, "properties": properties,
            "annotations": annotations}


def interfaces_of(xml_text):
    root = ET.fromstring(xml_text)
    return {i.get("name"): describe_interface(i) for i in root.findall("interface")}


def contract():
    """Every interface defined in dbus/*.xml."""
    found = {}
    for path in sorted(glob.glob(os.path.join(harness.dbus_dir(), "org.esimd.*.xml"))):
        with open(path) as f:
            for name, desc in interfaces_of(f.read()).items():
                found[name] = desc
    return found


def differences(expected, actual, where=""):
    """Human-readable differences between two descriptions (empty when equal)."""
    out = []
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual), key=str):
            here = f"{where}/{key}"
            if key not in actual:
                out.append(f"{here}: in the XML, not in the daemon")
            elif key not in expected:
                out.append(f"{here}: in the daemon, not in the XML")
            else:
                out += differences(expected[key], actual[key], here)
    elif expected != actual:
        out.append(f"{where}: XML says {expected!r}, daemon says {actual!r}")
    return out


class Introspection(harness.WorldTestCase):
    def setUp(self):
        super().setUp()
        self.world.add_modem("qmi", ["three-profiles.card"])
        self.world.start_esimd()
        self.contract = contract()
        self.euicc = self.world.euicc_paths()[0]
        profiles = self.world.profile_paths(self.euicc)
        self.assertTrue(profiles, "the card has profiles, the daemon shows none")
        self.profile = profiles[0]

    def live(self, path):
        return interfaces_of(self.world.introspect(path))

    def check(self, interface, path):
        self.assertIn(interface, self.contract, f"dbus/{interface}.xml is missing")
        live = self.live(path)
        self.assertIn(interface, live, f"{path} does not implement {interface}")
        diff = differences(self.contract[interface], live[interface], interface)
        self.assertEqual(diff, [], "the vtable and the XML disagree:\n" + "\n".join(diff))

    def test_manager1_matches_its_xml(self):
        self.check("org.esimd.Manager1", harness.MANAGER_PATH)

    def test_euicc1_matches_its_xml(self):
        self.check("org.esimd.Euicc1", self.euicc)

    def test_profile1_matches_its_xml(self):
        self.check("org.esimd.Profile1", self.profile)

    def test_root_object_is_an_object_manager(self):
        self.assertIn(harness.OBJECT_MANAGER, self.live(harness.MANAGER_PATH))

    def test_every_interface_served_has_a_contract_and_back(self):
        served = set()
        for path in (harness.MANAGER_PATH, self.euicc, self.profile):
            served |= {name for name in self.live(path) if name.startswith("org.esimd.")}
        # A Download1 object exists only while an install runs:
        # test-download.py compares one with its XML.
        self.assertEqual(served | {"org.esimd.Download1"}, set(self.contract))

    def test_each_object_has_only_its_interface(self):
        # An eUICC is not a profile and the manager is neither.
        self.assertNotIn("org.esimd.Profile1", self.live(self.euicc))
        self.assertNotIn("org.esimd.Euicc1", self.live(self.profile))
        self.assertNotIn("org.esimd.Euicc1", self.live(harness.MANAGER_PATH))

    def test_comparison_notices_a_drift(self):
        # The checks above are only worth something if a change is caught:
        # alter a copy of the live description in each way a vtable can drift.
        live = self.live(self.euicc)["org.esimd.Euicc1"]
        for mutate in (
            lambda d: d["properties"]["Eid"].update(type="u"),
            lambda d: d["properties"]["Slot"].update(emits="true"),
            lambda d: d["methods"]["ResetMemory"]["args"].append(("in", "s", "extra")),
            lambda d: d["signals"]["NotificationDelivered"]["args"].pop(),
            lambda d: d["methods"].pop("Refresh"),
        ):
            drifted = copy.deepcopy(live)
            mutate(drifted)
            self.assertNotEqual(differences(self.contract["org.esimd.Euicc1"], drifted), [])


if __name__ == "__main__":
    harness.main()
