#!/usr/bin/python3
"""vectors.py - recompute MiniChain's encoding and crypto test vectors.

An implementation of docs/PROTOCOL.md that shares no code with the node:
PyNaCl for SHA-256 and ed25519, msgpack-python for the canonical encoding,
and ChaCha20 (RFC 8439) written out below for the LtHash.  The unit tests
(tests/unit/test-crypto.c, test-codec.c, test-genesis.c) hold the values
this prints in tests/data/vectors.json, which the unit tests read; run it
to regenerate or audit them:

    /usr/bin/python3 tools/vectors.py [--json tests/data/vectors.json] \
        [path/to/tests/data/genesis-valid.json]

Without --json it prints "name = value" lines.

Needs Debian's python3-nacl and python3-msgpack.
"""
import hashlib
import json
import os
import struct
import sys

import msgpack
import nacl.bindings as sodium

CHAIN_ID = "minichain-devnet"
U64_MAX = 2**64 - 1


def sha256(b):
    return hashlib.sha256(b).digest()


def pack(obj):
    # use_bin_type: bytes -> bin, str -> str (str8 allowed); ints shortest.
    return msgpack.packb(obj, use_bin_type=True)


def dev_key(name):
    """(pk, sk) of the development key: seed = SHA-256("minichain-dev-key:" + name)."""
    seed = sha256(b"minichain-dev-key:" + name.encode())
    return sodium.crypto_sign_seed_keypair(seed)


def sign(sk, msg):
    return sodium.crypto_sign(msg, sk)[:64]  # detached: the first 64 bytes


# ---- ChaCha20 (RFC 8439, section 2.3), keystream from block counter 0 ----

def _rotl(v, c):
    return ((v << c) & 0xFFFFFFFF) | (v >> (32 - c))


def _quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & 0xFFFFFFFF; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & 0xFFFFFFFF; s[b] = _rotl(s[b] ^ s[c], 7)


def _chacha_block(key, counter, nonce):
    init = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    init += list(struct.unpack("<8I", key)) + [counter]
    init += list(struct.unpack("<3I", nonce))
    s = init[:]
    for _ in range(10):
        _quarter(s, 0, 4, 8, 12); _quarter(s, 1, 5, 9, 13)
        _quarter(s, 2, 6, 10, 14); _quarter(s, 3, 7, 11, 15)
        _quarter(s, 0, 5, 10, 15); _quarter(s, 1, 6, 11, 12)
        _quarter(s, 2, 7, 8, 13); _quarter(s, 3, 4, 9, 14)
    return struct.pack("<16I", *((x + y) & 0xFFFFFFFF for x, y in zip(s, init)))


