/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The service layer's error domain, the mapping of the errors from below
 * into it, the string forms of the cached enums and the identifier
 * shortening used in every log line.
 */
#include "service/service-private.h"

#include <string.h>

#include "es10/tlv.h"
#include "transport/iso7816.h"

/* The macro stringifies its first argument: keep it as one word. */
/* clang-format off */
G_DEFINE_QUARK(esimd-error-quark, esimd_error)
/* clang-format on */

const char *profile_state_to_string(ProfileState state)
{
  switch (state) {
  case PROFILE_STATE_DISABLED:
    return "disabled";
  case PROFILE_STATE_ENABLED:
    return "enabled";
  }
  return "unknown";
}

const char *profile_class_to_string(ProfileClass profile_class)
{
  switch (profile_class) {
  case PROFILE_CLASS_TEST:
    return "test";
  case PROFILE_CLASS_PROVISIONING:
    return "provisioning";
  case PROFILE_CLASS_OPERATIONAL:
    return "operational";
  }
  return "unknown";
}

const char *profile_icon_type_to_string(ProfileIconType type)
{
  switch (type) {
  case PROFILE_ICON_NONE:
    return "none";
  case PROFILE_ICON_JPG:
    return "jpg";
  case PROFILE_ICON_PNG:
    return "png";
  }
  return "unknown";
}

void euicc_notification_free(EuiccNotification *n)
{
  if (!n)
    return;
  g_free(n->operation);
  g_free(n->address);
  g_free(n->iccid);
  g_free(n);
}

void euicc_delivery_result_free(EuiccDeliveryResult *r)
{
  if (!r)
    return;
  g_free(r->message);
  g_free(r);
}

static EsimdError code_from_transport(gint code)
{
  switch ((TransportError)code) {
  case TRANSPORT_ERROR_TIMEOUT:
    return ESIMD_ERROR_TIMEOUT;
  case TRANSPORT_ERROR_PORT_GONE:
    return ESIMD_ERROR_REMOVED;
  case TRANSPORT_ERROR_NOT_SUPPORTED:
    return ESIMD_ERROR_NOT_SUPPORTED;
  case TRANSPORT_ERROR_FAILED:
  case TRANSPORT_ERROR_CHANNEL_REFUSED:
  case TRANSPORT_ERROR_AID_NOT_FOUND:
  case TRANSPORT_ERROR_PROTOCOL:
  case TRANSPORT_ERROR_BUSY:
  case TRANSPORT_ERROR_NO_CARD:
    break;
  }
  return ESIMD_ERROR_TRANSPORT;
}

GError *service_error_from(GError *error, const char *doing)
{
  GError *out;

  g_return_val_if_fail(error != NULL, NULL);
  if (error->domain == ESIMD_ERROR)
    return error;

  if (error->domain == TRANSPORT_ERROR) {
    EsimdError code = code_from_transport(error->code);

    if (error->code == TRANSPORT_ERROR_NO_CARD)
      out = g_error_new(ESIMD_ERROR, ESIMD_ERROR_REMOVED, "The card was removed while %s", doing);
    else if (code == ESIMD_ERROR_REMOVED)
      out = g_error_new(ESIMD_ERROR, code, "The modem was removed while %s", doing);
    else
      out = g_error_new(ESIMD_ERROR, code, "The modem failed while %s: %s", doing, error->message);
  } else if (error->domain == ISO7816_STATUS_ERROR) {
    out = g_error_new(ESIMD_ERROR, ESIMD_ERROR_CARD_ERROR,
                      "The card refused %s with status %04X (%s)", doing, (guint)error->code,
                      iso7816_sw_to_string((guint16)error->code));
  } else if (error->domain == ISO7816_ERROR || error->domain == ES10_ERROR) {
    out =
        g_error_new(ESIMD_ERROR, ESIMD_ERROR_CARD_ERROR,
                    "The card's answer when %s could not be understood: %s", doing, error->message);
  } else if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
    out = g_error_new(ESIMD_ERROR, ESIMD_ERROR_CANCELLED, "Cancelled while %s", doing);
  } else {
    out =
        g_error_new(ESIMD_ERROR, ESIMD_ERROR_FAILED, "Failed while %s: %s", doing, error->message);
  }
  g_error_free(error);
  return out;
}

gchar *service_id_for_log(const char *id, gboolean full)
{
  gsize len;

  if (!id || !*id)
    return g_strdup("(none)");
  len = strlen(id);
  /* EIDs and ICCIDs identify a person's subscription: logs keep enough of
   * them to tell two cards apart, not to name them. */
  if (full || len <= 8)
    return g_strdup(id);
  return g_strdup_printf("%.6s…%s", id, id + len - 2);
}
