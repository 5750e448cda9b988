# SPDX-License-Identifier: GPL-2.0-or-later
"""What the client tests share: the card files, a modem-sim to talk to, and
running a client with a timeout."""
import os
import re
import subprocess

TIMEOUT_S = 20


def card_files():
    """The eUICC and the plain SIM card files of ESIMD_CARDS_DIR."""
    cards = os.environ.get("ESIMD_CARDS_DIR")
    if not cards:
        raise SystemExit("ESIMD_CARDS_DIR is not set")
    return (os.path.join(cards, "three-profiles.card"), os.path.join(cards, "plain-sim.card"))


def card_value(path, key):
    """The first "key value" line of a card file."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if len(words) >= 2 and words[0] == key:
                return words[1]
    raise SystemExit(f"{path} has no {key}")


class ModemSim:
    """modem-sim speaking protocol ("qmi", "mbim", "at") with the card files
    in slots and its --option K=V knobs; port is the pty it printed."""

    def __init__(self, binary, protocol, slots, options=()):
        args = [binary, f"--{protocol}"]
        for s in slots:
            args += ["--slot", s]
        for o in options:
            args += ["--option", o]
        # stdin stays a pipe: modem-sim exits when it reaches EOF, so it never
        # outlives the test.
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"PTY (\S+)$", line.strip())
        if not m:
            self.stop()
            raise SystemExit(f"modem-sim did not print its pty: {line!r} {self.proc.stderr.read()}")
        self.port = m.group(1)

    def stop(self, require_clean_exit=False):
        """Ends modem-sim; with require_clean_exit, a simulator that crashed
        or leaked (sanitizer builds) is an AssertionError."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if require_clean_exit and self.proc.returncode != 0:
            raise AssertionError(f"modem-sim exited with {self.proc.returncode}:\n"
                                 f"{self.proc.stderr.read()}")


def run(cmd):
    """Runs a client to its end, bounded by TIMEOUT_S (TimeoutExpired)."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)


def run_ok(cmd):
    """Runs a client that must succeed; its standard output."""
    r = run(cmd)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def checker(client):
    """check(cond, what, output): an AssertionError quoting what client said."""

    def check(cond, what, output):
        if not cond:
            raise AssertionError(f"{what}\n--- {client} said:\n{output}")

    return check
