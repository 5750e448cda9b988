#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""smdp-sim as an SM-DP+ and SM-DS: a whole profile download (SGP.22 3.1.3)
and an event retrieval (3.6.2) over real HTTPS, with the eUICC played by a
small card written here from the spec (its own DER, its own SCP03t unwrap),
so that every signature, key and MAC the simulator makes is checked by a
second implementation; and every fault knob and refusal.

Usage: test-smdp-download.py SMDP_SIM MKPKI   (OPENSSL may name openssl)
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

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import cmac, hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

TIMEOUT_S = 20
ADDRESS = "smdp.example.com"
EID = "89049032123451234512345678901235"
HEADERS = {"Content-Type": "application/json;charset=UTF-8",
           "X-Admin-Protocol": "gsma/rsp/v2.2.0", "User-Agent": "gsma-rsp-lpad"}

PROFILES = {
    "profiles": {
        "MID-PLAIN": {"iccid": "8949449999999990023", "name": "Plain test profile",
                      "service-provider": "esimd Mobile", "class": "operational",
                      "owner": "26201"},
        "MID-CC": {"iccid": "8949449999999990031", "name": "Needs a code",
                   "service-provider": "esimd Mobile", "class": "test", "owner": "310260",
                   "cc": "12345678"},
        "MID-BIG": {"iccid": "8949449999999990056", "name": "Large", "extra-bytes": 3000},
        "MID-PPK": {"iccid": "8949449999999990072", "name": "Protected", "ppk": True},
        "MID-RETRY": {"iccid": "8949449999999990080", "name": "Retried"},
        "MID-OTHER-EID": {"iccid": "8949449999999990049", "name": "Someone else's",
                          "eid": "89049032123451234512345678901299"},
    },
    "events": {EID: [{"address": "smdp.example.net", "event-id": "EVENT-1"},
                     ["rsp.example.net", "EVENT-2"]]},
}


# ---------------------------------------------------------------------------
# DER, written again here so the simulator's encoder is checked by another

def enc(tag, value):
    t = tag.to_bytes((tag.bit_length() + 7) // 8, "big")
    n = len(value)
    if n < 0x80:
        return t + bytes([n]) + value
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return t + bytes([0x80 | len(raw)]) + raw + value


def dec(buf):
    """All TLVs in buf: list of (tag, value, whole tlv). Strict lengths."""
    out, pos = [], 0
    while pos < len(buf):
        start = pos
        tag = buf[pos]
        pos += 1
        if tag & 0x1F == 0x1F:
            while True:
                tag = (tag << 8) | buf[pos]
                pos += 1
                if not buf[pos - 1] & 0x80:
                    break
        first = buf[pos]
        pos += 1
        if first & 0x80:
            n = first & 0x7F
            length = int.from_bytes(buf[pos:pos + n], "big")
            assert n and length >= 0x80 and buf[pos] != 0, "length not minimal DER"
            pos += n
        else:
            length = first
        assert pos + length <= len(buf), f"tag {tag:X} runs past its parent"
        out.append((tag, buf[pos:pos + length], buf[start:pos + length]))
        pos += length
    return out


def one(buf, tag):
    items = dec(buf)
    assert len(items) == 1 and items[0][0] == tag, \
        f"want one {tag:X}, got {[hex(t) for t, _, _ in items]}"
    return items[0][1]


def fields(value):
    return {t: v for t, v, _ in dec(value)}


def bcd_iccid(digits):
    digits += "F" * (20 - len(digits))
    return bytes(int(digits[i + 1] + digits[i], 16) for i in range(0, 20, 2))


def iccid_digits(raw):
    return "".join(f"{b & 0xF:X}{b >> 4:X}" for b in raw).rstrip("F")


def oid_bytes(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1]] + arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.insert(0, 0x80 | (arc & 0x7F))
        out += bytes(chunk)
    return bytes(out)


# ---------------------------------------------------------------------------
# A minimal eUICC: ES10b as SGP.22 5.7 describes it, enough for one download

def raw_sig(key, data):
    r, s = utils.decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def check_raw_sig(pub, sig, data):
    assert len(sig) == 64, f"signature of {len(sig)} bytes, SGP.22 wants r||s (64)"
    pub.verify(utils.encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                          int.from_bytes(sig[32:], "big")),
               data, ec.ECDSA(hashes.SHA256()))


def check_issued(cert, issuer):
    issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                               ec.ECDSA(cert.signature_hash_algorithm))
    assert cert.issuer == issuer.subject


