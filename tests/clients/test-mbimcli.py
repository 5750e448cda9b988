#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's mbimcli against modem-sim --mbim: an MBIM client we did not write
must see the slots, open a channel on the ISD-R, read the EID with a STORE
DATA, close the channel and switch slots, on the simulator's bytes; and read
the IMEI it is given as Device Caps' DeviceId.

Usage: test-mbimcli.py MODEM_SIM_BINARY   (ESIMD_CARDS_DIR names the card files)
"""
import os
import re
import socket
import subprocess
import sys
import time

# Nothing may be written next to the sources (no __pycache__).
sys.dont_write_bytecode = True
from common import TIMEOUT_S, ModemSim, card_files, card_value, checker, run

ISDR_AID = "A0000005591010FFFFFFFF8900000100"
PROXY = "/usr/libexec/mbim-proxy"


class Session:
    """One MBIM session kept open across mbimcli runs (--no-close, then
    --no-open=TRID), so that a logical channel survives between commands."""

    def __init__(self, port):
        self.port = port
        self.trid = None

    def run(self, *args, keep=True, expect_ok=True):
        cmd = ["mbimcli", "-d", self.port]
        if self.trid is not None:
            cmd.append(f"--no-open={self.trid}")
        if keep:
            cmd.append("--no-close")
        cmd += list(args)
        r = run(cmd)
        m = re.search(r"TRID: '(\d+)'", r.stdout)
        if m:
            self.trid = int(m.group(1))
        elif keep:
            raise AssertionError(f"{' '.join(cmd)}: no transaction id to go on with\n{r.stdout}")
        if expect_ok and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
        if not expect_ok and r.returncode == 0:
            raise AssertionError(f"{' '.join(cmd)} succeeded, expected a failure:\n{r.stdout}")
        return r.stdout + r.stderr


check = checker("mbimcli")


def field(output, name):
    m = re.search(rf"^\s*{name}: (.*)$", output, re.M)
    check(m, f"no '{name}' in the output", output)
    return m.group(1).strip()


def hexbytes(text):
    return text.replace(":", "").upper()


def slot_state(session, index):
    out = session.run(f"--ms-query-slot-info-status={index}")
    m = re.search(rf"Slot '{index}': '([^']+)'", out)
    check(m, f"no state for slot {index}", out)
    return m.group(1)


def test_isdr_and_eid(session, eid):
    out = session.run("--ms-set-uicc-open-channel="
                      f"application-id={ISDR_AID},selectp2arg=0,channel-group=1")
    # Status carries SW 90 00 with SW1 in the low byte: 0x0090.
    check(field(out, "status") == "144", "open channel: SW is not 9000", out)
    channel = int(field(out, "channel"))
    check(1 <= channel <= 19, "open channel: no channel number", out)
    check(hexbytes(field(out, "response")).startswith("6F"), "open channel: no FCI", out)

    # GetEuiccDataRequest for the EID: STORE DATA BF3E035C015A.
    cla = 0x80 | channel if channel <= 3 else 0xC0 | (channel - 4)
    out = session.run(f"--ms-set-uicc-apdu=channel={channel},"
                      f"command={cla:02X}E2910006BF3E035C015A00")
    check(field(out, "status") == "144", "GET EID: SW is not 9000", out)
    check(hexbytes(field(out, "response")) == "BF3E125A10" + eid.upper(),
          "GET EID: not the card's EID", out)

    out = session.run(f"--ms-set-uicc-close-channel=channel={channel},channel-group=1")
    check(field(out, "status") == "144", "close channel: SW is not 9000", out)

    # Closed means closed: an APDU on it is refused.
    out = session.run(f"--ms-set-uicc-apdu=channel={channel},command=80E2910006BF3E035C015A00",
                      expect_ok=False)
    check("0x87430003" in out, "APDU on a closed channel: not 'invalid logical channel'", out)


# modem-sim's default IMEI (tests/sim/modem-sim.h) and one given with imei=.
DEFAULT_IMEI = "352906111234565"
OTHER_IMEI = "490154203237518"


def test_device_caps(session, imei):
    out = session.run("--query-device-caps")
    check(field(out, "Cellular class") == "'gsm'", "a GSM-class modem expected", out)
    check(field(out, "Device ID") == f"'{imei}'", f"Device ID must be the IMEI {imei}", out)
    # modem-sim's default rats=gsm,umts,lte as MBIM data classes.
    check(field(out, "Data class") == "'gprs, edge, umts, hsdpa, hsupa, lte'",
          "data classes of GSM, UMTS and LTE expected", out)


def test_imei_option(binary, euicc):
    """Another IMEI, then none: modem-sim reports what it is given."""
    for options, want in (((f"imei={OTHER_IMEI}",), f"'{OTHER_IMEI}'"), (("imei=",), "'unknown'")):
        sim = ModemSim(binary, "mbim", [euicc], options)
        try:
            r = run(["mbimcli", "-d", sim.port, "--query-device-caps"])
            check(r.returncode == 0, "device caps must succeed", r.stdout + r.stderr)
            check(field(r.stdout, "Device ID") == want, f"Device ID must be {want}", r.stdout)
        finally:
            sim.stop(require_clean_exit=True)


def test_rats_option(binary, euicc):
    """The 5G data classes for rats=, none when the modem does not say."""
    for options, want in ((("rats=umts,lte,nr-nsa,nr-sa",),
                           "'umts, hsdpa, hsupa, lte, 5g-nsa, 5g-sa'"),
                          (("rats=",), "'unknown'")):
        sim = ModemSim(binary, "mbim", [euicc], options)
        try:
            r = run(["mbimcli", "-d", sim.port, "--query-device-caps"])
            check(r.returncode == 0, "device caps must succeed", r.stdout + r.stderr)
            check(field(r.stdout, "Data class") == want, f"Data class must be {want}", r.stdout)
        finally:
            sim.stop(require_clean_exit=True)


def test_slots(session):
    check(slot_state(session, 0) == "state-active-esim", "slot 0 is not an active eSIM", "")
    check(slot_state(session, 1) == "state-active", "slot 1 is not an active UICC", "")
    out = session.run("--ms-query-device-slot-mappings")
    check(re.search(r"Executor '0': slot '0'", out), "executor 0 is not on slot 0", out)


def wait_state(session, index, state):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if slot_state(session, index) == state:
            return
        time.sleep(0.05)
    raise AssertionError(f"slot {index} never became {state}")


def test_switch_to_plain_sim(session):
    out = session.run("--ms-set-device-slot-mappings=1")
    check(re.search(r"Executor '0': slot '1'", out), "the switch to slot 1 did not take", out)
    wait_state(session, 1, "state-active")
    # A plain SIM has no ISD-R: SELECT fails (MS status 0x87430002).
    out = session.run("--ms-set-uicc-open-channel="
                      f"application-id={ISDR_AID},selectp2arg=0,channel-group=1",
                      expect_ok=False)
    check("0x87430002" in out, "the plain SIM did not refuse the ISD-R", out)
    out = session.run("--ms-set-device-slot-mappings=0")
    check(re.search(r"Executor '0': slot '0'", out), "the switch back did not take", out)
    wait_state(session, 0, "state-active-esim")


def proxy_listening():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("\0mbim-proxy")
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_through_proxy(port):
    """mbimcli -p: through an mbim-proxy that this script starts and stops,
    so that none is left behind."""
    if not os.access(PROXY, os.X_OK):
        print(f"SKIP proxy: {PROXY} is missing")
        return
    proxy = subprocess.Popen([PROXY, "--empty-timeout=5"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not proxy_listening():
            if time.monotonic() > deadline:
                raise AssertionError("mbim-proxy never listened")
            time.sleep(0.02)
        r = run(["mbimcli", "-d", port, "-p", "--ms-query-slot-info-status=0"])
        check(r.returncode == 0 and "state-active-esim" in r.stdout,
              "slot info through mbim-proxy", r.stdout + r.stderr)
    finally:
        proxy.terminate()
        try:
            proxy.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    euicc, plain = card_files()
    eid = card_value(euicc, "eid")

    sim = ModemSim(sys.argv[1], "mbim", [euicc, plain])
    ok = False
    try:
        session = Session(sim.port)
        test_device_caps(session, DEFAULT_IMEI)
        test_slots(session)
        test_isdr_and_eid(session, eid)
        test_switch_to_plain_sim(session)
        test_isdr_and_eid(session, eid)
        # End the session properly: CLOSE, and CLOSE_DONE from the modem.
        session.run("--ms-query-device-slot-mappings", keep=False)
        test_through_proxy(sim.port)
        test_imei_option(sys.argv[1], euicc)
        test_rats_option(sys.argv[1], euicc)
        ok = True
    finally:
        if ok:
            sim.stop(require_clean_exit=True)
        else:
            try:
                sim.stop(require_clean_exit=True)
            except AssertionError as e:
                print(e, file=sys.stderr)
    print("mbimcli: all checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
