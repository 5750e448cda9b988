#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""esimd beside ModemManager: a profile switch asked for over D-Bus is wrapped
in InhibitDevice(device, true) before the card sees the switch and
InhibitDevice(device, false) after it, before the caller hears back, whether
the card switched or refused; without ModemManager on the bus the switch
works as before. ModemManager is python-dbusmock on the test bus, with one
modem whose Modem.Device is the device esimd is given for its port."""

import json
import os

import harness
from harness import EUICC, PROFILE

MM_NAME = "org.freedesktop.ModemManager1"
MM_PATH = "/org/freedesktop/ModemManager1"
MM_MODEM = "org.freedesktop.ModemManager1.Modem"
MM_SIM = "org.freedesktop.ModemManager1.Sim"
MOCK = "org.freedesktop.DBus.Mock"
SIM_PATH = "/org/freedesktop/ModemManager1/SIM/0"
DEVICE = "/sys/devices/pci0000:00/0000:00:14.0/usb2/2-4"


class ModemManagerCoexistence(harness.WorldTestCase):
    def start_modem(self, card):
        self.apdu_log = os.path.join(self.world.tmpdir, "apdu.log")
        self.modem = self.world.add_modem("qmi", [card], options=[f"apdu-log={self.apdu_log}"])

    def start_fake_mm(self, owns_port=None, sim_iccid=None):
        """dbusmock as ModemManager: its ObjectManager lists one modem with
        Modem.Device = DEVICE, and InhibitDevice appends "uid inhibit apdus"
        to a file, apdus being the APDUs the card had seen by then. With
        owns_port, it holds that AT port as ModemManager does (TIOCEXCL),
        lets go of it when inhibited and takes it back when uninhibited.
        With sim_iccid, the modem has a SIM object with that SimIdentifier;
        when given back after SetNextSim(iccid) ("" for none), ModemManager
        reports that SIM, as the real one does after probing the modem again."""
        self.inhibit_log = os.path.join(self.world.tmpdir, "inhibit.log")
        open(self.inhibit_log, "w").close()
        env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=self.world.address)
        self.mm_proc = self.world.spawn([harness.python_with("dbusmock"), "-m", "dbusmock",
                                         "--session", "-m", MM_NAME, MM_PATH, MM_NAME], env=env,
                                        name="modemmanager")
        harness.wait_until(lambda: self.world.name_has_owner(MM_NAME), 20,
                           "the fake ModemManager to be on the bus")
        if sim_iccid:
            self.world.busctl("call", MM_NAME, MM_PATH, MOCK, "AddObject", "ssa{sv}a(ssss)",
                              SIM_PATH, MM_SIM, 1, "SimIdentifier", "s", sim_iccid, 0)
            self.world.busctl("call", MM_NAME, MM_PATH, MOCK, "AddObject", "ssa{sv}a(ssss)",
                              f"{MM_PATH}/Modem/0", MM_MODEM, 2, "Device", "s", DEVICE,
                              "Sim", "o", SIM_PATH, 0)
            self.world.busctl("call", MM_NAME, MM_PATH, MOCK, "AddMethod", "sssss", MM_NAME,
                              "SetNextSim", "s", "", "self.next_sim = args[0]")
        else:
            self.world.busctl("call", MM_NAME, MM_PATH, MOCK, "AddObject", "ssa{sv}a(ssss)",
                              f"{MM_PATH}/Modem/0", MM_MODEM, 1, "Device", "s", DEVICE, 0)
        code = ("with open(%r, 'a') as f:\n"
                "    f.write('%%s %%s %%d\\n' %% (args[0], bool(args[1]),"
                " len(open(%r).read().splitlines())))" % (self.inhibit_log, self.apdu_log))
        if owns_port:
            hold = ("import os, fcntl, termios\n"
                    "fd = getattr(self, 'port_fd', None)\n"
                    "if fd is not None:\n"
                    "    fcntl.ioctl(fd, termios.TIOCNXCL)\n"
                    "    os.close(fd)\n"
                    "    self.port_fd = None\n"
                    "if not args[1]:\n"
                    "    self.port_fd = os.open(%r, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)\n"
                    "    fcntl.ioctl(self.port_fd, termios.TIOCEXCL)\n" % owns_port)
            code = hold + code
            self.world.busctl("call", MM_NAME, MM_PATH, MOCK, "AddMethod", "sssss", MM_NAME,
                              "TakePort", "", "", hold.replace("args[1]", "False"))
            self.world.busctl("call", MM_NAME, MM_PATH, MM_NAME, "TakePort")
        if sim_iccid:
            # Given back: the SIM ModemManager reads when it probes again.
            code += ("\nimport dbus\n"
                     "nxt = getattr(self, 'next_sim', None)\n"
                     "if not args[1] and nxt is not None:\n"
                     "    if nxt:\n"
                     "        objects[%r].UpdateProperties(%r, {'SimIdentifier': nxt})\n"
                     "    objects[%r].UpdateProperties(%r, {'Sim': dbus.ObjectPath(%r if nxt"
                     " else '/')})\n" % (SIM_PATH, MM_SIM, f"{MM_PATH}/Modem/0", MM_MODEM,
                                           SIM_PATH))
        self.world.busctl("call", MM_NAME, MM_PATH, MOCK, "AddMethod", "sssss", MM_NAME,
                          "InhibitDevice", "sb", "", code)

    def start_esimd(self, config=None):
        # A fake ModemManager that was not told which SIM comes next reports
        # none after a switch: the switch then waits the whole timeout.
        keys = {"sim-change-timeout-seconds": "1"}
        keys.update(config or {})
        self.world.start_esimd(args=[f"--modem-device={self.modem.port}={DEVICE}"],
                               env={"ESIMD_MM_BUS_ADDRESS": self.world.address}, config=keys)
        self.euicc = self.world.euicc_paths()[0]

    def profile(self, iccid):
        for path in self.world.profile_paths(self.euicc):
            if self.world.get_property(path, PROFILE, "Iccid") == iccid:
                return path
        self.fail(f"no profile {iccid}")

    def apdus(self):
        with open(self.apdu_log) as f:
            return len(f.read().splitlines())

    def inhibit_calls(self):
        with open(self.inhibit_log) as f:
            return [line.split() for line in f.read().splitlines()]

    def assert_wrapped(self, apdus_before):
        """Read right after the reply: both calls are in by then."""
        calls = self.inhibit_calls()
        self.assertEqual([c[:2] for c in calls], [[DEVICE, "True"], [DEVICE, "False"]])
        # Inhibited before the card saw anything of the switch; given back
        # after its last APDU.
        self.assertEqual(int(calls[0][2]), apdus_before)
        self.assertEqual(int(calls[1][2]), self.apdus())
        self.assertGreater(self.apdus(), apdus_before)

    def test_enable_inhibits_the_modem_around_the_switch(self):
        self.start_modem("three-profiles.card")
        self.start_fake_mm()
        self.start_esimd()
        target = self.profile("89012604100000123456")
        self.assertEqual(self.inhibit_calls(), [])
        before = self.apdus()

        self.assertEqual(self.world.call(target, PROFILE, "Enable"), [])
        self.assert_wrapped(before)
        self.assertEqual(self.world.get_property(target, PROFILE, "State"), "enabled")

        # A rename is no switch: ModemManager is not bothered.
        self.assertEqual(self.world.call(target, PROFILE, "SetNickname", "s", "x"), [])
        self.assertEqual(len(self.inhibit_calls()), 2)

    def test_refused_disable_gives_the_modem_back(self):
        self.start_modem("ppr.card")
        self.start_fake_mm()
        self.start_esimd()
        target = self.profile("8944500000000000101")
        before = self.apdus()

        # One call (gdbus prints the error's name).
        name, _ = self.world.gdbus_error(target, PROFILE, "Disable")
        self.assertEqual(name, "org.esimd.Error.DisallowedByPolicy")
        self.assert_wrapped(before)
        self.assertEqual(self.world.get_property(target, PROFILE, "State"), "enabled")

    def test_an_unauthorized_refresh_or_scan_never_takes_the_modem(self):
        """An AT port ModemManager holds: reading the card means taking the
        port and inhibiting the modem, which drops the user's data. A caller
        polkit does not let switch profiles is answered from the cache."""
        if os.geteuid() != 0:
            self.skipTest("needs root to run clients as another user")
        self.world.start_polkit()
        self.apdu_log = os.path.join(self.world.tmpdir, "apdu.log")
        self.modem = self.world.add_modem("at", ["three-profiles.card"],
                                          options=[f"apdu-log={self.apdu_log}"])
        self.start_fake_mm(owns_port=self.modem.port)
        self.start_esimd(config={"modem-linger-ms": "50"})
        # The probe took the modem and gave it back.
        harness.wait_until(lambda: len(self.inhibit_calls()) == 2, what="the probe's window")
        self.assertEqual([c[:2] for c in self.inhibit_calls()],
                         [[DEVICE, "True"], [DEVICE, "False"]])
        apdus = self.apdus()

        nobody = harness.NOBODY
        self.assertEqual(self.world.call(self.euicc, EUICC, "Refresh", user=nobody), [])
        self.assertEqual(
            self.world.call(harness.MANAGER_PATH, harness.MANAGER, "Scan", user=nobody), [])
        # Served from the cache: ModemManager was not asked, the card saw
        # nothing, and the profiles are still there to read.
        self.assertEqual(len(self.inhibit_calls()), 2)
        self.assertEqual(self.apdus(), apdus)
        self.assertEqual(len(self.world.profile_paths(self.euicc)), 3)

        # Someone polkit lets switch profiles may have the card read.
        self.world.set_polkit_allowed(["org.esimd.profile.switch"])
        self.assertEqual(self.world.call(self.euicc, EUICC, "Refresh", user=nobody), [])
        self.assertGreater(self.apdus(), apdus)
        harness.wait_until(lambda: len(self.inhibit_calls()) == 4, what="the refresh's window")

    def test_the_euicc_names_modemmanagers_modem_and_follows_its_restarts(self):
        self.start_modem("three-profiles.card")
        self.start_fake_mm(sim_iccid="8944476500001234567")
        self.start_esimd()
        modem = f"{MM_PATH}/Modem/0"
        harness.wait_until(
            lambda: self.world.get_property(self.euicc, EUICC, "Modem") == modem,
            what="Euicc1.Modem to name ModemManager's modem")
        # esimctl names it as mmcli does (mmcli -m 0).
        self.assertIn("ModemManager modem 0", self.world.esimctl("list").stdout)
        # ModemManager leaves the bus: no modem; it comes back: the modem again.
        self.mm_proc.terminate()
        self.mm_proc.wait(harness.timeout(10))
        harness.wait_until(lambda: self.world.get_property(self.euicc, EUICC, "Modem") == "/",
                           what="Euicc1.Modem to be / without ModemManager")
        self.start_fake_mm(sim_iccid="8944476500001234567")
        harness.wait_until(
            lambda: self.world.get_property(self.euicc, EUICC, "Modem") == modem,
            what="Euicc1.Modem to come back")

    def test_enable_answers_once_modemmanager_reports_the_new_sim(self):
        self.start_modem("three-profiles.card")
        self.start_fake_mm(sim_iccid="8944476500001234567")
        self.start_esimd()
        target = self.profile("89012604100000123456")
        self.world.busctl("call", MM_NAME, MM_PATH, MM_NAME, "SetNextSim", "s",
                          "89012604100000123456")
        self.assertEqual(self.world.call(target, PROFILE, "Enable"), [])
        # By the time the call returned, ModemManager reported the new SIM.
        self.assertIn("ModemManager reports the new SIM", self.world.esimd_log_text())

    def test_disable_answers_once_modemmanager_reports_no_sim(self):
        self.start_modem("three-profiles.card")
        self.start_fake_mm(sim_iccid="8944476500001234567")
        self.start_esimd()
        target = self.profile("8944476500001234567")
        self.world.busctl("call", MM_NAME, MM_PATH, MM_NAME, "SetNextSim", "s", "")
        self.assertEqual(self.world.call(target, PROFILE, "Disable"), [])
        self.assertIn("ModemManager reports no SIM", self.world.esimd_log_text())

    def test_a_modemmanager_that_does_not_follow_is_said_in_the_log(self):
        self.start_modem("three-profiles.card")
        # It never reports the new SIM: the switch answers after the timeout.
        self.start_fake_mm(sim_iccid="8944476500001234567")
        self.start_esimd(config={"sim-change-timeout-seconds": "1"})
        target = self.profile("89012604100000123456")
        self.assertEqual(self.world.call(target, PROFILE, "Enable"), [])
        self.assertEqual(self.world.get_property(target, PROFILE, "State"), "enabled")
        log = self.world.esimd_log_text()
        self.assertIn("is done on the card, but ModemManager did not report the new SIM", log)

    def test_without_modemmanager_the_switch_works(self):
        self.start_modem("three-profiles.card")
        self.start_esimd()
        target = self.profile("89012604100000123456")

        self.assertEqual(self.world.call(target, PROFILE, "Enable"), [])
        self.assertEqual(self.world.get_property(target, PROFILE, "State"), "enabled")
        self.assertFalse(self.world.name_has_owner(MM_NAME))


if __name__ == "__main__":
    harness.main()
