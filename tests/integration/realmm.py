# SPDX-License-Identifier: GPL-2.0-or-later
"""The real ModemManager and NetworkManager in an integration test.

A RealWorld is a harness.World whose private bus is of the system type, with:

- python-dbusmock's polkitd on it, allowing everything;
- a USB modem in a umockdev testbed: one AT tty (ttyUSB0) that the real
  ModemManager probes and owns, its bytes relayed to the first port of a
  modem-sim, and a second port of the same modem-sim (same card) that esimd
  is given with --device, as a USB modem offers several ttys;
- ModemManager --debug on that bus, under umockdev's preload (plus
  tiocexcl-preload, see tests/sim/tiocexcl-preload.c);
- NetworkManager with the keyfile plugin writing to a temporary directory,
  started only inside the test's own mount and network namespace.

    realmm.main()   # instead of harness.main(): re-runs the test in
                    # "unshare -mn" first, exits 77 (skip) where the
                    # machine cannot run the real daemons

    with realmm.RealWorld() as world:
        world.start_polkit_allow_all()
        world.add_usb_modem("three-profiles.card")
        world.start_modemmanager()
        world.wait_for_sim_iccid("8944476500001234567")
        device = world.mm_modem()["generic"]["device"]
        port = world.esimd_modem.port
        world.start_esimd(args=[f"--modem-device={port}={device}"],
                          env={"ESIMD_MM_BUS_ADDRESS": world.address})

add_usb_modem(protocol="qmi") makes it a QMI modem instead: cdc-wdm0
(usbmisc, a pty in the testbed) and wwan0 on an interface driven by
qmi_wwan, modem-sim's second QMI port for esimd. ModemManager opens
cdc-wdm0 through the qmi-proxy it spawns (stopped on exit with it); esimd,
started under umockdev's preload with start_esimd_udev(devices=
["qmi:/dev/cdc-wdm0"], udev=False, proxy=True), shares the port through it.
add_usb_modem(protocol="mbim") is the same with MBIM: the interface driven
by cdc_mbim, the mbim-proxy ModemManager spawns (stopped on exit as well),
esimd given "mbim:/dev/cdc-wdm0"; port_users() tells who has the pty open.

Other ways to give esimd the modem: add_usb_modem(esimd_tty=True) puts the
second port in the testbed as ttyUSB1 and start_esimd_udev() lets esimd
find it through udev; mm_tty() is ModemManager's own port (a one-port
modem). mmcli()/mmcli_run(), mm_modem(), mm_sim_iccid(), mm_log_time() and
mm_at_commands() read ModemManager; start_networkmanager(), nmcli(),
nm_gsm_connections() and nm_devices() NetworkManager; mbpi_apns() what
mobile-broadband-provider-info says for an MCC/MNC.

Everything is torn down on exit; the daemons' logs are in the world's
directory and printed when a test fails, as harness does for its own.
Environment: what harness wants, plus TIOCEXCL_PRELOAD (the preload
library's path, set by tests/integration/meson.build).
"""

import errno
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import tty
import unittest

import harness

MM_NAME = "org.freedesktop.ModemManager1"
NM_NAME = "org.freedesktop.NetworkManager"
# Set in the environment of the copy of the test that runs in the namespace.
NAMESPACE_MARK = "ESIMD_REALMM_NAMESPACE"
# What meson takes as "skipped".
EXIT_SKIP = 77

# Where the emulated modem sits in the testbed's sysfs: a USB device with one
# vendor-specific interface driven by "option", as most AT modems are.
USB_DEVICE = "/devices/pci0000:00/0000:00:14.0/usb1/1-1"
# A vendor id no ModemManager plugin claims (the Linux Foundation's, with a
# product id of our own): the generic plugin takes the modem.
USB_VENDOR = "1d6b"
USB_PRODUCT = "e51d"


