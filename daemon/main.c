/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * esimd: options and configuration, logging, the one GMainLoop, signals.
 * Everything else happens in service/ (modems, cards) and bus/ (D-Bus).
 *
 * Exit status: 0 after a clean shutdown, 1 on a runtime error, 2 on a usage
 * error.
 */
#include "config.h"

#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "bus/bus.h"
#include "discovery/discovery.h"
#include "system/mm.h"
#include "service/service.h"

#define DEFAULT_CONFIG_FILE "/etc/esimd/esimd.conf"
/* Where the GSMA CI root certificates are to be installed (none ship yet). */
#define DEFAULT_SMDP_CA_DIR "/usr/share/esimd/ci"
#define CONFIG_GROUP "esimd"

enum {
  EXIT_OK = 0,
  EXIT_RUNTIME = 1,
  EXIT_USAGE = 2,
};

typedef struct {
  gchar *bus;
  gchar **devices;
  gchar *config_file;
  gchar *smdp_ca_file;
  gchar *smdp_host_override;
  gchar **mm_devices;
  gboolean no_proxy;
  gboolean no_udev;
  gboolean verbose;
  gboolean version;
} Options;

typedef struct {
  gchar **devices;
  gboolean use_proxy;
  gboolean udev;
  gchar *smdp_ca_file;
  gchar *smdp_ca_dir;
  ManagerConfig manager;
} Config;

typedef struct {
  GMainLoop *loop;
  Bus *bus;
  Manager *manager;
  MmClient *mm;
  Discovery *discovery;
  GCancellable *cancellable;
  int exit_code;
  gboolean shutting_down;
} Daemon;

static void options_clear(Options *o)
{
  g_free(o->bus);
  g_strfreev(o->devices);
  g_free(o->config_file);
  g_free(o->smdp_ca_file);
  g_free(o->smdp_host_override);
  g_strfreev(o->mm_devices);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Options, options_clear)

static void config_clear(Config *c)
{
  g_strfreev(c->devices);
  g_free(c->smdp_ca_file);
  g_free(c->smdp_ca_dir);
}

static gboolean parse_options(Options *o, int *argc, char ***argv, GError **error)
{
  const GOptionEntry entries[] = {
      {"bus", 0, 0, G_OPTION_ARG_STRING, &o->bus,
       "The bus to serve on: system (default), session, or a D-Bus address", "BUS"},
      {"device", 0, 0, G_OPTION_ARG_STRING_ARRAY, &o->devices,
       "A modem control port: qmi:PATH, mbim:PATH, at:PATH[@BAUD] or qrtr:NODE (repeatable)",
       "KIND:PORT"},
      {"config", 0, 0, G_OPTION_ARG_FILENAME, &o->config_file,
       "Read the configuration from FILE (default " DEFAULT_CONFIG_FILE ")", "FILE"},
      {"smdp-ca-file", 0, 0, G_OPTION_ARG_FILENAME, &o->smdp_ca_file,
       "Trust the CA certificates in this PEM file for SM-DP+ servers, besides the system "
       "store",
       "FILE"},
      /* For tests: every SM-DP+ connection goes to HOST:PORT. */
      {"smdp-host-override", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &o->smdp_host_override,
       NULL, "HOST:PORT"},
      /* For tests: the modem a --device port belongs to, as ModemManager
       * names it (Modem.Device), for a port without one in sysfs (a pty). */
      {"modem-device", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING_ARRAY, &o->mm_devices, NULL,
       "PORT=SYSFS-PATH"},
      {"no-proxy", 0, 0, G_OPTION_ARG_NONE, &o->no_proxy,
       "Open QMI and MBIM ports directly, not through qmi-proxy and mbim-proxy", NULL},
      {"no-udev", 0, 0, G_OPTION_ARG_NONE, &o->no_udev,
       "Do not look for modems through udev: serve only the --device and configured ones", NULL},
      {"verbose", 'v', 0, G_OPTION_ARG_NONE, &o->verbose, "Log debug messages", NULL},
      {"version", 0, 0, G_OPTION_ARG_NONE, &o->version, "Print the version and exit", NULL},
      {NULL},
  };
  g_autoptr(GOptionContext) context =
      g_option_context_new("- eSIM profile management for cellular modems");

  g_option_context_add_main_entries(context, entries, NULL);
  if (!g_option_context_parse(context, argc, argv, error))
    return FALSE;
  if (*argc > 1) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "Unexpected argument \"%s\"",
                (*argv)[1]);
    return FALSE;
  }
  return TRUE;
}

