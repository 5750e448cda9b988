/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What esimd shows, read in one GetManagedObjects call: the eUICCs, their
 * profiles and every property of each, kept as the daemon sent them so that
 * `show` prints properties esimctl does not know by name too.
 */
#pragma once

#include <glib.h>
#include <systemd/sd-bus.h>

typedef enum {
  VALUE_STRING, /* s, o, g */
  VALUE_BOOL,
  VALUE_UINT, /* y, q, u, t */
  VALUE_INT,  /* n, i, x, h */
  VALUE_DOUBLE,
  VALUE_STRV,  /* as, ao */
  VALUE_BYTES, /* ay */
  VALUE_DICT,  /* a{sv} */
  VALUE_OTHER, /* anything else: only its signature is kept */
} ValueKind;

typedef struct {
  ValueKind kind;
  char *signature;
  char *s;
  gboolean b;
  guint64 u;
  gint64 i;
  double d;
  char **strv;
  GBytes *bytes;
  GPtrArray *dict; /* Prop* in the order sent */
} Value;

typedef struct {
  char *name;
  Value value;
} Prop;

typedef struct {
  char *path;
  GPtrArray *props; /* Prop* in the order sent */
} Object;

typedef struct _Card {
  Object *object;
  GPtrArray *profiles; /* Object*, in the order of the Profiles property */
} Card;

typedef struct _Model {
  GPtrArray *cards; /* Card*, by N in /org/esimd/euicc/N */
} Model;

/* Reads everything with one GetManagedObjects. */
int model_load(sd_bus *bus, Model **out, sd_bus_error *error);
void model_free(Model *model);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Model, model_free)

/* Reads one object's properties with Properties.GetAll. */
int object_load(sd_bus *bus, const char *path, const char *iface, Object **out,
                sd_bus_error *error);
void object_free(Object *object);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Object, object_free)

const Value *object_get(const Object *object, const char *name);
/* "" / 0 / FALSE when the property is absent or of another type. */
const char *object_get_string(const Object *object, const char *name);
guint64 object_get_uint(const Object *object, const char *name);
gboolean object_get_bool(const Object *object, const char *name);

/* The card's profile with this path, NULL if none. */
const Object *card_find_profile_by_path(const Card *card, const char *path);
