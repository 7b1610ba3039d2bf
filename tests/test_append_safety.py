"""Nothing lost, ever: ``forecast evidence add`` under concurrency, kills, symlinks and odd folders,
and ``update``'s inputs snapshot (what is hashed and copied is what was loaded). No MCMC."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ADDED_ROW, lock_held_elsewhere, os_errors
from typer.testing import CliRunner

from forecast.cli import app
from forecast.data.append import append_row
from forecast.data.errors import InputError
from forecast.data.evidence import load_evidence
from forecast.data.inputs import LOCK_NAME, load_inputs, scenario_paths
from forecast.data.scenario_file import load_scenario

FORK = mp.get_context("fork")


def row(note: str, **changes: str) -> dict[str, str]:
    return {**ADDED_ROW, "note": note, **changes}


def n_rows(root: Path) -> int:
    """Rows of the mini log (raises ``InputError`` if it does not parse)."""
    toml, data = scenario_paths("mini", root)
    return len(load_evidence(data, load_scenario(toml)).frame)


def cli_args(note: str, *extra: str) -> list[str]:
    args = ["evidence", "add", "--scenario", "mini", "--root", "."]
    for k in ("date", "kind", "target", "value", "horizon_months", "source", "source_url"):
        args += [f"--{k.replace('_', '-')}", ADDED_ROW[k]]
    return [*args, "--note", note, *extra]


# --- concurrency --------------------------------------------------------------------------------


def _add_after_barrier(root: str, note: str, barrier, results) -> None:
    barrier.wait()
    try:
        n = append_row(*scenario_paths("mini", root), "added.csv", row(note))
        results.put((note, n))
    except InputError as exc:
        results.put((note, str(exc)))


def _race(root: Path, notes: list[str]) -> list[tuple[str, int | str]]:
    """Run one ``append_row`` per note in its own process, all released at once."""
    barrier, results = FORK.Barrier(len(notes)), FORK.Queue()
    procs = [
        FORK.Process(target=_add_after_barrier, args=(str(root), n, barrier, results))
        for n in notes
    ]
    for p in procs:
        p.start()
    out = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return out


def test_concurrent_adds_keep_every_row(mini_copy: Path) -> None:
    before = n_rows(mini_copy)
    notes = [f"writer {i}" for i in range(8)]
    out = _race(mini_copy, notes)
    numbers = sorted(n for _, n in out)
    assert numbers == list(range(2, 10)), out  # each writer saw the rows added before it
    assert n_rows(mini_copy) == before + 8
    text = (mini_copy / "data" / "mini" / "added.csv").read_text()
    assert sorted(re.findall(r"writer \d", text)) == notes


def test_concurrent_identical_adds_keep_one(mini_copy: Path) -> None:
    before = n_rows(mini_copy)
    out = _race(mini_copy, ["same"] * 6)
    added = [n for _, n in out if isinstance(n, int)]
    refused = [m for _, m in out if isinstance(m, str)]
    assert added == [2], out
    assert len(refused) == 5 and all("duplicate row" in m for m in refused), refused
    assert n_rows(mini_copy) == before + 1


def test_concurrent_cli_adds(mini_copy: Path) -> None:
    """The reported bug: six ``forecast evidence add`` started together, one row survived."""
    before = n_rows(mini_copy)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "forecast", *cli_args(f"cli {i}")],
            cwd=mini_copy,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "300"},
        )
        for i in range(6)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, outs
    numbers = sorted(int(re.search(r"added\.csv:(\d+)", o).group(1)) for o, _ in outs)
    assert numbers == list(range(2, 8))
    assert n_rows(mini_copy) == before + 6


# --- kill -9 at random moments ------------------------------------------------------------------


def _add_forever(root: str, it: int, done) -> None:
    """Append rows until killed, alternating in-place appends and brand-new files; ``done`` counts
    the appends that returned."""
    toml, data = scenario_paths("mini", root)
    for n in range(10**6):
        name = "added.csv" if n % 2 == 0 else f"new_{it}_{n}.csv"
        append_row(toml, data, name, row(f"kill {it}.{n}"), timeout=10)
        with done.get_lock():
            done.value += 1


def test_kill_9_leaves_the_log_before_or_after(mini_copy: Path) -> None:
    rng = random.Random(20240611)
    data = mini_copy / "data" / "mini"
    rows = n_rows(mini_copy)
    for it in range(20):
        done = FORK.Value("i", 0)
        p = FORK.Process(target=_add_forever, args=(str(mini_copy), it, done))
        p.start()
        time.sleep(rng.uniform(0, 0.3))
        os.kill(p.pid, signal.SIGKILL)
        p.join(timeout=30)
        assert p.exitcode == -signal.SIGKILL
        now = n_rows(mini_copy)  # parses: no partial row anywhere
        assert now - rows in (done.value, done.value + 1), (it, rows, now, done.value)
        for f in data.glob("*.csv"):
            assert f.read_bytes().endswith(b"\n"), f
        rows = now
    # the dead processes' locks were freed by the kernel; their temporary files are cleaned up
    append_row(*scenario_paths("mini", mini_copy), "added.csv", row("after"), timeout=5)
    assert n_rows(mini_copy) == rows + 1
    assert sorted(p.name for p in data.iterdir() if p.name.startswith(".")) == [LOCK_NAME]


# --- links, modes, folders ----------------------------------------------------------------------


def test_symlinked_log_gets_the_row_and_stays_a_link(mini_copy: Path, tmp_path: Path) -> None:
    log = mini_copy / "data" / "mini" / "evidence.csv"
    shared = tmp_path / "shared" / "evidence.csv"
    shared.parent.mkdir()
    shutil.move(log, shared)
    shared.chmod(0o664)
    log.symlink_to(shared)
    before = shared.read_bytes()
    n = append_row(*scenario_paths("mini", mini_copy), "evidence.csv", row("via link"))
    assert log.is_symlink() and log.resolve() == shared.resolve()
    after = shared.read_bytes()
    assert after.startswith(before) and b"via link" in after
    assert n == len(after.decode().splitlines())
    assert shared.stat().st_mode & 0o777 == 0o664


@pytest.mark.parametrize("mode", [0o664, 0o640])
def test_append_keeps_mode_and_inode(mini_copy: Path, mode: int) -> None:
    log = mini_copy / "data" / "mini" / "evidence.csv"
    log.chmod(mode)
    ino = log.stat().st_ino
    append_row(*scenario_paths("mini", mini_copy), "evidence.csv", row("mode"))
    assert log.stat().st_mode & 0o777 == mode
    assert log.stat().st_ino == ino


def test_file_without_final_newline(mini_copy: Path) -> None:
    log = mini_copy / "data" / "mini" / "evidence.csv"
    log.write_bytes(log.read_bytes().rstrip(b"\n"))
    before = n_rows(mini_copy)
    append_row(*scenario_paths("mini", mini_copy), "evidence.csv", row("newline"))
    assert n_rows(mini_copy) == before + 1
    assert log.read_bytes().endswith(b",newline\n")


def test_missing_data_folder_is_created(mini_copy: Path) -> None:
    data = mini_copy / "data" / "mini"
    shutil.rmtree(mini_copy / "data")
    toml = scenario_paths("mini", mini_copy)[0]
    with pytest.raises(InputError) as bad:
        append_row(toml, data, "added.csv", row("bad", value="x"))
    assert str(bad.value).startswith(f"{data / 'added.csv'}:2: value")
    assert not (mini_copy / "data").exists()  # a refused row makes no folder
    assert append_row(toml, data, "added.csv", row("first")) == 2
    assert n_rows(mini_copy) == 1
    assert (data / "added.csv").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("file", ["x.csv", "added.csv"])
def test_directory_named_csv_is_a_located_error(
    mini_copy: Path, monkeypatch: pytest.MonkeyPatch, file: str
) -> None:
    """A folder ``x.csv`` as the target, or beside it: exit 2, located message, no traceback."""
    monkeypatch.chdir(mini_copy)
    (mini_copy / "data" / "mini" / "x.csv").mkdir()
    before = {
        p.name: p.read_bytes() for p in (mini_copy / "data" / "mini").glob("*.csv*") if p.is_file()
    }
    result = CliRunner().invoke(app, cli_args("dir", "--file", file))
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stdout + result.stderr
    located = [
        ln for ln in result.stderr.splitlines() if ln.startswith("data/mini/x.csv:(file): file: ")
    ]
    assert located and "directory" in located[0], result.stderr
    after = {
        p.name: p.read_bytes() for p in (mini_copy / "data" / "mini").glob("*.csv*") if p.is_file()
    }
    assert after == before


def test_locked_scenario_times_out_with_a_located_error(mini_copy: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    with lock_held_elsewhere(data):
        t0 = time.monotonic()
        with pytest.raises(InputError) as exc:
            append_row(toml, data, "added.csv", row("waits"), timeout=0.3)
        assert time.monotonic() - t0 < 10  # waited the timeout given, not the 30 s default
        assert str(exc.value).startswith(
            f"{data / LOCK_NAME}:(file): lock: another process has been adding evidence for over"
            " 0.3 s"
        )
        t0 = time.monotonic()
        with pytest.raises(InputError, match=r"lock: another process .* for over 0\.3 s;"):
            load_inputs("mini", mini_copy, lock_timeout=0.3)
        assert time.monotonic() - t0 < 10  # waited lock_timeout, not the 30 s default
    assert append_row(toml, data, "added.csv", row("after"), timeout=5) == 2


# --- update's snapshot ----------------------------------------------------------------------------


def test_inputs_are_a_snapshot(mini_copy: Path, tmp_path: Path) -> None:
    from forecast.runs.update import copy_inputs

    toml, data = scenario_paths("mini", mini_copy)
    original = {p.name: p.read_bytes() for p in data.glob("*.csv")}
    inputs = load_inputs("mini", mini_copy)
    hashes, input_hash = inputs.file_hashes(), inputs.input_hash()
    assert inputs.files == [toml, data / "evidence.csv"]
    assert set(inputs.evidence.frame["file"]) == {str(data / "evidence.csv")}

    append_row(toml, data, "evidence.csv", row("while fitting"))  # a row lands mid-update
    append_row(toml, data, "added.csv", row("new file while fitting"))

    assert inputs.file_hashes() == hashes and inputs.input_hash() == input_hash
    fresh = load_inputs("mini", mini_copy)
    assert fresh.input_hash() != input_hash
    assert len(fresh.evidence.frame) == len(inputs.evidence.frame) + 2

    copy_inputs(inputs, tmp_path / "run" / "inputs")
    copied = tmp_path / "run" / "inputs"
    assert {p.name: p.read_bytes() for p in (copied / "data" / "mini").iterdir()} == original
    assert (copied / "priors" / "mini.toml").read_bytes() == toml.read_bytes()
    assert load_inputs("mini", copied).file_hashes() == hashes
    assert not (copied / "data" / "mini" / LOCK_NAME).exists()  # reading creates no lock file


def test_snapshot_problems_name_the_real_files(mini_copy: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    log = data / "evidence.csv"
    first_row = log.read_text().splitlines()[1]
    with log.open("a") as fh:
        fh.write(first_row + "\n" + first_row.replace("2022-02-10", "2022-99-10") + "\n")
    with pytest.raises(InputError) as exc:
        load_inputs("mini", mini_copy)
    text = str(exc.value)
    assert f"{log}:12: (row): duplicate row: the same as {log}:2" in text
    assert f"{log}:13: date" in text
    assert "forecast-inputs-" not in text  # no temporary path leaks into a message
    toml.write_text(toml.read_text() + "\n[[[broken\n")
    with pytest.raises(InputError) as exc:
        load_inputs("mini", mini_copy)
    assert all(p.file == str(toml) for p in exc.value.problems)


# --- failures on the way to the disk: located, and the log as it was ----------------------------


def _log_bytes(root: Path, name: str = "evidence.csv") -> bytes:
    return (scenario_paths("mini", root)[1] / name).read_bytes()


def _refused(root: Path, file_name: str, match: str) -> None:
    with pytest.raises(InputError) as info:
        append_row(*scenario_paths("mini", root), file_name, row("x"))
    (p,) = info.value.problems
    assert (p.file, p.where, p.field) == (
        str(scenario_paths("mini", root)[1] / file_name),
        "(file)",
        "file",
    )
    assert p.message.startswith(match), p.message


def test_log_that_cannot_be_opened_is_a_located_error(mini_copy: Path, monkeypatch) -> None:
    import forecast.data.append as append

    before = _log_bytes(mini_copy)
    real_open = os.open

    def denied(path, flags, *a):
        if flags & os.O_APPEND:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a)

    monkeypatch.setattr(append.os, "open", denied)
    _refused(mini_copy, "evidence.csv", "cannot open it for appending: Permission denied")
    monkeypatch.undo()
    assert _log_bytes(mini_copy) == before


def test_log_changed_by_another_program_while_adding(mini_copy: Path, monkeypatch) -> None:
    """An editor rewriting the file between the read and the write: refused, the editor's text
    stays, the row is not written into the middle of it."""
    import forecast.data.append as append

    log = scenario_paths("mini", mini_copy)[1] / "evidence.csv"
    validated = append._validated

    def edit_then_validate(*args):
        out = validated(*args)
        log.write_bytes(log.read_bytes() + b"\n")  # same inode, new size
        return out

    monkeypatch.setattr(append, "_validated", edit_then_validate)
    before = _log_bytes(mini_copy)
    _refused(mini_copy, "evidence.csv", "changed by another program while adding")
    assert _log_bytes(mini_copy) == before + b"\n"


def test_short_write_truncates_back(mini_copy: Path, monkeypatch) -> None:
    import forecast.data.append as append

    before = _log_bytes(mini_copy)
    real_write = os.write
    monkeypatch.setattr(append.os, "write", lambda fd, data: real_write(fd, data[:5]))
    _refused(mini_copy, "evidence.csv", "cannot write: short write (5 of")
    monkeypatch.undo()
    assert _log_bytes(mini_copy) == before
    n_rows(mini_copy)  # still parses


@pytest.mark.parametrize(
    ("error", "match"),
    [
        (FileExistsError(17, "File exists"), "created by another program while adding"),
        (OSError(28, "No space left on device"), "cannot create it: No space left on device"),
    ],
)
def test_new_file_that_cannot_be_linked_leaves_nothing(
    mini_copy: Path, monkeypatch, error: OSError, match: str
) -> None:
    import forecast.data.append as append

    def fail(*_a):
        raise error

    monkeypatch.setattr(append.os, "link", fail)
    _refused(mini_copy, "new.csv", match)
    data = scenario_paths("mini", mini_copy)[1]
    assert sorted(p.name for p in data.iterdir() if p.name != LOCK_NAME) == ["evidence.csv"]


def test_new_file_is_written_whole(mini_copy: Path, monkeypatch) -> None:
    """``os.write`` may write part of a buffer: the rest is written, the file is complete."""
    import forecast.data.append as append

    real_write = os.write
    monkeypatch.setattr(append.os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))
    n = append_row(*scenario_paths("mini", mini_copy), "new.csv", row("x"))
    monkeypatch.undo()
    text = _log_bytes(mini_copy, "new.csv").decode()
    assert n == 2 and text.count("\n") == 2 and "Strong <b>signal</b>" in text
    assert (scenario_paths("mini", mini_copy)[1] / "new.csv").stat().st_mode & 0o777 == (
        0o666 & ~_umask()
    )


def test_snapshot_holds_the_scenario_too_and_hand_built_inputs_read_the_disk(
    mini_copy: Path,
) -> None:
    import dataclasses
    import hashlib

    toml, data = scenario_paths("mini", mini_copy)
    inputs = load_inputs("mini", mini_copy)
    scen, ev = toml.read_bytes(), (data / "evidence.csv").read_bytes()
    toml.write_bytes(scen + b"\n# edited after loading\n")
    assert inputs.scenario_bytes() == scen
    assert inputs.evidence_bytes() == {"evidence.csv": ev}
    assert inputs.file_hashes() == {
        "priors/mini.toml": hashlib.sha256(scen).hexdigest(),
        "data/mini/evidence.csv": hashlib.sha256(ev).hexdigest(),
    }
    by_hand = dataclasses.replace(inputs, contents=None)  # Inputs built without a snapshot
    assert by_hand.scenario_bytes() == toml.read_bytes() != scen


# --- in process: every path of append_row, so per-test mutation stats see them -------------------
# (the concurrency and kill tests above run append_row in forked children, which mutmut cannot see)


def _problems(exc: pytest.ExceptionInfo[InputError]) -> list[tuple[str, object, str, str]]:
    return [(p.file, p.where, p.field, p.message) for p in exc.value.problems]


def test_unknown_columns_are_refused_before_anything(mini_copy: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    with pytest.raises(InputError) as exc:
        append_row(toml, data, "added.csv", row("x", colour="red", abc="1"))
    assert _problems(exc) == [
        ("added.csv", "(new row)", "abc", "unknown column"),
        ("added.csv", "(new row)", "colour", "unknown column"),
    ]
    assert not (data / "added.csv").exists()


@pytest.mark.parametrize(
    "name", ["notes.txt", "sub/x.csv", "sub\\x.csv", "x\0.csv", ".hidden.csv", "csv"]
)
def test_file_name_must_be_a_plain_csv_name(mini_copy: Path, name: str) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    before = sorted(p.name for p in data.iterdir())
    with pytest.raises(InputError) as exc:
        append_row(toml, data, name, row("x"))
    assert _problems(exc) == [(name, "(new row)", "file", "a plain *.csv file name")]
    assert sorted(p.name for p in data.iterdir()) == before


def test_missing_required_fields_are_refused(mini_copy: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    bad = {k: v for k, v in row("x").items() if k != "source"}
    bad["target"] = ""
    with pytest.raises(InputError) as exc:
        append_row(toml, data, "added.csv", bad)
    target = str(data / "added.csv")
    assert _problems(exc) == [
        (target, "(new row)", "target", "required"),
        (target, "(new row)", "source", "required"),
    ]
    assert not (data / "added.csv").exists()


def test_evidence_path_that_is_a_file_is_refused(mini_copy: Path) -> None:
    toml, _ = scenario_paths("mini", mini_copy)
    in_the_way = mini_copy / "data" / "other"
    in_the_way.write_text("not a folder")
    with pytest.raises(InputError) as exc:
        append_row(toml, in_the_way, "added.csv", row("x"))
    assert _problems(exc) == [
        (str(in_the_way), "(dir)", "directory", "not a folder (a file is in the way)")
    ]
    assert in_the_way.read_text() == "not a folder"


def test_append_writes_exactly_one_line_and_returns_its_row_number(mini_copy: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    log = data / "evidence.csv"
    before = log.read_bytes()
    n_before = n_rows(mini_copy)
    n = append_row(toml, data, "evidence.csv", row("exact"))
    line = (
        "2023-06-15,likelihood_ratio,deal:alpha,40,Strong <b>signal</b> & co,"
        "https://example.org/strong?a=1&b=2 ; https://example.org/second,6,,,,exact\n"
    )
    assert log.read_bytes() == before + line.encode()
    assert n == n_before + 2  # header is row 1
    assert n_rows(mini_copy) == n_before + 1


def test_file_with_carriage_return_line_ends_gets_the_row(mini_copy: Path) -> None:
    """Old Mac "CSV (Macintosh)" files end lines with a lone \\r: ``check`` reads them, and an add
    appends its row right after the last \\r (no blank line, the right row number)."""
    toml, data = scenario_paths("mini", mini_copy)
    log = data / "evidence.csv"
    text = log.read_bytes().replace(b"\n", b"\r")  # old Mac line ends
    log.write_bytes(text)
    n = append_row(toml, data, "evidence.csv", row("cr"))
    assert log.read_bytes().startswith(text + b"2023-06-15,")
    assert n == text.count(b"\r") + 1


def test_row_follows_the_files_own_columns(mini_copy: Path) -> None:
    """A file with fewer columns, in another order (and spaces in the header): the row is written
    in that order; a value for a column the file lacks is refused at the header, an empty one is
    fine."""
    toml, data = scenario_paths("mini", mini_copy)
    f = data / "short.csv"
    f.write_text("source_url , source,value,target,kind,date,horizon_months\n")
    assert append_row(toml, data, "short.csv", row("")) == 2  # an empty note is no value
    assert f.read_text().splitlines()[1] == (
        "https://example.org/strong?a=1&b=2 ; https://example.org/second,"
        "Strong <b>signal</b> & co,40,deal:alpha,likelihood_ratio,2023-06-15,6"
    )
    before = f.read_bytes()
    with pytest.raises(InputError) as exc:
        append_row(toml, data, "short.csv", row("a note", date="2023-06-16", forecaster="me"))
    assert _problems(exc) == [
        (str(f), 1, "note", "this file has no such column"),
        (str(f), 1, "forecaster", "this file has no such column"),
    ]
    assert f.read_bytes() == before


def test_log_that_is_not_utf8_is_refused_located(mini_copy: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    log = data / "evidence.csv"
    log.write_bytes(log.read_bytes() + b"2022-05-01,event,tension,1,Caf\xe9,https://x.org,,,,\n")
    before = log.read_bytes()
    bad_byte = before.index(b"\xe9")
    with pytest.raises(InputError) as exc:
        append_row(toml, data, "evidence.csv", row("x"))
    assert _problems(exc) == [(str(log), "(file)", "encoding", f"not UTF-8 (byte {bad_byte})")]
    assert log.read_bytes() == before


def test_row_already_in_another_file_is_a_duplicate(mini_copy: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    assert append_row(toml, data, "added.csv", row("twice")) == 2
    with pytest.raises(InputError) as exc:
        append_row(toml, data, "other.csv", row("twice"))
    (p,) = exc.value.problems
    assert (p.file, p.where) == (str(data / "other.csv"), 2)
    assert p.message == f"duplicate row: the same as {data / 'added.csv'}:2"
    assert not (data / "other.csv").exists()
    # a row is validated against every file, the one it goes into included
    with pytest.raises(InputError, match="duplicate row"):
        append_row(toml, data, "added.csv", row("twice"))


@os_errors
def test_other_log_file_that_cannot_be_read_is_a_located_error(
    mini_copy: Path, monkeypatch: pytest.MonkeyPatch, error: OSError, message: str
) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == data / "evidence.csv":  # the real file, not the validation copy
            raise error
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(InputError) as exc:
        append_row(toml, data, "added.csv", row("x"))
    assert _problems(exc) == [(str(data / "evidence.csv"), "(file)", "file", message)]
    assert not (data / "added.csv").exists()
    # the log the row goes into is read once, through the descriptor the row is written with
    assert append_row(toml, data, "evidence.csv", row("x")) == 12


def test_leftover_temporary_files_are_removed(mini_copy: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    leftover = data / ".added.csv.append-0123456789abcdef.tmp"
    leftover.write_text("half a row")
    kept = [data / ".keep", data / "notes.tmp"]
    for k in kept:
        k.write_text("mine")
    append_row(toml, data, "evidence.csv", row("x"))
    assert not leftover.exists()
    assert all(k.read_text() == "mine" for k in kept)


def test_log_removed_while_adding_is_refused(mini_copy: Path, monkeypatch) -> None:
    """Replaced or deleted between the read and the write (a program not using the lock): the row
    is not written to a file that is no longer the log."""
    import forecast.data.append as append

    log = scenario_paths("mini", mini_copy)[1] / "evidence.csv"
    validated = append._validated

    def validate_then_remove(*args):
        out = validated(*args)
        log.rename(log.with_name("moved.txt"))
        return out

    monkeypatch.setattr(append, "_validated", validate_then_remove)
    before = _log_bytes(mini_copy)
    _refused(mini_copy, "evidence.csv", "changed by another program while adding")
    assert log.with_name("moved.txt").read_bytes() == before


def test_write_error_with_failing_truncate_is_still_located(mini_copy: Path, monkeypatch) -> None:
    import forecast.data.append as append

    def no_space(*_a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(append.os, "write", no_space)
    monkeypatch.setattr(append.os, "ftruncate", no_space)
    _refused(mini_copy, "evidence.csv", "cannot write: No space left on device")


def test_new_file_that_cannot_be_created_is_located(mini_copy: Path, monkeypatch) -> None:
    import forecast.data.append as append

    real_open = os.open

    def no_space(path, flags, *a, **kw):
        if str(path).endswith(".tmp"):  # the new file's temporary (not the lock file)
            raise OSError(28, "No space left on device")
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(append.os, "open", no_space)
    _refused(mini_copy, "new.csv", "cannot create it: No space left on device")
    data = scenario_paths("mini", mini_copy)[1]
    assert sorted(p.name for p in data.iterdir() if p.name != LOCK_NAME) == ["evidence.csv"]


def test_new_file_never_writes_through_a_planted_temporary_name(
    mini_copy: Path, tmp_path: Path, monkeypatch
) -> None:
    """The temporary file is opened with O_EXCL: a link planted at its name (after the leftovers
    were cleaned) is not followed, the file it points to is untouched."""
    import forecast.data.append as append

    data = scenario_paths("mini", mini_copy)[1]
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")

    def planted(_n: int) -> str:
        (data / ".new.csv.append-0000.tmp").symlink_to(victim)
        return "0000"

    monkeypatch.setattr(append.secrets, "token_hex", planted)
    _refused(mini_copy, "new.csv", "created by another program while adding")
    assert victim.read_text() == "precious"
    assert not (data / "new.csv").exists()


def test_read_all_reads_to_the_end_whatever_the_size_hint(tmp_path: Path, monkeypatch) -> None:
    """The size comes from an earlier fstat and reads may come back short: read until EOF."""
    import forecast.data.append as append

    data = bytes(range(256)) * 800  # 200 KiB, more than one 64 KiB read
    f = tmp_path / "log.csv"
    f.write_bytes(data)
    real_pread = os.pread
    limit = {"size": None, "calls": 0}

    def pread(fd: int, n: int, offset: int) -> bytes:
        limit["calls"] += 1
        if limit["calls"] > 2000:  # a loop that never reaches EOF fails here, not out of memory
            raise RuntimeError("the read loop does not end")
        return real_pread(fd, min(n, limit["size"] or n), offset)

    monkeypatch.setattr(append.os, "pread", pread)
    fd = os.open(f, os.O_RDONLY)
    try:
        for hint in (10, 0, len(data)):
            limit["calls"] = 0
            assert append._read_all(fd, hint) == data
        limit["size"], limit["calls"] = 1000, 0  # short reads
        assert append._read_all(fd, len(data)) == data
    finally:
        os.close(fd)


def test_leftover_that_cannot_be_removed_does_not_block_an_add(mini_copy: Path) -> None:
    toml, data = scenario_paths("mini", mini_copy)
    odd = data / ".added.csv.append-0000.tmp"
    odd.mkdir()  # a directory: unlink fails, the add goes on
    assert append_row(toml, data, "evidence.csv", row("x")) == 12
    assert odd.is_dir()