static gboolean key_file_get_bool(GKeyFile *kf, const char *key, gboolean fallback, gboolean *out,
                                  GError **error)
{
  g_autoptr(GError) e = NULL;
  gboolean v = g_key_file_get_boolean(kf, CONFIG_GROUP, key, &e);

  if (g_error_matches(e, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) ||
      g_error_matches(e, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_GROUP_NOT_FOUND)) {
    *out = fallback;
    return TRUE;
  }
  if (e) {
    g_propagate_prefixed_error(error, g_steal_pointer(&e), "%s: ", key);
    return FALSE;
  }
  *out = v;
  return TRUE;
}

/*
 * The configuration file, [esimd] group:
 *   devices=qmi:/dev/cdc-wdm0;at:/dev/ttyUSB2@115200
 *   use-proxy=true
 *   udev=true
 *   auto-send-notifications=true
 *   timeout-ms=0
 *   full-identifiers=false
 *   smdp-ca-file=/etc/esimd/ci.pem
 *   smdp-ca-dir=/usr/share/esimd/ci
 *   notification-retry-seconds=30
 *   modem-linger-ms=2000
 *   sim-change-timeout-seconds=30
 *   network-manager=true
 * A missing default file means defaults; a missing file named with
 * --config is an error.
 */
/* A number from min to max; *out is left as it is when the key is absent. */
static gboolean key_file_get_uint(GKeyFile *kf, const char *key, guint min, guint max,
                                  const char *unit, guint *out, GError **error)
{
  g_autofree char *text = g_key_file_get_value(kf, CONFIG_GROUP, key, NULL);
  guint64 value;

  if (!text)
    return TRUE;
  if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, min, max, &value, NULL)) {
    g_set_error(error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                "%s wants a number of %s from %u to %u, not \"%s\"", key, unit, min, max, text);
    return FALSE;
  }
  *out = (guint)value;
  return TRUE;
}

