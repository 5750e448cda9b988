#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A profile switch as a user sees it: the time from Enable() called to the
real ModemManager reporting the new ICCID, with the modem answering every
command in MODEM_DELAY_MS (esimd's APDUs and ModemManager's own AT
commands alike). Enable() returns only once ModemManager reports the new
SIM, so that time is Enable()'s own.

It splits into what the card costs (the switch's APDUs x the delay), what
ModemManager's probing the modem again costs (from giving the modem back to
the return), and the rest, which is esimd's: the target is that esimd adds
nothing beyond the two. Runs the real ModemManager in a namespace of its own
(tests/integration/realmm.py); skipped where it cannot run."""

import time

import benchlib  # noqa: F401  (puts the harness on the path)
from benchlib import harness
import realmm

MODEM_DELAY_MS = 20
CARD = "three-profiles.card"
ROUNDS = 2
# What esimd may add beyond APDUs x delay and ModemManager's re-probe: the
# D-Bus calls (InhibitDevice twice, busctl) and the polling of GetManagedObjects.
ESIMD_SHARE = 0.10


class SwitchBench(realmm.RealTestCase):
    def test_enable_to_modemmanager_reporting_the_new_iccid(self):
        report = benchlib.Report("switch-mm")
        world = self.world
        profiles = harness.parse_card(CARD)["profiles"]
        enabled = [p["iccid"] for p in profiles if p.get("state") == "enabled"][0]
        others = [p["iccid"] for p in profiles if p.get("state", "disabled") == "disabled"]
        world.start_polkit_allow_all()
        world.add_usb_modem(CARD, options=[f"delay-ms={MODEM_DELAY_MS}"])
        world.start_modemmanager()
        world.wait_for_sim_iccid(enabled, 120)
        device = world.mm_modem()["generic"]["device"]
        world.start_esimd(args=[f"--modem-device={world.esimd_modem.port}={device}"],
                          env={"ESIMD_MM_BUS_ADDRESS": world.address})
        euicc = world.euicc_paths()[0]
        paths = {world.get_property(p, harness.PROFILE, "Iccid"): p
                 for p in world.profile_paths(euicc)}

        for target in (others + [enabled])[:ROUNDS]:
            since_log = len(world.mm_log_text())
            with open(world.apdu_log) as f:
                apdus_before = len(f.read().splitlines())
            start = time.time()
            world.call(paths[target], harness.PROFILE, "Enable", seconds=120)
            total = time.time() - start
            self.assertEqual(world.mm_sim_iccid(), target)
            with open(world.apdu_log) as f:
                apdus = len([line for line in f.read().splitlines()[apdus_before:]
                             if line.startswith(">")])
            back = world.mm_log_time("device inhibition teardown", since_log)
            self.assertIsNotNone(back, "ModemManager never got the modem back")
            reprobe = max(0.0, start + total - back)
            card = apdus * MODEM_DELAY_MS / 1000.0
            rest = total - card - reprobe
            report.measure(f"Enable -> ModemManager shows {target[-4:]}", total * 1000.0, "ms",
                           note=f"{apdus} APDUs x {MODEM_DELAY_MS} ms, re-probe "
                                f"{reprobe * 1000.0:.0f} ms")
            report.measure("  ModemManager's re-probe (uninhibit -> new SIM)", reprobe * 1000.0,
                           "ms", note="dominates: ModemManager re-runs its init, ~41 AT "
                                      "commands, each answered after the delay")
            report.measure("  esimd's own share", max(rest, 0.0) * 1000.0, "ms",
                           limit=round(ESIMD_SHARE * total * 1000.0 + 250.0),
                           note="InhibitDevice x2, busctl, GetManagedObjects")
        self.assertEqual(report.missed, [])


if __name__ == "__main__":
    realmm.main()
