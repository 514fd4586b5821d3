/*
 * cpp_store.cpp - a chain store plugin written in C++, built only against
 * the installed MiniChain SDK (examples/cpp-store).
 *
 * It shows that the SDK serves C++ authors: the headers are extern "C",
 * MC_PLUGIN_DEFINE exports an unmangled mc_plugin_entry, and the store can
 * keep its state in standard containers as long as nothing C++ crosses the
 * boundary: the vtable functions are plain functions with C types, no
 * exception escapes them (a std::bad_alloc becomes MC_ENOMEM), and the
 * blocks handed to the host are plain mc_block structs freed by free_block.
 *
 * Durability: the data directory holds one append-only file, cpp-store.log:
 *
 *   "minichain-cpp-store 1\n"                          file header
 *   record*                                            one per block
 *   record  = u32 payload_len | payload | SHA-256(payload)
 *   payload = u32 block_len | block | u32 n | n * (pubkey | u64 balance |
 *             u64 nonce)
 *
 * Integers are big-endian; `block` is the host's canonical encoding (with
 * the certificate), so the store never needs the wire format.  append()
 * writes one record at the end and fdatasyncs before returning; open()
 * replays the file, ignores a final record cut short or failing its hash
 * (a crash mid-append, overwritten by the next append) and refuses a bad
 * record anywhere else as MC_ECORRUPT, leaving the file as it was.
 *
 * Reads are served from memory: blocks in a std::vector by height, hash
 * and tx-id indexes and the accounts in std::unordered_maps.  That bounds
 * the chain by RAM, as in hello-store; it is an example.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <minichain/error.h>
#include <minichain/plugin.h>
#include <minichain/store.h>

namespace {

const char kLogName[] = "cpp-store.log";
const char kFileHeader[] = "minichain-cpp-store 1\n";
const size_t kFileHeaderLen = sizeof kFileHeader - 1;
const size_t kAccountRecLen = MC_PUBKEY_LEN + 8 + 8;
const uint32_t kMaxPayload = 256u << 20; /* a length above this is damage */

using Bytes = std::vector<uint8_t>;
using Hash = std::array<uint8_t, MC_HASH_LEN>;
using Pubkey = std::array<uint8_t, MC_PUBKEY_LEN>;

/* The bytes are already uniformly distributed (hashes, public keys). */
template <size_t N> struct ArrayHash {
  size_t operator()(const std::array<uint8_t, N> &a) const noexcept {
    size_t h;
    std::memcpy(&h, a.data(), sizeof h);
    return h;
  }
};

template <size_t N> std::array<uint8_t, N> to_array(const uint8_t *p) {
  std::array<uint8_t, N> a;
  std::memcpy(a.data(), p, N);
  return a;
}

/* A block the store owns: the host's pointers live only during a call. */
struct Block {
  mc_block b; /* txs and cert point into the vectors below */
  std::vector<mc_tx> txs;
  Bytes cert;

  explicit Block(const mc_block &src)
      : b(src), txs(src.txs, src.txs + (src.txs ? src.header.tx_count : 0)),
        cert(src.cert, src.cert + (src.cert ? src.cert_len : 0)) {
    b.txs = txs.empty() ? nullptr : txs.data();
    b.cert = cert.empty() ? nullptr : cert.data();
  }
  Block(const Block &) = delete;
  Block &operator=(const Block &) = delete;
};

struct TxPos {
  uint64_t height;
  uint32_t index;
};

void put_u32(Bytes &out, uint32_t v) {
  for (int i = 3; i >= 0; i--)
    out.push_back(uint8_t(v >> (8 * i)));
}

void put_u64(Bytes &out, uint64_t v) {
  for (int i = 7; i >= 0; i--)
    out.push_back(uint8_t(v >> (8 * i)));
}

uint32_t get_u32(const uint8_t *p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 |
         p[3];
}

uint64_t get_u64(const uint8_t *p) {
  return uint64_t(get_u32(p)) << 32 | get_u32(p + 4);
}

