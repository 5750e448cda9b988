/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NetworkManager client against the real NetworkManager. The program
 * re-executes itself under `unshare --mount --net` (root), so that
 * NetworkManager sees only a loopback device and writes only inside the
 * namespace: a tmpfs over /run (it keeps its runtime state in
 * /run/NetworkManager), a temporary directory bound over
 * /var/lib/NetworkManager, its keyfiles, configuration and state in a
 * temporary directory on a tmpfs over /tmp. It runs on a private
 * dbus-daemon of type system.
 * What it stores is read back with nmcli and from the keyfiles it writes,
 * never through the client under test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "system/nm.h"
#include "test-util.h"

#define NAMESPACE_ENV "ESIMD_TEST_NM_NAMESPACE"
#define NM_NAME "org.freedesktop.NetworkManager"

#define ICCID_CREATE "8988247000000000011"
#define ICCID_RENAME "8988247000000000029"
#define ICCID_USER "8988247000000000037"
#define ICCID_REMOVE "8988247000000000045"
#define ICCID_RESTART "8988247000000000052"
#define ICCID_ABSENT "8988247000000000060"
#define ICCID_NEVER "8988247000000000078"

/* A small provider database: what each MCC/MNC is meant to prove is in its
 * provider's name. */
static const char provider_db[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE serviceproviders SYSTEM \"serviceproviders.2.dtd\">\n"
    "<serviceproviders format=\"2.0\">\n"
    "<country code=\"xx\">\n"
    " <provider><name>one internet APN beside an MMS one</name><gsm>\n"
    "  <network-id mcc=\"001\" mnc=\"01\"/>\n"
    "  <apn value=\"one.example\"><usage type=\"internet\"/><name>Web</name></apn>\n"
    "  <apn value=\"mms.example\"><usage type=\"mms\"/></apn>\n"
    " </gsm></provider>\n"
    " <provider><name>two internet APNs</name><gsm>\n"
    "  <network-id mcc=\"001\" mnc=\"02\"/>\n"
    "  <apn value=\"contract.example\"><plan type=\"postpaid\"/><usage type=\"internet\"/></apn>\n"
    "  <apn value=\"prepaid.example\"><plan type=\"prepaid\"/><usage type=\"internet\"/></apn>\n"
    " </gsm></provider>\n"
    " <provider><name>the same APN from two brands</name><gsm>\n"
    "  <network-id mcc=\"001\" mnc=\"03\"/>\n"
    "  <apn value=\"same.example\"><usage type=\"internet\"/></apn>\n"
    " </gsm></provider>\n"
    " <provider><name>second brand</name><gsm>\n"
    "  <network-id mcc=\"001\" mnc=\"03\"/>\n"
    "  <network-id mcc=\"001\" mnc=\"99\"/>\n"
    "  <apn value=\"same.example\"><usage type=\"internet\"/></apn>\n"
    " </gsm></provider>\n"
    " <provider><name>an APN without usage</name><gsm>\n"
    "  <network-id mcc=\"001\" mnc=\"04\"/>\n"
    "  <apn value=\"plain.example\"><name>Data</name></apn>\n"
    " </gsm></provider>\n"
    " <provider><name>MMS only</name><gsm>\n"
    "  <network-id mcc=\"001\" mnc=\"05\"/>\n"
    "  <apn value=\"mmsonly.example\"><usage type=\"mms\"/></apn>\n"
    " </gsm></provider>\n"
    " <provider><name>a three-digit MNC</name><gsm>\n"
    "  <network-id mcc=\"001\" mnc=\"001\"/>\n"
    "  <apn value=\"three.example\"><usage type=\"internet\"/></apn>\n"
    " </gsm></provider>\n"
    " <provider><name>CDMA only</name><cdma><sid value=\"1\"/></cdma></provider>\n"
    "</country>\n"
    "</serviceproviders>\n";

/* What the namespace holds, for the whole program. */
typedef struct {
  gchar *dir;      /* temporary, removed at the end */
  gchar *keyfiles; /* NetworkManager's keyfile path */
  gchar *db;       /* provider_db */
  gchar *bus_address;
  GPid bus_pid;
  GPid nm_pid;          /* 0 while NetworkManager is stopped */
  GDBusConnection *bus; /* the test's own, to watch the name */
} World;

static World world;

static void child_setup(gpointer data)
{
  /* Nothing outlives the test, even when it crashes. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static gchar *world_path(const char *name)
{
  return g_build_filename(world.dir, name, NULL);
}

static void write_file(const char *name, const char *contents)
{
  g_autofree gchar *path = world_path(name);
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents(path, contents, -1, &error))
    fail_msg("writing %s: %s", path, error->message);
}

/* NetworkManager owns its name before its Settings object exists: ready
 * means Settings answers. */
static gboolean nm_is_ready(void)
{
  g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
      world.bus, NM_NAME, "/org/freedesktop/NetworkManager/Settings",
      "org.freedesktop.DBus.Properties", "Get",
      g_variant_new("(ss)", "org.freedesktop.NetworkManager.Settings", "CanModify"),
      G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, -1, NULL, NULL);

  return reply != NULL;
}

/* Polls the bus (nothing of the test's main loop is involved), bounded. */
static gboolean wait_nm_on_bus(void)
{
  for (guint waited = 0; waited < TEST_WAIT_LIMIT_MS; waited += 20) {
    if (nm_is_ready())
      return TRUE;
    g_usleep(20 * 1000);
  }
  return FALSE;
}

static void print_nm_log(void)
{
  g_autofree gchar *path = world_path("nm.log");
  g_autofree gchar *log = NULL;

  if (g_file_get_contents(path, &log, NULL, NULL))
    print_message("NetworkManager's log:\n%s\n", log);
}

/* Starts NetworkManager and waits until it owns its name. */
static void nm_start(void)
{
  g_autofree gchar *config = world_path("NetworkManager.conf");
  g_autofree gchar *config_dir = world_path("conf.d");
  g_autofree gchar *intern = world_path("intern.conf");
  g_autofree gchar *state = world_path("NetworkManager.state");
  g_autofree gchar *pid_file = world_path("NetworkManager.pid");
  g_autofree gchar *log_path = world_path("nm.log");
  g_autofree gchar *opt_config = g_strconcat("--config=", config, NULL);
  g_autofree gchar *opt_config_dir = g_strconcat("--config-dir=", config_dir, NULL);
  g_autofree gchar *opt_system_dir = g_strconcat("--system-config-dir=", config_dir, NULL);
  g_autofree gchar *opt_intern = g_strconcat("--intern-config=", intern, NULL);
  g_autofree gchar *opt_state = g_strconcat("--state-file=", state, NULL);
  g_autofree gchar *opt_pid = g_strconcat("--pid-file=", pid_file, NULL);
  const char *argv[] = {"NetworkManager", "--debug",      opt_config,
                        opt_config_dir,   opt_system_dir, opt_intern,
                        opt_state,        opt_pid,        NULL};
  g_autoptr(GError) error = NULL;
  int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

  assert_true(log_fd >= 0);
  /* NetworkManager as a system runs it: not under the test's G_DEBUG
   * (fatal-criticals) or meson's MALLOC_PERTURB_. */
  g_auto(GStrv) env = g_get_environ();

  env = g_environ_unsetenv(env, "G_DEBUG");
  env = g_environ_unsetenv(env, "MALLOC_PERTURB_");
  if (!g_spawn_async_with_fds(NULL, (char **)argv, env,
                              G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL,
                              &world.nm_pid, -1, log_fd, log_fd, &error))
    fail_msg("NetworkManager could not be started: %s", error->message);
  close(log_fd);
  if (!wait_nm_on_bus()) {
    print_nm_log();
    fail_msg("NetworkManager did not come onto the bus within %d ms", TEST_WAIT_LIMIT_MS);
  }
}

static void nm_stop(void)
{
  int status;

  if (!world.nm_pid)
    return;
  kill(world.nm_pid, SIGTERM);
  waitpid(world.nm_pid, &status, 0);
  g_spawn_close_pid(world.nm_pid);
  world.nm_pid = 0;
}

static void bus_start(void)
{
  g_autofree gchar *config = world_path("bus.conf");
  g_autofree gchar *socket = world_path("bus");
  g_autofree gchar *opt_config = g_strconcat("--config-file=", config, NULL);
  g_autofree gchar *bus_config = g_strdup_printf(
      "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
      " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
      "<busconfig>\n"
      "  <type>system</type>\n"
      "  <listen>unix:path=%s</listen>\n"
      "  <auth>EXTERNAL</auth>\n"
      "  <policy context=\"default\">\n"
      "    <allow user=\"*\"/>\n"
      "    <allow own=\"*\"/>\n"
      "    <allow send_type=\"method_call\"/>\n"
      "    <allow send_type=\"signal\"/>\n"
      "    <allow send_type=\"method_return\"/>\n"
      "    <allow send_type=\"error\"/>\n"
      "    <allow receive_type=\"method_call\"/>\n"
      "    <allow receive_type=\"signal\"/>\n"
      "    <allow receive_type=\"method_return\"/>\n"
      "    <allow receive_type=\"error\"/>\n"
      "  </policy>\n"
      "</busconfig>\n",
      socket);
  const char *argv[] = {"dbus-daemon", opt_config, "--nofork", "--print-address=1", NULL};
  g_autoptr(GError) error = NULL;
  GString *address = g_string_new(NULL);
  int out = -1;
  char c;

  write_file("bus.conf", bus_config);
  if (!g_spawn_async_with_pipes(NULL, (char **)argv, NULL,
                                G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                                    G_SPAWN_STDERR_TO_DEV_NULL,
                                child_setup, NULL, &world.bus_pid, NULL, &out, NULL, &error))
    fail_msg("dbus-daemon could not be started: %s", error->message);
  while (read(out, &c, 1) == 1 && c != '\n')
    g_string_append_c(address, c);
  close(out);
  assert_true(address->len > 0);
  world.bus_address = g_string_free(address, FALSE);
  world.bus =
      g_dbus_connection_new_for_address_sync(world.bus_address,
                                             G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                 G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                             NULL, NULL, &error);
  if (!world.bus)
    fail_msg("no connection to the private bus: %s", error->message);
}

/* The mounts that keep NetworkManager's writes inside the namespace. */
static void namespace_mounts(void)
{
  g_autofree gchar *var_lib = world_path("var-lib");

  /* Not only /run/NetworkManager: it need not exist, and creating it would
   * change the host's /run. */
  if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0)
    fail_msg("mount tmpfs over /run in the test's namespace: %s", g_strerror(errno));
  assert_int_equal(g_mkdir(var_lib, 0700), 0);
  if (mount(var_lib, "/var/lib/NetworkManager", NULL, MS_BIND, NULL) != 0)
    fail_msg("bind a temporary directory over /var/lib/NetworkManager: %s (is NetworkManager "
             "installed?)",
             g_strerror(errno));
}

