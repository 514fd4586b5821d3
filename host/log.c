/*
 * log.c - JSON-lines structured logging for the host and its plugins.
 *
 * Lines are built in a local buffer and written with one fwrite so that a
 * line is never interleaved with another writer's.  cJSON escapes strings;
 * numbers are formatted here because cJSON would round u64 through double.
 */
#include "log.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "minichain/error.h"

static FILE *log_out;
static char log_node[64] = "node";
static mc_log_level log_min = MC_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void mc_log_setup(FILE *out, const char *node, mc_log_level min_level) {
  log_out = out;
  if (node != NULL)
    snprintf(log_node, sizeof log_node, "%s", node);
  log_min = min_level;
}

int mc_log_level_parse(const char *s, mc_log_level *out) {
  for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
    if (strcmp(s, level_names[i]) == 0) {
      *out = (mc_log_level)i;
      return 0;
    }
  }
  return MC_EINVAL;
}

/* A growable line; on allocation failure the line is truncated, never lost
 * entirely, so the fixed head still reaches the log. */
typedef struct line {
  char *p;
  size_t len, cap;
} line;

static void line_put(line *l, const char *s, size_t n) {
  if (l->len + n + 2 > l->cap) {
    size_t cap = (l->cap ? l->cap * 2 : 256);
    while (cap < l->len + n + 2)
      cap *= 2;
    char *p = realloc(l->p, cap);
    if (p == NULL)
      return;
    l->p = p;
    l->cap = cap;
  }
  memcpy(l->p + l->len, s, n);
  l->len += n;
}

static void line_puts(line *l, const char *s) { line_put(l, s, strlen(s)); }

static void line_json_string(line *l, const char *s) {
  cJSON *str = cJSON_CreateString(s ? s : "");
  char *txt = str ? cJSON_PrintUnformatted(str) : NULL;
  line_puts(l, txt ? txt : "\"\"");
  free(txt);
  cJSON_Delete(str);
}

static void line_key(line *l, const char *key) {
  line_puts(l, ",");
  line_json_string(l, key);
  line_puts(l, ":");
}

static void line_field(line *l, const mc_log_field *f) {
  char num[32];
  line_key(l, f->key);
  switch (f->type) {
  case MC_LOG_STR:
    line_json_string(l, f->v.s);
    break;
  case MC_LOG_INT:
    snprintf(num, sizeof num, "%" PRId64, f->v.i);
    line_puts(l, num);
    break;
  case MC_LOG_UINT:
    snprintf(num, sizeof num, "%" PRIu64, f->v.u);
    line_puts(l, num);
    break;
  case MC_LOG_BOOL:
    line_puts(l, f->v.b ? "true" : "false");
    break;
  case MC_LOG_HEX: {
    static const char digits[] = "0123456789abcdef";
    line_puts(l, "\"");
    for (size_t i = 0; i < f->v.hex.len; i++) {
      char two[2] = {digits[f->v.hex.p[i] >> 4], digits[f->v.hex.p[i] & 15]};
      line_put(l, two, 2);
    }
    line_puts(l, "\"");
    break;
  }
  default:
    line_puts(l, "null");
  }
}

static void line_time(line *l) {
  struct timeval tv;
  struct tm tm;
  char ts[40];
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(ts + n, sizeof ts - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
  line_puts(l, "{\"ts\":\"");
  line_puts(l, ts);
  line_puts(l, "\"");
}

void mc_log_write(mc_log_level level, const char *src, const char *event,
                  const mc_log_field *fields, size_t nfields) {
  if (level < log_min || (unsigned)level > MC_LOG_ERROR)
    return;
  line l = {0};
  line_time(&l);
  line_key(&l, "level");
  line_json_string(&l, level_names[level]);
  line_key(&l, "node");
  line_json_string(&l, log_node);
  line_key(&l, "src");
  line_json_string(&l, src);
  line_key(&l, "event");
  line_json_string(&l, event);
  for (size_t i = 0; i < nfields; i++)
    line_field(&l, &fields[i]);
  line_puts(&l, "}\n");
  FILE *out = log_out ? log_out : stderr;
  if (l.p != NULL) {
    fwrite(l.p, 1, l.len, out);
    fflush(out);
  }
  free(l.p);
}
