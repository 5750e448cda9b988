/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What es10a.c, es10b.c and es10c.c share: the response envelope, the
 * primitive readers (BIT STRING, UTF8String, VersionType, ...) and the one
 * table-driven SEQUENCE decoder every response type goes through.
 */
#pragma once

#include <stddef.h>

#include "es10/es10.h"
#include "es10/iccid.h"

/* Parses the whole response and checks that it is the command's type. */
gboolean es10_open_response(Es10Command cmd, const guint8 *buf, gsize len, Tlv *out,
                            GError **error);
/* Turns a card's code into the command's result, refusing codes SGP.22 does not define. */
gboolean es10_check_result(Es10Command cmd, guint64 code, gint *result, GError **error);

/*
 * A response that is a CHOICE between a list [0] and an error INTEGER [1]
 * (ProfileInfoListResponse, ListNotificationResponse, ...): gives the list
 * element, or sets *result to the card's error code and *list->tag to 0.
 */
gboolean es10_open_list_response(Es10Command cmd, const guint8 *buf, gsize len, Tlv *list,
                                 gint *result, GError **error);

/* BIT STRING with named bits: named bit n becomes (1u << n); bits past 31 are dropped. */
gboolean es10_get_bits(const Tlv *tlv, guint32 *out, GError **error);
/* BIT STRING with named bits in DER: trailing zero bits removed (X.690 11.2.2). */
void es10_put_bits(TlvWriter *w, guint32 tag, guint32 bits);
/* UTF8String of at most max_chars characters (0: no limit), no NUL inside. */
gboolean es10_get_utf8(const Tlv *tlv, gsize max_chars, gchar **out, GError **error);
/* Checks a caller's string before it goes into a UTF8String. */
gboolean es10_check_utf8_arg(const char *what, const char *s, gsize max_chars, GError **error);
/* VersionType: exactly three bytes. */
gboolean es10_get_version(const Tlv *tlv, Es10Version *out, GError **error);
/* An unsigned big-endian number of 1 to 8 bytes (no sign bit, ETSI TS 102 226 style). */
gboolean es10_get_unsigned(const Tlv *tlv, guint64 *out, GError **error);
/* OBJECT IDENTIFIER contents (X.690 8.19) as dotted decimal; NULL if malformed. */
gchar *es10_oid_to_string(const guint8 *p, gsize len);
/* Writes the 5A or 4F element that names a profile. */
gboolean es10_put_profile_id(TlvWriter *w, Es10ProfileIdType type, const char *id, GError **error);

/* ---- The table-driven SEQUENCE decoder ---------------------------------- */

typedef enum {
  ES10_FIELD_UTF8,    /* gchar*, max = characters */
  ES10_FIELD_HEX,     /* gchar* of an OCTET STRING, min..max bytes */
  ES10_FIELD_BYTES,   /* GBytes*, min..max bytes */
  ES10_FIELD_ICCID,   /* gchar* digits */
  ES10_FIELD_VERSION, /* Es10Version */
  ES10_FIELD_UINT,    /* guint, at most max */
  ES10_FIELD_BITS,    /* guint32 */
  ES10_FIELD_PKIDS,   /* GPtrArray* of hex SubjectKeyIdentifiers (es10_decode_pkid_list) */
  ES10_FIELD_CUSTOM,  /* custom(tlv, the struct) */
} Es10FieldKind;

#define ES10_NO_FLAG ((gssize)-1)

typedef struct {
  guint32 tag;
  const char *name; /* the rsp.asn component name, for messages */
  Es10FieldKind kind;
  gsize offset;          /* where the value goes in the struct */
  gssize present_offset; /* a gboolean set when the field is there, or ES10_NO_FLAG */
  gboolean mandatory;
  gsize min;
  gsize max; /* 0: no limit */
  gboolean (*custom)(const Tlv *tlv, gpointer out, GError **error);
} Es10Field;

/*
 * Decodes the children of a SEQUENCE into the struct at out. Unknown tags
 * (later SGP.22 versions, extension additions) are skipped; a known field
 * twice, a missing mandatory field or a value out of range is an error. On
 * failure the struct may hold some fields: the caller frees it whole.
 */
gboolean es10_decode_fields(const Tlv *seq, const char *type_name, const Es10Field *fields,
                            gsize n_fields, gpointer out, GError **error);

/* Decodes one element of a list into a new item, or NULL with error set. */
typedef gpointer (*Es10ItemDecodeFunc)(const Tlv *tlv, GError **error);

/*
 * A list response (as es10_open_list_response) whose elements each decode into
 * a new item: on TRUE *items holds them, freed with free_item, and is empty
 * unless *result is 0.
 */
gboolean es10_decode_list_response(Es10Command cmd, const guint8 *buf, gsize len,
                                   Es10ItemDecodeFunc decode, GDestroyNotify free_item,
                                   gint *result, GPtrArray **items, GError **error);
/* A response that is one SEQUENCE: its fields decoded into out (as es10_decode_fields). */
gboolean es10_decode_response_fields(Es10Command cmd, const guint8 *buf, gsize len,
                                     const Es10Field *fields, gsize n_fields, gpointer out,
                                     GError **error);
/* A SEQUENCE OF whose elements all have item_tag (item_name in messages): a
 * new array of the decoded items in *out. */
gboolean es10_decode_sequence_of(const Tlv *tlv, guint32 item_tag, const char *item_name,
                                 Es10ItemDecodeFunc decode, GDestroyNotify free_item,
                                 GPtrArray **out, GError **error);

/* NotificationMetadata (BF2F) into an embedded struct. */
gboolean es10_decode_notification_metadata(const Tlv *tlv, Es10NotificationMetadata *out,
                                           GError **error);
/* Clears an embedded NotificationMetadata. */
void es10_notification_metadata_clear(Es10NotificationMetadata *n);
/* SEQUENCE OF NotificationConfigurationInformation (B6 of ProfileInfo and
 * StoreMetadataRequest) into a new array of Es10NotificationConfig*. */
gboolean es10_decode_notification_config_list(const Tlv *tlv, GPtrArray **out, GError **error);
/* OperatorID (a SEQUENCE of any tag: B7 in ProfileInfo, 30 in the RAT). */
gboolean es10_decode_operator_id(const Tlv *tlv, Es10OperatorId **out, GError **error);
/* SEQUENCE OF SubjectKeyIdentifier into a new array of hex strings. */
gboolean es10_decode_pkid_list(const Tlv *tlv, GPtrArray **out, GError **error);
