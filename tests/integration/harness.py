# SPDX-License-Identifier: GPL-2.0-or-later
"""The world an integration test runs in: a private dbus-daemon, modem-sim
processes serving cards on ptys, and esimd on that bus, driven with busctl,
gdbus and esimctl.

    with harness.World() as world:
        world.add_modem("qmi", ["three-profiles.card"])
        world.start_esimd()
        euicc = world.euicc_paths()[0]
        world.get_property(euicc, harness.EUICC, "Eid")

Everything is torn down on exit, also when the test failed; every wait is
bounded. Environment (set by tests/integration/meson.build): ESIMD, MODEM_SIM,
ESIMD_CARDS_DIR, ESIMD_DBUS_DIR, and ESIMCTL once the client exists.
ESIMD_TEST_TIMEOUT_SCALE multiplies every timeout (slow sanitizer builds).

Tests are plain unittest cases run by harness.main(), which prints
"N passed, N failed" and exits non-zero on any failure; a WorldTestCase
prints the logs of its world when one of its tests fails.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BUS_NAME = "org.esimd"
MANAGER_PATH = "/org/esimd"
MANAGER = "org.esimd.Manager1"
EUICC = "org.esimd.Euicc1"
PROFILE = "org.esimd.Profile1"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"
POLKIT_NAME = "org.freedesktop.PolicyKit1"
POLKIT_PATH = "/org/freedesktop/PolicyKit1/Authority"

TIMEOUT_SCALE = float(os.environ.get("ESIMD_TEST_TIMEOUT_SCALE", "1"))
# Long enough for a sanitizer build on a loaded machine, short enough that a
# hang fails the test well before meson's own timeout.
DEFAULT_TIMEOUT = 30.0

# The uid/gid a test runs unprivileged clients as (setpriv).
NOBODY = 65534


def timeout(seconds=DEFAULT_TIMEOUT):
    return seconds * TIMEOUT_SCALE


class HarnessError(Exception):
    """The world could not be set up or did not behave in time."""


class CallError(Exception):
    """A D-Bus call answered with an error: .name and .message."""

    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def env_path(name):
    value = os.environ.get(name)
    if not value:
        raise HarnessError(f"{name} is not set: run the test through meson test")
    return value


def cards_dir():
    return env_path("ESIMD_CARDS_DIR")


def card_path(card):
    """A card file name relative to ESIMD_CARDS_DIR, or a path."""
    return card if os.path.isabs(card) or os.sep in card else os.path.join(cards_dir(), card)


def dbus_dir():
    return env_path("ESIMD_DBUS_DIR")


def wait_until(predicate, seconds=DEFAULT_TIMEOUT, what="the condition", interval=0.05):
    """Polls predicate() until it returns something true; returns that."""
    deadline = time.monotonic() + timeout(seconds)
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out waiting for {what}")
        time.sleep(interval)


def _read_first_line(proc, seconds, what):
    """The first line a child prints on stdout, bounded in time."""
    result = {}

    def reader():
        result["line"] = proc.stdout.readline()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout(seconds))
    line = result.get("line")
    if not line:
        raise HarnessError(f"{what} printed nothing (exit status {proc.poll()})")
    return line.strip()


class _LogFile:
    """A child's stdout+stderr, kept in a file for printing on failure."""

    def __init__(self, directory, name):
        self.name = name
        self.path = os.path.join(directory, name + ".log")
        self.file = open(self.path, "w+b")

    def text(self):
        self.file.flush()
        with open(self.path, "rb") as f:
            return f.read().decode(errors="replace")

    def close(self):
        self.file.close()


class Modem:
    """One modem-sim process: .port is the pty to hand to esimd."""

    def __init__(self, protocol, proc, port, log):
        self.protocol = protocol
        self.proc = proc
        self.port = port
        self.log = log

    @property
    def device(self):
        """The --device argument for esimd."""
        return f"{self.protocol}:{self.port}"


