/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The service layer's error domain, the mapping of the errors from below
 * into it, the one table from the card's result codes to errors, the string forms of the cached
 * enums and the identifier shortening used in every log line.
 */
#include "service/service-private.h"

#include <string.h>

#include "es10/es10.h"
#include "es10/tlv.h"
#include "smdp/es9p.h"
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

/*
 * What each card result code means to the caller: one row per (command,
 * result), the way an sd_bus_error_map lists names. "{}" stands for the
 * subject (a shortened ICCID, a sequence number). A result without a row of
 * its own is the command's row with result RESULT_ANY, followed by the
 * card's own name for the code.
 */
#define RESULT_ANY G_MININT

typedef struct {
  Es10Command cmd;
  gint result;
  EsimdError code;
  const char *message;
} ResultError;

#define CAT_BUSY_MESSAGE "The card is busy with a SIM toolkit session; try again in a moment"
#define NO_PROFILE_MESSAGE "The card has no profile {}"

static const ResultError result_errors[] = {
    /* SGP.22 5.7.16 EnableProfile */
    {ES10_CMD_ENABLE_PROFILE, ES10C_ENABLE_PROFILE_ICCID_OR_AID_NOT_FOUND, ESIMD_ERROR_NOT_FOUND,
     NO_PROFILE_MESSAGE},
    {ES10_CMD_ENABLE_PROFILE, ES10C_ENABLE_PROFILE_NOT_IN_DISABLED_STATE,
     ESIMD_ERROR_PROFILE_ENABLED, "Profile {} is already enabled"},
    {ES10_CMD_ENABLE_PROFILE, ES10C_ENABLE_PROFILE_DISALLOWED_BY_POLICY,
     ESIMD_ERROR_DISALLOWED_BY_POLICY,
     "The policy rules forbid enabling profile {}: the enabled profile may not be disabled (PPR1)"},
    {ES10_CMD_ENABLE_PROFILE, ES10C_ENABLE_PROFILE_WRONG_PROFILE_REENABLING,
     ESIMD_ERROR_DISALLOWED_BY_POLICY,
     "The card refuses to enable profile {} again now (wrongProfileReenabling); enable another "
     "profile first"},
    {ES10_CMD_ENABLE_PROFILE, ES10C_ENABLE_PROFILE_CAT_BUSY, ESIMD_ERROR_CAT_BUSY,
     CAT_BUSY_MESSAGE},
    {ES10_CMD_ENABLE_PROFILE, RESULT_ANY, ESIMD_ERROR_CARD_ERROR,
     "The card could not enable profile {}"},
    /* 5.7.17 DisableProfile */
    {ES10_CMD_DISABLE_PROFILE, ES10C_DISABLE_PROFILE_ICCID_OR_AID_NOT_FOUND, ESIMD_ERROR_NOT_FOUND,
     NO_PROFILE_MESSAGE},
    {ES10_CMD_DISABLE_PROFILE, ES10C_DISABLE_PROFILE_NOT_IN_ENABLED_STATE,
     ESIMD_ERROR_PROFILE_NOT_ENABLED, "Profile {} is not enabled"},
    {ES10_CMD_DISABLE_PROFILE, ES10C_DISABLE_PROFILE_DISALLOWED_BY_POLICY,
     ESIMD_ERROR_DISALLOWED_BY_POLICY, "The profile's policy rules forbid disabling it (PPR1)"},
    {ES10_CMD_DISABLE_PROFILE, ES10C_DISABLE_PROFILE_CAT_BUSY, ESIMD_ERROR_CAT_BUSY,
     CAT_BUSY_MESSAGE},
    {ES10_CMD_DISABLE_PROFILE, RESULT_ANY, ESIMD_ERROR_CARD_ERROR,
     "The card could not disable profile {}"},
    /* 5.7.18 DeleteProfile */
    {ES10_CMD_DELETE_PROFILE, ES10C_DELETE_PROFILE_ICCID_OR_AID_NOT_FOUND, ESIMD_ERROR_NOT_FOUND,
     NO_PROFILE_MESSAGE},
    {ES10_CMD_DELETE_PROFILE, ES10C_DELETE_PROFILE_NOT_IN_DISABLED_STATE,
     ESIMD_ERROR_PROFILE_ENABLED, "Profile {} is enabled; disable it before deleting it"},
    {ES10_CMD_DELETE_PROFILE, ES10C_DELETE_PROFILE_DISALLOWED_BY_POLICY,
     ESIMD_ERROR_DISALLOWED_BY_POLICY, "The profile's policy rules forbid deleting it (PPR2)"},
    {ES10_CMD_DELETE_PROFILE, RESULT_ANY, ESIMD_ERROR_CARD_ERROR,
     "The card could not delete profile {}"},
    /* 5.7.21 SetNickname */
    {ES10_CMD_SET_NICKNAME, ES10C_SET_NICKNAME_ICCID_NOT_FOUND, ESIMD_ERROR_NOT_FOUND,
     NO_PROFILE_MESSAGE},
    {ES10_CMD_SET_NICKNAME, RESULT_ANY, ESIMD_ERROR_CARD_ERROR,
     "The card could not set the nickname"},
    /* 5.7.19 eUICCMemoryReset */
    {ES10_CMD_EUICC_MEMORY_RESET, ES10C_EUICC_MEMORY_RESET_CAT_BUSY, ESIMD_ERROR_CAT_BUSY,
     CAT_BUSY_MESSAGE},
    {ES10_CMD_EUICC_MEMORY_RESET, RESULT_ANY, ESIMD_ERROR_CARD_ERROR,
     "The card could not reset its memory"},
    /* 5.7.5 SetDefaultDpAddress */
    {ES10_CMD_SET_DEFAULT_DP_ADDRESS, RESULT_ANY, ESIMD_ERROR_CARD_ERROR,
     "The card could not set the default SM-DP+ address"},
    /* 5.7.15 GetProfilesInfo, 5.7.9 ListNotification, 5.7.10 RetrieveNotificationsList */
    {ES10_CMD_GET_PROFILES_INFO, RESULT_ANY, ESIMD_ERROR_CARD_ERROR,
     "The card did not list its profiles"},
    {ES10_CMD_LIST_NOTIFICATION, RESULT_ANY, ESIMD_ERROR_CARD_ERROR,
     "The card did not list its notifications"},
    {ES10_CMD_RETRIEVE_NOTIFICATIONS_LIST, RESULT_ANY, ESIMD_ERROR_CARD_ERROR,
     "The card did not give its notifications"},
    /* 5.7.13 AuthenticateServer: {} is "SM-DP+ address" or "SM-DS address";
     * 5.7.5 PrepareDownload: the SM-DP+ address */
    {ES10_CMD_AUTHENTICATE_SERVER, RESULT_ANY, ESIMD_ERROR_DOWNLOAD_REJECTED,
     "The card did not accept the {}"},
    {ES10_CMD_PREPARE_DOWNLOAD, RESULT_ANY, ESIMD_ERROR_DOWNLOAD_REJECTED,
     "The card refused the download from {}"},
    /* 5.7.6 LoadBoundProfilePackage: the errorReason of the ProfileInstallationResult */
    {ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE, ES10B_INSTALL_PPR_NOT_ALLOWED,
     ESIMD_ERROR_DISALLOWED_BY_POLICY,
     "The card's Rules Authorisation Table does not allow the policy rules of profile {} "
     "(pprNotAllowed)"},
    {ES10_CMD_LOAD_BOUND_PROFILE_PACKAGE, RESULT_ANY, ESIMD_ERROR_DOWNLOAD_REJECTED,
     "The card could not install profile {}"},
    /* 5.7.14 CancelSession */
    {ES10_CMD_CANCEL_SESSION, RESULT_ANY, ESIMD_ERROR_CARD_ERROR,
     "The card could not cancel the download session"},
    /* 5.7.11 RemoveNotificationFromList */
    {ES10_CMD_REMOVE_NOTIFICATION_FROM_LIST, ES10B_REMOVE_NOTIFICATION_NOTHING_TO_DELETE,
     ESIMD_ERROR_NOT_FOUND, "The card has no notification {}"},
    {ES10_CMD_REMOVE_NOTIFICATION_FROM_LIST, RESULT_ANY, ESIMD_ERROR_CARD_ERROR,
     "The card could not remove notification {}"},
};

