#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Latency, for information: the wall-clock time of a Disable then Enable
of the enabled profile (the round trip a user's profile switch costs),
through busctl as a user would call it, over QMI, MBIM and AT. The median
of ROUNDS round trips; the floor is a busctl property read, which is the
cost of starting busctl and of the bus, not of esimd. A second set runs
against modems that wait MODEM_DELAY_MS before every answer, as a real
modem's UIM path does: there the time is mostly messages x delay, so it
shows what each transport's message count costs a user. Wall clock moves with
the load of the machine, so the only target is a loose bound that catches a
hang or a timeout-driven path, not a slowdown."""

import time

import benchlib
from benchlib import harness
from harness import EUICC, PROFILE

ROUNDS = 11
DELAYED_ROUNDS = 3
MODEM_DELAY_MS = 20
CARD = "three-profiles.card"
TRANSPORTS = ("qmi", "mbim", "at")
# Milliseconds per Disable+Enable (README.md: far above what is measured).
MAX_ROUND_TRIP_MS = 5000


def timed(fn):
    start = time.monotonic()
    fn()
    return (time.monotonic() - start) * 1000.0


def round_trips(world, report, rounds, label):
    by_transport = {world.get_property(p, EUICC, "Transport"): p for p in world.euicc_paths()}
    for protocol in TRANSPORTS:
        euicc = by_transport[protocol]
        enabled = [p for p in world.profile_paths(euicc)
                   if world.get_property(p, PROFILE, "State") == "enabled"][0]
        disable, enable, total = [], [], []
        for _ in range(rounds):
            d = timed(lambda: world.call(enabled, PROFILE, "Disable"))
            e = timed(lambda: world.call(enabled, PROFILE, "Enable"))
            disable.append(d)
            enable.append(e)
            total.append(d + e)
        note = (f"median of {rounds}; Disable {benchlib.median(disable):.0f} ms, "
                f"Enable {benchlib.median(enable):.0f} ms, max {max(total):.0f} ms")
        report.measure(f"Disable+Enable, {protocol}{label}", benchlib.median(total), "ms",
                       MAX_ROUND_TRIP_MS, note)


def main():
    report = benchlib.Report("latency")
    with harness.World() as world:
        for protocol in TRANSPORTS:
            world.add_modem(protocol, [CARD])
        world.start_esimd()
        floor = [timed(lambda: world.get_property(harness.MANAGER_PATH, harness.MANAGER,
                                                  "Version")) for _ in range(ROUNDS)]
        report.measure("busctl property read (floor)", benchlib.median(floor), "ms", None,
                       f"median of {ROUNDS}")
        round_trips(world, report, ROUNDS, "")
    with harness.World() as world:
        for protocol in TRANSPORTS:
            world.add_modem(protocol, [CARD], options=[f"delay-ms={MODEM_DELAY_MS}"])
        world.start_esimd()
        round_trips(world, report, DELAYED_ROUNDS, f", modem answers in {MODEM_DELAY_MS} ms")
    report.finish()


if __name__ == "__main__":
    main()
