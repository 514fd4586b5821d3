/*
 * test-keys.c - key files and development keys (host/keys.c): written with
 * mode 0600, never over an existing file, read back to the same key, and
 * every kind of bad file refused with a reason naming the path: bad
 * contents, a mode that lets group or others in, not a regular file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "keys.h"
#include "minichain/error.h"

typedef struct dir {
  char path[64];
  char file[96];
} dir;

static int setup(void **state) {
  dir *d = calloc(1, sizeof *d);
  if (d == NULL || mc_crypto_init() != 0)
    return -1;
  strcpy(d->path, "/tmp/mc-test-keys-XXXXXX");
  if (mkdtemp(d->path) == NULL)
    return -1;
  snprintf(d->file, sizeof d->file, "%s/node.key", d->path);
  *state = d;
  return 0;
}

static int teardown(void **state) {
  dir *d = *state;
  unlink(d->file);
  rmdir(d->path);
  free(d);
  return 0;
}

/* Writes text to path with exactly `mode`, whatever the umask. */
static void write_text_mode(const char *path, const char *text, mode_t mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  assert_true(fd >= 0);
  size_t len = strlen(text);
  assert_int_equal(write(fd, text, len), (ssize_t)len);
  assert_int_equal(fchmod(fd, mode), 0);
  assert_int_equal(close(fd), 0);
}

/* As a careful operator writes a key file by hand. */
static void write_text(const char *path, const char *text) {
  write_text_mode(path, text, 0600);
}

