#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""smdp-sim on its own: the ES9+ peer that the integration tests deliver
notifications to must accept what SGP.22 says is right, refuse what is not,
fail on command, and only talk to clients that trust its test CA.

Usage: test-smdp-sim.py SMDP_SIM MKCERTS   (OPENSSL may name openssl)
"""
import base64
import http.client
import json
import os
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

TIMEOUT_S = 15
PATH = "/gsma/rsp2/es9plus/handleNotification"
HEADERS = {
    "Content-Type": "application/json;charset=UTF-8",
    "X-Admin-Protocol": "gsma/rsp/v2.2.0",
    "User-Agent": "gsma-rsp-lpad",
}
SNI = "smdp.example.com"


# ---------------------------------------------------------------------------
# DER by hand (X.690), enough for a PendingNotification per rsp.asn

def der(tag, *parts):
    value = b"".join(parts)
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return tag + length + value


def iccid_bcd(digits):
    digits = digits + "F" * (20 - len(digits))
    return bytes(int(digits[i + 1] + digits[i], 16) for i in range(0, 20, 2))


# NotificationEvent bits in DER (named bit list, trailing zero bits dropped)
EVENT_BITS = {
    "install": b"\x07\x80",
    "enable": b"\x06\x40",
    "disable": b"\x05\x20",
    "delete": b"\x04\x10",
}


def metadata(seq, event, address, iccid):
    """NotificationMetadata ::= [47] SEQUENCE (BF2F)."""
    seq_bytes = seq.to_bytes(max(1, (seq.bit_length() + 8) // 8), "big")
    return der(b"\xBF\x2F",
               der(b"\x80", seq_bytes),
               der(b"\x81", EVENT_BITS[event]),
               der(b"\x0C", address.encode("utf-8")),
               der(b"\x5A", iccid_bcd(iccid)) if iccid else b"")


def other_signed_notification(seq, event, address, iccid, certificate):
    """OtherSignedNotification ::= SEQUENCE { metadata, 5F37 signature,
    euiccCertificate, eumCertificate }; a real X.509 DER stands in for both."""
    return der(b"\x30",
               metadata(seq, event, address, iccid),
               der(b"\x5F\x37", bytes(range(64))),
               certificate, certificate)


def profile_installation_result(seq, address, iccid):
    """ProfileInstallationResult ::= [55] SEQUENCE (BF37) with a successResult."""
    data = der(b"\xBF\x27",
               der(b"\x80", bytes.fromhex("0102030405060708")),
               metadata(seq, "install", address, iccid),
               der(b"\xA2", der(b"\xA0",
                                der(b"\x4F", bytes.fromhex("A0000005591010FFFFFFFF8900001100")),
                                der(b"\x04", b"\x30\x00"))))
    return der(b"\xBF\x37", data, der(b"\x5F\x37", bytes(64)))


def body_for(pending, header=True):
    body = {"pendingNotification": base64.b64encode(pending).decode("ascii")}
    if header:
        body["header"] = {"functionRequesterIdentifier": "esimd-test",
                          "functionCallIdentifier": "call-1"}
    return json.dumps(body).encode("utf-8")


# ---------------------------------------------------------------------------
# The simulator and a client that reaches it as smdp.example.com

class Sim:
    def __init__(self, binary, certs, log, *extra):
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--cert", os.path.join(certs, "server.pem"),
             "--key", os.path.join(certs, "server.key"), "--log", log] + list(extra),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        line = self.readline()
        words = line.split()
        if len(words) != 3 or words[0] != "LISTEN":
            self.stop()
            raise AssertionError(f"smdp-sim did not print LISTEN: {line!r} "
                                 f"{self.proc.stderr.read()!r}")
        self.host, self.port = words[1], int(words[2])

    def readline(self):
        """One stdout line, or AssertionError after TIMEOUT_S."""
        if not self.sel.select(TIMEOUT_S):
            raise AssertionError("smdp-sim said nothing within the timeout")
        return self.proc.stdout.readline()

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.readline().strip()

    def stop(self):
        """Close stdin and return the exit status; kill if it lingers."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.sel.close()
        for f in (self.proc.stdout, self.proc.stderr):
            f.close()
        return self.proc.returncode


