#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""smdp-sim against euicc-sim: the two halves of a profile download
(SGP.22 3.1.3), written by different hands from the spec, must agree on
every signature, key, MAC and byte. This test plays the LPA: ES10b to the
card as hex APDUs (STORE DATA blocks, GET RESPONSE), ES9+/ES11 to the
SM-DP+ over HTTPS checked against the test CI.

Usage: test-smdp-euicc.py SMDP_SIM MKPKI EUICC_SIM CARD_FILE
                          [--der ASN1C ASN1_DIR CACHE CC...]
(OPENSSL may name openssl). With --der, the ASN.1 values the SM-DP+ sends
are also judged by the strict asn1c decoder of rsp.asn that tests/asn1
builds (ServerSigned1, SubjectKeyIdentifier, StoreMetadataRequest,
SmdpSigned2, InitialiseSecureChannelRequest), and so is the card's
ProfileInstallationResult. Not the values holding an X.509 certificate
nor the BoundProfilePackage as a whole: the asn1c decoder refuses every
certificate openssl makes (even a bare v1 one) and any SEQUENCE OF [7]
OCTET STRING, whatever the bytes; euicc-sim parses those instead.
"""
import base64
import hashlib
import http.client
import json
import os
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import time

TIMEOUT_S = 20
ADDRESS = "smdp.example.com"
ISDR_AID = "A0000005591010FFFFFFFF8900000100"
HEADERS = {"Content-Type": "application/json;charset=UTF-8",
           "X-Admin-Protocol": "gsma/rsp/v2.2.0", "User-Agent": "gsma-rsp-lpad"}
PROFILES = {
    "profiles": {
        "MID-PLAIN": {"iccid": "8949449999999990023", "name": "Plain test profile",
                      "service-provider": "esimd Mobile", "class": "operational",
                      "owner": "26201"},
        "MID-CC": {"iccid": "8949449999999990031", "name": "Needs a code",
                   "service-provider": "esimd Mobile", "class": "operational", "cc": "4711"},
        "MID-BIG": {"iccid": "8949449999999990056", "name": "Large",
                    "service-provider": "esimd Mobile", "extra-bytes": 4000},
        "MID-DUP": {"iccid": "8944476500001234567", "name": "Already there"},
        "MID-RETRY": {"iccid": "8949449999999990080", "name": "Retried"},
        "MID-PPK": {"iccid": "8949449999999990072", "name": "Protected",
                    "service-provider": "esimd Mobile", "ppk": True},
        "MID-KNOB": {"iccid": "8949449999999990098", "name": "Knob target"},
    },
    "events": {},
}


def enc(tag, value):
    t = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
    n = len(value)
    if n < 0x80:
        return t + bytes([n]) + value
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return t + bytes([0x80 | len(raw)]) + raw + value


def head(buf, pos=0):
    """(tag, header length, value length) of the TLV at buf[pos]."""
    p = pos
    tag = buf[p]
    p += 1
    if tag & 0x1F == 0x1F:
        while True:
            tag = (tag << 8) | buf[p]
            p += 1
            if not buf[p - 1] & 0x80:
                break
    first = buf[p]
    p += 1
    if first & 0x80:
        n = first & 0x7F
        length = int.from_bytes(buf[p:p + n], "big")
        p += n
    else:
        length = first
    return tag, p - pos, length


def children(value):
    out, pos = [], 0
    while pos < len(value):
        tag, h, n = head(value, pos)
        out.append((tag, value[pos + h:pos + h + n], value[pos:pos + h + n]))
        pos += h + n
    return out


def fields(value):
    return {t: v for t, v, _ in children(value)}


def bcd(digits):
    digits += "F" * (20 - len(digits))
    return bytes(int(digits[i + 1] + digits[i], 16) for i in range(0, 20, 2))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# ---------------------------------------------------------------------------
# The card, over its hex APDU pipe

class Card:
    def __init__(self, binary, card_file, pki, log):
        self.proc = subprocess.Popen([binary, "--card", card_file, "--pki", pki,
                                      "--apdu-log", log],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        data, sw = self.apdu("0070000001")
        check(sw == 0x9000 and len(data) == 1, f"MANAGE CHANNEL: {data.hex()} {sw:04X}")
        self.ch = data[0]
        check(self.ch < 4, "channel beyond the basic CLA coding")
        _, sw = self.apdu(f"{self.ch:02X}A4040C10{ISDR_AID}")
        check(sw == 0x9000, f"SELECT ISD-R: {sw:04X}")

    def apdu(self, hexline):
        self.proc.stdin.write(hexline + "\n")
        self.proc.stdin.flush()
        if not self.sel.select(TIMEOUT_S):
            raise AssertionError(f"euicc-sim did not answer {hexline[:20]}...")
        line = self.proc.stdout.readline().strip()
        check(len(line) >= 4, f"euicc-sim answered {line!r}")
        raw = bytes.fromhex(line)
        return raw[:-2], int.from_bytes(raw[-2:], "big")

    def es10(self, command):
        """One ES10 command in STORE DATA blocks (SGP.22 5.7.2, GPC 11.11),
        the answer collected with GET RESPONSE."""
        blocks = [command[i:i + 255] for i in range(0, len(command), 255)] or [b""]
        for n, block in enumerate(blocks):
            lastb = n == len(blocks) - 1
            p1 = 0x91 if lastb else 0x11
            data, sw = self.apdu(f"{0x80 | self.ch:02X}E2{p1:02X}{n:02X}{len(block):02X}"
                                 + block.hex() + ("00" if lastb else ""))
            if not lastb:
                check(sw == 0x9000 and not data, f"STORE DATA block {n}: {sw:04X}")
        out = data
        while sw >> 8 == 0x61:
            data, sw = self.apdu(f"{self.ch:02X}C00000{sw & 0xFF:02X}")
            out += data
        check(sw == 0x9000, f"ES10 {command[:2].hex()}: SW {sw:04X}")
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.sel.close()
        self.proc.stdout.close()
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        return self.proc.returncode, err


# ---------------------------------------------------------------------------
# The SM-DP+, over HTTPS

class Sim:
    def __init__(self, binary, pki, log, profiles):
        self.proc = subprocess.Popen([binary, "--port", "0", "--pki", pki, "--log", log,
                                      "--profiles", profiles],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        words = self.readline().split()
        if len(words) != 3 or words[0] != "LISTEN":
            self.proc.kill()
            raise AssertionError(f"smdp-sim: {words} {self.proc.stderr.read()!r}")
        self.port, self.log = int(words[2]), log
        self.ctx = ssl.create_default_context(cafile=os.path.join(pki, "ci.pem"))

    def readline(self):
        if not self.sel.select(TIMEOUT_S):
            raise AssertionError("smdp-sim said nothing within the timeout")
        return self.proc.stdout.readline()

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.readline().strip()
        check(reply.startswith("OK "), reply)
        return json.loads(reply[3:])

    def call(self, function, body, service="es9plus"):
        conn = http.client.HTTPSConnection(ADDRESS, self.port, context=self.ctx,
                                           timeout=TIMEOUT_S)
        conn.sock = self.ctx.wrap_socket(
            socket.create_connection(("127.0.0.1", self.port), TIMEOUT_S),
            server_hostname=ADDRESS)
        try:
            conn.request("POST", f"/gsma/rsp2/{service}/{function}",
                         body=json.dumps(body).encode(), headers=HEADERS)
            r = conn.getresponse()
            status, data = r.status, r.read()
        finally:
            conn.close()
        check(status in (200, 204), f"{function}: HTTP {status} {data[:200]!r}")
        return json.loads(data) if data else None

    def lines(self, function):
        with open(self.log, encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip() and
                    json.loads(l).get("function") == function]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=TIMEOUT_S)
        self.sel.close()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return self.proc.returncode


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text)


def status_of(reply):
    fes = reply["header"]["functionExecutionStatus"]
    if fes["status"] != "Failed":
        return fes["status"]
    return f"{fes['statusCodeData']['subjectCode']}/{fes['statusCodeData']['reasonCode']}"


# ---------------------------------------------------------------------------
# The LPA: SGP.22 3.1.3 step by step

def authenticate(card, sim, matching_id, service="es9plus"):
    info1 = card.es10(enc(0xBF20, b""))
    check(info1[:2] == b"\xBF\x20", f"EUICCInfo1 {info1[:4].hex()}")
    chal = fields(children(card.es10(enc(0xBF2E, b"")))[0][1])[0x80]
    check(len(chal) == 16, "challenge length")
    r = sim.call("initiateAuthentication", {"euiccChallenge": b64(chal),
                                            "euiccInfo1": b64(info1),
                                            "smdpAddress": ADDRESS}, service)
    check(status_of(r) == "Executed-Success", f"initiateAuthentication {status_of(r)}")
    SEEN.append(("ServerSigned1", unb64(r["serverSigned1"])))
    SEEN.append(("SubjectKeyIdentifier", unb64(r["euiccCiPKIdToBeUsed"])))
    ctx = (enc(0x80, matching_id.encode()) if matching_id is not None else b"") \
        + enc(0xA1, enc(0x80, bytes.fromhex("35290611")) + enc(0xA1, b""))
    asr = card.es10(enc(0xBF38, unb64(r["serverSigned1"]) + unb64(r["serverSignature1"])
                        + unb64(r["euiccCiPKIdToBeUsed"]) + unb64(r["serverCertificate"])
                        + enc(0xA0, ctx)))
    check(asr[:2] == b"\xBF\x38", f"AuthenticateServer answered {asr[:8].hex()}")
    check(children(children(asr)[0][1])[0][0] == 0xA0,
          f"AuthenticateServer refused: {asr.hex()}")
    auth = sim.call("authenticateClient", {"transactionId": r["transactionId"],
                                           "authenticateServerResponse": b64(asr)}, service)
    if "profileMetadata" in auth:
        SEEN.append(("StoreMetadataRequest", unb64(auth["profileMetadata"])))
        SEEN.append(("SmdpSigned2", unb64(auth["smdpSigned2"])))
    return r["transactionId"], auth


def prepare(card, auth, cc=None):
    tid = bytes.fromhex(auth["transactionId"])
    req = unb64(auth["smdpSigned2"]) + unb64(auth["smdpSignature2"])
    if cc is not None:
        # The LPA hands the card SHA256(SHA256(CC) | TransactionID) (SGP.22 3.1.3).
        req += enc(0x04, hashlib.sha256(hashlib.sha256(cc.encode()).digest() + tid).digest())
    req += unb64(auth["smdpCertificate"])
    pdr = card.es10(enc(0xBF21, req))
    check(pdr[:2] == b"\xBF\x21", f"PrepareDownload answered {pdr[:8].hex()}")
    return pdr


def bpp_commands(bpp):
    """The ES8+ command sequence of SGP.22 2.5.5: BF36 header with BF23;
    the A0 (and A2) header together with its first 87; the A1 and A3
    headers on their own; every other segment on its own."""
    tag, h, _ = head(bpp)
    check(tag == 0xBF36, "not a BPP")
    parts = children(bpp[h:])
    cmds = [bpp[:h] + parts[0][2]]
    for ptag, pvalue, pwhole in parts[1:]:
        segs = [w for _, _, w in children(pvalue)]
        header = pwhole[:len(pwhole) - len(pvalue)]
        if ptag in (0xA0, 0xA2):
            cmds.append(header + segs[0])
            cmds += segs[1:]
        else:
            cmds.append(header)
            cmds += segs
    return cmds


def load_bpp(card, bpp):
    """Every command answered with nothing until the last, which (or the
    first failing one) gives the ProfileInstallationResult."""
    parts = children(children(bpp)[0][1])
    SEEN.append(("InitialiseSecureChannelRequest", parts[0][2]))
    for i, cmd in enumerate(bpp_commands(bpp)):
        answer = card.es10(cmd)
        if answer:
            return answer, i
    raise AssertionError("the card never answered a ProfileInstallationResult")


def pir_result(pir):
    SEEN.append(("ProfileInstallationResult", pir))
    check(pir[:2] == b"\xBF\x37", f"not a ProfileInstallationResult: {pir[:8].hex()}")
    data = fields(children(pir)[0][1])[0xBF27]
    final = fields(fields(data)[0xA2])
    if 0xA0 in final:
        return "success", None
    err = children(final[0xA1])
    return "error", [int.from_bytes(v, "big") for _, v, _ in err[:2]]


def profiles_on(card):
    info = card.es10(enc(0xBF2D, b""))
    out = {}
    for tag, value, _ in children(children(children(info)[0][1])[0][1]):
        f = fields(value)
        digits = "".join(f"{b & 0xF:X}{b >> 4:X}" for b in f[0x5A]).rstrip("F")
        out[digits] = f
    return out


# ---------------------------------------------------------------------------
# Tests

def test_download_installs_the_profile_on_the_card(w):
    card = w.card
    tid, auth = authenticate(card, w.sim, "MID-PLAIN")
    check(status_of(auth) == "Executed-Success", f"authenticateClient {status_of(auth)}")
    pdr = prepare(card, auth)
    r = w.sim.call("getBoundProfilePackage", {"transactionId": tid,
                                              "prepareDownloadResponse": b64(pdr)})
    check(status_of(r) == "Executed-Success", f"getBoundProfilePackage {status_of(r)}")
    start = time.monotonic()
    pir, at = load_bpp(card, unb64(r["boundProfilePackage"]))
    w.timings["load-bpp"] = time.monotonic() - start
    check(pir_result(pir) == ("success", None), f"install result {pir_result(pir)} at {at}")
    on_card = profiles_on(card)
    check("8949449999999990023" in on_card, f"profiles now {sorted(on_card)}")
    p = on_card["8949449999999990023"]
    check(p.get(0x92) == b"Plain test profile" and p.get(0x91) == b"esimd Mobile",
          f"name/provider on the card {p.get(0x92)!r} {p.get(0x91)!r}")
    check(fields(p[0xB7])[0x80] == bytes.fromhex("62F210"), f"owner {p.get(0xB7)!r}")
    # The card's signed install result goes back and checks out at the SM-DP+.
    w.sim.call("handleNotification", {"pendingNotification": b64(pir)})
    note = w.sim.lines("es9plus/handleNotification")[-1]
    check(note["installResult"] == {"transactionId": tid, "signatureValid": True,
                                    "finalResult": "success"}, f"{note['installResult']}")
    entry = w.sim.lines("es9plus/getBoundProfilePackage")[-1]
    check(entry["result"] == "ok" and entry["eid"] == w.eid, f"log {entry}")


def test_many_segment_profile_installs(w):
    tid, auth = authenticate(w.card, w.sim, "MID-BIG")
    pdr = prepare(w.card, auth)
    r = w.sim.call("getBoundProfilePackage", {"transactionId": tid,
                                              "prepareDownloadResponse": b64(pdr)})
    bpp = unb64(r["boundProfilePackage"])
    check(len(bpp_commands(bpp)) >= 10, f"only {len(bpp_commands(bpp))} commands")
    pir, at = load_bpp(w.card, bpp)
    check(pir_result(pir) == ("success", None), f"big install {pir_result(pir)} at {at}")
    check("8949449999999990056" in profiles_on(w.card), "big profile missing")


def test_protected_profile_package_through_the_card(w):
    # A2 ReplaceSessionKeys: the card must switch to the PPKs for the 86s.
    tid, auth = authenticate(w.card, w.sim, "MID-PPK")
    pdr = prepare(w.card, auth)
    r = w.sim.call("getBoundProfilePackage", {"transactionId": tid,
                                              "prepareDownloadResponse": b64(pdr)})
    bpp = unb64(r["boundProfilePackage"])
    check([t for t, _, _ in children(children(bpp)[0][1])] == [0xBF23, 0xA0, 0xA1, 0xA2, 0xA3],
          "no A2 in the BPP")
    pir, at = load_bpp(w.card, bpp)
    check(pir_result(pir) == ("success", None), f"PPK install {pir_result(pir)} at {at}")
    check("8949449999999990072" in profiles_on(w.card), "PPK profile missing")


def euicc_otpk(pdr):
    ok = children(children(pdr)[0][1])[0]
    check(ok[0] == 0xA0, f"PrepareDownload failed: {pdr.hex()}")
    return fields(children(ok[1])[0][1])[0x5F49]


def test_retry_after_a_cut_offers_the_bound_key(w):
    # The connection drops mid-BPP; the LPA starts over; the SM-DP+ offers
    # the key the first BPP was bound to (bppEuiccOtpk). A card that still
    # holds that key pair keeps it, one that dropped it makes a new one
    # (SGP.22 5.7.5); either way the SM-DP+ binds the BPP to the key the
    # card answers with, and says in its log which it was. (euicc-sim ends
    # the old session, key included, when a new one starts: a new key.)
    w.sim.command("cut-bpp 1")
    tid, auth = authenticate(w.card, w.sim, "MID-RETRY")
    pdr = prepare(w.card, auth)
    first = euicc_otpk(pdr)
    try:
        w.sim.call("getBoundProfilePackage", {"transactionId": tid,
                                              "prepareDownloadResponse": b64(pdr)})
        raise AssertionError("the BPP was not cut")
    except (http.client.IncompleteRead, ConnectionResetError, ssl.SSLError):
        pass
    tid, auth = authenticate(w.card, w.sim, "MID-RETRY")
    check(fields(children(unb64(auth["smdpSigned2"]))[0][1]).get(0x5F49) == first,
          "no bppEuiccOtpk on the retry")
    pdr = prepare(w.card, auth)
    reused = euicc_otpk(pdr) == first
    r = w.sim.call("getBoundProfilePackage", {"transactionId": tid,
                                              "prepareDownloadResponse": b64(pdr)})
    pir, at = load_bpp(w.card, unb64(r["boundProfilePackage"]))
    check(pir_result(pir) == ("success", None), f"retried install {pir_result(pir)} at {at}")
    entry = w.sim.lines("es9plus/getBoundProfilePackage")[-1]
    check(entry["reusedEuiccOtpk"] is reused and entry["euiccOtpk"] == euicc_otpk(pdr).hex(),
          f"log {entry['reusedEuiccOtpk']} {entry['euiccOtpk']}, card reused: {reused}")


def test_confirmation_code_through_the_card(w):
    tid, auth = authenticate(w.card, w.sim, "MID-CC")
    r = w.sim.call("getBoundProfilePackage", {"transactionId": tid,
                                              "prepareDownloadResponse":
                                                  b64(prepare(w.card, auth, "9999"))})
    check(status_of(r) == "8.2.7/3.8", f"wrong code {status_of(r)}")
    # A second PrepareDownload with the right code: the card makes a new
    # one-time key, the SM-DP+ binds to it.
    r = w.sim.call("getBoundProfilePackage", {"transactionId": tid,
                                              "prepareDownloadResponse":
                                                  b64(prepare(w.card, auth, "4711"))})
    check(status_of(r) == "Executed-Success", f"right code {status_of(r)}")
    pir, at = load_bpp(w.card, unb64(r["boundProfilePackage"]))
    check(pir_result(pir) == ("success", None), f"cc install {pir_result(pir)} at {at}")


def test_iccid_already_on_the_card_is_refused_by_the_card(w):
    tid, auth = authenticate(w.card, w.sim, "MID-DUP")
    pdr = prepare(w.card, auth)
    r = w.sim.call("getBoundProfilePackage", {"transactionId": tid,
                                              "prepareDownloadResponse": b64(pdr)})
    pir, at = load_bpp(w.card, unb64(r["boundProfilePackage"]))
    result, err = pir_result(pir)
    # BppCommandId storeMetadata(2), installFailedDueToIccidAlreadyExistsOnEuicc(9)
    check(result == "error" and err == [2, 9], f"duplicate ICCID: {result} {err} at {at}")


def test_tampered_segment_fails_the_mac_on_the_card(w):
    tid, auth = authenticate(w.card, w.sim, "MID-PLAIN2")
    pdr = prepare(w.card, auth)
    r = w.sim.call("getBoundProfilePackage", {"transactionId": tid,
                                              "prepareDownloadResponse": b64(pdr)})
    cmds = bpp_commands(unb64(r["boundProfilePackage"]))
    last = bytearray(cmds[-1])
    last[-12] ^= 0x01  # inside the last 86's ciphertext
    cmds[-1] = bytes(last)
    answer = b""
    for cmd in cmds:
        answer = w.card.es10(cmd)
        if answer:
            break
    result, err = pir_result(answer)
    # loadProfileElements(5), scp03tSecurityError(8)
    check(result == "error" and err == [5, 8], f"tampered segment: {result} {err}")


def knob_bpp(w, knob=None):
    """A BPP of MID-KNOB made with an smdp-sim knob set for one BPP (or
    none): the card's result, the 86 it answered at and the log line."""
    if knob:
        w.sim.command(f"{knob} 1")
    tid, auth = authenticate(w.card, w.sim, "MID-KNOB")
    r = w.sim.call("getBoundProfilePackage", {"transactionId": tid,
                                              "prepareDownloadResponse":
                                                  b64(prepare(w.card, auth))})
    check(status_of(r) == "Executed-Success", f"{knob}: {status_of(r)}")
    pir, at = load_bpp(w.card, unb64(r["boundProfilePackage"]))
    entry = w.sim.lines("es9plus/getBoundProfilePackage")[-1]
    # BF36+BF23, A0+87, the A1 header, each 88, the A3 header, then the 86s.
    first_86 = 3 + entry["segments"]["88"] + 1
    return pir_result(pir), at - first_86, entry


