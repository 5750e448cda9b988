#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Notification delivery end to end: a delete, enable or disable makes the
card write a notification; esimd delivers it to smdp-sim (ES9+
handleNotification over HTTPS, the test CA trusted) and removes it from the
card only once the SM-DP+ answered with success. What a user sees is
checked: the NotificationDelivered signal, PendingNotifications, the card's
list (ListNotifications), and what smdp-sim received. Also: auto-send off,
retries with a growing delay while the SM-DP+ cannot be reached, nothing
lost across a restart, a refusal that is not retried in a loop, and TLS
that refuses a server esimd does not trust."""

import os
import time

import harness
from harness import EUICC, PROFILE

# three-profiles.card, its sequence numbers starting at 40 so that a test
# knows which number the card gives each notification.
BASE_CARD = "three-profiles.card"
FIRST_SEQ = 40

# The retry delay the tests configure (seconds); the daemon's default is 30.
RETRY_S = 1


class NotificationCase(harness.WorldTestCase):
    auto_send = True
    smdp_args = ()

    def setUp(self):
        super().setUp()
        self.card_file = os.path.join(self.world.tmpdir, "notify.card")
        with open(harness.card_path(BASE_CARD)) as src, open(self.card_file, "w") as dst:
            for line in src:
                dst.write(line)
                if line.strip() == "type euicc":
                    dst.write(f"next-seq {FIRST_SEQ}\n")
        self.card = harness.parse_card(self.card_file)
        self.modem = self.world.add_modem("qmi", [self.card_file])
        self.smdp = None

    def config(self, **extra):
        keys = {"auto-send-notifications": "true" if self.auto_send else "false",
                "notification-retry-seconds": str(RETRY_S)}
        keys.update(extra)
        return keys

    def start(self, args=None, **config):
        """Starts esimd (pointed at self.smdp unless args say otherwise) and
        a monitor of its signals."""
        if args is None:
            args = self.smdp.esimd_args()
        self.world.start_esimd(config=self.config(**config), args=args)
        self.euicc = self.world.euicc_paths()[0]
        self.mon = self.world.monitor()

    def start_smdp(self, args=None, **kwargs):
        self.smdp = harness.SmdpSim(self.world, self.smdp_args if args is None else args,
                                    **kwargs)
        return self.smdp

    # -- the card file --

    def iccid(self, index):
        return self.card["profiles"][index]["iccid"]

    def notify_address(self, index, event):
        """The address the card file configures for this profile and event."""
        lines = self.card["profiles"][index]["notify"]
        for line in lines if isinstance(lines, list) else [lines]:
            events, address = line.split()
            if event in events.split(","):
                return address
        raise AssertionError(f"profile {index} has no {event} address")

    # -- what the user sees --

    def path_of(self, iccid):
        for path in self.world.profile_paths(self.euicc):
            if self.world.get_property(path, PROFILE, "Iccid") == iccid:
                return path
        raise AssertionError(f"no profile {iccid}")

    def listed(self):
        """ListNotifications as {seq: (operation, address, iccid)}."""
        return {seq: (op, address, iccid) for seq, op, address, iccid in
                self.world.call(self.euicc, EUICC, "ListNotifications")[0]}

    def pending(self):
        return self.world.get_property(self.euicc, EUICC, "PendingNotifications")

    def pending_changes(self):
        """The PendingNotifications values announced so far, in order."""
        values = []
        for m in self.mon.signals("PropertiesChanged", self.euicc):
            data = m.get("payload", {}).get("data", [])
            if len(data) >= 2 and data[0] == EUICC and "PendingNotifications" in data[1]:
                values.append(data[1]["PendingNotifications"]["data"])
        return values

    def wait_delivered_signal(self, seq, seconds=harness.DEFAULT_TIMEOUT):
        m = self.mon.wait_for(
            lambda m: m.get("type") == "signal" and m.get("member") == "NotificationDelivered"
            and m.get("path") == self.euicc and m["payload"]["data"][0] == seq,
            seconds, f"NotificationDelivered for {seq}")
        return tuple(m["payload"]["data"])

    def delivered_signals(self):
        return [tuple(m["payload"]["data"])
                for m in self.mon.signals("NotificationDelivered", self.euicc)]

    def smdp_lines(self, result=None):
        return [r for r in self.smdp.received() if result is None or r["result"] == result]

    def assert_received(self, seq, operation, iccid, address):
        """smdp-sim accepted exactly one notification seq, and it is this one."""
        got = [r for r in self.smdp_lines("delivered") if r["seq"] == seq]
        self.assertEqual(len(got), 1, self.smdp.received())
        r = got[0]
        self.assertEqual((r["operation"], r["iccid"], r["address"]), (operation, iccid, address))
        # The URL named the notification's own address (the connection went
        # to smdp-sim through the test override).
        self.assertEqual(r["host"], address)
        self.assertEqual(r["type"], "otherSignedNotification")
        self.assertTrue(r["adminProtocol"].startswith("gsma/rsp/v2."), r)

    def wait_daemon_log(self, text, count=1, seconds=harness.DEFAULT_TIMEOUT):
        return harness.wait_until(
            lambda: self.world.esimd_log_text().count(text) >= count, seconds,
            f"{count} x {text!r} in the daemon's log")

    def retries_announced(self):
        """The delays, in seconds, of the retries the daemon announced."""
        out = []
        for line in self.world.esimd_log_text().splitlines():
            if "trying again in " in line:
                out.append(int(line.rsplit("trying again in ", 1)[1].split()[0]))
        return out


class AutoSend(NotificationCase):
    """auto-send-notifications=true: each notification reaches its SM-DP+
    right after the operation and then leaves the card."""

    def setUp(self):
        super().setUp()
        self.start_smdp()
        self.start()

    def assert_all_delivered(self):
        self.assertEqual(self.listed(), {})
        self.assertEqual(self.pending(), 0)

    def test_delete_of_a_disabled_profile_is_delivered_then_removed_from_the_card(self):
        iccid, address = self.iccid(1), self.notify_address(1, "delete")
        self.world.call(self.path_of(iccid), PROFILE, "Delete")
        self.assertEqual(self.wait_delivered_signal(FIRST_SEQ),
                         (FIRST_SEQ, "delete", iccid, address))
        self.assert_received(FIRST_SEQ, "delete", iccid, address)
        self.assert_all_delivered()
        # The count went up with the delete and back to 0 with the delivery.
        harness.wait_until(lambda: self.pending_changes()[-1:] == [0],
                           what="PendingNotifications back to 0")
        changes = self.pending_changes()
        self.assertIn(1, changes)
        self.assertLess(changes.index(1), len(changes) - 1)
        self.assertEqual(len(self.smdp_lines()), 1, "sent more than once")

    def test_disable_is_delivered(self):
        iccid, address = self.iccid(0), self.notify_address(0, "disable")
        self.world.call(self.path_of(iccid), PROFILE, "Disable")
        self.assertEqual(self.wait_delivered_signal(FIRST_SEQ),
                         (FIRST_SEQ, "disable", iccid, address))
        self.assert_received(FIRST_SEQ, "disable", iccid, address)
        self.assert_all_delivered()

    def test_enable_is_delivered(self):
        iccid = self.iccid(0)
        self.world.call(self.path_of(iccid), PROFILE, "Disable")
        self.wait_delivered_signal(FIRST_SEQ)
        self.world.call(self.path_of(iccid), PROFILE, "Enable")
        address = self.notify_address(0, "enable")
        self.assertEqual(self.wait_delivered_signal(FIRST_SEQ + 1),
                         (FIRST_SEQ + 1, "enable", iccid, address))
        self.assert_received(FIRST_SEQ + 1, "enable", iccid, address)
        self.assert_all_delivered()

    def test_enabling_another_profile_delivers_the_implicit_disable_and_the_enable(self):
        old, new = self.iccid(0), self.iccid(1)
        self.world.call(self.path_of(new), PROFILE, "Enable")
        # SGP.22 3.2: the card disables the enabled profile first, so its
        # disable notification comes first, then the new one's enable.
        disable = (FIRST_SEQ, "disable", old, self.notify_address(0, "disable"))
        enable = (FIRST_SEQ + 1, "enable", new, self.notify_address(1, "enable"))
        self.assertEqual(self.wait_delivered_signal(FIRST_SEQ), disable)
        self.assertEqual(self.wait_delivered_signal(FIRST_SEQ + 1), enable)
        self.assert_received(*disable)
        self.assert_received(*enable)
        self.assertEqual(self.smdp.command("stats")["delivered"], 2)
        self.assert_all_delivered()


class AutoSendOff(NotificationCase):
    """auto-send-notifications=false: notifications wait on the card until a
    client sends (or drops) them."""
    auto_send = False

    def setUp(self):
        super().setUp()
        self.start_smdp()
        self.start()
        # Three notifications: delete (40), disable (41), delete (42).
        self.world.call(self.path_of(self.iccid(1)), PROFILE, "Delete")
        self.world.call(self.path_of(self.iccid(0)), PROFILE, "Disable")
        self.world.call(self.path_of(self.iccid(2)), PROFILE, "Delete")
        self.expected = {
            FIRST_SEQ: ("delete", self.notify_address(1, "delete"), self.iccid(1)),
            FIRST_SEQ + 1: ("disable", self.notify_address(0, "disable"), self.iccid(0)),
            FIRST_SEQ + 2: ("delete", self.notify_address(2, "delete"), self.iccid(2)),
        }

    def assert_nothing_sent_on_its_own(self):
        # After each of the three operations the daemon decided, and said,
        # that the notifications wait: no delivery and no timer was started.
        self.wait_daemon_log("(automatic delivery is off)", count=3)
        self.assertEqual(self.smdp.command("stats")["requests"], 0)
        self.assertEqual(self.listed(), self.expected)
        self.assertEqual(self.pending(), 3)
        self.assertEqual(self.delivered_signals(), [])

    def test_nothing_is_sent_until_asked_then_one_then_all(self):
        self.assert_nothing_sent_on_its_own()
        seq = FIRST_SEQ + 1
        results = self.world.call(self.euicc, EUICC, "SendNotifications", "au", 1, seq)[0]
        self.assertEqual([(s, d) for s, d, _ in results], [(seq, True)])
        op, address, iccid = self.expected[seq]
        self.assertEqual(self.wait_delivered_signal(seq), (seq, op, iccid, address))
        self.assert_received(seq, op, iccid, address)
        self.assertEqual([r["seq"] for r in self.smdp.received()], [seq])
        del self.expected[seq]
        self.assertEqual(self.listed(), self.expected)
        self.assertEqual(self.pending(), 2)

        results = self.world.call(self.euicc, EUICC, "SendNotifications", "au", 0)[0]
        self.assertEqual(sorted((s, d) for s, d, _ in results),
                         [(s, True) for s in sorted(self.expected)])
        for s, (op, address, iccid) in self.expected.items():
            self.assertEqual(self.wait_delivered_signal(s), (s, op, iccid, address))
            self.assert_received(s, op, iccid, address)
        self.assertEqual(self.listed(), {})
        self.assertEqual(self.pending(), 0)
        self.assertEqual(self.smdp.command("stats")["delivered"], 3)

    def test_remove_notification_drops_one_without_sending_it(self):
        self.world.call(self.euicc, EUICC, "RemoveNotification", "u", FIRST_SEQ)
        del self.expected[FIRST_SEQ]
        self.assertEqual(self.listed(), self.expected)
        self.assertEqual(self.pending(), 2)
        self.assertEqual(self.smdp.command("stats")["requests"], 0)
        self.assertEqual(self.delivered_signals(), [])
        # The rest still goes out when asked; the dropped one never does.
        self.world.call(self.euicc, EUICC, "SendNotifications", "au", 0)
        self.assertEqual(sorted(r["seq"] for r in self.smdp_lines("delivered")),
                         sorted(self.expected))
        self.assertEqual(self.listed(), {})


class Retry(NotificationCase):
    """The network drops the first three attempts (connection reset after
    the request): the notification stays on the card, the daemon tries
    again after 1, 2 and 4 s, and the fourth attempt delivers it."""
    smdp_args = ("--fail-next", "3")

    def test_retries_with_a_growing_delay_until_delivered_then_stops(self):
        self.start_smdp()
        self.start()
        iccid, address = self.iccid(1), self.notify_address(1, "delete")
        self.world.call(self.path_of(iccid), PROFILE, "Delete")
        seen = []  # (monotonic time, number of requests) as each attempt arrives

        def attempts(n):
            def check():
                count = len(self.smdp.received())
                if not seen or seen[-1][1] != count:
                    seen.append((time.monotonic(), count))
                return count >= n
            return check
        harness.wait_until(attempts(1), what="the first attempt")
        # Failed: still on the card, and counted.
        self.assertEqual(self.listed(), {FIRST_SEQ: ("delete", address, iccid)})
        self.assertEqual(self.pending(), 1)
        harness.wait_until(attempts(4), what="four attempts", interval=0.02)
        self.assertEqual(self.wait_delivered_signal(FIRST_SEQ),
                         (FIRST_SEQ, "delete", iccid, address))
        self.assertEqual([r["result"] for r in self.smdp.received()],
                         ["reset", "reset", "reset", "delivered"])
        self.assertEqual({r["seq"] for r in self.smdp.received()}, {FIRST_SEQ})
        self.assert_received(FIRST_SEQ, "delete", iccid, address)
        self.assertEqual(self.listed(), {})
        self.assertEqual(self.pending(), 0)
        # Backoff: the delay doubles after each failure...
        self.assertEqual(self.retries_announced(), [RETRY_S, 2 * RETRY_S, 4 * RETRY_S])
        times = {count: t for t, count in seen}
        if all(n in times for n in (1, 2, 3, 4)):
            self.assertGreater(times[4] - times[3], times[2] - times[1])
        # ... and once delivered, no timer is left: nothing more is tried.
        self.wait_daemon_log("automatic delivery ended; no retry is due")
        self.assertEqual(len(self.smdp.received()), 4)
        self.assertEqual(self.retries_announced(), [RETRY_S, 2 * RETRY_S, 4 * RETRY_S])

    def test_delivered_once_a_stopped_smdp_comes_back_without_any_call(self):
        certs = harness.make_certs(self.world)
        port = harness.closed_local_port()
        self.start(args=[f"--smdp-ca-file={certs}/ca.pem",
                         f"--smdp-host-override=127.0.0.1:{port}"])
        iccid, address = self.iccid(1), self.notify_address(1, "delete")
        self.world.call(self.path_of(iccid), PROFILE, "Delete")
        # Nobody listens: two attempts fail, the notification stays.
        self.wait_daemon_log("trying again in", count=2)
        self.assertEqual(self.retries_announced()[:2], [RETRY_S, 2 * RETRY_S])
        self.assertEqual(self.listed(), {FIRST_SEQ: ("delete", address, iccid)})
        self.assertEqual(self.pending(), 1)
        self.assertEqual(self.delivered_signals(), [])
        # The SM-DP+ comes up on that port: the next retry delivers.
        self.start_smdp(args=(), certs=certs, port=port)
        self.assertEqual(self.wait_delivered_signal(FIRST_SEQ),
                         (FIRST_SEQ, "delete", iccid, address))
        self.assert_received(FIRST_SEQ, "delete", iccid, address)
        self.assertEqual(self.listed(), {})
        self.assertEqual(self.pending(), 0)


class Restart(NotificationCase):
    """A notification the SM-DP+ never got survives esimd's restart on the
    card, and the restarted daemon delivers it after its probe, unasked."""

    def test_a_pending_notification_is_delivered_after_a_restart(self):
        certs = harness.make_certs(self.world)
        port = harness.closed_local_port()
        args = [f"--smdp-ca-file={certs}/ca.pem", f"--smdp-host-override=127.0.0.1:{port}"]
        self.start(args=args)
        iccid, address = self.iccid(1), self.notify_address(1, "delete")
        self.world.call(self.path_of(iccid), PROFILE, "Delete")
        self.wait_daemon_log("trying again in")
        self.assertEqual(self.listed(), {FIRST_SEQ: ("delete", address, iccid)})
        self.assertEqual(self.world.stop_esimd(), 0)

        self.start_smdp(args=(), certs=certs, port=port)
        self.world.start_esimd(config=self.config(), args=args)
        self.euicc = self.world.euicc_paths()[0]
        harness.wait_until(lambda: self.smdp_lines("delivered"),
                           what="the pending notification to reach the SM-DP+")
        self.assert_received(FIRST_SEQ, "delete", iccid, address)
        harness.wait_until(lambda: self.pending() == 0, what="PendingNotifications 0")
        self.assertEqual(self.listed(), {})


class Rejected(NotificationCase):
    """An SM-DP+ that answers with a failed functionExecutionStatus (SGP.22
    6.5.1.4) has spoken: the notification stays on the card and is not
    offered again on a timer (only by a later operation that writes a
    notification, or by SendNotifications)."""
    smdp_args = ("--reject", "refused")

    def test_a_refused_notification_stays_and_is_not_retried_in_a_loop(self):
        self.start_smdp()
        self.start()
        iccid, address = self.iccid(1), self.notify_address(1, "delete")
        self.world.call(self.path_of(iccid), PROFILE, "Delete")
        harness.wait_until(lambda: self.smdp_lines("rejected"), what="the refusal")
        self.wait_daemon_log("refused the notification")
        # The automatic delivery ended without arming a retry: one request.
        self.wait_daemon_log("automatic delivery ended; no retry is due")
        self.assertEqual(self.smdp.command("stats")["requests"], 1)
        self.assertEqual(self.retries_announced(), [])
        self.assertEqual(self.listed(), {FIRST_SEQ: ("delete", address, iccid)})
        self.assertEqual(self.pending(), 1)
        self.assertEqual(self.delivered_signals(), [])
        # Once the SM-DP+ takes it, a client's SendNotifications delivers it.
        self.smdp.command("reject off")
        results = self.world.call(self.euicc, EUICC, "SendNotifications", "au", 0)[0]
        self.assertEqual([(s, d) for s, d, _ in results], [(FIRST_SEQ, True)])
        self.assertEqual(self.wait_delivered_signal(FIRST_SEQ),
                         (FIRST_SEQ, "delete", iccid, address))
        self.assertEqual(self.listed(), {})


class Tls(NotificationCase):
    """The SM-DP+'s certificate is checked: against the system store and the
    configured CAs, for the notification's address."""

    def delete_and_expect_refusal(self):
        iccid, address = self.iccid(1), self.notify_address(1, "delete")
        self.world.call(self.path_of(iccid), PROFILE, "Delete")
        harness.wait_until(lambda: self.smdp.command("stats")["handshake_failures"] >= 1,
                           what="a refused TLS handshake")
        self.wait_daemon_log("trying again in")
        self.assertIn("certificate is not trusted", self.world.esimd_log_text())
        self.assertEqual(self.smdp.command("stats")["requests"], 0)
        self.assertEqual(self.listed(), {FIRST_SEQ: ("delete", address, iccid)})
        self.assertEqual(self.pending(), 1)
        self.assertEqual(self.delivered_signals(), [])
        got, message = self.world.gdbus_error(self.euicc, EUICC, "SendNotifications", ["@au []"])
        self.assertEqual(got, "org.esimd.Error.SmdpUnreachable", message)
        self.assertIn("certificate", message)
        self.assertIn(address, message)
        self.assertEqual(self.listed(), {FIRST_SEQ: ("delete", address, iccid)})

    def test_a_server_of_an_untrusted_ca_gets_nothing(self):
        trusted = harness.make_certs(self.world)
        smdp = self.start_smdp()  # its own CA, which esimd is not given
        self.start(args=[f"--smdp-ca-file={trusted}/ca.pem",
                         f"--smdp-host-override={smdp.host}:{smdp.port}"])
        self.delete_and_expect_refusal()

    def test_a_certificate_for_another_name_is_refused(self):
        certs = harness.make_certs(self.world, ["other.example.com", "127.0.0.1"])
        self.start_smdp(args=(), certs=certs)
        self.start()
        self.delete_and_expect_refusal()

    def test_the_ca_directory_is_trusted(self):
        smdp = self.start_smdp()
        ca_dir = os.path.join(self.world.tmpdir, "ci")
        os.mkdir(ca_dir)
        with open(smdp.ca_file) as src, open(os.path.join(ca_dir, "test-ci.pem"), "w") as dst:
            dst.write(src.read())
        # Files that are not certificates are skipped, not fatal.
        with open(os.path.join(ca_dir, "broken.pem"), "w") as f:
            f.write("not a certificate\n")
        with open(os.path.join(ca_dir, "README"), "w") as f:
            f.write("not a certificate either\n")
        self.start(args=[f"--smdp-host-override={smdp.host}:{smdp.port}"],
                   **{"smdp-ca-dir": ca_dir})
        iccid, address = self.iccid(1), self.notify_address(1, "delete")
        self.world.call(self.path_of(iccid), PROFILE, "Delete")
        self.assertEqual(self.wait_delivered_signal(FIRST_SEQ),
                         (FIRST_SEQ, "delete", iccid, address))
        self.assert_received(FIRST_SEQ, "delete", iccid, address)
        self.assertEqual(self.listed(), {})
        self.assertIn("broken.pem", self.world.esimd_log_text())


if __name__ == "__main__":
    harness.main()
