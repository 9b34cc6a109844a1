"""Key files: first-run generation, owner-only permissions, refusals, and key management."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from clearline.vault import (
    DataKeyRing,
    KeyFileMalformed,
    KeyFileUnsafe,
    KeyInUse,
    KeyUnknown,
    key_id_of,
    token_key_id,
)
from clearline.vault.keyring import CURRENT_FILE, KEY_FILE_SUFFIX

CONTEXT = b"clearline.vault/customers.name/1"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def key_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{KEY_FILE_SUFFIX}"))


def test_first_run_makes_a_private_directory_and_key(tmp_path: Path) -> None:
    directory = tmp_path / "data" / "keys"
    ring = DataKeyRing.open(directory)
    (key_file,) = key_files(directory)
    assert mode_of(directory) == 0o700
    assert mode_of(key_file) == 0o600
    assert mode_of(directory / CURRENT_FILE) == 0o600
    assert key_file.stat().st_size == 32
    assert key_file.name == f"{ring.current_key_id}{KEY_FILE_SUFFIX}"
    assert key_id_of(key_file.read_bytes()) == ring.current_key_id
    assert ring.key_ids() == (ring.current_key_id,)
    assert sorted(path.name for path in directory.iterdir()) == sorted(
        [CURRENT_FILE, key_file.name]
    )


def test_reopening_keeps_the_key(tmp_path: Path) -> None:
    first = DataKeyRing.open(tmp_path / "keys")
    token = first.encrypt("Ada Lovelace", CONTEXT)
    again = DataKeyRing.open(tmp_path / "keys")
    assert again.current_key_id == first.current_key_id
    assert again.decrypt(token, CONTEXT) == "Ada Lovelace"


def test_two_rings_have_different_keys(tmp_path: Path) -> None:
    one = DataKeyRing.open(tmp_path / "one")
    other = DataKeyRing.open(tmp_path / "other")
    assert one.current_key_id != other.current_key_id
    with pytest.raises(KeyUnknown):
        other.decrypt(one.encrypt("Ada", CONTEXT), CONTEXT)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_refuses_a_key_file_others_may_read(tmp_path: Path, mode: int) -> None:
    ring = DataKeyRing.open(tmp_path / "keys")
    key_file = tmp_path / "keys" / f"{ring.current_key_id}{KEY_FILE_SUFFIX}"
    key_file.chmod(mode)
    with pytest.raises(KeyFileUnsafe) as refused:
        DataKeyRing.open(tmp_path / "keys")
    assert refused.value.code == "key_file_unsafe"
    assert str(key_file) in str(refused.value) and "chmod 600" in str(refused.value)


def test_refuses_a_key_directory_others_may_enter(tmp_path: Path) -> None:
    DataKeyRing.open(tmp_path / "keys")
    (tmp_path / "keys").chmod(0o755)
    with pytest.raises(KeyFileUnsafe, match="chmod 700"):
        DataKeyRing.open(tmp_path / "keys")


def test_refuses_malformed_key_files(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ring = DataKeyRing.open(directory)
    key_file = directory / f"{ring.current_key_id}{KEY_FILE_SUFFIX}"
    key = key_file.read_bytes()

    key_file.write_bytes(key[:31])
    with pytest.raises(KeyFileMalformed, match="31 bytes"):
        DataKeyRing.open(directory)

    key_file.write_bytes(bytes([key[0] ^ 1]) + key[1:])  # damaged: the id no longer matches
    with pytest.raises(KeyFileMalformed, match="renamed or damaged"):
        DataKeyRing.open(directory)

    key_file.write_bytes(key)
    bad_name = directory / f"not-an-id{KEY_FILE_SUFFIX}"
    bad_name.write_bytes(key)
    bad_name.chmod(0o600)
    with pytest.raises(KeyFileMalformed, match="not named"):
        DataKeyRing.open(directory)
    bad_name.unlink()
    assert DataKeyRing.open(directory).current_key_id == ring.current_key_id


def test_refuses_a_current_file_naming_no_key(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    DataKeyRing.open(directory)
    (directory / CURRENT_FILE).write_text("0badc0de\n")
    with pytest.raises(KeyFileMalformed, match="0badc0de"):
        DataKeyRing.open(directory)


def test_a_missing_current_file_is_restored_only_when_unambiguous(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ring = DataKeyRing.open(directory)
    (directory / CURRENT_FILE).unlink()  # a crash between the first key file and `current`
    assert DataKeyRing.open(directory).current_key_id == ring.current_key_id
    ring.add_key()
    (directory / CURRENT_FILE).unlink()
    with pytest.raises(KeyFileMalformed, match="holds 2 keys"):
        DataKeyRing.open(directory)


def test_temporary_files_left_by_a_crash_are_removed(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ring = DataKeyRing.open(directory)
    leftover = directory / f"0123abcd{KEY_FILE_SUFFIX}.tmp"
    leftover.write_bytes(b"half a key")
    assert DataKeyRing.open(directory).key_ids() == (ring.current_key_id,)
    assert not leftover.exists()


def test_add_set_current_and_remove(tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    ring = DataKeyRing.open(directory)
    first = ring.current_key_id
    old_token = ring.encrypt("Ada Lovelace", CONTEXT)
    second = ring.add_key()
    assert ring.current_key_id == first and set(ring.key_ids()) == {first, second}
    assert mode_of(directory / f"{second}{KEY_FILE_SUFFIX}") == 0o600
    assert token_key_id(ring.encrypt("Ada", CONTEXT, key_id=second)) == second

    ring.set_current(second)
    assert DataKeyRing.open(directory).current_key_id == second
    new_token = ring.reencrypt(old_token, CONTEXT)
    assert token_key_id(new_token) == second and ring.reencrypt(new_token, CONTEXT) == new_token
    assert ring.decrypt(new_token, CONTEXT) == "Ada Lovelace"

    with pytest.raises(KeyInUse):
        ring.remove_key(second)
    ring.remove_key(first)
    assert ring.key_ids() == (second,) == DataKeyRing.open(directory).key_ids()
    with pytest.raises(KeyUnknown):
        ring.decrypt(old_token, CONTEXT)
    with pytest.raises(KeyUnknown):
        ring.set_current(first)
    with pytest.raises(KeyUnknown):
        ring.encrypt("Ada", CONTEXT, key_id=first)


def test_repr_shows_no_key_material(tmp_path: Path) -> None:
    ring = DataKeyRing.open(tmp_path / "keys")
    key = (tmp_path / "keys" / f"{ring.current_key_id}{KEY_FILE_SUFFIX}").read_bytes()
    assert ring.current_key_id in repr(ring)
    assert key.hex() not in repr(ring) and str(key) not in repr(ring)