class SignalMonitor:
    """busctl monitor on the test bus: every message to or from org.esimd,
    parsed from its JSON output, collected by a reader thread."""

    def __init__(self, world):
        self.messages = []
        self._cond = threading.Condition()
        self._log = _LogFile(world.tmpdir, f"monitor-{len(world.monitors)}")
        self.proc = subprocess.Popen(
            ["busctl", f"--address={world.address}", "--json=short", "monitor", BUS_NAME],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log.file)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        # busctl says so on stderr once it is a monitor: messages sent from
        # then on are seen.
        wait_until(lambda: "Monitoring" in self._log.text() or self.proc.poll() is not None,
                   10, "busctl monitor to start")
        if self.proc.poll() is not None:
            raise HarnessError("busctl monitor failed:\n" + self._log.text())

    def _read(self):
        for line in self.proc.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                self.messages.append(message)
                self._cond.notify_all()

    def signals(self, member=None, path=None, interface=None):
        with self._cond:
            found = list(self.messages)
        return [m for m in found if m.get("type") == "signal"
                and (member is None or m.get("member") == member)
                and (path is None or m.get("path") == path)
                and (interface is None or m.get("interface") == interface)]

    def wait_for(self, predicate, seconds=DEFAULT_TIMEOUT, what="a signal"):
        """Waits until predicate(message) holds for a message seen; returns it."""
        deadline = time.monotonic() + timeout(seconds)
        seen = 0
        with self._cond:
            while True:
                while seen < len(self.messages):
                    message = self.messages[seen]
                    seen += 1
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HarnessError(f"timed out waiting for {what}")
                self._cond.wait(left)

    def wait_for_properties_changed(self, path, interface, prop, seconds=DEFAULT_TIMEOUT):
        """The value of prop in the first PropertiesChanged carrying it."""
        def match(m):
            if m.get("type") != "signal" or m.get("member") != "PropertiesChanged":
                return False
            if m.get("path") != path:
                return False
            data = m.get("payload", {}).get("data", [])
            return len(data) >= 2 and data[0] == interface and prop in data[1]
        m = self.wait_for(match, seconds, f"PropertiesChanged {prop} on {path}")
        return m["payload"]["data"][1][prop]["data"]

    def wait_for_signal(self, member, path=None, seconds=DEFAULT_TIMEOUT):
        """The payload data of the first signal named member (on path)."""
        m = self.wait_for(
            lambda m: m.get("type") == "signal" and m.get("member") == member
            and (path is None or m.get("path") == path),
            seconds, f"{member} on {path or 'any path'}")
        return m.get("payload", {}).get("data", [])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout(5))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._thread.join(timeout(5))
        self.proc.stdout.close()
        self._log.close()


