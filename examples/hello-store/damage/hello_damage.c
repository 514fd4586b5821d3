/*
 * hello_damage.c - hello-damage.so, the damage module of the example
 * store: the damage only someone who knows hello-store.log can make, for
 * mc-store-check --damage (minichain/store_check.h).  Built beside the
 * store, never installed with it: it exists to break data.
 *
 * Every case damages hello-store's own file, which keeps its header, so
 * by the rule of minichain/store.h each is MC_ECORRUPT.
 */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <minichain/error.h>
#include <minichain/store_check.h>

#define LOG_NAME "hello-store.log"
#define HEADER_LEN 24 /* "minichain-hello-store 1\n" */

static int log_path(const char *dir, char *p, size_t len, char *err,
                    size_t errlen) {
  if ((size_t)snprintf(p, len, "%s/%s", dir, LOG_NAME) < len)
    return 0;
  snprintf(err, errlen, "%s: path too long", dir);
  return -1;
}

/* Flips one byte at `at` bytes from the start (negative: from the end). */
static int flip_byte(const char *dir, long at, char *err, size_t errlen) {
  char p[4200];
  struct stat st;
  if (log_path(dir, p, sizeof p, err, errlen) != 0)
    return -1;
  FILE *fp = fopen(p, "r+b");
  long off = at >= 0 ? at : (stat(p, &st) == 0 ? (long)st.st_size + at : -1);
  int c = fp != NULL && off >= HEADER_LEN && fseek(fp, off, SEEK_SET) == 0
              ? fgetc(fp)
              : EOF;
  int ok = c != EOF && fseek(fp, off, SEEK_SET) == 0 &&
           fputc(c ^ 0x55, fp) != EOF;
  if (fp != NULL && fclose(fp) != 0)
    ok = 0;
  if (!ok)
    snprintf(err, errlen, "%s: cannot flip the byte at %ld", p, at);
  return ok ? 0 : -1;
}

/* A byte inside the first record: a bad record with good ones after it
 * is damage, not a torn append. */
static int first_record_flipped(const char *dir, char *err, size_t errlen) {
  return flip_byte(dir, HEADER_LEN + 40, err, errlen);
}

/* The header's version digit: hello-store's own marker, damaged. */
static int header_damaged(const char *dir, char *err, size_t errlen) {
  char p[4200];
  if (log_path(dir, p, sizeof p, err, errlen) != 0)
    return -1;
  FILE *fp = fopen(p, "r+b");
  int ok = fp != NULL && fseek(fp, HEADER_LEN - 2, SEEK_SET) == 0 &&
           fputc('x', fp) != EOF;
  if (fp != NULL && fclose(fp) != 0)
    ok = 0;
  if (!ok)
    snprintf(err, errlen, "%s: cannot edit its header", p);
  return ok ? 0 : -1;
}

static const mc_store_damage_case cases[] = {
    {sizeof(mc_store_damage_case), "first_record_flipped",
     "a byte of the first record flipped, records after it intact",
     MC_ECORRUPT, first_record_flipped, "bad record"},
    {sizeof(mc_store_damage_case), "header_damaged",
     "the file header's version overwritten", MC_ECORRUPT, header_damaged,
     "bad file header"},
};

MC_STORE_CHECK_DAMAGE_DEFINE("hello", cases)
