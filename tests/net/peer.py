"""peer.py - the peer side of MiniChain's node-to-node protocol, for tests.

Written from docs/PROTOCOL.md alone (§1 framing, §2.2 handshake, §2.3
encrypted frames, §2.4-§2.5 messages, §4 blocks), with PyNaCl for the
primitives, hashlib for SHA-256 and keyed BLAKE2b, and msgpack-python for
the encoding; it shares no code with the node, so a test that passes with
it checks the node against the document, not against itself.

A Peer wraps one TCP connection.  It can dial a node (the initiator, `I`
of §2.2) or take a connection a node dialled (the responder, `R`) and run
the HELLO / WELCOME / AUTH handshake with any ed25519 key: a key in the
genesis validator list (a validator's dev key, cluster.dev_key) makes it
that validator to the node, any other key an observer.  After the
handshake every frame is sealed with ChaCha20-Poly1305 under the sender's
frame key and counter (§2.3).

The handshake is also available step by step (send_hello, read_welcome,
send_auth, read_hello, send_welcome, read_auth) with every plain frame
kept (`sent`, `received`), so a test can stop half way, relay one side's
messages to another connection or replay them later.  Low-level hooks let
a test misbehave: send raw bytes, seal a frame without sending it (to
alter or resend it), announce a frame of N bytes and send it slowly, claim
any height, or simply never read.
"""
import hashlib
import json
import os
import select
import socket
import struct
import time

import msgpack
import nacl.bindings as nb
import nacl.exceptions
import nacl.signing

# Peer message types (PROTOCOL.md §2.2 table); ERROR is §2's.
HELLO, AUTH, HEARTBEAT, TX = 1, 2, 3, 4
GET_BLOCKS, BLOCKS, WELCOME = 5, 6, 7
GET_HEADERS, HEADERS = 8, 9
ERROR, CONSENSUS = 31, 32
# Client requests a test may mix in (§2).
GET_STATUS, STATUS, GET_BLOCK, BLOCK, GET_TX = 18, 19, 22, 23, 24

VERSION = 2
TAG = 16                    # Poly1305 tag appended by the AEAD (§2.3)
PLAIN_MAX = 65536           # unauthenticated frames (§1)
MAX_FRAME = 8 << 20         # authenticated frames, --max-frame-bytes default
ZERO32 = bytes(32)
HANDSHAKE_NONCE = bytes(12)  # each handshake key seals one message (§2.2)


class Closed(Exception):
    """The other side closed (or reset) the connection."""


class ProtocolError(Exception):
    """The other side sent something PROTOCOL.md does not allow."""


def sha256(b):
    return hashlib.sha256(b).digest()


def pack(obj):
    """Canonical msgpack: str as str, bytes as bin, shortest integers."""
    return msgpack.packb(obj, use_bin_type=True)


def unpack(b):
    return msgpack.unpackb(b, raw=False, strict_map_key=False)


def kdf(secret, label, h):
    """BLAKE2b-256(key = secret, label || h), labels ASCII, no zero."""
    return hashlib.blake2b(label + h, digest_size=32, key=secret).digest()


def seal(key, nonce, ad, plaintext):
    return nb.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, ad,
                                                       nonce, key)


def open_sealed(key, nonce, ad, ciphertext):
    """Returns the plaintext, or None if it does not open."""
    try:
        return nb.crypto_aead_chacha20poly1305_ietf_decrypt(ciphertext, ad,
                                                           nonce, key)
    except nacl.exceptions.CryptoError:
        return None


def x25519(secret, public):
    """X25519; None for an all-zero result (a low-order point)."""
    try:
        out = nb.crypto_scalarmult(secret, public)
    except (nacl.exceptions.CryptoError, RuntimeError):
        return None
    return None if out == ZERO32 else out


def x25519_keypair():
    secret = os.urandom(32)
    return secret, nb.crypto_scalarmult_base(secret)


