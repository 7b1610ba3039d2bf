"""Loading a scenario with its evidence (``forecast.data.inputs``): where the files live, the
scenario lock, unreadable files, problems located at the real files, and the snapshot's hashes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from conftest import os_errors

import forecast.data.inputs as inputs_mod
from forecast.data.errors import InputError, Problem
from forecast.data.inputs import (
    LOCK_NAME,
    load_inputs,
    load_snapshot_evidence,
    parse_snapshot,
    relocate,
    scenario_lock,
    scenario_paths,
)
from forecast.data.scenario_file import load_scenario


def _problems(exc: pytest.ExceptionInfo[InputError]) -> list[tuple[str, object, str, str]]:
    return [(p.file, p.where, p.field, p.message) for p in exc.value.problems]


def test_scenario_paths() -> None:
    assert scenario_paths("mini") == (Path("priors/mini.toml"), Path("data/mini"))
    assert scenario_paths("x", "/srv/p") == (Path("/srv/p/priors/x.toml"), Path("/srv/p/data/x"))
    assert scenario_paths("x", Path("rel")) == (Path("rel/priors/x.toml"), Path("rel/data/x"))


def test_load_inputs_defaults_to_the_current_folder(
    mini_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(mini_copy)
    inputs = load_inputs("mini")
    assert inputs.scenario.name == "mini"
    assert inputs.scenario_file == Path("priors/mini.toml")
    assert inputs.evidence_dir == Path("data/mini")
    assert inputs.files == [Path("priors/mini.toml"), Path("data/mini/evidence.csv")]


def test_explicit_files_override_the_layout(mini_copy: Path, tmp_path: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "s.toml").write_bytes(toml.read_bytes())
    inputs = load_inputs("nope", tmp_path / "none", elsewhere / "s.toml", data)
    assert inputs.scenario_file == elsewhere / "s.toml" and inputs.evidence_dir == data
    assert set(inputs.file_hashes()) == {"priors/s.toml", "data/mini/evidence.csv"}


def test_missing_evidence_folder_and_empty_folder_are_located(mini_copy: Path) -> None:
    _, data = scenario_paths("mini", mini_copy)
    (data / "evidence.csv").unlink()
    with pytest.raises(InputError) as exc:
        load_inputs("mini", mini_copy)
    assert _problems(exc) == [(str(data), "(dir)", "files", "no *.csv evidence files")]
    data.rmdir()
    with pytest.raises(InputError) as exc:
        load_inputs("mini", mini_copy)
    assert _problems(exc) == [(str(data), "(dir)", "directory", "evidence folder not found")]
    assert not data.exists()  # loading creates nothing (no folder, no lock file)


def test_missing_scenario_file_is_located_before_the_evidence(mini_copy: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    toml.unlink()
    (data / "x.csv").mkdir()  # would be an evidence problem too
    with pytest.raises(InputError) as exc:
        load_inputs("mini", mini_copy)
    assert _problems(exc) == [(str(toml), "(file)", "file", "No such file or directory")]


def test_bad_log_entries_are_reported_after_the_scenario_parses(mini_copy: Path) -> None:
    _, data = scenario_paths("mini", mini_copy)
    (data / "x.csv").mkdir()
    with pytest.raises(InputError) as exc:
        load_inputs("mini", mini_copy)
    ((file, where, field, message),) = _problems(exc)
    assert (file, where, field) == (str(data / "x.csv"), "(file)", "file")
    assert "directory" in message


def _unreadable(monkeypatch: pytest.MonkeyPatch, names: dict[str, OSError]) -> None:
    """Make ``Path.read_bytes`` fail for the given file names (the tests run as root, so file
    modes cannot make a file unreadable)."""
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self.name in names:
            raise names[self.name]
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)


def test_unreadable_log_files_are_located(mini_copy: Path, monkeypatch) -> None:
    _, data = scenario_paths("mini", mini_copy)
    (data / "b.csv").write_text("date,kind\n")  # readable, but lacks required columns
    _unreadable(monkeypatch, {"evidence.csv": PermissionError(13, "Permission denied")})
    with pytest.raises(InputError) as exc:
        load_inputs("mini", mini_copy)
    got = _problems(exc)
    assert got[0] == (str(data / "evidence.csv"), "(file)", "file", "Permission denied")
    # the readable file's own problems are reported too, at the real path
    assert len(got) > 1 and all(f == str(data / "b.csv") for f, *_ in got[1:])


def test_only_unreadable_log_files_do_not_also_say_there_are_none(
    mini_copy: Path, monkeypatch
) -> None:
    _, data = scenario_paths("mini", mini_copy)
    _unreadable(monkeypatch, {"evidence.csv": OSError("device went away")})
    with pytest.raises(InputError) as exc:
        load_inputs("mini", mini_copy)
    assert _problems(exc) == [(str(data / "evidence.csv"), "(file)", "file", "device went away")]


def test_unreadable_scenario_file_is_located(mini_copy: Path, monkeypatch) -> None:
    toml, _ = scenario_paths("mini", mini_copy)
    _unreadable(monkeypatch, {"mini.toml": IsADirectoryError(21, "Is a directory")})
    with pytest.raises(InputError) as exc:
        load_inputs("mini", mini_copy)
    assert _problems(exc) == [(str(toml), "(file)", "file", "Is a directory")]


def test_snapshot_contents_and_hashes(mini_copy: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    (data / "more.csv").write_text(
        "date,kind,target,value,source,source_url\n"
        "2022-05-01,event,tension,1,Another source,https://example.org/m\n"
    )
    inputs = load_inputs("mini", mini_copy)
    scen, ev, more = (p.read_bytes() for p in (toml, data / "evidence.csv", data / "more.csv"))
    assert inputs.contents == {
        "priors/mini.toml": scen,
        "data/mini/evidence.csv": ev,
        "data/mini/more.csv": more,
    }
    assert inputs.evidence_bytes() == {"evidence.csv": ev, "more.csv": more}
    hashes = {k: hashlib.sha256(v).hexdigest() for k, v in inputs.contents.items()}
    assert inputs.file_hashes() == hashes
    # the input hash is a stable function of names and contents (stored runs are found by it)
    h = hashlib.sha256()
    for name in sorted(hashes):
        h.update(name.encode() + b"\x00" + hashes[name].encode() + b"\n")
    assert inputs.input_hash() == h.hexdigest()
    assert set(inputs.evidence.frame["file"]) == {
        str(data / "evidence.csv"),
        str(data / "more.csv"),
    }


def test_hand_built_inputs_read_every_file_from_disk(mini_copy: Path) -> None:
    import dataclasses

    _, data = scenario_paths("mini", mini_copy)
    loaded = load_inputs("mini", mini_copy)
    by_hand = dataclasses.replace(loaded, contents=None)
    (data / "evidence.csv").write_bytes(b"changed on disk\n")
    assert loaded.evidence_bytes() == {"evidence.csv": loaded.contents["data/mini/evidence.csv"]}
    assert by_hand.evidence_bytes() == {"evidence.csv": b"changed on disk\n"}
    partial = dataclasses.replace(loaded, contents={"priors/mini.toml": b"snap"})
    assert partial.scenario_bytes() == b"snap"
    assert partial.evidence_bytes() == {"evidence.csv": b"changed on disk\n"}


def test_load_snapshot_evidence_names_the_real_folder(mini_copy: Path, tmp_path: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    scenario = load_scenario(toml)
    real = tmp_path / "real" / "mini"
    rows = (data / "evidence.csv").read_bytes()
    ev = load_snapshot_evidence(real, {real / "a.csv": rows}, scenario)
    assert ev.files == (real / "a.csv",)
    assert set(ev.frame["file"]) == {str(real / "a.csv")}
    assert len(ev.frame) == 10
    with pytest.raises(InputError) as exc:
        load_snapshot_evidence(real, {}, scenario)
    assert _problems(exc) == [(str(real), "(dir)", "files", "no *.csv evidence files")]
    with pytest.raises(InputError) as exc:
        load_snapshot_evidence(real, {}, scenario, exists=False)
    assert _problems(exc) == [(str(real), "(dir)", "directory", "evidence folder not found")]
    with pytest.raises(InputError) as exc:
        load_snapshot_evidence(real, {real / "a.csv": rows + rows.splitlines(True)[1]}, scenario)
    assert _problems(exc) == [
        (str(real / "a.csv"), 12, "(row)", f"duplicate row: the same as {real / 'a.csv'}:2")
    ]


def test_parse_snapshot_writes_the_files_to_a_private_folder_it_removes(tmp_path: Path) -> None:
    seen: dict[str, object] = {}

    def parse(tmp: Path) -> str:
        seen["tmp"] = tmp
        seen["files"] = {p.name: p.read_bytes() for p in tmp.iterdir()}
        return "parsed"

    files = {tmp_path / "a" / "x.csv": b"1", tmp_path / "b" / "y.toml": b"2"}
    assert parse_snapshot(files, parse) == "parsed"
    assert seen["files"] == {"x.csv": b"1", "y.toml": b"2"}
    assert not Path(seen["tmp"]).exists()

    def fail(tmp: Path) -> None:
        seen["tmp"] = tmp
        raise InputError(
            [
                Problem(str(tmp / "x.csv"), 3, "date", f"see {tmp / 'x.csv'}:2"),
                Problem(str(tmp / "sub"), "(dir)", "directory", f"in {tmp}"),
            ]
        )

    with pytest.raises(InputError) as exc:
        parse_snapshot(files, fail, folders={"": tmp_path / "folder", "sub": tmp_path / "s"})
    real_x = str(tmp_path / "a" / "x.csv")
    assert _problems(exc) == [
        (real_x, 3, "date", f"see {real_x}:2"),
        (str(tmp_path / "s"), "(dir)", "directory", f"in {tmp_path / 'folder'}"),
    ]
    assert not Path(seen["tmp"]).exists()
    with pytest.raises(InputError) as exc:  # without folders, only the files are mapped
        parse_snapshot(files, fail)
    assert exc.value.problems[0].file == real_x
    assert exc.value.problems[1].file == str(Path(seen["tmp"]) / "sub")


def test_relocate_replaces_longest_paths_first() -> None:
    err = InputError(
        [
            Problem("/t/x.csv", 2, "f", "same as /t/x.csv:1 in /t"),
            Problem("/t", "(dir)", "d", "/t/x.csvx"),
            Problem("other", 1, "/t/x.csv", "m"),
        ]
    )
    out = relocate(err, {"/t": "/real", "/t/x.csv": "/real/data/x.csv"})
    assert [(p.file, p.where, p.field, p.message) for p in out.problems] == [
        ("/real/data/x.csv", 2, "f", "same as /real/data/x.csv:1 in /real"),
        ("/real", "(dir)", "d", "/real/data/x.csvx"),
        ("other", 1, "/t/x.csv", "m"),  # fields are column names, never paths
    ]
    # an exact match is replaced whole: its real path is not rewritten again by a shorter key
    out = relocate(InputError([Problem("/t/x", 1, "f", "/t/x")]), {"/t/x": "/t/y", "/t": "/r"})
    assert (out.problems[0].file, out.problems[0].message) == ("/t/y", "/t/y")


# --- the scenario lock ----------------------------------------------------------------------------


def test_scenario_lock_creates_the_folder_and_yields_held(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "new"
    with scenario_lock(folder) as held:
        assert held is True
        assert (folder / LOCK_NAME).is_file()
    with scenario_lock(folder, create=False) as held:  # the lock file exists now
        assert held is True


def test_reading_without_a_lock_file_creates_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "archived"
    folder.mkdir()
    with scenario_lock(folder, create=False) as held:
        assert held is False
    assert list(folder.iterdir()) == []
    with scenario_lock(tmp_path / "missing", create=False) as held:
        assert held is False
    assert not (tmp_path / "missing").exists()


def test_scenario_lock_folder_that_cannot_be_made_is_located(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    folder = tmp_path / "file" / "sub"
    with pytest.raises(InputError) as exc, scenario_lock(folder):
        pass
    assert _problems(exc) == [(str(folder), "(dir)", "directory", "cannot create: Not a directory")]


@os_errors
def test_lock_that_cannot_be_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, message: str
) -> None:
    """Adding refuses, located; reading (``create=False``) goes on unlocked (read-only checkout)."""

    def fail(self, *a, **k):
        raise error

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / LOCK_NAME).write_text("")
    monkeypatch.setattr(inputs_mod.FileLock, "acquire", fail)
    with pytest.raises(InputError) as exc, scenario_lock(folder):
        pass
    assert _problems(exc) == [
        (str(folder / LOCK_NAME), "(file)", "lock", f"cannot take the lock: {message}")
    ]
    with scenario_lock(folder, create=False) as held:
        assert held is False


def test_busy_lock_names_the_timeout(tmp_path: Path) -> None:
    import time

    from conftest import lock_held_elsewhere

    folder = tmp_path / "data"
    with lock_held_elsewhere(folder):
        for create in (True, False):
            t0 = time.monotonic()
            with pytest.raises(InputError) as exc, scenario_lock(folder, 0.25, create=create):
                pass
            assert time.monotonic() - t0 < 10
            assert _problems(exc) == [
                (
                    str(folder / LOCK_NAME),
                    "(file)",
                    "lock",
                    "another process has been adding evidence for over 0.25 s;"
                    " try again (the lock is freed when that process ends)",
                )
            ]
    with scenario_lock(folder, 0.25) as held:  # freed when its holder died
        assert held is True


def test_lock_is_released_after_the_body(tmp_path: Path) -> None:
    from filelock import FileLock

    with scenario_lock(tmp_path):
        pass
    other = FileLock(tmp_path / LOCK_NAME)
    other.acquire(timeout=0)  # free again
    other.release()
    with pytest.raises(RuntimeError), scenario_lock(tmp_path):
        raise RuntimeError("body failed")
    other.acquire(timeout=0)
    other.release()
    assert os.path.isfile(tmp_path / LOCK_NAME)
