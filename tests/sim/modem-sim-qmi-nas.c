/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * modem-sim QMI mode, the NAS service (0x03): only as much as ModemManager
 * needs to make a modem object of the port. Everything else is an Invalid
 * QMI Command, as on a modem whose firmware lacks the message.
 */
#include "modem-sim-qmi-private.h"

void qmi_sim_handle_nas(ModemSim *ms, const QmiRequest *req)
{
  g_autoptr(GByteArray) tlvs = g_byte_array_new();

  if (qmi_sim_apply_error_rules(ms, req))
    return;
  switch (req->msgid) {
  default:
    qmi_sim_put_result(tlvs, QMI_ERR_INVALID_QMI_COMMAND);
    break;
  }
  qmi_sim_respond(ms, req, tlvs);
}
