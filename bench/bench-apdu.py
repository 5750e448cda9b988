#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""APDUs per operation, through the real daemon: esimd serving modem-sim
cards, each with an APDU log. The counts are deterministic, so the targets
are the counts of today: an extra APDU anywhere is a regression (a second
GetProfilesInfo, a lost channel, a property read reaching the card).

Cards: three-profiles.card over QMI (every operation), eight-icons.card over
QMI (a probe whose GetProfilesInfo answer takes GET RESPONSE chaining), and
three-profiles.card over MBIM and AT (the probe must cost the same on every
transport)."""

import os
import time

import benchlib
from benchlib import harness
from harness import EUICC, MANAGER, OBJECT_MANAGER, PROFILE

# metric: the most APDUs it may take (README.md says where they come from).
TARGETS = {
    "probe qmi three-profiles": 7,
    "probe qmi eight-icons": 30,
    "probe mbim three-profiles": 7,
    "probe at three-profiles": 11,
    "property reads (all objects)": 0,
    "Refresh": 5,
    "Disable": 4,
    "Enable": 4,
    "SetNickname": 1,
    "Delete": 2,
    "ListNotifications": 1,
}

MODEMS = (("qmi", "three-profiles.card"), ("qmi", "eight-icons.card"),
          ("mbim", "three-profiles.card"), ("at", "three-profiles.card"))


def settle(log, quiet=0.3, seconds=10):
    """The APDU count once the log has been still for `quiet` seconds: work
    the daemon does right after a reply (a follow-up ListNotification) is
    counted with the operation that caused it."""
    deadline = time.monotonic() + seconds
    last = benchlib.apdu_count(log)
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = benchlib.apdu_count(log)
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since >= quiet:
            break
    return last


def main():
    report = benchlib.Report("apdu")
    with harness.World() as world:
        logs = []
        for protocol, card in MODEMS:
            log = os.path.join(world.tmpdir, f"apdu-{len(logs)}.log")
            world.add_modem(protocol, [card], options=[f"apdu-log={log}"])
            logs.append(log)
        world.start_esimd()

        by_port = {}
        for path in world.euicc_paths():
            by_port[world.get_property(path, EUICC, "Port")] = path
        for (protocol, card), log in zip(MODEMS, logs):
            metric = f"probe {protocol} {card.removesuffix('.card')}"
            report.measure(metric, settle(log), "apdus", TARGETS[metric])

        # Reading: every property of every object, each way a client can.
        before = [settle(log) for log in logs]
        objects = world.managed_objects()
        for path, interfaces in objects.items():
            for interface, props in interfaces.items():
                if interface not in (EUICC, PROFILE):
                    continue
                world.get_all(path, interface)
                for name in props:
                    world.get_property(path, interface, name)
        for name in ("Version", "Euiccs"):
            world.get_property(harness.MANAGER_PATH, MANAGER, name)
        world.busctl("call", harness.BUS_NAME, harness.MANAGER_PATH, OBJECT_MANAGER,
                     "GetManagedObjects")
        after = [settle(log) for log in logs]
        metric = "property reads (all objects)"
        report.measure(metric, sum(after) - sum(before), "apdus", TARGETS[metric])

        # Operations on the QMI three-profiles card.
        log = logs[0]
        euicc = by_port[world.modems[0].port]
        profiles = world.profile_paths(euicc)
        states = {p: world.get_property(p, PROFILE, "State") for p in profiles}
        enabled = [p for p in profiles if states[p] == "enabled"][0]
        disabled = [p for p in profiles if states[p] == "disabled"]

        def count(metric, path, interface, method, signature="", *args):
            start = settle(log)
            world.call(path, interface, method, signature, *args)
            report.measure(metric, settle(log) - start, "apdus", TARGETS[metric])

        count("Refresh", euicc, EUICC, "Refresh")
        count("Disable", enabled, PROFILE, "Disable")
        count("Enable", enabled, PROFILE, "Enable")
        count("SetNickname", disabled[0], PROFILE, "SetNickname", "s", "bench")
        count("Delete", disabled[-1], PROFILE, "Delete")
        count("ListNotifications", euicc, EUICC, "ListNotifications")
    report.finish()


if __name__ == "__main__":
    main()