def _esimd_tty_description():
    """A second tty of the same USB modem, on its own interface: ModemManager
    leaves it alone (ID_MM_PORT_IGNORE) and esimd's udev discovery takes it
    as its AT port (ESIMD_PORT_TYPE)."""
    return f"""P: {USB_DEVICE}/1-1:1.2/ttyUSB1/tty/ttyUSB1
N: ttyUSB1
E: DEVNAME=/dev/ttyUSB1
E: SUBSYSTEM=tty
E: ID_MM_CANDIDATE=1
E: ID_MM_PORT_IGNORE=1
E: ESIMD_PORT_TYPE=at
A: dev=188:1

P: {USB_DEVICE}/1-1:1.2/ttyUSB1
E: SUBSYSTEM=usb-serial
L: driver=../../../../../../../bus/usb-serial/drivers/option1

P: {USB_DEVICE}/1-1:1.2
E: DEVTYPE=usb_interface
E: SUBSYSTEM=usb
E: INTERFACE=255/255/255
A: bInterfaceClass=ff
A: bInterfaceSubClass=ff
A: bInterfaceProtocol=ff
A: bInterfaceNumber=02
L: driver=../../../../../../bus/usb/drivers/option
"""


def _testbed_description():
    """umockdev's text format (umockdev-record): the tty first, then its
    parents. ID_MM_CANDIDATE is what ModemManager's own udev rules put on a
    port it may probe; ID_MM_DEVICE_PROCESS puts the device on the allowlist
    of its default (strict) filter."""
    return f"""P: {USB_DEVICE}/1-1:1.0/ttyUSB0/tty/ttyUSB0
N: ttyUSB0
E: DEVNAME=/dev/ttyUSB0
E: SUBSYSTEM=tty
E: ID_MM_CANDIDATE=1
E: ID_MM_DEVICE_PROCESS=1
E: ID_MM_PORT_TYPE_AT_PRIMARY=1
A: dev=188:0

P: {USB_DEVICE}/1-1:1.0/ttyUSB0
E: SUBSYSTEM=usb-serial
L: driver=../../../../../../../bus/usb-serial/drivers/option1

P: {USB_DEVICE}/1-1:1.0
E: DEVTYPE=usb_interface
E: SUBSYSTEM=usb
E: INTERFACE=255/255/255
E: ID_MM_DEVICE_PROCESS=1
A: bInterfaceClass=ff
A: bInterfaceSubClass=ff
A: bInterfaceProtocol=ff
A: bInterfaceNumber=00
L: driver=../../../../../../bus/usb/drivers/option

""" + _usb_device_description()


def _usb_device_description():
    """The USB device every testbed's interfaces hang off."""
    return f"""P: {USB_DEVICE}
N: bus/usb/001/002
E: DEVNAME=/dev/bus/usb/001/002
E: DEVTYPE=usb_device
E: SUBSYSTEM=usb
E: ID_VENDOR_ID={USB_VENDOR}
E: ID_MODEL_ID={USB_PRODUCT}
E: ID_MM_DEVICE_PROCESS=1
A: idVendor={USB_VENDOR}
A: idProduct={USB_PRODUCT}
A: manufacturer=esimd
A: product=modem-sim
A: busnum=1
A: devnum=2
A: bDeviceClass=00
"""


