#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Idle cost: esimd serving one card and asked nothing must sleep. For each
transport (one esimd each, side by side) the benchmark lets the probe
settle, then counts over IDLE_SECONDS the voluntary context switches of
every thread of the daemon (each one is a wake-up from a sleep: a timer, a
poll, a message) and the CPU ticks it used (utime + stime of /proc/PID/stat).
Both are counts of the daemon's own doing, not of how busy the machine is."""

import contextlib
import time

import benchlib
from benchlib import harness

IDLE_SECONDS = 10
SETTLE_SECONDS = 2
TRANSPORTS = (("qmi", "three-profiles.card"), ("mbim", "three-profiles.card"),
              ("at", "three-profiles.card"))
# Over IDLE_SECONDS (README.md says why these allowances).
MAX_WAKEUPS = 2
MAX_TICKS = 1


def main():
    report = benchlib.Report("idle")
    if benchlib.sanitized():
        report.skip(f"built with -Db_sanitize={benchlib.sanitized()}: its threads wake up")
    with contextlib.ExitStack() as stack:
        daemons = []
        worlds = []
        for protocol, card in TRANSPORTS:
            world = stack.enter_context(harness.World())
            worlds.append(world)
            world.add_modem(protocol, [card])
            daemons.append((protocol, world.start_esimd().pid))
        time.sleep(SETTLE_SECONDS)
        before = {pid: (benchlib.proc_wakeups(pid), benchlib.proc_cpu_ticks(pid),
                        len(benchlib.proc_threads(pid))) for _, pid in daemons}
        time.sleep(IDLE_SECONDS)
        for protocol, pid in daemons:
            wakeups = benchlib.proc_wakeups(pid) - before[pid][0]
            ticks = benchlib.proc_cpu_ticks(pid) - before[pid][1]
            threads = len(benchlib.proc_threads(pid))
            note = f"{threads} threads"
            report.measure(f"wake-ups in {IDLE_SECONDS} s, {protocol}", wakeups, "switches",
                           MAX_WAKEUPS, note)
            report.measure(f"CPU in {IDLE_SECONDS} s, {protocol}", ticks, "ticks", MAX_TICKS)
        # The counter must see work when there is some: one Refresh each.
        for world, (protocol, pid) in zip(worlds, daemons):
            start = benchlib.proc_wakeups(pid)
            world.call(world.euicc_paths()[0], harness.EUICC, "Refresh")
            report.measure(f"wake-ups for one Refresh, {protocol}",
                           benchlib.proc_wakeups(pid) - start, "switches", None,
                           "shows the counter works")
    report.finish()


if __name__ == "__main__":
    main()
