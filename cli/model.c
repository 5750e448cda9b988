/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * GetManagedObjects into plain structs. Every property is read generically
 * from its variant, so a property added to the API later shows up in `show`
 * without a change here.
 */
#include "model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "esimctl.h"

static void value_clear(Value *v)
{
  g_free(v->signature);
  g_free(v->s);
  g_strfreev(v->strv);
  g_clear_pointer(&v->bytes, g_bytes_unref);
  g_clear_pointer(&v->dict, g_ptr_array_unref);
}

static void prop_free(Prop *p)
{
  g_free(p->name);
  value_clear(&p->value);
  g_free(p);
}

static GPtrArray *prop_array_new(void)
{
  return g_ptr_array_new_with_free_func((GDestroyNotify)prop_free);
}

void object_free(Object *object)
{
  if (!object)
    return;
  g_free(object->path);
  g_ptr_array_unref(object->props);
  g_free(object);
}

static void card_free(Card *card)
{
  object_free(card->object);
  g_ptr_array_unref(card->profiles);
  g_free(card);
}

void model_free(Model *model)
{
  if (!model)
    return;
  g_ptr_array_unref(model->cards);
  g_free(model);
}

static int read_props(sd_bus_message *m, GPtrArray *props);

/* The basic types read as numbers, each with where its value goes. */
static const struct {
  char type;
  ValueKind kind;
} basic_kinds[] = {
    {'s', VALUE_STRING}, {'o', VALUE_STRING}, {'g', VALUE_STRING}, {'b', VALUE_BOOL},
    {'y', VALUE_UINT},   {'q', VALUE_UINT},   {'u', VALUE_UINT},   {'t', VALUE_UINT},
    {'n', VALUE_INT},    {'i', VALUE_INT},    {'x', VALUE_INT},    {'d', VALUE_DOUBLE},
};

/* Reads one basic value of a type listed in basic_kinds. */
static int read_basic(sd_bus_message *m, char type, ValueKind kind, Value *v)
{
  union {
    const char *s;
    int b;
    uint8_t y;
    uint16_t q;
    uint32_t u;
    uint64_t t;
    int16_t n;
    int32_t i;
    int64_t x;
    double d;
  } x = {0};
  int r;

  v->kind = kind;
  r = sd_bus_message_read_basic(m, type, &x);
  if (r < 0)
    return r;
  /* Each number widened to the one field its kind keeps. */
  if (kind == VALUE_UINT)
    v->u = type == 'y' ? x.y : type == 'q' ? x.q : type == 'u' ? x.u : x.t;
  else if (kind == VALUE_INT)
    v->i = type == 'n' ? x.n : type == 'i' ? x.i : x.x;
  else if (kind == VALUE_BOOL)
    v->b = x.b != 0;
  else if (kind == VALUE_DOUBLE)
    v->d = x.d;
  else
    v->s = g_strdup(x.s);
  return r;
}

/* Reads the value inside a variant the caller has entered; contents is its
 * signature. */
static int read_value(sd_bus_message *m, const char *contents, Value *v)
{
  int r;

  v->signature = g_strdup(contents);
  for (gsize k = 0; strlen(contents) == 1 && k < G_N_ELEMENTS(basic_kinds); k++) {
    if (basic_kinds[k].type == contents[0])
      return read_basic(m, contents[0], basic_kinds[k].kind, v);
  }
  if (g_str_equal(contents, "as") || g_str_equal(contents, "ao")) {
    v->kind = VALUE_STRV;
    r = sd_bus_message_read_strv(m, &v->strv);
    /* sd-bus gives NULL for an empty array; the rest of esimctl may rely on
     * a list, empty or not. */
    if (r >= 0 && !v->strv)
      v->strv = g_new0(char *, 1);
    return r;
  } else if (g_str_equal(contents, "ay")) {
    const void *data;
    size_t size;
    v->kind = VALUE_BYTES;
    r = sd_bus_message_read_array(m, 'y', &data, &size);
    if (r >= 0)
      v->bytes = g_bytes_new(data, size);
    return r;
  } else if (g_str_equal(contents, "a{sv}")) {
    v->kind = VALUE_DICT;
    v->dict = prop_array_new();
    return read_props(m, v->dict);
  }
  v->kind = VALUE_OTHER;
  return sd_bus_message_skip(m, contents);
}

/* Reads an a{sv} into props. */
static int read_props(sd_bus_message *m, GPtrArray *props)
{
  int r;

  r = sd_bus_message_enter_container(m, 'a', "{sv}");
  if (r < 0)
    return r;
  while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
    const char *name, *contents;
    Prop *p = g_new0(Prop, 1);

    g_ptr_array_add(props, p);
    r = sd_bus_message_read_basic(m, 's', &name);
    if (r < 0)
      return r;
    p->name = g_strdup(name);
    r = sd_bus_message_peek_type(m, NULL, &contents);
    if (r < 0)
      return r;
    r = sd_bus_message_enter_container(m, 'v', contents);
    if (r < 0)
      return r;
    r = read_value(m, contents, &p->value);
    if (r < 0)
      return r;
    r = sd_bus_message_exit_container(m);
    if (r < 0)
      return r;
    r = sd_bus_message_exit_container(m);
    if (r < 0)
      return r;
  }
  if (r < 0)
    return r;
  return sd_bus_message_exit_container(m);
}

static Object *object_new(const char *path)
{
  Object *o = g_new0(Object, 1);

  o->path = g_strdup(path);
  o->props = prop_array_new();
  return o;
}

/* N in /org/esimd/euicc/N, for ordering. */
static guint64 path_number(const char *path)
{
  const char *slash = strrchr(path, '/');

  return slash ? g_ascii_strtoull(slash + 1, NULL, 10) : 0;
}