def _wwan_testbed_description(driver, interface_class, net_attributes=""):
    """A modem whose control port is usbmisc cdc-wdm0 (a pty in the testbed)
    beside its net port wwan0, on one interface driven by driver (qmi_wwan
    or cdc_mbim: which one makes ModemManager open the port as QMI or MBIM);
    interface_class is (class, subclass, protocol) in hex."""
    klass, subclass, protocol = interface_class
    return f"""P: {USB_DEVICE}/1-1:1.4/usbmisc/cdc-wdm0
N: cdc-wdm0
E: DEVNAME=/dev/cdc-wdm0
E: SUBSYSTEM=usbmisc
E: ID_MM_CANDIDATE=1
E: ID_MM_DEVICE_PROCESS=1
A: dev=180:176

P: {USB_DEVICE}/1-1:1.4/net/wwan0
E: INTERFACE=wwan0
E: SUBSYSTEM=net
E: DEVTYPE=wwan
E: ID_MM_CANDIDATE=1
E: ID_MM_DEVICE_PROCESS=1
A: ifindex=5
A: type=65534
A: address=00:00:00:00:00:00
{net_attributes}
P: {USB_DEVICE}/1-1:1.4
E: DEVTYPE=usb_interface
E: SUBSYSTEM=usb
E: INTERFACE={int(klass, 16)}/{int(subclass, 16)}/{int(protocol, 16)}
E: ID_MM_DEVICE_PROCESS=1
A: bInterfaceClass={klass}
A: bInterfaceSubClass={subclass}
A: bInterfaceProtocol={protocol}
A: bInterfaceNumber=04
L: driver=../../../../../../bus/usb/drivers/{driver}

""" + _usb_device_description()


def _qmi_testbed_description():
    """A QMI modem: a vendor-specific interface driven by qmi_wwan, its net
    port in raw-IP mode."""
    return _wwan_testbed_description("qmi_wwan", ("ff", "ff", "ff"), "A: qmi/raw_ip=Y\n")


def _mbim_testbed_description():
    """An MBIM modem: the MBIM communication class interface (02/0e/00),
    which cdc_mbim binds to."""
    return _wwan_testbed_description("cdc_mbim", ("02", "0e", "00"))


# ModemManager's log lines: "ModemManager[PID]: <level> [SECONDS.MICRO] ...".
_MM_LOG_TIME = re.compile(r"<\w+>\s+\[(\d+\.\d+)\]")


MBPI = "/usr/share/mobile-broadband-provider-info/serviceproviders.xml"


def mbpi_apns(mccmnc, usage="internet"):
    """What mobile-broadband-provider-info lists for an MCC+MNC ("23415"),
    in its order: [{"provider", "apn", "usage"}] for the APNs whose usage
    names usage (its types read like "internet" or "mms-internet-hipri")."""
    import xml.etree.ElementTree as ET

    mcc, mnc = mccmnc[:3], mccmnc[3:]
    found = []
    for provider in ET.parse(MBPI).iter("provider"):
        gsm = provider.find("gsm")
        if gsm is None or not any(n.get("mcc") == mcc and n.get("mnc") == mnc
                                  for n in gsm.findall("network-id")):
            continue
        for apn in gsm.findall("apn"):
            types = [u.get("type", "") for u in apn.findall("usage")]
            if any(usage in t.split("-") for t in types):
                found.append({"provider": provider.findtext("name"), "apn": apn.get("value"),
                              "usage": ",".join(types)})
    return found


# -- can this machine run them? --

def missing_capabilities():
    """Why the real daemons cannot run here, or [] when they can."""
    missing = []
    if os.geteuid() != 0:
        missing.append("not root (ModemManager, NetworkManager and unshare -mn need it)")
    for tool in ("ModemManager", "mmcli", "NetworkManager", "nmcli", "unshare", "mount",
                 "umount", "dbus-daemon"):
        if not shutil.which(tool, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            missing.append(f"{tool} is not installed")
    try:
        harness.python_with("dbusmock")
    except harness.HarnessError:
        missing.append("python3-dbusmock is not installed")
    res = subprocess.run([sys.executable, "-c", "import gi; gi.require_version('UMockdev', '1.0');"
                          "from gi.repository import UMockdev"], capture_output=True)
    if res.returncode != 0:
        missing.append("umockdev's introspection data (gir1.2-umockdev-1.0) is not installed")
    if not os.environ.get("TIOCEXCL_PRELOAD"):
        missing.append("TIOCEXCL_PRELOAD is not set: run the test through meson test")
    if not missing:
        res = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True,
                             text=True)
        if res.returncode != 0:
            missing.append(f"unshare -mn is refused here: {res.stderr.strip()}")
    return missing


