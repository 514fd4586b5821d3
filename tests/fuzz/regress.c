/*
 * regress.c - runs a fuzz target over every file of the corpus folders
 * given as arguments, so that ctest replays each input a fuzzing campaign
 * saved (no libFuzzer needed).  Exits 0 when every input was run, 1 when a
 * folder cannot be read or holds no input at all.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "fuzz.h"

#define FUZZ_MAX_INPUT (1u << 20)

static int run_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d == NULL) {
    perror(dir);
    return -1;
  }
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    uint8_t *data = NULL;
    size_t len = 0;
    if (mc_read_file(path, FUZZ_MAX_INPUT, &data, &len) != 0) {
      fprintf(stderr, "%s: cannot read\n", path);
      closedir(d);
      return -1;
    }
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    n++;
  }
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  int total = 0;
  for (int i = 1; i < argc; i++) {
    int n = run_dir(argv[i]);
    if (n <= 0) {
      fprintf(stderr, "%s: no inputs\n", argv[i]);
      return 1;
    }
    total += n;
  }
  printf("%d inputs run\n", total);
  return argc > 1 ? 0 : 1;
}
