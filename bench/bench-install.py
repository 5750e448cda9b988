#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Installing a profile (Euicc1.Download with accept) from an activation code
against smdp-sim, with the modem answering every request in MODEM_DELAY_MS
and the SM-DP+ every ES9+ call in SMDP_DELAY_MS:

- the APDUs one install costs, against its target;
- the wall time: what the latencies add to an install made without any
  (T(20, 50) - T(0, 0)) must stay within 1.1 x (APDUs x modem delay + ES9+
  calls x SM-DP+ delay), so that esimd makes no round trip beyond those;
  T(0, 0) itself is esimd's and the simulators' own work (smdp-sim's
  cryptography in Python and three full TLS handshakes included);
- the same install on PARALLEL modems at once, against the time of one:
  every eUICC has its own queue, so eight take about as long as one.

The cards are copies of one empty eUICC with keys from tests/sim/mkpki."""

import json
import os
import time

import benchlib
from benchlib import harness

from gi.repository import Gio, GLib

MODEM_DELAY_MS = 20
SMDP_DELAY_MS = 50
PARALLEL = 8
EID = "89049032123451234512345678901235"
ADDRESS = "smdp.example.com"
# The timed installs run in ROUNDS, each a profile of its own on the same two
# cards; the first round is a warm-up (the first download on a modem also
# reads its IMEI and radio technologies, once), the others are measured and
# their median taken, as this machine is shared and noisy.
ROUNDS = 4
PROFILES = {"profiles": {f"MID-BENCH-{r}": {
    "iccid": f"89494499999999900{56 + 8 * r}", "name": f"Bench profile {r}",
    "service-provider": "Example Mobile", "class": "operational", "owner": "26201",
    "extra-bytes": 3000} for r in range(ROUNDS)}}


def activation_code(r):
    return f"LPA:1${ADDRESS}$MID-BENCH-{r}"
# The fewest APDUs an install can take is worked out from the card's APDU
# log of that install (minimum_apdus), not fixed here: the four ES10b calls
# (GetEUICCInfo1, GetEuiccChallenge, AuthenticateServer, PrepareDownload) and
# each part of the BPP as its own STORE DATA sequence (SGP.22 2.5.5), each in
# 255-byte blocks, plus the GET RESPONSEs the card's answers force (256 bytes
# each with short APDUs), plus opening the logical channel and selecting the
# ISD-R when the install had to. Any other command counts as extra.
INSTALL_COMMANDS = ("BF20", "BF2E", "BF38", "BF21", "BF36")
BPP_PARTS = ("A0", "A1", "A2", "A3", "86", "87", "88")
# ES9+ calls of one install: initiateAuthentication, authenticateClient,
# getBoundProfilePackage (the install result goes later, with the other
# notifications).
ES9P_CALLS = 3
SLACK = 1.1


def apdu_pairs(lines):
    """(command, response) byte strings from an APDU log; response None
    when the card's answer was dropped."""
    pairs = []
    for line in lines:
        if line.startswith("> "):
            pairs.append([bytes.fromhex(line[2:].strip()), None])
        elif line.startswith("< ") and pairs:
            pairs[-1][1] = bytes.fromhex(line[2:].strip())
    return pairs


