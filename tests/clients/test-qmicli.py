#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's qmicli against modem-sim --qmi: an independent QMI client must
read the same slots, card and EID that the card files hold.

Usage: test-qmicli.py MODEM_SIM_BINARY   (ESIMD_CARDS_DIR names the card files)
"""
import os
import re
import subprocess
import sys

TIMEOUT_S = 20


def card_value(path, key):
    """The first "key value" line of a card file."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if len(words) >= 2 and words[0] == key:
                return words[1]
    raise SystemExit(f"{path} has no {key}")


class ModemSim:
    def __init__(self, binary, slots):
        args = [binary, "--qmi"]
        for s in slots:
            args += ["--slot", s]
        # stdin stays a pipe: modem-sim exits when it reaches EOF, so it never
        # outlives this script.
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"PTY (\S+)$", line.strip())
        if not m:
            self.stop()
            raise SystemExit(f"modem-sim did not print its pty: {line!r} {self.proc.stderr.read()}")
        self.port = m.group(1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def qmicli(port, *args, proxy=False):
    cmd = ["qmicli", "-d", port, "--device-open-qmi"] + (["-p"] if proxy else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def check(cond, what, output):
    if not cond:
        raise AssertionError(f"{what}\n--- qmicli said:\n{output}")


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


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    cards = os.environ["ESIMD_CARDS_DIR"]
    euicc = os.path.join(cards, "three-profiles.card")
    plain = os.path.join(cards, "plain-sim.card")
    eid = card_value(euicc, "eid")
    plain_iccid = card_value(plain, "iccid")

    sim = ModemSim(sys.argv[1], [euicc, plain])
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
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
