/*
 * load_guard.h - turns a plugin that exits or crashes while it is being
 * loaded into a one-line refusal and exit status 2.
 *
 * dlopen runs a plugin's constructors and the loader then calls its entry
 * function and reads its descriptor: plugin code and plugin data that the
 * host has not checked yet.  If that code calls exit(0), mchost would end
 * with status 0 and no word, which a supervisor reads as a clean stop; if
 * it crashes, the operator sees a bare signal.  Between arm and disarm:
 *   - exit(code) from anywhere in the process prints
 *       "<prog>: cannot load plugin <path>: called exit(<code>) while loading"
 *     and ends the process with _exit(2) (an on_exit handler; handlers the
 *     plugin itself registered run first, as exit runs them last-in first);
 *   - SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGABRT prints
 *       "<prog>: cannot load plugin <path>: crashed with SIGSEGV (signal 11)
 *        while loading"
 *     (one line) with write(2) and ends the process with _exit(2).
 * Not caught: _exit, quick_exit, SIGKILL, and signals the plugin sends that
 * are not in that list.  Disarm restores the previous signal dispositions.
 *
 * Process-wide state, for the loading thread only: arm and disarm must be
 * called from one thread, never nested, while no other thread loads.
 */
#ifndef MC_LOAD_GUARD_H
#define MC_LOAD_GUARD_H

/* Arms the guard for the plugin file `path` (copied). */
void mc_load_guard_arm(const char *path);

/* Disarms it: exit and the signals above behave as before arm. */
void mc_load_guard_disarm(void);

#endif /* MC_LOAD_GUARD_H */
