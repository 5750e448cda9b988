/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One function per esimctl command. argv[0] is the command's name (for
 * `notifications`, argv[1] the subcommand); each returns an exit status.
 */
#pragma once

#include "esimctl.h"

int command_list(Esimctl *ctl, int argc, char **argv);
int command_show(Esimctl *ctl, int argc, char **argv);
int command_enable(Esimctl *ctl, int argc, char **argv);
int command_disable(Esimctl *ctl, int argc, char **argv);
int command_delete(Esimctl *ctl, int argc, char **argv);
int command_nickname(Esimctl *ctl, int argc, char **argv);
int command_info(Esimctl *ctl, int argc, char **argv);
int command_notifications(Esimctl *ctl, int argc, char **argv);
int command_install(Esimctl *ctl, int argc, char **argv);  /* install.c */
int command_discover(Esimctl *ctl, int argc, char **argv); /* install.c */

/* For the commands outside commands.c. */
typedef struct _Model Model;
typedef struct _Card Card;
/* Reads the model and picks the one eUICC a changing command acts on
 * (--eid, or the only one); the exit status when it cannot. */
int commands_load_one_card(Esimctl *ctl, Model **model, Card **card);
