/*
 * minichain/error.h - error codes shared by the host and every plugin.
 *
 * Every MiniChain function that can fail returns 0 (MC_OK) or one of the
 * negative codes below, the libuv way.  mc_strerror() and mc_err_name() are
 * static inline so that a plugin can name an error without linking against
 * any host symbol (plugins are built with -Wl,-z,defs and must never
 * reference the host).
 *
 * Codes are part of the ABI: a code, once given a number, keeps it.  New
 * codes are appended with the next free number.
 */
#ifndef MINICHAIN_ERROR_H
#define MINICHAIN_ERROR_H

/* X(NAME, number, message) */
#define MC_ERRNO_MAP(X)                                                        \
  X(EINVAL, -1, "invalid argument")                                            \
  X(ENOMEM, -2, "out of memory")                                               \
  X(EIO, -3, "input/output error")                                             \
  X(ENOTFOUND, -4, "not found")                                                \
  X(ECORRUPT, -5, "stored data is corrupt")                                    \
  X(EFOREIGN, -6, "data belongs to another chain or store")                    \
  X(ELINK, -7, "block does not link to the chain head")                        \
  X(EDECODE, -8, "malformed encoding")                                         \
  X(ESIG, -9, "bad signature")                                                 \
  X(ECHAINID, -10, "wrong chain id")                                           \
  X(ENONCE, -11, "nonce already used")                                         \
  X(ENONCEGAP, -12, "nonce too far ahead")                                     \
  X(EBALANCE, -13, "insufficient balance")                                     \
  X(EOVERFLOW, -14, "balance would overflow")                                  \
  X(EFULL, -15, "capacity reached")                                            \
  X(EDUP, -16, "already known")                                                \
  X(EVERSION, -17, "incompatible version")                                     \
  X(ETXROOT, -18, "transaction root mismatch")                                 \
  X(ESTATEROOT, -19, "state root mismatch")                                    \
  X(EPROPOSER, -20, "wrong block proposer")                                    \
  X(ETIME, -21, "bad block timestamp")                                         \
  X(ECERT, -22, "invalid commit certificate")                                  \
  X(ENOTCONN, -23, "peer not connected")                                       \
  X(ETOOBIG, -24, "too large")                                                 \
  X(EZERO, -25, "zero amount")                                                 \
  X(ESELF, -26, "transfer to self")                                            \
  X(ESTATE, -27, "operation not valid in the current state")                   \
  X(EKIND, -28, "wrong plugin kind")                                           \
  X(ENOSYS, -29, "function not provided")

typedef enum mc_errno {
  MC_OK = 0,
#define MC__ERRNO_ENUM(name, num, msg) MC_##name = (num),
  MC_ERRNO_MAP(MC__ERRNO_ENUM)
#undef MC__ERRNO_ENUM
} mc_errno;

/*
 * Returns a static, human readable description of err ("ok" for 0,
 * "unknown error" for a code this header does not know).  Never NULL.
 */
static inline const char *mc_strerror(int err) {
  switch (err) {
  case 0:
    return "ok";
#define MC__ERRNO_MSG(name, num, msg)                                          \
  case num:                                                                    \
    return msg;
    MC_ERRNO_MAP(MC__ERRNO_MSG)
#undef MC__ERRNO_MSG
  default:
    return "unknown error";
  }
}

/*
 * Returns the static symbolic name of err without the MC_ prefix ("OK",
 * "EINVAL", ...), or "UNKNOWN".  Never NULL.  Stable across versions, so it
 * is the right thing to put in logs and machine-readable output.
 */
static inline const char *mc_err_name(int err) {
  switch (err) {
  case 0:
    return "OK";
#define MC__ERRNO_NAME(name, num, msg)                                         \
  case num:                                                                    \
    return #name;
    MC_ERRNO_MAP(MC__ERRNO_NAME)
#undef MC__ERRNO_NAME
  default:
    return "UNKNOWN";
  }
}

#endif /* MINICHAIN_ERROR_H */
