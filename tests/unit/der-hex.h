/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * DER written out by hand in a codec test, as hex strings: T(tag, value)
 * works out the length, C() puts pieces together. Every string lives until
 * der_hex_teardown(), so a test nests calls without freeing any.
 */
#pragma once

#include <glib.h>

/* cmocka setup and teardown of each test: the strings' arena. */
int der_hex_setup(void **state);
int der_hex_teardown(void **state);

/* Keeps s (allocated) until teardown; s back. */
const char *keep(gchar *s);
/* One element: tag and value in hex, with its DER length worked out. */
const char *T(const char *tag, const char *value);
/* Hex pieces one after the other; NULL ends the list. */
const char *C(const char *first, ...) G_GNUC_NULL_TERMINATED;
/* The bytes of s, in hex. */
const char *U(const char *s);
/* n bytes of the value b, in hex. */
const char *R(guint8 b, gsize n);
/* The bytes of hex; fails the test when it is not hex. */
GBytes *B(const char *hex);
/* The bytes of b, in hex. */
const char *H(GBytes *b);