def _bus_config(socket_path, bus_type="esimd-test"):
    """A bus that lets everybody own, send and receive anything: the test
    controls who runs on it. Unprivileged clients (setpriv) may connect."""
    return f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>{bus_type}</type>
  <listen>unix:path={socket_path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow send_type="signal"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
"""


def _stop_process(proc, seconds=10, sig=signal.SIGTERM):
    """Stops a child: sig, then SIGKILL after the timeout. Returns its status."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout(seconds))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class World:
    """A private bus with modems and esimd on it."""

    # The bus's <type>; a world for the system's own daemons says "system".
    bus_type = "esimd-test"

    def __init__(self):
        self.tmpdir = None
        self.address = None
        self.bus_proc = None
        self.modems = []
        self.esimd_proc = None
        self.esimd_log = None
        self.esimd_status = None
        self.monitors = []
        self.extra_procs = []
        self._logs = []

    # -- lifetime --

    def __enter__(self):
        try:
            self.start_bus()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not issubclass(exc_type, unittest.SkipTest):
            self.print_logs()
        self.close()
        return False

    def start_bus(self):
        self.tmpdir = tempfile.mkdtemp(prefix="esimd-test-")
        # Clients started as another user (setpriv) must reach the socket.
        os.chmod(self.tmpdir, 0o755)
        socket_path = os.path.join(self.tmpdir, "bus")
        config = os.path.join(self.tmpdir, "bus.conf")
        with open(config, "w") as f:
            f.write(_bus_config(socket_path, self.bus_type))
        log = self._log("dbus-daemon")
        self.bus_proc = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--print-address", "--nofork"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log.file, text=True)
        self.address = _read_first_line(self.bus_proc, 10, "dbus-daemon")
        if not self.address.startswith("unix:"):
            raise HarnessError(f"dbus-daemon printed {self.address!r}, not an address")

    def close(self):
        """Stops everything, in reverse order of start. Safe to call twice."""
        for mon in self.monitors:
            mon.stop()
        self.monitors = []
        if self.esimd_proc:
            self.stop_esimd()
        for proc in self.extra_procs:
            _stop_process(proc)
        self.extra_procs = []
        for modem in self.modems:
            if modem.proc.stdin:
                modem.proc.stdin.close()
            _stop_process(modem.proc)
            modem.proc.stdout.close()
        self.modems = []
        if self.bus_proc:
            _stop_process(self.bus_proc)
            self.bus_proc.stdout.close()
            self.bus_proc = None
        for log in self._logs:
            log.close()
        self._logs = []
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None

    def _log(self, name):
        log = _LogFile(self.tmpdir, name)
        self._logs.append(log)
        return log

    def print_logs(self):
        """Prints what the daemon and the simulators said (on failure)."""
        for log in self._logs:
            text = log.text()
            if text.strip():
                print(f"----- {log.name} -----\n{text.rstrip()}", file=sys.stderr)
        sys.stderr.flush()

    def esimd_log_text(self):
        return self.esimd_log.text() if self.esimd_log else ""

    # -- modems --

    def add_modem(self, protocol="qmi", cards=("three-profiles.card",), options=()):
        """Starts modem-sim with one slot per card ("empty" for an empty slot)."""
        argv = [env_path("MODEM_SIM"), f"--{protocol}"]
        for card in cards:
            argv += ["--slot", card if card == "empty" else card_path(card)]
        for option in options:
            argv += ["--option", option]
        log = self._log(f"modem-sim-{len(self.modems)}")
        # stdin stays open: modem-sim exits when it reaches EOF, so it cannot
        # outlive a test that dies.
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=log.file, text=True)
        line = _read_first_line(proc, 10, "modem-sim")
        if not line.startswith("PTY "):
            _stop_process(proc)
            raise HarnessError(f"modem-sim printed {line!r}, not PTY <path>")
        modem = Modem(protocol, proc, line[4:], log)
        self.modems.append(modem)
        return modem

    # -- esimd --

    def start_esimd(self, devices=None, args=(), wait_euiccs=None, env=None, config=None,
                    udev=False, proxy=False):
        """Starts esimd on the test bus with the modems added so far (or the
        --device values given) and waits until org.esimd is on the bus and
        Manager1.Euiccs lists wait_euiccs entries (default: one per modem
        added; 0 to wait only for the name).

        config: keys of the [esimd] group of the configuration file written
        for this run. By default auto-send-notifications is false, so that
        the daemon does not try to reach the card's SM-DP+ (tests talk only
        to local peers); a test of delivery sets it.

        udev: let esimd find modems through udev too (a umockdev testbed in
        env); by default it serves only the devices given.

        proxy: open QMI and MBIM ports through qmi-proxy/mbim-proxy, shared
        with another program (the real ModemManager); by default esimd is
        started with --no-proxy."""
        if devices is None:
            devices = [m.device for m in self.modems]
        if wait_euiccs is None:
            wait_euiccs = len(self.modems)
        argv = [env_path("ESIMD"), f"--bus={self.address}", "--verbose"]
        if not proxy:
            argv.append("--no-proxy")
        if not udev:
            argv.append("--no-udev")
        argv += [f"--device={d}" for d in devices]
        argv += list(args)
        self.esimd_log = self._log("esimd")
        child_env = dict(os.environ)
        # A config file of the machine must not leak into the test.
        if not any(a.startswith("--config") for a in args):
            keys = {"auto-send-notifications": "false"}
            keys.update(config or {})
            path = os.path.join(self.tmpdir, "esimd.conf")
            with open(path, "w") as f:
                f.write("[esimd]\n")
                for key, value in keys.items():
                    f.write(f"{key}={value}\n")
            argv.append(f"--config={path}")
        if env:
            child_env.update(env)
        self.esimd_status = None
        self.esimd_proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                           stdout=self.esimd_log.file,
                                           stderr=subprocess.STDOUT, env=child_env)

        def ready():
            if self.esimd_proc.poll() is not None:
                raise HarnessError(f"esimd exited with status {self.esimd_proc.returncode}")
            if not self.name_has_owner(BUS_NAME):
                return False
            return len(self.euicc_paths()) >= wait_euiccs
        wait_until(ready, DEFAULT_TIMEOUT, f"esimd to own {BUS_NAME} with {wait_euiccs} eUICCs")
        return self.esimd_proc

    def stop_esimd(self, sig=signal.SIGTERM, seconds=20):
        """Stops esimd; returns its exit status (also kept in .esimd_status)."""
        if not self.esimd_proc:
            return self.esimd_status
        self.esimd_status = _stop_process(self.esimd_proc, seconds, sig)
        self.esimd_proc = None
        return self.esimd_status

    # -- bus clients --

    def _run(self, argv, user=None, seconds=DEFAULT_TIMEOUT, env=None):
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] + argv
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=timeout(seconds), env=env)
        except subprocess.TimeoutExpired as e:
            raise HarnessError(f"{argv[0]} did not finish: {' '.join(argv)}") from e

    def busctl(self, *args, user=None, seconds=DEFAULT_TIMEOUT, check=True):
        """busctl --address=BUS --json=short ARGS; returns the process result."""
        argv = ["busctl", f"--address={self.address}", "--json=short",
                f"--timeout={int(timeout(seconds))}"] + [str(a) for a in args]
        res = self._run(argv, user, seconds + 5)
        if check and res.returncode != 0:
            raise HarnessError(f"{' '.join(argv)} failed: {res.stderr.strip()}")
        return res

    def get_property(self, path, interface, name, user=None):
        """A property's value as JSON gives it (ay as a list of ints)."""
        res = self.busctl("get-property", BUS_NAME, path, interface, name, user=user)
        return json.loads(res.stdout)["data"]

    def get_all(self, path, interface):
        """Every property of an interface: {name: value}."""
        res = self.busctl("call", BUS_NAME, path, PROPERTIES, "GetAll", "s", interface)
        props = json.loads(res.stdout)["data"][0]
        return {k: v["data"] for k, v in props.items()}

    def call(self, path, interface, method, signature="", *args, user=None,
             seconds=DEFAULT_TIMEOUT):
        """Calls a method through busctl: returns the reply's values (a list),
        raises CallError with the D-Bus error name when it fails."""
        argv = ["call", BUS_NAME, path, interface, method]
        if signature:
            argv += [signature] + [str(a) for a in args]
        res = self.busctl(*argv, user=user, seconds=seconds, check=False)
        if res.returncode != 0:
            # busctl prints the error's message, not its name: ask gdbus,
            # which prints both, for the same call.
            raise self._error_of(path, interface, method, signature, args, user, seconds,
                                 res.stderr.strip())
        out = res.stdout.strip()
        return json.loads(out)["data"] if out else []

    def _error_of(self, path, interface, method, signature, args, user, seconds, fallback):
        name, message = self.gdbus_error(path, interface, method,
                                         _gvariant_args(signature, args), user, seconds)
        if name is None:
            return CallError("unknown", fallback)
        return CallError(name, message)

    def gdbus_error(self, path, interface, method, gvariant_args=(), user=None,
                    seconds=DEFAULT_TIMEOUT):
        """Makes the call with gdbus; returns (error name, message) or
        (None, None) when it succeeded."""
        argv = ["gdbus", "call", "--address", self.address, "--dest", BUS_NAME,
                "--object-path", path, "--method", f"{interface}.{method}",
                "--timeout", str(int(timeout(seconds)))] + list(gvariant_args)
        res = self._run(argv, user, seconds + 5)
        if res.returncode == 0:
            return None, None
        # "Error: GDBus.Error:org.example.Name: message"
        text = res.stderr.strip().splitlines()[0] if res.stderr.strip() else ""
        marker = "GDBus.Error:"
        if marker in text:
            rest = text.split(marker, 1)[1]
            name, _, message = rest.partition(": ")
            return name, message
        return "unknown", text

    def name_has_owner(self, name):
        res = self.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "NameHasOwner", "s", name, check=False)
        return res.returncode == 0 and json.loads(res.stdout)["data"][0]

    def euicc_paths(self):
        res = self.busctl("get-property", BUS_NAME, MANAGER_PATH, MANAGER, "Euiccs", check=False)
        if res.returncode != 0:
            return []
        return json.loads(res.stdout)["data"]

    def profile_paths(self, euicc_path):
        return self.get_property(euicc_path, EUICC, "Profiles")

    def managed_objects(self):
        """GetManagedObjects as {path: {interface: {name: value}}}."""
        res = self.busctl("call", BUS_NAME, MANAGER_PATH, OBJECT_MANAGER, "GetManagedObjects")
        objects = json.loads(res.stdout)["data"][0]
        return {path: {iface: {k: v["data"] for k, v in props.items()}
                       for iface, props in ifaces.items()}
                for path, ifaces in objects.items()}

    def introspect(self, path):
        """The XML the daemon gives for an object."""
        argv = ["busctl", f"--address={self.address}", "introspect", "--xml-interface",
                BUS_NAME, path]
        res = self._run(argv)
        if res.returncode != 0:
            raise HarnessError(f"introspecting {path} failed: {res.stderr.strip()}")
        return res.stdout

    def monitor(self):
        """A SignalMonitor started now; stopped when the world closes."""
        mon = SignalMonitor(self)
        self.monitors.append(mon)
        return mon

    def start_polkit(self):
        """Starts python-dbusmock's polkitd on the test bus; it refuses every
        action until allowed (see set_polkit_allowed)."""
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        self.spawn([python_with("dbusmock"), "-m", "dbusmock", "--system", "--template",
                    "polkitd"], env=env, name="polkitd")
        wait_until(lambda: self.name_has_owner(POLKIT_NAME), 20, "polkitd to be on the bus")

    def polkit_mock(self, method, signature="", *args):
        """Calls a method of the polkitd mock's org.freedesktop.DBus.Mock."""
        argv = ["call", POLKIT_NAME, POLKIT_PATH, "org.freedesktop.DBus.Mock", method]
        if signature:
            argv += [signature] + [str(a) for a in args]
        res = self.busctl(*argv)
        out = res.stdout.strip()
        return json.loads(out)["data"] if out else []

    def set_polkit_allowed(self, actions):
        """The polkit actions the mock grants from now on."""
        self.polkit_mock("SetAllowed", "as", len(actions), *actions)

    def unique_names(self):
        res = self.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "ListNames")
        return [n for n in json.loads(res.stdout)["data"][0] if n.startswith(":")]

    def connection_uid(self, name):
        """The uid of a connection, None when it is gone."""
        res = self.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser", "s", name,
                          check=False)
        return json.loads(res.stdout)["data"][0] if res.returncode == 0 else None

    def esimctl(self, *args, user=None, seconds=DEFAULT_TIMEOUT):
        """Runs esimctl against the test bus; skips the test when it is not built."""
        path = os.environ.get("ESIMCTL")
        if not path:
            raise unittest.SkipTest("esimctl is not built")
        return self._run([path, f"--bus={self.address}"] + [str(a) for a in args],
                         user, seconds)

    def spawn(self, argv, env=None, name=None):
        """Starts a helper process (stopped when the world closes), its
        output in the world's logs."""
        log = self._log(name or os.path.basename(argv[0]))
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log.file,
                                stderr=subprocess.STDOUT, env=env)
        self.extra_procs.append(proc)
        return proc