int write_all(int fd, const uint8_t *p, size_t len, off_t at) {
  while (len > 0) {
    ssize_t n = pwrite(fd, p, len, at);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return MC_EIO;
    p += n, len -= size_t(n), at += n;
  }
  return 0;
}

} // namespace

/* The SDK declares struct mc_store; a C++ plugin defines it like any
 * other. */
struct mc_store {
  const mc_host_api *api = nullptr;
  mc_host *host = nullptr;
  int fd = -1;
  off_t end = 0;     /* end of the last good record: where the next goes */
  bool torn = false; /* bytes of a crashed append follow `end` */
  std::vector<std::unique_ptr<Block>> blocks; /* blocks[h] is height h */
  std::unordered_map<Hash, uint64_t, ArrayHash<MC_HASH_LEN>> by_hash;
  std::unordered_map<Hash, TxPos, ArrayHash<MC_HASH_LEN>> txs;
  std::unordered_map<Pubkey, mc_account, ArrayHash<MC_PUBKEY_LEN>> accounts;

  ~mc_store() {
    if (fd >= 0)
      close(fd);
  }

  /* Height head+1 (0 when empty) and prev_hash the head's hash. */
  bool links(const mc_block &b) const {
    if (b.header.height != blocks.size())
      return false;
    return blocks.empty() || std::memcmp(b.header.prev_hash,
                                         blocks.back()->b.hash,
                                         MC_HASH_LEN) == 0;
  }

  /*
   * A block becomes visible in two steps: prepare() does every allocation
   * (it may throw std::bad_alloc and changes nothing), commit() only moves
   * what prepare() built into place and cannot fail.  append() writes the
   * durable record between the two, so memory and file never disagree.
   */
  struct Pending {
    std::unique_ptr<Block> block;
    std::unordered_map<Hash, uint64_t, ArrayHash<MC_HASH_LEN>> by_hash;
    std::unordered_map<Hash, TxPos, ArrayHash<MC_HASH_LEN>> txs;
    std::unordered_map<Pubkey, mc_account, ArrayHash<MC_PUBKEY_LEN>> accounts;
  };

  Pending prepare(const mc_block &b, const mc_account *changes,
                  size_t n) {
    Pending p;
    p.block.reset(new Block(b));
    uint64_t height = b.header.height;
    p.by_hash.emplace(to_array<MC_HASH_LEN>(b.hash), height);
    for (uint32_t i = 0; i < b.header.tx_count; i++)
      p.txs.emplace(to_array<MC_HASH_LEN>(b.txs[i].id), TxPos{height, i});
    for (size_t i = 0; i < n; i++)
      p.accounts[to_array<MC_PUBKEY_LEN>(changes[i].pubkey)] = changes[i];
    /* Room for everything, so that commit()'s merges never rehash. */
    blocks.reserve(blocks.size() + 1);
    by_hash.reserve(by_hash.size() + p.by_hash.size());
    txs.reserve(txs.size() + p.txs.size());
    accounts.reserve(accounts.size() + p.accounts.size());
    return p;
  }

  void commit(Pending &p) noexcept {
    for (auto &kv : p.accounts) {
      auto it = accounts.find(kv.first);
      if (it != accounts.end())
        it->second = kv.second;
    }
    /* merge() relinks nodes, and leaves behind the keys already here. */
    accounts.merge(p.accounts);
    by_hash.merge(p.by_hash);
    txs.merge(p.txs);
    blocks.push_back(std::move(p.block));
  }

