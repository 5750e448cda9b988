/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ES10a: the LPA's calls for the eUICC's configured addresses (SGP.22 5.7.3, 5.7.4). */
#include "es10/es10-private.h"

#include <string.h>

GBytes *es10a_get_euicc_configured_addresses_encode(void)
{
  return es10_encode_empty_request(ES10_CMD_GET_EUICC_CONFIGURED_ADDRESSES);
}

static const Es10Field configured_addresses_fields[] = {
    /* Both components are untagged, so AUTOMATIC TAGS numbers them [0], [1]. */
    {0x80, "defaultDpAddress", ES10_FIELD_UTF8,
     offsetof(Es10aConfiguredAddresses, default_dp_address), ES10_NO_FLAG, FALSE, 0, 0, NULL},
    {0x81, "rootDsAddress", ES10_FIELD_UTF8, offsetof(Es10aConfiguredAddresses, root_ds_address),
     ES10_NO_FLAG, TRUE, 0, 0, NULL},
};

gboolean es10a_get_euicc_configured_addresses_decode(const guint8 *buf, gsize len,
                                                     Es10aConfiguredAddresses **out, GError **error)
{
  g_autoptr(Es10aConfiguredAddresses) addr = g_new0(Es10aConfiguredAddresses, 1);

  if (!es10_decode_response_fields(ES10_CMD_GET_EUICC_CONFIGURED_ADDRESSES, buf, len,
                                   configured_addresses_fields,
                                   G_N_ELEMENTS(configured_addresses_fields), addr, error))
    return FALSE;
  *out = g_steal_pointer(&addr);
  return TRUE;
}

void es10a_configured_addresses_free(Es10aConfiguredAddresses *addr)
{
  if (!addr)
    return;
  g_free(addr->default_dp_address);
  g_free(addr->root_ds_address);
  g_free(addr);
}

GBytes *es10a_set_default_dp_address_encode(const char *address, GError **error)
{
  TlvWriter w;

  if (!es10_check_utf8_arg("default SM-DP+ address", address, 0, error))
    return NULL;
  tlv_writer_init(&w);
  tlv_writer_begin(&w, es10_command_get_tag(ES10_CMD_SET_DEFAULT_DP_ADDRESS));
  tlv_writer_put(&w, 0x80, (const guint8 *)address, strlen(address));
  tlv_writer_end(&w);
  return tlv_writer_finish(&w);
}

gboolean es10a_set_default_dp_address_decode(const guint8 *buf, gsize len,
                                             Es10aSetDefaultDpAddressResult *result, GError **error)
{
  gint r;

  if (!es10_decode_result(ES10_CMD_SET_DEFAULT_DP_ADDRESS, buf, len, &r, error))
    return FALSE;
  *result = (Es10aSetDefaultDpAddressResult)r;
  return TRUE;
}