def test_tamper_bpp_knob_fails_the_mac_on_the_card(w):
    result, at, entry = knob_bpp(w, "tamper-bpp")
    # loadProfileElements(5), scp03tSecurityError(8), at the first 86.
    check(result == ("error", [5, 8]) and at == 0, f"tamper-bpp: {result} at 86 #{at}")
    check(entry.get("tampered") is True and "swappedSegments" not in entry, f"log {entry}")
    check("8949449999999990098" not in profiles_on(w.card), "tampered profile installed")


def test_swap_segments_knob_breaks_the_mac_chain_on_the_card(w):
    result, at, entry = knob_bpp(w, "swap-segments")
    # The segment in first place carries the C-MAC of the second place.
    check(result == ("error", [5, 8]) and at == 0, f"swap-segments: {result} at 86 #{at}")
    check(entry.get("swappedSegments") is True and "tampered" not in entry, f"log {entry}")
    check(w.sim.command("stats")["swap_segments"] == 0, "swap-segments not used up")
    # One BPP each: the next one is whole and installs.
    result, at, entry = knob_bpp(w)
    check(result == ("success", None), f"after the knobs: {result}")
    check("tampered" not in entry and "swappedSegments" not in entry, f"log {entry}")


def test_reuse_transaction_knob_is_refused_by_the_card(w):
    tid, auth = authenticate(w.card, w.sim, "MID-PLAIN")
    check(status_of(auth) == "Executed-Success", status_of(auth))
    w.sim.command("reuse-transaction 1")
    info1 = w.card.es10(enc(0xBF20, b""))
    chal = fields(children(w.card.es10(enc(0xBF2E, b"")))[0][1])[0x80]
    r = w.sim.call("initiateAuthentication", {"euiccChallenge": b64(chal),
                                              "euiccInfo1": b64(info1),
                                              "smdpAddress": ADDRESS})
    check(r["transactionId"] == tid, f"transactionId {r['transactionId']} is not {tid}")
    check(w.sim.lines("es9plus/initiateAuthentication")[-1]["reusedTransaction"] is True,
          "log does not say reusedTransaction")
    ctx = enc(0xA1, enc(0x80, bytes.fromhex("35290611")) + enc(0xA1, b""))
    asr = w.card.es10(enc(0xBF38, unb64(r["serverSigned1"]) + unb64(r["serverSignature1"])
                          + unb64(r["euiccCiPKIdToBeUsed"]) + unb64(r["serverCertificate"])
                          + enc(0xA0, ctx)))
    err = children(children(asr)[0][1])[0]
    # authenticateResponseError { transactionId, undefinedError(127) }
    check(err[0] == 0xA1 and [v for _, v, _ in children(err[1])]
          == [bytes.fromhex(tid), b"\x7f"], f"AuthenticateServer: {asr.hex()}")
    # The LPA hands the card's refusal to the SM-DP+, which ends the transaction.
    auth = w.sim.call("authenticateClient", {"transactionId": tid,
                                             "authenticateServerResponse": b64(asr)})
    check(status_of(auth) == "8.1/3.8", f"authenticateClient {status_of(auth)}")
    entry = w.sim.lines("es9plus/authenticateClient")[-1]
    check(entry["authenticateErrorCode"] == 127, f"log {entry}")
    # Used up: the next session gets a fresh transactionId the card takes.
    tid2, auth = authenticate(w.card, w.sim, "MID-PLAIN")
    check(tid2 != tid and status_of(auth) == "Executed-Success",
          f"after the knob: {tid2} {status_of(auth)}")


