/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the two files of the ES9+ client share (es9p.c: the client, TLS, the
 * one request path and the functions; es9p-json.c: requests and answers in
 * JSON): the client's state and the helpers both use.
 */
#pragma once

#include "smdp/es9p.h"

#include <stdarg.h>
#include <string.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

/* SGP.22 6.5.1: the protocol version the request speaks. */
#define ADMIN_PROTOCOL "gsma/rsp/v2.2.0"
#define USER_AGENT "gsma-rsp-lpad"
#define ES9P_PATH "/gsma/rsp2/es9plus/"
#define ES11_PATH "/gsma/rsp2/es11/"
/* Caps on an answer body: a Bound Profile Package of a large profile is a
 * few hundred KiB as base64; every other answer is a few KiB of
 * certificates and signatures. */
#define MAX_ANSWER (64 * 1024)
#define MAX_BPP_ANSWER (1024 * 1024)
#define READ_CHUNK (16 * 1024)
#define DEFAULT_TIMEOUT_S 30

struct _Es9pClient {
  SoupSession *session;
  /* GTlsDatabase*, one per trusted PEM file (the CA file, then each file
   * of the CA directory); empty when none was given. */
  GPtrArray *extra_ca;
  gsize max_response; /* 0: each function's own cap */
};

gchar *es9p_base64_of(GBytes *bytes);
gchar *es9p_build_request(const char *call_id, const char *const *members);
gboolean es9p_check_der(GBytes *bytes, guint32 want, const char *what, GError **error);
gpointer es9p_decode_authentication(JsonObject *o, const char *sent_tid, GError **error);
gpointer es9p_decode_bound_profile_package(JsonObject *o, const char *sent_tid, GError **error);
gpointer es9p_decode_client_authentication(JsonObject *o, const char *sent_tid, GError **error);
gpointer es9p_decode_events(JsonObject *o, const char *sent_tid, GError **error);
gboolean es9p_is_transaction_id(const char *text);
const char *es9p_string_or(JsonObject *o, const char *member, const char *fallback);
/* PROTOTYPES */