def frame_nonce(counter):
    """00 00 00 00 || counter as 8 little-endian bytes (§2.3)."""
    return bytes(4) + struct.pack("<Q", counter)


def verify(pk, sig, msg):
    try:
        nacl.signing.VerifyKey(pk).verify(msg, sig)
        return True
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False


# ---- the transcript (§2.2) ----

def h1_of(genesis, e_i, n_i, e_r, n_r):
    return sha256(pack(["mc-p2p-v2-h1", genesis, e_i, n_i, e_r, n_r]))


def h2_of(h1, pk_r, sig_r):
    return sha256(pack(["mc-p2p-v2-h2", h1, pk_r, sig_r]))


def h3_of(h2, pk_i, sig_i):
    return sha256(pack(["mc-p2p-v2-h3", h2, pk_i, sig_i]))


# ---- blocks (§4) ----

def block_hash(header):
    """SHA-256 of the header bytes: pack of the 8-field header array."""
    return sha256(pack(header))


def txid(tx):
    """SHA-256 of the signing bytes: the wire form without `sig` (§3)."""
    return sha256(pack(tx[:6]))


def merkle_root(ids):
    """RFC 6962 Merkle tree hash (§4)."""
    if not ids:
        return sha256(b"")
    if len(ids) == 1:
        return sha256(b"\x00" + ids[0])
    k = 1
    while k * 2 < len(ids):
        k *= 2
    return sha256(b"\x01" + merkle_root(ids[:k]) + merkle_root(ids[k:]))


def check_header(header, sig, height, prev_hash, prev_time, validators):
    """Raises ProtocolError unless `header` is a well-formed header at
    `height` that links to `prev_hash`, is later than `prev_time` and is
    signed by the validator it names.  Returns its hash."""
    if not (isinstance(header, list) and len(header) == 8 and
            header[0] == "mc-block-v1"):
        raise ProtocolError(f"not a header: {header!r:.200}")
    _, h, prev, ts, tx_root, state_root, count, proposer = header
    if h != height:
        raise ProtocolError(f"header at height {h}, expected {height}")
    if prev != prev_hash:
        raise ProtocolError(f"header {h}: prev_hash {prev.hex()[:16]} is "
                            f"not {prev_hash.hex()[:16]}")
    if not ts > prev_time:
        raise ProtocolError(f"header {h}: timestamp {ts} not after "
                            f"{prev_time}")
    for name, v in (("tx_root", tx_root), ("state_root", state_root),
                    ("proposer", proposer)):
        if not (isinstance(v, bytes) and len(v) == 32):
            raise ProtocolError(f"header {h}: bad {name}")
    if proposer not in validators:
        raise ProtocolError(f"header {h}: proposer {proposer.hex()[:16]} "
                            f"is not a validator")
    if not verify(proposer, sig, pack(header)):
        raise ProtocolError(f"header {h}: the proposer's signature does "
                            f"not verify")
    return block_hash(header)


def check_body(block, want_hash):
    """Raises ProtocolError unless `block` (wire form, §4) has the hash
    `want_hash`, tx_count transactions and their Merkle root."""
    header, _sig, txs, cert = block
    if block_hash(header) != want_hash:
        raise ProtocolError(f"block {header[1]}: hash is not its header's")
    if len(txs) != header[6]:
        raise ProtocolError(f"block {header[1]}: {len(txs)} txs, header "
                            f"says {header[6]}")
    if merkle_root([txid(t) for t in txs]) != header[4]:
        raise ProtocolError(f"block {header[1]}: tx_root does not match")
    if not (isinstance(cert, bytes) and 0 < len(cert) <= 1 << 20):
        raise ProtocolError(f"block {header[1]}: no commit certificate")


# ---- the genesis (§5) ----