FULL_CARD = """type euicc
eid {eid}
{knob}

[profile]
iccid 8944476500001234567
isdp-aid A0000005591010FFFFFFFF8900001000
state enabled
name Already here
provider Example Mobile
class operational
"""


def full_card_result(w, knob):
    path = os.path.join(w.tmp, "full.card")
    with open(path, "w", encoding="utf-8") as f:
        f.write(FULL_CARD.format(eid=w.eid, knob=knob))
    card = Card(w.euicc_sim, path, w.pki, os.path.join(w.tmp, "full-apdu.log"))
    try:
        tid, auth = authenticate(card, w.sim, "MID-PLAIN")
        pdr = prepare(card, auth)
        r = w.sim.call("getBoundProfilePackage", {"transactionId": tid,
                                                  "prepareDownloadResponse": b64(pdr)})
        pir, _ = load_bpp(card, unb64(r["boundProfilePackage"]))
        # The failed install is reported to the SM-DP+, signed all the same.
        w.sim.call("handleNotification", {"pendingNotification": b64(pir)})
        note = w.sim.lines("es9plus/handleNotification")[-1]
        check(note["installResult"] == {"transactionId": tid, "signatureValid": True,
                                        "finalResult": "error"}, f"{note['installResult']}")
        return pir_result(pir)
    finally:
        rc, err = card.stop()
        check(rc == 0, f"euicc-sim exited {rc}: {err}")