class MiniCard:
    def __init__(self, pki):
        def load(name):
            with open(os.path.join(pki, name + ".pem"), "rb") as f:
                return x509.load_pem_x509_certificate(f.read())
        self.ci, self.eum, self.euicc = load("ci"), load("eum"), load("euicc")
        with open(os.path.join(pki, "euicc.key"), "rb") as f:
            self.key = serialization.load_pem_private_key(f.read(), None)
        with open(os.path.join(pki, "ci-pkid.hex"), encoding="ascii") as f:
            self.pkid = bytes.fromhex(f.read().strip())
        self.eid = self.euicc.subject.get_attributes_for_oid(
            x509.NameOID.SERIAL_NUMBER)[0].value
        self.challenge = None

    def der(self, cert):
        return cert.public_bytes(serialization.Encoding.DER)

    def info1(self):
        """EUICCInfo1 (BF20): SVN 2.2.0 and the CI PKID for both lists."""
        ids = enc(0x04, self.pkid)
        return enc(0xBF20, enc(0x82, b"\x02\x02\x00") + enc(0xA9, ids) + enc(0xAA, ids))

    def get_challenge(self):
        self.challenge = os.urandom(16)
        return self.challenge

    def authenticate_server(self, r, matching_id, address=ADDRESS):
        """ES10b.AuthenticateServer (5.7.13): check the server, sign back."""
        signed1 = base64.b64decode(r["serverSigned1"])
        sig1 = one(base64.b64decode(r["serverSignature1"]), 0x5F37)
        cert = x509.load_der_x509_certificate(base64.b64decode(r["serverCertificate"]))
        assert one(base64.b64decode(r["euiccCiPKIdToBeUsed"]), 0x04) == self.pkid
        check_issued(cert, self.ci)
        policies = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
        self.server_role = policies[0].policy_identifier.dotted_string
        check_raw_sig(cert.public_key(), sig1, signed1)
        f = fields(one(signed1, 0x30))
        assert f[0x81] == self.challenge, "euiccChallenge not echoed"
        assert f[0x83].decode() == address, f"serverAddress {f[0x83]!r}"
        assert f[0x80].hex().upper() == r["transactionId"], "transactionId differs"
        self.tid = f[0x80]
        self.server_oid = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.RegisteredID)[0]
        ctx = (enc(0x80, matching_id.encode()) if matching_id is not None else b"") \
            + enc(0xA1, enc(0x80, b"\x35\x29\x06\x11") + enc(0xA1, b""))
        info2 = enc(0xBF22, enc(0x81, b"\x02\x03\x01") + enc(0x82, b"\x02\x02\x00"))
        signed = enc(0x30, enc(0x80, self.tid) + enc(0x83, f[0x83]) + enc(0x84, f[0x84])
                     + info2 + enc(0xA0, ctx))
        self.sig1 = enc(0x5F37, raw_sig(self.key, signed))
        return enc(0xBF38, enc(0xA0, signed + self.sig1 + self.der(self.euicc)
                               + self.der(self.eum)))

    def prepare_download(self, r, cc=None):
        """ES10b.PrepareDownload (5.7.5)."""
        signed2 = base64.b64decode(r["smdpSigned2"])
        sig2_tlv = base64.b64decode(r["smdpSignature2"])
        cert = x509.load_der_x509_certificate(base64.b64decode(r["smdpCertificate"]))
        check_issued(cert, self.ci)
        check_raw_sig(cert.public_key(), one(sig2_tlv, 0x5F37), signed2 + self.sig1)
        self.dppb = cert
        f = fields(one(signed2, 0x30))
        assert f[0x80] == self.tid
        self.cc_required = f[0x01] == b"\xFF"
        self.reused = 0x5F49 in f and getattr(self, "otpk", None) == f[0x5F49]
        if not self.reused:  # bppEuiccOtpk names the key pair this card still has
            self.otsk = ec.generate_private_key(ec.SECP256R1())
            self.otpk = self.otsk.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        body = enc(0x80, self.tid) + enc(0x5F49, self.otpk)
        if cc is not None:
            h = hashlib.sha256(hashlib.sha256(cc.encode()).digest() + self.tid).digest()
            body += enc(0x04, h)
        signed = enc(0x30, body)
        return enc(0xBF21, enc(0xA0, signed + enc(0x5F37, raw_sig(self.key, signed + sig2_tlv))))

    def load_bpp(self, bpp):
        """ES8+ through ES10b.LoadBoundProfilePackage (2.5.5, 5.5): verify
        smdpSign, derive the session keys, check every MAC, decrypt."""
        parts = dec(one(bpp, 0xBF36))
        tags = [p[0] for p in parts]
        assert tags in ([0xBF23, 0xA0, 0xA1, 0xA3], [0xBF23, 0xA0, 0xA1, 0xA2, 0xA3]), \
            f"BPP parts {[hex(t) for t in tags]}"
        isc = dec(parts[0][1])
        assert [t for t, _, _ in isc] == [0x82, 0x80, 0xA6, 0x5F49, 0x5F37]
        assert isc[0][1] == b"\x01" and isc[1][1] == self.tid
        signed = b"".join(w for _, _, w in isc[:4])
        check_raw_sig(self.dppb.public_key(), isc[4][1], signed + enc(0x5F49, self.otpk))
        crt = fields(isc[2][1])
        assert crt[0x80] == b"\x88" and crt[0x81] == b"\x10"
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), isc[3][1])
        shs = self.otsk.exchange(ec.ECDH(), peer)
        host = crt[0x84]
        eid = bytes.fromhex(self.eid)
        info = b"\x88\x10" + bytes([len(host)]) + host + bytes([len(eid)]) + eid
        keys = X963KDF(hashes.SHA256(), 48, info).derive(shs)
        self.mcv, s_enc, s_mac = keys[:16], keys[16:32], keys[32:]
        self.counter = 1
        out = {}
        steps = [(parts[1], 0x87, True, "configureIsdp"), (parts[2], 0x88, False, "metadata")]
        if tags[3] == 0xA2:
            steps.append((parts[3], 0x87, True, "replaceSessionKeys"))
        steps.append((parts[-1], 0x86, True, "elements"))
        for (tag, value, _), seg_tag, encrypted, name in steps:
            if name == "elements" and "replaceSessionKeys" in out:
                # SGP.22 5.5.4: the PPKs and their chaining value take over,
                # the block counter starts again.
                rsk = fields(one(out["replaceSessionKeys"], 0xBF26))
                self.mcv, s_enc, s_mac = rsk[0x80], rsk[0x81], rsk[0x82]
                self.counter = 1
            plain = b""
            segments = dec(value)
            assert segments, f"no segments in {name}"
            for stag, svalue, whole in segments:
                assert stag == seg_tag and len(whole) <= 1020, f"{name}: {stag:X} {len(whole)}"
                c = cmac.CMAC(algorithms.AES(s_mac))
                c.update(self.mcv + whole[:len(whole) - len(svalue)] + svalue[:-8])
                full = c.finalize()
                assert full[:8] == svalue[-8:], \
                    f"{name}: C-MAC of segment {self.counter} is wrong"
                self.mcv = full
                data = svalue[:-8]
                if encrypted:
                    ecb = Cipher(algorithms.AES(s_enc), modes.ECB()).encryptor()
                    icv = ecb.update(self.counter.to_bytes(16, "big")) + ecb.finalize()
                    d = Cipher(algorithms.AES(s_enc), modes.CBC(icv)).decryptor()
                    data = (d.update(data) + d.finalize()).rstrip(b"\x00")
                    assert data.endswith(b"\x80"), f"{name}: bad padding"
                    data = data[:-1]
                self.counter += 1
                plain += data
            out[name] = plain
        return out

    def cancel_session(self, reason):
        signed = enc(0x30, enc(0x80, self.tid) + enc(0x81, oid_bytes(self.server_oid.dotted_string))
                     + enc(0x82, bytes([reason])))
        return enc(0xBF41, enc(0xA0, signed + enc(0x5F37, raw_sig(self.key, signed))))

    def install_result(self, iccid, address, seq=1, success=True):
        """ProfileInstallationResult (BF37) as a PendingNotification."""
        meta = enc(0xBF2F, enc(0x80, bytes([seq])) + enc(0x81, b"\x07\x80")
                   + enc(0x0C, address.encode()) + enc(0x5A, bcd_iccid(iccid)))
        final = enc(0xA0, enc(0x4F, bytes.fromhex("A0000005591010FFFFFFFF8900001000"))
                    + enc(0x04, b"")) if success else \
            enc(0xA1, enc(0x02, b"\x05") + enc(0x02, b"\x08"))
        data = enc(0xBF27, enc(0x80, self.tid) + meta
                   + enc(0x06, oid_bytes(self.server_oid.dotted_string)) + enc(0xA2, final))
        return enc(0xBF37, data + enc(0x5F37, raw_sig(self.key, data)))


