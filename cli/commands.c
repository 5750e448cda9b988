/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The commands. Each reads what it needs with one GetManagedObjects (the
 * daemon serves it from its cache, so reading never touches a card), finds
 * its card or profile there, and makes at most one method call that
 * changes something.
 */
#include "commands.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "output.h"

/* ---- finding cards and profiles ---- */

/* Reports a failed call (esimctl_fail_bus) and frees its error. */
static int fail_bus(sd_bus_error *error, int r)
{
  int status = esimctl_fail_bus(error, r);

  sd_bus_error_free(error);
  return status;
}

static int load(Esimctl *ctl, Model **model)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  int r = model_load(ctl->bus, model, &error);

  return r < 0 ? fail_bus(&error, r) : EXIT_OK;
}

static const char *card_eid(const Card *card)
{
  return object_get_string(card->object, "Eid");
}

static void print_candidates(GPtrArray *cards)
{
  fprintf(stderr, "Candidates:\n");
  for (guint i = 0; i < cards->len; i++) {
    const Card *card = g_ptr_array_index(cards, i);
    fprintf(stderr, "  %s  (%s %s slot %" G_GUINT64_FORMAT ")\n", card_eid(card),
            object_get_string(card->object, "Transport"), object_get_string(card->object, "Port"),
            object_get_uint(card->object, "Slot"));
  }
}

/* The cards whose EID starts with prefix (all for NULL); borrowed. */
static GPtrArray *match_cards(Model *model, const char *prefix)
{
  GPtrArray *out = g_ptr_array_new();

  for (guint i = 0; i < model->cards->len; i++) {
    Card *card = g_ptr_array_index(model->cards, i);
    if (!prefix || g_str_has_prefix(card_eid(card), prefix))
      g_ptr_array_add(out, card);
  }
  return out;
}

/* The cards a reading command covers: the --eid match, or all. */
static int select_cards(Esimctl *ctl, Model *model, const char *prefix, GPtrArray **out)
{
  g_autoptr(GPtrArray) cards = NULL;

  if (!prefix)
    prefix = ctl->eid;
  cards = match_cards(model, prefix);
  if (prefix && cards->len == 0)
    return esimctl_fail(EXIT_NOT_FOUND, "No eUICC has an EID starting with %s", prefix);
  *out = g_steal_pointer(&cards);
  return EXIT_OK;
}

/* The one card a changing command acts on. */
static int select_one_card(Esimctl *ctl, Model *model, const char *prefix, Card **out)
{
  g_autoptr(GPtrArray) cards = NULL;
  int status = select_cards(ctl, model, prefix, &cards);

  if (status != EXIT_OK)
    return status;
  if (cards->len == 0)
    return esimctl_fail(EXIT_NOT_FOUND, "No eUICC found");
  if (cards->len > 1) {
    status = prefix || ctl->eid
                 ? esimctl_fail(EXIT_USAGE,
                                "Several eUICCs have an EID starting with %s; "
                                "give more digits",
                                prefix ? prefix : ctl->eid)
                 : esimctl_fail(EXIT_USAGE, "There are several eUICCs; pick one with --eid");
    print_candidates(cards);
    return status;
  }
  *out = g_ptr_array_index(cards, 0);
  return EXIT_OK;
}

/* ICCIDs are compared as digits: the F padding of the card's BCD form and
 * spaces a person may type do not count. */
static char *normalize_iccid(const char *text)
{
  GString *s = g_string_new(NULL);

  for (const char *p = text; *p; p++) {
    if (g_ascii_isdigit(*p))
      g_string_append_c(s, *p);
    else if (*p != ' ' && *p != 'f' && *p != 'F')
      g_string_append_c(s, *p); /* not an ICCID: let the lookup fail */
  }
  return g_string_free(s, FALSE);
}

static gboolean find_profile_quiet(Esimctl *ctl, Model *model, const char *iccid, Card **card,
                                   const Object **profile, guint *n_found)
{
  g_autofree char *want = normalize_iccid(iccid);

  *n_found = 0;
  for (guint c = 0; c < model->cards->len; c++) {
    Card *candidate = g_ptr_array_index(model->cards, c);
    if (ctl->eid && !g_str_has_prefix(card_eid(candidate), ctl->eid))
      continue;
    for (guint p = 0; p < candidate->profiles->len; p++) {
      const Object *o = g_ptr_array_index(candidate->profiles, p);
      if (g_str_equal(object_get_string(o, "Iccid"), want)) {
        if ((*n_found)++ == 0) {
          *card = candidate;
          *profile = o;
        }
      }
    }
  }
  return *n_found == 1;
}

