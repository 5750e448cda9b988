#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Memory: the daemon's peak resident set (VmHWM of /proc/PID/status) after
it has probed its cards, refreshed each one and answered a
GetManagedObjects (the largest reply it builds, icons included). Two worlds:
one QMI modem with eight-icons.card, and four QMI modems with two slots each
holding eight-icons.card (eight Euicc1 objects; the active slot of each
modem is read in full, the inactive one is listed without profiles, as the
modem cannot reach it without a slot switch). RSS is counted in whole pages
the daemon touched, so it does not depend on timing."""

import benchlib
from benchlib import harness

CARD = "eight-icons.card"
# KiB (README.md says why these values).
TARGETS = {
    "peak RSS, 1 modem x 1 slot": 13000,
    "peak RSS, 4 modems x 2 slots": 14000,
    "peak RSS per further modem": 256,
}


def exercise(world, euiccs):
    """Refreshes every eUICC and fetches every object once: the daemon's
    peak comes from work, not from an idle start."""
    for path in world.euicc_paths():
        if world.get_property(path, harness.EUICC, "SlotActive"):
            world.call(path, harness.EUICC, "Refresh")
    objects = world.managed_objects()
    if len([p for p in objects if harness.EUICC in objects[p]]) != euiccs:
        raise harness.HarnessError(f"expected {euiccs} eUICC objects, got {len(objects)} objects")


def peak(modems, slots):
    with harness.World() as world:
        for _ in range(modems):
            world.add_modem("qmi", [CARD] * slots)
        pid = world.start_esimd(wait_euiccs=modems * slots).pid
        after_probe = benchlib.proc_kib(pid, "VmHWM")
        exercise(world, modems * slots)
        return (after_probe, benchlib.proc_kib(pid, "VmHWM"), benchlib.proc_kib(pid, "RssAnon"))


def main():
    report = benchlib.Report("memory")
    if benchlib.sanitized():
        report.skip(f"built with -Db_sanitize={benchlib.sanitized()}: shadow memory")
    one = peak(1, 1)
    metric = "peak RSS, 1 modem x 1 slot"
    report.measure(metric, one[1], "KiB", TARGETS[metric],
                   f"{one[0]} KiB after the probe, {one[2]} KiB private (RssAnon) at the end")
    scale = peak(4, 2)
    metric = "peak RSS, 4 modems x 2 slots"
    report.measure(metric, scale[1], "KiB", TARGETS[metric],
                   f"{scale[0]} KiB after the probe, {scale[2]} KiB private (RssAnon) at the end")
    metric = "peak RSS per further modem"
    report.measure(metric, (scale[1] - one[1]) // 3, "KiB", TARGETS[metric],
                   "(4x2 - 1x1) / 3: two eUICCs, 8 profiles with icons")
    report.finish()


if __name__ == "__main__":
    main()
