/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mutual authentication that opens a download and an SM-DS event
 * retrieval (SGP.22 3.1.2, 3.6.3), one step at a time for the caller's
 * step machine.
 */
#include "service/authenticate.h"

#include <string.h>

#include "service/euicc-private.h"

/*
 * The TAC sent when the modem reports no IMEI, and always to an SM-DS:
 * DeviceInfo's tac is mandatory (SGP.22 5.7.13) while its imei is optional,
 * and an SM-DS only routes events. A fixed 00100100 rather than a real
 * model's TAC: a server that checks devices should see an unknown device,
 * not a wrong one. The capabilities are the modem's either way: "the Device
 * SHALL set all the capabilities it supports".
 */
static const guint8 test_tac[4] = {0x00, 0x10, 0x01, 0x00};

/* What differs between the two servers, for logs and errors. */
static const struct {
  const char *name;
  const char *no_client;
  const char *reading_device;
  const char *initiating;
  const char *authenticating;
  const char *bad_request;
} servers[] = {
    [AUTHENTICATE_SMDP] =
        {
            .name = "SM-DP+",
            .no_client = "Cannot download a profile",
            .reading_device = "reading the modem's IMEI",
            .initiating = "starting the authentication (initiateAuthentication)",
            .authenticating = "having the eUICC authenticate the SM-DP+",
            .bad_request = "The matching id cannot be sent",
        },
    [AUTHENTICATE_SMDS] =
        {
            .name = "SM-DS",
            .no_client = "Cannot ask an SM-DS",
            .reading_device = "reading what the modem supports",
            .initiating = "starting the authentication with the SM-DS (initiateAuthentication)",
            .authenticating = "having the eUICC authenticate the SM-DS",
            .bad_request = "The SM-DS request cannot be built",
        },
};

static EuiccOp *op_of(GTask *task)
{
  return g_task_get_task_data(task);
}

void authenticate_init(Authentication *a, AuthenticateServer server, const char *address)
{
  memset(a, 0, sizeof *a);
  a->server = server;
  a->address = address;
}

void authenticate_clear(Authentication *a)
{
  g_clear_pointer(&a->client, es9p_client_free);
  g_clear_error(&a->net_error);
  g_clear_pointer(&a->imei, g_free);
  g_clear_pointer(&a->info1, g_bytes_unref);
  g_clear_pointer(&a->challenge, g_bytes_unref);
  g_clear_pointer(&a->auth, es9p_authentication_free);
  g_clear_pointer(&a->server_response, g_bytes_unref);
  g_clear_pointer(&a->refusal, g_bytes_unref);
  g_clear_pointer(&a->transaction_id, g_bytes_unref);
}

gboolean authenticate_open(GTask *task, Authentication *a)
{
  const EuiccSettings *settings = euicc_get_settings(op_of(task)->euicc);
  Es9pConfig config = {
      .ca_file = settings->smdp_ca_file,
      .ca_dir = settings->smdp_ca_dir,
      .host_override = settings->smdp_host_override,
  };
  GError *error = NULL;

  a->client = es9p_client_new(&config, &error);
  if (!a->client) {
    euicc_op_fail(task, g_error_new(ESIMD_ERROR, ESIMD_ERROR_FAILED, "%s: %s",
                                    servers[a->server].no_client, error->message));
    g_error_free(error);
    return FALSE;
  }
  return TRUE;
}

void authenticate_read_device(GTask *task, Authentication *a, GAsyncReadyCallback cb)
{
  EuiccOp *op = op_of(task);

  op->doing = servers[a->server].reading_device;
  modem_get_imei(euicc_get_modem(op->euicc), op->op.io, cb, task);
}

void authenticate_read_device_finish(GTask *task, Authentication *a, GAsyncResult *res)
{
  g_clear_error(&a->net_error);
  a->imei = modem_get_imei_finish(euicc_get_modem(op_of(task)->euicc), res, &a->net_error);
}

void authenticate_read_device_done(GTask *task, Authentication *a)
{
  Euicc *euicc = op_of(task)->euicc;
  GError *error = NULL;

  memset(&a->device, 0, sizeof a->device);
  if (a->server == AUTHENTICATE_SMDS) {
    /* Only the radio technologies read with the IMEI count here. */
    if (!a->imei)
      g_debug("discover: no IMEI (%s)", a->net_error->message);
    memcpy(a->device.tac, test_tac, sizeof test_tac);
  } else if (!a->imei || !es10_imei_to_device_info(a->imei, &a->device, &error)) {
    g_info("%s: no usable IMEI (%s); the SM-DP+ gets a test TAC", euicc_get_label(euicc),
           error          ? error->message
           : a->net_error ? a->net_error->message
                          : "none");
    g_clear_error(&error);
    memset(&a->device, 0, sizeof a->device);
    memcpy(a->device.tac, test_tac, sizeof test_tac);
  }
  modem_get_device_capabilities(euicc_get_modem(euicc), &a->device);
  g_clear_error(&a->net_error);
}

void authenticate_get_info1(GTask *task)
{
  op_of(task)->doing = "reading the eUICC's EUICCInfo1";
  euicc_op_call(task, es10b_get_euicc_info1_encode());
}

gboolean authenticate_get_info1_done(GTask *task, Authentication *a)
{
  const guint8 *buf;
  gsize len;

  if (!euicc_op_check_call(task))
    return FALSE;
  buf = euicc_op_response(op_of(task), &len);
  a->info1 = g_bytes_new(buf, len);
  return TRUE;
}

