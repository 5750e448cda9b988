/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * esim-probe: reads a card's EID, EUICCInfo2 and profile list and prints
 * them. A developer's tool: it talks to a card model in-process (--card) or
 * to a modem through one transport backend (--qmi, --mbim, --at), with the
 * same SGP.22 codec and APDU layer as the daemon.
 */
#include <stdio.h>
#include <stdlib.h>

#include "es10/es10.h"
#include "transport/iso7816.h"
#include "transport/transport.h"
#include "euicc-sim.h"

/* The three ES10 requests a probe makes, and their answers. */
typedef enum { QUERY_EID, QUERY_INFO2, QUERY_PROFILES, QUERY_COUNT } Query;

typedef struct {
  GBytes *responses[QUERY_COUNT];
} Probe;

static void probe_clear(Probe *probe)
{
  for (guint i = 0; i < QUERY_COUNT; i++)
    g_clear_pointer(&probe->responses[i], g_bytes_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Probe, probe_clear)

static GBytes *query_encode(Query q)
{
  switch (q) {
  case QUERY_EID:
    return es10c_get_eid_encode();
  case QUERY_INFO2:
    return es10b_get_euicc_info2_encode();
  case QUERY_PROFILES:
  case QUERY_COUNT:
    break;
  }
  return es10c_get_profiles_info_encode(NULL, NULL);
}

static const char *query_name(Query q)
{
  switch (q) {
  case QUERY_EID:
    return "GetEID";
  case QUERY_INFO2:
    return "GetEUICCInfo2";
  case QUERY_PROFILES:
  case QUERY_COUNT:
    break;
  }
  return "GetProfilesInfo";
}

/* ---- printing ---- */

static const char *or_dash(const char *s)
{
  return s && *s ? s : "-";
}

static gboolean probe_print(Probe *probe, GError **error)
{
  g_autofree gchar *eid = NULL;
  g_autoptr(Es10bEuiccInfo2) info = NULL;
  g_autoptr(GPtrArray) profiles = NULL;
  Es10cGetProfilesInfoResult result;
  g_autofree gchar *svn = NULL, *pv = NULL, *fw = NULL, *pp = NULL;
  GBytes *r;

  r = probe->responses[QUERY_EID];
  if (!es10c_get_eid_decode(g_bytes_get_data(r, NULL), g_bytes_get_size(r), &eid, error))
    return FALSE;
  r = probe->responses[QUERY_INFO2];
  if (!es10b_get_euicc_info2_decode(g_bytes_get_data(r, NULL), g_bytes_get_size(r), &info, error))
    return FALSE;
  r = probe->responses[QUERY_PROFILES];
  if (!es10c_get_profiles_info_decode(g_bytes_get_data(r, NULL), g_bytes_get_size(r), &result,
                                      &profiles, error))
    return FALSE;
  if (result != ES10C_GET_PROFILES_INFO_OK) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "GetProfilesInfo failed: %s",
                es10_result_get_message(ES10_CMD_GET_PROFILES_INFO, (gint)result));
    return FALSE;
  }

  svn = es10_version_to_string(&info->svn);
  pv = es10_version_to_string(&info->profile_version);
  fw = es10_version_to_string(&info->firmware_version);
  pp = es10_version_to_string(&info->pp_version);

  printf("EID                %s\n", eid);
  printf("SVN                %s\n", svn);
  printf("Profile version    %s\n", pv);
  printf("Firmware version   %s\n", fw);
  if (info->has_free_nv_memory)
    printf("Free NV memory     %" G_GUINT64_FORMAT " bytes\n", info->free_nv_memory);
  else
    printf("Free NV memory     -\n");
  printf("Category           %s\n",
         info->has_euicc_category ? es10_euicc_category_to_string(info->euicc_category) : "-");
  printf("PP version         %s\n", pp);
  printf("\n");

  if (profiles->len == 0) {
    printf("No profiles.\n");
    return TRUE;
  }
  printf("%-20s  %-8s  %-12s  %-22s  %-18s  %s\n", "ICCID", "STATE", "CLASS", "NAME", "SPN",
         "NICKNAME");
  for (guint i = 0; i < profiles->len; i++) {
    Es10ProfileInfo *p = g_ptr_array_index(profiles, i);

    printf("%-20s  %-8s  %-12s  %-22s  %-18s  %s\n", or_dash(p->iccid),
           p->has_state ? es10_profile_state_to_string(p->state) : "-",
           es10_profile_class_to_string(p->profile_class), or_dash(p->profile_name),
           or_dash(p->service_provider_name), or_dash(p->nickname));
  }
  return TRUE;
}