/* The profile with this ICCID on any card (or the --eid card). */
static int find_profile(Esimctl *ctl, Model *model, const char *iccid, Card **card,
                        const Object **profile)
{
  guint n;

  if (find_profile_quiet(ctl, model, iccid, card, profile, &n))
    return EXIT_OK;
  if (n > 1)
    return esimctl_fail(EXIT_USAGE, "Several eUICCs hold a profile %s; pick one with --eid", iccid);
  if (ctl->eid)
    return esimctl_fail(EXIT_NOT_FOUND, "No profile with ICCID %s on the eUICC %s", iccid,
                        ctl->eid);
  return esimctl_fail(EXIT_NOT_FOUND, "No profile with ICCID %s", iccid);
}

static const char *profile_label(const Object *profile)
{
  const char *nickname = object_get_string(profile, "Nickname");
  const char *name = object_get_string(profile, "Name");

  return *nickname ? nickname : *name ? name : object_get_string(profile, "Iccid");
}

/* ---- printing values ---- */

/* An address the card does not have reads "(none)", not a blank. */
static const char *or_none(const char *s)
{
  return *s ? s : "(none)";
}

static char *value_to_text(const Value *v)
{
  switch (v->kind) {
  case VALUE_STRING:
    return g_strdup(*v->s ? v->s : "\"\"");
  case VALUE_BOOL:
    return g_strdup(v->b ? "yes" : "no");
  case VALUE_UINT:
    return g_strdup_printf("%" G_GUINT64_FORMAT, v->u);
  case VALUE_INT:
    return g_strdup_printf("%" G_GINT64_FORMAT, v->i);
  case VALUE_DOUBLE:
    return g_strdup_printf("%g", v->d);
  case VALUE_STRV:
    return v->strv[0] ? g_strjoinv(", ", v->strv) : g_strdup("(none)");
  case VALUE_BYTES: {
    gsize n = g_bytes_get_size(v->bytes);
    return n ? g_strdup_printf("%" G_GSIZE_FORMAT " bytes", n) : g_strdup("(none)");
  }
  case VALUE_DICT:
    return g_strdup_printf("%u entries", v->dict->len);
  case VALUE_OTHER:
    break;
  }
  return g_strdup_printf("(a value of type %s)", v->signature);
}

static void value_to_json(JsonOut *j, const char *key, const Value *v)
{
  switch (v->kind) {
  case VALUE_STRING:
    json_out_string(j, key, v->s);
    return;
  case VALUE_BOOL:
    json_out_bool(j, key, v->b);
    return;
  case VALUE_UINT:
    json_out_uint(j, key, v->u);
    return;
  case VALUE_INT:
    json_out_int(j, key, v->i);
    return;
  case VALUE_DOUBLE:
    json_out_double(j, key, v->d);
    return;
  case VALUE_STRV:
    json_out_begin_array(j, key);
    for (guint i = 0; v->strv[i]; i++)
      json_out_string(j, NULL, v->strv[i]);
    json_out_end_array(j);
    return;
  case VALUE_BYTES: {
    gsize n;
    const guint8 *data = g_bytes_get_data(v->bytes, &n);
    g_autofree char *b64 = g_base64_encode(data, n);
    json_out_string(j, key, b64);
    return;
  }
  case VALUE_DICT:
    json_out_begin_object(j, key);
    for (guint i = 0; i < v->dict->len; i++) {
      const Prop *p = g_ptr_array_index(v->dict, i);
      value_to_json(j, p->name, &p->value);
    }
    json_out_end_object(j);
    return;
  case VALUE_OTHER:
    break;
  }
  json_out_string(j, key, NULL);
}

/* Its Profile Policy Rules, NULL when the daemon does not say (an older
 * esimd) or the profile has none. */
static const char *const *profile_rules(const Object *p)
{
  const Value *v = object_get(p, "PolicyRules");

  return v && v->kind == VALUE_STRV && v->strv[0] ? (const char *const *)v->strv : NULL;
}

static void profile_rules_to_json(JsonOut *j, const Object *p)
{
  const char *const *rules = profile_rules(p);

  json_out_begin_array(j, "policy_rules");
  for (guint i = 0; rules && rules[i]; i++)
    json_out_string(j, NULL, rules[i]);
  json_out_end_array(j);
}