static gboolean load_config(const char *file, gboolean explicit, Config *config, GError **error)
{
  guint sim_wait_s = 30;
  g_autoptr(GKeyFile) kf = g_key_file_new();
  g_autoptr(GError) e = NULL;

  config->use_proxy = TRUE;
  config->udev = TRUE;
  config->manager.auto_send_notifications = TRUE;
  config->manager.transport_timeout_ms = 0;
  config->manager.full_identifiers = FALSE;
  config->smdp_ca_dir = g_strdup(DEFAULT_SMDP_CA_DIR);
  config->manager.notify_retry_first_s = 30;
  config->manager.linger_ms = 2000;
  config->manager.sim_wait_ms = 30000;
  config->manager.network_manager = TRUE;

  if (!g_key_file_load_from_file(kf, file, G_KEY_FILE_NONE, &e)) {
    if (!explicit && g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return TRUE;
    g_propagate_prefixed_error(error, g_steal_pointer(&e), "%s: ", file);
    return FALSE;
  }

  config->devices = g_key_file_get_string_list(kf, CONFIG_GROUP, "devices", NULL, NULL);
  config->smdp_ca_file = g_key_file_get_string(kf, CONFIG_GROUP, "smdp-ca-file", NULL);
  if (g_key_file_has_key(kf, CONFIG_GROUP, "smdp-ca-dir", NULL)) {
    g_free(config->smdp_ca_dir);
    config->smdp_ca_dir = g_key_file_get_string(kf, CONFIG_GROUP, "smdp-ca-dir", NULL);
  }
  if (!key_file_get_bool(kf, "use-proxy", TRUE, &config->use_proxy, &e) ||
      !key_file_get_bool(kf, "udev", TRUE, &config->udev, &e) ||
      !key_file_get_bool(kf, "auto-send-notifications", TRUE,
                         &config->manager.auto_send_notifications, &e) ||
      !key_file_get_bool(kf, "full-identifiers", FALSE, &config->manager.full_identifiers, &e) ||
      !key_file_get_bool(kf, "network-manager", TRUE, &config->manager.network_manager, &e)) {
    g_propagate_prefixed_error(error, g_steal_pointer(&e), "%s: ", file);
    return FALSE;
  }
  /* A retry at least a second apart: a loop with no pause would hammer the
   * SM-DP+. A linger of at most ten minutes: while esimd holds the modem,
   * ModemManager cannot use it. */
  if (!key_file_get_uint(kf, "timeout-ms", 0, G_MAXUINT, "milliseconds",
                         &config->manager.transport_timeout_ms, &e) ||
      !key_file_get_uint(kf, "notification-retry-seconds", 1, 3600, "seconds",
                         &config->manager.notify_retry_first_s, &e) ||
      !key_file_get_uint(kf, "modem-linger-ms", 1, 600000, "milliseconds",
                         &config->manager.linger_ms, &e) ||
      !key_file_get_uint(kf, "sim-change-timeout-seconds", 1, 600, "seconds", &sim_wait_s, &e)) {
    g_propagate_prefixed_error(error, g_steal_pointer(&e), "%s: ", file);
    return FALSE;
  }
  config->manager.sim_wait_ms = sim_wait_s * 1000;
  return TRUE;
}

/* "qmi:PATH", "mbim:PATH", "at:PATH[@BAUD]" or "qrtr:NODE". */
static gboolean parse_device(const char *text, gboolean use_proxy, ModemSpec *spec, GError **error)
{
  static const struct {
    const char *prefix;
    TransportKind kind;
  } kinds[] = {
      {"qmi:", TRANSPORT_KIND_QMI},
      {"mbim:", TRANSPORT_KIND_MBIM},
      {"at:", TRANSPORT_KIND_AT},
      {"qrtr:", TRANSPORT_KIND_QRTR},
  };
  const char *port = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS(kinds); i++) {
    if (g_str_has_prefix(text, kinds[i].prefix)) {
      spec->kind = kinds[i].kind;
      port = text + strlen(kinds[i].prefix);
    }
  }
  if (!port || !*port) {
    g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                "\"%s\" is not a device: write qmi:PATH, mbim:PATH, at:PATH[@BAUD] or "
                "qrtr:NODE",
                text);
    return FALSE;
  }
  spec->device = g_strdup("");
  spec->flags = use_proxy ? TRANSPORT_OPEN_FLAGS_NONE : TRANSPORT_OPEN_FLAGS_NO_PROXY;
  spec->baudrate = 0;
  if (spec->kind == TRANSPORT_KIND_AT && strchr(port, '@')) {
    const char *at = strrchr(port, '@');
    guint64 baud;
    if (!g_ascii_string_to_unsigned(at + 1, 10, 1, G_MAXUINT, &baud, NULL) || at == port) {
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                  "\"%s\": write the baud rate as at:PATH@115200", text);
      return FALSE;
    }
    spec->baudrate = (guint)baud;
    spec->port = g_strndup(port, (gsize)(at - port));
  } else if (spec->kind == TRANSPORT_KIND_QRTR) {
    guint64 node;
    if (!g_ascii_string_to_unsigned(port, 10, 0, G_MAXUINT32, &node, NULL)) {
      g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                  "\"%s\": a QRTR node is a number, as in qrtr:0", text);
      return FALSE;
    }
    spec->port = g_strdup(port);
  } else {
    spec->port = g_strdup(port);
  }
  return TRUE;
}

static void modem_spec_free(ModemSpec *spec)
{
  g_free(spec->port);
  g_free(spec->device);
  g_free(spec);
}

static void on_modem_added(const ModemSpec *spec, DiscoveryQuirks quirks, gpointer user_data)
{
  Daemon *d = user_data;
  ModemSpec with_quirks = *spec;

  g_info("Found a modem on %s:%s (%s)", transport_kind_to_string(spec->kind), spec->port,
         spec->device);
  if ((quirks & DISCOVERY_QUIRK_AT_CSIM_ONLY) && spec->kind == TRANSPORT_KIND_AT) {
    g_info("%s: +CSIM only (ESIMD_AT_CSIM_ONLY)", spec->port);
    with_quirks.flags |= TRANSPORT_OPEN_FLAGS_AT_CSIM_ONLY;
  }
  manager_add_modem(d->manager, &with_quirks);
}

static void on_modem_removed(const ModemSpec *spec, gpointer user_data)
{
  Daemon *d = user_data;

  g_info("The modem on %s is gone", spec->port);
  manager_remove_modem(d->manager, spec->port);
}

static const DiscoveryListener discovery_listener = {
    .modem_added = on_modem_added,
    .modem_removed = on_modem_removed,
};

/*
 * Modems from udev, beside the static ones. A machine without udev (a
 * container) still serves its static devices, so failing to start is only
 * worth a warning.
 */
