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
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ADDED_ROW
from typer.testing import CliRunner

from forecast.cli import app
from forecast.data.append import append_row
from forecast.data.errors import InputError
from forecast.data.evidence import load_evidence
from forecast.data.inputs import LOCK_NAME, load_inputs, scenario_paths
from forecast.data.scenario import load_scenario

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
    code = textwrap.dedent(f"""
        import time
        from forecast.data.inputs import scenario_lock
        with scenario_lock({str(data)!r}):
            print("held", flush=True)
            time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        with pytest.raises(InputError) as exc:
            append_row(toml, data, "added.csv", row("waits"), timeout=0.3)
        assert str(exc.value).startswith(f"{data / LOCK_NAME}:(file): lock: another process")
        with pytest.raises(InputError, match="lock: another process"):
            load_inputs("mini", mini_copy, lock_timeout=0.3)
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
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
    assert p.file == str(scenario_paths("mini", root)[1] / file_name)
    assert match in p.message, p.message


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
