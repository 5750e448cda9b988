/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "smdp-fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <gio/gio.h>

#include "es10/es10.h"
#include "test-util.h"
#include "transport/iso7816.h"

struct _SmdpFixture {
  gchar *dir, *pki_dir, *ca_file, *log_path;
  GSubprocess *smdp;
  GDataInputStream *out;
  guint port;
};

/* A script beside the card files: tests/sim/NAME. */
static gchar *sim_script(const char *name)
{
  const char *cards = g_getenv("ESIMD_CARDS_DIR");

  assert_non_null(cards);
  return g_build_filename(cards, "..", name, NULL);
}

static void run(const char *const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                    NULL, NULL, NULL, &err, &status, &error) ||
      !g_spawn_check_wait_status(status, NULL))
    fail_msg("%s failed: %s", argv[1], err ? err : error->message);
}

SmdpFixture *smdp_fixture_start(const char *profiles_json, const char *eid)
{
  SmdpFixture *f = g_new0(SmdpFixture, 1);
  g_autofree char *mkpki = sim_script("mkpki"), *smdp_sim = sim_script("smdp-sim");
  g_autofree char *profiles = NULL, *line = NULL;
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp("smdp-XXXXXX", &error);
  assert_non_null(f->dir);
  f->pki_dir = g_build_filename(f->dir, "pki", NULL);
  f->ca_file = g_build_filename(f->pki_dir, "ci.pem", NULL);
  f->log_path = g_build_filename(f->dir, "smdp.log", NULL);
  profiles = g_build_filename(f->dir, "profiles.json", NULL);
  if (eid) {
    const char *argv[] = {"sh", mkpki, "--eid", eid, f->pki_dir, NULL};
    run(argv);
  } else {
    const char *argv[] = {"sh", mkpki, f->pki_dir, NULL};
    run(argv);
  }
  assert_true(g_file_set_contents(profiles, profiles_json, -1, NULL));

  f->smdp = g_subprocess_new(G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE, &error,
                             "python3", smdp_sim, "--port", "0", "--pki", f->pki_dir, "--profiles",
                             profiles, "--log", f->log_path, NULL);
  if (!f->smdp)
    fail_msg("smdp-sim: %s", error->message);
  f->out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(f->smdp));
  /* "LISTEN 127.0.0.1 PORT" once it serves (smdp-sim.md) */
  line = g_data_input_stream_read_line(f->out, NULL, NULL, &error);
  if (!line || !g_str_has_prefix(line, "LISTEN 127.0.0.1 "))
    fail_msg("smdp-sim did not start: %s", line ? line : "(no output)");
  f->port = (guint)g_ascii_strtoull(line + strlen("LISTEN 127.0.0.1 "), NULL, 10);
  assert_true(f->port > 0);
  return f;
}

void smdp_fixture_stop(SmdpFixture *f)
{
  if (!f)
    return;
  if (f->smdp) {
    /* smdp-sim ends when its stdin does */
    g_output_stream_close(g_subprocess_get_stdin_pipe(f->smdp), NULL, NULL);
    g_subprocess_wait(f->smdp, NULL, NULL);
    g_clear_object(&f->out);
    g_clear_object(&f->smdp);
  }
  test_remove_tree(f->dir);
  g_free(f->dir);
  g_free(f->pki_dir);
  g_free(f->ca_file);
  g_free(f->log_path);
  g_free(f);
}

guint smdp_fixture_get_port(SmdpFixture *f)
{
  return f->port;
}

const char *smdp_fixture_get_dir(SmdpFixture *f)
{
  return f->dir;
}

const char *smdp_fixture_get_pki_dir(SmdpFixture *f)
{
  return f->pki_dir;
}

const char *smdp_fixture_get_ca_file(SmdpFixture *f)
{
  return f->ca_file;
}

