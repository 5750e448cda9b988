/* SPDX-License-Identifier: GPL-2.0-or-later */
/* org.esimd.Profile1 on /org/esimd/euicc/N/profile/M: one cached profile. */
#include <string.h>

#include "bus-private.h"

/* SGP.22 rsp.asn SetNicknameRequest: profileNickname UTF8String (SIZE(0..64)). */

static int profile1_find(sd_bus *sdbus, const char *path, const char *interface, void *user_data,
                         void **ret_found, sd_bus_error *ret_error)
{
  Bus *bus = user_data;

  if (!bus_lookup_profile(bus, path, NULL))
    return 0;
  *ret_found = bus;
  return 1;
}

static int profile1_get_property(sd_bus *sdbus, const char *path, const char *interface,
                                 const char *property, sd_bus_message *reply, void *user_data,
                                 sd_bus_error *ret_error)
{
  Bus *bus = user_data;
  const Profile *p = bus_lookup_profile(bus, path, NULL);

  if (!p)
    return sd_bus_error_setf(ret_error, SD_BUS_ERROR_UNKNOWN_OBJECT, "No profile at %s", path);

  if (g_str_equal(property, "Iccid"))
    return sd_bus_message_append(reply, "s", bus_nonnull(p->iccid));
  if (g_str_equal(property, "IsdpAid"))
    return sd_bus_message_append(reply, "s", bus_nonnull(p->isdp_aid));
  if (g_str_equal(property, "State"))
    return sd_bus_message_append(reply, "s", profile_state_to_string(p->state));
  if (g_str_equal(property, "Class"))
    return sd_bus_message_append(reply, "s", profile_class_to_string(p->profile_class));
  if (g_str_equal(property, "Name"))
    return sd_bus_message_append(reply, "s", bus_nonnull(p->name));
  if (g_str_equal(property, "ServiceProvider"))
    return sd_bus_message_append(reply, "s", bus_nonnull(p->service_provider));
  if (g_str_equal(property, "Nickname"))
    return sd_bus_message_append(reply, "s", bus_nonnull(p->nickname));
  if (g_str_equal(property, "OwnerMccMnc"))
    return sd_bus_message_append(reply, "s", bus_nonnull(p->owner_mccmnc));
  if (g_str_equal(property, "IconType"))
    return sd_bus_message_append(reply, "s", profile_icon_type_to_string(p->icon_type));
  if (g_str_equal(property, "Connection"))
    return sd_bus_message_append(reply, "o", p->connection ? p->connection : "/");
  if (g_str_equal(property, "PolicyRules"))
    return sd_bus_message_append_strv(reply, p->policy_rules ? p->policy_rules : (char *[]){NULL});
  if (g_str_equal(property, "Icon")) {
    gsize size = 0;
    const void *data = p->icon ? g_bytes_get_data(p->icon, &size) : NULL;
    return sd_bus_message_append_array(reply, 'y', data ? data : "", size);
  }
  return sd_bus_error_setf(ret_error, SD_BUS_ERROR_UNKNOWN_PROPERTY, "No property %s", property);
}

/* Enable, Disable and Delete: no arguments, one service operation each, and
 * the polkit action that guards it. */
static const struct {
  const char *member;
  void (*operation)(Euicc *euicc, guint profile_id, GCancellable *cancellable,
                    GAsyncReadyCallback cb, gpointer user_data);
  const char *action;
} plain_methods[] = {
    {"Enable", euicc_profile_enable, BUS_ACTION_SWITCH},
    {"Disable", euicc_profile_disable, BUS_ACTION_SWITCH},
    {"Delete", euicc_profile_delete, "org.esimd.profile.delete"},
};

static void plain_method_start(BusCall *call)
{
  plain_methods[call->number].operation(call->euicc, call->profile_id, call->cancellable,
                                        bus_call_operation_done, call);
}