def python_with(module):
    """A Python interpreter that can import module: this one, or the
    system's (python3-dbusmock and python3-dbus are distribution packages)."""
    candidates = [sys.executable, shutil.which("python3"), "/usr/bin/python3"]
    for python in dict.fromkeys(c for c in candidates if c):
        res = subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                             timeout=timeout(30))
        if res.returncode == 0:
            return python
    raise HarnessError(f"no Python here can import {module}")


def _gvariant_args(signature, args):
    """busctl's argument list as gdbus wants it (GVariant text), for the
    simple signatures the API uses: s, u, b and au."""
    out = []
    args = list(args)
    i = 0
    sig = signature
    while sig:
        if sig.startswith("au"):
            n = int(args[i])
            values = args[i + 1:i + 1 + n]
            i += 1 + n
            out.append("@au [" + ", ".join(str(int(v)) for v in values) + "]")
            sig = sig[2:]
            continue
        if sig.startswith("a{sv}"):
            # busctl's form: a count, then key, type (s or b) and value each.
            n = int(args[i])
            i += 1
            items = []
            for _ in range(n):
                key, vtype, value = args[i], args[i + 1], args[i + 2]
                i += 3
                if vtype == "s":
                    items.append(f"{json.dumps(str(key))}: <{json.dumps(str(value))}>")
                elif vtype == "b":
                    items.append(f"{json.dumps(str(key))}: "
                                 f"<{'true' if value in (True, 'true', '1', 1) else 'false'}>")
                else:
                    raise HarnessError(f"no GVariant translation for a variant of {vtype!r}")
            out.append("@a{sv} {" + ", ".join(items) + "}")
            sig = sig[5:]
            continue
        code, sig = sig[0], sig[1:]
        value = args[i]
        i += 1
        if code == "s":
            out.append(json.dumps(str(value)))
        elif code == "u":
            out.append(f"@u {int(value)}")
        elif code == "b":
            out.append("true" if value in (True, "true", "1", 1) else "false")
        else:
            raise HarnessError(f"no GVariant translation for {code!r}")
    return out