/* The JSON of one profile (esimctl(1), JSON OUTPUT: profile objects). */
static void profile_to_json(JsonOut *j, const char *key, const Card *card, const Object *p)
{
  const Value *icon = object_get(p, "Icon");

  json_out_begin_object(j, key);
  json_out_string(j, "path", p->path);
  json_out_string(j, "eid", card_eid(card));
  json_out_string(j, "iccid", object_get_string(p, "Iccid"));
  json_out_string(j, "isdp_aid", object_get_string(p, "IsdpAid"));
  json_out_string(j, "state", object_get_string(p, "State"));
  json_out_string(j, "class", object_get_string(p, "Class"));
  json_out_string(j, "name", object_get_string(p, "Name"));
  json_out_string(j, "service_provider", object_get_string(p, "ServiceProvider"));
  json_out_string(j, "nickname", object_get_string(p, "Nickname"));
  json_out_string(j, "owner_mcc_mnc", object_get_string(p, "OwnerMccMnc"));
  json_out_string(j, "icon_type", object_get_string(p, "IconType"));
  json_out_string(j, "connection", object_get_string(p, "Connection"));
  profile_rules_to_json(j, p);
  if (icon && icon->kind == VALUE_BYTES)
    value_to_json(j, "icon", icon);
  else
    json_out_string(j, "icon", "");
  json_out_end_object(j);
}

/* The JSON of one card (esimctl(1), JSON OUTPUT: eUICC objects). */
static void card_to_json(JsonOut *j, const char *key, const Card *card)
{
  const Object *c = card->object;
  const Object *enabled = card_find_profile_by_path(card, object_get_string(c, "EnabledProfile"));
  const Value *info = object_get(c, "Info");

  json_out_begin_object(j, key);
  json_out_string(j, "path", c->path);
  json_out_string(j, "eid", card_eid(card));
  json_out_string(j, "transport", object_get_string(c, "Transport"));
  json_out_string(j, "port", object_get_string(c, "Port"));
  json_out_string(j, "device", object_get_string(c, "Device"));
  json_out_uint(j, "slot", object_get_uint(c, "Slot"));
  json_out_bool(j, "slot_active", object_get_bool(c, "SlotActive"));
  json_out_string(j, "enabled_profile", enabled ? object_get_string(enabled, "Iccid") : NULL);
  json_out_string(j, "default_smdp_address", object_get_string(c, "DefaultSmdpAddress"));
  json_out_string(j, "root_smds_address", object_get_string(c, "RootSmdsAddress"));
  json_out_uint(j, "pending_notifications", object_get_uint(c, "PendingNotifications"));
  json_out_string(j, "modem", object_get_string(c, "Modem"));
  if (info && info->kind == VALUE_DICT) {
    value_to_json(j, "info", info);
  } else {
    json_out_begin_object(j, "info");
    json_out_end_object(j);
  }
  json_out_begin_array(j, "profiles");
  for (guint i = 0; i < card->profiles->len; i++)
    profile_to_json(j, NULL, card, g_ptr_array_index(card->profiles, i));
  json_out_end_array(j);
  json_out_end_object(j);
}

/* ModemManager's modem objects; mmcli names a modem by what follows. */
#define MM_MODEM_PREFIX "/org/freedesktop/ModemManager1/Modem/"

static void print_card_heading(Esimctl *ctl, const Card *card)
{
  const Object *c = card->object;
  g_autofree char *eid = output_short_eid(card_eid(card), ctl->full);
  guint64 pending = object_get_uint(c, "PendingNotifications");
  const char *modem = object_get_string(c, "Modem");

  printf("eUICC %s  %s %s slot %" G_GUINT64_FORMAT "%s", eid, object_get_string(c, "Transport"),
         object_get_string(c, "Port"), object_get_uint(c, "Slot"),
         object_get_bool(c, "SlotActive") ? " (active)" : "");
  /* ModemManager's modem as mmcli numbers it (mmcli -m N). */
  if (modem && g_str_has_prefix(modem, MM_MODEM_PREFIX))
    printf("  ModemManager modem %s", modem + strlen(MM_MODEM_PREFIX));
  if (pending)
    printf("  %" G_GUINT64_FORMAT " notification%s pending", pending, pending == 1 ? "" : "s");
  printf("\n");
}

/* What list and show print instead of their tables: the --json document, or
 * the line that says there is no eUICC. TRUE when that was all to print. */
static gboolean print_cards_instead_of_table(Esimctl *ctl, GPtrArray *cards)
{
  if (ctl->json) {
    JsonOut *j = json_out_new_list("euiccs");
    for (guint i = 0; i < cards->len; i++)
      card_to_json(j, NULL, g_ptr_array_index(cards, i));
    json_out_print_list_free(j, stdout);
    return TRUE;
  }
  if (cards->len == 0) {
    printf("No eUICC found.\n");
    return TRUE;
  }
  return FALSE;
}