GError *service_result_error(Es10Command cmd, gint result, const char *subject)
{
  const ResultError *row = NULL;
  g_autoptr(GString) message = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS(result_errors); i++) {
    const ResultError *r = &result_errors[i];

    if (r->cmd != cmd)
      continue;
    if (r->result == result) {
      row = r;
      break;
    }
    if (r->result == RESULT_ANY && !row)
      row = r;
  }
  if (!row)
    return g_error_new(ESIMD_ERROR, ESIMD_ERROR_CARD_ERROR, "The card refused the command (%s)",
                       es10_result_get_message(cmd, result));
  message = g_string_new(row->message);
  g_string_replace(message, "{}", subject ? subject : "", 0);
  if (row->result == RESULT_ANY)
    g_string_append_printf(message, " (%s)", es10_result_get_message(cmd, result));
  return g_error_new_literal(ESIMD_ERROR, row->code, message->str);
}

GError *service_es9p_error(GError *error, const char *address, const char *doing)
{
  GError *out;

  g_return_val_if_fail(error != NULL, NULL);
  if (error->domain != ES9P_ERROR)
    return service_error_from(error, doing);
  switch ((Es9pError)error->code) {
  case ES9P_ERROR_UNREACHABLE:
    out = g_error_new(ESIMD_ERROR, ESIMD_ERROR_SMDP_UNREACHABLE,
                      "Could not reach the SM-DP+ %s while %s: %s", address, doing, error->message);
    break;
  case ES9P_ERROR_REJECTED:
    /* The message carries SGP.22 6.5.1.4's subject and reason codes. */
    out = g_error_new(ESIMD_ERROR, ESIMD_ERROR_DOWNLOAD_REJECTED,
                      "The SM-DP+ %s refused the download while %s: %s", address, doing,
                      error->message);
    break;
  case ES9P_ERROR_CONFIRMATION_CODE:
    out = g_error_new(ESIMD_ERROR, ESIMD_ERROR_CONFIRMATION_CODE_WRONG,
                      "The SM-DP+ %s did not accept the confirmation code: %s", address,
                      error->message);
    break;
  case ES9P_ERROR_INVALID:
  case ES9P_ERROR_PROTOCOL:
  default:
    out = g_error_new(ESIMD_ERROR, ESIMD_ERROR_FAILED, "The SM-DP+ %s failed while %s: %s", address,
                      doing, error->message);
    break;
  }
  g_error_free(error);
  return out;
}