def parse_card(path):
    """A card file (tests/sim/README.md) as {"card": {key: value},
    "profiles": [{key: value}], "notifications": [{key: value}]}; a key given
    more than once keeps a list of its values."""
    data = {"card": {}, "profiles": [], "notifications": []}
    section = data["card"]
    with open(card_path(path)) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line == "[profile]":
                section = {}
                data["profiles"].append(section)
                continue
            if line == "[notification]":
                section = {}
                data["notifications"].append(section)
                continue
            key, _, value = line.partition(" ")
            if not value:
                key, _, value = line.partition("\t")
            value = value.strip()
            if key in section:
                old = section[key]
                section[key] = (old if isinstance(old, list) else [old]) + [value]
            else:
                section[key] = value
    return data


class WorldTestCase(unittest.TestCase):
    """A test case whose tests each get self.world (a World with the bus
    started). Subclasses set up modems and esimd in setUp or in the test. When
    a test fails, the world's logs are printed.

    After each test, an esimd still running is stopped with SIGTERM and must
    exit with status 0: a clean shutdown is part of every test (and under the
    sanitizers a leak or an error report makes the status non-zero). Set
    check_clean_exit = False in a test case that ends esimd otherwise."""

    check_clean_exit = True

    def setUp(self):
        self.world = World()
        self.world.__enter__()
        self.addCleanup(self.world.close)
        self.addCleanup(self._check_clean_exit)

    def _check_clean_exit(self):
        if not self.check_clean_exit or not self.world.esimd_proc:
            return
        status = self.world.stop_esimd()
        if status != 0:
            self.world.print_logs()
            self.fail(f"esimd exited with status {status} on SIGTERM, not 0")

    def doCleanups(self):
        # Cleanups close the world and delete its logs: print them first when
        # the test failed.
        outcome = getattr(self, "_outcome", None)
        failed = outcome is not None and not outcome.success
        if failed and getattr(self, "world", None) and self.world.tmpdir:
            self.world.print_logs()
        return super().doCleanups()


