#!/usr/bin/env python3
"""Independent reference for the fixed-key handshake transcript in
tests/unit/noise_test.cpp.

Written from the WireGuard whitepaper's description of Noise_IKpsk2 using
Python's hashlib (BLAKE2s), hmac and the `cryptography` package (X25519,
ChaCha20-Poly1305), so the golden bytes in the C++ test come from code that
shares nothing with control/noise.cpp. Not run by CI (it needs `cryptography`);
run it by hand after changing the inputs and paste the output into the test.
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives import serialization

RAW = serialization.Encoding.Raw


def HASH(*parts):
    return hashlib.blake2s(b"".join(parts)).digest()


def MAC(key, data):
    return hashlib.blake2s(data, key=key, digest_size=16).digest()


def HMAC(key, data):
    return hmac.new(key, data, hashlib.blake2s).digest()


def KDF(n, key, data):
    t0 = HMAC(key, data)
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = HMAC(t0, prev + bytes([i]))
        out.append(prev)
    return out


def pub(priv):
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(RAW, serialization.PublicFormat.Raw)


def DH(priv, pubkey):
    return X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(pubkey))


def AEAD(key, counter, plain, aad):
    return ChaCha20Poly1305(key).encrypt(b"\0" * 4 + struct.pack("<Q", counter), plain, aad)


i_static = bytes(range(0, 32))
r_static = bytes(range(32, 64))
i_eph = bytes(range(64, 96))
r_eph = bytes(range(96, 128))
psk = bytes(range(128, 160))
i_index, r_index = 0x11223344, 0x55667788
secs = (1 << 62) + 10 + 1_700_000_000
nanos = 123_456_789 & ~((1 << 24) - 1)
timestamp = struct.pack(">QI", secs, nanos)

S_i, S_r = pub(i_static), pub(r_static)

# Initiation
C = HASH(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")
H = HASH(C, b"WireGuard v1 zx2c4 Jason@zx2c4.com")
H = HASH(H, S_r)
E_i = pub(i_eph)
(C,) = KDF(1, C, E_i)
H = HASH(H, E_i)
C, k = KDF(2, C, DH(i_eph, S_r))
enc_static = AEAD(k, 0, S_i, H)
H = HASH(H, enc_static)
C, k = KDF(2, C, DH(i_static, S_r))
enc_ts = AEAD(k, 0, timestamp, H)
H = HASH(H, enc_ts)
init = struct.pack("<I", 1) + struct.pack("<I", i_index) + E_i + enc_static + enc_ts
init += MAC(HASH(b"mac1----", S_r), init) + b"\0" * 16
assert len(init) == 148

# Response
E_r = pub(r_eph)
(C,) = KDF(1, C, E_r)
H = HASH(H, E_r)
(C,) = KDF(1, C, DH(r_eph, E_i))
(C,) = KDF(1, C, DH(r_eph, S_i))
C, tau, k = KDF(3, C, psk)
H = HASH(H, tau)
enc_nothing = AEAD(k, 0, b"", H)
resp = struct.pack("<I", 2) + struct.pack("<II", r_index, i_index) + E_r + enc_nothing
resp += MAC(HASH(b"mac1----", S_i), resp) + b"\0" * 16
assert len(resp) == 92

t_i_send, t_i_recv = KDF(2, C, b"")

# One transport message initiator -> responder: "sluice" padded to 16, counter 0.
plain = b"sluice".ljust(16, b"\0")
data = struct.pack("<IIQ", 4, r_index, 0) + AEAD(t_i_send, 0, plain, b"")


def cxx(name, b):
    hexs = "".join(f"\\x{x:02x}" for x in b)
    print(f'const std::string {name} = std::string("{hexs}", {len(b)});')


cxx("kInitiation", init)
cxx("kResponse", resp)
cxx("kInitiatorSend", t_i_send)
cxx("kInitiatorReceive", t_i_recv)
cxx("kFirstData", data)