static void start_discovery(Daemon *d, const Config *config, GPtrArray *static_specs)
{
  DiscoveryConfig dc = {
      .flags = config->use_proxy ? TRANSPORT_OPEN_FLAGS_NONE : TRANSPORT_OPEN_FLAGS_NO_PROXY,
  };
  g_autoptr(GError) error = NULL;

  d->discovery = discovery_new(&dc, &discovery_listener, d);
  for (guint i = 0; i < static_specs->len; i++) {
    const ModemSpec *spec = g_ptr_array_index(static_specs, i);
    discovery_exclude_port(d->discovery, spec->port);
  }
  if (!discovery_start(d->discovery, &error)) {
    g_warning("Not watching udev for modems: %s", error->message);
    g_clear_pointer(&d->discovery, discovery_free);
  }
}

static void on_shutdown_done(GObject *source, GAsyncResult *res, gpointer user_data)
{
  Daemon *d = user_data;
  g_autoptr(GError) error = NULL;

  if (!manager_shutdown_finish(d->manager, res, &error))
    g_warning("Shutting down: %s", error->message);
  g_main_loop_quit(d->loop);
}

static void daemon_shutdown(Daemon *d, int exit_code)
{
  if (exit_code > d->exit_code)
    d->exit_code = exit_code;
  if (d->shutting_down)
    return;
  d->shutting_down = TRUE;
  g_info("Shutting down");
  sd_notify(0, "STOPPING=1");
  g_cancellable_cancel(d->cancellable);
  /* No new modems while the known ones are being closed. */
  g_clear_pointer(&d->discovery, discovery_free);
  manager_shutdown(d->manager, NULL, on_shutdown_done, d);
}

static gboolean on_signal(gpointer user_data)
{
  Daemon *d = user_data;

  /* A second signal while the modems are being closed: stop waiting. */
  if (d->shutting_down) {
    g_warning("Stopping without waiting for the modems to close");
    g_main_loop_quit(d->loop);
    return G_SOURCE_CONTINUE;
  }
  daemon_shutdown(d, EXIT_OK);
  return G_SOURCE_CONTINUE;
}

static void on_bus_disconnected(Bus *bus, gpointer user_data)
{
  Daemon *d = user_data;

  g_warning("Lost the bus connection, exiting");
  daemon_shutdown(d, EXIT_RUNTIME);
}

static void on_probed(GObject *source, GAsyncResult *res, gpointer user_data)
{
  Daemon *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *status = NULL;
  guint n;

  if (!manager_wait_probed_finish(d->manager, res, &error)) {
    if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
      g_warning("Probing the modems: %s", error->message);
    return;
  }
  n = manager_get_euiccs(d->manager)->len;
  g_info("Ready: %u eUICC%s", n, n == 1 ? "" : "s");
  status = g_strdup_printf("READY=1\nSTATUS=Serving %u eUICC%s", n, n == 1 ? "" : "s");
  sd_notify(0, status);
}

