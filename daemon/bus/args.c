/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The checks of a caller's arguments, made before polkit is asked or the
 * card is queued for: a wrong argument is the caller's to fix, and said
 * with what is wrong (org.freedesktop.DBus.Error.InvalidArgs).
 */
#include "bus-private.h"

#include <string.h>

#include "es10/activation.h"
#include "es10/es10.h"

/* SGP.22 5.7.21: profileNickname is UTF8String (SIZE(0..64)), in bytes as
 * the card stores them. */
#define NICKNAME_MAX_BYTES 64

static gboolean invalid(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean invalid(GError **error, const char *format, ...)
{
  va_list ap;

  va_start(ap, format);
  if (error)
    *error = g_error_new_valist(ESIMD_ERROR, ESIMD_ERROR_INVALID_ARGS, format, ap);
  va_end(ap);
  return FALSE;
}

gboolean bus_check_smdp_address(const char *address, GError **error)
{
  const char *why = NULL;

  /* The empty address clears the default. */
  if (!*address || es10_smdp_address_check(address, &why))
    return TRUE;
  return invalid(error, "\"%s\" is not an SM-DP+ address: %s", address, why);
}

gboolean bus_check_nickname(const char *nickname, GError **error)
{
  /* The bus already refuses invalid UTF-8; the check keeps this independent of it. */
  if (!g_utf8_validate(nickname, -1, NULL))
    return invalid(error, "The nickname is not valid UTF-8");
  if (strlen(nickname) > NICKNAME_MAX_BYTES)
    return invalid(error,
                   "The nickname is %zu bytes long; the card keeps at most %d bytes of UTF-8",
                   strlen(nickname), NICKNAME_MAX_BYTES);
  return TRUE;
}

gboolean bus_check_reset_options(guint32 options, GError **error)
{
  if (options & ~ES10C_RESET_ALL_MASK)
    return invalid(error,
                   "Unknown reset options 0x%x: the options are 1 (operational profiles), 2 "
                   "(field-loaded test profiles) and 4 (default SM-DP+ address)",
                   options & ~ES10C_RESET_ALL_MASK);
  if (options == 0)
    return invalid(error, "No reset options given: choose 1 (operational profiles), 2 "
                          "(field-loaded test profiles), 4 (default SM-DP+ address) or their sum");
  return TRUE;
}

int bus_error_invalid_gerror(sd_bus_error *ret_error, const GError *error)
{
  return sd_bus_error_set(ret_error, SD_BUS_ERROR_INVALID_ARGS, error->message);
}

/* Reads a variant of type signature into out (a const char* or an int). */
static int read_option(sd_bus_message *message, const char *key, const char *signature, void *out,
                       GError **error)
{
  const char *contents = NULL;
  char type;
  int r;

  r = sd_bus_message_peek_type(message, &type, &contents);
  if (r < 0)
    return r;
  if (type != 'v' || g_strcmp0(contents, signature) != 0) {
    invalid(error, "The option %s takes a value of type %s, not %s", key, signature,
            contents ? contents : "?");
    return sd_bus_message_skip(message, "v");
  }
  return sd_bus_message_read(message, "v", signature, out);
}

int bus_read_download_options(sd_bus_message *message, gchar **confirmation_code, gboolean *accept,
                              gboolean *enable, GError **error)
{
  int r;

  r = sd_bus_message_enter_container(message, 'a', "{sv}");
  if (r < 0)
    return r;
  while ((r = sd_bus_message_enter_container(message, 'e', "sv")) > 0) {
    const char *key = NULL;

    r = sd_bus_message_read(message, "s", &key);
    if (r < 0)
      return r;
    if (g_str_equal(key, "confirmation-code") && confirmation_code) {
      const char *code = NULL;

      r = read_option(message, key, "s", &code, error);
      if (r >= 0 && code) {
        g_free(*confirmation_code);
        *confirmation_code = g_strdup(code);
      }
    } else if ((g_str_equal(key, "accept") && accept) || (g_str_equal(key, "enable") && enable)) {
      int value = 0;

      r = read_option(message, key, "b", &value, error);
      if (r >= 0)
        *(g_str_equal(key, "accept") ? accept : enable) = value != 0;
    } else {
      invalid(error, "Unknown option %s", key);
      r = sd_bus_message_skip(message, "v");
    }
    if (r < 0)
      return r;
    if (error && *error)
      return 0;
    r = sd_bus_message_exit_container(message);
    if (r < 0)
      return r;
  }
  if (r < 0)
    return r;
  return sd_bus_message_exit_container(message);
}
