/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Tables and JSON. The JSON writer is a few lines of escaping and comma
 * bookkeeping: esimctl prints small documents and needs no parser.
 */
#include "output.h"

#include <string.h>

struct _JsonOut {
  GString *text;
  guint depth;
  gboolean first; /* nothing written yet in the current container */
};

JsonOut *json_out_new(void)
{
  JsonOut *j = g_new0(JsonOut, 1);

  j->text = g_string_new(NULL);
  j->first = TRUE;
  return j;
}

void json_out_print_free(JsonOut *j, FILE *out)
{
  fputs(j->text->str, out);
  fputc('\n', out);
  g_string_free(j->text, TRUE);
  g_free(j);
}

void json_out_free(JsonOut *j)
{
  g_string_free(j->text, TRUE);
  g_free(j);
}

static void json_escape(GString *s, const char *text)
{
  /* The characters with a short escape (RFC 8259 7), and that escape. */
  static const char special[] = "\"\\\n\r\t";
  static const char escaped[] = "\"\\nrt";

  g_string_append_c(s, '"');
  for (const char *p = text; *p; p++) {
    unsigned char c = (unsigned char)*p;
    const char *e = strchr(special, c);

    if (e) {
      g_string_append_c(s, '\\');
      g_string_append_c(s, escaped[e - special]);
    } else if (c < 0x20)
      g_string_append_printf(s, "\\u%04x", c);
    else
      g_string_append_c(s, (char)c);
  }
  g_string_append_c(s, '"');
}

/* The comma, newline, indentation and key before a value. */
static void json_member(JsonOut *j, const char *key)
{
  if (j->depth > 0) {
    if (!j->first)
      g_string_append_c(j->text, ',');
    g_string_append_c(j->text, '\n');
    for (guint i = 0; i < j->depth; i++)
      g_string_append(j->text, "  ");
  }
  j->first = FALSE;
  if (key) {
    json_escape(j->text, key);
    g_string_append(j->text, ": ");
  }
}

static void json_open(JsonOut *j, const char *key, char bracket)
{
  json_member(j, key);
  g_string_append_c(j->text, bracket);
  j->depth++;
  j->first = TRUE;
}

static void json_close(JsonOut *j, char bracket)
{
  gboolean empty = j->first;

  j->depth--;
  if (!empty) {
    g_string_append_c(j->text, '\n');
    for (guint i = 0; i < j->depth; i++)
      g_string_append(j->text, "  ");
  }
  g_string_append_c(j->text, bracket);
  j->first = FALSE;
}

JsonOut *json_out_new_list(const char *key)
{
  JsonOut *j = json_out_new();

  json_out_begin_object(j, NULL);
  json_out_begin_array(j, key);
  return j;
}

void json_out_print_list_free(JsonOut *j, FILE *out)
{
  json_out_end_array(j);
  json_out_end_object(j);
  json_out_print_free(j, out);
}

void json_out_begin_object(JsonOut *j, const char *key)
{
  json_open(j, key, '{');
}

void json_out_end_object(JsonOut *j)
{
  json_close(j, '}');
}

void json_out_begin_array(JsonOut *j, const char *key)
{
  json_open(j, key, '[');
}

void json_out_end_array(JsonOut *j)
{
  json_close(j, ']');
}

void json_out_string(JsonOut *j, const char *key, const char *value)
{
  json_member(j, key);
  if (value)
    json_escape(j->text, value);
  else
    g_string_append(j->text, "null");
}

void json_out_uint(JsonOut *j, const char *key, guint64 value)
{
  json_member(j, key);
  g_string_append_printf(j->text, "%" G_GUINT64_FORMAT, value);
}

void json_out_int(JsonOut *j, const char *key, gint64 value)
{
  json_member(j, key);
  g_string_append_printf(j->text, "%" G_GINT64_FORMAT, value);
}

void json_out_double(JsonOut *j, const char *key, double value)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];

  json_member(j, key);
  g_string_append(j->text, g_ascii_dtostr(buf, sizeof buf, value));
}

void json_out_bool(JsonOut *j, const char *key, gboolean value)
{
  json_member(j, key);
  g_string_append(j->text, value ? "true" : "false");
}

struct _Table {
  guint n_columns;
  GPtrArray *rows; /* GStrv each, the headers first */
};

Table *table_new(const char *const *headers)
{
  Table *t = g_new0(Table, 1);

  t->n_columns = g_strv_length((char **)headers);
  t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
  table_add_row(t, headers);
  return t;
}

void table_free(Table *t)
{
  g_ptr_array_unref(t->rows);
  g_free(t);
}

void table_add_row(Table *t, const char *const *cells)
{
  char **row = g_new0(char *, t->n_columns + 1);

  for (guint i = 0; i < t->n_columns; i++) {
    /* A name from the card could carry a newline or tab; keep rows whole. */
    row[i] = g_strdup(cells[i] && *cells[i] ? cells[i] : "-");
    g_strdelimit(row[i], "\n\r\t", ' ');
  }
  g_ptr_array_add(t->rows, row);
}

static glong cell_width(const char *cell)
{
  return g_utf8_validate(cell, -1, NULL) ? g_utf8_strlen(cell, -1) : (glong)strlen(cell);
}

void table_print(Table *t, FILE *out, const char *indent)
{
  g_autofree glong *widths = g_new0(glong, t->n_columns);

  for (guint r = 0; r < t->rows->len; r++) {
    char **row = g_ptr_array_index(t->rows, r);
    for (guint c = 0; c < t->n_columns; c++)
      widths[c] = MAX(widths[c], cell_width(row[c]));
  }
  for (guint r = 0; r < t->rows->len; r++) {
    char **row = g_ptr_array_index(t->rows, r);

    fputs(indent, out);
    for (guint c = 0; c < t->n_columns; c++) {
      gboolean last = c + 1 == t->n_columns;

      fputs(row[c], out);
      if (!last) {
        for (glong pad = cell_width(row[c]); pad < widths[c] + 2; pad++)
          fputc(' ', out);
      }
    }
    fputc('\n', out);
  }
}

char *output_short_eid(const char *eid, gboolean full)
{
  gsize len = strlen(eid);

  /* Long enough at both ends to tell cards apart and to type a --eid
   * prefix from. */
  if (full || len <= 20)
    return g_strdup(eid);
  return g_strdup_printf("%.8s…%s", eid, eid + len - 8);
}