# ---------------------------------------------------------------------------
# The LPA side: HTTPS to 127.0.0.1, the certificate checked as ADDRESS

class Sim:
    def __init__(self, binary, pki, log, *extra):
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--pki", pki, "--log", log] + list(extra),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        words = self.readline().split()
        if len(words) != 3 or words[0] != "LISTEN":
            self.proc.kill()
            raise AssertionError(f"no LISTEN line: {words} {self.proc.stderr.read()!r}")
        self.port = int(words[2])
        self.log = log

    def readline(self):
        if not self.sel.select(TIMEOUT_S):
            raise AssertionError("smdp-sim said nothing within the timeout")
        return self.proc.stdout.readline()

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.readline().strip()
        assert reply.startswith("OK "), reply
        return json.loads(reply[3:])

    def lines(self):
        with open(self.log, encoding="utf-8") as f:
            return [json.loads(l) for l in f if l.strip()]

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
        self.proc.stderr.close()
        return self.proc.returncode


class Connection(http.client.HTTPSConnection):
    def __init__(self, port, ctx, name=ADDRESS):
        super().__init__(name, port, context=ctx, timeout=TIMEOUT_S)

    def connect(self):
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class Lpa:
    def __init__(self, w, sim=None, service="es9plus"):
        self.w, self.sim, self.service = w, sim or w.sim, service
        self.calls = 0
        self.sim_name = ADDRESS  # the name TLS checks the certificate against

    def call(self, function, body, expect_ok=True):
        self.calls += 1
        body = dict(body, header={"functionRequesterIdentifier": "esimd-test",
                                  "functionCallIdentifier": f"call-{self.calls}"})
        conn = Connection(self.sim.port, self.w.ctx, self.sim_name)
        try:
            conn.request("POST", f"/gsma/rsp2/{self.service}/{function}",
                         body=json.dumps(body).encode(), headers=HEADERS)
            r = conn.getresponse()
            status, data = r.status, r.read()
        finally:
            conn.close()
        if status != 200:
            raise HttpStatus(status, data)
        reply = json.loads(data)
        fes = reply["header"]["functionExecutionStatus"]
        if expect_ok:
            assert fes["status"] == "Executed-Success", f"{function}: {fes}"
        return reply

    def authenticate(self, card, matching_id, address=ADDRESS):
        r = self.call("initiateAuthentication", {
            "euiccChallenge": b64(card.get_challenge()), "euiccInfo1": b64(card.info1()),
            "smdpAddress": address})
        asr = card.authenticate_server(r, matching_id, address)
        return self.call("authenticateClient", {"transactionId": r["transactionId"],
                                                "authenticateServerResponse": b64(asr)},
                         expect_ok=False)

    def get_bpp(self, card, auth, cc=None, expect_ok=True):
        pdr = card.prepare_download(auth, cc)
        return self.call("getBoundProfilePackage", {"transactionId": auth["transactionId"],
                                                    "prepareDownloadResponse": b64(pdr)},
                         expect_ok=expect_ok)


class HttpStatus(Exception):
    pass


def b64(data):
    return base64.b64encode(data).decode()


def status_code(reply):
    fes = reply["header"]["functionExecutionStatus"]
    if fes["status"] != "Failed":
        return fes["status"]
    d = fes["statusCodeData"]
    return f"{d['subjectCode']}/{d['reasonCode']}"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def last(sim, function):
    lines = [l for l in sim.lines() if l.get("function") == function]
    check(lines, f"no log line for {function}")
    return lines[-1]