static int world_setup(void **state)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *config_dir = NULL;
  g_autofree gchar *nm_config = NULL;

  /* Everything of the test lives in a tmpfs of the namespace: it goes with
   * the namespace, even when the test crashes. */
  if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0)
    fail_msg("mount tmpfs over /tmp in the test's namespace: %s", g_strerror(errno));
  world.dir = g_dir_make_tmp("esimd-nm-XXXXXX", &error);
  assert_non_null(world.dir);
  namespace_mounts();
  world.keyfiles = world_path("keyfiles");
  assert_int_equal(g_mkdir(world.keyfiles, 0700), 0);
  config_dir = world_path("conf.d");
  assert_int_equal(g_mkdir(config_dir, 0700), 0);
  /* auth-polkit=false: no polkit on the private bus; the test is root.
   * dns, rc-manager and hostname-mode keep it off /etc. */
  nm_config = g_strdup_printf("[main]\n"
                              "plugins=keyfile\n"
                              "no-auto-default=*\n"
                              "auth-polkit=false\n"
                              "dns=none\n"
                              "rc-manager=unmanaged\n"
                              "hostname-mode=none\n"
                              "[logging]\n"
                              "level=INFO\n"
                              "[keyfile]\n"
                              "path=%s\n",
                              world.keyfiles);
  write_file("NetworkManager.conf", nm_config);
  write_file("serviceproviders.xml", provider_db);
  world.db = world_path("serviceproviders.xml");
  bus_start();
  /* For nmcli, and for the client created with a NULL address. */
  g_setenv("DBUS_SYSTEM_BUS_ADDRESS", world.bus_address, TRUE);
  g_setenv("ESIMD_NM_BUS_ADDRESS", world.bus_address, TRUE);
  nm_start();
  return 0;
}