  int encode_record(const mc_block &b, const mc_account *changes, size_t n,
                    Bytes &rec) {
    uint8_t *blk = nullptr;
    size_t blen = 0;
    int rc = api->encode_block(host, &b, &blk, &blen);
    if (rc != 0)
      return rc;
    size_t plen = 4 + blen + 4 + n * kAccountRecLen;
    if (plen > kMaxPayload) {
      api->buf_free(host, blk);
      return MC_ETOOBIG;
    }
    try {
      rec.reserve(4 + plen + MC_HASH_LEN);
      put_u32(rec, uint32_t(plen));
      put_u32(rec, uint32_t(blen));
      rec.insert(rec.end(), blk, blk + blen);
    } catch (...) {
      api->buf_free(host, blk);
      throw;
    }
    api->buf_free(host, blk);
    put_u32(rec, uint32_t(n));
    for (size_t i = 0; i < n; i++) {
      rec.insert(rec.end(), changes[i].pubkey,
                 changes[i].pubkey + MC_PUBKEY_LEN);
      put_u64(rec, changes[i].balance);
      put_u64(rec, changes[i].nonce);
    }
    uint8_t h[MC_HASH_LEN];
    api->hash(host, rec.data() + 4, plen, h);
    rec.insert(rec.end(), h, h + MC_HASH_LEN);
    return 0;
  }

  /* Writes rec at `end` durably; on failure cuts the file back to `end`. */
  int write_record(const Bytes &rec) {
    /* A torn tail goes first: a shorter record must not leave its bytes. */
    if (torn && ftruncate(fd, end) != 0)
      return MC_EIO;
    torn = false;
    int rc = write_all(fd, rec.data(), rec.size(), end);
    if (rc == 0 && fdatasync(fd) != 0)
      rc = MC_EIO;
    if (rc != 0) {
      if (ftruncate(fd, end) != 0)
        torn = true; /* still refused; open ignores the tail */
      return rc;
    }
    end += off_t(rec.size());
    return 0;
  }

  /* Applies one record's payload (its hash already checked). */
  int replay_payload(const uint8_t *p, size_t len) {
    if (len < 8)
      return MC_ECORRUPT;
    uint32_t blen = get_u32(p);
    if (blen > len - 8)
      return MC_ECORRUPT;
    const uint8_t *acc = p + 4 + blen + 4;
    uint32_t n = get_u32(acc - 4);
    if (size_t(n) * kAccountRecLen != len - 8 - blen)
      return MC_ECORRUPT;
    mc_block *b = nullptr;
    if (api->decode_block(host, p + 4, blen, &b) != 0)
      return MC_ECORRUPT;
    int rc = links(*b) ? 0 : MC_ECORRUPT;
    if (rc == 0) {
      std::vector<mc_account> changes(n);
      for (uint32_t i = 0; i < n; i++, acc += kAccountRecLen) {
        std::memcpy(changes[i].pubkey, acc, MC_PUBKEY_LEN);
        changes[i].balance = get_u64(acc + MC_PUBKEY_LEN);
        changes[i].nonce = get_u64(acc + MC_PUBKEY_LEN + 8);
      }
      try {
        Pending p = prepare(*b, changes.data(), n);
        commit(p);
      } catch (...) {
        api->block_free(host, b);
        throw;
      }
    }
    api->block_free(host, b);
    return rc;
  }

  /* Replays buf; a bad final record is a torn append, a bad record
   * followed by more data is damage. */
  int replay(const Bytes &buf, char *err, size_t errlen) {
    size_t off = kFileHeaderLen, len = buf.size();
    while (off < len) {
      size_t left = len - off;
      uint32_t plen = left >= 4 ? get_u32(&buf[off]) : 0;
      if (left < 4 || plen > kMaxPayload || left - 4 < plen + MC_HASH_LEN)
        break; /* cut short: the tail of a crashed append */
      uint8_t h[MC_HASH_LEN];
      api->hash(host, &buf[off + 4], plen, h);
      size_t next = off + 4 + plen + MC_HASH_LEN;
      bool ok = std::memcmp(h, &buf[off + 4 + plen], MC_HASH_LEN) == 0;
      if (!ok && next == len)
        break; /* torn final record */
      int rc = ok ? replay_payload(&buf[off + 4], plen) : MC_ECORRUPT;
      if (rc != 0) {
        std::snprintf(err, errlen, "%s: bad record at byte %zu (block %zu)",
                      kLogName, off, blocks.size());
        return rc;
      }
      off = next;
    }
    end = off_t(off);
    torn = off < len;
    return 0;
  }