static int profile1_plain_method(sd_bus_message *message, void *user_data, sd_bus_error *ret_error)
{
  const char *member = sd_bus_message_get_member(message);

  for (guint i = 0; i < G_N_ELEMENTS(plain_methods); i++) {
    if (g_str_equal(plain_methods[i].member, member)) {
      BusCall *call = bus_call_new(user_data, message, plain_method_start);

      call->number = i;
      return bus_call_authorize_and_start(call, plain_methods[i].action);
    }
  }
  return sd_bus_error_setf(ret_error, SD_BUS_ERROR_UNKNOWN_METHOD, "No method %s", member);
}

static void set_nickname_start(BusCall *call)
{
  euicc_profile_set_nickname(call->euicc, call->profile_id, call->text, call->cancellable,
                             bus_call_operation_done, call);
}

static int profile1_set_nickname(sd_bus_message *message, void *user_data, sd_bus_error *ret_error)
{
  const char *nickname = NULL;
  g_autoptr(GError) error = NULL;
  BusCall *call;
  int r;

  r = sd_bus_message_read(message, "s", &nickname);
  if (r < 0)
    return r;
  if (!bus_check_nickname(nickname, &error))
    return bus_error_invalid_gerror(ret_error, error);
  call = bus_call_new(user_data, message, set_nickname_start);
  call->text = g_strdup(nickname);
  return bus_call_authorize_and_start(call, BUS_ACTION_SWITCH);
}

#define EMITS SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE
#define CONST SD_BUS_VTABLE_PROPERTY_CONST

static const sd_bus_vtable profile1_vtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Iccid", "s", profile1_get_property, 0, CONST),
    SD_BUS_PROPERTY("IsdpAid", "s", profile1_get_property, 0, CONST),
    SD_BUS_PROPERTY("State", "s", profile1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Class", "s", profile1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Name", "s", profile1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("ServiceProvider", "s", profile1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Nickname", "s", profile1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("OwnerMccMnc", "s", profile1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("IconType", "s", profile1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Icon", "ay", profile1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("Connection", "o", profile1_get_property, 0, EMITS),
    SD_BUS_PROPERTY("PolicyRules", "as", profile1_get_property, 0, EMITS),
    SD_BUS_METHOD_WITH_ARGS("Enable", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, profile1_plain_method,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Disable", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, profile1_plain_method,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("Delete", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, profile1_plain_method,
                            SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_METHOD_WITH_ARGS("SetNickname", SD_BUS_ARGS("s", nickname), SD_BUS_NO_RESULT,
                            profile1_set_nickname, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_VTABLE_END,
};

gboolean bus_profile1_export(Bus *bus, GError **error)
{
  return bus_add_vtable(bus, BUS_EUICC_PREFIX, BUS_PROFILE_INTERFACE, profile1_vtable,
                        profile1_find, error);
}

void bus_profile1_emit_changed(Bus *bus, Euicc *euicc, const Profile *profile, ProfileChanged what)
{
  static const BusPropertyChange changes[] = {
      {PROFILE_CHANGED_STATE, "State"},           {PROFILE_CHANGED_NICKNAME, "Nickname"},
      {PROFILE_CHANGED_OTHER, "Class"},           {PROFILE_CHANGED_OTHER, "Name"},
      {PROFILE_CHANGED_OTHER, "ServiceProvider"}, {PROFILE_CHANGED_OTHER, "OwnerMccMnc"},
      {PROFILE_CHANGED_OTHER, "IconType"},        {PROFILE_CHANGED_OTHER, "Icon"},
      {PROFILE_CHANGED_CONNECTION, "Connection"}, {PROFILE_CHANGED_POLICY_RULES, "PolicyRules"},
  };
  g_autofree char *path = bus_path_profile(euicc_get_id(euicc), profile->id);

  bus_emit_properties_changed(bus, path, BUS_PROFILE_INTERFACE, changes, G_N_ELEMENTS(changes),
                              what);
}
