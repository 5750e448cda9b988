/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A preload library for running the real ModemManager on umockdev's
 * emulated ttys. ModemManager takes a serial port for itself with TIOCEXCL
 * (and gives it back with TIOCNXCL) and gives up on the port when that
 * fails; umockdev's emulated tty node answers those two with ENOTTY
 * ("Inappropriate ioctl for device"). Loaded in front of umockdev's preload,
 * this passes every ioctl on and turns only a failed TIOCEXCL/TIOCNXCL into
 * success: nobody else opens the test's tty anyway.
 *
 * Built without sanitizers: it is loaded into programs that are not.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

typedef int (*IoctlFunc)(int fd, unsigned long request, ...);

int ioctl(int fd, unsigned long request, ...)
{
  static IoctlFunc next;
  va_list ap;
  void *arg;
  int saved_errno;
  int ret;

  /* Every tty ioctl takes at most one argument, a pointer or an int that
   * fits in one. */
  va_start(ap, request);
  arg = va_arg(ap, void *);
  va_end(ap);

  if (!next) {
    /* POSIX dlsym() hands out functions as object pointers; memcpy keeps
     * ISO C's pedantic warning quiet. */
    void *sym = dlsym(RTLD_NEXT, "ioctl");

    memcpy(&next, &sym, sizeof next);
  }
  if (!next) {
    errno = ENOSYS;
    return -1;
  }
  saved_errno = errno;
  ret = next(fd, request, arg);
  if (ret < 0 && (request == TIOCEXCL || request == TIOCNXCL)) {
    errno = saved_errno;
    return 0;
  }
  return ret;
}