def minimum_apdus(pairs):
    """The fewest APDUs the install in pairs could have taken, and a list of
    what was sent beyond it (commands that are not part of an install)."""
    minimum, extra = 0, []
    i = 0
    while i < len(pairs):
        command, response = pairs[i]
        ins = command[1]
        if ins == 0xE2:  # STORE DATA: one ES10 command in blocks up to the last (P1 b8)
            data = b""
            while True:
                command, response = pairs[i]
                data += command[5:5 + command[4]]
                i += 1
                if command[2] & 0x80 or i == len(pairs):
                    break
            answer = response[:-2] if response else b""
            # The card's GET RESPONSEs after it (61xx: more waiting).
            while response and response[-2] == 0x61 and i < len(pairs) and pairs[i][0][1] == 0xC0:
                response = pairs[i][1]
                answer += response[:-2] if response else b""
                i += 1
            name = data[:2].hex().upper() if data[:1] == b"\xbf" else data[:1].hex().upper()
            if name in INSTALL_COMMANDS or name in BPP_PARTS:
                minimum += -(-len(data) // 255) + max(0, -(-len(answer) // 256) - 1)
            else:
                extra.append(f"STORE DATA {name}")
            continue
        if ins in (0x70, 0xA4):  # MANAGE CHANNEL, SELECT: the channel for the install
            minimum += 1
        else:
            extra.append(f"INS {ins:02X}")
        i += 1
    return minimum, extra


def download(world, euicc, ac):
    conn = Gio.DBusConnection.new_for_address_sync(
        world.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
    res = conn.call_sync(harness.BUS_NAME, euicc, harness.EUICC, "Download",
                         GLib.Variant("(sa{sv})", (ac, {"accept": GLib.Variant("b", True)})),
                         GLib.VariantType("(o)"), Gio.DBusCallFlags.NONE, 120000, None)
    return conn, res.unpack()[0]


def state(world, path):
    return world.get_property(path, "org.esimd.Download1", "State")


def wait_done(world, paths):
    harness.wait_until(lambda: all(state(world, p) in ("done", "failed", "cancelled")
                                   for p in paths), 120, "the installs", interval=0.02)
    for p in paths:
        if state(world, p) != "done":
            raise harness.HarnessError(
                f"{p}: {world.get_property(p, 'org.esimd.Download1', 'ErrorMessage')}")


def main():
    report = benchlib.Report("install")
    with harness.World() as world:
        pki = harness.make_pki(world, EID)
        card = os.path.join(world.tmpdir, "euicc.card")
        with open(card, "w") as f:
            f.write(f"type euicc\neid {EID}\npki {os.path.basename(pki)}\n"
                    f"default-smdp {ADDRESS}\n")
        profiles = os.path.join(world.tmpdir, "profiles.json")
        with open(profiles, "w") as f:
            json.dump(PROFILES, f)
        smdp = harness.SmdpSim(world, args=["--profiles", profiles], pki=pki)
        log_of_port = {}
        delay_of_port = {}
        for i in range(PARALLEL + 2):
            log = os.path.join(world.tmpdir, f"apdu-{i}.log")
            delay = 0 if i == 0 else MODEM_DELAY_MS
            modem = world.add_modem("qmi", [card], options=[f"delay-ms={delay}",
                                                            f"apdu-log={log}"])
            log_of_port[modem.port] = log
            delay_of_port[modem.port] = delay
        world.start_esimd(args=smdp.esimd_args(),
                          config={"auto-send-notifications": "false"})
        ports = {e: world.get_property(e, harness.EUICC, "Port") for e in world.euicc_paths()}
        # The modem without latency first, then the others.
        euiccs = sorted(ports, key=lambda e: delay_of_port[ports[e]])
        logs = [log_of_port[ports[e]] for e in euiccs]

        def apdus(i):
            with open(logs[i]) as f:
                return apdu_pairs(f)

        def install_alone(i, r):
            before = len(apdus(i))
            start = time.monotonic()
            conn, path = download(world, euiccs[i], activation_code(r))
            wait_done(world, [path])
            took = time.monotonic() - start
            conn.close_sync(None)
            return took, apdus(i)[before:]

        # Without latency, then with the modem's and the SM-DP+'s, in rounds.
        rounds = []
        for r in range(ROUNDS):
            smdp.command("delay-ms 0")
            bare, sent = install_alone(0, r)
            smdp.command(f"delay-ms {SMDP_DELAY_MS}")
            single, sent_delayed = install_alone(1, r)
            rounds.append((bare, single, len(sent_delayed)))
        warmup = rounds[0]
        measured = sorted(rounds[1:], key=lambda t: t[1] - t[0])
        bare, single, count_delayed = measured[len(measured) // 2]
        minimum, extra = minimum_apdus(sent)
        report.measure("APDUs per install", len(sent), "apdus", minimum,
                       note=f"the fewest for this BPP: {minimum}"
                            + (f"; beyond it: {', '.join(extra)}" if extra else ""))
        report.measure("first install on a modem, latencies added",
                       (warmup[1] - warmup[0]) * 1000.0, "ms",
                       note="reads the modem's IMEI and radio technologies too (once per modem)")
        report.measure("install, no latency", bare * 1000.0, "ms",
                       note="esimd and the simulators' own work, 3 TLS handshakes")
        budget = SLACK * (count_delayed * MODEM_DELAY_MS + ES9P_CALLS * SMDP_DELAY_MS)
        report.measure(f"install, modem {MODEM_DELAY_MS} ms, SM-DP+ {SMDP_DELAY_MS} ms",
                       single * 1000.0, "ms",
                       note=f"{count_delayed} APDUs x {MODEM_DELAY_MS} + {ES9P_CALLS} ES9+ x "
                            f"{SMDP_DELAY_MS} = {budget / SLACK:.0f} ms of latency")
        report.measure("  what the latencies added", (single - bare) * 1000.0, "ms",
                       round(budget), note=f"target: x {SLACK} the latencies")

        # PARALLEL installs on PARALLEL modems at once.
        start = time.monotonic()
        started = [download(world, e, activation_code(0)) for e in euiccs[2:]]
        paths = [p for _, p in started]
        harness.wait_until(lambda: all(state(world, p) in ("done", "failed", "cancelled")
                                       for p in paths), 120, "the installs", interval=0.02)
        parallel = time.monotonic() - start
        failed = [p for p in paths if state(world, p) != "done"]
        for conn, _ in started:
            conn.close_sync(None)
        report.measure(f"{PARALLEL} installs on {PARALLEL} modems at once", parallel * 1000.0,
                       "ms", round(2 * single * 1000.0),
                       note=f"one alone: {single * 1000.0:.0f} ms; target: under twice that")
        report.measure(f"  of them failed", len(failed), "installs", 0,
                       note="; ".join(world.get_property(p, "org.esimd.Download1",
                                                         "ErrorMessage")[-60:] for p in failed))
    report.finish()


if __name__ == "__main__":
    main()