class Connection(http.client.HTTPSConnection):
    """HTTPS to ADDR:PORT verified as NAME: how the daemon reaches a local
    SM-DP+ without resolving the real name."""

    def __init__(self, addr, port, name, context):
        super().__init__(name, port, context=context, timeout=TIMEOUT_S)
        self.addr = addr

    def connect(self):
        sock = socket.create_connection((self.addr, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client does
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


class Result:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def post(sim, ctx, body, path=PATH, headers=None, method="POST", name=SNI):
    conn = Connection(sim.host, sim.port, name, ctx)
    try:
        conn.request(method, path, body=body, headers=HEADERS if headers is None else headers)
        r = conn.getresponse()
        return Result(r.status, r.headers, r.read())
    finally:
        conn.close()


def exchange_raw(sim, ctx, request):
    """TLS over a plain socket (ssl.MemoryBIO), so that the TCP-level end of
    the connection shows: 'reset' for RST, 'eof' for a FIN, else the first
    bytes of the answer."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=SNI)
    with socket.create_connection((sim.host, sim.port), TIMEOUT_S) as sock:
        def step(call):
            while True:
                try:
                    return call()
                except ssl.SSLWantReadError:
                    pass
                try:
                    sock.sendall(outgoing.read())
                    data = sock.recv(65536)
                except ConnectionResetError:
                    return "reset"
                if not data:
                    return "eof"
                incoming.write(data)

        if step(tls.do_handshake) in ("reset", "eof"):
            raise AssertionError("the TLS handshake did not complete")
        tls.write(request)
        return step(lambda: tls.read(65536))


def http_request(body):
    head = (f"POST {PATH} HTTP/1.1\r\nHost: {SNI}\r\nContent-Length: {len(body)}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items()) + "\r\n")
    return head.encode("ascii") + body


def log_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------------------
# Tests: each returns nothing and raises AssertionError on failure

def check(cond, what):
    if not cond:
        raise AssertionError(what)


def test_valid_notification_is_accepted_and_logged(w):
    pending = other_signed_notification(7, "enable", "smdp.example.com",
                                        "8944476500005550001", w.cert_der)
    r = post(w.sim, w.ctx, body_for(pending))
    check(r.status == 204, f"status {r.status}, body {r.body!r}")
    check(r.body == b"", f"204 with a body {r.body!r}")
    check(r.headers.get("X-Admin-Protocol", "").startswith("gsma/rsp/v2."),
          f"X-Admin-Protocol {r.headers.get('X-Admin-Protocol')!r}")
    last = log_lines(w.log)[-1]
    want = {"result": "delivered", "seq": 7, "operation": "enable",
            "address": "smdp.example.com", "iccid": "8944476500005550001",
            "type": "otherSignedNotification", "sni": SNI,
            "host": f"{SNI}:{w.sim.port}",
            "pendingNotification": base64.b64encode(pending).decode("ascii"),
            "functionCallIdentifier": "call-1", "userAgent": "gsma-rsp-lpad"}
    for k, v in want.items():
        check(last.get(k) == v, f"log {k} = {last.get(k)!r}, want {v!r}")


def test_install_result_without_json_header_is_accepted(w):
    pending = profile_installation_result(4, "smdp.example.net", "8944476500005550002")
    r = post(w.sim, w.ctx, body_for(pending, header=False), name="smdp.example.net")
    check(r.status == 204, f"status {r.status}, body {r.body!r}")
    last = log_lines(w.log)[-1]
    check((last["seq"], last["operation"], last["address"], last["iccid"], last["type"])
          == (4, "install", "smdp.example.net", "8944476500005550002",
              "profileInstallationResult"), f"log line {last}")
    check(last["sni"] == "smdp.example.net", f"sni {last['sni']!r}")


def test_notification_without_iccid_logs_null(w):
    pending = other_signed_notification(300, "delete", "rsp.example.net", None, w.cert_der)
    r = post(w.sim, w.ctx, body_for(pending))
    check(r.status == 204, f"status {r.status}")
    last = log_lines(w.log)[-1]
    check(last["seq"] == 300 and last["iccid"] is None and last["operation"] == "delete",
          f"log line {last}")


def expect_refusal(w, body, status, word, headers=None, path=PATH, method="POST"):
    before = len(log_lines(w.log))
    r = post(w.sim, w.ctx, body, path=path, headers=headers, method=method)
    check(r.status == status, f"status {r.status}, want {status}; body {r.body!r}")
    check(r.headers.get("Content-Type", "").startswith("application/json"),
          f"Content-Type {r.headers.get('Content-Type')!r}")
    msg = r.json()["error"]["message"]
    check(word in msg, f"error message {msg!r} does not mention {word!r}")
    check(len(log_lines(w.log)) == before, "a refused request was logged as a notification")


def test_bad_json_is_400(w):
    expect_refusal(w, b'{"pendingNotification": ', 400, "not JSON")


def test_bad_base64_is_400(w):
    expect_refusal(w, b'{"pendingNotification": "@@not base64@@"}', 400, "base64")


def test_der_that_is_not_a_pending_notification_is_400(w):
    meta_only = metadata(1, "enable", "smdp.example.com", "8944476500005550001")
    expect_refusal(w, body_for(meta_only), 400, "neither BF37 nor 30")
    good = other_signed_notification(8, "enable", "smdp.example.com", "894447650000555000",
                                     w.cert_der)
    expect_refusal(w, body_for(good[:-5]), 400, "claims")
    no_sig = der(b"\x30", metadata(9, "disable", "smdp.example.com", None),
                 w.cert_der, w.cert_der)
    expect_refusal(w, body_for(no_sig), 400, "euiccNotificationSignature")


def test_missing_admin_protocol_is_400(w):
    headers = {k: v for k, v in HEADERS.items() if k != "X-Admin-Protocol"}
    pending = other_signed_notification(10, "enable", "smdp.example.com", None, w.cert_der)
    expect_refusal(w, body_for(pending), 400, "X-Admin-Protocol", headers=headers)


def test_wrong_content_type_is_400(w):
    headers = dict(HEADERS, **{"Content-Type": "text/plain"})
    pending = other_signed_notification(11, "enable", "smdp.example.com", None, w.cert_der)
    expect_refusal(w, body_for(pending), 400, "Content-Type", headers=headers)


def test_wrong_path_is_404_and_wrong_method_405(w):
    pending = other_signed_notification(12, "enable", "smdp.example.com", None, w.cert_der)
    expect_refusal(w, body_for(pending), 404, "/gsma/rsp2/es9plus/nope",
                   path="/gsma/rsp2/es9plus/nope")
    expect_refusal(w, None, 405, "GET", method="GET")


def test_fail_next_resets_the_connection_then_recovers(w):
    reply = w.sim.command("fail-next 2")
    check(reply.startswith("OK ") and json.loads(reply[3:])["fail_next"] == 2, reply)
    pending = other_signed_notification(13, "disable", "smdp.example.com", None, w.cert_der)
    for attempt in (1, 2):
        got = exchange_raw(w.sim, w.ctx, http_request(body_for(pending)))
        check(got == "reset", f"attempt {attempt} got {got!r}, not a connection reset")
    r = post(w.sim, w.ctx, body_for(pending))
    check(r.status == 204, f"after the faults: status {r.status}")
    results = [(l["seq"], l["result"]) for l in log_lines(w.log)[-3:]]
    check(results == [(13, "reset"), (13, "reset"), (13, "delivered")], f"log {results}")


def control(w, changes):
    r = post(w.sim, w.ctx, json.dumps(changes).encode(), path="/control", headers={})
    check(r.status == 200, f"/control answered {r.status}: {r.body!r}")
    return r.json()


def test_fail_mode_500_through_control(w):
    state = control(w, {"fail_next": 1, "fail_mode": "500"})
    check(state["fail_next"] == 1 and state["fail_mode"] == "500", f"state {state}")
    pending = other_signed_notification(14, "enable", "smdp.example.com", None, w.cert_der)
    r = post(w.sim, w.ctx, body_for(pending))
    check(r.status == 500, f"first: status {r.status}")
    r = post(w.sim, w.ctx, body_for(pending))
    check(r.status == 204, f"second: status {r.status}")
    control(w, {"fail_mode": "reset"})
    r = post(w.sim, w.ctx, b"{}", path="/control", headers={})
    check(r.status == 200, f"empty /control: {r.status}")
    r = post(w.sim, w.ctx, json.dumps({"no_such_knob": 1}).encode(), path="/control",
             headers={})
    check(r.status == 400, f"unknown knob: status {r.status}")


def test_status_knob_forces_every_answer(w):
    control(w, {"status": 503})
    pending = other_signed_notification(15, "enable", "smdp.example.com", None, w.cert_der)
    for _ in range(2):
        r = post(w.sim, w.ctx, body_for(pending))
        check(r.status == 503, f"status {r.status}")
    check(log_lines(w.log)[-1]["result"] == "http-503", "log result")
    control(w, {"status": None})
    check(post(w.sim, w.ctx, body_for(pending)).status == 204, "status off")


def test_status_option_on_the_command_line(w):
    log = os.path.join(w.tmp, "status.log")
    sim = Sim(w.binary, w.certs, log, "--status", "500")
    try:
        pending = other_signed_notification(16, "enable", "smdp.example.com", None, w.cert_der)
        r = post(sim, w.ctx, body_for(pending))
        check(r.status == 500, f"status {r.status}")
    finally:
        check(sim.stop() == 0, "smdp-sim exit status")


def test_reject_answers_function_failed(w):
    log = os.path.join(w.tmp, "reject.log")
    sim = Sim(w.binary, w.certs, log, "--reject", "8.1.1:3.8:EID refused")
    try:
        pending = other_signed_notification(17, "delete", "smdp.example.com", None, w.cert_der)
        r = post(sim, w.ctx, body_for(pending))
        check(r.status == 200, f"status {r.status}")
        check(r.headers.get("Content-Type") == "application/json;charset=UTF-8",
              f"Content-Type {r.headers.get('Content-Type')!r}")
        fes = r.json()["header"]["functionExecutionStatus"]
        check(fes == {"status": "Failed", "statusCodeData": {
            "subjectCode": "8.1.1", "reasonCode": "3.8", "message": "EID refused"}},
            f"functionExecutionStatus {fes}")
        check(log_lines(log)[-1]["result"] == "rejected", "log result")
        reply = sim.command("reject off")
        check(reply.startswith("OK "), reply)
        check(post(sim, w.ctx, body_for(pending)).status == 204, "after reject off")
        check(sim.command("reject nonsense").startswith("ERROR "), "bad reject accepted")
    finally:
        check(sim.stop() == 0, "smdp-sim exit status")


def test_delay_holds_the_answer(w):
    control(w, {"delay_ms": 300})
    pending = other_signed_notification(18, "enable", "smdp.example.com", None, w.cert_der)
    start = time.monotonic()
    r = post(w.sim, w.ctx, body_for(pending))
    waited = time.monotonic() - start
    control(w, {"delay_ms": 0})
    check(r.status == 204, f"status {r.status}")
    check(waited >= 0.3, f"answered after {waited:.3f} s, before the 300 ms delay")


def test_client_without_the_test_ca_fails_the_handshake(w):
    before = control(w, {})["handshake_failures"]
    pending = other_signed_notification(19, "enable", "smdp.example.com", None, w.cert_der)
    try:
        post(w.sim, ssl.create_default_context(), body_for(pending))
        raise AssertionError("a client with the system CAs trusted the test server")
    except ssl.SSLCertVerificationError:
        pass
    try:
        post(w.sim, w.ctx, body_for(pending), name="smdp.example.org")
        raise AssertionError("a name outside the certificate was accepted")
    except ssl.SSLCertVerificationError:
        pass
    # The server counts a failed handshake once it sees the client go, which
    # may be a moment after the client gave up: waited for, bounded.
    deadline = time.monotonic() + 10
    after = control(w, {})["handshake_failures"]
    while after < before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
        after = control(w, {})["handshake_failures"]
    check(after == before + 2, f"handshake failures {before} -> {after}")


def test_every_connection_makes_a_full_handshake(w):
    # A resumed session would skip the certificate check that daemon tests
    # rely on (RFC 8446 2.2): the server must offer no way to resume.
    # The first connection stays open: a server drops a session from its
    # cache when a connection ends without close_notify, which would hide
    # a cache that is there.
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = ssl.create_default_context(cafile=os.path.join(w.certs, "ca.pem"))
        ctx.maximum_version = version
        conns = []
        try:
            for _ in range(2):
                sock = socket.create_connection((w.sim.host, w.sim.port), TIMEOUT_S)
                session = conns[0].session if conns else None
                conns.append(ctx.wrap_socket(sock, server_hostname=SNI, session=session))
                tls = conns[-1]
                tls.sendall(b"GET /control HTTP/1.1\r\nHost: " + SNI.encode() + b"\r\n\r\n")
                check(tls.recv(12).startswith(b"HTTP/1.1 200"), "GET /control failed")
                check(not tls.session_reused, f"{version.name} session resumed")
        finally:
            for tls in conns:
                tls.close()


def test_only_loopback_hosts_are_accepted(w):
    r = subprocess.run([w.binary, "--port", "0", "--host", "0.0.0.0",
                        "--cert", os.path.join(w.certs, "server.pem"),
                        "--key", os.path.join(w.certs, "server.key")],
                       capture_output=True, text=True, timeout=TIMEOUT_S)
    check(r.returncode != 0 and "LISTEN" not in r.stdout, f"rc {r.returncode} {r.stdout!r}")
    check("127.0.0.1" in r.stderr, f"stderr {r.stderr!r}")


def test_sigterm_stops_it(w):
    sim = Sim(w.binary, w.certs, os.path.join(w.tmp, "term.log"))
    sim.proc.send_signal(signal.SIGTERM)
    try:
        rc = sim.proc.wait(timeout=TIMEOUT_S)
    finally:
        sim.stop()
    check(rc == 0, f"exit status after SIGTERM {rc}")


TESTS = [v for k, v in list(globals().items()) if k.startswith("test_")]


class World:
    pass


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    w = World()
    w.binary, mkcerts = sys.argv[1], sys.argv[2]
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="smdp-sim-test.") as tmp:
        w.tmp = tmp
        w.certs = os.path.join(tmp, "certs")
        subprocess.run([mkcerts, w.certs, "smdp.example.com", "smdp.example.net",
                        "localhost", "127.0.0.1"], check=True, timeout=60)
        w.ctx = ssl.create_default_context(cafile=os.path.join(w.certs, "ca.pem"))
        with open(os.path.join(w.certs, "ca.pem"), encoding="ascii") as f:
            w.cert_der = ssl.PEM_cert_to_DER_cert(f.read())
        w.log = os.path.join(tmp, "notifications.log")
        w.sim = Sim(w.binary, w.certs, w.log)
        try:
            for test in TESTS:
                try:
                    test(w)
                    passed += 1
                    print(f"ok - {test.__name__}")
                except Exception as e:  # report every kind, keep going
                    failed += 1
                    print(f"FAIL - {test.__name__}: {type(e).__name__}: {e}")
        finally:
            rc = w.sim.stop()
        if rc != 0:
            failed += 1
            print(f"FAIL - smdp-sim exited with {rc} on stdin EOF")
        else:
            passed += 1
            print("ok - stdin EOF ends smdp-sim with status 0")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