gchar *smdp_fixture_make_other_ca(SmdpFixture *f)
{
  g_autofree char *mkcerts = sim_script("mkcerts");
  g_autofree char *other = g_build_filename(f->dir, "other", NULL);
  const char *argv[] = {"sh", mkcerts, other, NULL};

  run(argv);
  return g_build_filename(other, "ca.pem", NULL);
}

gchar *smdp_fixture_knob(SmdpFixture *f, const char *command)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = g_strconcat(command, "\n", NULL);
  gchar *line;

  assert_true(g_output_stream_write_all(g_subprocess_get_stdin_pipe(f->smdp), text, strlen(text),
                                        NULL, NULL, &error));
  line = g_data_input_stream_read_line(f->out, NULL, NULL, &error);
  assert_non_null(line);
  if (!g_str_has_prefix(line, "OK "))
    fail_msg("smdp-sim: %s: %s", command, line);
  return line;
}

GPtrArray *smdp_fixture_records(SmdpFixture *f, const char *prefix)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)json_object_unref);

  if (!g_file_get_contents(f->log_path, &text, NULL, NULL))
    return out;
  lines = g_strsplit(text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    g_autoptr(JsonParser) p = json_parser_new();
    JsonObject *o;

    if (!*lines[i] || !json_parser_load_from_data(p, lines[i], -1, NULL))
      continue;
    o = json_node_get_object(json_parser_get_root(p));
    if (g_str_has_prefix(json_object_get_string_member_with_default(o, "function", ""), prefix))
      g_ptr_array_add(out, json_object_ref(o));
  }
  return out;
}

JsonObject *smdp_fixture_last_record(SmdpFixture *f, const char *function)
{
  g_autoptr(GPtrArray) all = smdp_fixture_records(f, function);

  for (guint i = all->len; i > 0; i--) {
    JsonObject *o = g_ptr_array_index(all, i - 1);

    if (g_str_equal(json_object_get_string_member(o, "function"), function))
      return json_object_ref(o);
  }
  fail_msg("smdp-sim recorded no %s", function);
  return NULL;
}

/* ---- the card ---- */

#define CARD_EID "89049032123451234512345678901235" /* mkpki's default */
#define CARD_ISDR "A0000005591010FFFFFFFF8900000100"

static GBytes *card_transmit(SmdpCard *c, const guint8 *apdu, gsize len)
{
  GBytes *r = euicc_sim_transmit(c->sim, apdu, len);
  gsize n;
  const guint8 *p;

  assert_non_null(r);
  p = g_bytes_get_data(r, &n);
  assert_true(n >= 2);
  assert_int_equal(p[n - 2] << 8 | p[n - 1], 0x9000);
  return r;
}

void smdp_fixture_card_open(SmdpFixture *f, SmdpCard *c)
{
  static const guint8 open[] = {0x00, 0x70, 0x00, 0x00, 0x01};
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) opened = NULL;
  g_autoptr(GBytes) selected = NULL;
  g_autoptr(GBytes) aid = es10_hex_decode(CARD_ISDR, NULL);
  guint8 select[5 + 16] = {0, 0xA4, 0x04, 0x0C, 16};

  c->sim = euicc_sim_new_from_data("type euicc\neid " CARD_EID "\n", &error);
  if (!c->sim)
    fail_msg("%s", error->message);
  if (!euicc_sim_load_pki_dir(c->sim, smdp_fixture_get_pki_dir(f), &error))
    fail_msg("%s", error->message);
  opened = card_transmit(c, open, sizeof(open));
  c->ch = ((const guint8 *)g_bytes_get_data(opened, NULL))[0];
  select[0] = c->ch;
  memcpy(select + 5, g_bytes_get_data(aid, NULL), 16);
  selected = card_transmit(c, select, sizeof(select));
}

GBytes *smdp_card_es10(SmdpCard *c, GBytes *command)
{
  g_autoptr(GError) error = NULL;
  GBytes *answer = iso7816_store_data_sync(test_sim_transmit, c->sim, c->ch, command, NULL, &error);

  if (!answer)
    fail_msg("ES10 command: %s", error->message);
  return answer;
}
