"""Configuration of a simulated world: frozen records, presets and loading from a file.

Guarantees:
- A `SimConfig` is immutable and fully describes a world together with its seed: the same config
  always produces the same output, byte for byte.
- Every fraud scenario and every laundering typology has its own rate, written as the share of all
  transactions it should produce (0.001 is one transaction in a thousand), so the configured rate
  and the measured rate in `manifest.json` are the same kind of number and can be compared.
- Presets mirror the IBM AMLworld benchmark: `hi` (higher illicit, about 1 laundering transaction in
  1,000) and `li` (lower illicit, about 1 in 2,000). They change the laundering share only.
- Files (JSON or TOML) override a preset field by field; unknown keys are refused
  (`unknown_config_key`), never ignored, so a typo cannot silently change nothing.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

from clearline.core.errors import InvalidInput

FRAUD_SCENARIOS = (
    "account_takeover",
    "card_testing",
    "app_scam",
    "merchant_collusion",
    "synthetic_identity_bust_out",
)
"""Fraud scenario names, as written in `labels.parquet` column `fraud_scenario`."""

LAUNDERING_TYPOLOGIES = (
    "fan_out",
    "fan_in",
    "cycle",
    "scatter_gather",
    "gather_scatter",
    "bipartite",
    "stack",
    "random",
    "structuring",
    "rapid_movement",
    "lone",
)
"""Laundering typology names, as written in `labels.parquet` column `laundering_typology`.