def main():
    """harness.main() for a test of the real daemons: the first run checks
    the machine and re-runs the test in its own mount and network namespace
    (NetworkManager's files and network stay apart from the host's), where
    harness.main() runs the tests."""
    if os.environ.get(NAMESPACE_MARK) != "1":
        missing = missing_capabilities()
        if missing:
            print("SKIP: the real ModemManager/NetworkManager cannot run here: " +
                  "; ".join(missing))
            sys.exit(EXIT_SKIP)
        env = dict(os.environ, **{NAMESPACE_MARK: "1"})
        argv = ["unshare", "--mount", "--net", "--propagation", "private", "--",
                sys.executable, os.path.abspath(sys.argv[0])] + sys.argv[1:]
        sys.stdout.flush()
        os.execvpe("unshare", argv, env)
    harness.main()


def in_namespace():
    return os.environ.get(NAMESPACE_MARK) == "1"


# -- the relay between umockdev's tty and modem-sim's port --

class _Relay:
    """Copies bytes both ways between the master side of umockdev's pty (what
    ModemManager opened as /dev/ttyUSB0 reads and writes) and modem-sim's
    pty. The master reads EIO while nobody has the tty open (before
    ModemManager probes, while it is inhibited): that is waited out."""

    def __init__(self, master_fd, port):
        self.master_fd = master_fd
        self.port_fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.port_fd)
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        fds = [self.master_fd, self.port_fd, self._stop_r]
        while True:
            readable, _, _ = select.select(fds, [], [], 1.0)
            if self._stop_r in readable:
                return
            for fd in readable:
                other = self.port_fd if fd == self.master_fd else self.master_fd
                try:
                    data = os.read(fd, 4096)
                except OSError as e:
                    if e.errno in (errno.EIO, errno.EAGAIN):
                        # No reader on the tty side: poll again shortly.
                        time.sleep(0.02)
                        continue
                    return
                while data:
                    try:
                        n = os.write(other, data)
                    except OSError as e:
                        if e.errno == errno.EAGAIN:
                            time.sleep(0.01)
                            continue
                        # ModemManager let go of the tty: its answer is lost,
                        # as on a real port that was closed.
                        break
                    data = data[n:]

    def stop(self):
        os.write(self._stop_w, b"x")
        self._thread.join(5)
        for fd in (self.port_fd, self._stop_r, self._stop_w):
            os.close(fd)


# -- the world --