static gint compare_cards(gconstpointer a, gconstpointer b)
{
  const Card *ca = *(Card *const *)a, *cb = *(Card *const *)b;
  guint64 na = path_number(ca->object->path), nb = path_number(cb->object->path);

  return na < nb ? -1 : na > nb;
}

/* Puts each profile under its card, in the order of the card's Profiles. */
static void model_link(Model *model, GPtrArray *profiles)
{
  g_ptr_array_sort(model->cards, compare_cards);
  for (guint c = 0; c < model->cards->len; c++) {
    Card *card = g_ptr_array_index(model->cards, c);
    const Value *paths = object_get(card->object, "Profiles");

    for (guint i = 0; paths && paths->kind == VALUE_STRV && paths->strv[i]; i++) {
      for (guint p = 0; p < profiles->len; p++) {
        Object *profile = g_ptr_array_index(profiles, p);
        if (profile && g_str_equal(profile->path, paths->strv[i])) {
          g_ptr_array_add(card->profiles, g_ptr_array_steal_index(profiles, p));
          break;
        }
      }
    }
    /* A profile the Profiles property does not list yet (a signal in
     * flight): still under the card its path names. */
    for (guint p = 0; p < profiles->len;) {
      Object *profile = g_ptr_array_index(profiles, p);
      g_autofree char *prefix = g_strconcat(card->object->path, "/profile/", NULL);

      if (g_str_has_prefix(profile->path, prefix))
        g_ptr_array_add(card->profiles, g_ptr_array_steal_index(profiles, p));
      else
        p++;
    }
  }
}

int model_load(sd_bus *bus, Model **out, sd_bus_error *error)
{
  g_autoptr(Model) model = g_new0(Model, 1);
  g_autoptr(GPtrArray) profiles = g_ptr_array_new_with_free_func((GDestroyNotify)object_free);
  sd_bus_message *reply = NULL;
  int r;

  model->cards = g_ptr_array_new_with_free_func((GDestroyNotify)card_free);
  r = sd_bus_call_method(bus, ESIMD_BUS_NAME, ESIMD_MANAGER_PATH,
                         "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", error, &reply,
                         "");
  if (r < 0)
    return r;

  r = sd_bus_message_enter_container(reply, 'a', "{oa{sa{sv}}}");
  while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "oa{sa{sv}}")) > 0) {
    const char *path;

    r = sd_bus_message_read_basic(reply, 'o', &path);
    if (r >= 0)
      r = sd_bus_message_enter_container(reply, 'a', "{sa{sv}}");
    while (r >= 0 && (r = sd_bus_message_enter_container(reply, 'e', "sa{sv}")) > 0) {
      const char *iface;

      r = sd_bus_message_read_basic(reply, 's', &iface);
      if (r < 0)
        break;
      if (g_str_equal(iface, ESIMD_EUICC_IFACE)) {
        Card *card = g_new0(Card, 1);
        card->object = object_new(path);
        card->profiles = g_ptr_array_new_with_free_func((GDestroyNotify)object_free);
        g_ptr_array_add(model->cards, card);
        r = read_props(reply, card->object->props);
      } else if (g_str_equal(iface, ESIMD_PROFILE_IFACE)) {
        Object *profile = object_new(path);
        g_ptr_array_add(profiles, profile);
        r = read_props(reply, profile->props);
      } else {
        r = sd_bus_message_skip(reply, "a{sv}");
      }
      if (r >= 0)
        r = sd_bus_message_exit_container(reply);
    }
    if (r >= 0)
      r = sd_bus_message_exit_container(reply);
    if (r >= 0)
      r = sd_bus_message_exit_container(reply);
  }
  if (r >= 0)
    r = sd_bus_message_exit_container(reply);
  sd_bus_message_unref(reply);
  if (r < 0) {
    sd_bus_error_set_errnof(error, -r, "Cannot read esimd's objects: %s", g_strerror(-r));
    return r;
  }
  model_link(model, profiles);
  *out = g_steal_pointer(&model);
  return 0;
}

int object_load(sd_bus *bus, const char *path, const char *iface, Object **out, sd_bus_error *error)
{
  g_autoptr(Object) object = object_new(path);
  sd_bus_message *reply = NULL;
  int r;

  r = sd_bus_call_method(bus, ESIMD_BUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll",
                         error, &reply, "s", iface);
  if (r < 0)
    return r;
  r = read_props(reply, object->props);
  sd_bus_message_unref(reply);
  if (r < 0) {
    sd_bus_error_set_errnof(error, -r, "Cannot read %s: %s", path, g_strerror(-r));
    return r;
  }
  *out = g_steal_pointer(&object);
  return 0;
}

const Value *object_get(const Object *object, const char *name)
{
  for (guint i = 0; i < object->props->len; i++) {
    const Prop *p = g_ptr_array_index(object->props, i);
    if (g_str_equal(p->name, name))
      return &p->value;
  }
  return NULL;
}

const char *object_get_string(const Object *object, const char *name)
{
  const Value *v = object_get(object, name);

  return v && v->kind == VALUE_STRING ? v->s : "";
}

guint64 object_get_uint(const Object *object, const char *name)
{
  const Value *v = object_get(object, name);

  return v && v->kind == VALUE_UINT ? v->u : 0;
}

gboolean object_get_bool(const Object *object, const char *name)
{
  const Value *v = object_get(object, name);

  return v && v->kind == VALUE_BOOL ? v->b : FALSE;
}

const Object *card_find_profile_by_path(const Card *card, const char *path)
{
  for (guint i = 0; i < card->profiles->len; i++) {
    const Object *p = g_ptr_array_index(card->profiles, i);
    if (g_str_equal(p->path, path))
      return p;
  }
  return NULL;
}