void authenticate_get_challenge(GTask *task)
{
  op_of(task)->doing = "asking the eUICC for a challenge";
  euicc_op_call(task, es10b_get_euicc_challenge_encode());
}

gboolean authenticate_get_challenge_done(GTask *task, Authentication *a)
{
  guint8 challenge[ES10_CHALLENGE_LEN];
  GError *error = NULL;
  const guint8 *buf;
  gsize len;

  if (!euicc_op_check_call(task))
    return FALSE;
  buf = euicc_op_response(op_of(task), &len);
  if (!es10b_get_euicc_challenge_decode(buf, len, challenge, &error)) {
    euicc_op_fail(task, error);
    return FALSE;
  }
  a->challenge = g_bytes_new(challenge, sizeof challenge);
  return TRUE;
}

void authenticate_initiate(GTask *task, Authentication *a, GCancellable *cancellable,
                           GAsyncReadyCallback cb)
{
  op_of(task)->doing = servers[a->server].initiating;
  if (a->server == AUTHENTICATE_SMDS)
    es11_initiate_authentication(a->client, a->address, a->challenge, a->info1, cancellable, cb,
                                 task);
  else
    es9p_initiate_authentication(a->client, a->address, a->challenge, a->info1, cancellable, cb,
                                 task);
}

void authenticate_initiate_finish(Authentication *a, GAsyncResult *res)
{
  g_clear_error(&a->net_error);
  a->auth = a->server == AUTHENTICATE_SMDS
                ? es11_initiate_authentication_finish(a->client, res, &a->net_error)
                : es9p_initiate_authentication_finish(a->client, res, &a->net_error);
}

void authenticate_server(GTask *task, Authentication *a, const char *matching_id)
{
  Es10bAuthenticateServerRequest req = {
      .server_signed1 = a->auth->server_signed1,
      .server_signature1 = a->auth->server_signature1,
      .euicc_ci_pkid_to_be_used = a->auth->euicc_ci_pkid_to_be_used,
      .server_certificate = a->auth->server_certificate,
      .matching_id = matching_id,
      .device_info = &a->device,
  };
  GError *error = NULL;
  GBytes *request;

  op_of(task)->doing = servers[a->server].authenticating;
  request = a->server == AUTHENTICATE_SMDS ? es10b_authenticate_server_encode_es11(&req, &error)
                                           : es10b_authenticate_server_encode(&req, &error);
  if (!request) {
    euicc_op_fail_invalid_args(task, servers[a->server].bad_request, error);
    return;
  }
  euicc_op_call(task, request);
}

gboolean authenticate_server_done(GTask *task, Authentication *a)
{
  g_autoptr(Es10bAuthenticateServerResponse) asr = NULL;
  GError *error = NULL;
  const guint8 *buf;
  gsize len;

  if (!euicc_op_check_call(task))
    return FALSE;
  buf = euicc_op_response(op_of(task), &len);
  if (!es10b_authenticate_server_decode(buf, len, &asr, &error)) {
    euicc_op_fail(task, error);
    return FALSE;
  }
  if (asr->result != ES10B_AUTHENTICATE_OK) {
    g_autofree gchar *server = g_strdup_printf("%s %s", servers[a->server].name, a->address);

    /* Its AuthenticateResponseError goes to the server all the same. */
    a->refusal = g_bytes_new(buf, len);
    euicc_op_fail_result(task, ES10_CMD_AUTHENTICATE_SERVER, (gint)asr->result, server);
    return FALSE;
  }
  a->transaction_id = g_bytes_ref(asr->transaction_id);
  a->server_response = g_bytes_ref(asr->der);
  return TRUE;
}

/*
 * SGP.22 3.0.1: the card's refusal of the server is the
 * AuthenticateServerResponse the LPA sends in authenticateClient, on ES11
 * as on ES9+; the server ends its transaction on it instead of waiting it
 * out. Not the caller's cancellable: this runs because it may be cancelled.
 */
gboolean authenticate_report_refusal(GTask *task, Authentication *a, GAsyncReadyCallback cb)
{
  EuiccOp *op = op_of(task);

  if (!a->refusal)
    return FALSE;
  if (a->server == AUTHENTICATE_SMDS)
    es11_authenticate_client(a->client, a->address, a->auth->transaction_id, a->refusal, op->op.io,
                             cb, task);
  else
    es9p_authenticate_client(a->client, a->address, a->auth->transaction_id, a->refusal, op->op.io,
                             cb, task);
  return TRUE;
}

void authenticate_report_refusal_finish(GTask *task, Authentication *a, GAsyncResult *res)
{
  g_clear_error(&a->net_error);
  /* Whatever the server answers beside its error is of no use here. */
  if (a->server == AUTHENTICATE_SMDS) {
    GPtrArray *events = es11_authenticate_client_finish(a->client, res, &a->net_error);

    if (events)
      g_ptr_array_unref(events);
  } else {
    es9p_client_authentication_free(es9p_authenticate_client_finish(a->client, res, &a->net_error));
  }
  /* The server answers with an error; that it heard is what counts. */
  g_info("%s: the %s %s was told of the card's refusal: %s", euicc_get_label(op_of(task)->euicc),
         servers[a->server].name, a->address, a->net_error ? a->net_error->message : "accepted");
  g_clear_error(&a->net_error);
}
