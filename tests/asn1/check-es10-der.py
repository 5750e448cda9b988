#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Strict DER check of every ES10 answer of euicc-sim.

Builds an independent decoder of SGP.22's rsp.asn with asn1c (once, cached),
drives the euicc-sim command line with every ES10 command on every card file,
and feeds each request and each response to the decoder as the PDU type
rsp.asn names. A value passes when the decoder accepts it, its constraints
hold (-c), and re-encoding it as DER gives back the very same bytes, both
directly and after a trip through XER: BER leniency (non-minimal lengths
or integers, wrong tags, missing or extra fields) shows up as a
difference. asn1c neither drops DEFAULT values nor trims named-bit BIT
STRINGs on re-encoding; the simulator takes care of both itself.

The profile download commands, which euicc-sim does not speak, come from
es10-samples: the codec's own encoders for the requests, answers built from
rsp.asn's shapes (and accepted by the codec's decoders) for the responses.

asn1c 0.9.28 has a hole: the generated *_inherit_TYPE_descriptor() of a
derived type (Iccid ::= [APPLICATION 26] OCTET STRING (SIZE(10)), Octet16,
TransactionId, ...) replaces the type's own constraint check with its base
type's on first use, so SIZE constraints went unchecked. The build step takes
that assignment out again, and size_check() proves that wrong sizes fail.
It also drops the tags of SEQUENCE OF elements, which only the Bound Profile
Package has ('87', '88', '86'): the build step puts them back.
"""

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ISDR_AID = "A0000005591010FFFFFFFF8900000100"
# Part of the cache key: change it when the way the decoder is built changes.
RECIPE = "asn1c -fcompound-names -pdu=all; keep derived constraints; element tags; cc -O1"

# The one statement of an *_inherit_TYPE_descriptor() body that loses a
# derived type's own constraint function.
INHERIT_FN = re.compile(r"(_inherit_TYPE_descriptor\(asn_TYPE_descriptor_t \*td\) \{\n)(.*?)(\n\})",
                        re.S)
INHERIT_CHECK = re.compile(r"\n\ttd->check_constraints = asn_DEF_\w+\.check_constraints;")


# asn1c 0.9.28 drops the tags of SEQUENCE OF elements: BoundProfilePackage's
# "[0] SEQUENCE OF [7] OCTET STRING" came out as A0 { 04 .. } instead of
# A0 { 87 .. }, and it marked those tags EXPLICIT in an AUTOMATIC TAGS module.
# (file, old, new, how many times): the element tags honoured, implicitly.
ELEMENT_TAG_PATCHES = [
    ("BoundProfilePackage.c", "+1,\t/* EXPLICIT tag at current level */",
     "-1,\t/* IMPLICIT tag at current level */", 4),
    ("constr_SEQUENCE_OF.c", "0, elm->tag,", "elm->tag_mode, elm->tag,", 2),
    ("constr_SET_OF.c", "der_encoder(elm_type, memb_ptr, 0, elm->tag,",
     "der_encoder(elm_type, memb_ptr, elm->tag_mode, elm->tag,", 2),
    ("constr_SET_OF.c", "elm->type, &ctx->ptr, ptr, LEFT, 0);",
     "elm->type, &ctx->ptr, ptr, LEFT, elm->tag_mode);", 1),
]


def honour_element_tags(gen):
    for name, old, new, count in ELEMENT_TAG_PATCHES:
        path = os.path.join(gen, name)
        with open(path) as f:
            text = f.read()
        if text.count(old) != count:
            raise Failure("asn1c output changed: %s has %d of %r, not %d" %
                          (name, text.count(old), old, count))
        with open(path, "w") as f:
            f.write(text.replace(old, new))


def keep_derived_constraints(gen):
    """Patches the generated code; returns how many descriptors it fixed."""
    fixed = 0
    for name in os.listdir(gen):
        if not name.endswith(".c"):
            continue
        path = os.path.join(gen, name)
        with open(path) as f:
            text = f.read()

        def strip(m):
            nonlocal fixed
            body, n = INHERIT_CHECK.subn("", m.group(2))
            fixed += n
            return m.group(1) + body + m.group(3)

        patched = INHERIT_FN.sub(strip, text)
        if patched != text:
            with open(path, "w") as f:
                f.write(patched)
    return fixed


def tlv(tag, value):
    """DER TLV with a tag given as hex digits."""
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82, n >> 8, n & 0xFF])
    return bytes.fromhex(tag) + length + value


def parse_tlvs(data):
    """Top-level elements of a DER buffer as (tag hex, value) pairs."""
    out = []
    i = 0
    while i < len(data):
        start = i
        i += 1
        if data[start] & 0x1F == 0x1F:
            while data[i] & 0x80:
                i += 1
            i += 1
        tag = data[start:i].hex().upper()
        n = data[i]
        i += 1
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(data[i:i + k], "big")
            i += k
        out.append((tag, data[i:i + n]))
        i += n
    return out


def iccid_bcd(digits):
    digits = digits + "F" * (20 - len(digits))
    return bytes.fromhex("".join(digits[i + 1] + digits[i] for i in range(0, 20, 2)))


class Failure(Exception):
    pass


class Decoder:
    def __init__(self, asn1c, cc, asn1_dir, cache):
        self.path = os.path.join(cache, "rsp-decoder")
        sources = sorted(f for f in os.listdir(asn1_dir) if f.endswith(".asn"))
        digest = hashlib.sha256(RECIPE.encode())
        for name in sources:
            with open(os.path.join(asn1_dir, name), "rb") as f:
                digest.update(name.encode() + f.read())
        stamp = os.path.join(cache, "rsp-decoder.stamp")
        if os.path.exists(self.path) and os.path.exists(stamp):
            with open(stamp) as f:
                if f.read() == digest.hexdigest():
                    print("asn1c decoder: cached")
                    return
        os.makedirs(cache, exist_ok=True)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(dir=cache) as gen:
            for name in sources:
                shutil.copy(os.path.join(asn1_dir, name), gen)
            subprocess.run([asn1c, "-fcompound-names", "-pdu=all"] + sources, cwd=gen,
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Without the patch no SIZE constraint of a derived type holds:
            # refuse to build a decoder that would let them pass.
            if keep_derived_constraints(gen) == 0:
                raise Failure("asn1c output changed: no inherited constraint check to remove")
            honour_element_tags(gen)
            c_files = sorted(f for f in os.listdir(gen) if f.endswith(".c"))
            # -pdu=all: types that others use (EUICCInfo1, ...) are PDUs here too.
            # The generated main wants a default PDU; -p picks the real one.
            subprocess.run(cc + ["-w", "-O1", "-DPDU=EUICCInfo2", "-DASN_PDU_COLLECTION",
                                 "-I.", "-o", self.path + ".tmp"] + c_files + ["-lm"],
                           cwd=gen, check=True)
        os.replace(self.path + ".tmp", self.path)
        with open(stamp, "w") as f:
            f.write(digest.hexdigest())
        print("asn1c decoder: built in %.1f s" % (time.monotonic() - started))

    def check(self, pdu, der, what):
        with tempfile.NamedTemporaryFile(suffix=".der") as f:
            f.write(der)
            f.flush()
            res = subprocess.run([self.path, "-p", pdu, "-iber", "-c", "-1", "-oder", f.name],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if res.returncode != 0:
            raise Failure("%s: %s rejected by the decoder: %s\n  %s" %
                          (what, pdu, res.stderr.decode().strip(), der.hex().upper()))
        if res.stdout != der:
            raise Failure("%s: %s decodes but is not DER; canonical form:\n  %s\n  got:\n  %s" %
                          (what, pdu, res.stdout.hex().upper(), der.hex().upper()))
        # asn1c keeps an INTEGER's bytes as they came; a trip through XER
        # turns it into a number and back, which catches non-minimal ones.
        with tempfile.NamedTemporaryFile(suffix=".der") as f, \
                tempfile.NamedTemporaryFile(suffix=".xer") as x:
            f.write(der)
            f.flush()
            subprocess.run([self.path, "-p", pdu, "-iber", "-1", "-oxer", f.name], stdout=x,
                           check=True)
            res = subprocess.run([self.path, "-p", pdu, "-ixer", "-1", "-oder", x.name],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if res.returncode != 0 or res.stdout != der:
            raise Failure("%s: %s does not survive DER -> XER -> DER: %s\n  %s\n  got:\n  %s" %
                          (what, pdu, res.stderr.decode().strip(), res.stdout.hex().upper(),
                           der.hex().upper()))


    def rejects(self, pdu, der, what):
        """The decoder must refuse the value (with its constraints checked)."""
        with tempfile.NamedTemporaryFile(suffix=".der") as f:
            f.write(der)
            f.flush()
            res = subprocess.run([self.path, "-p", pdu, "-iber", "-c", "-1", "-onull", f.name],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if res.returncode == 0:
            raise Failure("%s: %s accepted, but it breaks a constraint:\n  %s" %
                          (what, pdu, der.hex().upper()))


class Card:
    """The euicc-sim command line, one APDU line in, one line out."""

    def __init__(self, sim, card):
        self.name = os.path.basename(card)
        self.proc = subprocess.Popen([sim, "--card", card], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def apdu(self, hexline):
        self.proc.stdin.write(hexline + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise Failure("%s: euicc-sim ended early" % self.name)
        return bytes.fromhex(line.strip())

    def close(self):
        self.proc.stdin.close()
        self.proc.stdout.close()
        if self.proc.wait(timeout=30) != 0:
            raise Failure("%s: euicc-sim exited with %d" % (self.name, self.proc.returncode))

    def open_isdr(self, aids):
        resp = self.apdu("0070000001")
        if resp[-2:] != b"\x90\x00":
            raise Failure("%s: MANAGE CHANNEL answered %s" % (self.name, resp.hex()))
        self.channel = resp[0]
        for aid in aids:
            cla = "%02X" % self.cla(0x00)
            resp = self.apdu(cla + "A40400%02X%s00" % (len(aid) // 2, aid))
            if resp[-2] == 0x61 or resp[-2:] == b"\x90\x00":
                self.fetch(resp)
                return True
        return False

    def cla(self, base):
        ch = self.channel
        return base | ch if ch < 4 else base | 0x40 | (ch - 4)

    def fetch(self, resp):
        data = resp[:-2]
        while resp[-2] == 0x61:
            resp = self.apdu("%02XC00000%02X" % (self.cla(0x00), resp[-1]))
            data += resp[:-2]
        if resp[-2:] != b"\x90\x00":
            raise Failure("%s: status %s" % (self.name, resp[-2:].hex().upper()))
        return data

    def es10(self, command):
        """STORE DATA in blocks of up to 120 bytes, then GET RESPONSE."""
        blocks = [command[i:i + 120] for i in range(0, len(command), 120)]
        for n, block in enumerate(blocks):
            last = n == len(blocks) - 1
            resp = self.apdu("%02XE2%02X%02X%02X%s%s" %
                             (self.cla(0x80), 0x91 if last else 0x11, n, len(block),
                              block.hex().upper(), "00" if last else ""))
            if not last and resp != b"\x90\x00":
                raise Failure("%s: STORE DATA block %d answered %s" %
                              (self.name, n, resp.hex()))
        return self.fetch(resp)


def card_iccids(path):
    iccids = []
    section = None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[profile]" and line.startswith("iccid "):
                iccids.append(line.split()[1])
    return iccids


def card_aids(path):
    aids = []
    gsma = True
    plain = False
    with open(path) as f:
        for line in f:
            words = line.split()
            if line.startswith("[") and len(words) == 1:
                break
            if len(words) == 2 and words[0] == "isdr-aid":
                aids.append(words[1].upper())
            if words == ["gsma-isdr", "no"]:
                gsma = False
            if words == ["type", "plain"]:
                plain = True
    return ([ISDR_AID] if gsma else []) + aids, plain


def exercise(decoder, card, iccids):
    """Every ES10 command with its request and response PDU types."""
    checked = 0

    def run(req_pdu, request, resp_pdu, what):
        nonlocal checked
        decoder.check(req_pdu, request, "%s %s request" % (card.name, what))
        der = card.es10(request)
        decoder.check(resp_pdu, der, "%s %s" % (card.name, what))
        checked += 2
        return der

    run("EuiccConfiguredAddressesRequest", tlv("BF3C", b""), "EuiccConfiguredAddressesResponse",
        "GetEuiccConfiguredAddresses")
    run("GetEuiccInfo1Request", tlv("BF20", b""), "EUICCInfo1", "GetEUICCInfo1")
    run("GetEuiccInfo2Request", tlv("BF22", b""), "EUICCInfo2", "GetEUICCInfo2")
    run("GetEuiccDataRequest", tlv("BF3E", tlv("5C", b"\x5A")), "GetEuiccDataResponse", "GetEID")
    run("GetRatRequest", tlv("BF43", b""), "GetRatResponse", "GetRAT")
    run("ProfileInfoListRequest", tlv("BF2D", b""), "ProfileInfoListResponse",
        "GetProfilesInfo")
    run("ProfileInfoListRequest", tlv("BF2D", tlv("5C", bytes.fromhex("5A4F9F70929593"))),
        "ProfileInfoListResponse", "GetProfilesInfo with tagList")
    run("ProfileInfoListRequest", tlv("BF2D", tlv("A0", tlv("95", b"\x02"))),
        "ProfileInfoListResponse", "GetProfilesInfo of operational profiles")
    for iccid in iccids:
        run("ProfileInfoListRequest", tlv("BF2D", tlv("A0", tlv("5A", iccid_bcd(iccid)))),
            "ProfileInfoListResponse", "GetProfilesInfo of %s" % iccid)
        run("SetNicknameRequest", tlv("BF29", tlv("5A", iccid_bcd(iccid)) +
                                      tlv("90", "Nick ✓".encode())),
            "SetNicknameResponse", "SetNickname")
    run("SetNicknameRequest", tlv("BF29", tlv("5A", iccid_bcd("89000000000000000000")) +
                                  tlv("90", b"x")), "SetNicknameResponse",
        "SetNickname of an unknown ICCID")
    # Switch every profile on and off, then delete them: all notifications.
    for iccid in iccids:
        ident = tlv("A0", tlv("5A", iccid_bcd(iccid))) + tlv("81", b"\xFF")
        run("EnableProfileRequest", tlv("BF31", ident), "EnableProfileResponse", "EnableProfile")
        run("DisableProfileRequest", tlv("BF32", ident), "DisableProfileResponse",
            "DisableProfile")
    run("EnableProfileRequest", tlv("BF31", tlv("A0", tlv("4F", bytes.fromhex("A000000559101"
                                                                            "0FFFFFFFF89"))) +
                                    tlv("81", b"\x00")), "EnableProfileResponse",
        "EnableProfile of an unknown AID")
    for iccid in iccids:
        run("DeleteProfileRequest", tlv("BF33", tlv("5A", iccid_bcd(iccid))),
            "DeleteProfileResponse", "DeleteProfile")
    listed = run("ListNotificationRequest", tlv("BF28", b""), "ListNotificationResponse",
                 "ListNotification")
    run("ListNotificationRequest", tlv("BF28", tlv("81", b"\x05\x60")),
        "ListNotificationResponse", "ListNotification of enable and disable")
    run("RetrieveNotificationsListRequest", tlv("BF2B", b""),
        "RetrieveNotificationsListResponse", "RetrieveNotificationsList")
    run("RetrieveNotificationsListRequest", tlv("BF2B", tlv("A0", tlv("81", b"\x04\x10"))),
        "RetrieveNotificationsListResponse", "RetrieveNotificationsList of delete")
    seqs = []
    for _, lst in parse_tlvs(listed):
        for tag, body in parse_tlvs(lst):
            if tag == "A0":
                for _, meta in parse_tlvs(body):
                    seqs += [int.from_bytes(v, "big") for t, v in parse_tlvs(meta) if t == "80"]
    for seq in seqs + [9999]:
        enc = seq.to_bytes(max(1, (seq.bit_length() + 8) // 8), "big")
        run("RetrieveNotificationsListRequest", tlv("BF2B", tlv("A0", tlv("80", enc))),
            "RetrieveNotificationsListResponse", "RetrieveNotificationsList seq %d" % seq)
        run("NotificationSentRequest", tlv("BF30", tlv("80", enc)), "NotificationSentResponse",
            "RemoveNotificationFromList seq %d" % seq)
    run("SetDefaultDpAddressRequest", tlv("BF3F", tlv("80", b"smdp2.example.net")),
        "SetDefaultDpAddressResponse", "SetDefaultDpAddress")
    run("EuiccConfiguredAddressesRequest", tlv("BF3C", b""), "EuiccConfiguredAddressesResponse",
        "GetEuiccConfiguredAddresses after setting")
    run("EuiccMemoryResetRequest", tlv("BF34", tlv("82", b"\x05\xE0")),
        "EuiccMemoryResetResponse", "eUICCMemoryReset")
    run("EuiccMemoryResetRequest", tlv("BF34", tlv("82", b"\x05\xE0")),
        "EuiccMemoryResetResponse", "eUICCMemoryReset with nothing left")
    return checked


def issue_check(decoder, sim, cards):
    """MANAGE CHANNEL, SELECT ISD-R, STORE DATA BF2D00 on three-profiles.card."""
    card = Card(sim, os.path.join(cards, "three-profiles.card"))
    try:
        if not card.open_isdr([ISDR_AID]):
            raise Failure("three-profiles.card: the ISD-R does not answer")
        resp = card.apdu("%02XE2910003BF2D00" % card.cla(0x80))
        der = card.fetch(resp)
        decoder.check("ProfileInfoListResponse", der, "three-profiles.card BF2D00")
        if der.count(b"\xE3") < 3 or not der.startswith(b"\xBF\x2D"):
            raise Failure("three-profiles.card: BF2D00 did not list three profiles")
    finally:
        card.close()
    print("ok: three-profiles.card answers BF2D00 with a strict-DER ProfileInfoListResponse")


def cli_contract_check(decoder, sim, cards):
    """The command line's own promises: comments, blanks, spaced hex, drops."""
    script = ("# open a channel\n"
              "00 70 00 00 01\n"
              "\n"
              "01A4040C10" + ISDR_AID + "\n"
              "81E2910006BF3E035C015A00\n"
              "81E2910006BF3E035C015A00\n")
    res = subprocess.run([sim, "--card", os.path.join(cards, "three-profiles.card"),
                          "--fault", "drop:BF3E@1"], input=script, text=True,
                         stdout=subprocess.PIPE, timeout=30)
    lines = res.stdout.split("\n")
    if res.returncode != 0 or len(lines) != 5 or lines[:3] != ["019000", "9000", ""] or \
            not lines[3].startswith("BF3E125A10") or not lines[3].endswith("9000"):
        raise Failure("euicc-sim command line: unexpected output %r" % res.stdout)
    print("ok: the command line answers one line per command, empty for a dropped one")


