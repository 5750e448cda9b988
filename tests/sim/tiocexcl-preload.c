/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A preload library for running the real ModemManager on umockdev's
 * emulated ttys. ModemManager takes a serial port for itself with TIOCEXCL
 * (and gives it back with TIOCNXCL) and gives up on the port when that
 * fails. umockdev backs the tty node with a real pty but hands every ioctl
 * on it to its own emulation, which answers those two with ENOTTY
 * ("Inappropriate ioctl for device"). Loaded in front of umockdev's preload,
 * this passes every ioctl on; a failed TIOCEXCL/TIOCNXCL goes to the C
 * library's ioctl() directly, so that the pty really is exclusive as a
 * modem's tty would be (esimd checks TIOCGEXCL to see that ModemManager
 * holds a port), and counts as done either way. A real modem's tty loses
 * its exclusive mode with its last close; a pty keeps it while its master
 * is open, so close() of a descriptor made exclusive here clears it first.
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
#include <unistd.h>

typedef int (*IoctlFunc)(int fd, unsigned long request, ...);

/* The C library's own ioctl(), past every preload. */
static IoctlFunc libc_function(void)
{
  static IoctlFunc func;

  if (!func) {
    void *libc = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
    void *sym = libc ? dlsym(libc, "ioctl") : NULL;

    memcpy(&func, &sym, sizeof func);
  }
  return func;
}

/* Descriptors made exclusive through libc_function(), by number. */
#define MAX_TRACKED_FD 4096
static unsigned char exclusive_fds[MAX_TRACKED_FD];

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
    IoctlFunc libc_ioctl = libc_function();

    if (libc_ioctl && libc_ioctl(fd, request, arg) == 0 && fd >= 0 && fd < MAX_TRACKED_FD)
      exclusive_fds[fd] = request == TIOCEXCL;
    errno = saved_errno;
    return 0;
  }
  return ret;
}

typedef int (*CloseFunc)(int fd);

int close(int fd)
{
  static CloseFunc next;

  if (!next) {
    void *sym = dlsym(RTLD_NEXT, "close");

    memcpy(&next, &sym, sizeof next);
  }
  if (fd >= 0 && fd < MAX_TRACKED_FD && exclusive_fds[fd]) {
    IoctlFunc libc_ioctl = libc_function();
    int saved_errno = errno;

    exclusive_fds[fd] = 0;
    if (libc_ioctl)
      libc_ioctl(fd, TIOCNXCL);
    errno = saved_errno;
  }
  if (!next) {
    errno = ENOSYS;
    return -1;
  }
  return next(fd);
}