# ---------------------------------------------------------------------------
# Tests

def test_whole_download_binds_a_profile_the_card_can_open(w):
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    auth = lpa.authenticate(card, "MID-PLAIN")
    check(status_code(auth) == "Executed-Success", f"authenticateClient {status_code(auth)}")
    check(card.server_role == "2.23.146.1.2.1.4", f"server cert role {card.server_role}")
    meta = fields(one(base64.b64decode(auth["profileMetadata"]), 0xBF25))
    check(iccid_digits(meta[0x5A]) == "8949449999999990023", f"metadata iccid {meta[0x5A]!r}")
    check(meta[0x91] == b"esimd Mobile" and meta[0x92] == b"Plain test profile",
          f"metadata names {meta[0x91]!r} {meta[0x92]!r}")
    check(meta[0x95] == b"\x02", f"class {meta[0x95]!r}")
    check(fields(meta[0xB7])[0x80] == bytes.fromhex("62F210"), f"owner {meta[0xB7].hex()}")
    # NotificationConfigurationInformation: automatic tags 80 (install and
    # delete, bits 0 and 3) and 81 (the address)
    nci = fields(one(meta[0xB6], 0x30))
    check(nci == {0x80: b"\x04\x90", 0x81: ADDRESS.encode()}, f"notification config {nci}")
    bpp_reply = lpa.get_bpp(card, auth)
    bpp = base64.b64decode(bpp_reply["boundProfilePackage"])
    got = card.load_bpp(bpp)
    check(got["metadata"] == base64.b64decode(auth["profileMetadata"]),
          "the BPP's StoreMetadata differs from the metadata authenticateClient gave")
    configure = fields(one(got["configureIsdp"], 0xBF24))
    check(0xB8 in configure, f"ConfigureISDP {got['configureIsdp'].hex()}")
    elements = dec(got["elements"])
    check(elements[0][0] == 0xA0 and elements[-1][0] == 0xAA,
          f"profile elements {[hex(t) for t, _, _ in elements]}")
    header = fields(elements[0][1])
    check(iccid_digits(header[0x83]) == "8949449999999990023", "header PE iccid differs")
    entry = last(w.sim, "es9plus/getBoundProfilePackage")
    check(entry["result"] == "ok" and entry["iccid"] == "8949449999999990023"
          and entry["eid"] == EID and entry["matchingId"] == "MID-PLAIN"
          and entry["bppSha256"] == hashlib.sha256(bpp).hexdigest(), f"log {entry}")
    # The card's install notification goes back and the SM-DP+ checks its signature.
    pir = card.install_result("8949449999999990023", ADDRESS)
    conn = Connection(w.sim.port, w.ctx)
    conn.request("POST", "/gsma/rsp2/es9plus/handleNotification",
                 body=json.dumps({"pendingNotification": b64(pir)}).encode(), headers=HEADERS)
    check(conn.getresponse().status == 204, "install notification refused")
    conn.close()
    note = last(w.sim, "es9plus/handleNotification")
    check(note["installResult"] == {"transactionId": card.tid.hex().upper(),
                                    "signatureValid": True, "finalResult": "success"},
          f"installResult {note['installResult']}")


def test_big_profile_is_cut_into_segments_that_each_fit(w):
    # Segment boundaries are where the MAC chain and the ICV counter of both
    # sides must agree: a 3000-byte element crosses several 86 segments.
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    auth = lpa.authenticate(card, "MID-BIG")
    bpp = base64.b64decode(lpa.get_bpp(card, auth)["boundProfilePackage"])
    got = card.load_bpp(bpp)
    entry = last(w.sim, "es9plus/getBoundProfilePackage")
    check(entry["segments"]["86"] >= 5, f"segments {entry['segments']}")
    sizes = [len(e) for _, _, e in dec(got["elements"])]
    check(any(n > 3000 for n in sizes), f"element sizes {sizes}")


def test_protected_profile_package_replaces_the_session_keys(w):
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    auth = lpa.authenticate(card, "MID-PPK")
    got = card.load_bpp(base64.b64decode(lpa.get_bpp(card, auth)["boundProfilePackage"]))
    rsk = fields(one(got["replaceSessionKeys"], 0xBF26))
    check(sorted(rsk) == [0x80, 0x81, 0x82] and all(len(v) == 16 for v in rsk.values()),
          f"ReplaceSessionKeysRequest {got['replaceSessionKeys'].hex()}")
    header = fields(dec(got["elements"])[0][1])
    check(iccid_digits(header[0x83]) == "8949449999999990072", "PPK profile header")
    check(last(w.sim, "es9plus/getBoundProfilePackage")["segments"].get("87b") == 1,
          "log does not show the A2 segment")


def test_confirmation_code_missing_wrong_then_right(w):
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    auth = lpa.authenticate(card, "MID-CC")
    check(fields(one(base64.b64decode(auth["smdpSigned2"]), 0x30))[0x01] == b"\xFF",
          "ccRequiredFlag not set")
    r = lpa.get_bpp(card, auth, None, expect_ok=False)
    check(status_code(r) == "8.2.7/2.2", f"no code: {status_code(r)}")
    r = lpa.get_bpp(card, auth, "87654321", expect_ok=False)
    check(status_code(r) == "8.2.7/3.8", f"wrong code: {status_code(r)}")
    r = lpa.get_bpp(card, auth, "12345678")
    got = card.load_bpp(base64.b64decode(r["boundProfilePackage"]))
    check(iccid_digits(fields(one(got["metadata"], 0xBF25))[0x5A]) == "8949449999999990031",
          "cc profile iccid")