static int world_teardown(void **state)
{
  int status;

  nm_stop();
  if (world.bus)
    g_dbus_connection_close_sync(world.bus, NULL, NULL);
  g_clear_object(&world.bus);
  test_drain();
  if (world.bus_pid) {
    kill(world.bus_pid, SIGTERM);
    waitpid(world.bus_pid, &status, 0);
    g_spawn_close_pid(world.bus_pid);
  }
  /* The mounts, and the files in them, go with the namespace. */
  g_free(world.dir);
  g_free(world.keyfiles);
  g_free(world.db);
  g_free(world.bus_address);
  return 0;
}

/* ---- reading NetworkManager back, with nmcli ---- */

/* nmcli's output for argv (NULL-terminated); fails the test when it fails. */
static gchar *nmcli_v(const char *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  g_autofree gchar *out = NULL;
  g_autofree gchar *err = NULL;
  g_autoptr(GError) error = NULL;
  int status;

  g_ptr_array_add(argv, "nmcli");
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add(argv, (gpointer)args[i]);
  g_ptr_array_add(argv, NULL);
  if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                    &status, &error))
    fail_msg("nmcli: %s", error->message);
  if (!g_spawn_check_wait_status(status, &error))
    fail_msg("nmcli %s: %s: %s", args[0], error->message, err);
  g_strchomp(out);
  return g_steal_pointer(&out);
}

/* One property of the connection at path, as `nmcli -g` prints it. */
static gchar *conn_get(const char *path, const char *field)
{
  const char *args[] = {"-g", field, "connection", "show", "path", path, NULL};

  return nmcli_v(args);
}

/* user.data[NM_PROFILE_MARK_KEY] of the connection at path, "" without
 * one: nmcli does not show the user setting, GetSettings does. */