static int run(const Options *options, Config *config)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) specs = g_ptr_array_new_with_free_func((GDestroyNotify)modem_spec_free);
  Daemon d = {0};
  guint sigterm = 0, sigint = 0;
  int code = EXIT_OK;

  for (int pass = 0; pass < 2; pass++) {
    gchar **list = pass == 0 ? config->devices : options->devices;
    for (guint i = 0; list && list[i]; i++) {
      ModemSpec *spec = g_new0(ModemSpec, 1);
      g_ptr_array_add(specs, spec);
      if (!parse_device(g_strstrip(list[i]), config->use_proxy, spec, &error)) {
        fprintf(stderr, "esimd: %s%s\n", pass == 0 ? "configuration: " : "", error->message);
        code = pass == 0 ? EXIT_RUNTIME : EXIT_USAGE;
        goto out;
      }
    }
  }

  for (guint i = 0; options->mm_devices && options->mm_devices[i]; i++) {
    const char *eq = strchr(options->mm_devices[i], '=');

    for (guint j = 0; eq && j < specs->len; j++) {
      ModemSpec *spec = g_ptr_array_index(specs, j);

      if (strlen(spec->port) == (gsize)(eq - options->mm_devices[i]) &&
          strncmp(spec->port, options->mm_devices[i], strlen(spec->port)) == 0) {
        g_free(spec->device);
        spec->device = g_strdup(eq + 1);
      }
    }
  }

  d.loop = g_main_loop_new(NULL, FALSE);
  d.cancellable = g_cancellable_new();
  /* From here on a signal asks for a clean shutdown (handled in the loop). */
  sigterm = g_unix_signal_add(SIGTERM, on_signal, &d);
  sigint = g_unix_signal_add(SIGINT, on_signal, &d);
  d.bus = bus_new(options->bus ? options->bus : "system", &error);
  if (!d.bus) {
    g_printerr("esimd: %s\n", error->message);
    code = EXIT_RUNTIME;
    goto out;
  }
  bus_set_disconnected_func(d.bus, on_bus_disconnected, &d);
  /* ModemManager is on the system bus ($ESIMD_MM_BUS_ADDRESS for tests);
   * nothing connects to it before the first switch. */
  d.mm = mm_client_new(NULL);
  config->manager.mm = d.mm;
  d.manager = manager_new(&config->manager, bus_get_service_listener(), d.bus);
  if (!bus_export(d.bus, d.manager, &error)) {
    g_printerr("esimd: %s\n", error->message);
    code = EXIT_RUNTIME;
    goto out;
  }
  for (guint i = 0; i < specs->len; i++) {
    const ModemSpec *spec = g_ptr_array_index(specs, i);
    g_info("Modem on %s:%s", transport_kind_to_string(spec->kind), spec->port);
    manager_add_modem(d.manager, spec);
  }
  if (config->udev)
    start_discovery(&d, config, specs);
  /* The name comes after the objects, so that whoever sees it appear finds
   * Manager1 there already. */
  if (!bus_request_name(d.bus, &error)) {
    g_printerr("esimd: %s\n", error->message);
    code = EXIT_RUNTIME;
    goto out;
  }
  manager_wait_probed(d.manager, d.cancellable, on_probed, &d);

  g_main_loop_run(d.loop);
  code = d.exit_code;
  bus_release_name(d.bus);

out:
  if (sigterm)
    g_source_remove(sigterm);
  if (sigint)
    g_source_remove(sigint);
  if (d.cancellable)
    g_cancellable_cancel(d.cancellable);
  g_clear_pointer(&d.discovery, discovery_free);
  if (d.bus)
    bus_unexport(d.bus);
  g_clear_pointer(&d.manager, manager_free);
  /* Let completions already queued (replies to calls the shutdown failed)
   * run before the bus goes. */
  while (g_main_context_iteration(NULL, FALSE))
    ;
  /* Last: ModemManager takes back whatever is still inhibited. */
  g_clear_pointer(&d.mm, mm_client_free);
  g_clear_pointer(&d.bus, bus_free);
  g_clear_object(&d.cancellable);
  g_clear_pointer(&d.loop, g_main_loop_unref);
  return code;
}

int main(int argc, char **argv)
{
  g_auto(Options) options = {0};
  Config config = {0};
  g_autoptr(GError) error = NULL;
  int code;

  setlocale(LC_ALL, "");
  if (!parse_options(&options, &argc, &argv, &error)) {
    fprintf(stderr, "esimd: %s (see --help)\n", error->message);
    return EXIT_USAGE;
  }
  if (options.version) {
    printf("esimd %s\n", PACKAGE_VERSION);
    return EXIT_OK;
  }
  /* GLib's default writer goes to the journal when stderr is connected to
   * it, and otherwise to stderr (all levels: stdout is not for logs). */
  g_log_writer_default_set_use_stderr(TRUE);
  if (options.verbose)
    g_log_set_debug_enabled(TRUE);

  if (!load_config(options.config_file ? options.config_file : DEFAULT_CONFIG_FILE,
                   options.config_file != NULL, &config, &error)) {
    fprintf(stderr, "esimd: %s\n", error->message);
    config_clear(&config);
    return EXIT_RUNTIME;
  }
  if (options.no_proxy)
    config.use_proxy = FALSE;
  if (options.no_udev)
    config.udev = FALSE;
  if (options.smdp_ca_file) {
    g_free(config.smdp_ca_file);
    config.smdp_ca_file = g_strdup(options.smdp_ca_file);
  }
  config.manager.smdp_ca_file = config.smdp_ca_file;
  config.manager.smdp_host_override = options.smdp_host_override;
  /* An empty smdp-ca-dir= turns the directory off. */
  config.manager.smdp_ca_dir =
      config.smdp_ca_dir && *config.smdp_ca_dir ? config.smdp_ca_dir : NULL;

  code = run(&options, &config);
  config_clear(&config);
  return code;
}
