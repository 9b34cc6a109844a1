"""The compiled feature module: the same vectors as its Python source, snapshots that move between
the two, never a stale build, and window starts equal to bisection."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from bisect import bisect_right
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearline import native
from clearline.risk import features
from clearline.risk.features import _first_after
from clearline.risk.world import LabelledWorld

MODULE = "clearline.risk.features"


@pytest.fixture(scope="module")
def source() -> ModuleType:
    """The Python source of the feature module, loaded beside whatever `features` is."""
    module = native.load_source(MODULE, "clearline_features_from_source")
    yield module
    sys.modules.pop("clearline_features_from_source", None)


def test_the_compiled_module_is_what_runs_where_it_was_built() -> None:
    state = native.status(MODULE)
    if os.environ.get("CI") and os.environ.get(native.ENVIRONMENT_SWITCH, "1") != "0":
        assert state == "compiled", "make builds the compiled features; CI must run them"
    compiled = features.__file__ is not None and not features.__file__.endswith(".py")
    assert compiled == (state == "compiled")


def _vectors(module: ModuleType, world: LabelledWorld) -> np.ndarray:
    context = module.FeatureContext(
        {
            key: module.AccountProfile(p.kyc_tier, p.tenure_days, p.age_band, p.owner_kind)
            for key, p in world.context.profiles.items()
        },
        world.context.reference_ns,
        dict(world.context.usd_per_unit),
    )
    return module.replay(module.events_from_table(world.transactions), context)  # type: ignore[no-any-return]


def test_compiled_and_source_vectors_are_equal(
    stream_world: LabelledWorld, source: ModuleType
) -> None:
    expected = _vectors(source, stream_world)
    got = _vectors(features, stream_world)
    assert got.shape == expected.shape and len(got) > 1_000
    assert np.array_equal(got, expected, equal_nan=True)


SNAPSHOT_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
from clearline.risk import features
from clearline.risk.features import FeatureState, events_from_table
from clearline.risk.world import world_from_tables
from clearline.sim import World, all_tables
from conftest import stream_config_of
world = world_from_tables(all_tables(World(stream_config_of()).generate()))
events = list(events_from_table(world.transactions))
half, path, mode = len(events) // 2, Path(sys.argv[1]), sys.argv[2]
assert features.__file__.endswith(".py") == (sys.argv[3] == "source"), features.__file__
if mode == "write":
    state = FeatureState(world.context)
    for event in events[:half]:
        state.observe(event)
    state.snapshot(path)
else:
    state = FeatureState.restore(path)
    np.save(path.with_suffix(".npy"), np.array([state.observe(e) for e in events[half:]]))
"""


def _other_form(tmp_path: Path, mode: str) -> None:
    """Run SNAPSHOT_SCRIPT in a process on the other form of the module than this one's."""
    compiled = native.status(MODULE) == "compiled"
    environment = {**os.environ, native.ENVIRONMENT_SWITCH: "0" if compiled else "1"}
    environment["PYTHONPATH"] = str(Path(__file__).parent)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SNAPSHOT_SCRIPT,
            str(tmp_path / "state.pickle"),
            mode,
            "source" if compiled else "compiled",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3_000:]


@pytest.mark.parametrize("writer", ["this_process", "other_form"])
def test_a_snapshot_moves_between_compiled_and_source(
    stream_world: LabelledWorld, tmp_path: Path, writer: str
) -> None:
    events = list(features.events_from_table(stream_world.transactions))
    half = len(events) // 2
    straight = features.FeatureState(stream_world.context)
    expected = np.array([straight.observe(event) for event in events])[half:]
    if writer == "this_process":
        state = features.FeatureState(stream_world.context)
        for event in events[:half]:
            state.observe(event)
        state.snapshot(tmp_path / "state.pickle")
        _other_form(tmp_path, "read")
        rest = np.load(tmp_path / "state.npy")
    else:
        _other_form(tmp_path, "write")
        restored = features.FeatureState.restore(tmp_path / "state.pickle")
        rest = np.array([restored.observe(event) for event in events[half:]])
    assert len(rest) == len(expected) > 500
    assert np.array_equal(rest, expected, equal_nan=True)


def test_a_stale_build_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    if native.status(MODULE) != "compiled":
        pytest.skip("no compiled build here: nothing can be stale")
    monkeypatch.setattr(native, "source_hash", lambda name: "0" * 64)
    assert native.status(MODULE) == "stale"
    saved = sys.modules.pop(MODULE)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            native.load(MODULE)
        loaded = sys.modules[MODULE]
        assert loaded.__file__ is not None and loaded.__file__.endswith("features.py")
        assert any("make native" in str(item.message) for item in caught)
    finally:
        sys.modules[MODULE] = saved


def test_the_switch_turns_the_build_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(native.ENVIRONMENT_SWITCH, "0")
    assert native.status(MODULE) == "disabled"


@given(
    st.lists(st.integers(0, 50), max_size=40).map(sorted),
    st.integers(-5, 60),
    st.integers(0, 45),
    st.integers(-10, 45),
)
def test_window_starts_equal_bisection(
    times: list[int], edge: int, start: int, lowest: int
) -> None:
    start = min(start, len(times))
    assert _first_after(times, edge, start, lowest) == max(bisect_right(times, edge, start), lowest)