static gchar *conn_get_mark(const char *path)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = g_dbus_connection_call_sync(
      world.bus, NM_NAME, path, "org.freedesktop.NetworkManager.Settings.Connection", "GetSettings",
      NULL, G_VARIANT_TYPE("(a{sa{sv}})"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_autoptr(GVariant) settings = NULL;
  g_autoptr(GVariant) user = NULL;
  g_autoptr(GVariant) data = NULL;
  const char *mark = "";

  if (!reply)
    fail_msg("GetSettings %s: %s", path, error->message);
  settings = g_variant_get_child_value(reply, 0);
  user = g_variant_lookup_value(settings, "user", G_VARIANT_TYPE_VARDICT);
  if (user)
    data = g_variant_lookup_value(user, "data", G_VARIANT_TYPE("a{ss}"));
  if (data)
    g_variant_lookup(data, NM_PROFILE_MARK_KEY, "&s", &mark);
  return g_strdup(mark);
}

static void assert_mark(const char *path, const char *want)
{
  g_autofree gchar *mark = conn_get_mark(path);

  if (!g_str_equal(mark, want))
    fail_msg("esimd's mark on %s: \"%s\", want \"%s\"", path, mark, want);
}

/* The object paths of the connections whose gsm.sim-id is iccid. */
static GPtrArray *conns_with_sim_id(const char *iccid)
{
  const char *list_args[] = {"-g", "DBUS-PATH", "connection", "show", NULL};
  g_autofree gchar *list = nmcli_v(list_args);
  g_auto(GStrv) paths = g_strsplit(list, "\n", -1);
  GPtrArray *found = g_ptr_array_new_with_free_func(g_free);

  for (guint i = 0; paths[i]; i++) {
    g_autofree gchar *sim_id = NULL;

    if (!*paths[i])
      continue;
    sim_id = conn_get(paths[i], "gsm.sim-id");
    if (g_str_equal(sim_id, iccid))
      g_ptr_array_add(found, g_strdup(paths[i]));
  }
  return found;
}

static guint count_with_sim_id(const char *iccid)
{
  g_autoptr(GPtrArray) found = conns_with_sim_id(iccid);

  return found->len;
}

/* The keyfile NetworkManager wrote for the connection named id. */
static gchar *keyfile_read(const char *id)
{
  g_autofree gchar *name = g_strconcat(id, ".nmconnection", NULL);
  g_autofree gchar *path = g_build_filename(world.keyfiles, name, NULL);
  gchar *contents = NULL;

  if (!g_file_get_contents(path, &contents, NULL, NULL))
    return NULL;
  return contents;
}

/* The keyfile that holds the connection with uuid (NetworkManager keeps a
 * file's name when the connection is renamed). */
static gchar *keyfile_for_uuid(const char *uuid)
{
  g_autoptr(GDir) dir = g_dir_open(world.keyfiles, 0, NULL);
  g_autofree gchar *line = g_strconcat("\nuuid=", uuid, "\n", NULL);
  const char *name;

  assert_non_null(dir);
  while ((name = g_dir_read_name(dir))) {
    g_autofree gchar *path = g_build_filename(world.keyfiles, name, NULL);
    g_autofree gchar *contents = NULL;

    if (g_file_get_contents(path, &contents, NULL, NULL) && strstr(contents, line))
      return g_steal_pointer(&contents);
  }
  return NULL;
}

/* ---- the client, each call waited for ---- */

typedef struct {
  NmProfiles *nm;
  guint appeared;
} Fixture;

static void on_appeared(gpointer data)
{
  Fixture *f = data;

  f->appeared++;
}

static int setup(void **state)
{
  Fixture *f = g_new0(Fixture, 1);

  /* NULL: $ESIMD_NM_BUS_ADDRESS, the private bus. */
  f->nm = nm_profiles_new(NULL);
  nm_profiles_set_appeared_func(f->nm, on_appeared, f);
  nm_profiles_set_apn_db(f->nm, world.db);
  *state = f;
  return 0;
}

static int teardown(void **state)
{
  Fixture *f = *state;

  g_clear_pointer(&f->nm, nm_profiles_free);
  test_drain();
  g_free(f);
  return 0;
}

static gchar *ensure(NmProfiles *nm, const char *iccid, const char *name, const char *owner,
                     GError **error)
{
  NmProfileSpec spec = {.iccid = iccid, .name = name, .owner_mccmnc = owner};
  g_autoptr(GAsyncResult) res = NULL;

  nm_profiles_ensure(nm, &spec, NULL, test_got_result, &res);
  test_wait_result(&res);
  return nm_profiles_ensure_finish(nm, res, error);
}

/* ensure that must succeed */
static gchar *ensure_ok(NmProfiles *nm, const char *iccid, const char *name, const char *owner)
{
  g_autoptr(GError) error = NULL;
  gchar *path = ensure(nm, iccid, name, owner, &error);

  if (!path)
    fail_msg("ensure %s: %s", iccid, error->message);
  return path;
}

static void remove_ok(NmProfiles *nm, const char *iccid)
{
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;

  nm_profiles_remove(nm, iccid, NULL, test_got_result, &res);
  test_wait_result(&res);
  if (!nm_profiles_remove_finish(nm, res, &error))
    fail_msg("remove %s: %s", iccid, error->message);
}

static void assert_field(const char *path, const char *field, const char *want)
{
  g_autofree gchar *got = conn_get(path, field);

  if (!g_str_equal(got, want))
    fail_msg("%s of %s: \"%s\", want \"%s\"", field, path, got, want);
}

/* ---- the tests ---- */

/* The APN rule: exactly one internet APN for the MCC/MNC, else none. */
static void test_apn_lookup(void **state)
{
  struct {
    const char *mccmnc;
    const char *want;
  } cases[] = {
      {"00101", "one.example"},    /* the MMS APN beside it does not count */
      {"00102", NULL},             /* two internet APNs: auto-config decides */
      {"00103", "same.example"},   /* one APN, listed by two providers */
      {"00199", "same.example"},   /* a second network-id of one gsm element */
      {"00104", "plain.example"},  /* no usage: a data APN */
      {"00105", NULL},             /* MMS only */
      {"001001", "three.example"}, /* three-digit MNC, not 00100 + 1 */
      {"00100", NULL},
      {"99999", NULL}, /* not in the database */
      {"0010", NULL},  /* not an MCC/MNC */
      {"00a01", NULL},
      {"", NULL},
  };
  g_autofree gchar *missing = world_path("no-such-file.xml");
  g_autofree gchar *broken = world_path("broken.xml");

  for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autofree gchar *apn = nm_apn_lookup(world.db, cases[i].mccmnc);

    if (g_strcmp0(apn, cases[i].want) != 0)
      fail_msg("APN for \"%s\": %s, want %s", cases[i].mccmnc, apn ? apn : "(none)",
               cases[i].want ? cases[i].want : "(none)");
  }
  assert_null(nm_apn_lookup(missing, "00101"));
  write_file("broken.xml", "<serviceproviders><gsm><network-id mcc=\"001\" mnc=\"01\"/>"
                           "<apn value=\"x\">");
  assert_null(nm_apn_lookup(broken, "00101"));
}

