/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The one table from the service's error codes to D-Bus error names. The
 * GError's message travels as the D-Bus error message: the service writes
 * it for the person who has to act on it.
 */
#include <errno.h>

#include "bus-private.h"

#define ERROR_PREFIX "org.esimd.Error."

/* errno: what sd_bus_error_get_errno() (and esimctl's exit status through
 * it) says for the name; 0 for the standard names sd-bus maps itself. */
static const struct {
  EsimdError code;
  const char *name;
  int errno_code;
} error_names[] = {
    {ESIMD_ERROR_FAILED, SD_BUS_ERROR_FAILED, 0},
    {ESIMD_ERROR_NOT_FOUND, ERROR_PREFIX "NotFound", ENOENT},
    {ESIMD_ERROR_PROFILE_ENABLED, ERROR_PREFIX "ProfileEnabled", EBUSY},
    {ESIMD_ERROR_PROFILE_NOT_ENABLED, ERROR_PREFIX "ProfileNotEnabled", EALREADY},
    {ESIMD_ERROR_DISALLOWED_BY_POLICY, ERROR_PREFIX "DisallowedByPolicy", EPERM},
    {ESIMD_ERROR_CAT_BUSY, ERROR_PREFIX "CatBusy", EAGAIN},
    {ESIMD_ERROR_CARD_ERROR, ERROR_PREFIX "CardError", EIO},
    {ESIMD_ERROR_TRANSPORT, ERROR_PREFIX "Transport", EIO},
    {ESIMD_ERROR_TIMEOUT, ERROR_PREFIX "Timeout", ETIMEDOUT},
    {ESIMD_ERROR_REMOVED, ERROR_PREFIX "Removed", ENODEV},
    {ESIMD_ERROR_NOT_SUPPORTED, ERROR_PREFIX "NotSupported", EOPNOTSUPP},
    {ESIMD_ERROR_SMDP_UNREACHABLE, ERROR_PREFIX "SmdpUnreachable", EHOSTUNREACH},
    {ESIMD_ERROR_SMDP_REJECTED, ERROR_PREFIX "SmdpRejected", EPROTO},
    {ESIMD_ERROR_INVALID_ARGS, SD_BUS_ERROR_INVALID_ARGS, 0},
    /* A cancelled download's Error, and the reply to a call esimd's
     * shutdown dropped. */
    {ESIMD_ERROR_CANCELLED, ERROR_PREFIX "Cancelled", ECANCELED},
    {ESIMD_ERROR_INVALID_ACTIVATION_CODE, ERROR_PREFIX "InvalidActivationCode", EINVAL},
    {ESIMD_ERROR_CONFIRMATION_CODE_WRONG, ERROR_PREFIX "ConfirmationCodeWrong", EACCES},
    {ESIMD_ERROR_DOWNLOAD_REJECTED, ERROR_PREFIX "DownloadRejected", ECONNREFUSED},
};

void bus_errors_register(void)
{
  /* sd-bus keeps the map it is given: it lives as long as the process. */
  static sd_bus_error_map error_map[G_N_ELEMENTS(error_names) + 1];
  static const sd_bus_error_map end = SD_BUS_ERROR_MAP_END;
  static gsize registered;

  if (g_once_init_enter(&registered)) {
    gsize n = 0;
    int r;

    for (gsize i = 0; i < G_N_ELEMENTS(error_names); i++) {
      if (error_names[i].errno_code) {
        error_map[n].name = error_names[i].name;
        error_map[n++].code = error_names[i].errno_code;
      }
    }
    error_map[n] = end;
    r = sd_bus_error_add_map(error_map);
    if (r < 0)
      g_warning("bus: cannot register the error names: %s", g_strerror(-r));
    g_once_init_leave(&registered, 1);
  }
}

const char *bus_error_name(const GError *error)
{
  if (error->domain == ESIMD_ERROR) {
    for (gsize i = 0; i < G_N_ELEMENTS(error_names); i++) {
      if (error_names[i].code == (EsimdError)error->code)
        return error_names[i].name;
    }
  }
  return SD_BUS_ERROR_FAILED;
}

int bus_error_from_gerror(sd_bus_error *ret_error, const GError *error)
{
  return sd_bus_error_set(ret_error, bus_error_name(error), error->message);
}
