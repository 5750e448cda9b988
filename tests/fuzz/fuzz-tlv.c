/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the BER-TLV reader: walks every element of the input
 * to any depth, reads each primitive every way a decoder might, and checks
 * that what the reader accepts the writer writes back byte for byte.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "es10/tlv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Re-encodes one element; DER lengths are minimal, so compare only when the input's were. */
static void check_round_trip(const Tlv *t)
{
  TlvWriter w;
  g_autoptr(GBytes) out = NULL;
  gsize n;
  const guint8 *p;
  Tlv back;

  tlv_writer_init(&w);
  tlv_writer_put(&w, t->tag, t->value, t->length);
  out = tlv_writer_finish(&w);
  p = g_bytes_get_data(out, &n);
  if (!tlv_parse(p, n, &back, NULL))
    abort();
  if (back.tag != t->tag || back.length != t->length ||
      (t->length && memcmp(back.value, t->value, t->length) != 0))
    abort();
  if (n == t->raw_length && memcmp(p, t->raw, n) != 0)
    abort();
}

static void walk(const Tlv *t)
{
  TlvIter iter;
  Tlv child, found;
  GError *error = NULL;
  guint64 u;
  gboolean b;

  if (t->raw + t->raw_length != t->value + t->length)
    abort();
  check_round_trip(t);
  if (!tlv_tag_is_constructed(t->tag)) {
    if (tlv_get_uint(t, &u, &error) == (error != NULL))
      abort();
    g_clear_error(&error);
    if (tlv_get_bool(t, &b, &error) == (error != NULL))
      abort();
    g_clear_error(&error);
    if (tlv_iter_init(&iter, t, &error) || !error)
      abort();
    g_clear_error(&error);
    return;
  }
  if (!tlv_iter_init(&iter, t, &error))
    abort();
  while (tlv_iter_next(&iter, &child, &error)) {
    if (child.depth != t->depth + 1 || child.raw < t->value ||
        child.raw + child.raw_length > t->value + t->length)
      abort();
    walk(&child);
  }
  /* A walk ends with or without an error, never with a stray one. */
  if (error && error->domain != ES10_ERROR)
    abort();
  g_clear_error(&error);
  if (tlv_find(t, 0x80, &found, &error) && found.tag != 0x80)
    abort();
  g_clear_error(&error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  TlvIter iter;
  Tlv t;
  GError *error = NULL;

  if (tlv_parse(data, size, &t, &error) == (error != NULL))
    abort();
  g_clear_error(&error);

  tlv_iter_init_buffer(&iter, data, size);
  while (tlv_iter_next(&iter, &t, &error))
    walk(&t);
  g_clear_error(&error);
  return 0;
}