def test_full_card_refuses_the_profile(w):
    # configureISDP(1) / installFailedDueToInsufficientMemoryForProfile(10):
    # no room for another ISD-P; loadProfileElements(5) / 10: no memory
    # for the elements.
    got = full_card_result(w, "max-profiles 1")
    check(got == ("error", [1, 10]), f"max-profiles: {got}")
    got = full_card_result(w, "free-nv-memory 64")
    check(got == ("error", [5, 10]), f"free-nv-memory: {got}")


def test_cancel_session_signed_by_the_card(w):
    tid, auth = authenticate(w.card, w.sim, "MID-PLAIN")
    check(status_of(auth) == "Executed-Success", status_of(auth))
    csr = w.card.es10(enc(0xBF41, enc(0x80, bytes.fromhex(tid)) + enc(0x81, b"\x00")))
    r = w.sim.call("cancelSession", {"transactionId": tid, "cancelSessionResponse": b64(csr)})
    check(status_of(r) == "Executed-Success", f"cancelSession {status_of(r)}")
    entry = w.sim.lines("es9plus/cancelSession")[-1]
    check(entry["reason"] == "endUserRejection" and entry["smdpOidMatches"],
          f"log {entry}")


def test_sm_ds_event_retrieval_with_the_card(w):
    tid, auth = authenticate(w.card, w.sim, None, service="es11")
    check(status_of(auth) == "Executed-Success", f"ES11 {status_of(auth)}")
    check(auth["eventEntries"] == [{"eventId": "EV-CARD", "rspServerAddress": ADDRESS}],
          f"events {auth['eventEntries']}")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]
