#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""Seeds for tests/fuzz/fuzz_gobin.c: small synthetic Go executables.

A real Go binary with net/http is 5-8 MB; libFuzzer would cut it to
-max_len and mutate bytes nothing reads. These are 2-3 KB and hold exactly
what the analysis reads, so that the whole plan (tw_goplan_build) succeeds
on each seed and every mutation hits a parser:

  - one PT_LOAD mapping the whole file at 0x400000;
  - .text with the functions the Go probes use, each with Go's stack-bound
    check (cmp rsp,[r14+0x10]; jbe morestack), RETs, and in
    runtime.newproc.func1 the calls of newproc1 and runqput;
  - .go.buildinfo (inline version string, Go 1.18+; or pointers, before);
  - .gopclntab in the Go 1.16, 1.18 and 1.20 layouts;
  - optionally .symtab/.strtab and DWARF (plain or SHF_COMPRESSED zlib)
    with the struct members the probes read.

Usage: gen_gobin_seeds.py OUTDIR   (tests/fuzz/corpus/gobin)
"""
import os
import struct
import sys
import zlib

BASE = 0x400000
FUNCS = [
    "net/http.serverHandler.ServeHTTP",
    "net/http.(*persistConn).roundTrip",
    "net/http.persistConnWriter.Write",
    "net/http.(*connReader).Read",
    "runtime.newproc.func1",
    "runtime.newproc1",
    "runtime.runqput",
]
FSIZE = 64

# (type, member, offset) as DWARF would say; parentGoid only for 1.21+
FIELDS = [
    ("runtime.g", "goid", 152),
    ("net/http.response", "conn", 0),
    ("net/http.conn", "rwc", 16),
    ("net.TCPConn", "conn", 0),
    ("net.conn", "fd", 0),
    ("net.netFD", "pfd", 0),
    ("internal/poll.FD", "Sysfd", 16),
]


def uleb(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def text_section(text_addr):
    """The functions, FSIZE bytes each, int3-padded."""
    addr = {n: text_addr + i * FSIZE for i, n in enumerate(FUNCS)}
    out = bytearray()
    for name in FUNCS:
        a = addr[name]
        f = bytearray(b"\x49\x3b\x66\x10")  # cmp rsp, [r14+0x10]
        jbe_at = len(f)
        f += b"\x76\x00"                     # jbe stub (patched)
        f += b"\x48\x83\xec\x18"             # sub rsp, 0x18
        if name == "runtime.newproc.func1":
            for callee in ("runtime.newproc1", "runtime.runqput"):
                rel = addr[callee] - (a + len(f) + 5)
                f += b"\xe8" + struct.pack("<i", rel)
        if name == "net/http.persistConnWriter.Write":
            f += b"\x48\x85\xc0\x74\x05"     # test rax, rax; je +5
            f += b"\x48\x83\xc4\x18\xc3"     # add rsp, 0x18; ret
        f += b"\x48\x83\xc4\x18\xc3"         # add rsp, 0x18; ret
        stub = len(f)
        f[jbe_at + 1] = stub - (jbe_at + 2)
        rel = addr["runtime.runqput"] - (a + len(f) + 5)
        f += b"\xe8" + struct.pack("<i", rel)  # call morestack (any target)
        f += b"\xeb" + struct.pack("<b", -(len(f) + 2))  # jmp entry
        assert len(f) <= FSIZE
        out += f + b"\xcc" * (FSIZE - len(f))
    return bytes(out), addr


def pclntab(layout, text_addr):
    """A .gopclntab: layout 116 (magic 0xfffffffa), 118 (0xfffffff0) or 120 (0xfffffff1)."""
    names = bytearray()
    nameoff = []
    for n in FUNCS:
        nameoff.append(len(names))
        names += n.encode() + b"\0"
    nf = len(FUNCS)
    wide = layout == 116
    hdr_len = 64 if wide else 72
    fn_off = hdr_len
    functab_off = (fn_off + len(names) + 7) & ~7
    ent = 16 if wide else 8
    funcs_at = (nf + 1) * ent  # _func records, relative to functab
    func_size = 16
    tab = bytearray(functab_off + funcs_at + nf * func_size)
    magic = {116: 0xFFFFFFFA, 118: 0xFFFFFFF0, 120: 0xFFFFFFF1}[layout]
    struct.pack_into("<IBBBB", tab, 0, magic, 0, 0, 1, 8)
    struct.pack_into("<Q", tab, 8, nf)
    struct.pack_into("<Q", tab, 16, 1)  # nfiles
    if wide:
        struct.pack_into("<Q", tab, 24, fn_off)
        struct.pack_into("<Q", tab, 56, functab_off)
    else:
        struct.pack_into("<Q", tab, 24, text_addr)
        struct.pack_into("<Q", tab, 32, fn_off)
        struct.pack_into("<Q", tab, 64, functab_off)
    tab[fn_off:fn_off + len(names)] = names
    for i in range(nf + 1):
        rel = i * FSIZE
        funcoff = funcs_at + i * func_size if i < nf else 0
        if wide:
            struct.pack_into("<QQ", tab, functab_off + i * ent, text_addr + rel, funcoff)
        else:
            struct.pack_into("<II", tab, functab_off + i * ent, rel, funcoff)
        if i < nf:
            at = functab_off + funcoff
            if wide:
                struct.pack_into("<Qi", tab, at, text_addr + rel, nameoff[i])
            else:
                struct.pack_into("<Ii", tab, at, rel, nameoff[i])
    return bytes(tab)


def buildinfo_inline(version):
    hdr = bytearray(b"\xff Go buildinf:" + bytes([8, 2]) + b"\0" * 16)
    return bytes(hdr + uleb(len(version)) + version.encode() + uleb(0))


def dwarf(fields):
    abbrev = bytes([
        1, 0x11, 1, 0x03, 0x08, 0, 0,              # compile_unit: name
        2, 0x13, 1, 0x03, 0x08, 0x0B, 0x0F, 0, 0,  # structure_type: name, byte_size
        3, 0x0D, 0, 0x03, 0x08, 0x38, 0x0F, 0, 0,  # member: name, data_member_location
        0,
    ])
    dies = bytearray(b"\x01" + b"synthetic\0")
    types = {}
    for t, m, off in fields:
        types.setdefault(t, []).append((m, off))
    for t, members in types.items():
        dies += b"\x02" + t.encode() + b"\0" + uleb(512)
        for m, off in members:
            dies += b"\x03" + m.encode() + b"\0" + uleb(off)
        dies += b"\0"
    dies += b"\0"
    body = struct.pack("<HIB", 4, 0, 8) + dies
    info = struct.pack("<I", len(body)) + body
    return abbrev, info


def compressed(data):
    """SHF_COMPRESSED contents: Elf64_Chdr (zlib) + the stream."""
    return struct.pack("<IIQQ", 1, 0, len(data), 1) + zlib.compress(data)


class Elf:
    def __init__(self):
        self.sections = []  # (name, type, flags, data, link, info, entsize, align)

    def add(self, name, data, stype=1, flags=0, link=0, info=0, entsize=0, align=16):
        self.sections.append([name, stype, flags, data, link, info, entsize, align])
        return len(self.sections)  # index (the null section is 0)

    def build(self):
        shstr = bytearray(b"\0")
        name_off = []
        for s in self.sections:
            name_off.append(len(shstr))
            shstr += s[0].encode() + b"\0"
        shstr_name = len(shstr)
        shstr += b".shstrtab\0"
        out = bytearray(64 + 56)
        offs = []
        for s in self.sections:
            align = s[7]
            while len(out) % align:
                out.append(0)
            offs.append(len(out))
            out += s[3]
        shstr_off = len(out)
        out += shstr
        while len(out) % 8:
            out.append(0)
        shoff = len(out)
        nsec = len(self.sections) + 2
        sh = bytearray(64)  # null
        for i, s in enumerate(self.sections):
            alloc = s[2] & 2
            sh += struct.pack("<IIQQQQIIQQ", name_off[i], s[1], s[2],
                              BASE + offs[i] if alloc else 0, offs[i], len(s[3]),
                              s[4], s[5], s[7], s[6])
        sh += struct.pack("<IIQQQQIIQQ", shstr_name, 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)
        out += sh
        filesz = len(out)
        ehdr = struct.pack("<16sHHIQQQIHHHHHH",
                           b"\x7fELF\x02\x01\x01" + b"\0" * 9, 2, 62, 1,
                           BASE + offs[0], 64, shoff, 0, 64, 56, 1, 64, nsec, nsec - 1)
        phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, BASE, BASE, filesz, filesz, 0x1000)
        out[0:64] = ehdr
        out[64:120] = phdr
        return bytes(out)


SHF_ALLOC, SHF_EXEC, SHF_COMPRESSED = 0x2, 0x4, 0x800
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB = 1, 2, 3


def text_addr_of(elf_sections_before):
    """The address .text gets as the first section (after headers, 16-aligned)."""
    return BASE + ((64 + 56 + 15) & ~15)


def go_binary(version, layout, symtab=False, dwarf_mode=None, buildinfo="inline",
              parent_goid=False):
    text_addr = text_addr_of(None)
    text, addr = text_section(text_addr)
    e = Elf()
    tidx = e.add(".text", text, SHT_PROGBITS, SHF_ALLOC | SHF_EXEC, align=16)
    assert tidx == 1
    if buildinfo == "inline":
        e.add(".go.buildinfo", buildinfo_inline(version), SHT_PROGBITS, SHF_ALLOC, align=16)
    else:
        # before Go 1.18: pointers to Go string headers elsewhere in the file;
        # laid out after the header, within the section itself
        sec_at = None  # filled below once the section's address is known
        e.add(".go.buildinfo", b"", SHT_PROGBITS, SHF_ALLOC, align=16)
        sec_at = len(e.sections) - 1
    e.add(".gopclntab", pclntab(layout, text_addr), SHT_PROGBITS, SHF_ALLOC, align=32)
    if symtab:
        strtab = bytearray(b"\0")
        syms = bytearray(24)
        for n in FUNCS:
            syms += struct.pack("<IBBHQQ", len(strtab), 0x12, 0, tidx, addr[n], FSIZE)
            strtab += n.encode() + b"\0"
        sidx = e.add(".symtab", bytes(syms), SHT_SYMTAB, 0, link=0, info=1, entsize=24, align=8)
        stridx = e.add(".strtab", bytes(strtab), SHT_STRTAB, 0, align=1)
        e.sections[sidx - 1][4] = stridx
    if dwarf_mode:
        fields = FIELDS + ([("runtime.g", "parentGoid", 280)] if parent_goid else [])
        abbrev, info = dwarf(fields)
        if dwarf_mode == "zlib":
            e.add(".debug_abbrev", compressed(abbrev), SHT_PROGBITS, SHF_COMPRESSED, align=8)
            e.add(".debug_info", compressed(info), SHT_PROGBITS, SHF_COMPRESSED, align=8)
        else:
            e.add(".debug_abbrev", abbrev, SHT_PROGBITS, 0, align=1)
            e.add(".debug_info", info, SHT_PROGBITS, 0, align=1)
    if buildinfo != "inline":
        # the section's address: lay out once to learn it, then fill it in
        img = e.build()
        shoff = struct.unpack_from("<Q", img, 40)[0]
        sh = struct.unpack_from("<IIQQQQIIQQ", img, shoff + 64 * (sec_at + 1))
        at = BASE + sh[4]
        hdr = bytearray(b"\xff Go buildinf:" + bytes([8, 0]))
        hdr += struct.pack("<QQ", at + 32, at + 48)  # version, module info string headers
        hdr += struct.pack("<QQ", at + 64, len(version))
        hdr += struct.pack("<QQ", at + 64, 0)
        hdr += version.encode()
        e.sections[sec_at][3] = bytes(hdr)
    return e.build()


SEEDS = {
    "go120_plain": dict(version="go1.20.14", layout=120, symtab=True, dwarf_mode="plain"),
    "go120_sw": dict(version="go1.20.14", layout=120),
    "go119_zdwarf": dict(version="go1.19.13", layout=118, dwarf_mode="zlib"),
    "go117_sw": dict(version="go1.17.13", layout=116, buildinfo="pointers"),
    "go123_parent": dict(version="go1.23.4", layout=120, symtab=True, dwarf_mode="zlib",
                         parent_goid=True),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fuzz/corpus/gobin"
    os.makedirs(out, exist_ok=True)
    for name, kw in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(go_binary(**kw))


if __name__ == "__main__":
    main()
