"""The hashing worker process, `python -m clearline.chain.hash_worker PARENT_PID`, and its wire.

Why a module entry point of ours: a worker started by `multiprocessing` (spawn or forkserver)
first re-runs the parent's `__main__` module to set itself up, so a user's script that opens a
sealed ledger at top level, without an `if __name__ == "__main__":` guard, ran again inside the
worker (issue 13: its output twice, `database is locked`, a benchmark timing itself twice). This
process's `__main__` is this module; it imports `clearline.chain.tiles` and what that needs, never
the user's program. (`fork` would copy the ledger's threads' locks mid-use, so it is not an
option either.) `hasher.Hasher` starts it and is the only client.

Guarantees:
- The wire is length-prefixed frames (`FRAME_HEADER`: payload bytes, kind) on the worker's
  standard input (requests) and output (results), one result frame per request, in order. A
  request is a group: first leaf index, optionally the tree state to start from (size, frontier),
  the packed ledger rows (`ROW_BYTES` each) and the leaf hashes of its other events by offset.
  A result is a `HashedGroup` (`RESULT`) or a refusal with a message (`REFUSAL`).
- `hash_group` is a pure function of the tree state and the request, returning exactly what
  `tiles.append_leaves` returns inline (a test checks it); the worker refuses a group that does
  not start where its state ends, so results can never be applied out of order.
- The worker holds none of the parent's open files beyond its two pipes: its standard streams
  point to /dev/null once it has taken the pipes, so a stray print cannot corrupt the wire and
  a process reading the parent's output sees it end when the parent's does.
- It exits when its input ends: the parent closed the pipe (`Hasher.close`) or died, even by
  SIGKILL, which makes the kernel close it. As a backstop (a process forked from the parent
  without exec could hold the pipe open), it also exits within `PARENT_POLL_SECONDS` of its
  parent's death. The parent decides when hashing stops, not Ctrl-C: `Hasher` starts the worker
  in a process group of its own, which a terminal's SIGINT does not reach (a program that goes
  on after KeyboardInterrupt, as `clearline demo` does, keeps its worker), and the worker
  ignores SIGINT sent to it directly. A malformed frame ends it with `EXIT_MALFORMED_FRAME`.
"""

from __future__ import annotations

import os
import signal
import struct
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from clearline.chain import tiles

ROW_BYTES = 132
"""`store.TRANSFER_ROW.size` (checked in `tiles`)."""
HASH_BYTES = 32
PARENT_POLL_SECONDS = 0.2
FRAME_BYTES_MAX = 64 << 20
"""Refuse to send or read a larger payload: about 500,000 rows, far beyond a ledger group
(`GROUP_EVENTS_MAX`), so only a corrupt length reaches it."""
EXIT_MALFORMED_FRAME = 2

FRAME_HEADER = struct.Struct(">IB")
"""Payload bytes, frame kind."""
REQUEST = 1
RESULT = 2
REFUSAL = 3
REQUEST_HEADER = struct.Struct(">QBQHII")
"""First leaf index, has a reset, reset size, reset frontier hashes, row bytes, inserts."""
INSERT = struct.Struct(">I32s")
"""Offset in the group, leaf hash."""
RESULT_HEADER = struct.Struct(">QQHB")
"""First leaf index, size after, frontier hashes, tiers."""
TIER_HEADER = struct.Struct(">BI")
"""Tier, bytes of completed hashes."""

TreeState = tuple[int, list[bytes]]
"""A tree's size and compact range (frontier, largest subtree first)."""


@dataclass(frozen=True, slots=True)
class HashedGroup:
    """A group's hashing result: the leaves [first_index, size), the frontier after them, and per
    tier the concatenated hashes of the nodes completed at that tier's level, left to right."""

    first_index: int
    size: int
    frontier: list[bytes]
    completed: dict[int, bytes]


@dataclass(frozen=True, slots=True)
class GroupRequest:
    """A group to hash: leaves from `first_index`, starting from `reset` when given (else from
    the worker's state), the packed transfer `rows` and `inserts` (offset, leaf hash) among them
    in ascending offsets."""

    first_index: int
    reset: TreeState | None
    rows: bytes
    inserts: Sequence[tuple[int, bytes]]


class GroupRefused(Exception):
    """The worker cannot hash the group (its state does not end where the group starts)."""


def hash_group(state: TreeState | None, request: GroupRequest) -> HashedGroup:
    """Hash the leaves of `request` on top of `state` (or its reset), return what changed; the
    new state is the result's (size, frontier)."""
    if request.reset is not None:
        state = request.reset
    if state is None or state[0] != request.first_index:
        raise GroupRefused(f"hasher state is not at leaf {request.first_index}")
    size, frontier = state
    rows = request.rows
    hashes = tiles.transfer_leaf_hashes(
        [rows[start : start + ROW_BYTES] for start in range(0, len(rows), ROW_BYTES)]
    )
    for offset, leaf_hash in request.inserts:  # ascending offsets in the merged group
        hashes.insert(offset, leaf_hash)
    new_frontier, completed = tiles.append_leaves(size, frontier, hashes)
    return HashedGroup(
        request.first_index,
        size + len(hashes),
        new_frontier,
        {tier: b"".join(level) for tier, level in completed.items()},
    )


def _frame_parts(kind: int, parts: Sequence[bytes]) -> list[bytes]:
    length = sum(len(part) for part in parts)
    if length > FRAME_BYTES_MAX:
        raise ValueError(f"a hasher frame of {length} bytes exceeds {FRAME_BYTES_MAX}")
    return [FRAME_HEADER.pack(length, kind), *parts]