SEEN = []  # (rsp.asn type, DER) of what went by, for --der


class World:
    pass


def main():
    if len(sys.argv) < 5 or (len(sys.argv) > 5 and (sys.argv[5] != "--der"
                                                    or len(sys.argv) < 10)):
        print(__doc__, file=sys.stderr)
        return 2
    smdp_sim, mkpki, euicc_sim, card_file = sys.argv[1:5]
    decoder = None
    if len(sys.argv) > 5:
        asn1c, asn1_dir, cache = sys.argv[6:9]
        # tests/asn1's strict decoder, built (or taken from its cache) the same way.
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "check_es10_der", os.path.join(asn1_dir, "check-es10-der.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        decoder = mod.Decoder(asn1c, sys.argv[9:], asn1_dir, cache)
    w = World()
    w.timings = {}
    with open(card_file, encoding="utf-8") as f:
        w.eid = next(l.split()[1] for l in f if l.startswith("eid "))
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="smdp-euicc-test.") as tmp:
        pki = os.path.join(tmp, "pki")
        w.tmp, w.pki, w.euicc_sim = tmp, pki, euicc_sim
        subprocess.run([mkpki, "--eid", w.eid, pki], check=True, timeout=60)
        profiles = dict(PROFILES)
        profiles["profiles"] = dict(PROFILES["profiles"])
        profiles["profiles"]["MID-PLAIN2"] = dict(PROFILES["profiles"]["MID-PLAIN"],
                                                  iccid="8949449999999990064")
        profiles["events"] = {w.eid: [{"address": ADDRESS, "event-id": "EV-CARD"}]}
        ppath = os.path.join(tmp, "profiles.json")
        with open(ppath, "w", encoding="utf-8") as f:
            json.dump(profiles, f)
        w.sim = Sim(smdp_sim, pki, os.path.join(tmp, "smdp.log"), ppath)
        w.card = Card(euicc_sim, card_file, pki, os.path.join(tmp, "apdu.log"))
        try:
            for test in TESTS:
                start = time.monotonic()
                try:
                    test(w)
                    passed += 1
                    print(f"ok - {test.__name__} ({time.monotonic() - start:.2f} s)")
                except Exception as e:  # report every kind, keep going
                    failed += 1
                    print(f"FAIL - {test.__name__}: {type(e).__name__}: {e}")
        finally:
            rc, err = w.card.stop()
            if rc != 0:
                failed += 1
                print(f"FAIL - euicc-sim exited {rc}: {err}")
            if w.sim.stop() != 0:
                failed += 1
                print("FAIL - smdp-sim exit status")
        if decoder is not None:
            kinds = {}
            for pdu, der in SEEN:
                kinds.setdefault(pdu, []).append(der)
            for pdu, ders in sorted(kinds.items()):
                try:
                    for der in dict.fromkeys(ders):  # each distinct value once
                        decoder.check(pdu, der, "smdp-euicc")
                    passed += 1
                    print(f"ok - strict DER: {len(ders)} {pdu}")
                except Exception as e:
                    failed += 1
                    print(f"FAIL - strict DER: {e}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
