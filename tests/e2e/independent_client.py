#!/usr/bin/python3
"""independent_client.py - a MiniChain client written from docs/PROTOCOL.md.

It shares no code with the node: PyNaCl for ed25519 and msgpack-python for
the encoding, following the specification alone.  It derives a development
key, builds and signs a transfer, submits it over the framed TCP protocol,
polls until the transfer is committed, and then checks the block it landed
in (hash, proposer signature, Merkle root) and the sender's account.  It
also checks that a malformed frame is answered with ERROR.

mcli is used only to set up the node (the validator's key file and the
genesis); every message to the node is built here.

    independent_client.py --mchost PATH --mcli PATH --plugin-dir DIR
    independent_client.py --example      (prints the worked example)
"""
import argparse
import hashlib
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import msgpack
import nacl.signing

# Message types (PROTOCOL.md, "Client messages").
SUBMIT_TX, SUBMIT_RESULT = 16, 17
GET_STATUS, STATUS = 18, 19
GET_ACCOUNT, ACCOUNT = 20, 21
GET_BLOCK, BLOCK = 22, 23
GET_TX, TX_STATUS = 24, 25
ERROR = 31

START_BALANCE = 5000


def sha256(b):
    return hashlib.sha256(b).digest()


def pack(obj):
    # str -> msgpack str, bytes -> bin, ints in their shortest form
    return msgpack.packb(obj, use_bin_type=True)


def dev_key(name):
    """The development key: seed = SHA-256("minichain-dev-key:" || name)."""
    return nacl.signing.SigningKey(sha256(b"minichain-dev-key:" +
                                          name.encode()))


def tx_signing_bytes(chain_id, frm, to, amount, nonce):
    return pack(["mc-tx-v1", chain_id, frm, to, amount, nonce])


def make_tx(key, chain_id, to, amount, nonce):
    """Returns (wire list, id, signing bytes, signature)."""
    frm = bytes(key.verify_key)
    msg = tx_signing_bytes(chain_id, frm, to, amount, nonce)
    sig = key.sign(msg).signature
    wire = ["mc-tx-v1", chain_id, frm, to, amount, nonce, sig]
    return wire, sha256(msg), msg, sig


def frame(msg_list):
    payload = pack(msg_list)
    return struct.pack(">I", len(payload)) + payload


def merkle_root(ids):
    """RFC 6962 Merkle tree hash over transaction ids."""
    if not ids:
        return sha256(b"")
    if len(ids) == 1:
        return sha256(b"\x00" + ids[0])
    k = 1
    while k * 2 < len(ids):
        k *= 2
    return sha256(b"\x01" + merkle_root(ids[:k]) + merkle_root(ids[k:]))


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.rid = 0

    def read_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise AssertionError("node closed the connection")
            buf += chunk
        return buf

    def read_msg(self):
        (n,) = struct.unpack(">I", self.read_exact(4))
        assert 0 < n <= 8 << 20, f"frame of {n} bytes"
        return msgpack.unpackb(self.read_exact(n), raw=False)

    def request(self, mtype, *fields, want):
        self.rid += 1
        self.sock.sendall(frame([mtype, self.rid, *fields]))
        msg = self.read_msg()
        assert msg[0] == want and msg[1] == self.rid, \
            f"asked type {mtype}, got {msg[:2]} ({msg})"
        return msg[2:]


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def header_bytes(h):
    check(len(h) == 8 and h[0] == "mc-block-v1", f"bad header {h}")
    return pack(h)


def verify_block(block, txid):
    """Checks a BLOCK answer against PROTOCOL.md; returns the header."""
    header, sig, txs, cert = block
    hb = header_bytes(header)
    proposer = header[7]
    nacl.signing.VerifyKey(proposer).verify(hb, sig)  # raises if bad
    ids = [sha256(pack(t[:6])) for t in txs]
    check(header[4] == merkle_root(ids), "tx_root is not the Merkle root")
    check(header[6] == len(txs), "tx_count differs from the tx list")
    check(txid in ids, "the committed block lacks the transfer")
    check(isinstance(cert, bytes), "cert is not bin")
    return header


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_node(port, proc):
    deadline = time.time() + 20
    while time.time() < deadline:
        check(proc.poll() is None, f"mchost exited with {proc.returncode}")
        try:
            c = Conn("127.0.0.1", port)
            return c, c.request(GET_STATUS, want=STATUS)[0]
        except OSError:
            time.sleep(0.1)
    raise AssertionError("mchost did not answer within 20 s")