def genesis_hash(path):
    """The genesis hash of a genesis.json, from its parsed values (§5).
    Params missing from the file take mcli genesis's defaults."""
    with open(path) as f:
        g = json.load(f)
    params = g.get("params", {})
    vals = [bytes.fromhex(v) for v in g["validators"]]
    accts = sorted((bytes.fromhex(k), int(v)) for k, v in g["alloc"].items())
    return sha256(pack(["mc-genesis-v1", g["chain_id"], g["genesis_time_ms"],
                        vals, [[k, v] for k, v in accts],
                        params.get("max_txs_per_block", 500),
                        params.get("block_interval_ms", 1000),
                        params.get("view_timeout_ms", 4000)]))


# ---- sockets ----

def connect(host, port, src=None, rcvbuf=None, timeout=5):
    """A TCP connection, from source address `src` if given (any of
    127/8 works on Linux loopback), with a receive buffer of `rcvbuf`
    bytes if given (set before connect, so the window stays small)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if src is not None:
            s.bind((src, 0))
        s.settimeout(timeout)
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def listener(host="127.0.0.1", port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(64)
    return s


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


class Peer:
    """One peer link.  `key` is a nacl SigningKey, `genesis` the genesis
    hash this side claims, `height`/`head` what it claims in its
    handshake (any values: a liar's height is just a number)."""

    def __init__(self, sock, key, genesis, height=0, head=ZERO32):
        self.sock = sock
        self.key = key
        self.pk = bytes(key.verify_key)
        self.genesis = genesis
        self.height = height
        self.head = head
        self.buf = b""
        self.sent, self.received = [], []   # plain handshake frames
        self.send_key = self.recv_key = None
        self.send_ctr = self.recv_ctr = 0
        self.remote_pk = None
        self.remote_height = self.remote_head = None
        self.rid = 0
        self.heartbeats = []     # (height, head) of every HEARTBEAT read
        self.heartbeat_times = []  # time.time() each arrived
        self.txs = []            # TX wire forms read
        self.consensus = []      # CONSENSUS payloads read
        self.on_request = None   # f(peer, msg): answer GET_HEADERS etc.

    # ---- construction ----

    @classmethod
    def dial(cls, host, port, key, genesis, height=0, head=ZERO32,
             src=None, rcvbuf=None, timeout=5):
        """Connects and runs the whole handshake as the initiator."""
        p = cls(connect(host, port, src, rcvbuf, timeout), key, genesis,
                height, head)
        try:
            p.handshake_initiator(timeout)
        except BaseException:
            p.close()
            raise
        return p

    @classmethod
    def accept(cls, lsock, key, genesis, height=0, head=ZERO32, timeout=10):
        """Takes the next connection on `lsock` and runs the handshake as
        the responder."""
        lsock.settimeout(timeout)
        sock, _ = lsock.accept()
        p = cls(sock, key, genesis, height, head)
        try:
            p.handshake_responder(timeout)
        except BaseException:
            p.close()
            raise
        return p

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def fileno(self):
        return self.sock.fileno()

    # ---- bytes ----

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError(f"waited for {n - len(self.buf)} more "
                                   f"bytes")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except ConnectionError as e:
                raise Closed(str(e)) from e
            if not chunk:
                raise Closed("the node closed the connection")
            self.buf += chunk

    def read_frame(self, timeout=5):
        """Returns (the 4 length bytes, the frame's body)."""
        deadline = time.time() + timeout
        self._fill(4, deadline)
        (n,) = struct.unpack(">I", self.buf[:4])
        limit = (MAX_FRAME + TAG) if self.recv_key else PLAIN_MAX
        if not 0 < n <= limit:
            raise ProtocolError(f"frame header announces {n} bytes")
        self._fill(4 + n, deadline)
        head, body = self.buf[:4], self.buf[4:4 + n]
        self.buf = self.buf[4 + n:]
        return head, body

    # ---- plain frames (the handshake) ----

    def send_plain(self, msg):
        data = frame(pack(msg))
        self.sent.append(data)
        self.sock.sendall(data)
        return data

    def read_plain(self, want, timeout=5):
        head, body = self.read_frame(timeout)
        self.received.append(head + body)
        msg = unpack(body)
        if not (isinstance(msg, list) and len(msg) >= 2):
            raise ProtocolError(f"not a message: {msg!r:.200}")
        if msg[0] != want:
            raise ProtocolError(f"expected type {want}, got {msg!r:.200}")
        return msg

    # ---- the handshake, initiator side (§2.2 steps 1, 3, 4) ----

    def send_hello(self, version=VERSION, genesis=None, ephemeral=None,
                   challenge=None):
        """Step 1.  Any field may be overridden (a relay forwards
        another's; a test sends a wrong version)."""
        if ephemeral is None:
            self.e_secret, self.e_public = x25519_keypair()
        else:
            self.e_secret, self.e_public = None, ephemeral
        self.my_challenge = challenge if challenge is not None \
            else os.urandom(32)
        self.hello = [HELLO, 0, version, genesis or self.genesis,
                      self.e_public, self.my_challenge]
        return self.send_plain(self.hello)

    def read_welcome(self, timeout=5):
        msg = self.read_plain(WELCOME, timeout)
        if len(msg) != 5:
            raise ProtocolError(f"WELCOME of arity {len(msg) - 2}")
        self.welcome = msg
        return msg

    def open_welcome(self, welcome=None):
        """Step 3, first half: opens WELCOME and checks sig_r.  Returns
        (pk_r, sig_r, height_r, head_r); raises ProtocolError if it does
        not open or verify."""
        _, _, e_r, n_r, sealed = welcome or self.welcome
        self.secret = x25519(self.e_secret, e_r)
        if self.secret is None:
            raise ProtocolError("low-order ephemeral key in WELCOME")
        self.h1 = h1_of(self.genesis, self.e_public, self.my_challenge,
                        e_r, n_r)
        k1 = kdf(self.secret, b"mc-p2p-v2 welcome", self.h1)
        plain = open_sealed(k1, HANDSHAKE_NONCE, self.h1, sealed)
        if plain is None:
            raise ProtocolError("WELCOME does not open")
        pk_r, sig_r, height_r, head_r = unpack(plain)
        if not verify(pk_r, sig_r, pack(["mc-p2p-responder-v2", self.h1,
                                         pk_r])):
            raise ProtocolError("sig_r does not verify")
        self.remote_pk, self.remote_height, self.remote_head = \
            pk_r, height_r, head_r
        self.sig_r = sig_r
        self.h2 = h2_of(self.h1, pk_r, sig_r)
        return pk_r, sig_r, height_r, head_r

    def auth_message(self, pk=None, sig=None):
        """AUTH for this transcript; `pk`/`sig` replace ours (a relay
        passing another node's signature off as its own)."""
        pk = pk or self.pk
        sig = sig or self.key.sign(pack(["mc-p2p-initiator-v2", self.h2,
                                         self.pk])).signature
        k2 = kdf(self.secret, b"mc-p2p-v2 auth", self.h2)
        sealed = seal(k2, HANDSHAKE_NONCE, self.h2,
                      pack([pk, sig, self.height, self.head]))
        self.sig_i = sig
        return [AUTH, 0, sealed]

    def send_auth(self, msg=None):
        """Step 3, second half, and step 4: sends AUTH, derives the frame
        keys."""
        msg = msg or self.auth_message()
        data = self.send_plain(msg)
        h3 = h3_of(self.h2, self.pk, self.sig_i)
        self.send_key = kdf(self.secret, b"mc-p2p-v2 initiator", h3)
        self.recv_key = kdf(self.secret, b"mc-p2p-v2 responder", h3)
        return data

    def handshake_initiator(self, timeout=5):
        self.send_hello()
        self.read_welcome(timeout)
        self.open_welcome()
        self.send_auth()

    # ---- the handshake, responder side (§2.2 steps 2, 3, 4) ----

    def read_hello(self, timeout=5):
        msg = self.read_plain(HELLO, timeout)
        if len(msg) != 6:
            raise ProtocolError(f"HELLO of arity {len(msg) - 2}")
        if msg[2] != VERSION or msg[3] != self.genesis:
            raise ProtocolError(f"HELLO for version {msg[2]}, genesis "
                                f"{msg[3].hex()[:16]}")
        self.hello = msg
        return msg

    def welcome_message(self, hello=None):
        _, _, _, genesis, e_i, n_i = hello or self.hello
        self.e_secret, self.e_public = x25519_keypair()
        self.my_challenge = os.urandom(32)
        self.secret = x25519(self.e_secret, e_i)
        if self.secret is None:
            raise ProtocolError("low-order ephemeral key in HELLO")
        self.h1 = h1_of(genesis, e_i, n_i, self.e_public, self.my_challenge)
        sig_r = self.key.sign(pack(["mc-p2p-responder-v2", self.h1,
                                    self.pk])).signature
        k1 = kdf(self.secret, b"mc-p2p-v2 welcome", self.h1)
        sealed = seal(k1, HANDSHAKE_NONCE, self.h1,
                      pack([self.pk, sig_r, self.height, self.head]))
        self.h2 = h2_of(self.h1, self.pk, sig_r)
        return [WELCOME, 0, self.e_public, self.my_challenge, sealed]

    def send_welcome(self, msg=None):
        return self.send_plain(msg or self.welcome_message())

    def read_auth(self, timeout=5):
        msg = self.read_plain(AUTH, timeout)
        if len(msg) != 3:
            raise ProtocolError(f"AUTH of arity {len(msg) - 2}")
        k2 = kdf(self.secret, b"mc-p2p-v2 auth", self.h2)
        plain = open_sealed(k2, HANDSHAKE_NONCE, self.h2, msg[2])
        if plain is None:
            raise ProtocolError("AUTH does not open")
        pk_i, sig_i, height_i, head_i = unpack(plain)
        if not verify(pk_i, sig_i, pack(["mc-p2p-initiator-v2", self.h2,
                                         pk_i])):
            raise ProtocolError("sig_i does not verify")
        self.remote_pk, self.remote_height, self.remote_head = \
            pk_i, height_i, head_i
        h3 = h3_of(self.h2, pk_i, sig_i)
        self.send_key = kdf(self.secret, b"mc-p2p-v2 responder", h3)
        self.recv_key = kdf(self.secret, b"mc-p2p-v2 initiator", h3)
        return msg

    def handshake_responder(self, timeout=5):
        self.read_hello(timeout)
        self.send_welcome()
        self.read_auth(timeout)

    # ---- encrypted frames (§2.3) ----

    def seal_frame(self, msg):
        """The bytes of the next encrypted frame carrying `msg` (a list,
        or payload bytes), counting it as sent: a test may alter them,
        send them twice, or never send them."""
        payload = msg if isinstance(msg, bytes) else pack(msg)
        head = struct.pack(">I", len(payload) + TAG)
        body = seal(self.send_key, frame_nonce(self.send_ctr), head, payload)
        self.send_ctr += 1
        return head + body

    def send(self, msg):
        self.sock.sendall(self.seal_frame(msg))

    def recv(self, timeout=5):
        """The next message (a list), decrypted; bookkeeping of HEARTBEAT,
        TX and CONSENSUS is done here, and requests are handed to
        on_request."""
        head, body = self.read_frame(timeout)
        payload = open_sealed(self.recv_key, frame_nonce(self.recv_ctr),
                              head, body)
        if payload is None:
            raise ProtocolError(f"frame {self.recv_ctr} does not open")
        self.recv_ctr += 1
        msg = unpack(payload)
        if not (isinstance(msg, list) and len(msg) >= 2):
            raise ProtocolError(f"not a message: {msg!r:.200}")
        if msg[0] == HEARTBEAT:
            self.heartbeats.append((msg[2], msg[3]))
            self.heartbeat_times.append(time.time())
        elif msg[0] == TX:
            self.txs.append(msg[2])
        elif msg[0] == CONSENSUS:
            self.consensus.append(msg[2])
        elif msg[0] in (GET_HEADERS, GET_BLOCKS) and self.on_request:
            self.on_request(self, msg)
        return msg

    def recv_until(self, pred, timeout=5):
        """Reads until a message satisfies pred; returns it."""
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise TimeoutError("no such message in time")
            msg = self.recv(left)
            if pred(msg):
                return msg

    def pump(self, secs):
        """Reads (and hands on) whatever comes for `secs` seconds."""
        end = time.time() + secs
        while True:
            left = end - time.time()
            if left <= 0:
                return
            try:
                self.recv(left)
            except TimeoutError:
                return

    # ---- messages ----

    def heartbeat(self, height=None, head=None):
        self.send([HEARTBEAT, 0, self.height if height is None else height,
                   self.head if head is None else head])

    def tx(self, wire):
        self.send([TX, 0, wire])

    def consensus_msg(self, payload):
        self.send([CONSENSUS, 0, payload])

    def request(self, mtype, *fields):
        self.rid += 1
        self.send([mtype, self.rid, *fields])
        return self.rid

    def answer(self, rid, want, timeout=5):
        msg = self.recv_until(lambda m: m[0] in (want, ERROR) and
                              m[1] == rid, timeout)
        if msg[0] == ERROR:
            raise ProtocolError(f"ERROR {msg[2:]}")
        if len(msg) != 3 or not isinstance(msg[2], list):
            raise ProtocolError(f"bad answer {msg!r:.200}")
        return msg[2]

    def get_headers(self, start, count, timeout=5):
        """[[header, signature, cert], ...] from height `start`."""
        return self.answer(self.request(GET_HEADERS, start, count),
                           HEADERS, timeout)

    def get_blocks(self, start, count, timeout=10):
        return self.answer(self.request(GET_BLOCKS, start, count),
                           BLOCKS, timeout)

    # ---- misbehaving ----

    def announce(self, n):
        """Sends only a frame header announcing n bytes."""
        self.sock.sendall(struct.pack(">I", n))

    def dribble(self, data, chunk=1, gap=0.1, stop=None):
        """Sends `data` `chunk` bytes at a time, `gap` s apart, until done
        or stop() is true; returns the bytes sent.  Raises Closed if the
        node closes the connection."""
        sent = 0
        while sent < len(data) and not (stop and stop()):
            try:
                self.sock.sendall(data[sent:sent + chunk])
            except (BrokenPipeError, ConnectionError) as e:
                raise Closed(str(e)) from e
            sent += chunk
            time.sleep(gap)
        return sent

    def closed_within(self, timeout):
        """True if the node closes the connection within `timeout` s;
        whatever it sends meanwhile is read and dropped."""
        return wait_closed(self.sock, timeout)


def wait_closed(sock, timeout):
    """True if the other side of `sock` closes (EOF or reset) within
    `timeout` seconds; data that arrives meanwhile is discarded."""
    deadline = time.time() + timeout
    while True:
        left = deadline - time.time()
        if left <= 0:
            return False
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            continue
        try:
            if not sock.recv(1 << 16):
                return True
        except (ConnectionError, OSError):
            return True


def check_headers(entries, start, prev_hash, prev_time, validators):
    """Checks HEADERS entries from height `start` link to `prev_hash` and
    each other (check_header); returns their hashes."""
    hashes = []
    for i, entry in enumerate(entries):
        if not (isinstance(entry, list) and len(entry) == 3):
            raise ProtocolError(f"HEADERS entry {entry!r:.200}")
        header, sig, cert = entry
        if not (isinstance(cert, bytes) and len(cert) > 0):
            raise ProtocolError(f"header {start + i}: no certificate")
        h = check_header(header, sig, start + i, prev_hash, prev_time,
                         validators)
        hashes.append(h)
        prev_hash, prev_time = h, header[3]
    return hashes
