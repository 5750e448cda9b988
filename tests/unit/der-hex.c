/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "der-hex.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "es10/es10.h"

static GPtrArray *arena;

const char *keep(gchar *s)
{
  g_ptr_array_add(arena, s);
  return s;
}

/* One element: tag and value in hex, with its DER length worked out. */
const char *T(const char *tag, const char *value)
{
  gsize n = strlen(value) / 2;
  g_autofree gchar *len = NULL;

  if (n < 0x80)
    len = g_strdup_printf("%02zX", n);
  else if (n <= 0xFF)
    len = g_strdup_printf("81%02zX", n);
  else
    len = g_strdup_printf("82%04zX", n);
  return keep(g_strconcat(tag, len, value, NULL));
}

/* Hex pieces one after the other; NULL ends the list. */
const char *C(const char *first, ...)
{
  GString *s = g_string_new(first);
  va_list ap;
  const char *p;

  va_start(ap, first);
  while ((p = va_arg(ap, const char *)))
    g_string_append(s, p);
  va_end(ap);
  return keep(g_string_free(s, FALSE));
}

const char *U(const char *s)
{
  return keep(es10_hex_encode((const guint8 *)s, strlen(s)));
}

/* n bytes of the value b, in hex. */
const char *R(guint8 b, gsize n)
{
  GString *s = g_string_new(NULL);

  for (gsize i = 0; i < n; i++)
    g_string_append_printf(s, "%02X", b);
  return keep(g_string_free(s, FALSE));
}

GBytes *B(const char *hex)
{
  GBytes *b = es10_hex_decode(hex, NULL);

  assert_non_null(b);
  return b;
}

const char *H(GBytes *b)
{
  gsize len;
  const guint8 *p = g_bytes_get_data(b, &len);

  return keep(es10_hex_encode(p, len));
}

int der_hex_setup(void **state)
{
  arena = g_ptr_array_new_with_free_func(g_free);
  return 0;
}

int der_hex_teardown(void **state)
{
  g_clear_pointer(&arena, g_ptr_array_unref);
  return 0;
}