def size_check(decoder):
    """SIZE constraints of derived types hold: the asn1c hole stays closed."""
    nick = tlv("90", b"x")
    good = tlv("BF29", tlv("5A", iccid_bcd("89014103211118510720")) + nick)
    decoder.check("SetNicknameRequest", good, "10-byte ICCID")
    for n in (9, 11):
        decoder.rejects("SetNicknameRequest", tlv("BF29", tlv("5A", b"\x98" * n) + nick),
                        "%d-byte ICCID" % n)
    txid = tlv("80", bytes(range(1, 17)))
    decoder.check("CancelSessionRequest", tlv("BF41", txid + tlv("81", b"\x01")),
                  "16-byte transactionId")
    decoder.rejects("CancelSessionRequest", tlv("BF41", tlv("80", bytes(17)) + tlv("81", b"\x01")),
                    "17-byte transactionId")
    decoder.rejects("GetEuiccChallengeResponse", tlv("BF2E", tlv("80", bytes(15))),
                    "15-byte euiccChallenge")
    # The Bound Profile Package's element tags: '87' passes, a bare OCTET STRING fails.
    isc = tlv("BF23", tlv("82", b"\x01") + tlv("80", b"\x01") +
              tlv("A6", tlv("80", b"\x88") + tlv("81", b"\x10") + tlv("84", b"\x01")) +
              tlv("5F49", b"\x04") + tlv("5F37", b"\x05"))
    rest = tlv("A1", tlv("88", b"\x02")) + tlv("A3", tlv("86", b"\x03"))
    decoder.check("BoundProfilePackage", tlv("BF36", isc + tlv("A0", tlv("87", b"\x01")) + rest),
                  "BPP with '87'")
    decoder.rejects("BoundProfilePackage", tlv("BF36", isc + tlv("A0", tlv("04", b"\x01")) + rest),
                    "BPP with '04' for '87'")
    print("ok: SIZE constraints of derived types are checked (a 9-byte ICCID fails)")
    print("ok: the tags of SEQUENCE OF elements are checked (BPP '87', '88', '86')")


