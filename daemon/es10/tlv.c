/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "es10/tlv.h"

#include <string.h>

/* The macro stringifies its first argument: keep it as one word. */
/* clang-format off */
G_DEFINE_QUARK(es10-error-quark, es10_error)
/* clang-format on */

static gboolean read_tag(const guint8 *p, const guint8 *end, guint32 *tag, gsize *n, GError **error)
{
  guint32 t;
  gsize i = 0;

  if (p >= end) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "TLV truncated before its tag");
    return FALSE;
  }
  t = p[i++];
  if ((t & 0x1F) == 0x1F) {
    /* High tag number form: more bytes while bit 8 is set. SGP.22 tags need
     * at most two subsequent bytes (three in all). */
    do {
      if (p + i >= end) {
        g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "TLV truncated inside its tag");
        return FALSE;
      }
      if (i >= 3) {
        g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "TLV tag longer than three bytes");
        return FALSE;
      }
      /* X.690 8.1.2.4.2 c): the first subsequent byte may not be 0x80. */
      if (i == 1 && p[i] == 0x80) {
        g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "TLV tag with a padded number");
        return FALSE;
      }
      t = (t << 8) | p[i];
    } while (p[i++] & 0x80);
  }
  *tag = t;
  *n = i;
  return TRUE;
}

static gboolean read_length(const guint8 *p, const guint8 *end, gsize *length, gsize *n,
                            GError **error)
{
  guint8 first;
  gsize count, len = 0;

  if (p >= end) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "TLV truncated before its length");
    return FALSE;
  }
  first = *p;
  if (first < 0x80) {
    *length = first;
    *n = 1;
    return TRUE;
  }
  if (first == 0x80) {
    /* X.690 8.1.3.6: indefinite form; DER forbids it, and so does SGP.22. */
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "TLV with indefinite length");
    return FALSE;
  }
  count = first & 0x7F;
  if (count > 4) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "TLV length of %zu bytes", count);
    return FALSE;
  }
  if ((gsize)(end - p) < count + 1) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "TLV truncated inside its length");
    return FALSE;
  }
  for (gsize i = 1; i <= count; i++)
    len = (len << 8) | p[i];
  *length = len;
  *n = count + 1;
  return TRUE;
}

gboolean tlv_read(const guint8 *buf, gsize len, guint depth, Tlv *out, gsize *consumed,
                  GError **error)
{
  const guint8 *end;
  gsize tag_n, len_n, value_len;
  guint32 tag;

  if (len == 0 || !buf) {
    /* Also keeps NULL + 0 (undefined behaviour) out of the pointer arithmetic. */
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "TLV truncated before its tag");
    return FALSE;
  }
  end = buf + len;
  if (depth >= TLV_MAX_DEPTH) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_TOO_DEEP, "TLV nested deeper than %d levels",
                TLV_MAX_DEPTH);
    return FALSE;
  }
  if (!read_tag(buf, end, &tag, &tag_n, error))
    return FALSE;
  if (!read_length(buf + tag_n, end, &value_len, &len_n, error))
    return FALSE;
  if (value_len > len - tag_n - len_n) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED,
                "TLV %X claims %zu bytes but only %zu remain", tag, value_len, len - tag_n - len_n);
    return FALSE;
  }
  out->tag = tag;
  out->value = buf + tag_n + len_n;
  out->length = value_len;
  out->raw = buf;
  out->raw_length = tag_n + len_n + value_len;
  out->depth = depth;
  if (consumed)
    *consumed = out->raw_length;
  return TRUE;
}

gboolean tlv_parse(const guint8 *buf, gsize len, Tlv *out, GError **error)
{
  gsize consumed;

  if (!tlv_read(buf, len, 0, out, &consumed, error))
    return FALSE;
  if (consumed != len) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_TRAILING_DATA, "%zu bytes after TLV %X",
                len - consumed, out->tag);
    return FALSE;
  }
  return TRUE;
}

gboolean tlv_iter_init(TlvIter *iter, const Tlv *parent, GError **error)
{
  if (!tlv_tag_is_constructed(parent->tag)) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "TLV %X is primitive, not constructed",
                parent->tag);
    return FALSE;
  }
  iter->pos = parent->value;
  iter->end = parent->value + parent->length;
  iter->depth = parent->depth + 1;
  return TRUE;
}

void tlv_iter_init_buffer(TlvIter *iter, const guint8 *buf, gsize len)
{
  iter->pos = buf;
  iter->end = len ? buf + len : buf;
  iter->depth = 0;
}

gboolean tlv_iter_next(TlvIter *iter, Tlv *out, GError **error)
{
  gsize consumed;

  if (iter->pos >= iter->end)
    return FALSE;
  if (!tlv_read(iter->pos, (gsize)(iter->end - iter->pos), iter->depth, out, &consumed, error)) {
    iter->pos = iter->end; /* a broken element ends the walk */
    return FALSE;
  }
  iter->pos += consumed;
  return TRUE;
}