def _frame(kind: int, parts: Sequence[bytes]) -> bytes:
    return b"".join(_frame_parts(kind, parts))


def request_parts(request: GroupRequest) -> list[bytes]:
    """A request frame as parts to write in order: the rows go out as they are, not copied (the
    writer thread builds this; joining 1 MB of rows cost it about 0.1 ms a group)."""
    size, frontier = request.reset if request.reset is not None else (0, [])
    if len(request.rows) % ROW_BYTES:
        raise ValueError(f"{len(request.rows)} row bytes are not whole rows of {ROW_BYTES}")
    header = REQUEST_HEADER.pack(
        request.first_index,
        request.reset is not None,
        size,
        len(frontier),
        len(request.rows),
        len(request.inserts),
    )
    inserts = b"".join(INSERT.pack(offset, leaf_hash) for offset, leaf_hash in request.inserts)
    return _frame_parts(REQUEST, [header, *frontier, request.rows, inserts])


def encode_request(request: GroupRequest) -> bytes:
    return b"".join(request_parts(request))


def decode_request(payload: bytes) -> GroupRequest:
    first, has_reset, size, frontier_count, row_bytes, insert_count = REQUEST_HEADER.unpack_from(
        payload
    )
    at = REQUEST_HEADER.size
    frontier = [
        payload[at + i * HASH_BYTES : at + (i + 1) * HASH_BYTES] for i in range(frontier_count)
    ]
    at += frontier_count * HASH_BYTES
    rows = payload[at : at + row_bytes]
    at += row_bytes
    inserts = [INSERT.unpack_from(payload, at + i * INSERT.size) for i in range(insert_count)]
    if at + insert_count * INSERT.size != len(payload) or len(rows) % ROW_BYTES:
        raise ValueError("malformed hasher request")
    return GroupRequest(first, (size, frontier) if has_reset else None, rows, inserts)


def encode_result(group: HashedGroup) -> bytes:
    header = RESULT_HEADER.pack(
        group.first_index, group.size, len(group.frontier), len(group.completed)
    )
    tiers = [
        part
        for tier, hashes in group.completed.items()
        for part in (TIER_HEADER.pack(tier, len(hashes)), hashes)
    ]
    return _frame(RESULT, [header, *group.frontier, *tiers])


def decode_result(payload: bytes) -> HashedGroup:
    first, size, frontier_count, tier_count = RESULT_HEADER.unpack_from(payload)
    at = RESULT_HEADER.size
    frontier = [
        payload[at + i * HASH_BYTES : at + (i + 1) * HASH_BYTES] for i in range(frontier_count)
    ]
    at += frontier_count * HASH_BYTES
    completed = {}
    for _ in range(tier_count):
        tier, length = TIER_HEADER.unpack_from(payload, at)
        at += TIER_HEADER.size
        completed[tier] = payload[at : at + length]
        at += length
    if at != len(payload):
        raise ValueError("malformed hasher result")
    return HashedGroup(first, size, frontier, completed)


def encode_refusal(message: str) -> bytes:
    return _frame(REFUSAL, [message.encode("utf-8")])


def read_frame(stream: IO[bytes]) -> tuple[int, bytes] | None:
    """The next frame's kind and payload; None at a clean end of the stream (between frames)."""
    header = _read_exactly(stream, FRAME_HEADER.size)
    if not header:
        return None
    if len(header) < FRAME_HEADER.size:
        raise EOFError("the hasher pipe ended inside a frame header")
    length, kind = FRAME_HEADER.unpack(header)
    if length > FRAME_BYTES_MAX:
        raise ValueError(f"a hasher frame of {length} bytes exceeds {FRAME_BYTES_MAX}")
    payload = _read_exactly(stream, length)
    if len(payload) < length:
        raise EOFError("the hasher pipe ended inside a frame")
    return kind, payload


def _read_exactly(stream: IO[bytes], count: int) -> bytes:
    """`count` bytes, or fewer only where the stream ends."""
    chunks, missing = [], count
    while missing:
        chunk = stream.read(missing)
        if not chunk:
            break
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def serve(requests: IO[bytes], results: IO[bytes]) -> None:
    """Answer every request frame with a result or refusal frame until `requests` ends."""
    state: TreeState | None = None
    while (frame := read_frame(requests)) is not None:
        kind, payload = frame
        if kind != REQUEST:
            raise ValueError(f"a hasher frame of kind {kind} where a request was expected")
        try:
            group = hash_group(state, decode_request(payload))
        except GroupRefused as refusal:
            results.write(encode_refusal(str(refusal)))
        else:
            state = (group.size, group.frontier)
            results.write(encode_result(group))
        results.flush()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(0)  # the ledger's process is gone: nothing here is worth finishing


def _take_pipes() -> tuple[IO[bytes], IO[bytes]]:
    """The request and result pipes, moved off fds 0 and 1, which then point to /dev/null with
    fd 2, so nothing but `serve` writes to the parent."""
    requests = os.fdopen(os.dup(0), "rb")
    results = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    for stream in (0, 1, 2):
        os.dup2(null, stream)
    os.close(null)
    return requests, results


def main(arguments: Sequence[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent_pid = int(arguments[0]) if arguments else os.getppid()
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    requests, results = _take_pipes()
    try:
        serve(requests, results)
    except (ValueError, EOFError, struct.error):
        return EXIT_MALFORMED_FRAME
    except BrokenPipeError:  # the parent stopped reading: it is closing or gone
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