/* The --json answer of delete and remove: {"eid": ..., what was acted on,
 * done: true}. */
static JsonOut *json_change_begin(const Card *card)
{
  JsonOut *j = json_out_new();

  json_out_begin_object(j, NULL);
  json_out_string(j, "eid", card_eid(card));
  return j;
}

static void json_change_print(JsonOut *j, const char *done)
{
  json_out_bool(j, done, TRUE);
  json_out_end_object(j);
  json_out_print_free(j, stdout);
}

/* ---- list ---- */

int command_list(Esimctl *ctl, int argc, char **argv)
{
  g_autoptr(Model) model = NULL;
  g_autoptr(GPtrArray) cards = NULL;
  int status;

  if (argc > 1)
    return esimctl_fail(EXIT_USAGE, "list takes no arguments");
  if ((status = load(ctl, &model)) || (status = select_cards(ctl, model, NULL, &cards)))
    return status;

  if (print_cards_instead_of_table(ctl, cards))
    return EXIT_OK;
  for (guint i = 0; i < cards->len; i++) {
    const Card *card = g_ptr_array_index(cards, i);
    gboolean any_rules = FALSE;
    g_autoptr(Table) table = NULL;

    if (i > 0)
      printf("\n");
    print_card_heading(ctl, card);
    if (card->profiles->len == 0) {
      printf("  (no profiles)\n");
      continue;
    }
    /* The POLICY column (the Profile Policy Rules that refuse Disable or
     * Delete) only when a profile of this card has some: most have none. */
    for (guint p = 0; p < card->profiles->len; p++)
      any_rules |= profile_rules(g_ptr_array_index(card->profiles, p)) != NULL;
    const char *headers[] = {
        "ICCID", "STATE", "CLASS", "NAME", "PROVIDER", "NICKNAME", any_rules ? "POLICY" : NULL,
        NULL};
    table = table_new(headers);
    for (guint p = 0; p < card->profiles->len; p++) {
      const Object *o = g_ptr_array_index(card->profiles, p);
      const char *const *rules = profile_rules(o);
      g_autofree char *joined = rules ? g_strjoinv(",", (char **)rules) : NULL;
      const char *cells[] = {object_get_string(o, "Iccid"),
                             object_get_string(o, "State"),
                             object_get_string(o, "Class"),
                             object_get_string(o, "Name"),
                             object_get_string(o, "ServiceProvider"),
                             object_get_string(o, "Nickname"),
                             joined,
                             NULL};
      table_add_row(table, cells);
    }
    table_print(table, stdout, "  ");
  }
  return EXIT_OK;
}

/* ---- show ---- */

static void print_props(const Card *card, const Object *o, const char *indent)
{
  for (guint i = 0; i < o->props->len; i++) {
    const Prop *p = g_ptr_array_index(o->props, i);
    const Value *v = &p->value;

    if (v->kind == VALUE_DICT) {
      g_autofree char *deeper = g_strconcat(indent, "  ", NULL);
      printf("%s%s:\n", indent, p->name);
      for (guint k = 0; k < v->dict->len; k++) {
        const Prop *e = g_ptr_array_index(v->dict, k);
        g_autofree char *text = value_to_text(&e->value);
        printf("%s%-24s %s\n", deeper, e->name, text);
      }
      continue;
    }
    if (card && (g_str_equal(p->name, "Profiles") || g_str_equal(p->name, "EnabledProfile"))) {
      /* Object paths mean little to a person: add the ICCIDs. */
      g_autoptr(GString) s = g_string_new(NULL);
      const char *single[] = {v->s, NULL};
      const char *const *paths = v->kind == VALUE_STRV ? (const char *const *)v->strv : single;

      for (guint k = 0; paths[k]; k++) {
        const Object *profile = card_find_profile_by_path(card, paths[k]);
        if (k > 0)
          g_string_append(s, ", ");
        g_string_append(s, paths[k]);
        if (profile)
          g_string_append_printf(s, " (%s)", object_get_string(profile, "Iccid"));
      }
      printf("%s%-26s %s\n", indent, p->name, s->len ? s->str : "(none)");
      continue;
    }
    g_autofree char *text = value_to_text(v);
    printf("%s%-26s %s\n", indent, p->name, text);
  }
}

static gboolean looks_like_iccid(Model *model, Esimctl *ctl, const char *arg)
{
  Card *card;
  const Object *profile;
  guint n;

  find_profile_quiet(ctl, model, arg, &card, &profile, &n);
  return n > 0;
}