gboolean tlv_find(const Tlv *parent, guint32 tag, Tlv *out, GError **error)
{
  TlvIter iter;
  Tlv child;
  GError *local = NULL;

  if (!tlv_iter_init(&iter, parent, error))
    return FALSE;
  while (tlv_iter_next(&iter, &child, &local)) {
    if (child.tag == tag) {
      *out = child;
      return TRUE;
    }
  }
  if (local)
    g_propagate_error(error, local);
  return FALSE;
}

gboolean tlv_get_uint(const Tlv *tlv, guint64 *out, GError **error)
{
  guint64 v = 0;
  gsize i = 0;

  if (tlv->length == 0) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "INTEGER %X with no content", tlv->tag);
    return FALSE;
  }
  if (tlv->value[0] & 0x80) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "INTEGER %X is negative", tlv->tag);
    return FALSE;
  }
  /* Leading zero bytes carry no value. */
  while (i + 1 < tlv->length && tlv->value[i] == 0)
    i++;
  if (tlv->length - i > 8) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_INVALID_VALUE, "INTEGER %X too large", tlv->tag);
    return FALSE;
  }
  for (; i < tlv->length; i++)
    v = (v << 8) | tlv->value[i];
  *out = v;
  return TRUE;
}

gboolean tlv_get_bool(const Tlv *tlv, gboolean *out, GError **error)
{
  if (tlv->length != 1) {
    g_set_error(error, ES10_ERROR, ES10_ERROR_MALFORMED, "BOOLEAN %X of %zu bytes", tlv->tag,
                tlv->length);
    return FALSE;
  }
  *out = tlv->value[0] != 0;
  return TRUE;
}

void tlv_writer_init(TlvWriter *w)
{
  w->buf = g_byte_array_new();
  w->depth = 0;
}

static void put_tag(GByteArray *buf, guint32 tag)
{
  guint8 b[4];
  gsize n = 0;

  if (tag > 0xFFFFFF)
    b[n++] = (tag >> 24) & 0xFF;
  if (tag > 0xFFFF)
    b[n++] = (tag >> 16) & 0xFF;
  if (tag > 0xFF)
    b[n++] = (tag >> 8) & 0xFF;
  b[n++] = tag & 0xFF;
  g_byte_array_append(buf, b, n);
}

static gsize encode_length(gsize len, guint8 out[1 + sizeof(gsize)])
{
  gsize n = 0;

  if (len < 0x80) {
    out[0] = (guint8)len;
    return 1;
  }
  for (gsize v = len; v; v >>= 8)
    n++;
  out[0] = 0x80 | (guint8)n;
  for (gsize i = 0; i < n; i++)
    out[n - i] = (guint8)(len >> (8 * i));
  return n + 1;
}

void tlv_writer_begin(TlvWriter *w, guint32 tag)
{
  g_return_if_fail(w->depth < TLV_MAX_DEPTH);
  put_tag(w->buf, tag);
  w->open[w->depth++] = w->buf->len;
}

void tlv_writer_end(TlvWriter *w)
{
  guint8 len_bytes[1 + sizeof(gsize)];
  gsize start, content, n;

  g_return_if_fail(w->depth > 0);
  start = w->open[--w->depth];
  content = w->buf->len - start;
  n = encode_length(content, len_bytes);
  /* Make room for the length in front of the content. */
  g_byte_array_set_size(w->buf, w->buf->len + n);
  memmove(w->buf->data + start + n, w->buf->data + start, content);
  memcpy(w->buf->data + start, len_bytes, n);
}

void tlv_writer_put(TlvWriter *w, guint32 tag, const guint8 *value, gsize len)
{
  guint8 len_bytes[1 + sizeof(gsize)];
  gsize n = encode_length(len, len_bytes);

  put_tag(w->buf, tag);
  g_byte_array_append(w->buf, len_bytes, n);
  if (len)
    g_byte_array_append(w->buf, value, len);
}

void tlv_writer_put_uint(TlvWriter *w, guint32 tag, guint64 value)
{
  guint8 b[9];
  gsize n = 0;

  for (int i = 7; i >= 0; i--) {
    guint8 byte = (value >> (8 * i)) & 0xFF;
    if (n == 0 && byte == 0 && i > 0)
      continue;
    if (n == 0 && (byte & 0x80))
      b[n++] = 0; /* keep it positive */
    b[n++] = byte;
  }
  tlv_writer_put(w, tag, b, n);
}

void tlv_writer_put_bool(TlvWriter *w, guint32 tag, gboolean value)
{
  guint8 b = value ? 0xFF : 0x00;
  tlv_writer_put(w, tag, &b, 1);
}

void tlv_writer_put_raw(TlvWriter *w, const guint8 *der, gsize len)
{
  g_byte_array_append(w->buf, der, len);
}

GBytes *tlv_writer_finish(TlvWriter *w)
{
  g_return_val_if_fail(w->depth == 0, NULL);
  return g_byte_array_free_to_bytes(g_steal_pointer(&w->buf));
}

void tlv_writer_clear(TlvWriter *w)
{
  if (w->buf)
    g_byte_array_unref(g_steal_pointer(&w->buf));
  w->depth = 0;
}