def test_confirmation_code_retries_run_out(w):
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    auth = lpa.authenticate(card, "MID-CC")
    codes = [status_code(lpa.get_bpp(card, auth, "0000", expect_ok=False)) for _ in range(3)]
    check(codes == ["8.2.7/3.8", "8.2.7/3.8", "8.2.7/6.4"], f"codes {codes}")
    r = lpa.get_bpp(card, auth, "12345678", expect_ok=False)
    check(status_code(r) == "8.10.1/3.9", f"after the last try: {status_code(r)}")


def test_refuse_cc_knob_refuses_the_right_code(w):
    w.sim.command("refuse-cc 1")
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    auth = lpa.authenticate(card, "MID-CC")
    r = lpa.get_bpp(card, auth, "12345678", expect_ok=False)
    check(status_code(r) == "8.2.7/3.8", f"forced refusal: {status_code(r)}")
    lpa.get_bpp(card, auth, "12345678")


def test_unknown_and_refused_matching_ids(w):
    lpa = Lpa(w)
    r = lpa.authenticate(MiniCard(w.pki), "NO-SUCH-ID")
    check(status_code(r) == "8.2.6/3.8", f"unknown id: {status_code(r)}")
    state = w.sim.command("refuse-matching-id MID-PLAIN")
    check(state["refuse_matching_id"] == "MID-PLAIN", f"state {state}")
    r = lpa.authenticate(MiniCard(w.pki), "MID-PLAIN")
    check(status_code(r) == "8.2.6/3.8", f"refused id: {status_code(r)}")
    entry = last(w.sim, "es9plus/authenticateClient")
    check(entry["result"] == "failed" and entry["matchingId"] == "MID-PLAIN", f"log {entry}")
    w.sim.command("refuse-matching-id off")
    r = lpa.authenticate(MiniCard(w.pki), "MID-PLAIN")
    check(status_code(r) == "Executed-Success", f"after off: {status_code(r)}")


def test_profile_for_another_eid_is_refused(w):
    r = Lpa(w).authenticate(MiniCard(w.pki), "MID-OTHER-EID")
    check(status_code(r) == "8.1.1/3.8", f"other EID: {status_code(r)}")


def test_forged_euicc_signature_is_refused(w):
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    r = lpa.call("initiateAuthentication", {
        "euiccChallenge": b64(card.get_challenge()), "euiccInfo1": b64(card.info1()),
        "smdpAddress": ADDRESS})
    asr = bytearray(card.authenticate_server(r, "MID-PLAIN"))
    i = asr.index(card.sig1)
    asr[i + 10] ^= 0x01  # one bit of r
    r = lpa.call("authenticateClient", {"transactionId": r["transactionId"],
                                        "authenticateServerResponse": b64(bytes(asr))},
                 expect_ok=False)
    check(status_code(r) == "8.1/6.1", f"forged signature: {status_code(r)}")


def test_card_from_another_pki_is_refused(w):
    # A card whose EUM no CI of this SM-DP+ signed (but listing our PKID).
    card = MiniCard(w.other_pki)
    card.pkid = MiniCard(w.pki).pkid
    card.ci = MiniCard(w.pki).ci
    lpa = Lpa(w)
    r = lpa.call("initiateAuthentication", {
        "euiccChallenge": b64(card.get_challenge()), "euiccInfo1": b64(card.info1()),
        "smdpAddress": ADDRESS})
    asr = card.authenticate_server(r, "MID-PLAIN")
    r = lpa.call("authenticateClient", {"transactionId": r["transactionId"],
                                        "authenticateServerResponse": b64(asr)},
                 expect_ok=False)
    # Its EUM names a CI this SM-DP+ does not know (authorityKeyIdentifier).
    check(status_code(r) == "8.11.1/3.9", f"foreign EUM: {status_code(r)}")


def test_broken_certificate_signatures_are_refused(w):
    # The last byte of a certificate is inside its signature: the
    # certificate still parses, names the right issuer, and fails to verify.
    for which, want in (("eum", "8.1.2/6.1"), ("euicc", "8.1.3/6.1")):
        card = MiniCard(w.pki)
        target = getattr(card, which)
        plain_der = card.der

        def der(cert, target=target, plain_der=plain_der):
            raw = plain_der(cert)
            return raw[:-1] + bytes([raw[-1] ^ 1]) if cert is target else raw

        card.der = der
        lpa = Lpa(w)
        r = lpa.authenticate(card, "MID-PLAIN")
        check(status_code(r) == want, f"{which} with a broken signature: {status_code(r)}")


def test_card_without_our_ci_and_wrong_address_are_refused(w):
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    card.pkid = bytes(20)
    r = lpa.call("initiateAuthentication", {
        "euiccChallenge": b64(card.get_challenge()), "euiccInfo1": b64(card.info1()),
        "smdpAddress": ADDRESS}, expect_ok=False)
    check(status_code(r) == "8.8.2/3.1", f"unknown CI: {status_code(r)}")
    card = MiniCard(w.pki)
    r = lpa.call("initiateAuthentication", {
        "euiccChallenge": b64(card.get_challenge()), "euiccInfo1": b64(card.info1()),
        "smdpAddress": "smdp.example.org"}, expect_ok=False)
    check(status_code(r) == "8.8.1/3.8", f"wrong address: {status_code(r)}")