int command_show(Esimctl *ctl, int argc, char **argv)
{
  g_autoptr(Model) model = NULL;
  g_autoptr(GPtrArray) cards = NULL;
  const char *arg = argc > 1 ? argv[1] : NULL;
  int status;

  if (argc > 2)
    return esimctl_fail(EXIT_USAGE, "show takes one EID or ICCID");
  if ((status = load(ctl, &model)))
    return status;

  /* An ICCID names a profile; anything else is an EID or its prefix. */
  if (arg && looks_like_iccid(model, ctl, arg)) {
    Card *card;
    const Object *profile;

    if ((status = find_profile(ctl, model, arg, &card, &profile)))
      return status;
    if (ctl->json) {
      JsonOut *j = json_out_new();
      profile_to_json(j, NULL, card, profile);
      json_out_print_free(j, stdout);
      return EXIT_OK;
    }
    printf("Profile %s\n", profile->path);
    printf("  %-26s %s\n", "eUICC", card_eid(card));
    print_props(NULL, profile, "  ");
    return EXIT_OK;
  }

  if (arg && !g_ascii_isdigit(arg[0]))
    return esimctl_fail(EXIT_USAGE, "\"%s\" is neither an EID nor an ICCID", arg);
  if ((status = select_cards(ctl, model, arg, &cards)))
    return status;
  if (arg && cards->len == 0)
    return esimctl_fail(EXIT_NOT_FOUND, "No eUICC or profile matches %s", arg);

  if (print_cards_instead_of_table(ctl, cards))
    return EXIT_OK;
  for (guint i = 0; i < cards->len; i++) {
    const Card *card = g_ptr_array_index(cards, i);
    if (i > 0)
      printf("\n");
    printf("eUICC %s\n", card->object->path);
    print_props(card, card->object, "  ");
  }
  return EXIT_OK;
}

/* ---- enable, disable, delete, nickname ---- */

/* After a change, prints the profile as the daemon now shows it. */
static int print_profile_after(Esimctl *ctl, const Card *card, const char *path)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  g_autoptr(Object) profile = NULL;
  int r = object_load(ctl->bus, path, ESIMD_PROFILE_IFACE, &profile, &error);
  JsonOut *j;

  if (r < 0)
    return fail_bus(&error, r);
  j = json_out_new();
  profile_to_json(j, NULL, card, profile);
  json_out_print_free(j, stdout);
  return EXIT_OK;
}

static int profile_call(Esimctl *ctl, const char *iccid, const char *method, const char *nickname)
{
  g_autoptr(Model) model = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  Card *card;
  const Object *profile;
  g_autofree char *path = NULL;
  g_autofree char *label = NULL;
  int status, r;

  if ((status = load(ctl, &model)) || (status = find_profile(ctl, model, iccid, &card, &profile)))
    return status;
  path = g_strdup(profile->path);
  label = g_strdup_printf("%s (%s)", profile_label(profile), object_get_string(profile, "Iccid"));

  if (nickname)
    r = esimctl_call(ctl, path, ESIMD_PROFILE_IFACE, method, TRUE, &error, NULL, "s", nickname);
  else
    r = esimctl_call(ctl, path, ESIMD_PROFILE_IFACE, method, TRUE, &error, NULL, "");
  if (r < 0)
    return fail_bus(&error, r);

  if (ctl->json)
    return print_profile_after(ctl, card, path);
  if (g_str_equal(method, "Enable"))
    printf("Enabled %s.\n", label);
  else if (g_str_equal(method, "Disable"))
    printf("Disabled %s.\n", label);
  else if (*nickname)
    printf("Nickname of %s is now \"%s\".\n", object_get_string(profile, "Iccid"), nickname);
  else
    printf("Cleared the nickname of %s.\n", object_get_string(profile, "Iccid"));
  return EXIT_OK;
}

int command_enable(Esimctl *ctl, int argc, char **argv)
{
  if (argc != 2)
    return esimctl_fail(EXIT_USAGE, "enable takes one ICCID");
  return profile_call(ctl, argv[1], "Enable", NULL);
}

int command_disable(Esimctl *ctl, int argc, char **argv)
{
  if (argc != 2)
    return esimctl_fail(EXIT_USAGE, "disable takes one ICCID");
  return profile_call(ctl, argv[1], "Disable", NULL);
}

int command_nickname(Esimctl *ctl, int argc, char **argv)
{
  if (argc != 3)
    return esimctl_fail(EXIT_USAGE, "nickname takes an ICCID and a name (\"\" clears it)");
  return profile_call(ctl, argv[1], "SetNickname", argv[2]);
}

