/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * esimctl's two ways of saying things: aligned tables for people and JSON
 * for scripts (keys documented in esimctl(1), JSON OUTPUT).
 */
#pragma once

#include <glib.h>
#include <stdio.h>

/* A JSON document written as it is built. Members of an object take a key,
 * elements of an array take NULL. */
typedef struct _JsonOut JsonOut;

JsonOut *json_out_new(void);
/* Writes the document (with a final newline) to out and frees the writer. */
void json_out_print_free(JsonOut *j, FILE *out);
/* Drops the document unprinted (after an error). */
void json_out_free(JsonOut *j);
/* A document {"key": [...]}: its elements take NULL. */
JsonOut *json_out_new_list(const char *key);
/* Closes the list and the document, then as json_out_print_free(). */
void json_out_print_list_free(JsonOut *j, FILE *out);
void json_out_begin_object(JsonOut *j, const char *key);
void json_out_end_object(JsonOut *j);
void json_out_begin_array(JsonOut *j, const char *key);
void json_out_end_array(JsonOut *j);
/* NULL writes null. */
void json_out_string(JsonOut *j, const char *key, const char *value);
void json_out_uint(JsonOut *j, const char *key, guint64 value);
void json_out_int(JsonOut *j, const char *key, gint64 value);
void json_out_double(JsonOut *j, const char *key, double value);
void json_out_bool(JsonOut *j, const char *key, gboolean value);

/* Columns sized to their widest cell (in characters, not bytes). */
typedef struct _Table Table;

Table *table_new(const char *const *headers); /* NULL-terminated */
void table_free(Table *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Table, table_free)
/* As many cells as headers; NULL prints as "-". */
void table_add_row(Table *t, const char *const *cells);
void table_print(Table *t, FILE *out, const char *indent);

/* "89049032…78901235"-style shortening of an EID for tables. */
char *output_short_eid(const char *eid, gboolean full);
