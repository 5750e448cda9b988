#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Instructions per ES10 decode, counted by callgrind: the GetProfilesInfo
answer of eight-icons.card (8 profiles with PNG icons, about 5.9 KB) and an
EUICCInfo2. bench-codec decodes each N times; callgrind counts only inside
the decode loop (--toggle-collect), so start-up and the card model are not
in the number. Instruction counts do not move with the load of the machine;
they do move with the compiler and its flags, so the targets apply to
optimized builds (-O2 and up) only."""

import os
import re
import shutil
import subprocess
import tempfile

import benchlib
from benchlib import harness

DECODES = 200
# Instructions per decode (README.md: measured value plus headroom).
TARGETS = {
    "GetProfilesInfo decode (8 profiles, icons)": ("bench_decode_profiles", 60000),
    "EUICCInfo2 decode": ("bench_decode_info2", 9000),
}


def count_instructions(valgrind, program, card, function, tmpdir):
    out = os.path.join(tmpdir, f"callgrind.{function}")
    argv = [valgrind, "--tool=callgrind", f"--toggle-collect={function}",
            f"--callgrind-out-file={out}", program, card, str(DECODES)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=harness.timeout(60))
    if res.returncode != 0:
        raise harness.HarnessError(f"{' '.join(argv)} failed:\n{res.stdout}{res.stderr}")
    with open(out) as f:
        match = re.search(r"^summary: (\d+)", f.read(), re.M)
    if not match:
        raise harness.HarnessError(f"no summary line in {out}")
    return int(match.group(1)), res.stdout


def without_debug_info(program, tmpdir):
    """A copy of the program without DWARF: callgrind needs only the symbol
    table, and its debug-info reader gives up on some newer DWARF (clang's
    default DWARF 5 with valgrind 3.19)."""
    objcopy = shutil.which("objcopy")
    if not objcopy:
        return program
    copy = os.path.join(tmpdir, os.path.basename(program))
    res = subprocess.run([objcopy, "--strip-debug", program, copy], capture_output=True,
                         text=True, timeout=harness.timeout(30))
    return copy if res.returncode == 0 else program


def main():
    report = benchlib.Report("codec")
    if benchlib.sanitized():
        report.skip(f"built with -Db_sanitize={benchlib.sanitized()}: counts the sanitizer")
    valgrind = os.environ.get("VALGRIND")
    if not valgrind:
        report.skip("valgrind is not installed")
    program = harness.env_path("BENCH_CODEC")
    card = harness.card_path("eight-icons.card")
    with tempfile.TemporaryDirectory(prefix="esimd-bench-") as tmpdir:
        program = without_debug_info(program, tmpdir)
        for metric, (function, limit) in TARGETS.items():
            total, out = count_instructions(valgrind, program, card, function, tmpdir)
            facts = dict(line.split() for line in out.splitlines() if line.strip())
            note = (f"{facts['profiles']} profiles, {facts['profiles-info-bytes']} B"
                    if "Profiles" in metric else f"{facts['euicc-info2-bytes']} B")
            if not benchlib.optimized():
                note += "; unoptimized build: no target"
                limit = None
            report.measure(metric, total // DECODES, "instr", limit, note)
    report.finish()


if __name__ == "__main__":
    main()