/* Asks on the terminal; only "y" or "yes" says yes. */
static gboolean confirm(const char *question)
{
  char answer[32] = "";

  fprintf(stderr, "%s [y/N] ", question);
  fflush(stderr);
  if (!fgets(answer, sizeof answer, stdin))
    return FALSE;
  g_strstrip(answer);
  return g_ascii_strcasecmp(answer, "y") == 0 || g_ascii_strcasecmp(answer, "yes") == 0;
}

int command_delete(Esimctl *ctl, int argc, char **argv)
{
  g_autoptr(Model) model = NULL;
  sd_bus_error error = SD_BUS_ERROR_NULL;
  Card *card;
  const Object *profile;
  g_autofree char *iccid = NULL;
  g_autofree char *name = NULL;
  int status, r;

  if (argc != 2)
    return esimctl_fail(EXIT_USAGE, "delete takes one ICCID");
  if ((status = load(ctl, &model)) || (status = find_profile(ctl, model, argv[1], &card, &profile)))
    return status;
  iccid = g_strdup(object_get_string(profile, "Iccid"));
  name = g_strdup(profile_label(profile));

  if (!ctl->yes) {
    g_autofree char *question = NULL;

    if (!isatty(STDIN_FILENO))
      return esimctl_fail(EXIT_USAGE,
                          "Not deleting %s without confirmation: standard input is not a "
                          "terminal. Add --yes to delete it.",
                          iccid);
    question = g_strdup_printf("Delete profile %s (%s)? This cannot be undone.", name, iccid);
    if (!confirm(question))
      return esimctl_fail(EXIT_FAILURE_OTHER, "Not deleted.");
  }

  r = esimctl_call(ctl, profile->path, ESIMD_PROFILE_IFACE, "Delete", TRUE, &error, NULL, "");
  if (r < 0)
    return fail_bus(&error, r);
  if (ctl->json) {
    JsonOut *j = json_change_begin(card);
    json_out_string(j, "iccid", iccid);
    json_change_print(j, "deleted");
  } else {
    printf("Deleted %s (%s).\n", name, iccid);
  }
  return EXIT_OK;
}

/* ---- info ---- */

static const struct {
  const char *key;
  const char *label;
  const char *unit;
} info_labels[] = {
    {"svn", "SGP.22 version", NULL},
    {"profile-version", "Profile package version", NULL},
    {"firmware-version", "Firmware version", NULL},
    {"pp-version", "Protection profile version", NULL},
    {"sas-accreditation", "SAS accreditation", NULL},
    {"category", "Category", NULL},
    {"free-nv-memory", "Free non-volatile memory", "bytes"},
    {"free-volatile-memory", "Free volatile memory", "bytes"},
    {"installed-applications", "Installed applications", NULL},
    {"ci-pkid-verification", "CI keys for verification", NULL},
    {"ci-pkid-signing", "CI keys for signing", NULL},
};

int command_info(Esimctl *ctl, int argc, char **argv)
{
  g_autoptr(Model) model = NULL;
  g_autoptr(GPtrArray) cards = NULL;
  JsonOut *j = NULL;
  int status;

  if (argc > 2)
    return esimctl_fail(EXIT_USAGE, "info takes at most one EID");
  if ((status = load(ctl, &model)) ||
      (status = select_cards(ctl, model, argc > 1 ? argv[1] : NULL, &cards)))
    return status;

  if (ctl->json) {
    j = json_out_new_list("euiccs");
  } else if (cards->len == 0) {
    printf("No eUICC found.\n");
  }
  for (guint i = 0; i < cards->len; i++) {
    const Card *card = g_ptr_array_index(cards, i);
    const Object *c = card->object;
    const Value *info = object_get(c, "Info");
    GPtrArray *entries = info && info->kind == VALUE_DICT ? info->dict : NULL;

    if (j) {
      json_out_begin_object(j, NULL);
      json_out_string(j, "eid", card_eid(card));
      json_out_string(j, "default_smdp_address", object_get_string(c, "DefaultSmdpAddress"));
      json_out_string(j, "root_smds_address", object_get_string(c, "RootSmdsAddress"));
      if (info && entries) {
        value_to_json(j, "info", info);
      } else {
        json_out_begin_object(j, "info");
        json_out_end_object(j);
      }
      json_out_end_object(j);
      continue;
    }

    if (i > 0)
      printf("\n");
    printf("%-28s %s\n", "EID", card_eid(card));
    printf("%-28s %s\n", "Default SM-DP+ address",
           or_none(object_get_string(c, "DefaultSmdpAddress")));
    printf("%-28s %s\n", "Root SM-DS address", or_none(object_get_string(c, "RootSmdsAddress")));
    for (guint k = 0; entries && k < entries->len; k++) {
      const Prop *e = g_ptr_array_index(entries, k);
      g_autofree char *text = value_to_text(&e->value);
      const char *label = e->name, *unit = NULL;

      for (gsize l = 0; l < G_N_ELEMENTS(info_labels); l++) {
        if (g_str_equal(info_labels[l].key, e->name)) {
          label = info_labels[l].label;
          unit = info_labels[l].unit;
        }
      }
      printf("%-28s %s%s%s\n", label, text, unit ? " " : "", unit ? unit : "");
    }
  }
  if (j)
    json_out_print_list_free(j, stdout);
  return EXIT_OK;
}

