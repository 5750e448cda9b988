/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * bench-codec: the cost of the ES10 decoders on the two largest answers a
 * card gives during a probe. The card model (euicc-sim) produces a
 * GetProfilesInfo response, asked with the tag list the daemon uses (icons
 * included), and an EUICCInfo2; the program then decodes each one N times.
 *
 *     bench-codec CARD-FILE N
 *
 * Run under `valgrind --tool=callgrind --toggle-collect=bench_decode_*` the
 * instruction count of those two functions divided by N is the cost of one
 * decode, a number that does not move with the load of the machine. Prints
 * the response sizes and the profile count so that the caller can check that
 * the decode did what it should.
 */
#include <stdio.h>
#include <stdlib.h>

#include "es10/es10.h"
#include "transport/iso7816.h"
#include "euicc-sim.h"

/* The tag list of the daemon's probe: everything but the ones it never shows. */
static const guint32 profile_tags[] = {
    ES10_TAG_ICCID,
    ES10_TAG_ISDP_AID,
    ES10_TAG_PROFILE_STATE,
    ES10_TAG_PROFILE_NICKNAME,
    ES10_TAG_SERVICE_PROVIDER_NAME,
    ES10_TAG_PROFILE_NAME,
    ES10_TAG_ICON_TYPE,
    ES10_TAG_ICON,
    ES10_TAG_PROFILE_CLASS,
    ES10_TAG_PROFILE_OWNER,
    ES10_TAG_PROFILE_POLICY_RULES,
};

static GBytes *sim_transmit(gpointer user_data, GBytes *command, GError **error)
{
  gsize len;
  const guint8 *apdu = g_bytes_get_data(command, &len);
  GBytes *response = euicc_sim_transmit(user_data, apdu, len);

  if (!response)
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "the card did not answer");
  return response;
}

/* One ES10 request to the card's ISD-R; the response DER. */
static GBytes *card_ask(EuiccSim *sim, guint channel, GBytes *request)
{
  g_autoptr(GError) error = NULL;
  GBytes *response = iso7816_store_data_sync(sim_transmit, sim, channel, request, NULL, &error);

  if (!response) {
    fprintf(stderr, "bench-codec: the card refused a request: %s\n", error->message);
    return NULL;
  }
  return response;
}

/* Kept out of line: callgrind counts what runs inside these two. */
G_GNUC_NO_INLINE static guint bench_decode_profiles(GBytes *der, guint n)
{
  gsize len;
  const guint8 *buf = g_bytes_get_data(der, &len);
  guint found = 0;

  for (guint i = 0; i < n; i++) {
    g_autoptr(GPtrArray) profiles = NULL;
    Es10cGetProfilesInfoResult result;

    if (!es10c_get_profiles_info_decode(buf, len, &result, &profiles, NULL))
      return 0;
    found = profiles->len;
  }
  return found;
}

G_GNUC_NO_INLINE static gboolean bench_decode_info2(GBytes *der, guint n)
{
  gsize len;
  const guint8 *buf = g_bytes_get_data(der, &len);

  for (guint i = 0; i < n; i++) {
    g_autoptr(Es10bEuiccInfo2) info = NULL;

    if (!es10b_get_euicc_info2_decode(buf, len, &info, NULL))
      return FALSE;
  }
  return TRUE;
}

int main(int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(EuiccSim) sim = NULL;
  g_autoptr(GBytes) aid = NULL;
  g_autoptr(GBytes) profiles_request = NULL;
  g_autoptr(GBytes) info2_request = NULL;
  g_autoptr(GBytes) profiles_der = NULL;
  g_autoptr(GBytes) info2_der = NULL;
  const Es10cGetProfilesInfoRequest request = {
      .search = ES10C_PROFILES_SEARCH_ALL,
      .tag_list = profile_tags,
      .n_tags = G_N_ELEMENTS(profile_tags),
  };
  guint channel, n, found;

  if (argc != 3) {
    fprintf(stderr, "usage: bench-codec CARD-FILE N\n");
    return 2;
  }
  n = (guint)strtoul(argv[2], NULL, 10);
  sim = euicc_sim_new_from_file(argv[1], &error);
  if (!sim) {
    fprintf(stderr, "bench-codec: %s\n", error->message);
    return 1;
  }
  aid = es10_hex_decode(EUICC_SIM_ISDR_AID, NULL);
  channel = iso7816_open_channel_sync(sim_transmit, sim, aid, &error);
  if (!channel) {
    fprintf(stderr, "bench-codec: cannot select the ISD-R: %s\n", error->message);
    return 1;
  }
  profiles_request = es10c_get_profiles_info_encode(&request, &error);
  info2_request = es10b_get_euicc_info2_encode();
  if (!profiles_request)
    return 1;
  profiles_der = card_ask(sim, channel, profiles_request);
  info2_der = card_ask(sim, channel, info2_request);
  if (!profiles_der || !info2_der)
    return 1;

  found = bench_decode_profiles(profiles_der, n);
  if (n && found != euicc_sim_get_profile_count(sim)) {
    fprintf(stderr, "bench-codec: decoded %u profiles, the card holds %u\n", found,
            euicc_sim_get_profile_count(sim));
    return 1;
  }
  if (!bench_decode_info2(info2_der, n)) {
    fprintf(stderr, "bench-codec: EUICCInfo2 did not decode\n");
    return 1;
  }
  printf("profiles-info-bytes %zu\n", g_bytes_get_size(profiles_der));
  printf("profiles %u\n", euicc_sim_get_profile_count(sim));
  printf("euicc-info2-bytes %zu\n", g_bytes_get_size(info2_der));
  printf("decodes %u\n", n);
  return 0;
}