def test_steps_out_of_order_and_unknown_transactions(w):
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    r = lpa.call("initiateAuthentication", {
        "euiccChallenge": b64(card.get_challenge()), "euiccInfo1": b64(card.info1()),
        "smdpAddress": ADDRESS})
    card.authenticate_server(r, "MID-PLAIN")  # but never sent to authenticateClient
    pdr = enc(0xBF21, enc(0xA0, enc(0x30, enc(0x80, card.tid)
                                     + enc(0x5F49, b"\x04" + bytes(64)))
                         + enc(0x5F37, bytes(64))))
    r2 = lpa.call("getBoundProfilePackage", {"transactionId": r["transactionId"],
                                             "prepareDownloadResponse": b64(pdr)},
                  expect_ok=False)
    check(status_code(r2) == "8.10.1/3.9", f"BPP before authenticateClient: {status_code(r2)}")
    r3 = lpa.call("getBoundProfilePackage", {"transactionId": "00112233",
                                             "prepareDownloadResponse": b64(pdr)},
                  expect_ok=False)
    check(status_code(r3) == "8.10.1/3.9", f"unknown transaction: {status_code(r3)}")


def test_one_time_key_off_the_curve_is_refused(w):
    # A correctly signed PrepareDownloadResponse whose euiccOtpk is no point
    # of P-256: no BPP, a 400, and the server keeps serving.
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    auth = lpa.authenticate(card, "MID-PLAIN")
    signed = enc(0x30, enc(0x80, card.tid) + enc(0x5F49, b"\x04" + bytes(63) + b"\x07"))
    sig2 = base64.b64decode(auth["smdpSignature2"])
    pdr = enc(0xBF21, enc(0xA0, signed + enc(0x5F37, raw_sig(card.key, signed + sig2))))
    try:
        lpa.call("getBoundProfilePackage", {"transactionId": auth["transactionId"],
                                            "prepareDownloadResponse": b64(pdr)})
        raise AssertionError("a BPP for a point off the curve")
    except HttpStatus as e:
        check(e.args[0] == 400, f"status {e.args[0]}")
    card = MiniCard(w.pki)
    auth = lpa.authenticate(card, "MID-PLAIN")
    card.load_bpp(base64.b64decode(lpa.get_bpp(card, auth)["boundProfilePackage"]))


def test_expired_transaction(w):
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    auth = lpa.authenticate(card, "MID-PLAIN")
    state = w.sim.command("expire-next 1")
    check(state["expire_next"] == 1, f"state {state}")
    r = lpa.get_bpp(card, auth, expect_ok=False)
    check(status_code(r) == "8.10.1/3.9", f"expired: {status_code(r)}")
    entry = last(w.sim, "es9plus/getBoundProfilePackage")
    check("expired" in entry["statusCodeData"]["message"], f"log {entry}")
    r = lpa.get_bpp(card, auth, expect_ok=False)
    check(status_code(r) == "8.10.1/3.9", "an expired transaction came back")


def test_cancel_session_is_verified_and_recorded(w):
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    auth = lpa.authenticate(card, "MID-PLAIN")
    before = w.sim.command("stats")["cancelled"]
    forged = bytearray(card.cancel_session(1))
    forged[-1] ^= 1
    r = lpa.call("cancelSession", {"transactionId": auth["transactionId"],
                                   "cancelSessionResponse": b64(bytes(forged))},
                 expect_ok=False)
    check(status_code(r) == "8.1/6.1", f"forged cancel: {status_code(r)}")
    lpa.call("cancelSession", {"transactionId": auth["transactionId"],
                               "cancelSessionResponse": b64(card.cancel_session(1))})
    entry = last(w.sim, "es9plus/cancelSession")
    check(entry["result"] == "ok" and entry["reason"] == "postponed"
          and entry["smdpOid"] == "2.999.10" and entry["smdpOidMatches"], f"log {entry}")
    check(w.sim.command("stats")["cancelled"] == before + 1, "cancelled counter")
    r = lpa.get_bpp(card, auth, expect_ok=False)
    check(status_code(r) == "8.10.1/3.9", f"BPP after cancel: {status_code(r)}")


def test_connection_cut_mid_bpp(w):
    w.sim.command("cut-bpp 1")
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    auth = lpa.authenticate(card, "MID-PLAIN")
    try:
        lpa.get_bpp(card, auth)
        raise AssertionError("a cut BPP arrived whole")
    except (http.client.IncompleteRead, ConnectionResetError, ssl.SSLError) as e:
        got = type(e).__name__
    check(last(w.sim, "es9plus/getBoundProfilePackage")["result"] == "cut", f"log after {got}")
    # The next download is whole again.
    card = MiniCard(w.pki)
    auth = lpa.authenticate(card, "MID-PLAIN")
    card.load_bpp(base64.b64decode(lpa.get_bpp(card, auth)["boundProfilePackage"]))


def test_retry_after_a_cut_offers_the_bound_key(w):
    # SGP.22 3.1.3.2: the card's next attempt gets bppEuiccOtpk, the key the
    # cut BPP was bound to; the card keeps its key pair and the new BPP is
    # bound to it again.
    w.sim.command("cut-bpp 1")
    card = MiniCard(w.pki)
    lpa = Lpa(w)
    auth = lpa.authenticate(card, "MID-RETRY")
    check(0x5F49 not in fields(one(base64.b64decode(auth["smdpSigned2"]), 0x30)),
          "bppEuiccOtpk on a first download")
    try:
        lpa.get_bpp(card, auth)
        raise AssertionError("the BPP was not cut")
    except (http.client.IncompleteRead, ConnectionResetError, ssl.SSLError):
        pass
    first = card.otpk
    auth = lpa.authenticate(card, "MID-RETRY")
    offered = fields(one(base64.b64decode(auth["smdpSigned2"]), 0x30)).get(0x5F49)
    check(offered == first, "bppEuiccOtpk is not the key of the cut BPP")
    r = lpa.get_bpp(card, auth)
    check(card.reused and card.otpk == first, "the card made a new key")
    card.load_bpp(base64.b64decode(r["boundProfilePackage"]))
    entry = last(w.sim, "es9plus/getBoundProfilePackage")
    check(entry["reusedEuiccOtpk"] is True, f"log {entry}")
    # Once the card reports the install, nothing is offered any more.
    conn = Connection(w.sim.port, w.ctx)
    conn.request("POST", "/gsma/rsp2/es9plus/handleNotification", headers=HEADERS,
                 body=json.dumps({"pendingNotification": b64(card.install_result(
                     "8949449999999990080", ADDRESS))}).encode())
    check(conn.getresponse().status == 204, "install result refused")
    conn.close()
    auth = lpa.authenticate(MiniCard(w.pki), "MID-RETRY")
    check(0x5F49 not in fields(one(base64.b64decode(auth["smdpSigned2"]), 0x30)),
          "bppEuiccOtpk after the install result")


