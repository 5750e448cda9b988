#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's qmicli against modem-sim --qmi: an independent QMI client must
read the same slots, card and EID that the card files hold, and the IMEI
modem-sim is given (DMS Get IDs).

Usage: test-qmicli.py MODEM_SIM_BINARY   (ESIMD_CARDS_DIR names the card files)
"""
import re
import subprocess
import sys

# Nothing may be written next to the sources (no __pycache__).
sys.dont_write_bytecode = True
from common import ModemSim, card_files, card_value, checker, run_ok


def qmicli(port, *args, proxy=False):
    cmd = ["qmicli", "-d", port, "--device-open-qmi"] + (["-p"] if proxy else []) + list(args)
    return run_ok(cmd)


check = checker("qmicli")


def check_slot_status(out, eid, plain_iccid):
    check("2 physical slots found" in out, "two physical slots expected", out)
    slots = re.split(r"\n\s*Physical slot \d+:", out)[1:]
    check(len(slots) == 2, "two slot sections expected", out)
    s1, s2 = slots
    check(re.search(r"Card status: present", s1), "slot 1 must hold a card", out)
    check(re.search(r"Slot status: active", s1), "slot 1 must be active", out)
    check(re.search(r"Is eUICC: yes", s1), "slot 1 must be an eUICC", out)
    check(re.search(r"EID: " + eid + r"\b", s1), f"slot 1 must report EID {eid}", out)
    check(re.search(r"Card status: present", s2), "slot 2 must hold a card", out)
    check(re.search(r"Slot status: inactive", s2), "slot 2 must be inactive", out)
    check(re.search(r"Is eUICC: no", s2), "slot 2 must be a plain SIM", out)
    check(re.search(r"ICCID: " + plain_iccid + r"\b", s2), f"slot 2 ICCID {plain_iccid}", out)
    check("EID:" not in s2, "a plain SIM has no EID", out)


def check_card_status(out):
    check("Successfully got card status" in out, "card status must succeed", out)
    check(re.search(r"Card state: 'present'", out), "the active slot must hold a card", out)
    check(re.search(r"Application type:\s+'usim", out), "the enabled profile shows a USIM", out)
    check(re.search(r"Application state: 'ready'", out), "the USIM must be ready", out)


# modem-sim's default IMEI (tests/sim/modem-sim.h) and one given with imei=.
DEFAULT_IMEI = "352906111234565"
OTHER_IMEI = "490154203237518"


def check_ids(out, imei):
    check("Device IDs retrieved" in out, "DMS Get IDs must succeed", out)
    check(re.search(r"IMEI: '" + imei + "'", out), f"the IMEI must be {imei}", out)


def check_no_imei(out):
    check("Device IDs retrieved" in out, "DMS Get IDs must succeed", out)
    check(re.search(r"IMEI: 'unknown'", out), "a modem without an IMEI reports none", out)


def imei_checks(binary, euicc):
    """The IMEI as modem-sim is told: its default, another, none."""
    failures = 0
    for options, checker_fn, what in (
        ((), lambda out: check_ids(out, DEFAULT_IMEI), "default IMEI"),
        ((f"imei={OTHER_IMEI}",), lambda out: check_ids(out, OTHER_IMEI), "imei= option"),
        (("imei=",), check_no_imei, "no IMEI"),
    ):
        sim = ModemSim(binary, "qmi", [euicc], options)
        try:
            for proxy in (False, True):
                how = "through qmi-proxy" if proxy else "directly"
                try:
                    checker_fn(qmicli(sim.port, "--dms-get-ids", proxy=proxy))
                    print(f"ok: qmicli dms ids, {what}, {how}")
                except (AssertionError, subprocess.TimeoutExpired) as e:
                    failures += 1
                    print(f"FAIL: qmicli dms ids, {what}, {how}: {e}")
        finally:
            sim.stop()
    return failures


def rats_checks(binary, euicc):
    """DMS Get Capabilities as modem-sim's rats= says: its default, a 5G
    modem, and a modem that does not say (which refuses the command)."""
    failures = 0
    for options, want in (((), "'gsm, umts, lte'"), (("rats=lte,nr-sa",), "'lte, 5gnr'"),
                          (("rats=",), None)):
        sim = ModemSim(binary, "qmi", [euicc], options)
        try:
            if want:
                out = qmicli(sim.port, "--dms-get-capabilities")
                check(re.search(r"Networks: " + re.escape(want), out),
                      f"the radio interfaces must be {want}", out)
            else:
                r = subprocess.run(["qmicli", "-d", sim.port, "--device-open-qmi",
                                    "--dms-get-capabilities"], capture_output=True, text=True,
                                   timeout=30)
                check(r.returncode != 0, "a modem that does not say refuses", r.stdout + r.stderr)
            print(f"ok: qmicli dms capabilities, {options or 'default'}")
        except (AssertionError, subprocess.TimeoutExpired) as e:
            failures += 1
            print(f"FAIL: qmicli dms capabilities, {options or 'default'}: {e}")
        finally:
            sim.stop()
    return failures


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    euicc, plain = card_files()
    eid = card_value(euicc, "eid")
    plain_iccid = card_value(plain, "iccid")

    sim = ModemSim(sys.argv[1], "qmi", [euicc, plain])
    failures = 0
    try:
        for proxy in (False, True):
            how = "through qmi-proxy" if proxy else "directly"
            for name, args, checker in (
                ("slot status", ["--uim-get-slot-status"],
                 lambda out: check_slot_status(out, eid, plain_iccid)),
                ("card status", ["--uim-get-card-status"], check_card_status),
            ):
                try:
                    checker(qmicli(sim.port, *args, proxy=proxy))
                    print(f"ok: qmicli {name} {how}")
                except (AssertionError, subprocess.TimeoutExpired) as e:
                    failures += 1
                    print(f"FAIL: qmicli {name} {how}: {e}")
    finally:
        sim.stop()
    failures += imei_checks(sys.argv[1], euicc)
    failures += rats_checks(sys.argv[1], euicc)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