def main():
    """Runs the unittest cases of the __main__ module (or the ones named on
    the command line); prints "N passed, N failed" and exits non-zero on any
    failure."""
    loader = unittest.TestLoader()
    module = sys.modules["__main__"]
    if len(sys.argv) > 1:
        # Names of test cases or tests, as unittest takes them: Class.test_x
        suite = loader.loadTestsFromNames(sys.argv[1:], module)
    else:
        suite = loader.loadTestsFromModule(module)
    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout)
    result = runner.run(suite)
    # A test whose subtests fail counts once, as the one test it is.
    failed_ids = {getattr(test, "test_case", test).id()
                  for test, _ in result.failures + result.errors}
    failed_ids.update(test.id() for test in result.unexpectedSuccesses)
    failed = len(failed_ids)
    skipped = len(result.skipped)
    passed = result.testsRun - failed - skipped
    summary = f"{passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    print(summary)
    sys.exit(1 if failed or passed == 0 else 0)


def modem_command(modem, command, seconds=10):
    """Sends one command line to a running modem-sim ("option K=V" or
    "unplug", see tests/sim/README.md) and waits for its answer: returns
    once the change is in force, raises HarnessError on "ERROR ..."."""
    if modem.proc.poll() is not None:
        raise HarnessError(f"modem-sim exited with status {modem.proc.returncode}")
    modem.proc.stdin.write(command + "\n")
    modem.proc.stdin.flush()
    line = _read_first_line(modem.proc, seconds, f"modem-sim after {command!r}")
    if line != "OK":
        raise HarnessError(f"modem-sim refused {command!r}: {line}")


def modem_set_option(modem, option, seconds=10):
    """Changes a modem-sim knob while it runs (what --option takes, e.g.
    "fault=result:BF31=5@1", "error=0x003B:0x0003", "clear-faults")."""
    modem_command(modem, f"option {option}", seconds)


def sim_tool(name):
    """A script of tests/sim (smdp-sim, mkcerts): from the environment
    variable NAME in upper case with "-" as "_" when meson sets it, else
    beside this file's tests/integration folder."""
    value = os.environ.get(name.upper().replace("-", "_"))
    if value:
        return value
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "sim", name)
    if not os.path.exists(path):
        raise HarnessError(f"cannot find {name}")
    return os.path.normpath(path)