/* ---- in-process card model, synchronous ---- */

static GBytes *sim_transmit(gpointer user_data, GBytes *command, GError **error)
{
  gsize len;
  const guint8 *b = g_bytes_get_data(command, &len);
  GBytes *response = euicc_sim_transmit(user_data, b, len);

  if (!response)
    g_set_error(error, TRANSPORT_ERROR, TRANSPORT_ERROR_TIMEOUT, "The card did not answer");
  return response;
}

static gboolean probe_card_file(const char *path, Probe *probe, GError **error)
{
  g_autoptr(EuiccSim) sim = euicc_sim_new_from_file(path, error);
  g_autoptr(GBytes) aid = NULL;
  guint channel;
  gboolean ok = TRUE;

  if (!sim)
    return FALSE;
  aid = es10_hex_decode(EUICC_SIM_ISDR_AID, error);
  if (!aid)
    return FALSE;
  channel = iso7816_open_channel_sync(sim_transmit, sim, aid, error);
  if (!channel)
    return FALSE;
  for (Query q = 0; ok && q < QUERY_COUNT; q++) {
    g_autoptr(GBytes) request = query_encode(q);

    probe->responses[q] = iso7816_store_data_sync(sim_transmit, sim, channel, request, NULL, error);
    if (!probe->responses[q]) {
      g_prefix_error(error, "%s: ", query_name(q));
      ok = FALSE;
    }
  }
  if (!iso7816_close_channel_sync(sim_transmit, sim, channel, ok ? error : NULL))
    ok = FALSE;
  return ok;
}

/* ---- a modem, through a transport backend and the asynchronous driver ---- */

typedef enum {
  STEP_OPEN,
  STEP_OPEN_CHANNEL,
  STEP_QUERY,
  STEP_CLOSE_CHANNEL,
  STEP_CLOSE,
  STEP_DONE,
} Step;

typedef struct {
  GMainLoop *loop;
  Transport *transport;
  guint slot;
  Step step;
  guint channel;
  Query query;
  gboolean opened;
  Probe *probe;
  GError *error; /* the first error; the steps after it only clean up */
} ModemProbe;

static void modem_step(ModemProbe *mp);

/* Keeps the first error, then moves to the cleanup that is still due. */
static void modem_fail(ModemProbe *mp, GError *error, const char *what)
{
  if (!mp->error) {
    g_prefix_error(&error, "%s: ", what);
    mp->error = error;
  } else {
    g_error_free(error);
  }
  if (mp->step < STEP_CLOSE_CHANNEL)
    mp->step = mp->channel ? STEP_CLOSE_CHANNEL : STEP_CLOSE;
  else
    mp->step++;
}

static void open_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  ModemProbe *mp = data;
  GError *error = NULL;

  if (!transport_open_finish(mp->transport, res, &error)) {
    modem_fail(mp, error, "Opening the modem port");
  } else {
    mp->opened = TRUE;
    mp->step++;
  }
  modem_step(mp);
}

static void open_channel_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  ModemProbe *mp = data;
  GError *error = NULL;

  mp->channel = transport_open_channel_finish(mp->transport, res, &error);
  if (!mp->channel)
    modem_fail(mp, error, "Opening a logical channel to the ISD-R");
  else
    mp->step++;
  modem_step(mp);
}

static void query_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  ModemProbe *mp = data;
  GError *error = NULL;
  GBytes *response = iso7816_store_data_finish(res, &error);

  if (!response) {
    modem_fail(mp, error, query_name(mp->query));
  } else {
    mp->probe->responses[mp->query] = response;
    if (++mp->query == QUERY_COUNT)
      mp->step++;
  }
  modem_step(mp);
}

static void close_channel_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  ModemProbe *mp = data;
  GError *error = NULL;

  if (!transport_close_channel_finish(mp->transport, res, &error))
    modem_fail(mp, error, "Closing the logical channel");
  else
    mp->step++;
  modem_step(mp);
}

static void close_ready(GObject *source, GAsyncResult *res, gpointer data)
{
  ModemProbe *mp = data;
  GError *error = NULL;

  if (!transport_close_finish(mp->transport, res, &error))
    modem_fail(mp, error, "Closing the modem port");
  else
    mp->step++;
  modem_step(mp);
}

