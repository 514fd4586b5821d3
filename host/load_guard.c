/*
 * load_guard.c - reports a plugin that exits or crashes while loading
 * (see load_guard.h for what is caught and the lines printed).
 *
 * The lines are formatted when the guard is armed, so that the signal
 * handler only has to write(2) a finished buffer and _exit: both are
 * async-signal-safe, and a crashed process may have a broken heap or a
 * stdio lock held.  The exit handler cannot be unregistered, so it is
 * registered once and does nothing unless the guard is armed.
 */
#define _GNU_SOURCE /* program_invocation_short_name, on_exit */
#include "load_guard.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"

/* mchost's status for "bad plugin, nothing touched" (main.c, DESIGN §2). */
#define GUARD_EXIT_STATUS 2

static const struct {
  int sig;
  const char *name;
} guarded[] = {
    {SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGILL, "SIGILL"},
    {SIGFPE, "SIGFPE"},   {SIGABRT, "SIGABRT"},
};
#define NGUARDED (sizeof guarded / sizeof *guarded)

/* Room for "<prog>: cannot load plugin <path>: <reason>\n". */
#define LINE_MAX_BYTES (MC_PATH_MAX + 256)

static volatile sig_atomic_t armed;
static int exit_handler_registered;
static char prefix[LINE_MAX_BYTES]; /* "<prog>: cannot load plugin <path>" */
static char crash_line[NGUARDED][LINE_MAX_BYTES];
static size_t crash_len[NGUARDED];
static struct sigaction saved[NGUARDED];

/* A stack for the handlers, so that a plugin that overflows its stack
 * while loading is reported too; used only when none is installed. */
static char alt_stack_mem[64 * 1024];
static int alt_stack_ours;

static void write_all(const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDERR_FILENO, s, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void on_crash(int sig) {
  for (size_t i = 0; i < NGUARDED; i++)
    if (guarded[i].sig == sig)
      write_all(crash_line[i], crash_len[i]);
  _exit(GUARD_EXIT_STATUS);
}

/* Runs inside exit(), so stdio is still usable; write(2) anyway, so the
 * line cannot sit in a buffer that _exit would drop. */
static void on_exit_while_loading(int status, void *arg) {
  (void)arg;
  if (!armed)
    return;
  armed = 0;
  char line[LINE_MAX_BYTES + 64];
  int n = snprintf(line, sizeof line, "%s: called exit(%d) while loading\n",
                   prefix, status);
  if (n > 0)
    write_all(line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  _exit(GUARD_EXIT_STATUS);
}

static void format_lines(const char *path) {
  snprintf(prefix, sizeof prefix, "%s: cannot load plugin %s",
           program_invocation_short_name, path);
  for (size_t i = 0; i < NGUARDED; i++) {
    int n = snprintf(crash_line[i], sizeof crash_line[i],
                     "%s: crashed with %s (signal %d) while loading\n",
                     prefix, guarded[i].name, guarded[i].sig);
    crash_len[i] = n < 0 ? 0
                   : (size_t)n < sizeof crash_line[i]
                       ? (size_t)n
                       : sizeof crash_line[i] - 1;
  }
}

static void use_alt_stack(void) {
  stack_t cur;
  alt_stack_ours = 0;
  if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE))
    return;
  stack_t ss = {.ss_sp = alt_stack_mem, .ss_size = sizeof alt_stack_mem};
  alt_stack_ours = sigaltstack(&ss, NULL) == 0;
}

void mc_load_guard_arm(const char *path) {
  format_lines(path);
  if (!exit_handler_registered)
    exit_handler_registered = on_exit(on_exit_while_loading, NULL) == 0;
  use_alt_stack();
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_crash;
  sa.sa_flags = SA_ONSTACK;
  sigfillset(&sa.sa_mask);
  for (size_t i = 0; i < NGUARDED; i++)
    sigaction(guarded[i].sig, &sa, &saved[i]);
  armed = 1;
}

void mc_load_guard_disarm(void) {
  armed = 0;
  for (size_t i = 0; i < NGUARDED; i++)
    sigaction(guarded[i].sig, &saved[i], NULL);
  if (alt_stack_ours) {
    stack_t off = {.ss_flags = SS_DISABLE};
    sigaltstack(&off, NULL);
    alt_stack_ours = 0;
  }
}
