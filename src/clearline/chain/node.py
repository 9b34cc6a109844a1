"""A node's settings for its log (`node.toml` in the data directory) and the default sealer.

Guarantees:
- `open_sealer(data_directory, clock)` is the `SealerFactory` that `Ledger.open` loads by name
  (`clearline.ledger.ledger.DEFAULT_SEALER`): it reads the node's settings, creating `node.toml`
  on first run, and returns a `SealingHook` with the node's keys (created on first run, mode 0600
  in a 0700 directory), signing on the ledger's clock, hashing large groups in a worker process
  (`hasher.py`).
- `node.toml` holds `origin` (the log's name, default `clearline.local/<data directory name>`),
  `checkpoint_interval_ms` (default `CHECKPOINT_INTERVAL_MS_DEFAULT`), `ml_dsa` (default true),
  and for publishing, `witnesses` (verifier keys of type 04) and `witnesses_required` (k).
  Unknown keys and wrong types are refused with `node_config_invalid`, naming the key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearline.chain.keys import check_key_name
from clearline.chain.log import CHECKPOINT_INTERVAL_MS_MAX, SealingHook
from clearline.core.clock import Clock
from clearline.core.errors import ClearlineError

NODE_FILE = "node.toml"
CHECKPOINT_INTERVAL_MS_DEFAULT = 200
"""At most five signed checkpoints a second under load; an idle tail is signed this long after
the last checkpoint. One checkpoint costs about 1.2 ms (ML-DSA-65 1.05 ms, Ed25519 0.04 ms)."""
DEFAULT_ORIGIN_PREFIX = "clearline.local/"


class NodeConfigInvalid(ClearlineError, ValueError):
    code = "node_config_invalid"


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """`origin`: the log's name, the first line of every checkpoint and the node keys' name.
    `checkpoint_interval_ms`: the least time between two checkpoints under load (0: every group).
    `ml_dsa`: sign with ML-DSA-65 beside Ed25519. `witnesses`: witness verifier keys (type 04)
    whose cosignatures count; `witnesses_required`: how many make a checkpoint published."""

    origin: str
    checkpoint_interval_ms: int = CHECKPOINT_INTERVAL_MS_DEFAULT
    ml_dsa: bool = True
    witnesses: tuple[str, ...] = ()
    witnesses_required: int = 0

    def __post_init__(self) -> None:
        try:
            check_key_name(self.origin)
        except ClearlineError as error:
            raise NodeConfigInvalid(f"origin: {error}") from error
        if not 0 <= self.checkpoint_interval_ms <= CHECKPOINT_INTERVAL_MS_MAX:
            raise NodeConfigInvalid(
                f"checkpoint_interval_ms must be within 0..{CHECKPOINT_INTERVAL_MS_MAX}"
            )
        if not 0 <= self.witnesses_required <= len(self.witnesses):
            raise NodeConfigInvalid(
                f"witnesses_required is {self.witnesses_required}, with "
                f"{len(self.witnesses)} witnesses"
            )

    def toml(self) -> str:
        witnesses = "".join(f'  "{key}",\n' for key in self.witnesses)
        return (
            "# Clearline node settings (docs/chain.md, 'Sealed by default').\n"
            f'origin = "{self.origin}"\n'
            f"checkpoint_interval_ms = {self.checkpoint_interval_ms}\n"
            f"ml_dsa = {str(self.ml_dsa).lower()}\n"
            f"witnesses = [\n{witnesses}]\n"
            f"witnesses_required = {self.witnesses_required}\n"
        )


def default_origin(data_directory: Path) -> str:
    """`clearline.local/<the data directory's name>`, with characters a key name refuses (and
    any but letters, digits, `.`, `_`, `-`) replaced by `-`."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", Path(data_directory).resolve().name) or "node"
    return DEFAULT_ORIGIN_PREFIX + name


_TYPES: dict[str, type] = {
    "origin": str,
    "checkpoint_interval_ms": int,
    "ml_dsa": bool,
    "witnesses": list,
    "witnesses_required": int,
}


def _checked(values: dict[str, Any]) -> NodeConfig:
    for key, value in values.items():
        expected = _TYPES.get(key)
        if expected is None:
            raise NodeConfigInvalid(f"{NODE_FILE}: unknown key {key!r}")
        if type(value) is not expected or (
            isinstance(value, list) and not all(isinstance(item, str) for item in value)
        ):
            raise NodeConfigInvalid(f"{NODE_FILE}: {key} must be a {expected.__name__}")
    if "origin" not in values:
        raise NodeConfigInvalid(f"{NODE_FILE}: origin is missing")
    if "witnesses" in values:
        values = {**values, "witnesses": tuple(values["witnesses"])}
    return NodeConfig(**values)


def load_node_config(data_directory: Path) -> NodeConfig | None:
    """The settings in `<data directory>/node.toml`, or None when there is none."""
    path = Path(data_directory) / NODE_FILE
    if not path.exists():
        return None
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise NodeConfigInvalid(f"{path}: {error}") from error
    return _checked(values)


def save_node_config(data_directory: Path, config: NodeConfig) -> None:
    Path(data_directory).mkdir(mode=0o700, parents=True, exist_ok=True)
    path = Path(data_directory) / NODE_FILE
    temporary = path.with_name(NODE_FILE + ".tmp")
    temporary.write_text(config.toml(), encoding="utf-8")
    temporary.replace(path)


def load_or_create_node_config(data_directory: Path) -> NodeConfig:
    """The node's settings; on first run, the defaults, written to `node.toml`."""
    config = load_node_config(data_directory)
    if config is None:
        config = NodeConfig(default_origin(data_directory))
        save_node_config(data_directory, config)
    return config


def open_sealer(data_directory: Path, clock: Clock) -> SealingHook:
    """The default sealer of `Ledger.open` (see the module docstring)."""
    config = load_or_create_node_config(data_directory)
    return SealingHook.open(
        data_directory,
        config.origin,
        ml_dsa=config.ml_dsa,
        clock=clock,
        checkpoint_interval_ms=config.checkpoint_interval_ms,
        hasher=True,
    )