def test_server_error_and_slowness_on_one_function(w):
    w.sim.command("fault-on getBoundProfilePackage")
    w.sim.command("status 503")
    try:
        card = MiniCard(w.pki)
        lpa = Lpa(w)
        auth = lpa.authenticate(card, "MID-PLAIN")  # not hit
        check(status_code(auth) == "Executed-Success", "authenticateClient was hit")
        try:
            lpa.get_bpp(card, auth)
            raise AssertionError("no 503")
        except HttpStatus as e:
            check(e.args[0] == 503, f"status {e.args[0]}")
        w.sim.command("status off")
        w.sim.command("delay-ms 400")
        start = time.monotonic()
        r = lpa.get_bpp(card, auth)
        waited = time.monotonic() - start
        check(waited >= 0.4, f"answered after {waited:.3f} s")
        card.load_bpp(base64.b64decode(r["boundProfilePackage"]))
    finally:
        w.sim.command("status off")
        w.sim.command("delay-ms 0")
        w.sim.command("fault-on off")


def test_download_knobs_through_control(w):
    # The same knobs over HTTPS POST /control, JSON null turning them off.
    r = post_control(w, {"cut_bpp": 2, "expire_next": 1, "refuse_cc": 3,
                         "refuse_matching_id": "*", "fault_on": "es11/authenticateClient"})
    check((r["cut_bpp"], r["expire_next"], r["refuse_cc"], r["refuse_matching_id"],
           r["fault_on"]) == (2, 1, 3, "*", "es11/authenticateClient"), f"state {r}")
    r = post_control(w, {"cut_bpp": 0, "expire_next": 0, "refuse_cc": 0,
                         "refuse_matching_id": None, "fault_on": None})
    check((r["cut_bpp"], r["expire_next"], r["refuse_cc"], r["refuse_matching_id"],
           r["fault_on"]) == (0, 0, 0, None, None), f"state {r}")
    r = post_control(w, {"tamper_bpp": 1, "swap_segments": 2, "reuse_transaction": 3})
    check((r["tamper_bpp"], r["swap_segments"], r["reuse_transaction"]) == (1, 2, 3),
          f"state {r}")
    r = post_control(w, {"tamper_bpp": 0, "swap_segments": 0, "reuse_transaction": 0})
    check((r["tamper_bpp"], r["swap_segments"], r["reuse_transaction"]) == (0, 0, 0),
          f"state {r}")
    conn = Connection(w.sim.port, w.ctx)
    conn.request("POST", "/control", body=json.dumps({"fault_on": "noSuchFunction"}).encode())
    check(conn.getresponse().status == 400, "unknown function accepted")
    conn.close()


def post_control(w, changes):
    conn = Connection(w.sim.port, w.ctx)
    try:
        conn.request("POST", "/control", body=json.dumps(changes).encode())
        r = conn.getresponse()
        check(r.status == 200, f"/control {r.status}")
        return json.loads(r.read())
    finally:
        conn.close()


def test_fail_next_resets_any_function(w):
    w.sim.command("fail-next 1")
    card = MiniCard(w.pki)
    try:
        Lpa(w).call("initiateAuthentication", {
            "euiccChallenge": b64(card.get_challenge()), "euiccInfo1": b64(card.info1()),
            "smdpAddress": ADDRESS})
        raise AssertionError("no reset")
    except (ConnectionResetError, http.client.RemoteDisconnected, ssl.SSLError):
        pass
    check(last(w.sim, "es9plus/initiateAuthentication")["result"] == "reset", "log")


def test_bad_json_members_are_400(w):
    try:
        Lpa(w).call("authenticateClient", {"transactionId": "00"})
        raise AssertionError("a missing member was accepted")
    except HttpStatus as e:
        check(e.args[0] == 400 and b"authenticateServerResponse" in e.args[1], f"{e.args}")


def test_sm_ds_answers_the_events_of_the_eid(w):
    card = MiniCard(w.pki)
    lpa = Lpa(w, service="es11")
    # The root SM-DS address of the card files, on the same server and certificate.
    lpa.sim_name = "smds.example.com"
    r = lpa.authenticate(card, None, "smds.example.com")
    check(card.server_role == "2.23.146.1.2.1.7", f"SM-DS cert role {card.server_role}")
    check(status_code(r) == "Executed-Success", f"ES11 authenticateClient {status_code(r)}")
    check(r["eventEntries"] == [{"eventId": "EVENT-1", "rspServerAddress": "smdp.example.net"},
                                {"eventId": "EVENT-2", "rspServerAddress": "rsp.example.net"}],
          f"events {r['eventEntries']}")
    entry = last(w.sim, "es11/authenticateClient")
    check(entry["events"] == ["EVENT-1", "EVENT-2"] and entry["eid"] == EID, f"log {entry}")
    # A card with another EID has no events.
    other = MiniCard(w.other_pki)
    other_sim = Sim(w.binary, w.other_pki, os.path.join(w.tmp, "other.log"),
                    "--profiles", w.profiles)
    try:
        ctx = w.ctx
        w.ctx = ssl.create_default_context(cafile=os.path.join(w.other_pki, "ci.pem"))
        r = Lpa(w, other_sim, "es11").authenticate(other, None)
        check(r["eventEntries"] == [], f"other EID events {r['eventEntries']}")
    finally:
        w.ctx = ctx
        check(other_sim.stop() == 0, "second smdp-sim exit status")