def chacha20_keystream(key, nonce, n):
    out = b"".join(_chacha_block(key, i, nonce) for i in range((n + 63) // 64))
    return out[:n]


# RFC 8439 A.1 test vector #1 (all-zero key and nonce), so a slip in the
# code above cannot silently produce wrong vectors.
assert chacha20_keystream(bytes(32), bytes(12), 32).hex() == (
    "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7")


# ---- the constructions of docs/PROTOCOL.md ----

def merkle_root(ids):
    if not ids:
        return sha256(b"")
    if len(ids) == 1:
        return sha256(b"\x00" + ids[0])
    k = 1
    while k * 2 < len(ids):
        k *= 2
    return sha256(b"\x01" + merkle_root(ids[:k]) + merkle_root(ids[k:]))


def account_encoding(pk, balance, nonce):
    return pack(["mc-acct-v1", pk, balance, nonce])


def lthash_element(pk, balance, nonce):
    ks = chacha20_keystream(sha256(account_encoding(pk, balance, nonce)),
                            bytes(12), 2048)
    return list(struct.unpack("<1024H", ks))


def state_root(accounts):
    """accounts: iterable of (pk, balance, nonce); empty ones are skipped."""
    lanes = [0] * 1024
    for pk, bal, nonce in accounts:
        if bal == 0 and nonce == 0:
            continue
        e = lthash_element(pk, bal, nonce)
        lanes = [(x + y) & 0xFFFF for x, y in zip(lanes, e)]
    return sha256(b"mc-state-v1" + struct.pack("<1024H", *lanes))


def tx_signing(tx):
    return pack(["mc-tx-v1", tx["chain_id"], tx["from"], tx["to"],
                 tx["amount"], tx["nonce"]])


def tx_wire(tx):
    return pack(["mc-tx-v1", tx["chain_id"], tx["from"], tx["to"],
                 tx["amount"], tx["nonce"], tx["sig"]])


def header_list(h):
    return ["mc-block-v1", h["height"], h["prev_hash"], h["timestamp_ms"],
            h["tx_root"], h["state_root"], h["tx_count"], h["proposer"]]


def block_wire(h, sig, txs, cert):
    txl = [["mc-tx-v1", t["chain_id"], t["from"], t["to"], t["amount"],
            t["nonce"], t["sig"]] for t in txs]
    return pack([header_list(h), sig, txl, cert])


def parse_balance(v):
    return int(v)  # numbers and decimal strings alike


def genesis_from_json(doc):
    params = doc.get("params", {})
    alloc = sorted((bytes.fromhex(k), parse_balance(v))
                   for k, v in doc["alloc"].items())
    return {
        "chain_id": doc["chain_id"],
        "genesis_time_ms": doc["genesis_time_ms"],
        "validators": [bytes.fromhex(v) for v in doc["validators"]],
        "alloc": alloc,
        "max_txs_per_block": params.get("max_txs_per_block", 500),
        "block_interval_ms": params.get("block_interval_ms", 1000),
        "view_timeout_ms": params.get("view_timeout_ms", 4000),
    }


def genesis_hash(g):
    return sha256(pack(["mc-genesis-v1", g["chain_id"], g["genesis_time_ms"],
                        g["validators"], [[pk, b] for pk, b in g["alloc"]],
                        g["max_txs_per_block"], g["block_interval_ms"],
                        g["view_timeout_ms"]]))


def genesis_block_header(g):
    return {"height": 0, "prev_hash": genesis_hash(g),
            "timestamp_ms": g["genesis_time_ms"], "tx_root": merkle_root([]),
            "state_root": state_root((pk, b, 0) for pk, b in g["alloc"]),
            "tx_count": 0, "proposer": bytes(32)}


VECTORS = {}


def out(name, value):
    if isinstance(value, bytes):
        value = value.hex()
    assert name not in VECTORS, name
    VECTORS[name] = value


def edge_tx():
    """A transfer at the encoding's edges: a 32-byte chain id (str8, not
    fixstr), amount 2^64-1 (uint64) and nonce 2^32 (uint64, not uint32)."""
    a_pk, _ = dev_key("alice")
    b_pk, b_sk = dev_key("bob")
    tx = {"chain_id": "c" * 32, "from": b_pk, "to": a_pk,
          "amount": U64_MAX, "nonce": 2**32}
    signing = tx_signing(tx)
    tx["sig"] = sign(b_sk, signing)
    out("edge_tx_signing", signing)
    out("edge_tx_id", sha256(signing))
    out("edge_tx_wire", tx_wire(tx))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = sys.argv[1:]
    json_out = None
    if args[:1] == ["--json"]:
        if len(args) < 2:
            sys.exit("usage: vectors.py [--json OUT] [GENESIS]")
        json_out, args = args[1], args[2:]
    path = args[0] if args else os.path.join(
        here, "..", "tests", "data", "genesis-valid.json")
    with open(path) as f:
        g = genesis_from_json(json.load(f))

    alice_pk, alice_sk = dev_key("alice")
    bob_pk, _ = dev_key("bob")
    val_pk, val_sk = dev_key("val0")
    out("alice_pk", alice_pk)
    out("bob_pk", bob_pk)
    out("val0_pk", val_pk)

    # The worked example of docs/PROTOCOL.md: alice pays bob 250, nonce 1.
    tx = {"chain_id": CHAIN_ID, "from": alice_pk, "to": bob_pk,
          "amount": 250, "nonce": 1}
    signing = tx_signing(tx)
    tx["sig"] = sign(alice_sk, signing)
    tx["id"] = sha256(signing)
    out("tx_signing", signing)
    out("tx_id", tx["id"])
    out("tx_sig", tx["sig"])
    out("tx_wire", tx_wire(tx))

    # Merkle roots over leaves SHA-256(byte i), i = 0 .. n-1.
    for n in (0, 1, 2, 3, 5):
        out("merkle_%d" % n, merkle_root([sha256(bytes([i])) for i in range(n)]))

    # LtHash.
    out("acct_alice_enc", account_encoding(alice_pk, 1000000, 0))
    out("lthash_lane0_alice", lthash_element(alice_pk, 1000000, 0)[0])
    out("lthash_lane1023_alice", lthash_element(alice_pk, 1000000, 0)[1023])
    out("state_root_empty", state_root([]))
    out("state_root_alice", state_root([(alice_pk, 1000000, 0)]))
    out("state_root_alice_bob", state_root([(alice_pk, 999750, 1),
                                            (bob_pk, U64_MAX, 7)]))

    # Genesis and block 0.
    out("genesis_hash", genesis_hash(g))
    h0 = genesis_block_header(g)
    out("genesis_state_root", h0["state_root"])
    out("genesis_block_hash", sha256(pack(header_list(h0))))

    # Block 1 on it: the transfer above, proposed and signed by val0.
    balances = {pk: [b, 0] for pk, b in g["alloc"]}
    balances[alice_pk][0] -= tx["amount"]
    balances[alice_pk][1] = tx["nonce"]
    balances.setdefault(bob_pk, [0, 0])[0] += tx["amount"]
    h1 = {"height": 1, "prev_hash": sha256(pack(header_list(h0))),
          "timestamp_ms": g["genesis_time_ms"] + 1000,
          "tx_root": merkle_root([tx["id"]]),
          "state_root": state_root((pk, b, n) for pk, (b, n) in balances.items()),
          "tx_count": 1, "proposer": val_pk}
    header = pack(header_list(h1))
    bsig = sign(val_sk, header)
    out("block1_header", header)
    out("block1_hash", sha256(header))
    out("block1_sig", bsig)
    out("block1_wire", block_wire(h1, bsig, [tx], b"\x01\x02\x03"))
    edge_tx()

    if json_out is None:
        for k, v in VECTORS.items():
            print("%s = %s" % (k, v))
        return
    doc = {"generator": "tools/vectors.py (PyNaCl, msgpack-python, hashlib)",
           "genesis": os.path.relpath(os.path.abspath(path),
                                      os.path.join(here, "..")),
           "vectors": VECTORS}
    with open(json_out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
