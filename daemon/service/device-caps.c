/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DeviceInfo's deviceCapabilities (SGP.22 v2.2 4.2, sent in ctxParams1 of
 * AuthenticateServer, 5.7.13): per radio access technology, the highest
 * 3GPP release the device fully supports. "The Device SHALL set all the
 * capabilities it supports"; an SM-DP+ may use them to pick or refuse a
 * profile. The transport tells which RATs the modem has (QMI DMS Get
 * Capabilities, MBIM Device Caps, AT+WS46=?), but no modem interface tells
 * the 3GPP release it implements, so each RAT gets one fixed release:
 *
 * - GSM, UTRAN, E-UTRAN (EPC): Rel-11. The release LPAs commonly report for
 *   these (Android's example device capabilities use 11 for all three), and
 *   one every modem that carries an eUICC implements: eUICC support came to
 *   modems years after Rel-11 (2012) was frozen, so claiming it never
 *   claims more than the modem does.
 * - NR, either core: Rel-15, the first release with NR; any NR modem
 *   implements it.
 *
 * Release N is VersionType N.0.0, as LPAs send it. When the modem does not
 * say (no DMS capabilities, AT+WS46 unsupported), nothing is claimed: every
 * component is optional and an empty DeviceCapabilities is valid DER.
 * E-UTRAN with the 5G core is not claimed: no modem interface used here
 * says whether LTE can attach to a 5GC.
 */
#include "service/service-private.h"

#include <string.h>

static const struct {
  TransportRat rat;
  Es10DeviceCapability capability;
  Es10Version release;
} releases[] = {
    {TRANSPORT_RAT_GERAN, ES10_DEVCAP_GSM, {11, 0, 0}},
    {TRANSPORT_RAT_UTRAN, ES10_DEVCAP_UTRAN, {11, 0, 0}},
    {TRANSPORT_RAT_EUTRAN, ES10_DEVCAP_EUTRAN, {11, 0, 0}},
    {TRANSPORT_RAT_NR_NSA, ES10_DEVCAP_NR_EPC, {15, 0, 0}},
    {TRANSPORT_RAT_NR_SA, ES10_DEVCAP_NR_5GC, {15, 0, 0}},
};

void device_caps_from_rats(guint rats, Es10DeviceInfo *info)
{
  info->capabilities_present = 0;
  memset(info->capabilities, 0, sizeof info->capabilities);
  for (gsize i = 0; i < G_N_ELEMENTS(releases); i++) {
    if (!(rats & releases[i].rat))
      continue;
    info->capabilities[releases[i].capability] = releases[i].release;
    info->capabilities_present |= 1u << releases[i].capability;
  }
}
