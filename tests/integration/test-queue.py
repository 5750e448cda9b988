#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""One operation at a time per eUICC, in arrival order: ten callers fired
at once are served in the order the bus delivered their calls (the card
sees the nicknames in that order and keeps the last one), the card's state
is consistent afterwards, and a caller that leaves while its call waits in
the queue has that call dropped before it reaches the card."""

import os
import subprocess

import harness
from harness import EUICC, PROFILE

CARD = "three-profiles.card"


def nickname_hex(nickname):
    return nickname.encode().hex().upper()


class Queue(harness.WorldTestCase):
    def setUp(self):
        super().setUp()
        self.card = harness.parse_card(CARD)
        self.apdu_log = os.path.join(self.world.tmpdir, "apdu.log")
        # Every answer waits, so that calls pile up behind the one running.
        self.modem = self.world.add_modem("qmi", [CARD], options=[
            "delay-ms=150", f"apdu-log={self.apdu_log}"])
        self.world.start_esimd()
        self.euicc = self.world.euicc_paths()[0]
        self.profile = self.world.profile_paths(self.euicc)[1]

    def gdbus_call(self, path, method, *args):
        """A client process making one call; its own bus connection."""
        argv = ["gdbus", "call", "--address", self.world.address, "--dest", harness.BUS_NAME,
                "--object-path", path, "--method", f"{PROFILE}.{method}",
                "--timeout", str(int(harness.timeout(60)))] + list(args)
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        return proc

    def card_commands(self):
        """The command APDUs the card received, in order."""
        with open(self.apdu_log) as f:
            return [line[2:].strip() for line in f if line.startswith("> ")]

    def delivered_calls(self, monitor, member):
        """The calls of member the bus delivered to esimd, in delivery order:
        their first argument."""
        return [m["payload"]["data"][0] for m in monitor.messages
                if m.get("type") == "method_call" and m.get("member") == member
                and m.get("path") == self.profile]

    def test_ten_callers_are_served_in_arrival_order(self):
        monitor = self.world.monitor()
        names = [f"queued-{i}" for i in range(10)]
        procs = [self.gdbus_call(self.profile, "SetNickname", f'"{name}"') for name in names]
        for proc in procs:
            out, err = proc.communicate(timeout=harness.timeout(120))
            self.assertEqual(proc.returncode, 0, err)

        harness.wait_until(lambda: len(self.delivered_calls(monitor, "SetNickname")) == 10,
                           what="the monitor to see the ten calls")
        arrival = self.delivered_calls(monitor, "SetNickname")
        self.assertEqual(sorted(arrival), sorted(names))

        # The card saw the nicknames in the order the calls arrived...
        commands = self.card_commands()
        seen = []
        for command in commands:
            for name in names:
                if nickname_hex(name) in command and name not in seen:
                    seen.append(name)
        self.assertEqual(seen, arrival)
        # ... and keeps the last one, as does the daemon.
        self.assertEqual(self.world.get_property(self.profile, PROFILE, "Nickname"), arrival[-1])

        # Nothing cached differs from what the card says on a fresh read.
        before = self.world.managed_objects()
        self.world.call(self.euicc, EUICC, "Refresh")
        self.assertEqual(self.world.managed_objects(), before)

    def test_mixed_operations_leave_a_consistent_card(self):
        first, second, third = self.world.profile_paths(self.euicc)
        procs = [
            self.gdbus_call(first, "Disable"),
            self.gdbus_call(second, "Enable"),
            self.gdbus_call(second, "SetNickname", '"Now on"'),
            self.gdbus_call(third, "Enable"),
            self.gdbus_call(third, "Disable"),
        ]
        results = []
        for proc in procs:
            proc.communicate(timeout=harness.timeout(120))
            results.append(proc.returncode)
        # However they interleaved, at most one profile is enabled and the
        # cache agrees with the card.
        before = self.world.managed_objects()
        self.world.call(self.euicc, EUICC, "Refresh")
        after = self.world.managed_objects()
        self.assertEqual(after, before)
        states = [after[p][PROFILE]["State"] for p in (first, second, third)]
        self.assertLessEqual(states.count("enabled"), 1, states)
        enabled = after[self.euicc][EUICC]["EnabledProfile"]
        if "enabled" in states:
            self.assertEqual(enabled, (first, second, third)[states.index("enabled")])
        else:
            self.assertEqual(enabled, "/")
        self.assertEqual(after[second][PROFILE]["Nickname"], "Now on")

    def test_a_caller_that_leaves_while_queued_never_reaches_the_card(self):
        monitor = self.world.monitor()
        slow = self.gdbus_call(self.profile, "SetNickname", '"served"')
        # The first call is at the card (slowly, delay-ms)...
        harness.wait_until(
            lambda: any(nickname_hex("served") in c for c in self.card_commands()),
            what="the first call at the card")
        # ... when a second client queues one and leaves.
        leaver = self.gdbus_call(self.profile, "SetNickname", '"dropped"')
        harness.wait_until(lambda: "dropped" in self.delivered_calls(monitor, "SetNickname"),
                           what="the second call delivered to esimd")
        leaver.kill()
        leaver.wait(harness.timeout(5))

        _, err = slow.communicate(timeout=harness.timeout(60))
        self.assertEqual(slow.returncode, 0, err)
        # A call queued after the dropped one runs, so the dropped one's turn
        # has surely passed.
        self.assertEqual(self.world.call(self.profile, PROFILE, "SetNickname", "s", "after"), [])
        commands = self.card_commands()
        self.assertFalse(any(nickname_hex("dropped") in c for c in commands),
                         "the call of a client that left reached the card")
        self.assertTrue(any(nickname_hex("after") in c for c in commands))
        self.assertEqual(self.world.get_property(self.profile, PROFILE, "Nickname"), "after")


if __name__ == "__main__":
    harness.main()