def test_es11_transaction_is_not_an_es9_one(w):
    card = MiniCard(w.pki)
    r = Lpa(w, service="es11").call("initiateAuthentication", {
        "euiccChallenge": b64(card.get_challenge()), "euiccInfo1": b64(card.info1()),
        "smdpAddress": ADDRESS})
    asr = card.authenticate_server(r, "MID-PLAIN")
    r = Lpa(w).call("authenticateClient", {"transactionId": r["transactionId"],
                                           "authenticateServerResponse": b64(asr)},
                    expect_ok=False)
    check(status_code(r) == "8.10.1/3.9", f"ES11 transaction on ES9+: {status_code(r)}")


def test_mkpki_makes_the_sgp22_shapes(w):
    def load(name):
        with open(os.path.join(w.pki, name + ".pem"), "rb") as f:
            return x509.load_pem_x509_certificate(f.read())
    certs = {n: load(n) for n in ("ci", "eum", "euicc", "dpauth", "dppb", "dsauth", "dptls")}
    roles = {"ci": 0, "euicc": 1, "eum": 2, "dptls": 3, "dpauth": 4, "dppb": 5, "dsauth": 7}
    for name, cert in certs.items():
        pol = cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
        check(pol[0].policy_identifier.dotted_string == f"2.23.146.1.2.1.{roles[name]}",
              f"{name} role {pol[0].policy_identifier.dotted_string}")
        check(isinstance(cert.public_key().curve, ec.SECP256R1), f"{name} curve")
        issuer = certs["eum"] if name == "euicc" else certs["ci"]
        check_issued(cert, issuer)
        mode = os.stat(os.path.join(w.pki, name + ".key")).st_mode & 0o777
        check(mode == 0o600, f"{name}.key mode {mode:o}")
    ski = certs["ci"].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    with open(os.path.join(w.pki, "ci-pkid.hex"), encoding="ascii") as f:
        check(f.read() == ski.hex() + "\n", "ci-pkid.hex is not the CI subjectKeyIdentifier")
    check(MiniCard(w.pki).eid == EID, "EID not in the eUICC certificate's serialNumber")
    san = certs["dptls"].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    check(sorted(san.get_values_for_type(x509.DNSName)) == sorted(
        ["smdp.example.com", "smdp.example.net", "rsp.example.net", "smds.example.com",
         "localhost"]), f"dptls names {san.get_values_for_type(x509.DNSName)}")
    check(sorted(str(a) for a in san.get_values_for_type(x509.IPAddress))
          == ["127.0.0.1", "::1"], "dptls addresses")
    for name, oid in (("dpauth", "2.999.10"), ("dppb", "2.999.10"), ("dsauth", "2.999.20")):
        rid = certs[name].extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.RegisteredID)
        check([r.dotted_string for r in rid] == [oid], f"{name} registeredID {rid}")
    bad = subprocess.run([w.mkpki, "--eid", "1234", os.path.join(w.tmp, "bad")],
                         capture_output=True, text=True, timeout=60)
    check(bad.returncode == 2 and "32 decimal digits" in bad.stderr, f"bad EID: {bad}")


def test_without_pki_only_notifications_exist(w):
    log = os.path.join(w.tmp, "plain.log")
    proc = subprocess.Popen([w.binary, "--port", "0", "--cert",
                             os.path.join(w.pki, "dptls.pem"), "--key",
                             os.path.join(w.pki, "dptls.key"), "--log", log],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().split()[2])
        conn = Connection(port, w.ctx)
        conn.request("POST", "/gsma/rsp2/es9plus/initiateAuthentication", body=b"{}",
                     headers=HEADERS)
        check(conn.getresponse().status == 404, "download function without --pki")
        conn.close()
    finally:
        proc.stdin.close()
        check(proc.wait(timeout=TIMEOUT_S) == 0, "exit status")
        proc.stdout.close()


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


class World:
    pass


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    w = World()
    w.binary, mkpki = sys.argv[1], sys.argv[2]
    w.mkpki = mkpki
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="smdp-download-test.") as tmp:
        w.tmp = tmp
        w.pki = os.path.join(tmp, "pki")
        w.other_pki = os.path.join(tmp, "other-pki")
        subprocess.run([mkpki, "--eid", EID, w.pki], check=True, timeout=60)
        subprocess.run([mkpki, "--eid", "89049032123451234512345678901299", w.other_pki],
                       check=True, timeout=60)
        w.profiles = os.path.join(tmp, "profiles.json")
        with open(w.profiles, "w", encoding="utf-8") as f:
            json.dump(PROFILES, f)
        w.ctx = ssl.create_default_context(cafile=os.path.join(w.pki, "ci.pem"))
        w.sim = Sim(w.binary, w.pki, os.path.join(tmp, "smdp.log"), "--profiles", w.profiles)
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
            rc = w.sim.stop()
        if rc != 0:
            failed += 1
            print(f"FAIL - smdp-sim exited with {rc}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