/* The installed database parses (its DOCTYPE, comments, entities): for the
 * networks it lists, some answer one APN, and every answer is an APN the
 * file names. */
static void test_apn_lookup_installed(void **state)
{
  const char *db = "/usr/share/mobile-broadband-provider-info/serviceproviders.xml";
  g_autofree gchar *contents = NULL;
  g_autoptr(GRegex) network =
      g_regex_new("<network-id mcc=\"(\\d{3})\" mnc=\"(\\d{2,3})\"", 0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  guint tried = 0, answered = 0;

  if (!g_file_get_contents(db, &contents, NULL, NULL))
    fail_msg("%s is missing: install mobile-broadband-provider-info (tools/deps)", db);
  assert_non_null(network);
  g_regex_match(network, contents, 0, &match);
  /* Every 40th network: enough to cover the file, bounded in time. */
  for (guint i = 0; g_match_info_matches(match); i++, g_match_info_next(match, NULL)) {
    g_autofree gchar *mcc = NULL;
    g_autofree gchar *mnc = NULL;
    g_autofree gchar *mccmnc = NULL;
    g_autofree gchar *apn = NULL;
    g_autofree gchar *named = NULL;

    if (i % 40 != 0)
      continue;
    mcc = g_match_info_fetch(match, 1);
    mnc = g_match_info_fetch(match, 2);
    mccmnc = g_strconcat(mcc, mnc, NULL);
    apn = nm_apn_lookup(NULL, mccmnc);
    tried++;
    if (!apn)
      continue;
    answered++;
    named = g_strdup_printf("<apn value=\"%s\"", apn);
    if (!strstr(contents, named))
      fail_msg("APN \"%s\" for %s is not in %s", apn, mccmnc, db);
  }
  assert_true(tried > 10);
  assert_true(answered > 0);
  /* Test network 001/01 is in no real database. */
  assert_null(nm_apn_lookup(NULL, "00101"));
}

/* A new profile gets a gsm connection with every setting DESIGN.md names,
 * written to disk. */
static void test_ensure_creates(void **state)
{
  Fixture *f = *state;
  g_autofree gchar *path = ensure_ok(f->nm, ICCID_CREATE, "Work", "00101");
  g_autofree gchar *keyfile = NULL;

  assert_string_not_equal(path, "/");
  assert_true(g_str_has_prefix(path, "/org/freedesktop/NetworkManager/Settings/"));
  assert_field(path, "connection.id", "Work (eSIM)");
  assert_field(path, "connection.type", "gsm");
  assert_field(path, "connection.autoconnect", "yes");
  assert_field(path, "connection.interface-name", "");
  assert_field(path, "gsm.sim-id", ICCID_CREATE);
  assert_field(path, "gsm.sim-operator-id", "00101");
  assert_field(path, "gsm.apn", "one.example");
  assert_field(path, "gsm.auto-config", "no");
  assert_mark(path, ICCID_CREATE);
  keyfile = keyfile_read("Work (eSIM)");
  assert_non_null(keyfile);
  assert_non_null(strstr(keyfile, "sim-id=" ICCID_CREATE));
  assert_non_null(strstr(keyfile, "apn=one.example"));
  assert_non_null(strstr(keyfile, "[user]\n" NM_PROFILE_MARK_KEY "=" ICCID_CREATE "\n"));
  assert_int_equal(count_with_sim_id(ICCID_CREATE), 1);
}

/* ensure again, and two ensures queued at once, make no second connection
 * and change nothing. */
static void test_ensure_idempotent(void **state)
{
  Fixture *f = *state;
  NmProfileSpec spec = {.iccid = ICCID_CREATE, .name = "Work", .owner_mccmnc = "00101"};
  NmProfileSpec twin = {.iccid = ICCID_NEVER, .name = "Twin", .owner_mccmnc = ""};
  g_autofree gchar *first = ensure_ok(f->nm, ICCID_CREATE, "Work", "00101");
  g_autofree gchar *keyfile = keyfile_read("Work (eSIM)");
  g_autofree gchar *again = NULL;
  g_autofree gchar *after = NULL;
  g_autofree gchar *twin1 = NULL;
  g_autofree gchar *twin2 = NULL;
  g_autoptr(GAsyncResult) r1 = NULL;
  g_autoptr(GAsyncResult) r2 = NULL;
  g_autoptr(GAsyncResult) r3 = NULL;

  assert_non_null(keyfile);
  nm_profiles_ensure(f->nm, &spec, NULL, test_got_result, &r1);
  nm_profiles_ensure(f->nm, &twin, NULL, test_got_result, &r2);
  nm_profiles_ensure(f->nm, &twin, NULL, test_got_result, &r3);
  test_wait_result(&r1);
  test_wait_result(&r2);
  test_wait_result(&r3);
  again = nm_profiles_ensure_finish(f->nm, r1, NULL);
  twin1 = nm_profiles_ensure_finish(f->nm, r2, NULL);
  twin2 = nm_profiles_ensure_finish(f->nm, r3, NULL);
  assert_string_equal(again, first);
  assert_int_equal(count_with_sim_id(ICCID_CREATE), 1);
  after = keyfile_read("Work (eSIM)");
  assert_string_equal(after, keyfile);
  /* The twin: one connection although both calls were made before either
   * looked; no owner, so no operator and auto-config. */
  assert_non_null(twin1);
  assert_string_not_equal(twin1, "/");
  assert_string_equal(twin1, twin2);
  assert_int_equal(count_with_sim_id(ICCID_NEVER), 1);
  assert_field(twin1, "gsm.sim-operator-id", "");
  assert_field(twin1, "gsm.apn", "");
  assert_field(twin1, "gsm.auto-config", "yes");
  remove_ok(f->nm, ICCID_NEVER);
}

/* A nickname renames the connection; a new owner changes the operator and
 * the APN; what the user changed meanwhile stays. */
static void test_ensure_updates(void **state)
{
  Fixture *f = *state;
  g_autofree gchar *path = ensure_ok(f->nm, ICCID_RENAME, "Operator name", "00101");
  g_autofree gchar *renamed = NULL;
  g_autofree gchar *back = NULL;
  /* What a user may have changed meanwhile: a priority, later a password
   * (a secret: GetSettings leaves it out, an update must not drop it). */
  const char *modify[] = {"connection", "modify", "path", path, "connection.autoconnect-priority",
                          "7",          NULL};
  const char *set_password[] = {
      "connection",         "modify", "path", path, "gsm.password", "hunter2",
      "gsm.password-flags", "0",      NULL};
  g_autofree gchar *out2 = NULL;
  g_autofree gchar *again = NULL;
  g_autofree gchar *out = NULL;
  g_autofree gchar *keyfile = NULL;
  g_autofree gchar *uuid = NULL;

  assert_field(path, "gsm.apn", "one.example");
  out = nmcli_v(modify);
  renamed = ensure_ok(f->nm, ICCID_RENAME, "Travel", "00102");
  assert_string_equal(renamed, path);
  assert_field(path, "connection.id", "Travel (eSIM)");
  assert_field(path, "gsm.sim-id", ICCID_RENAME);
  assert_field(path, "gsm.sim-operator-id", "00102");
  /* Two internet APNs for 001/02: none set, NetworkManager picks. */
  assert_field(path, "gsm.apn", "");
  assert_field(path, "gsm.auto-config", "yes");
  assert_field(path, "connection.autoconnect-priority", "7");
  assert_mark(path, ICCID_RENAME);
  assert_int_equal(count_with_sim_id(ICCID_RENAME), 1);
  /* Written to disk, not only to NetworkManager's memory. */
  uuid = conn_get(path, "connection.uuid");
  keyfile = keyfile_for_uuid(uuid);
  assert_non_null(keyfile);
  assert_non_null(strstr(keyfile, "\nid=Travel (eSIM)\n"));
  assert_non_null(strstr(keyfile, "\nauto-config=true\n"));
  assert_null(strstr(keyfile, "apn="));
  /* And back to a known APN: auto-config goes. */
  back = ensure_ok(f->nm, ICCID_RENAME, "Travel", "001001");
  assert_string_equal(back, path);
  assert_field(path, "gsm.apn", "three.example");
  assert_field(path, "gsm.auto-config", "no");
  assert_field(path, "gsm.sim-operator-id", "001001");
  /* A nickname after the user set a password: renamed, password kept. */
  out2 = nmcli_v(set_password);
  again = ensure_ok(f->nm, ICCID_RENAME, "Again", "001001");
  assert_string_equal(again, path);
  assert_field(path, "connection.id", "Again (eSIM)");
  /* The keyfile is what NetworkManager keeps: `nmcli -s` right after an
   * Update sometimes shows no password although it is stored. */
  g_free(keyfile);
  keyfile = keyfile_for_uuid(uuid);
  assert_non_null(keyfile);
  assert_non_null(strstr(keyfile, "\nid=Again (eSIM)\n"));
  assert_non_null(strstr(keyfile, "\npassword=hunter2\n"));
  /* The owner no longer known: no operator, no APN. */
  g_free(again);
  again = ensure_ok(f->nm, ICCID_RENAME, "Again", "");
  assert_string_equal(again, path);
  assert_field(path, "gsm.sim-operator-id", "");
  assert_field(path, "gsm.apn", "");
  assert_int_equal(count_with_sim_id(ICCID_RENAME), 1);
}

/* The user's own connection for the SIM is answered and left as it is;
 * esimd makes none beside it, and remove leaves it. */
static void test_user_connection(void **state)
{
  Fixture *f = *state;
  const char *add[] = {"connection", "add",          "type", "gsm",        "ifname",
                       "*",          "con-name",     "Mine", "gsm.sim-id", ICCID_USER,
                       "gsm.apn",    "user.example", NULL};
  G_GNUC_UNUSED g_autofree gchar *out = nmcli_v(add);
  g_autoptr(GPtrArray) before = conns_with_sim_id(ICCID_USER);
  g_autofree gchar *keyfile = keyfile_read("Mine");
  g_autofree gchar *path = NULL;
  g_autofree gchar *again = NULL;
  g_autofree gchar *after = NULL;

  assert_int_equal(before->len, 1);
  assert_non_null(keyfile);
  path = ensure_ok(f->nm, ICCID_USER, "Home", "00101");
  assert_string_equal(path, g_ptr_array_index(before, 0));
  again = ensure_ok(f->nm, ICCID_USER, "Renamed", "00102");
  assert_string_equal(again, path);
  assert_int_equal(count_with_sim_id(ICCID_USER), 1);
  assert_field(path, "connection.id", "Mine");
  assert_field(path, "gsm.apn", "user.example");
  assert_mark(path, "");
  after = keyfile_read("Mine");
  assert_string_equal(after, keyfile);
  remove_ok(f->nm, ICCID_USER);
  assert_int_equal(count_with_sim_id(ICCID_USER), 1);
  after = (g_free(after), keyfile_read("Mine"));
  assert_string_equal(after, keyfile);
  {
    const char *del[] = {"connection", "delete", "path", path, NULL};
    G_GNUC_UNUSED g_autofree gchar *gone = nmcli_v(del);
  }
}

/* remove deletes esimd's connection, keyfile included; removing again, or
 * a profile that never had one, succeeds. */
static void test_remove(void **state)
{
  Fixture *f = *state;
  G_GNUC_UNUSED g_autofree gchar *path = ensure_ok(f->nm, ICCID_REMOVE, "Gone soon", "00103");
  g_autofree gchar *keyfile = keyfile_read("Gone soon (eSIM)");

  assert_non_null(keyfile);
  assert_int_equal(count_with_sim_id(ICCID_REMOVE), 1);
  remove_ok(f->nm, ICCID_REMOVE);
  assert_int_equal(count_with_sim_id(ICCID_REMOVE), 0);
  g_free(keyfile);
  keyfile = keyfile_read("Gone soon (eSIM)");
  assert_null(keyfile);
  remove_ok(f->nm, ICCID_REMOVE);
  remove_ok(f->nm, "8988247000000009999");
  /* Others stay. */
  assert_int_equal(count_with_sim_id(ICCID_CREATE), 1);
}

static gboolean appeared_once_more(gpointer data)
{
  Fixture *f = data;

  return f->appeared > 0;
}

/* NetworkManager not running: ensure answers "/" and remove succeeds, with
 * no error and nothing written; when it starts, the appeared function is
 * called, and ensure then finds what was there before. */
static void test_nm_absent_then_appears(void **state)
{
  Fixture *f = *state;
  g_autofree gchar *before = ensure_ok(f->nm, ICCID_RESTART, "Survivor", "00101");
  g_autofree gchar *uuid = conn_get(before, "connection.uuid");
  g_autofree gchar *absent = NULL;
  g_autofree gchar *after = NULL;
  g_autofree gchar *uuid_after = NULL;
  g_autofree gchar *keyfile = NULL;

  /* It was running when the client came: called once for that. */
  assert_int_equal(f->appeared, 1);
  nm_stop();
  f->appeared = 0;
  absent = ensure_ok(f->nm, ICCID_ABSENT, "Nowhere", "00101");
  assert_string_equal(absent, "/");
  remove_ok(f->nm, ICCID_RESTART);
  keyfile = keyfile_read("Nowhere (eSIM)");
  assert_null(keyfile);
  assert_int_equal(f->appeared, 0);

  nm_start();
  if (!test_wait_until(appeared_once_more, f))
    fail_msg("the appeared function was not called when NetworkManager started");
  assert_int_equal(f->appeared, 1);
  after = ensure_ok(f->nm, ICCID_RESTART, "Survivor", "00101");
  assert_string_not_equal(after, "/");
  uuid_after = conn_get(after, "connection.uuid");
  assert_string_equal(uuid_after, uuid);
  assert_int_equal(count_with_sim_id(ICCID_RESTART), 1);
  remove_ok(f->nm, ICCID_RESTART);
  assert_int_equal(count_with_sim_id(ICCID_RESTART), 0);
}

/* A client made while NetworkManager is stopped learns of its start. */
static void test_client_before_nm(void **state)
{
  Fixture *f = *state;
  g_autofree gchar *path = NULL;

  nm_stop();
  g_clear_pointer(&f->nm, nm_profiles_free);
  f->appeared = 0;
  f->nm = nm_profiles_new(world.bus_address);
  nm_profiles_set_appeared_func(f->nm, on_appeared, f);
  nm_profiles_set_apn_db(f->nm, world.db);
  path = ensure_ok(f->nm, ICCID_ABSENT, "Early", "");
  assert_string_equal(path, "/");
  assert_int_equal(f->appeared, 0);
  nm_start();
  if (!test_wait_until(appeared_once_more, f))
    fail_msg("the appeared function was not called when NetworkManager started");
  g_free(path);
  path = ensure_ok(f->nm, ICCID_ABSENT, "Early", "");
  assert_string_not_equal(path, "/");
  remove_ok(f->nm, ICCID_ABSENT);
}

/* No bus at all is the same as no NetworkManager: not an error. */
static void test_no_bus(void **state)
{
  g_autofree gchar *socket = world_path("no-bus-here");
  g_autofree gchar *address = g_strconcat("unix:path=", socket, NULL);
  g_autoptr(NmProfiles) nm = nm_profiles_new(address);
  g_autofree gchar *path = ensure_ok(nm, ICCID_NEVER, "Nobody", "00101");

  assert_string_equal(path, "/");
  remove_ok(nm, ICCID_NEVER);
}

/* NetworkManager refuses what it cannot store (a user.data value over
 * 8 KiB): the error reaches the caller, and nothing is left behind; the
 * next operation runs as usual. */
static void test_ensure_refused(void **state)
{
  Fixture *f = *state;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *huge = g_strnfill(9000, '8');
  g_autofree gchar *path = ensure(f->nm, huge, "Too long", "00101", &error);
  g_autofree gchar *next = NULL;
  g_autofree gchar *keyfile = keyfile_read("Too long (eSIM)");

  assert_null(path);
  assert_non_null(error);
  assert_non_null(strstr(error->message, "NetworkManager refused"));
  assert_null(keyfile);
  next = ensure_ok(f->nm, ICCID_CREATE, "Work", "00101");
  assert_string_not_equal(next, "/");
}

/* A cancelled ensure ends with G_IO_ERROR_CANCELLED and changes nothing. */
static void test_ensure_cancelled(void **state)
{
  Fixture *f = *state;
  NmProfileSpec spec = {.iccid = ICCID_NEVER, .name = "Cancelled", .owner_mccmnc = ""};
  g_autoptr(GCancellable) cancellable = g_cancellable_new();
  g_autoptr(GAsyncResult) res = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = NULL;

  g_cancellable_cancel(cancellable);
  nm_profiles_ensure(f->nm, &spec, cancellable, test_got_result, &res);
  test_wait_result(&res);
  path = nm_profiles_ensure_finish(f->nm, res, &error);
  assert_null(path);
  assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED));
  assert_int_equal(count_with_sim_id(ICCID_NEVER), 0);
}