The first eight are the IBM AMLworld patterns; `lone` marks single illicit transactions that belong
to no pattern."""

PRESETS = {"hi": 1 / 1_000, "li": 1 / 2_000}
"""Laundering share of all transactions per preset (AMLworld HI and LI)."""

PEOPLE_MAX = 10_000_000
DAYS_MAX = 3_660
SHARE_MAX = 0.05
"""Upper bound of any single fraud or laundering share: more would no longer be a minority."""


@dataclass(frozen=True, slots=True)
class FraudConfig:
    """Share of all transactions produced by each fraud scenario.

    account_takeover: a stranger's device drains a person's account to mule accounts.
    card_testing: bursts of tiny card payments at one online merchant from many victims' cards.
    app_scam: authorised push payments: victims pay mule accounts, which pass the money on.
    merchant_collusion: a colluding merchant charges victims and refunds accomplices.
    synthetic_identity_bust_out: a made-up identity behaves well, then spends its credit at once.
    """

    account_takeover: float = 0.0004
    card_testing: float = 0.0006
    app_scam: float = 0.0004
    merchant_collusion: float = 0.0003
    synthetic_identity_bust_out: float = 0.0003

    def share(self, scenario: str) -> float:
        return float(getattr(self, scenario))


@dataclass(frozen=True, slots=True)
class LaunderingConfig:
    """How much laundering there is and how it divides between typologies.

    illicit_share: share of all transactions that are laundering (preset `hi` 1/1000, `li` 1/2000).
    weights: relative share of laundering transactions per typology (normalised when used).
    fee_max: largest fraction a pass-through account keeps of what it forwards (0.03 is 3%).
    window_days_max: longest time an attempt may take, in days.
    amount_tilt: share of drawn sums that are the larger of two honest draws (0 = honest sizes).
    """

    illicit_share: float = PRESETS["hi"]
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "fan_out": 0.11,
            "fan_in": 0.11,
            "cycle": 0.09,
            "scatter_gather": 0.10,
            "gather_scatter": 0.10,
            "bipartite": 0.09,
            "stack": 0.09,
            "random": 0.08,
            "structuring": 0.09,
            "rapid_movement": 0.09,
            "lone": 0.05,
        }
    )
    fee_max: float = 0.03
    window_days_max: int = 10
    amount_tilt: float = 0.3

    def typology_share(self, typology: str) -> float:
        total = sum(self.weights.values())
        return self.illicit_share * self.weights.get(typology, 0.0) / total


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything that defines a world, except nothing: the seed is part of it.

    seed: the only source of randomness; same seed and config give identical output.
    people: number of people (honest ones; synthetic identities are added by the fraud plan).
    days: length of the simulation in days, starting at midnight UTC of `start_date`.
    start_date: first simulated day.
    preset: `hi` or `li`; only recorded here, its effect is in `laundering.illicit_share`.
    merchants_per_thousand_people, enterprises_per_thousand_people: size of the economy.
    fraud, laundering: the labelled illicit behaviour.
    """

    seed: int = 0
    people: int = 10_000
    days: int = 30
    start_date: date = date(2026, 1, 5)
    preset: str = "hi"
    merchants_per_thousand_people: int = 25
    enterprises_per_thousand_people: int = 6
    fraud: FraudConfig = field(default_factory=FraudConfig)
    laundering: LaunderingConfig = field(default_factory=LaunderingConfig)

    def __post_init__(self) -> None:
        errors = validate(self)
        if errors:
            raise InvalidInput("; ".join(errors), code="invalid_sim_config")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (dates as ISO text)."""
        data = asdict(self)
        data["start_date"] = self.start_date.isoformat()
        return data


def validate(config: SimConfig) -> list[str]:
    """Every problem with `config`, empty when it is usable."""
    errors: list[str] = []
    if not 0 <= config.seed < 2**63:
        errors.append("seed must be in 0..2**63-1")
    if not 50 <= config.people <= PEOPLE_MAX:
        errors.append(f"people must be in 50..{PEOPLE_MAX}")
    if not 1 <= config.days <= DAYS_MAX:
        errors.append(f"days must be in 1..{DAYS_MAX}")
    if config.preset not in PRESETS:
        errors.append(f"preset must be one of {sorted(PRESETS)}")
    if config.merchants_per_thousand_people < 1 or config.enterprises_per_thousand_people < 1:
        errors.append("merchants and enterprises per thousand people must be at least 1")
    for scenario in FRAUD_SCENARIOS:
        if not 0 <= config.fraud.share(scenario) <= SHARE_MAX:
            errors.append(f"fraud.{scenario} must be in 0..{SHARE_MAX}")
    laundering = config.laundering
    if not 0 <= laundering.illicit_share <= SHARE_MAX:
        errors.append(f"laundering.illicit_share must be in 0..{SHARE_MAX}")
    unknown = sorted(set(laundering.weights) - set(LAUNDERING_TYPOLOGIES))
    if unknown:
        errors.append(f"unknown laundering typologies {unknown}")
    if any(weight < 0 for weight in laundering.weights.values()) or not any(
        laundering.weights.values()
    ):
        errors.append("laundering weights must be non-negative and not all zero")
    if not 0 <= laundering.fee_max < 0.5:
        errors.append("laundering.fee_max must be in 0..0.5")
    if not 0 <= laundering.amount_tilt <= 1:
        errors.append("laundering.amount_tilt must be in 0..1")
    if not 1 <= laundering.window_days_max <= 60:
        errors.append("laundering.window_days_max must be in 1..60")
    return errors


def preset(name: str, **overrides: Any) -> SimConfig:
    """The config of preset `hi` or `li`, with top-level fields overridden.

    A `laundering` override replaces the preset's laundering block entirely."""
    if name not in PRESETS:
        raise InvalidInput(f"unknown preset {name!r}; use 'hi' or 'li'", code="unknown_preset")
    overrides.setdefault("laundering", LaunderingConfig(illicit_share=PRESETS[name]))
    return SimConfig(preset=name, **overrides)


def _merge(record: Any, values: dict[str, Any], where: str) -> Any:
    known = {item.name: item for item in fields(record)}
    changes: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise InvalidInput(
                f"unknown config key {where}{key!r}; known: {sorted(known)}",
                code="unknown_config_key",
            )
        current = getattr(record, key)
        if isinstance(current, FraudConfig | LaunderingConfig):
            changes[key] = _merge(current, value, f"{where}{key}.")
        elif isinstance(current, date):
            changes[key] = date.fromisoformat(str(value))
        elif isinstance(current, dict):
            changes[key] = {**current, **value}
        else:
            changes[key] = value
    return replace(record, **changes)


def load_config(path: Path | None, preset_name: str = "hi", **overrides: Any) -> SimConfig:
    """Preset `preset_name`, then the file at `path` (JSON or TOML), then `overrides`.

    A file may set any field, nested as `[fraud]` / `[laundering]` tables (TOML) or objects (JSON).
    Overrides whose value is None are skipped, so CLI options that were not given change nothing.
    """
    config = preset(preset_name)
    if path is not None:
        text = Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(text) if Path(path).suffix == ".toml" else json.loads(text)
        if "preset" in data and data["preset"] != preset_name:
            config = preset(data["preset"])
        config = _merge(config, data, "")
    chosen = {key: value for key, value in overrides.items() if value is not None}
    return _merge(config, chosen, "") if chosen else config
