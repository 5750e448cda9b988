#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""esimd as a program: its options and configuration file, exit statuses
(0 ok, 1 runtime error, 2 usage error), READY=1 to the service manager once
the modems are probed, clean shutdown on SIGTERM and SIGINT, and an idle
daemon that does not wake up."""

import glob
import os
import signal
import socket
import subprocess
import time

import harness

CARD = "three-profiles.card"


def run_esimd(*args, seconds=20):
    # --no-udev: only the modems a test names, never the machine's own.
    return subprocess.run([harness.env_path("ESIMD")] + list(args) + ["--no-udev"],
                          stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=harness.timeout(seconds))


def context_switches(pid):
    """Voluntary context switches of every thread of a process: each time a
    thread sleeps (in poll, say) and wakes up again, this grows by one."""
    total = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass  # a thread that just ended
    return total


def cpu_ticks(pid):
    """User plus system CPU time of a process, in clock ticks (proc(5))."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class NotifySocket:
    """The service manager's end of sd_notify(): a datagram socket whose
    path goes into NOTIFY_SOCKET."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []

    def wait_for(self, key, seconds=harness.DEFAULT_TIMEOUT):
        """The first datagram with a line starting with key."""
        deadline = time.monotonic() + harness.timeout(seconds)
        while True:
            for message in self.messages:
                if any(line.startswith(key) for line in message.splitlines()):
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise harness.HarnessError(f"no {key} from esimd")
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def close(self):
        self.sock.close()


class CommandLine(harness.WorldTestCase):
    def test_version_prints_the_version_and_exits_0(self):
        res = run_esimd("--version")
        self.assertEqual(res.returncode, 0)
        self.assertRegex(res.stdout, r"^esimd [0-9]+\.[0-9]+")

    def test_unknown_option_is_a_usage_error(self):
        res = run_esimd("--no-such-option")
        self.assertEqual(res.returncode, 2)
        self.assertIn("no-such-option", res.stderr)

    def test_bad_device_is_a_usage_error_naming_the_syntax(self):
        for device in ("modem:/dev/cdc-wdm0", "qmi:", "at:/dev/ttyUSB2@fast", "qrtr:zero"):
            with self.subTest(device=device):
                res = run_esimd(f"--bus={self.world.address}", f"--device={device}")
                self.assertEqual(res.returncode, 2, res.stderr)
                self.assertIn(device, res.stderr)

    def test_missing_config_file_named_on_the_command_line_is_an_error(self):
        missing = os.path.join(self.world.tmpdir, "missing.conf")
        res = run_esimd(f"--bus={self.world.address}", f"--config={missing}")
        self.assertEqual(res.returncode, 1)
        self.assertIn(missing, res.stderr)

    def test_bad_config_value_is_an_error_naming_the_key(self):
        path = os.path.join(self.world.tmpdir, "bad.conf")
        with open(path, "w") as f:
            f.write("[esimd]\ntimeout-ms=soon\n")
        res = run_esimd(f"--bus={self.world.address}", f"--config={path}")
        self.assertEqual(res.returncode, 1)
        self.assertIn("timeout-ms", res.stderr)

    def test_unreachable_bus_is_a_runtime_error(self):
        nowhere = os.path.join(self.world.tmpdir, "no-bus")
        res = run_esimd(f"--bus=unix:path={nowhere}")
        self.assertEqual(res.returncode, 1)
        self.assertIn("bus", res.stderr)


class Lifetime(harness.WorldTestCase):
    def setUp(self):
        super().setUp()
        self.modem = self.world.add_modem("qmi", [CARD])
        self.notify = NotifySocket(self.world.tmpdir)
        self.addCleanup(self.notify.close)

    def start(self, **kwargs):
        return self.world.start_esimd(env={"NOTIFY_SOCKET": self.notify.path}, **kwargs)

    def test_ready_is_sent_once_the_modems_are_probed(self):
        self.start(wait_euiccs=0)
        message = self.notify.wait_for("READY=1")
        # Probing is over by then: the eUICC is on the bus already.
        self.assertEqual(len(self.world.euicc_paths()), 1)
        self.assertIn("STATUS=", message)

    def test_devices_from_the_configuration_file_are_used(self):
        self.start(devices=[], config={"devices": self.modem.device})
        euicc = self.world.euicc_paths()[0]
        self.assertEqual(self.world.get_property(euicc, harness.EUICC, "Port"), self.modem.port)

    def test_second_daemon_on_the_same_bus_exits_1(self):
        self.start()
        res = run_esimd(f"--bus={self.world.address}", "--no-proxy")
        self.assertEqual(res.returncode, 1)
        self.assertIn("org.esimd", res.stderr)
        # The first one still serves.
        self.assertEqual(len(self.world.euicc_paths()), 1)

    def check_shutdown(self, sig):
        self.start()
        self.notify.wait_for("READY=1")
        self.assertEqual(self.world.stop_esimd(sig), 0)
        self.assertIn("STOPPING=1", self.notify.wait_for("STOPPING=1"))
        self.assertFalse(self.world.name_has_owner(harness.BUS_NAME))

    def test_sigterm_shuts_down_cleanly(self):
        self.check_shutdown(signal.SIGTERM)

    def test_sigint_shuts_down_cleanly(self):
        self.check_shutdown(signal.SIGINT)

    def test_idle_daemon_does_not_wake_up(self):
        proc = self.start()
        self.notify.wait_for("READY=1")
        euicc = self.world.euicc_paths()[0]
        # One round trip through the bus and the card queue: whatever the
        # start-up left to do has run once this answers.
        self.world.call(euicc, harness.EUICC, "Refresh")
        time.sleep(0.5)
        switches, ticks = context_switches(proc.pid), cpu_ticks(proc.pid)
        time.sleep(3)
        switches = context_switches(proc.pid) - switches
        ticks = cpu_ticks(proc.pid) - ticks
        # No timer and no poll timeout (a thread would sleep and wake up),
        # no busy loop (it would burn CPU without sleeping).
        self.assertLessEqual(switches, 1, f"esimd woke up {switches} times in 3 s of idleness")
        self.assertLessEqual(ticks, 1, f"esimd used {ticks} ticks of CPU in 3 s of idleness")


if __name__ == "__main__":
    harness.main()
