"""The compiled feature modules: the same vectors as their Python source, snapshots that move
between the two, never a stale or mixed build, a build that fails cleanly without a compiler,
and window starts equal to bisection."""

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
from clearline.risk.feature_windows import _first_after
from clearline.risk.world import LabelledWorld

MODULE = "clearline.risk.features"
GROUP = native.group_of(MODULE)
ALIAS = "clearline_features_from_source"


@pytest.fixture(scope="module")
def source() -> ModuleType:
    """The Python source of the feature modules, loaded beside whatever `features` is."""
    modules = native.load_sources(GROUP, ALIAS)
    yield modules[MODULE]
    for module in modules.values():
        sys.modules.pop(module.__name__, None)


def test_the_compiled_modules_are_what_runs_where_they_were_built() -> None:
    state = native.status(MODULE)
    if os.environ.get("CI") and os.environ.get(native.ENVIRONMENT_SWITCH, "1") != "0":
        assert state == "compiled", "make builds the compiled features; CI must run them"
    for name in native.NATIVE_GROUPS[GROUP]:
        assert native.status(name) == state  # one group: all compiled or none
        module = sys.modules[name]
        assert module.__file__ is not None
        assert module.__file__.endswith(".py") == (state != "compiled"), module.__file__
        assert Path(module.__file__).parent == native.source_path(name).parent


def test_the_source_form_runs_on_its_own_source_parts(source: ModuleType) -> None:
    """Loaded beside the compiled group, the source `features` uses the source windows and
    state, not the compiled ones (which would test a mix)."""
    parts = {
        name: sys.modules[f"{ALIAS}_{name.rpartition('.')[2]}"]
        for name in native.NATIVE_GROUPS[GROUP]
    }
    assert all(
        part.__file__ is not None and part.__file__.endswith(".py") for part in parts.values()
    )
    assert source.Flow is parts["clearline.risk.feature_windows"].Flow
    assert source.AccountState is parts["clearline.risk.feature_state"].AccountState
    assert source.PaymentEvent is parts["clearline.risk.feature_catalogue"].PaymentEvent
    assert sys.modules[MODULE] is features  # the real names are left as they were


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
    if native.status(MODULE) == "source":
        pytest.skip("nothing built here (no C compiler): there is no other form to move to")
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


def _loaded_after_a_stale_build() -> dict[str, ModuleType]:
    """What `native.load` puts under the group's names once the build is stale (the modules
    loaded before are put back afterwards)."""
    saved = {name: sys.modules.pop(name) for name in native.NATIVE_GROUPS[GROUP]}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            native.load(MODULE)
        assert any("make native" in str(item.message) for item in caught)
        return {name: sys.modules[name] for name in saved}
    finally:
        sys.modules.update(saved)


def test_a_stale_build_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    if native.status(MODULE) != "compiled":
        pytest.skip("no compiled build here: nothing can be stale")
    real_hash = native.source_hash
    monkeypatch.setattr(  # one part edited after the build: the whole group is stale
        native,
        "source_hash",
        lambda name: "0" * 64 if name.endswith("feature_windows") else real_hash(name),
    )
    assert {native.status(name) for name in native.NATIVE_GROUPS[GROUP]} == {"stale"}
    loaded = _loaded_after_a_stale_build()
    for name, module in loaded.items():
        assert module.__file__ == str(native.source_path(name))
    assert loaded[MODULE].Flow is loaded["clearline.risk.feature_windows"].Flow


def test_a_build_with_a_part_missing_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    if native.status(MODULE) != "compiled":
        pytest.skip("no compiled build here: nothing can be incomplete")
    monkeypatch.setattr(native, "library_paths", lambda group: [])
    assert native.status(MODULE) == "stale"
    loaded = _loaded_after_a_stale_build()
    assert all(str(module.__file__).endswith(".py") for module in loaded.values())


def test_without_a_compiler_the_build_fails_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    """No C compiler: a clear error, `--optional` makes it a warning, and nothing is removed or
    written (the build checks for the compiler before it cleans)."""
    before = {path: path.stat().st_mtime_ns for path in _built_files()}
    monkeypatch.setattr(native.shutil, "which", lambda command: None)
    with pytest.raises(native.BuildFailed, match="no C compiler"):
        native.build()
    assert native.main(["--optional"]) == 0
    assert native.main([]) == 1
    assert {path: path.stat().st_mtime_ns for path in _built_files()} == before


def _built_files() -> list[Path]:
    group = native.NATIVE_GROUPS[GROUP]
    return [
        *native.library_paths(GROUP),
        *(path for name in group for path in native.extension_paths(name)),
        *(path for path in [native.stamp_path(GROUP)] if path.exists()),
    ]


def test_clean_removes_every_built_file_of_either_layout(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """In a copy of the package tree holding the files of a group build and of the single-module
    build before groups, `clean` leaves only the sources."""
    suffix = native.importlib.machinery.EXTENSION_SUFFIXES[0]
    monkeypatch.setattr(native, "PACKAGE_ROOT", tmp_path)
    monkeypatch.delenv(native.ENVIRONMENT_SWITCH, raising=False)
    package = tmp_path / "clearline" / "risk"
    package.mkdir(parents=True)
    sources = [native.source_path(name) for name in native.NATIVE_GROUPS[GROUP]]
    for source in sources:
        source.write_text("")
        for tail in (suffix, native.LIBRARY_INFIX + suffix, native.STAMP_SUFFIX):
            source.with_name(source.stem + tail).write_text("")
    (tmp_path / (GROUP + native.LIBRARY_INFIX + suffix)).write_text("")
    native.stamp_path(GROUP).write_text("")
    assert native.status(MODULE) == "stale"
    assert native.main(["--clean"]) == 0
    left = sorted(path for path in tmp_path.rglob("*") if path.is_file())
    assert left == sorted(sources)
    assert native.status(MODULE) == "source"


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
