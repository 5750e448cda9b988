# SPDX-License-Identifier: GPL-2.0-or-later
"""What every benchmark shares: the integration tests' World (a private
dbus-daemon, modem-sim and esimd) and one way to report a number.

A benchmark makes a Report, calls measure() for each number and finish() at
the end. Each measure prints one line

    BENCH <bench> <metric> <value> <unit> <target> <status> <note>

(tab-separated; target "-" and status "info" for a number without one);
bench/run collects these lines from meson's log into its table. finish()
exits 1 when a target was missed, 77 (meson's "skipped") when the
benchmark skipped itself, 0 otherwise."""

import os
import statistics
import sys

sys.path.insert(0, os.environ.get("ESIMD_HARNESS_DIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration")))

import harness  # noqa: E402,F401  (found through the path set above; re-exported)

SKIP = 77


class Report:
    def __init__(self, bench):
        self.bench = bench
        self.missed = []
        self.count = 0

    def measure(self, metric, value, unit, limit=None, note=""):
        """One number. limit is the most the number may be (lower is better
        for everything measured here); None for an informational number."""
        if isinstance(value, float):
            shown = f"{value:.1f}" if value < 1000 else f"{value:.0f}"
        else:
            shown = str(value)
        if limit is None:
            status = "info"
        elif value <= limit:
            status = "ok"
            if isinstance(limit, int) and value < limit and unit == "apdus":
                # Deterministic counts: a drop is a win to lock in.
                note = (note + "; " if note else "") + "below target: lower it"
        else:
            status = "MISSED"
            self.missed.append(f"{metric} = {shown} {unit}, target <= {limit}")
        target = "-" if limit is None else f"<= {limit}"
        self.count += 1
        print("\t".join(["BENCH", self.bench, metric, shown, unit, target, status, note]),
              flush=True)

    def skip(self, why):
        print("\t".join(["BENCH", self.bench, "(skipped)", "-", "-", "-", "skip", why]),
              flush=True)
        sys.exit(SKIP)

    def finish(self):
        if self.missed:
            print(f"{self.bench}: {len(self.missed)} of {self.count} targets missed:")
            for m in self.missed:
                print(f"  {m}")
            sys.exit(1)
        print(f"{self.bench}: {self.count} numbers, every target met")
        sys.exit(0)


def sanitized():
    """The sanitizer the build uses ("" when none)."""
    value = os.environ.get("ESIMD_BENCH_SANITIZE", "none")
    return "" if value in ("", "none") else value


def optimized():
    """TRUE for -O2, -O3 and -Os builds, where instruction targets apply."""
    return os.environ.get("ESIMD_BENCH_OPTIMIZATION", "2") in ("2", "3", "s")


def median(values):
    return statistics.median(values)


def apdu_count(log_path):
    """Command APDUs in a modem-sim APDU log ("> HEX" lines)."""
    try:
        with open(log_path) as f:
            return sum(1 for line in f if line.startswith("> "))
    except FileNotFoundError:
        return 0


def proc_threads(pid):
    """The thread ids of a process."""
    try:
        return [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except FileNotFoundError:
        return []


def proc_status(pid, tid=None):
    """/proc/PID/status (or a thread's) as {key: value string}."""
    path = f"/proc/{pid}/status" if tid is None else f"/proc/{pid}/task/{tid}/status"
    out = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def proc_kib(pid, key):
    """A memory field of /proc/PID/status (VmHWM, VmRSS, ...) in KiB."""
    return int(proc_status(pid)[key].split()[0])


def proc_cpu_ticks(pid):
    """utime + stime of the whole process, in clock ticks (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name is in parentheses and may hold spaces.
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    return int(fields[11]) + int(fields[12])


def proc_wakeups(pid):
    """Voluntary context switches summed over every thread of the process:
    each one is a sleep that something woke up from."""
    total = 0
    for tid in proc_threads(pid):
        try:
            total += int(proc_status(pid, tid)["voluntary_ctxt_switches"])
        except (FileNotFoundError, KeyError):
            pass
    return total