def samples_check(decoder, samples, cache):
    """The download commands from the codec's encoders (and answers its decoders take)."""
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        key = os.path.join(tmp, "key.pem")
        cert = os.path.join(tmp, "cert.der")
        # asn1c reads INTEGER into a C long: a 20-byte random serial number
        # (openssl's default) would not decode, so the serial is 1.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=esimd test",
                        "-days", "1", "-set_serial", "1", "-keyout", key, "-outform", "DER",
                        "-out", cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        res = subprocess.run([samples, cert], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    if res.returncode != 0:
        raise Failure("es10-samples: %s" % res.stderr.strip())
    n = 0
    for line in res.stdout.splitlines():
        pdu, hexder, label = line.split(" ", 2)
        decoder.check(pdu, bytes.fromhex(hexder), "es10-samples " + label)
        n += 1
    if n != 23:
        raise Failure("es10-samples printed %d values, not 23" % n)
    print("ok: es10-samples, %d download values strict DER" % n)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--asn1c", required=True)
    ap.add_argument("--cc", required=True, nargs="+")
    ap.add_argument("--euicc-sim", required=True)
    ap.add_argument("--cards", required=True)
    ap.add_argument("--asn1-dir", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--samples", required=True)
    args = ap.parse_args()

    decoder = Decoder(args.asn1c, args.cc, args.asn1_dir, args.cache)
    failures = 0
    for check in (issue_check, cli_contract_check):
        try:
            check(decoder, args.euicc_sim, args.cards)
        except Failure as e:
            print("FAIL:", e)
            failures += 1
    for check in (lambda: size_check(decoder),
                  lambda: samples_check(decoder, args.samples, args.cache)):
        try:
            check()
        except Failure as e:
            print("FAIL:", e)
            failures += 1
    for name in sorted(os.listdir(args.cards)):
        if not name.endswith(".card"):
            continue
        path = os.path.join(args.cards, name)
        aids, plain = card_aids(path)
        card = Card(args.euicc_sim, path)
        try:
            reached = card.open_isdr(aids)
            if plain:
                if reached:
                    raise Failure("%s: a plain SIM answered the ISD-R SELECT" % name)
                print("ok: %s refuses the ISD-R" % name)
            elif not reached:
                raise Failure("%s: no ISD-R AID answers" % name)
            else:
                n = exercise(decoder, card, card_iccids(path))
                print("ok: %s, %d values strict DER" % (name, n))
        except Failure as e:
            print("FAIL:", e)
            failures += 1
        finally:
            try:
                card.close()
            except Failure as e:
                print("FAIL:", e)
                failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
