"""`appariement-match`: generate, solve and check through files, with honest exit codes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from appariement.matching.engine import Result, cli, solve
from appariement.matching.engine.budget import DEFAULT_WORK
from appariement.matching.engine.cli import ProgressLine, main
from appariement.matching.engine.solve import available_cpus

SCRIPT = Path(sys.executable).parent / "appariement-match"


def _generate(tmp_path: Path, *extra: str) -> Path:
    path = tmp_path / "instance.json"
    argv = ["generate", "--candidates", "120", "--posts", "70", "--partitions", "4"]
    argv += ["--wishes-per-candidate", "3-8", "--seed", "5", *extra, "-o", str(path)]
    assert main(argv) == 0
    return path


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_generate_writes_the_requested_instance(tmp_path: Path) -> None:
    d = _read(_generate(tmp_path))
    assert len(d["candidates"]) == 120
    assert len(d["posts"]) == 70
    assert len({c["partition"] for c in d["candidates"]}) == 4
    strict = _read(_generate(tmp_path, "--strict"))
    hearts: dict[str, list[int]] = {}
    for w in strict["wishes"]:
        hearts.setdefault(w["candidate"], []).append(w["hearts"])
    assert all(len(set(h)) == len(h) for h in hearts.values())


def test_generate_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    first = _generate(tmp_path).read_bytes()
    assert _generate(tmp_path).read_bytes() == first


def test_solve_writes_a_result_that_check_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = _generate(tmp_path)
    result = tmp_path / "result.json"
    assert main(["solve", str(instance), "--seed", "3", "--workers", "1", "-o", str(result)]) == 0
    summary = capsys.readouterr().err
    r = _read(result)
    assert set(r) == {"assignments", "unassigned", "report"}
    assert len(r["assignments"]) + len(r["unassigned"]) == 120
    assert r["report"]["seed"] == 3
    assert r["report"]["method"] == "optimal"
    assert f"affectés {len(r['assignments'])}/120" in summary
    assert "partitions prouvées optimales 4/4" in summary
    assert main(["check", str(instance), str(result)]) == 0


def test_solve_with_deferred_acceptance_records_the_method(tmp_path: Path) -> None:
    instance = _generate(tmp_path)
    result = tmp_path / "result.json"
    argv = ["solve", str(instance), "--method", "deferred_acceptance", "--workers", "1"]
    assert main([*argv, "-o", str(result)]) == 0
    assert _read(result)["report"]["method"] == "deferred_acceptance"


def test_solve_with_a_work_limit_records_it_and_gives_the_same_bytes_twice(
    tmp_path: Path,
) -> None:
    instance = _generate(tmp_path)
    outputs = []
    for name in ("first.json", "second.json"):
        result = tmp_path / name
        argv = ["solve", str(instance), "--work-limit", "0.01", "--workers", "2"]
        assert main([*argv, "-o", str(result)]) == 0
        outputs.append(_read(result))
    assert outputs[0]["report"]["limits"] == {"time_s": None, "work": 0.01}
    first, second = (Result.from_dict(out).to_dict(timings=False) for out in outputs)
    assert first == second  # only the timings may differ


def test_solve_stops_each_partition_at_the_default_work_limit_unless_lifted(
    tmp_path: Path,
) -> None:
    # With no limit the largest partitions of a national round would search for hours; a
    # work limit (not a wall clock) keeps a rerun byte for byte the same.
    instance = _generate(tmp_path)
    result = tmp_path / "result.json"
    assert main(["solve", str(instance), "--workers", "1", "-o", str(result)]) == 0
    assert _read(result)["report"]["limits"] == {"time_s": None, "work": DEFAULT_WORK}
    argv = ["solve", str(instance), "--workers", "1", "--work-limit", "0", "--time-limit", "0"]
    assert main([*argv, "-o", str(result)]) == 0
    assert _read(result)["report"]["limits"] == {"time_s": None, "work": None}


@pytest.mark.parametrize("value", ["-1", "abc", "nan", "inf"])
def test_solve_rejects_a_limit_that_is_not_a_number_at_least_0(
    tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = _generate(tmp_path)
    assert main(["solve", str(instance), "--work-limit", value]) == 2
    assert "--work-limit" in capsys.readouterr().err
    assert main(["solve", str(instance), "--time-limit", value]) == 2


def test_solve_names_each_partition_a_limit_stopped_with_its_open_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "instance.json"
    argv = ["generate", "--candidates", "400", "--posts", "250", "--partitions", "4"]
    assert main([*argv, "--seed", "5", "-o", str(path)]) == 0
    result = tmp_path / "result.json"
    capsys.readouterr()
    argv = ["solve", str(path), "--work-limit", "0.02", "--workers", "1", "-o", str(result)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    stopped = [p for p in _read(result)["report"]["partitions"] if not p["proven_optimal"]]
    assert stopped  # 0.02 units stop the search of partitions of 80-170 candidates
    assert f"non prouvées optimales ({len(stopped)}) :" in err
    french = {"assigned": "affectés", "perfect_couples": "couples parfaits"}
    french |= {"total_hearts": "cœurs", "sum_of_ranks": "rangs"}
    for p in stopped:
        level = p["open_level"]
        line = f"{p['partition']} ({p['candidates']} candidats) : "
        line += f"{french[level]} {_fr(p['objective'][level])}, borne {_fr(p['bound'])}"
        assert line in err


def _fr(number: int) -> str:
    """A number as French writes it: 1 000 000, grouped by a narrow no-break space."""
    return f"{number:,}".replace(",", "\u202f")


def _single_post_instance(tmp_path: Path) -> Path:
    d = {
        "posts": [{"id": "p1", "capacity": 1, "subdivision": "Lyon"}],
        "candidates": [{"id": "d1", "subdivision": "Lyon"}, {"id": "d2", "subdivision": "Lyon"}],
        "wishes": [
            {"candidate": "d1", "post": "p1", "hearts": 5},
            {"candidate": "d2", "post": "p1", "hearts": 5},
        ],
        "rankings": [
            {"post": "p1", "candidate": "d1", "rank": 1},
            {"post": "p1", "candidate": "d2", "rank": 2},
        ],
    }
    path = tmp_path / "single.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    return path


def _solved_single_post(tmp_path: Path) -> tuple[Path, Path]:
    """The single-post instance and the RESULT.json `solve` wrote for it."""
    instance, result = _single_post_instance(tmp_path), tmp_path / "result.json"
    assert main(["solve", str(instance), "--workers", "1", "-o", str(result)]) == 0
    return instance, result


def test_check_exits_1_and_names_the_blocking_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance, result = _solved_single_post(tmp_path)
    r = _read(result)
    assert r["assignments"] == [{"candidate": "d1", "post": "p1"}]
    # p1 ranks d1 first, so giving the place to d2 is unstable.
    r["assignments"] = [{"candidate": "d2", "post": "p1"}]
    r["unassigned"] = [{"candidate": "d1", "reason": "outranked"}]
    result.write_text(json.dumps(r), encoding="utf-8")
    capsys.readouterr()
    assert main(["check", str(instance), str(result)]) == 1
    out = capsys.readouterr().out
    assert "blocking_pair: (d1, p1) est bloquante : p1 préfère d1 à l'un de ses affectés" in out


def test_check_reads_the_result_strictly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = _single_post_instance(tmp_path)
    result = tmp_path / "result.json"
    # d1 listed twice: as a dict it would keep one post, and the audit would pass.
    twice = [{"candidate": "d1", "post": "p1"}, {"candidate": "d1", "post": "p1"}]
    for document, exit_code, said in [
        ([], 2, "résultat invalide: doit être un objet, reçu une liste"),
        ({"assignments": twice}, 2, "assignments[1]: le candidat 'd1' figure déjà"),
        (
            {"assignments": [{"candidate": "d1", "post": "p1"}], "unassigned": []},
            1,
            "missing: le candidat d2 n'est ni affecté ni non affecté",
        ),
    ]:
        result.write_text(json.dumps(document), encoding="utf-8")
        capsys.readouterr()
        assert main(["check", str(instance), str(result)]) == exit_code
        captured = capsys.readouterr()
        assert said in captured.out + captured.err


def test_an_output_that_cannot_be_written_is_refused_before_solving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A national solve takes minutes: a typo in the output directory must not lose them.
    instance = _single_post_instance(tmp_path)
    missing = tmp_path / "nowhere" / "result.json"
    for argv in (["solve", str(instance)], ["generate", "--candidates", "5", "--posts", "3"]):
        capsys.readouterr()
        assert main([*argv, "-o", str(missing)]) == 2
        assert f"le répertoire {missing.parent} n'existe pas" in capsys.readouterr().err
    assert not missing.parent.exists()
    assert main(["solve", str(instance), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_an_output_that_is_a_directory_is_refused_before_reading_the_instance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It was refused only after the whole solve ("Is a directory").
    unread = tmp_path / "never-read.json"  # missing: reading it would be another error
    assert main(["solve", str(unread), "-o", str(tmp_path)]) == 2
    assert f"{tmp_path}: est un répertoire" in capsys.readouterr().err
    assert main(["solve", str(unread), "-o", ""]) == 2
    assert "attendu un chemin de fichier" in capsys.readouterr().err


def test_output_dash_is_the_standard_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = _single_post_instance(tmp_path)
    capsys.readouterr()
    assert main(["solve", str(instance), "--workers", "1", "-o", "-"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["assignments"] == [{"candidate": "d1", "post": "p1"}]
    assert not (tmp_path / "-").exists()
    assert main(["generate", "--candidates", "5", "--posts", "3", "-o", "-"]) == 0
    assert len(json.loads(capsys.readouterr().out)["candidates"]) == 5


def test_an_output_through_a_link_is_written_through_not_replaced(tmp_path: Path) -> None:
    # Renamed over, `-o /dev/stdout` would have replaced the link itself.
    instance, target = _single_post_instance(tmp_path), tmp_path / "target.json"
    target.write_text("", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert main(["solve", str(instance), "--workers", "1", "-o", str(link)]) == 0
    assert link.is_symlink()
    assert _read(target)["assignments"] == [{"candidate": "d1", "post": "p1"}]


def test_an_interrupted_write_leaves_the_previous_result_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written in place, a Ctrl-C or a full disk during the write left half a RESULT.json
    # (and "aucun fichier écrit" said otherwise).
    instance, result = _single_post_instance(tmp_path), tmp_path / "result.json"
    result.write_text("previous run\n", encoding="utf-8")
    write_text = Path.write_text

    def half_then_interrupt(self: Path, data: str, **kw: Any) -> int:
        write_text(self, data[: len(data) // 2], **kw)
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", half_then_interrupt)
    assert main(["solve", str(instance), "--workers", "1", "-o", str(result)]) == 130
    assert "aucun fichier écrit" in capsys.readouterr().err
    assert result.read_text(encoding="utf-8") == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json", "single.json"]


def test_check_warns_when_the_result_was_computed_from_another_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance, result = _solved_single_post(tmp_path)
    capsys.readouterr()
    assert main(["check", str(instance), str(result)]) == 0
    assert "autre instance" not in capsys.readouterr().err
    d = _read(instance)
    d["posts"][0]["subdivision"] = "Lille"  # the same matching stays valid
    instance.write_text(json.dumps(d), encoding="utf-8")
    assert main(["check", str(instance), str(result)]) == 0
    err = capsys.readouterr().err
    assert "ce résultat a été calculé sur une autre instance" in err
    assert _read(result)["report"]["input_sha256"] in err


def test_invalid_instance_exits_2_with_the_offending_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _read(_single_post_instance(tmp_path))
    d["wishes"].append({"candidate": "d1", "post": "p9", "hearts": 1})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(d), encoding="utf-8")
    assert main(["solve", str(bad), "-o", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: instance invalide: wishes[2].post: poste inconnu 'p9'" in err
    assert not (tmp_path / "r.json").exists()
    assert main(["check", str(bad), str(bad)]) == 2


def test_unreadable_files_and_bad_arguments_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["solve", str(tmp_path / "missing.json")]) == 2
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    assert main(["solve", str(garbage)]) == 2
    assert "JSON invalide" in capsys.readouterr().err
    garbage.write_bytes('{"posts": "é"}'.encode("latin-1"))
    assert main(["solve", str(garbage)]) == 2
    assert "pas en UTF-8" in capsys.readouterr().err
    argv = ["generate", "--candidates", "5", "--posts", "5", "--wishes-per-candidate"]
    assert main([*argv, "9-3"]) == 2
    assert main([*argv, "3-"]) == 2  # a typo: it was read as 3-3
    assert main(["generate", "--candidates", "5", "--posts", "5", "--places", "30"]) == 2
    assert "erreur: places doit être entre 5 et 20" in capsys.readouterr().err
    assert main(["solve"]) == 2


def test_more_workers_than_cores_run_one_per_core_and_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each worker keeps a core busy and holds its own solver's memory: 16 on 2 cores took
    # 2.8 times the memory of 2 for a national round, and no less time.
    asked: list[int | None] = []

    def counting(instance: Any, **kwargs: Any) -> Result:
        asked.append(kwargs["workers"])
        return solve(instance, **kwargs)

    instance, result = _generate(tmp_path), tmp_path / "r.json"
    monkeypatch.setattr(cli, "solve", counting)
    cores = available_cpus()
    assert main(["solve", str(instance), "--workers", str(cores + 7), "-o", str(result)]) == 0
    assert f"--workers {cores + 7} : {cores} cœur(s) disponible(s)" in capsys.readouterr().err
    assert main(["solve", str(instance), "--workers", "1", "-o", str(tmp_path / "1.json")]) == 0
    assert "disponible" not in capsys.readouterr().err
    assert asked == [cores, 1]
    assert _read(result)["assignments"] == _read(tmp_path / "1.json")["assignments"]


@pytest.mark.parametrize("command", ["solve", "check"])
def test_a_fault_of_the_engine_exits_3_with_its_traceback_never_1(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    # An uncaught exception exits 1, which a script reads from `check` as "violations found".
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a fault of the engine")

    monkeypatch.setattr(cli, command, broken)
    instance = _single_post_instance(tmp_path)
    assert main(["solve", str(instance), "-o", str(tmp_path / "r.json")]) == (
        3 if command == "solve" else 0
    )
    assert main(["check", str(instance), str(tmp_path / "r.json")]) == (
        3 if command == "check" else 2  # no result was written
    )
    err = capsys.readouterr().err
    assert "RuntimeError: a fault of the engine" in err  # the traceback, for the bug report
    assert "erreur interne du moteur" in err


def test_a_worker_killed_mid_run_exits_3_and_writes_nothing(tmp_path: Path) -> None:
    # The kernel kills a process when memory runs out: the operator is told, in French,
    # with no traceback, and no partial result is written.
    result = tmp_path / "r.json"
    proc = _searching(tmp_path, "60", ["--workers", "2", "-o", str(result)])
    try:
        worker = int(Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()[0])
        os.kill(worker, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, err
        assert "un processus de calcul a été tué en cours de route" in err
        assert "Traceback" not in err
        assert not result.exists()
    finally:
        if not _group_gone(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"posts": [{"id": "p", "capacity": ' + "1" * 5000 + "}]}", "JSON invalide (nombre"),
        ("[" * 100_000 + "]" * 100_000, "JSON invalide (imbrication"),
        (
            # valid JSON, but the id is half a surrogate pair: no UTF-8 output can hold it
            '{"candidates": [{"id": "\\ud800"}], "posts": [{"id": "p", "capacity": 1}]}',
            "instance invalide: candidates[0].id: texte Unicode invalide",
        ),
    ],
)
def test_json_that_python_or_utf8_cannot_hold_exits_2_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    # Each crashed with a traceback and exit 1, which `check` uses for "violations found";
    # the surrogate only at the end of the solve, when the input was hashed.
    bad, good = tmp_path / "bad.json", tmp_path / "good.json"
    bad.write_text(text, encoding="utf-8")
    good.write_text('{"candidates": [], "posts": []}', encoding="utf-8")
    assert main(["solve", str(bad), "--workers", "1"]) == 2
    assert message in capsys.readouterr().err
    assert main(["check", str(bad), str(good)]) == 2
    assert message in capsys.readouterr().err
    if "instance" not in message:  # the same reading for a result
        assert main(["check", str(good), str(bad)]) == 2
        assert message in capsys.readouterr().err


def test_an_instance_written_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    instance = _single_post_instance(tmp_path)
    instance.write_bytes(b"\xef\xbb\xbf" + instance.read_bytes())  # as Windows tools write
    result = tmp_path / "result.json"
    assert main(["solve", str(instance), "--workers", "1", "-o", str(result)]) == 0
    assert _read(result)["assignments"] == [{"candidate": "d1", "post": "p1"}]


def test_console_script_runs_generate_solve_and_check(tmp_path: Path) -> None:
    instance, result = tmp_path / "i.json", tmp_path / "r.json"
    generate = [str(SCRIPT), "generate", "--candidates", "40", "--posts", "25"]
    generate += ["--partitions", "2", "--wishes-per-candidate", "2-5", "-o", str(instance)]
    subprocess.run(generate, check=True, timeout=60)
    solved = subprocess.run(
        [str(SCRIPT), "solve", str(instance), "--workers", "1", "-o", str(result)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert solved.returncode == 0, solved.stderr
    assert "couples parfaits" in solved.stderr
    checked = subprocess.run(
        [str(SCRIPT), "check", str(instance), str(result)], capture_output=True, timeout=60
    )
    assert checked.returncode == 0


def test_two_runs_in_separate_processes_give_the_same_bytes(tmp_path: Path) -> None:
    # An audit reruns the command, in another process: nothing may depend on the order of
    # a set of strings (Python salts their hashes per process) or on anything but the
    # input, the seed and the work limit.
    outputs = []
    for hash_seed in ("1", "2"):
        env = os.environ | {"PYTHONHASHSEED": hash_seed}
        instance, result = tmp_path / f"i{hash_seed}.json", tmp_path / f"r{hash_seed}.json"
        generate = [str(SCRIPT), "generate", "--candidates", "150", "--posts", "90"]
        generate += ["--partitions", "3", "--seed", "4", "-o", str(instance)]
        subprocess.run(generate, check=True, timeout=60, env=env)
        solve = [str(SCRIPT), "solve", str(instance), "--workers", "2", "--work-limit", "1"]
        subprocess.run([*solve, "-o", str(result)], check=True, timeout=120, env=env)
        outputs.append((instance.read_bytes(), _read(result)))
    (first_instance, first), (second_instance, second) = outputs
    assert first_instance == second_instance
    assert Result.from_dict(first).to_dict(timings=False) == Result.from_dict(second).to_dict(
        timings=False
    )


def _searching(
    tmp_path: Path, partitions: str, options: list[str], *, terminal: bool = False
) -> subprocess.Popen[str]:
    """`appariement-match solve` on 3,000 candidates in `partitions` partitions, in a
    session of its own (its process group is the run), once it is searching; with
    `terminal`, as started from a terminal (Ctrl-C not ignored)."""
    instance = tmp_path / "i.json"
    argv = ["generate", "--candidates", "3000", "--posts", "1800", "--partitions", partitions]
    assert main([*argv, "--seed", "1", "-o", str(instance)]) == 0
    proc = subprocess.Popen(
        [str(SCRIPT), "solve", str(instance), *options],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_as_from_a_terminal if terminal else None,
    )
    deadline = time.monotonic() + 60
    while not _solving(proc.pid):
        if proc.poll() is not None or time.monotonic() > deadline:
            if not _group_gone(proc.pid):  # the workers too
                os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
            raise AssertionError(f"the solve ended or never searched: {err}")
        time.sleep(0.05)
    return proc


def _solving(pid: int) -> bool:
    """The solve has read its instance and is searching: it has worker processes (the CLI
    runs its searches in them, even with one worker)."""
    return bool(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


def _as_from_a_terminal() -> None:
    """Ctrl-C as a terminal user has it: a shell without job control (a CI runner's
    background job) starts its children with SIGINT ignored, which they would inherit."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize(
    ("partitions", "workers", "limit", "how"),
    [
        ("60", "1", "2", "Ctrl-C"),
        ("60", "2", "2", "Ctrl-C"),
        ("60", "2", "2", "kill"),
        # One partition with no limit, which may search for hours: it was solved in the
        # command's own process, where a signal waits until CP-SAT returns.
        ("1", "1", "0", "Ctrl-C"),
        ("1", None, "0", "kill"),
    ],
)
def test_ctrl_c_or_kill_stops_a_solve_at_once_and_writes_nothing(
    tmp_path: Path, partitions: str, workers: str | None, limit: str, how: str
) -> None:
    # Before, CP-SAT took Ctrl-C as "stop this search" and the run went on and wrote a
    # result that its recorded limits do not reproduce; the worker processes kept going.
    result = tmp_path / "r.json"
    options = ["--work-limit", limit, "-o", str(result)]
    options += [] if workers is None else ["--workers", workers]
    proc = _searching(tmp_path, partitions, options, terminal=True)
    try:
        if how == "Ctrl-C":
            os.killpg(proc.pid, signal.SIGINT)  # a terminal sends it to the whole run
        else:
            proc.terminate()  # SIGTERM to the command alone, as `kill` or a supervisor does
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert "interrompu : aucun fichier écrit" in err
        assert not result.exists()
        deadline = time.monotonic() + 10
        while not _group_gone(proc.pid):  # no worker left running
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:  # a failing run must not outlive the test
        if not _group_gone(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_rewrites_one_line_on_a_terminal_and_stays_silent_otherwise() -> None:
    terminal = _Terminal()
    bar = ProgressLine(terminal, min_seconds=0.0)
    bar.update(1, 4)
    bar.update(4, 4)
    bar.close()
    text = terminal.getvalue()
    assert text.count("\r") == 2
    assert "1/4" in text
    assert text.endswith("4/4\n")
    pipe = io.StringIO()
    quiet = ProgressLine(pipe, min_seconds=0.0)
    quiet.update(1, 4)
    quiet.close()
    assert pipe.getvalue() == ""
