#!/usr/bin/env python3
"""Bytes that differ between a process's executable mappings of a file and
the file itself: uprobes write their breakpoints (int3) into the process's
copy of the text pages, so a count > 0 means probes are installed in that
process on that file (a Go executable or a shared library's text has no
relocations: unprobed, memory and file are equal).

Usage: memdiff.py PID MAPPED_PATH REFERENCE_FILE
  MAPPED_PATH  the path as /proc/PID/maps names it (" (deleted)" is allowed
               after it: a file renamed over since it was mapped)
  REFERENCE_FILE  a file with the same bytes (the mapped file itself, or a
               copy when it was deleted)
Prints "<differing bytes> <executable bytes compared>"; exit 2 when the
process maps no executable part of MAPPED_PATH.
"""
import sys


def main():
    pid, mapped, ref = sys.argv[1], sys.argv[2], sys.argv[3]
    diff = total = 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem, \
            open(ref, "rb") as f:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) < 6 or "x" not in parts[1]:
                continue
            path = parts[5].rstrip("\n")
            if path != mapped and path != mapped + " (deleted)":
                continue
            start, end = (int(x, 16) for x in parts[0].split("-"))
            off = int(parts[2], 16)
            mem.seek(start)
            got = mem.read(end - start)
            f.seek(off)
            want = f.read(end - start)
            n = min(len(got), len(want))
            total += n
            diff += sum(1 for a, b in zip(got[:n], want[:n]) if a != b)
    if not total:
        print(f"memdiff: pid {pid} maps no executable part of {mapped}", file=sys.stderr)
        sys.exit(2)
    print(diff, total)


if __name__ == "__main__":
    main()
