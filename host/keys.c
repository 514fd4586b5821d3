/*
 * keys.c - ed25519 key files and deterministic development keys.
 *
 * Key files hold the 32-byte seed, from which libsodium derives the key
 * pair; the public key is stored too so that a damaged or edited file is
 * caught on load (the derived key must match it).  A key file that anyone
 * but its owner may read or write is refused on load, as ssh refuses such
 * an identity file: the key may already be exposed, and starting anyway
 * would hide that.
 */
#include "keys.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "minichain/error.h"

#define DEV_KEY_PREFIX "minichain-dev-key:"
#define KEY_FILE_MAX 4096

void mc_key_generate(mc_keypair *kp) { crypto_sign_keypair(kp->pk, kp->sk); }

int mc_key_from_dev_name(const char *name, mc_keypair *kp) {
  if (name == NULL || name[0] == '\0')
    return MC_EINVAL;
  size_t plen = strlen(DEV_KEY_PREFIX), nlen = strlen(name);
  uint8_t *msg = malloc(plen + nlen);
  if (msg == NULL)
    return MC_ENOMEM;
  memcpy(msg, DEV_KEY_PREFIX, plen);
  memcpy(msg + plen, name, nlen);
  uint8_t seed[MC_SEED_LEN];
  mc_sha256(msg, plen + nlen, seed);
  free(msg);
  crypto_sign_seed_keypair(kp->pk, kp->sk, seed);
  sodium_memzero(seed, sizeof seed);
  return 0;
}

static char *key_json(const mc_keypair *kp) {
  char pk_hex[2 * MC_PUBKEY_LEN + 1], seed_hex[2 * MC_SEED_LEN + 1];
  mc_hex_encode(kp->pk, MC_PUBKEY_LEN, pk_hex);
  mc_hex_encode(kp->sk, MC_SEED_LEN, seed_hex); /* sk = seed || pk */
  size_t n = 128 + sizeof pk_hex + sizeof seed_hex;
  char *out = malloc(n);
  if (out != NULL)
    snprintf(out, n, "{\"type\":\"ed25519\",\"public\":\"%s\",\"seed\":\"%s\"}\n",
             pk_hex, seed_hex);
  sodium_memzero(seed_hex, sizeof seed_hex);
  return out;
}

int mc_key_save(const char *path, const mc_keypair *kp, char *err,
                size_t errlen) {
  /* O_EXCL: never replace a key someone may depend on. */
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return errno == EEXIST ? MC_EINVAL : MC_EIO;
  }
  char *txt = key_json(kp);
  if (txt == NULL) {
    close(fd);
    unlink(path);
    snprintf(err, errlen, "%s: out of memory", path);
    return MC_ENOMEM;
  }
  size_t len = strlen(txt);
  ssize_t w = write(fd, txt, len);
  int ok = w == (ssize_t)len && fsync(fd) == 0;
  int saved = errno;
  sodium_memzero(txt, len);
  free(txt);
  if (close(fd) != 0 && ok) {
    ok = 0;
    saved = errno;
  }
  if (!ok) {
    unlink(path);
    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(saved));
    return MC_EIO;
  }
  return 0;
}

/* The file behind fd must be a regular file with no access for group or
 * others.  Checked on the open descriptor, so what is read is what was
 * checked.  Returns 0 or MC_EINVAL with the reason and the fix in err. */
static int check_key_file(int fd, const char *path, char *err, size_t errlen) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return MC_EIO;
  }
  if (!S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s: not a regular file%s", path,
             S_ISDIR(st.st_mode) ? " (a directory)" : "");
    return MC_EINVAL;
  }
  if ((st.st_mode & 077) != 0) {
    snprintf(err, errlen,
             "%s: mode %04o lets group or others access the secret key; "
             "run: chmod 600 %s",
             path, (unsigned)(st.st_mode & 07777), path);
    return MC_EINVAL;
  }
  return 0;
}

/* Reads all of fd (at most KEY_FILE_MAX bytes) into a NUL-terminated
 * buffer the caller frees.  NULL with the reason in err. */
static char *read_all(int fd, const char *path, char *err, size_t errlen) {
  char *buf = malloc(KEY_FILE_MAX + 1);
  size_t n = 0;
  ssize_t r = 1;
  while (buf != NULL && n <= KEY_FILE_MAX && r > 0) {
    r = read(fd, buf + n, KEY_FILE_MAX + 1 - n);
    if (r < 0 && errno == EINTR)
      r = 1;
    else if (r > 0)
      n += (size_t)r;
  }
  if (buf == NULL || r < 0 || n > KEY_FILE_MAX) {
    snprintf(err, errlen, "%s: %s", path,
             buf == NULL ? "out of memory"
             : r < 0     ? "read error"
                         : "too large for a key file");
    if (buf != NULL)
      sodium_memzero(buf, KEY_FILE_MAX + 1);
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

/* Opens, checks (check_key_file) and reads a key file.  *rc is MC_EIO when
 * it cannot be read, MC_EINVAL when it must not be. */
static char *read_key_file(const char *path, int *rc, char *err,
                           size_t errlen) {
  /* O_NONBLOCK: a FIFO at the path must be refused, not waited on. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    *rc = MC_EIO;
    return NULL;
  }
  char *txt = NULL;
  *rc = check_key_file(fd, path, err, errlen);
  if (*rc == 0 && (txt = read_all(fd, path, err, errlen)) == NULL)
    *rc = MC_EIO;
  close(fd);
  return txt;
}

static int key_from_json(const cJSON *doc, const char *path, mc_keypair *kp,
                         char *err, size_t errlen) {
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(doc, "type");
  const cJSON *pub = cJSON_GetObjectItemCaseSensitive(doc, "public");
  const cJSON *seed = cJSON_GetObjectItemCaseSensitive(doc, "seed");
  uint8_t pk[MC_PUBKEY_LEN], sd[MC_SEED_LEN];
  if (!cJSON_IsString(type) || strcmp(type->valuestring, "ed25519") != 0) {
    snprintf(err, errlen, "%s: \"type\" must be \"ed25519\"", path);
    return MC_EINVAL;
  }
  if (!cJSON_IsString(pub) ||
      mc_hex_decode(pub->valuestring, pk, sizeof pk) != 0) {
    snprintf(err, errlen, "%s: \"public\" must be 64 hex digits", path);
    return MC_EINVAL;
  }
  if (!cJSON_IsString(seed) ||
      mc_hex_decode(seed->valuestring, sd, sizeof sd) != 0) {
    snprintf(err, errlen, "%s: \"seed\" must be 64 hex digits", path);
    return MC_EINVAL;
  }
  crypto_sign_seed_keypair(kp->pk, kp->sk, sd);
  sodium_memzero(sd, sizeof sd);
  if (memcmp(kp->pk, pk, sizeof pk) != 0) {
    sodium_memzero(kp, sizeof *kp);
    snprintf(err, errlen, "%s: \"public\" does not match the seed", path);
    return MC_EINVAL;
  }
  return 0;
}

int mc_key_load(const char *path, mc_keypair *kp, char *err, size_t errlen) {
  int rc;
  char *txt = read_key_file(path, &rc, err, errlen);
  if (txt == NULL)
    return rc;
  cJSON *doc = cJSON_Parse(txt);
  sodium_memzero(txt, strlen(txt));
  free(txt);
  if (!cJSON_IsObject(doc)) {
    cJSON_Delete(doc);
    snprintf(err, errlen, "%s: not a key file (expected a JSON object)", path);
    return MC_EINVAL;
  }
  rc = key_from_json(doc, path, kp, err, errlen);
  cJSON_Delete(doc);
  return rc;
}