class RealWorld(harness.World):
    """harness.World with the real ModemManager (and NetworkManager) on a
    private bus of the system type."""

    bus_type = "system"

    def __init__(self):
        super().__init__()
        self.testbed = None
        self.relay = None
        self.esimd_relay = None
        self.mm_proc = None
        self.mm_log = None
        self.nm_proc = None
        self.nm_dir = None
        self.mounts = []
        self.modem_proc = None
        self.mm_port = None      # modem-sim's port behind ttyUSB0
        self.esimd_modem = None  # harness.Modem: the port esimd gets
        self.device_env = None

    def close(self):
        try:
            if self.nm_proc:
                harness._stop_process(self.nm_proc, 20)
                self.nm_proc = None
            if self.mm_proc:
                harness._stop_process(self.mm_proc, 20)
                self.mm_proc = None
            self._stop_proxies()
            for relay in (self.relay, self.esimd_relay):
                if relay:
                    relay.stop()
            self.relay = self.esimd_relay = None
            for mount in reversed(self.mounts):
                subprocess.run(["umount", "--lazy", mount], capture_output=True)
            self.mounts = []
        finally:
            super().close()
        # The last reference: the testbed removes its directory as it goes.
        self.testbed = None

    def _proxies(self):
        """The qmi-proxy and mbim-proxy processes that ModemManager spawned
        for the testbed (found by the UMOCKDEV_DIR they inherited): they
        outlive it, holding the port, until their idle timeout."""
        if not self.testbed:
            return []
        mark = b"UMOCKDEV_DIR=" + self.testbed.get_root_dir().encode()
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/comm", "rb") as f:
                    if f.read().strip() not in (b"qmi-proxy", b"mbim-proxy"):
                        continue
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if mark in f.read().split(b"\0"):
                        found.append(int(pid))
            except OSError:
                continue
        return found

    def _stop_proxies(self):
        pids = self._proxies()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        def running(pid):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    # A zombie has let go of everything: gone for us.
                    return f.read().rsplit(")", 1)[1].split()[0] != "Z"
            except OSError:
                return False
        harness.wait_until(lambda: not any(running(p) for p in pids), 10,
                           "the proxies ModemManager spawned to exit")

    def system_env(self, **extra):
        """The environment of a client or daemon on this bus: the system bus
        is the test's, and no preload of the test runner leaks into it."""
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        env.pop("LD_PRELOAD", None)
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env.update(extra)
        return env

    def start_polkit_allow_all(self):
        """polkitd (python-dbusmock) granting every action: ModemManager
        asks it for InhibitDevice, ScanDevices and more."""
        self.start_polkit()
        self.polkit_mock("AllowUnknown", "b", "true")

    # -- the modem --

    def add_usb_modem(self, card="three-profiles.card", options=(), esimd_tty=False,
                      protocol="at"):
        """One modem-sim with two AT ports on one card: the first behind
        ttyUSB0 of a umockdev testbed (ModemManager's), the second for esimd
        (.esimd_modem). The modem reports no SIM while no profile is enabled
        (quirk=profile-sim) and numeric +CME errors, as ModemManager asks with
        AT+CMEE=1. With esimd_tty the second port is also ttyUSB1 of the
        testbed, for esimd's own udev discovery (start_esimd_udev); then it
        must not be opened directly as well.

        protocol="qmi": modem-sim speaks QMI on both ports, and the testbed
        has the QMI modem of _qmi_testbed_description() (cdc-wdm0 relayed
        to the first port) instead of the tty; esimd_tty is not for it.
        protocol="mbim": the same with MBIM, the interface driven by cdc_mbim
        (_mbim_testbed_description())."""
        if esimd_tty and protocol != "at":
            raise harness.HarnessError("esimd_tty is a second AT tty: only for protocol='at'")
        import gi
        gi.require_version("UMockdev", "1.0")
        from gi.repository import UMockdev

        self.apdu_log = os.path.join(self.tmpdir, "apdu.log")
        if protocol in ("qmi", "mbim"):
            argv = [harness.env_path("MODEM_SIM"), f"--{protocol}", "--extra-port", protocol,
                    "--slot", harness.card_path(card), "--apdu-log", self.apdu_log]
        else:
            argv = [harness.env_path("MODEM_SIM"), "--at", "--extra-port", "at",
                    "--slot", harness.card_path(card), "--option", "quirk=cme-error",
                    "--option", "quirk=profile-sim", "--apdu-log", self.apdu_log]
        for option in options:
            argv += ["--option", option]
        log = self._log("modem-sim")
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=log.file, text=True)
        self.modem_proc = proc
        ports = []
        for _ in range(2):
            line = harness._read_first_line(proc, 10, "modem-sim")
            if not line.startswith("PTY "):
                harness._stop_process(proc)
                raise harness.HarnessError(f"modem-sim printed {line!r}, not PTY <path>")
            ports.append(line[4:])
        self.mm_port = ports[0]
        self.esimd_modem = harness.Modem(protocol, proc, ports[1], log)
        # The world stops it (stdin EOF, then SIGTERM) with the other modems.
        self.modems.append(self.esimd_modem)

        self.testbed = UMockdev.Testbed.new()
        description, node = {
            "qmi": (_qmi_testbed_description(), "/dev/cdc-wdm0"),
            "mbim": (_mbim_testbed_description(), "/dev/cdc-wdm0"),
        }.get(protocol, (_testbed_description(), "/dev/ttyUSB0"))
        if not self.testbed.add_from_string(description):
            raise harness.HarnessError("umockdev refused the modem's description")
        master = self.testbed.get_dev_fd(node)
        if master < 0:
            raise harness.HarnessError(f"umockdev gave no pty for {node}")
        self.relay = _Relay(master, self.mm_port)
        if esimd_tty:
            if not self.testbed.add_from_string(_esimd_tty_description()):
                raise harness.HarnessError("umockdev refused the second tty")
            master = self.testbed.get_dev_fd("/dev/ttyUSB1")
            if master < 0:
                raise harness.HarnessError("umockdev gave no pty for /dev/ttyUSB1")
            self.esimd_relay = _Relay(master, self.esimd_modem.port)
        return self.esimd_modem

    def start_esimd_udev(self, **kwargs):
        """esimd finding the modem the way it does on a machine: udev (the
        testbed, through umockdev's preload), no --device, no test hook for
        the modem's sysfs path. kwargs go to start_esimd() (devices and udev
        too: a port of the testbed named with --device, seen through the
        preload). ASan wants to be first among preloaded
        libraries; it works behind umockdev's all the same."""
        asan = os.environ.get("ASAN_OPTIONS", "")
        env = {"UMOCKDEV_DIR": self.testbed.get_root_dir(),
               "LD_PRELOAD": "libumockdev-preload.so.0",
               "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0",
               "ESIMD_MM_BUS_ADDRESS": self.address}
        kwargs.setdefault("devices", [])
        kwargs.setdefault("udev", True)
        return self.start_esimd(env=env, **kwargs)

    def mm_tty(self):
        """The pty behind ttyUSB0 (/dev/pts/N): the same port ModemManager
        uses, for a client that runs without umockdev's preload (esimd)."""
        return os.path.realpath(os.path.join(self.testbed.get_root_dir(), "dev", "ttyUSB0"))

    def port_users(self, node):
        """The processes that have the pty behind the testbed's node
        ("/dev/cdc-wdm0") open: {pid: command name}. The relay holds the
        master side, which is not counted."""
        pty = os.path.realpath(os.path.join(self.testbed.get_root_dir(), node.lstrip("/")))
        users = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
                if not any(os.readlink(f"/proc/{pid}/fd/{fd}") == pty for fd in fds):
                    continue
                with open(f"/proc/{pid}/comm") as f:
                    users[int(pid)] = f.read().strip()
            except OSError:
                continue
        return users

    # -- ModemManager --

    def start_modemmanager(self):
        """ModemManager --debug on the test bus, seeing only the testbed."""
        preload = harness.env_path("TIOCEXCL_PRELOAD")
        # tiocexcl-preload first: its ioctl() wraps umockdev's.
        env = self.system_env(UMOCKDEV_DIR=self.testbed.get_root_dir(),
                              LD_PRELOAD=f"{preload}:libumockdev-preload.so.0")
        self.mm_log = self._log("ModemManager")
        self.mm_started = time.monotonic()
        self.mm_proc = subprocess.Popen(["ModemManager", "--debug"], stdin=subprocess.DEVNULL,
                                        stdout=self.mm_log.file, stderr=subprocess.STDOUT,
                                        env=env)
        harness.wait_until(lambda: self._mm_alive() and self.name_has_owner(MM_NAME), 30,
                           "ModemManager to be on the bus")

    def _mm_alive(self):
        if self.mm_proc.poll() is not None:
            raise harness.HarnessError(f"ModemManager exited with status {self.mm_proc.returncode}")
        return True

    def mmcli(self, *args, check=True):
        """mmcli -J ARGS on the test bus: the parsed JSON."""
        res = self._run(["mmcli", "-J"] + [str(a) for a in args], env=self.system_env())
        if res.returncode != 0:
            if check:
                raise harness.HarnessError(f"mmcli {' '.join(args)} failed: {res.stderr.strip()}")
            return None
        return json.loads(res.stdout)

    def mmcli_run(self, *args, check=True):
        """mmcli ARGS (an action, no JSON) on the test bus: the process result."""
        res = self._run(["mmcli"] + [str(a) for a in args], env=self.system_env(), seconds=60)
        if check and res.returncode != 0:
            raise harness.HarnessError(f"mmcli {' '.join(args)} failed: {res.stderr.strip()}")
        return res

    def mm_modem(self):
        """mmcli -m of the one modem, None while ModemManager has none."""
        listed = self.mmcli("-L", check=False)
        paths = (listed or {}).get("modem-list", [])
        if not paths:
            return None
        data = self.mmcli("-m", paths[0], check=False)
        return data["modem"] if data else None

    def mm_sim_iccid(self):
        """The ICCID of the modem's SIM as ModemManager reports it, None when
        it has no modem or no SIM."""
        modem = self.mm_modem()
        if not modem:
            return None
        sim = modem["generic"].get("sim", "--")
        if not sim or sim == "--":
            return None
        data = self.mmcli("-i", sim, check=False)
        if not data:
            return None
        return data["sim"]["properties"].get("iccid")

    def wait_for_sim_iccid(self, iccid, seconds=60):
        """Polls mmcli until the modem's SIM shows iccid; returns how long
        that took in seconds."""
        start = time.monotonic()
        harness.wait_until(lambda: self._mm_alive() and self.mm_sim_iccid() == iccid, seconds,
                           f"ModemManager to show the SIM {iccid}", interval=0.1)
        return time.monotonic() - start

    def wait_for_sim_missing(self, seconds=60):
        """Polls mmcli until the modem is failed for a missing SIM; returns
        (seconds taken, the modem as mmcli shows it)."""
        start = time.monotonic()

        def missing():
            self._mm_alive()
            modem = self.mm_modem()
            if modem and modem["generic"].get("state-failed-reason") == "sim-missing":
                return modem
            return None
        modem = harness.wait_until(missing, seconds, "ModemManager to report the SIM missing",
                                   interval=0.1)
        return time.monotonic() - start, modem

    def mm_log_text(self):
        return self.mm_log.text() if self.mm_log else ""

    def mm_log_time(self, text, since=0):
        """The timestamp (seconds) of ModemManager's first log line after
        offset since that contains text ("<debug> [1796208118.389804] ..."),
        None when there is none yet."""
        for line in self.mm_log_text()[since:].splitlines():
            found = _MM_LOG_TIME.search(line) if text in line else None
            if found:
                return float(found.group(1))
        return None

    def mm_at_commands(self, since=0):
        """The AT commands ModemManager sent, in order, from its debug log
        (lines "[ttyUSB0] --> 'AT...<CR>'"), starting at log offset since."""
        commands = []
        for line in self.mm_log_text()[since:].splitlines():
            marker = "--> '"
            if marker in line:
                command = line.split(marker, 1)[1].rsplit("'", 1)[0]
                commands.append(command.replace("<CR>", "").replace("<LF>", ""))
        return commands

    # -- NetworkManager --

    def start_networkmanager(self):
        """NetworkManager on the test bus, in this test's own mount and
        network namespace (realmm.main() put it there): a tmpfs for its run
        directory, a temporary directory bound over /var/lib/NetworkManager,
        keyfiles written to a temporary directory, no connection made by
        itself (no-auto-default=*)."""
        if not in_namespace():
            raise harness.HarnessError("NetworkManager runs only in the test's namespace: "
                                       "start the test with realmm.main()")
        self.nm_dir = os.path.join(self.tmpdir, "nm")
        keyfiles = os.path.join(self.nm_dir, "connections")
        state = os.path.join(self.nm_dir, "lib")
        confd = os.path.join(self.nm_dir, "conf.d")
        for d in (keyfiles, state, confd):
            os.makedirs(d)
        os.chmod(keyfiles, 0o700)
        # The run directory: over /run/NetworkManager where it exists, else
        # a tmpfs over /run itself (mkdir would change the host): only this
        # namespace sees either.
        if os.path.isdir("/run/NetworkManager"):
            self._mount(["-t", "tmpfs", "tmpfs", "/run/NetworkManager"], "/run/NetworkManager")
        else:
            self._mount(["-t", "tmpfs", "tmpfs", "/run"], "/run")
            os.makedirs("/run/NetworkManager")
        self._mount(["--bind", state, "/var/lib/NetworkManager"], "/var/lib/NetworkManager")
        config = os.path.join(self.nm_dir, "NetworkManager.conf")
        with open(config, "w") as f:
            f.write("[main]\nplugins=keyfile\nno-auto-default=*\n"
                    f"[keyfile]\npath={keyfiles}\n[logging]\nlevel=DEBUG\n")
        self.nm_keyfiles = keyfiles
        log = self._log("NetworkManager")
        self.nm_proc = subprocess.Popen(
            ["NetworkManager", "--no-daemon", f"--config={config}", f"--config-dir={confd}",
             f"--state-file={os.path.join(state, 'NetworkManager.state')}"],
            stdin=subprocess.DEVNULL, stdout=log.file, stderr=subprocess.STDOUT,
            env=self.system_env())

        def answers():
            if self.nm_proc.poll() is not None:
                raise harness.HarnessError(
                    f"NetworkManager exited with status {self.nm_proc.returncode}")
            return self.nmcli("general", "status", check=False).returncode == 0
        harness.wait_until(answers, 30, "NetworkManager to answer nmcli", interval=0.2)

    def _mount(self, args, target):
        res = subprocess.run(["mount"] + args, capture_output=True, text=True)
        if res.returncode != 0:
            raise harness.HarnessError(f"mount {' '.join(args)} failed: {res.stderr.strip()}")
        self.mounts.append(target)

    def nm_gsm_connections(self):
        """NetworkManager's gsm connections: {name: {"uuid", "sim-id",
        "sim-operator-id", "apn"}} (empty strings for unset)."""
        out = {}
        listed = self.nmcli("-g", "NAME,UUID,TYPE", "connection", "show").stdout
        for line in listed.splitlines():
            # -g escapes ":" inside a field as "\:"; names here have none.
            name, uuid, kind = line.rsplit(":", 2)
            if kind != "gsm":
                continue
            fields = self.nmcli("-g", "gsm.sim-id,gsm.sim-operator-id,gsm.apn", "connection",
                                "show", "uuid", uuid).stdout.splitlines()
            fields += [""] * (3 - len(fields))
            out[name] = {"uuid": uuid, "sim-id": fields[0], "sim-operator-id": fields[1],
                         "apn": fields[2]}
        return out

    def nm_devices(self):
        """NetworkManager's devices: {interface: type}."""
        out = {}
        for line in self.nmcli("-g", "DEVICE,TYPE", "device", "status").stdout.splitlines():
            device, _, kind = line.rpartition(":")
            out[device] = kind
        return out

    def nmcli(self, *args, check=True):
        """nmcli ARGS on the test bus: the process result."""
        res = self._run(["nmcli"] + [str(a) for a in args], env=self.system_env())
        if check and res.returncode != 0:
            raise harness.HarnessError(f"nmcli {' '.join(args)} failed: {res.stderr.strip()}")
        return res


class RealTestCase(harness.WorldTestCase):
    """harness.WorldTestCase with a RealWorld."""

    def setUp(self):
        if not in_namespace():
            raise unittest.SkipTest("run through realmm.main()")
        self.world = RealWorld()
        self.world.__enter__()
        self.addCleanup(self.world.close)
        self.addCleanup(self._check_clean_exit)
