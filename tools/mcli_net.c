/*
 * mcli_net.c - mcli's connection to a node: one TCP socket with timeouts,
 * carrying the framed protocol (docs/PROTOCOL.md).
 *
 * Most commands make one request at a time and wait for its answer, so a
 * blocking socket is simpler than an event loop and just as good.  Every
 * wait is bounded (connect by poll, reads and writes by SO_RCVTIMEO and
 * SO_SNDTIMEO) so that a silent node cannot hang a script.
 *
 * `mcli load` needs many requests in flight instead (a node answers them
 * in order, docs/PROTOCOL.md §2): the mcli_pipe functions at the end turn
 * a connection non-blocking and give it an output buffer that collects
 * many frames for one send() and an input buffer that yields the answers
 * as they arrive.  The caller's poll() loop decides when to call them.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "mcli.h"
#include "minichain/error.h"
#include "net/frame.h"

/* Waits for a non-blocking connect to finish; returns 0 or an errno. */
static int finish_connect(int fd, int timeout_s) {
  struct pollfd p = {.fd = fd, .events = POLLOUT};
  int r;
  do
    r = poll(&p, 1, timeout_s * 1000);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return errno;
  if (r == 0)
    return ETIMEDOUT;
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
    return errno;
  return soerr;
}

/* Connects one resolved address; returns the blocking socket or -errno. */
static int connect_addr(const struct addrinfo *ai, int timeout_s) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                  ai->ai_protocol);
  if (fd < 0)
    return -errno;
  int flags = fcntl(fd, F_GETFL);
  int e = 0;
  if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    e = errno;
  else if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
    e = errno == EINPROGRESS ? finish_connect(fd, timeout_s) : errno;
  if (e == 0 && fcntl(fd, F_SETFL, flags) != 0)
    e = errno;
  struct timeval tv = {.tv_sec = timeout_s};
  if (e == 0 && (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
                 setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0))
    e = errno;
  if (e != 0) {
    close(fd);
    return -e;
  }
  int one = 1;
  /* Requests are small and answered at once: do not let Nagle wait. */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int mcli_connect(mcli_conn *c, const char *node, int timeout_s, char *err,
                 size_t errlen) {
  char host[256], port_s[8];
  uint16_t port;
  c->fd = -1;
  c->next_rid = 1;
  snprintf(c->node, sizeof c->node, "%s", node);
  if (mc_parse_hostport(node, host, sizeof host, &port, 0) != 0) {
    snprintf(err, errlen, "--node: expected HOST:PORT, got '%s'", node);
    return MC_EINVAL;
  }
  snprintf(port_s, sizeof port_s, "%u", port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
  struct addrinfo *res;
  int gai = getaddrinfo(host, port_s, &hints, &res);
  if (gai != 0) {
    snprintf(err, errlen, "%s: %s", node, gai_strerror(gai));
    return MC_EIO;
  }
  int last = ECONNREFUSED;
  for (struct addrinfo *ai = res; ai != NULL && c->fd < 0; ai = ai->ai_next) {
    int fd = connect_addr(ai, timeout_s);
    if (fd >= 0)
      c->fd = fd;
    else
      last = -fd;
  }
  freeaddrinfo(res);
  if (c->fd < 0) {
    snprintf(err, errlen, "cannot connect to %s: %s", node, strerror(last));
    return MC_EIO;
  }
  return 0;
}

void mcli_close(mcli_conn *c) {
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return w < 0 ? errno : EPIPE;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Reads exactly n bytes; returns 0, an errno, or ECONNRESET at EOF. */
static int read_all(int fd, uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
    if (r == 0)
      return ECONNRESET;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Reads one frame's payload into a malloc'd buffer. */
static int read_frame(mcli_conn *c, uint8_t **out, size_t *out_len, char *err,
                      size_t errlen) {
  uint8_t hdr[MC_FRAME_HEADER_LEN];
  int e = read_all(c->fd, hdr, sizeof hdr);
  if (e == 0) {
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                   (uint32_t)hdr[2] << 8 | hdr[3];
    if (len == 0 || len > MC_DEFAULT_MAX_FRAME) {
      snprintf(err, errlen, "%s sent a frame of %u bytes (limit %u)", c->node,
               len, MC_DEFAULT_MAX_FRAME);
      return MC_EDECODE;
    }
    uint8_t *buf = malloc(len);
    if (buf == NULL) {
      snprintf(err, errlen, "out of memory");
      return MC_ENOMEM;
    }
    e = read_all(c->fd, buf, len);
    if (e == 0) {
      *out = buf;
      *out_len = len;
      return 0;
    }
    free(buf);
  }
  snprintf(err, errlen, "reading from %s: %s", c->node,
           e == ECONNRESET ? "connection closed by the node" : strerror(e));
  return MC_EIO;
}

/* Checks that the decoded answer is the one asked for. */
static int check_answer(const mcli_conn *c, const mc_msg *resp, uint64_t rid,
                        uint32_t want_type, char *err, size_t errlen) {
  if (resp->type == MC_MSG_ERROR) {
    snprintf(err, errlen, "%s refused the request: %s (%s)", c->node,
             resp->u.error.message, mc_err_name(resp->u.error.code));
    return resp->u.error.code < 0 ? resp->u.error.code : MC_EIO;
  }
  if (resp->type != want_type || resp->rid != rid) {
    snprintf(err, errlen,
             "%s answered with message type %u id %llu, expected type %u "
             "id %llu",
             c->node, resp->type, (unsigned long long)resp->rid, want_type,
             (unsigned long long)rid);
    return MC_EDECODE;
  }
  return 0;
}

int mcli_request(mcli_conn *c, mc_msg *req, uint32_t want_type, mc_msg *resp,
                 char *err, size_t errlen) {
  uint8_t *frame;
  size_t len;
  memset(resp, 0, sizeof *resp);
  req->rid = c->next_rid++;
  int rc = mc_msg_encode_frame(req, &frame, &len);
  if (rc != 0) {
    snprintf(err, errlen, "cannot encode the request: %s", mc_strerror(rc));
    return rc;
  }
  int e = write_all(c->fd, frame, len);
  free(frame);
  if (e != 0) {
    snprintf(err, errlen, "sending to %s: %s", c->node, strerror(e));
    return MC_EIO;
  }
  uint8_t *payload;
  rc = read_frame(c, &payload, &len, err, errlen);
  if (rc != 0)
    return rc;
  rc = mc_msg_decode(payload, len, resp);
  free(payload);
  if (rc != 0) {
    snprintf(err, errlen, "%s sent a message mcli cannot decode: %s", c->node,
             mc_strerror(rc));
    return rc;
  }
  rc = check_answer(c, resp, req->rid, want_type, err, errlen);
  if (rc != 0) {
    mc_msg_clear(resp);
    memset(resp, 0, sizeof *resp);
  }
  return rc;
}

/* ---- pipelined connections ---- */

/* One recv() asks for this much; a block answer larger than that grows
 * the buffer to its frame's length (at most MC_DEFAULT_MAX_FRAME). */
#define PIPE_READ_CHUNK (256u << 10)

int mcli_pipe_open(mcli_pipe *p, const char *node, int timeout_s, char *err,
                   size_t errlen) {
  memset(p, 0, sizeof *p);
  int rc = mcli_connect(&p->conn, node, timeout_s, err, errlen);
  if (rc != 0)
    return rc;
  int flags = fcntl(p->conn.fd, F_GETFL);
  if (flags < 0 || fcntl(p->conn.fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    snprintf(err, errlen, "%s: %s", node, strerror(errno));
    mcli_close(&p->conn);
    return MC_EIO;
  }
  return 0;
}

void mcli_pipe_close(mcli_pipe *p) {
  mcli_close(&p->conn);
  free(p->out);
  free(p->in);
  p->out = p->in = NULL;
  p->out_len = p->out_off = p->out_cap = 0;
  p->in_len = p->in_off = p->in_cap = 0;
}

/* Makes room for n more bytes at the end of *buf (holding len of cap). */
static int reserve(uint8_t **buf, size_t *cap, size_t len, size_t n) {
  if (len + n <= *cap)
    return 0;
  size_t want = *cap < 4096 ? 4096 : *cap;
  while (want < len + n)
    want *= 2;
  uint8_t *nb = realloc(*buf, want);
  if (nb == NULL)
    return MC_ENOMEM;
  *buf = nb;
  *cap = want;
  return 0;
}

int mcli_pipe_queue(mcli_pipe *p, mc_msg *req, char *err, size_t errlen) {
  uint8_t *frame;
  size_t len;
  req->rid = p->conn.next_rid++;
  int rc = mc_msg_encode_frame(req, &frame, &len);
  if (rc != 0) {
    snprintf(err, errlen, "cannot encode the request: %s", mc_strerror(rc));
    return rc;
  }
  /* Sent bytes are dropped from the front only here, when they are the
   * larger part, so a long run does not move the buffer every time. */
  if (p->out_off > 0 && p->out_off >= p->out_len - p->out_off) {
    memmove(p->out, p->out + p->out_off, p->out_len - p->out_off);
    p->out_len -= p->out_off;
    p->out_off = 0;
  }
  rc = reserve(&p->out, &p->out_cap, p->out_len, len);
  if (rc == 0) {
    memcpy(p->out + p->out_len, frame, len);
    p->out_len += len;
  } else {
    snprintf(err, errlen, "out of memory");
  }
  free(frame);
  return rc;
}

size_t mcli_pipe_unsent(const mcli_pipe *p) { return p->out_len - p->out_off; }

int mcli_pipe_flush(mcli_pipe *p, char *err, size_t errlen) {
  while (p->out_off < p->out_len) {
    ssize_t w = send(p->conn.fd, p->out + p->out_off, p->out_len - p->out_off,
                     MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0; /* the rest when poll says POLLOUT */
    if (w <= 0) {
      snprintf(err, errlen, "sending to %s: %s", p->conn.node,
               w < 0 ? strerror(errno) : "connection closed");
      return MC_EIO;
    }
    p->out_off += (size_t)w;
  }
  p->out_off = p->out_len = 0;
  return 0;
}

int mcli_pipe_fill(mcli_pipe *p, char *err, size_t errlen) {
  if (p->in_off > 0) { /* what was decoded leaves the buffer once a read */
    memmove(p->in, p->in + p->in_off, p->in_len - p->in_off);
    p->in_len -= p->in_off;
    p->in_off = 0;
  }
  for (;;) {
    if (reserve(&p->in, &p->in_cap, p->in_len, PIPE_READ_CHUNK) != 0) {
      snprintf(err, errlen, "out of memory");
      return MC_ENOMEM;
    }
    ssize_t r = recv(p->conn.fd, p->in + p->in_len, PIPE_READ_CHUNK, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (r <= 0) {
      snprintf(err, errlen, "reading from %s: %s", p->conn.node,
               r == 0 ? "connection closed by the node" : strerror(errno));
      return MC_EIO;
    }
    p->in_len += (size_t)r;
    /* One chunk a call: the caller decodes it before the buffer grows,
     * so the buffer stays near one frame plus one chunk. */
    return 0;
  }
}

int mcli_pipe_next(mcli_pipe *p, mc_msg *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  size_t have = p->in_len - p->in_off;
  const uint8_t *at = p->in + p->in_off;
  if (have < MC_FRAME_HEADER_LEN)
    return 0;
  uint32_t len = mc_frame_length(at);
  if (len == 0 || len > MC_DEFAULT_MAX_FRAME) {
    snprintf(err, errlen, "%s sent a frame of %u bytes (limit %u)",
             p->conn.node, len, MC_DEFAULT_MAX_FRAME);
    return MC_EDECODE;
  }
  size_t whole = MC_FRAME_HEADER_LEN + (size_t)len;
  if (have < whole)
    return 0;
  /* Nothing decoded points into the buffer for the messages a client
   * receives (only CONSENSUS, WELCOME and AUTH do), so it may move. */
  int rc = mc_msg_decode(at + MC_FRAME_HEADER_LEN, len, out);
  if (rc != 0) {
    snprintf(err, errlen, "%s sent a message mcli cannot decode: %s",
             p->conn.node, mc_strerror(rc));
    return rc;
  }
  p->in_off += whole;
  if (p->in_off == p->in_len) {
    p->in_off = p->in_len = 0;
    if (p->in_cap > 4 * PIPE_READ_CHUNK) {
      free(p->in); /* a large block answer's buffer is not kept */
      p->in = NULL;
      p->in_cap = 0;
    }
  }
  return 1;
}