class SmdpSim:
    """One smdp-sim (tests/sim/smdp-sim.md) on 127.0.0.1 with a fresh test
    CA: .port, .ca_file, and .esimd_args() for start_esimd. Stopped when its
    world closes."""

    def __init__(self, world, args=(), certs=None, port=0, pki=None):
        """certs: a make_certs() directory to serve (default: a new CA);
        port: the port to listen on (default: one the kernel picks);
        pki: a make_pki() directory: a real SM-DP+ for downloads, its TLS
        certificate signed by the PKI's CI (certs is then not used)."""
        self.log_path = os.path.join(world.tmpdir, f"smdp-{len(world.extra_procs)}.jsonl")
        self._log = world._log(f"smdp-sim-{len(world.extra_procs)}")
        argv = [sys.executable, sim_tool("smdp-sim"), "--port", str(port)]
        if pki is not None:
            self.certs = pki
            self.ca_file = os.path.join(pki, "ci.pem")
            argv += ["--pki", pki]
        else:
            if certs is None:
                certs = make_certs(world)
            self.certs = certs
            self.ca_file = os.path.join(certs, "ca.pem")
            argv += ["--cert", os.path.join(certs, "server.pem"),
                     "--key", os.path.join(certs, "server.key")]
        argv += ["--log", self.log_path, "-v"] + list(args)
        # stdin stays open: smdp-sim exits at EOF, so it cannot outlive the test.
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log.file, text=True)
        world.extra_procs.append(self.proc)
        line = _read_first_line(self.proc, 20, "smdp-sim")
        if not line.startswith("LISTEN "):
            raise HarnessError(f"smdp-sim printed {line!r}, not LISTEN <host> <port>")
        self.host, self.port = line.split()[1], int(line.split()[2])

    def esimd_args(self):
        """esimd's options that send every ES9+ connection here, trusting its CA."""
        return [f"--smdp-ca-file={self.ca_file}",
                f"--smdp-host-override={self.host}:{self.port}"]

    def command(self, command, seconds=10):
        """A knob change on stdin ("reject refused", "fail-next 2", "stats");
        returns the state JSON of its "OK {json}" answer."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = _read_first_line(self.proc, seconds, f"smdp-sim after {command!r}")
        if not line.startswith("OK"):
            raise HarnessError(f"smdp-sim refused {command!r}: {line}")
        return json.loads(line[2:].strip() or "{}")

    def stop(self, seconds=10):
        """Stops it (stdin EOF) and waits; the log stays readable."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout(seconds))
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def received(self):
        """The log's lines (one dict per handleNotification it decoded)."""
        if not os.path.exists(self.log_path):
            return []
        with open(self.log_path) as f:
            return [json.loads(line) for line in f if line.strip()]


def make_certs(world, names=()):
    """A fresh test CA and a server certificate for names (default: every
    SM-DP+ address of the card files, see tests/sim/smdp-sim.md) in a new
    directory of the world: ca.pem, server.pem, server.key."""
    if not shutil.which(os.environ.get("OPENSSL", "openssl")):
        raise unittest.SkipTest("openssl is not installed: no test CA for smdp-sim")
    world.n_certs = getattr(world, "n_certs", 0) + 1
    certs = os.path.join(world.tmpdir, f"certs-{world.n_certs}")
    res = subprocess.run([sim_tool("mkcerts"), certs] + list(names), stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=timeout(60))
    if res.returncode != 0:
        raise HarnessError(f"mkcerts failed: {res.stderr.strip()}")
    return certs


def make_pki(world, eid):
    """A test PKI (tests/sim/mkpki) for a card with this EID in a new
    directory of the world; returns the directory."""
    if not shutil.which(os.environ.get("OPENSSL", "openssl")):
        raise unittest.SkipTest("openssl is not installed: no test PKI")
    world.n_pki = getattr(world, "n_pki", 0) + 1
    pki = os.path.join(world.tmpdir, f"pki-{world.n_pki}")
    res = subprocess.run(["sh", sim_tool("mkpki"), "--eid", eid, pki], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=timeout(60))
    if res.returncode != 0:
        raise HarnessError(f"mkpki failed: {res.stderr.strip()}")
    return pki


def closed_local_port():
    """A 127.0.0.1 TCP port that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