  /* Opens dir/kLogName, creating it (header written and synced, with the
   * directory) when absent or left empty by a crash. */
  int open_log(const std::string &dir, char *err, size_t errlen) {
    std::string path = dir + "/" + kLogName;
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    bool created = false;
    if (fd < 0 && errno == ENOENT) {
      fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      created = true;
    }
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
      std::snprintf(err, errlen, "%s: %s", path.c_str(), std::strerror(errno));
      return MC_EIO;
    }
    if (st.st_size != 0)
      return 0;
    int rc = write_all(fd, reinterpret_cast<const uint8_t *>(kFileHeader),
                       kFileHeaderLen, 0);
    if (rc == 0 && fsync(fd) != 0)
      rc = MC_EIO;
    if (rc == 0 && created) {
      /* The name must survive a crash as well as the bytes. */
      int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dfd < 0 || fsync(dfd) != 0)
        rc = MC_EIO;
      if (dfd >= 0)
        close(dfd);
    }
    if (rc != 0)
      std::snprintf(err, errlen, "%s: cannot create: %s", path.c_str(),
                    std::strerror(errno));
    return rc;
  }

  int load_log(char *err, size_t errlen) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
      std::snprintf(err, errlen, "%s: %s", kLogName, std::strerror(errno));
      return MC_EIO;
    }
    Bytes buf(size_t(st.st_size));
    for (size_t got = 0; got < buf.size();) {
      ssize_t n = pread(fd, buf.data() + got, buf.size() - got, off_t(got));
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        std::snprintf(err, errlen, "%s: cannot read", kLogName);
        return MC_EIO;
      }
      got += size_t(n);
    }
    /* The name is ours, so a wrong header is damage, not another store. */
    if (buf.size() < kFileHeaderLen ||
        std::memcmp(buf.data(), kFileHeader, kFileHeaderLen) != 0) {
      std::snprintf(err, errlen, "%s: bad file header, not a cpp-store log",
                    kLogName);
      return MC_ECORRUPT;
    }
    return replay(buf, err, errlen);
  }
};

