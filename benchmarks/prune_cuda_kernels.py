"""Zero the GPU kernels of all but one architecture in a CUDA shared library, so it compresses small.

    python benchmarks/prune_cuda_kernels.py LIB.so OUT.so [--keep 90]

How onnxruntime-gpu reached the lent H100 of benchmarks/GPU.md: its wheel (256 MB) was over the
64 MiB a lease takes per call, and nearly all of it is ``libonnxruntime_providers_cuda.so``'s kernels,
compiled for six architectures (sm_75 to sm_120). Kernels of the others zeroed in place (the file's
layout, and every header, unchanged: CUDA reads only the entries for the GPU it runs on), the unpacked
wheel xz-compressed to 70 MB, which went over in two calls. The H100 is sm_90.

``benchmarks/gpu_lease.sh`` makes the whole carry (56 MiB of it since stop 34, still two calls beside the
8 MiB repository) and the script that installs it and runs the GPU checks there.
"""

from __future__ import annotations

import argparse
import struct
import sys
from collections import Counter
from pathlib import Path

FATBIN_MAGIC = 0xBA55ED50
CUBIN = 2  # an entry's kind: 1 PTX (compiled at load time, for any newer GPU), 2 machine code for one


def fatbin_section(data: bytes) -> tuple[int, int]:
    """Offset and size of the ELF file's ``.nv_fatbin`` section."""
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    entsize, count, names = struct.unpack_from("<HHH", data, 0x3A)
    header = lambda i: struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * entsize)  # noqa: E731
    strings = header(names)[4]
    for i in range(count):
        h = header(i)
        name = data[strings + h[0]: data.index(b"\0", strings + h[0])]
        if name == b".nv_fatbin":
            return h[4], h[5]
    raise ValueError("no .nv_fatbin section: not a CUDA library")


def prune(data: bytearray, keep: int) -> Counter:
    """Zero every machine-code entry not for sm_``keep`` (PTX kept); bytes per (kind, architecture) seen."""
    seen: Counter = Counter()
    pos, end = fatbin_section(data)
    end += pos
    while pos < end:
        magic, _, header_size, size = struct.unpack_from("<IHHQ", data, pos)
        if magic != FATBIN_MAGIC:
            pos += 8  # blobs are 8-byte aligned
            continue
        entry, stop = pos + header_size, pos + header_size + size
        while entry < stop:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, entry)
            arch = struct.unpack_from("<I", data, entry + 28)[0]
            seen[(kind, arch)] += payload
            if kind == CUBIN and arch != keep:
                start = entry + entry_header
                data[start:start + payload] = bytes(payload)
            entry += entry_header + payload
        pos = stop
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--keep", type=int, default=90, help="the architecture kept (default 90: H100, H200)")
    args = parser.parse_args()
    data = bytearray(args.library.read_bytes())
    seen = prune(data, args.keep)
    if (CUBIN, args.keep) not in seen:
        print(f"no sm_{args.keep} kernels in {args.library}; nothing written", file=sys.stderr)
        return 1
    args.out.write_bytes(data)
    for (kind, arch), size in sorted(seen.items()):
        zeroed = kind == CUBIN and arch != args.keep
        print(f"{'sm' if kind == CUBIN else 'PTX'}_{arch}: {size / 1e6:.1f} MB{' zeroed' if zeroed else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