def transfer(conn, status, alice, bob):
    chain_id = status["chain_id"]
    frm = bytes(alice.verify_key)
    _, balance, nonce, next_nonce = conn.request(GET_ACCOUNT, frm,
                                                 want=ACCOUNT)
    check(balance == START_BALANCE and nonce == 0 and next_nonce == 1,
          f"alice starts with {balance}, nonce {nonce}, next {next_nonce}")
    wire, txid, _, _ = make_tx(alice, chain_id, bytes(bob.verify_key), 25,
                               next_nonce)
    code, echoed = conn.request(SUBMIT_TX, wire, want=SUBMIT_RESULT)
    check(code == 0, f"transfer refused with code {code}")
    check(echoed == txid, "the node computed another transaction id")
    deadline = time.time() + 30
    while True:
        state, height, index, code, tx = conn.request(GET_TX, txid,
                                                      want=TX_STATUS)
        if state == "committed":
            break
        check(state in ("pending", "queued"), f"state {state}, code {code}")
        check(time.time() < deadline, "not committed within 30 s")
        time.sleep(0.1)
    check(tx == wire, "TX_STATUS returned another transaction")
    (block,) = conn.request(GET_BLOCK, height, want=BLOCK)
    header = verify_block(block, txid)
    check(header[1] == height, "block at another height")
    (by_hash,) = conn.request(GET_BLOCK, sha256(header_bytes(header)),
                              want=BLOCK)
    check(by_hash == block, "block by hash differs")
    _, balance, nonce, _ = conn.request(GET_ACCOUNT, frm, want=ACCOUNT)
    check(balance == START_BALANCE - 25 and nonce == 1,
          f"alice after the transfer: {balance}, nonce {nonce}")
    return height


def pipelined(port):
    """Two requests sent at once are answered in order."""
    c = Conn("127.0.0.1", port)
    c.sock.sendall(frame([GET_STATUS, 7]) + frame([GET_BLOCK, 8, 0]))
    first, second = c.read_msg(), c.read_msg()
    check(first[:2] == [STATUS, 7] and second[:2] == [BLOCK, 8],
          f"pipelined answers {first[:2]}, {second[:2]}")
    check(second[2][0][1] == 0, "GET_BLOCK 0 returned another height")
    c.sock.close()


def closed(c):
    c.sock.settimeout(5)
    try:
        return c.sock.recv(1) == b""
    except ConnectionResetError:
        return True


def malformed(port):
    """A frame that is not a message is answered with ERROR, then closed;
    a frame header above the maximum is closed at once."""
    c = Conn("127.0.0.1", port)
    c.sock.sendall(frame(["not", "a", "message"]))
    msg = c.read_msg()
    check(msg[0] == ERROR and isinstance(msg[2], int) and msg[2] < 0,
          f"malformed frame answered with {msg}")
    check(closed(c), "connection not closed after ERROR")
    c = Conn("127.0.0.1", port)
    c.sock.sendall(struct.pack(">I", 0xFFFFFFFF) + b"\x90")
    check(closed(c), "connection not closed after an oversized header")


def run(args, tmp):
    mcli = args.mcli
    alice, bob = dev_key("indep-alice"), dev_key("indep-bob")
    key = os.path.join(tmp, "v.key")
    val = subprocess.run([mcli, "keygen", "--seed", "indep-validator",
                          "--out", key], capture_output=True, text=True,
                         check=True).stdout.strip()
    gen = os.path.join(tmp, "genesis.json")
    subprocess.run([mcli, "genesis", "--validator", val, "--alloc",
                    f"{bytes(alice.verify_key).hex()}={START_BALANCE}",
                    "--chain-id", "indep", "--block-interval", "200",
                    "--out", gen], check=True, capture_output=True)
    port = free_port()
    log = open(os.path.join(tmp, "node.log"), "wb")
    proc = subprocess.Popen([args.mchost, "--plugin-dir", args.plugin_dir,
                             "--data-dir", os.path.join(tmp, "D"),
                             "--genesis", gen, "--key", key, "--listen",
                             f"127.0.0.1:{port}", "--new-validator"],
                            stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        conn, status = wait_for_node(port, proc)
        check(status["chain_id"] == "indep", f"status {status}")
        height = transfer(conn, status, alice, bob)
        pipelined(port)
        malformed(port)
        conn.sock.close()
        proc.send_signal(signal.SIGTERM)
        check(proc.wait(timeout=20) == 0, "mchost did not exit 0")
    except BaseException:
        proc.kill()
        proc.wait()
        log.close()
        sys.stderr.write(open(log.name).read()[-4000:])
        raise
    print(f"independent_client: ok (committed at height {height})")


def example():
    """The worked example of PROTOCOL.md."""
    alice, bob = dev_key("alice"), dev_key("bob")
    wire, txid, msg, sig = make_tx(alice, "minichain-devnet",
                                   bytes(bob.verify_key), 10, 1)
    print("alice seed     ", sha256(b"minichain-dev-key:alice").hex())
    print("alice pubkey   ", bytes(alice.verify_key).hex())
    print("bob pubkey     ", bytes(bob.verify_key).hex())
    print("signing bytes  ", msg.hex())
    print("tx id          ", txid.hex())
    print("signature      ", sig.hex())
    print("SUBMIT_TX frame", frame([SUBMIT_TX, 1, wire]).hex())
    print("answer frame   ", frame([SUBMIT_RESULT, 1, 0, txid]).hex())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mchost")
    ap.add_argument("--mcli")
    ap.add_argument("--plugin-dir")
    ap.add_argument("--example", action="store_true")
    args = ap.parse_args()
    if args.example:
        example()
        return
    if not (args.mchost and args.mcli and args.plugin_dir):
        ap.error("--mchost, --mcli and --plugin-dir are required")
    with tempfile.TemporaryDirectory(prefix="mc-indep-") as tmp:
        run(args, tmp)


if __name__ == "__main__":
    main()
