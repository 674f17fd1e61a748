#!/usr/bin/env python3
"""Send PF_KEY v2 SADB_REGISTER for ESP and check the kernel's reply (RFC 2367 2.3.2, 3.1.7).

  pfkey-register.py            open socket(PF_KEY, SOCK_RAW, PF_KEY_V2) itself
  pfkey-register.py --fd N     use an already open PF_KEY socket (fd N, e.g. received from pf-to-fd)
  pfkey-register.py --unix P   connect to pf-to-fd's socket P, receive the fd with SCM_RIGHTS

Prints the supported algorithm ids and exits 0 when the reply is a well-formed REGISTER
answer (type 7, errno 0, same seq, a SUPPORTED_ENCRYPT extension listing AES-CBC).
"""
import os
import socket
import struct
import sys

PF_KEY = 15          # <linux/socket.h> AF_KEY
PF_KEY_V2 = 2        # RFC 2367 PF_KEY_V2
SADB_REGISTER = 7    # RFC 2367 message type
SATYPE_ESP = 3       # RFC 2367 SADB_SATYPE_ESP
EXT_SUPPORTED_AUTH, EXT_SUPPORTED_ENCRYPT = 14, 15
EALG_AESCBC = 12     # <linux/pfkeyv2.h> SADB_X_EALG_AESCBC
SEQ = 0x4b4c4142     # arbitrary, must come back in the reply


def open_socket(argv):
    if argv[:1] == ["--fd"]:
        return socket.socket(PF_KEY, socket.SOCK_RAW, PF_KEY_V2, fileno=int(argv[1]))
    if argv[:1] == ["--unix"]:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        c.connect(argv[1])
        msg, fds, _flags, _addr = socket.recv_fds(c, 16, 1)
        c.close()
        if len(fds) != 1:
            sys.exit(f"FAIL: expected one fd from {argv[1]}, got {len(fds)} (payload {msg!r})")
        print(f"received fd {fds[0]} from {argv[1]} (payload {msg.hex()})")
        return socket.socket(PF_KEY, socket.SOCK_RAW, PF_KEY_V2, fileno=fds[0])
    return socket.socket(PF_KEY, socket.SOCK_RAW, PF_KEY_V2)


def main():
    s = open_socket(sys.argv[1:])
    s.settimeout(60)   # the first REGISTER loads crypto modules: slow under TCG
    # sadb_msg: version type errno satype len(8-byte units) reserved seq pid
    s.send(struct.pack("=BBBBHHII", PF_KEY_V2, SADB_REGISTER, 0, SATYPE_ESP, 2, 0, SEQ, os.getpid()))
    while True:
        reply = s.recv(65536)
        if len(reply) < 16:
            sys.exit(f"FAIL: short reply {reply.hex()}")
        ver, typ, err, satype, words, _res, seq, _pid = struct.unpack_from("=BBBBHHII", reply)
        if typ == SADB_REGISTER and seq == SEQ:
            break                    # other PF_KEY users' broadcasts are skipped
    print("reply:", reply.hex())
    if ver != PF_KEY_V2 or err != 0 or satype != SATYPE_ESP or words * 8 != len(reply):
        sys.exit(f"FAIL: bad header version={ver} errno={err} satype={satype} len={words * 8}/{len(reply)}")
    algs = {}
    off = 16
    while off + 4 <= len(reply):
        elen, etype = struct.unpack_from("=HH", reply, off)
        if elen == 0 or off + elen * 8 > len(reply):
            sys.exit(f"FAIL: bad extension length at offset {off}")
        if etype in (EXT_SUPPORTED_AUTH, EXT_SUPPORTED_ENCRYPT):
            # sadb_supported header (8 bytes), then sadb_alg {id, ivlen, minbits, maxbits, reserved}
            algs[etype] = [struct.unpack_from("=BBHHH", reply, a)[0] for a in range(off + 8, off + elen * 8, 8)]
        off += elen * 8
    print("supported auth:", algs.get(EXT_SUPPORTED_AUTH), "encrypt:", algs.get(EXT_SUPPORTED_ENCRYPT))
    if EALG_AESCBC not in algs.get(EXT_SUPPORTED_ENCRYPT, []):
        sys.exit("FAIL: AES-CBC not in SUPPORTED_ENCRYPT")
    print("PASS: SADB_REGISTER reply well formed")


main()