/* Freeing the client ends every operation: the one in flight and the one
 * queued behind it (with G_IO_ERROR_CLOSED) both call back. */
static void test_free_with_operations(void **state)
{
  Fixture *f = *state;
  NmProfileSpec spec = {.iccid = ICCID_NEVER, .name = "Freed", .owner_mccmnc = ""};
  G_GNUC_UNUSED g_autofree gchar *ready = ensure_ok(f->nm, ICCID_CREATE, "Work", "00101");
  g_autoptr(GAsyncResult) first = NULL;
  g_autoptr(GAsyncResult) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = NULL;
  NmProfiles *nm = f->nm;

  nm_profiles_ensure(nm, &spec, NULL, test_got_result, &first);
  nm_profiles_remove(nm, ICCID_NEVER, NULL, test_got_result, &second);
  f->nm = NULL;
  nm_profiles_free(nm);
  test_wait_result(&first);
  test_wait_result(&second);
  /* The first was on its way: "/" or an error, but an answer. */
  path = nm_profiles_ensure_finish(nm, first, NULL);
  assert_false(nm_profiles_remove_finish(nm, second, &error));
  assert_true(g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CLOSED));
  if (path && !g_str_equal(path, "/"))
    fail_msg("ensure after free answered %s", path);
}

int main(int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_apn_lookup),
      cmocka_unit_test(test_apn_lookup_installed),
      cmocka_unit_test_setup_teardown(test_ensure_creates, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ensure_idempotent, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ensure_updates, setup, teardown),
      cmocka_unit_test_setup_teardown(test_user_connection, setup, teardown),
      cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nm_absent_then_appears, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_before_nm, setup, teardown),
      cmocka_unit_test(test_no_bus),
      cmocka_unit_test_setup_teardown(test_ensure_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ensure_cancelled, setup, teardown),
      cmocka_unit_test_setup_teardown(test_free_with_operations, setup, teardown),
  };

  if (!g_getenv(NAMESPACE_ENV)) {
    g_autofree gchar *self = g_file_read_link("/proc/self/exe", NULL);

    /* Not a skip: the test proves nothing without the real NetworkManager,
     * and that needs its own namespaces, which only root can make here. */
    if (geteuid() != 0) {
      fprintf(stderr, "test-nm: runs the real NetworkManager in its own mount and network "
                      "namespace (unshare --mount --net), which needs root\n");
      return 1;
    }
    g_setenv(NAMESPACE_ENV, "1", TRUE);
    execlp("unshare", "unshare", "--mount", "--net", "--propagation", "private", "--", self,
           (char *)NULL);
    fprintf(stderr, "test-nm: could not run unshare (util-linux): %s\n", g_strerror(errno));
    return 1;
  }
  return cmocka_run_group_tests(tests, world_setup, world_teardown);
}