/* ---- notifications ---- */

static gboolean parse_seq(const char *text, guint32 *seq)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT32, &v, NULL))
    return FALSE;
  *seq = (guint32)v;
  return TRUE;
}

/* A call whose reply rows could not be read: drops the document begun. */
static int fail_rows(sd_bus_error *error, int r, const char *what, JsonOut *j)
{
  if (!sd_bus_error_is_set(error))
    sd_bus_error_set_errnof(error, -r, "Cannot read %s: %s", what, g_strerror(-r));
  if (j)
    json_out_free(j);
  return fail_bus(error, r);
}

/* The rows read from every card: the --json document, the table, or none. */
static void print_rows(JsonOut *j, Table *table, guint rows, const char *none)
{
  if (j)
    json_out_print_list_free(j, stdout);
  else if (rows == 0)
    printf("%s\n", none);
  else
    table_print(table, stdout, "");
}

static int notifications_list(Esimctl *ctl, Model *model)
{
  g_autoptr(GPtrArray) cards = NULL;
  static const char *const headers[] = {"EID", "SEQ", "OPERATION", "ICCID", "SM-DP+", NULL};
  g_autoptr(Table) table = table_new(headers);
  JsonOut *j = NULL;
  guint rows = 0;
  int status;

  if ((status = select_cards(ctl, model, NULL, &cards)))
    return status;
  if (ctl->json) {
    j = json_out_new_list("notifications");
  }
  for (guint i = 0; i < cards->len; i++) {
    const Card *card = g_ptr_array_index(cards, i);
    g_autofree char *eid = output_short_eid(card_eid(card), ctl->full);
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message *reply = NULL;
    int r;

    r = esimctl_call(ctl, card->object->path, ESIMD_EUICC_IFACE, "ListNotifications", FALSE, &error,
                     &reply, "");
    if (r >= 0)
      r = sd_bus_message_enter_container(reply, 'a', "(usss)");
    while (r >= 0) {
      uint32_t seq;
      const char *operation, *address, *iccid;

      r = sd_bus_message_read(reply, "(usss)", &seq, &operation, &address, &iccid);
      if (r <= 0)
        break;
      rows++;
      if (j) {
        json_out_begin_object(j, NULL);
        json_out_string(j, "eid", card_eid(card));
        json_out_uint(j, "seq", seq);
        json_out_string(j, "operation", operation);
        json_out_string(j, "iccid", iccid);
        json_out_string(j, "address", address);
        json_out_end_object(j);
      } else {
        g_autofree char *seq_text = g_strdup_printf("%" G_GUINT32_FORMAT, seq);
        const char *cells[] = {eid, seq_text, operation, iccid, address, NULL};
        table_add_row(table, cells);
      }
    }
    sd_bus_message_unref(reply);
    if (r < 0)
      return fail_rows(&error, r, "the notification list", j);
  }
  print_rows(j, table, rows, "No notifications pending.");
  return EXIT_OK;
}

