/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * BER-TLV as SGP.22 uses it (DER, ITU-T X.690): tags of one to three bytes,
 * definite lengths of at most four length bytes. The reader never copies and
 * never reads past the buffer it was given; the writer builds nested
 * constructed values and patches their lengths when they are closed.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The codec's error domain, shared by the TLV layer and the ES10 decoders. */
#define ES10_ERROR (es10_error_quark())
GQuark es10_error_quark(void);

typedef enum {
  ES10_ERROR_MALFORMED,               /* not well-formed BER (bad tag, bad length, truncated) */
  ES10_ERROR_TOO_DEEP,                /* nesting past TLV_MAX_DEPTH */
  ES10_ERROR_UNEXPECTED_TAG,          /* well-formed, but not the type that was expected */
  ES10_ERROR_MISSING_FIELD,           /* a mandatory field is absent */
  ES10_ERROR_INVALID_VALUE,           /* a field whose value is out of its range */
  ES10_ERROR_TRAILING_DATA,           /* bytes after the one element that was expected */
  ES10_ERROR_INVALID_ARGUMENT,        /* an encoder was asked for something SGP.22 cannot say */
  ES10_ERROR_INVALID_ACTIVATION_CODE, /* an activation code that SGP.22 4.1 does not allow */
} Es10Error;

/* Deeper than any SGP.22 type nests; a guard against hostile input. */
#define TLV_MAX_DEPTH 16

/*
 * One element. The tag is its bytes packed big-endian into an integer, the
 * way SGP.22 and rsp.asn write them: 0x5A, 0x80, 0xBF2D, 0x9F70.
 */
typedef struct {
  guint32 tag;
  const guint8 *value;
  gsize length;
  const guint8 *raw; /* the whole element, tag through value: exact DER */
  gsize raw_length;
  guint depth; /* 0 for a top-level element */
} Tlv;

typedef struct {
  const guint8 *pos;
  const guint8 *end;
  guint depth;
} TlvIter;

static inline gboolean tlv_tag_is_constructed(guint32 tag)
{
  /* The constructed bit is bit 6 of the first tag byte. */
  guint32 first = tag;
  while (first > 0xFF)
    first >>= 8;
  return (first & 0x20) != 0;
}

/* Reads exactly one element that fills the buffer: trailing bytes are an error. */
gboolean tlv_parse(const guint8 *buf, gsize len, Tlv *out, GError **error);

/* Reads the element at the start of the buffer and says how many bytes it took. */
gboolean tlv_read(const guint8 *buf, gsize len, guint depth, Tlv *out, gsize *consumed,
                  GError **error);

/* Walks the children of a constructed element. */
gboolean tlv_iter_init(TlvIter *iter, const Tlv *parent, GError **error);
/* Walks a buffer holding a sequence of elements at depth 0. */
void tlv_iter_init_buffer(TlvIter *iter, const guint8 *buf, gsize len);
/*
 * Gives the next element. Returns FALSE at the end, with *error left unset,
 * and FALSE on malformed input with *error set: callers must tell the two
 * apart with the error.
 */
gboolean tlv_iter_next(TlvIter *iter, Tlv *out, GError **error);

/* Finds the first child with the tag; FALSE (no error) when there is none. */
gboolean tlv_find(const Tlv *parent, guint32 tag, Tlv *out, GError **error);

/*
 * A non-negative INTEGER (or ENUMERATED) of at most 8 value bytes, DER
 * minimal or not: some cards pad with a leading zero.
 */
gboolean tlv_get_uint(const Tlv *tlv, guint64 *out, GError **error);
/* BOOLEAN: one byte, zero is FALSE. */
gboolean tlv_get_bool(const Tlv *tlv, gboolean *out, GError **error);

typedef struct {
  GByteArray *buf;
  gsize open[TLV_MAX_DEPTH]; /* offsets of the constructed elements still open */
  guint depth;
} TlvWriter;

void tlv_writer_init(TlvWriter *w);
/* Opens a constructed element; its length is written by tlv_writer_end(). */
void tlv_writer_begin(TlvWriter *w, guint32 tag);
void tlv_writer_end(TlvWriter *w);
void tlv_writer_put(TlvWriter *w, guint32 tag, const guint8 *value, gsize len);
/* A non-negative INTEGER in its minimal DER form. */
void tlv_writer_put_uint(TlvWriter *w, guint32 tag, guint64 value);
void tlv_writer_put_bool(TlvWriter *w, guint32 tag, gboolean value);
/* Bytes that already are DER (a PendingNotification kept as the card sent it). */
void tlv_writer_put_raw(TlvWriter *w, const guint8 *der, gsize len);
/* Every begin must be ended first. */
GBytes *tlv_writer_finish(TlvWriter *w);
void tlv_writer_clear(TlvWriter *w);

G_END_DECLS