namespace {

/* A copy for the host, in plain C memory layout; freed by cpp_free_block. */
int new_block_copy(const Block &src, mc_block **out) {
  mc_block *b = new (std::nothrow) mc_block(src.b);
  if (b == nullptr)
    return MC_ENOMEM;
  b->txs = nullptr;
  b->cert = nullptr;
  if (!src.txs.empty()) {
    b->txs = new (std::nothrow) mc_tx[src.txs.size()];
    if (b->txs == nullptr) {
      delete b;
      return MC_ENOMEM;
    }
    std::memcpy(b->txs, src.txs.data(), src.txs.size() * sizeof(mc_tx));
  }
  if (!src.cert.empty()) {
    b->cert = new (std::nothrow) uint8_t[src.cert.size()];
    if (b->cert == nullptr) {
      delete[] b->txs;
      delete b;
      return MC_ENOMEM;
    }
    std::memcpy(b->cert, src.cert.data(), src.cert.size());
  }
  *out = b;
  return 0;
}

/* ---- the vtable: C types only, and no exception leaves it ---------------- */

int cpp_open(const mc_host_api *api, mc_host *host, const char *dir,
             mc_store **out, char *err, size_t errlen) {
  if (out != nullptr)
    *out = nullptr;
  if (api == nullptr || dir == nullptr || out == nullptr) {
    std::snprintf(err, errlen, "cpp-store: open needs the host api and a dir");
    return MC_EINVAL;
  }
  try {
    std::unique_ptr<mc_store> s(new mc_store);
    s->api = api;
    s->host = host;
    int rc = s->open_log(dir, err, errlen);
    if (rc == 0)
      rc = s->load_log(err, errlen);
    if (rc != 0)
      return rc;
    mc_log_field f[] = {MC_LOG_F_U("blocks", s->blocks.size())};
    api->log(host, MC_LOG_INFO, "cpp_store_opened", f, 1);
    *out = s.release();
    return 0;
  } catch (const std::bad_alloc &) {
    std::snprintf(err, errlen, "cpp-store: out of memory");
    return MC_ENOMEM;
  }
}

void cpp_close(mc_store *s) { delete s; }

int cpp_head(mc_store *s, uint64_t *height, uint8_t hash[MC_HASH_LEN]) {
  if (s->blocks.empty())
    return MC_ENOTFOUND;
  const mc_block &top = s->blocks.back()->b;
  *height = top.header.height;
  std::memcpy(hash, top.hash, MC_HASH_LEN);
  return 0;
}

/* Everything that can fail (allocation, encoding, the write) happens
 * before the block is visible; see mc_store::prepare. */
int cpp_append(mc_store *s, const mc_block *b, const mc_account *changes,
               size_t n) {
  if (!s->links(*b))
    return MC_ELINK;
  try {
    mc_store::Pending p = s->prepare(*b, changes, n);
    Bytes rec;
    int rc = s->encode_record(*b, changes, n, rec);
    if (rc == 0)
      rc = s->write_record(rec);
    if (rc != 0)
      return rc;
    s->commit(p);
    return 0;
  } catch (const std::bad_alloc &) {
    return MC_ENOMEM;
  }
}

int cpp_get_block(mc_store *s, uint64_t height, mc_block **out) {
  if (height >= s->blocks.size())
    return MC_ENOTFOUND;
  return new_block_copy(*s->blocks[height], out);
}

int cpp_get_block_by_hash(mc_store *s, const uint8_t hash[MC_HASH_LEN],
                          mc_block **out) {
  auto it = s->by_hash.find(to_array<MC_HASH_LEN>(hash));
  if (it == s->by_hash.end())
    return MC_ENOTFOUND;
  return new_block_copy(*s->blocks[it->second], out);
}

void cpp_free_block(mc_store *s, mc_block *b) {
  (void)s;
  if (b == nullptr)
    return;
  delete[] b->txs;
  delete[] b->cert;
  delete b;
}

int cpp_get_account(mc_store *s, const uint8_t pubkey[MC_PUBKEY_LEN],
                    mc_account *out) {
  auto it = s->accounts.find(to_array<MC_PUBKEY_LEN>(pubkey));
  if (it == s->accounts.end())
    return MC_ENOTFOUND;
  *out = it->second;
  return 0;
}

int cpp_each_account(mc_store *s, mc_account_cb cb, void *arg) {
  for (const auto &kv : s->accounts) {
    int rc = cb(arg, &kv.second);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int cpp_find_tx(mc_store *s, const uint8_t txid[MC_HASH_LEN],
                uint64_t *height, uint32_t *index) {
  auto it = s->txs.find(to_array<MC_HASH_LEN>(txid));
  if (it == s->txs.end())
    return MC_ENOTFOUND;
  *height = it->second.height;
  *index = it->second.index;
  return 0;
}

/* Positional: designated initializers are C++20, and the field order is
 * the ABI anyway (pinned by tests/abi/layout.c). */
const mc_store_vtable cpp_vtable = {
    sizeof(mc_store_vtable),
    cpp_open,
    cpp_close,
    cpp_head,
    cpp_append,
    cpp_get_block,
    cpp_get_block_by_hash,
    cpp_free_block,
    cpp_get_account,
    cpp_each_account,
    cpp_find_tx,
};

} // namespace

MC_PLUGIN_DEFINE(MC_PLUGIN_STORE, "cpp", "0.1.0",
                 "Append-only log store in C++ (the SDK's C++ example)",
                 &cpp_vtable)