static void modem_step(ModemProbe *mp)
{
  switch (mp->step) {
  case STEP_OPEN:
    transport_open(mp->transport, NULL, open_ready, mp);
    return;
  case STEP_OPEN_CHANNEL: {
    g_autoptr(GBytes) aid = es10_hex_decode(EUICC_SIM_ISDR_AID, NULL);
    transport_open_channel(mp->transport, mp->slot, aid, NULL, open_channel_ready, mp);
    return;
  }
  case STEP_QUERY: {
    g_autoptr(GBytes) request = query_encode(mp->query);
    iso7816_store_data_async(mp->transport, mp->slot, mp->channel, request, NULL, NULL, query_ready,
                             mp);
    return;
  }
  case STEP_CLOSE_CHANNEL:
    transport_close_channel(mp->transport, mp->slot, mp->channel, NULL, close_channel_ready, mp);
    return;
  case STEP_CLOSE:
    if (!mp->opened) {
      mp->step++;
      modem_step(mp);
      return;
    }
    transport_close(mp->transport, NULL, close_ready, mp);
    return;
  case STEP_DONE:
    g_main_loop_quit(mp->loop);
    return;
  }
}

static gboolean probe_modem(Transport *transport, guint slot, Probe *probe, GError **error)
{
  ModemProbe mp = {
      .loop = g_main_loop_new(NULL, FALSE),
      .transport = transport,
      .slot = slot,
      .step = STEP_OPEN,
      .probe = probe,
  };

  modem_step(&mp);
  if (mp.step != STEP_DONE)
    g_main_loop_run(mp.loop);
  g_main_loop_unref(mp.loop);
  if (mp.error) {
    g_propagate_error(error, mp.error);
    return FALSE;
  }
  return TRUE;
}

int main(int argc, char **argv)
{
  g_autofree gchar *card = NULL, *qmi = NULL, *mbim = NULL, *at = NULL;
  gboolean no_proxy = FALSE;
  gint slot = 1;
  const GOptionEntry entries[] = {
      {"card", 0, 0, G_OPTION_ARG_FILENAME, &card, "Read an emulated card from FILE", "FILE"},
      {"qmi", 0, 0, G_OPTION_ARG_FILENAME, &qmi, "Use the QMI port PATH", "PATH"},
      {"mbim", 0, 0, G_OPTION_ARG_FILENAME, &mbim, "Use the MBIM port PATH", "PATH"},
      {"at", 0, 0, G_OPTION_ARG_FILENAME, &at, "Use the AT port PATH", "PATH"},
      {"no-proxy", 0, 0, G_OPTION_ARG_NONE, &no_proxy,
       "Open the QMI/MBIM port directly, not through qmi-proxy/mbim-proxy", NULL},
      {"slot", 0, 0, G_OPTION_ARG_INT, &slot, "Physical SIM slot, 1-based (default 1)", "N"},
      {NULL},
  };
  g_autoptr(GOptionContext) ctx = g_option_context_new("- print an eUICC's EID, info and profiles");
  g_autoptr(GError) error = NULL;
  g_auto(Probe) probe = {0};
  gboolean ok;
  guint sources;

  g_option_context_add_main_entries(ctx, entries, NULL);
  if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
    fprintf(stderr, "esim-probe: %s\n", error->message);
    return 2;
  }
  sources = (card != NULL) + (qmi != NULL) + (mbim != NULL) + (at != NULL);
  if (sources != 1 || slot < 1) {
    fprintf(stderr, "esim-probe: give exactly one of --card, --qmi, --mbim, --at "
                    "(and --slot 1 or more)\n");
    return 2;
  }

  if (card) {
    ok = probe_card_file(card, &probe, &error);
  } else {
    TransportOpenFlags flags = no_proxy ? TRANSPORT_OPEN_FLAGS_NO_PROXY : TRANSPORT_OPEN_FLAGS_NONE;
    g_autoptr(Transport) transport = qmi    ? transport_new_qmi(qmi, flags)
                                     : mbim ? transport_new_mbim(mbim, flags)
                                            : transport_new_at(at, 0);
    ok = probe_modem(transport, (guint)slot, &probe, &error);
  }
  if (ok)
    ok = probe_print(&probe, &error);
  if (!ok) {
    fprintf(stderr, "esim-probe: %s\n", error->message);
    return 1;
  }
  return 0;
}