static void test_save_load_round_trip(void **state) {
  dir *d = *state;
  mc_keypair kp, back;
  struct stat st;
  char err[256] = "";
  mc_key_generate(&kp);
  assert_int_equal(mc_key_save(d->file, &kp, err, sizeof err), 0);
  assert_int_equal(stat(d->file, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(mc_key_load(d->file, &back, err, sizeof err), 0);
  assert_memory_equal(back.pk, kp.pk, sizeof kp.pk);
  assert_memory_equal(back.sk, kp.sk, sizeof kp.sk);
}

static void test_save_refuses_overwrite(void **state) {
  dir *d = *state;
  mc_keypair a, b, back;
  char err[256] = "";
  mc_key_generate(&a);
  mc_key_generate(&b);
  assert_int_equal(mc_key_save(d->file, &a, err, sizeof err), 0);
  assert_int_equal(mc_key_save(d->file, &b, err, sizeof err), MC_EINVAL);
  assert_non_null(strstr(err, d->file));
  assert_non_null(strstr(err, "exists"));
  assert_int_equal(mc_key_load(d->file, &back, err, sizeof err), 0);
  assert_memory_equal(back.pk, a.pk, sizeof a.pk); /* the first key kept */
}

static void test_save_into_missing_dir(void **state) {
  (void)state;
  mc_keypair kp;
  char err[256] = "";
  mc_key_generate(&kp);
  assert_int_equal(
      mc_key_save("/nonexistent-dir/x.key", &kp, err, sizeof err), MC_EIO);
  assert_non_null(strstr(err, "/nonexistent-dir/x.key"));
}

static void test_dev_keys(void **state) {
  (void)state;
  mc_keypair a, a2, b;
  assert_int_equal(mc_key_from_dev_name("alice", &a), 0);
  assert_int_equal(mc_key_from_dev_name("alice", &a2), 0);
  assert_int_equal(mc_key_from_dev_name("bob", &b), 0);
  assert_memory_equal(a.sk, a2.sk, sizeof a.sk);
  assert_memory_not_equal(a.pk, b.pk, sizeof a.pk);
  /* tools/vectors.py: dev_key("alice") */
  static const uint8_t alice_pk0[4] = {0x98, 0x7f, 0xfd, 0x1e};
  assert_memory_equal(a.pk, alice_pk0, 4);
  assert_int_equal(mc_key_from_dev_name("", &a), MC_EINVAL);
  assert_int_equal(mc_key_from_dev_name(NULL, &a), MC_EINVAL);
}

#define PUB "987ffd1ed321751a335c2e264a3dbd5640fad33d875362f34c3acdb40630f220"
#define SEED "0000000000000000000000000000000000000000000000000000000000000000"

static void test_load_bad_files(void **state) {
  dir *d = *state;
  static const struct {
    const char *text;
    const char *msg;
  } cases[] = {
      {"", "not a key file"},
      {"not json", "not a key file"},
      {"[1,2]", "not a key file"},
      {"{\"public\":\"" PUB "\",\"seed\":\"" SEED "\"}", "\"type\""},
      {"{\"type\":\"rsa\",\"public\":\"" PUB "\",\"seed\":\"" SEED "\"}",
       "\"type\""},
      {"{\"type\":\"ed25519\",\"seed\":\"" SEED "\"}", "\"public\""},
      {"{\"type\":\"ed25519\",\"public\":\"abc\",\"seed\":\"" SEED "\"}",
       "\"public\" must be 64 hex"},
      {"{\"type\":\"ed25519\",\"public\":\"" PUB "\"}", "\"seed\""},
      {"{\"type\":\"ed25519\",\"public\":\"" PUB "\",\"seed\":\"zz\"}",
       "\"seed\" must be 64 hex"},
      {"{\"type\":\"ed25519\",\"public\":\"" PUB "\",\"seed\":\"" SEED "\"}",
       "does not match the seed"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mc_keypair kp;
    char err[512] = "";
    write_text(d->file, cases[i].text);
    assert_int_equal(mc_key_load(d->file, &kp, err, sizeof err), MC_EINVAL);
    print_message("%s\n", err);
    assert_non_null(strstr(err, d->file));
    assert_non_null(strstr(err, cases[i].msg));
  }
}

static void test_load_missing_and_too_large(void **state) {
  dir *d = *state;
  mc_keypair kp;
  char err[512] = "";
  assert_int_equal(mc_key_load(d->file, &kp, err, sizeof err), MC_EIO);
  assert_non_null(strstr(err, d->file));
  char *big = malloc(10000);
  assert_non_null(big);
  memset(big, ' ', 9999);
  big[9999] = '\0';
  write_text(d->file, big);
  free(big);
  assert_int_equal(mc_key_load(d->file, &kp, err, sizeof err), MC_EIO);
  assert_non_null(strstr(err, "too large"));
}

/* The dev key "alice" (tools/vectors.py), as a key file's text. */
static void alice_key_text(char *out, size_t len, mc_keypair *kp) {
  char pk[2 * MC_PUBKEY_LEN + 1], seed[2 * MC_SEED_LEN + 1];
  assert_int_equal(mc_key_from_dev_name("alice", kp), 0);
  mc_hex_encode(kp->pk, MC_PUBKEY_LEN, pk);
  mc_hex_encode(kp->sk, MC_SEED_LEN, seed);
  snprintf(out, len,
           "{\"type\":\"ed25519\",\"public\":\"%s\",\"seed\":\"%s\"}\n", pk,
           seed);
}

/* A key file anyone but its owner may access is refused, saying which
 * file, its mode and the fix; owner-only modes load. */
static void test_load_mode(void **state) {
  dir *d = *state;
  static const struct {
    mode_t mode;
    int want;
    const char *shown;
  } cases[] = {
      {0600, 0, NULL},         {0400, 0, NULL},
      {0640, MC_EINVAL, "0640"}, {0604, MC_EINVAL, "0604"},
      {0644, MC_EINVAL, "0644"}, {0660, MC_EINVAL, "0660"},
      {0610, MC_EINVAL, "0610"}, {0601, MC_EINVAL, "0601"},
  };
  char text[256], fix[160];
  mc_keypair want;
  alice_key_text(text, sizeof text, &want);
  snprintf(fix, sizeof fix, "chmod 600 %s", d->file);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mc_keypair kp;
    char err[512] = "";
    write_text_mode(d->file, text, cases[i].mode);
    assert_int_equal(mc_key_load(d->file, &kp, err, sizeof err), cases[i].want);
    if (cases[i].want == 0) {
      assert_memory_equal(kp.sk, want.sk, sizeof want.sk);
      continue;
    }
    print_message("%s\n", err);
    assert_non_null(strstr(err, d->file));
    assert_non_null(strstr(err, cases[i].shown));
    assert_non_null(strstr(err, fix));
    assert_null(strchr(err, '\n')); /* one line */
  }
}

/* Only a regular file is a key file (a symlink to one is followed). */
static void test_load_not_regular(void **state) {
  dir *d = *state;
  mc_keypair kp;
  char err[512] = "";
  assert_int_equal(mc_key_load(d->path, &kp, err, sizeof err), MC_EINVAL);
  print_message("%s\n", err);
  assert_non_null(strstr(err, d->path));
  assert_non_null(strstr(err, "not a regular file"));

  char fifo[128];
  snprintf(fifo, sizeof fifo, "%s/fifo", d->path);
  assert_int_equal(mkfifo(fifo, 0600), 0);
  assert_int_equal(mc_key_load(fifo, &kp, err, sizeof err), MC_EINVAL);
  assert_non_null(strstr(err, "not a regular file"));
  unlink(fifo);

  char link[128], text[256];
  mc_keypair want;
  alice_key_text(text, sizeof text, &want);
  write_text(d->file, text);
  snprintf(link, sizeof link, "%s/link.key", d->path);
  assert_int_equal(symlink(d->file, link), 0);
  assert_int_equal(mc_key_load(link, &kp, err, sizeof err), 0);
  assert_memory_equal(kp.pk, want.pk, sizeof want.pk);
  unlink(link);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_save_load_round_trip, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_save_refuses_overwrite, setup,
                                      teardown),
      cmocka_unit_test(test_save_into_missing_dir),
      cmocka_unit_test(test_dev_keys),
      cmocka_unit_test_setup_teardown(test_load_bad_files, setup, teardown),
      cmocka_unit_test_setup_teardown(test_load_missing_and_too_large, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_load_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_load_not_regular, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
