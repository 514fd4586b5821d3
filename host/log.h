/*
 * log.h - structured logs: one JSON object per line.
 *
 * Every line has "ts" (RFC 3339 UTC with milliseconds), "level", "node",
 * "src" (host or the plugin's name), "event", then the event's fields:
 *   {"ts":"2026-11-24T13:00:00.123Z","level":"info","node":"n1",
 *    "src":"host","event":"block_committed","height":7,"txs":3}
 */
#ifndef MC_LOG_H
#define MC_LOG_H

#include <stdio.h>

#include "minichain/host.h"

/* Where lines go (stderr by default), the node's name, the lowest level
 * written.  `node` is copied. */
void mc_log_setup(FILE *out, const char *node, mc_log_level min_level);

/* Parses "debug", "info", "warn", "error".  Returns 0 or MC_EINVAL. */
int mc_log_level_parse(const char *s, mc_log_level *out);

/* Writes one event line (and flushes it). */
void mc_log_write(mc_log_level level, const char *src, const char *event,
                  const mc_log_field *fields, size_t nfields);

/* MC_LOG(MC_LOG_INFO, "event", MC_LOG_F_U("height", h), ...) from the host. */
#define MC_LOG(level, event, ...)                                              \
  do {                                                                         \
    const mc_log_field mc__f[] = {__VA_ARGS__};                                \
    mc_log_write((level), "host", (event), mc__f,                              \
                 sizeof mc__f / sizeof mc__f[0]);                              \
  } while (0)
#define MC_LOG0(level, event) mc_log_write((level), "host", (event), NULL, 0)

#endif /* MC_LOG_H */