static int notifications_send(Esimctl *ctl, Model *model, int argc, char **argv)
{
  g_autoptr(GPtrArray) cards = NULL;
  g_autoptr(GArray) seqs = g_array_new(FALSE, FALSE, sizeof(guint32));
  static const char *const headers[] = {"EID", "SEQ", "RESULT", "MESSAGE", NULL};
  g_autoptr(Table) table = table_new(headers);
  JsonOut *j = NULL;
  guint rows = 0, failed = 0;
  int status;

  for (int i = 2; i < argc; i++) {
    guint32 seq;
    if (!parse_seq(argv[i], &seq))
      return esimctl_fail(EXIT_USAGE, "\"%s\" is not a sequence number", argv[i]);
    g_array_append_val(seqs, seq);
  }
  /* Sequence numbers belong to one card; "send everything" may cover all. */
  if (seqs->len > 0) {
    Card *card;
    if ((status = select_one_card(ctl, model, NULL, &card)))
      return status;
    cards = g_ptr_array_new();
    g_ptr_array_add(cards, card);
  } else if ((status = select_cards(ctl, model, NULL, &cards))) {
    return status;
  }

  if (ctl->json) {
    j = json_out_new_list("results");
  }
  for (guint i = 0; i < cards->len; i++) {
    const Card *card = g_ptr_array_index(cards, i);
    g_autofree char *eid = output_short_eid(card_eid(card), ctl->full);
    sd_bus_error error = SD_BUS_ERROR_NULL;
    sd_bus_message *call = NULL, *reply = NULL;
    int r;

    r = sd_bus_message_new_method_call(ctl->bus, &call, ESIMD_BUS_NAME, card->object->path,
                                       ESIMD_EUICC_IFACE, "SendNotifications");
    if (r >= 0)
      r = sd_bus_message_append_array(call, 'u', seqs->data, seqs->len * sizeof(guint32));
    if (r >= 0)
      r = esimctl_send(ctl, call, TRUE, &error, &reply);
    sd_bus_message_unref(call);
    if (r >= 0)
      r = sd_bus_message_enter_container(reply, 'a', "(ubs)");
    while (r >= 0) {
      uint32_t seq;
      int delivered;
      const char *message;

      r = sd_bus_message_read(reply, "(ubs)", &seq, &delivered, &message);
      if (r <= 0)
        break;
      rows++;
      failed += !delivered;
      if (j) {
        json_out_begin_object(j, NULL);
        json_out_string(j, "eid", card_eid(card));
        json_out_uint(j, "seq", seq);
        json_out_bool(j, "delivered", delivered);
        json_out_string(j, "message", message);
        json_out_end_object(j);
      } else {
        g_autofree char *seq_text = g_strdup_printf("%" G_GUINT32_FORMAT, seq);
        const char *cells[] = {eid, seq_text, delivered ? "delivered" : "failed", message, NULL};
        table_add_row(table, cells);
      }
    }
    sd_bus_message_unref(reply);
    if (r < 0)
      return fail_rows(&error, r, "the delivery results", j);
  }
  print_rows(j, table, rows, "No notifications to send.");
  if (failed)
    return esimctl_fail(EXIT_SMDP, "%u of %u notification%s not delivered", failed, rows,
                        rows == 1 ? "" : "s");
  return EXIT_OK;
}

static int notifications_remove(Esimctl *ctl, Model *model, int argc, char **argv)
{
  sd_bus_error error = SD_BUS_ERROR_NULL;
  Card *card;
  guint32 seq;
  int status, r;

  if (argc != 3)
    return esimctl_fail(EXIT_USAGE, "notifications remove takes one sequence number");
  if (!parse_seq(argv[2], &seq))
    return esimctl_fail(EXIT_USAGE, "\"%s\" is not a sequence number", argv[2]);
  if ((status = select_one_card(ctl, model, NULL, &card)))
    return status;
  r = esimctl_call(ctl, card->object->path, ESIMD_EUICC_IFACE, "RemoveNotification", TRUE, &error,
                   NULL, "u", seq);
  if (r < 0)
    return fail_bus(&error, r);
  if (ctl->json) {
    JsonOut *j = json_change_begin(card);
    json_out_uint(j, "seq", seq);
    json_change_print(j, "removed");
  } else {
    printf("Removed notification %" G_GUINT32_FORMAT ".\n", seq);
  }
  return EXIT_OK;
}

int command_notifications(Esimctl *ctl, int argc, char **argv)
{
  g_autoptr(Model) model = NULL;
  const char *sub = argc > 1 ? argv[1] : "list";
  int status;

  if (!g_str_equal(sub, "list") && !g_str_equal(sub, "send") && !g_str_equal(sub, "remove"))
    return esimctl_fail(EXIT_USAGE, "Unknown notifications command \"%s\" (list, send, remove)",
                        sub);
  if (g_str_equal(sub, "list") && argc > 2)
    return esimctl_fail(EXIT_USAGE, "notifications list takes no arguments");
  if ((status = load(ctl, &model)))
    return status;
  if (g_str_equal(sub, "send"))
    return notifications_send(ctl, model, argc, argv);
  if (g_str_equal(sub, "remove"))
    return notifications_remove(ctl, model, argc, argv);
  return notifications_list(ctl, model);
}

int commands_load_one_card(Esimctl *ctl, Model **model, Card **card)
{
  int status = load(ctl, model);

  return status ? status : select_one_card(ctl, *model, NULL, card);
}
