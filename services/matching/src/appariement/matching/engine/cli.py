"""`appariement-match`: solve, check and generate instances from the command line.

The only module of the engine that touches files: ops scripts and auditors run exactly
the engine the matching service runs, on the same JSON formats.

Exit codes: 0 success, 1 violations found by ``check``, 2 unusable input (unreadable
file, invalid instance or result, bad arguments), 3 the run failed (a worker process
killed, most often for lack of memory, or a fault of the engine: its traceback is printed),
130 interrupted (Ctrl-C or SIGTERM; nothing written). An uncaught exception would exit 1,
which a script reads as "violations found".
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from appariement.matching.engine import Instance, InvalidInstance, Result, check, solve
from appariement.matching.engine.budget import DEFAULT_WORK
from appariement.matching.engine.generator import generate
from appariement.matching.engine.model import grouped
from appariement.matching.engine.processes import WorkerDied
from appariement.matching.engine.solve import available_cpus


class UnusableInputError(Exception):
    """A file the command cannot work from; the message says which and why."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or bad arguments: argparse already printed
        return exc.code if isinstance(exc.code, int) else 2
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except UnusableInputError as exc:
        print(f"erreur: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrompu : aucun fichier écrit", file=sys.stderr)
        return 130
    except WorkerDied:
        print(
            "erreur: un processus de calcul a été tué en cours de route (mémoire épuisée ?) ; "
            "aucun fichier écrit. Moins de processus (--workers) demandent moins de mémoire.",
            file=sys.stderr,
        )
        return 3
    except Exception:
        traceback.print_exc()
        print("erreur interne du moteur : la trace ci-dessus est à signaler", file=sys.stderr)
        return 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appariement-match",
        description="Moteur d'appariement : résoudre, vérifier, générer des instances.",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("solve", help="apparier une instance et écrire le résultat")
    p.add_argument("instance", type=Path, metavar="INSTANCE.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", choices=["optimal", "deferred_acceptance"], default="optimal")
    p.add_argument(
        "--time-limit",
        type=_limit,
        default=None,
        metavar="S",
        help="secondes par partition, 0 = aucune (défaut : aucune ; une partition arrêtée par "
        "cette limite peut donner un autre résultat à l'exécution suivante)",
    )
    p.add_argument(
        "--work-limit",
        type=_limit,
        default=DEFAULT_WORK,
        metavar="W",
        help="travail déterministe par partition (temps déterministe de CP-SAT, environ une "
        "à deux secondes de recherche par unité), 0 = aucune : une partition arrêtée par "
        "cette limite donne le même résultat à chaque exécution, sur toute machine "
        f"(défaut : {DEFAULT_WORK:g})",
    )
    p.add_argument(
        "--workers",
        type=_positive,
        default=None,
        metavar="N",
        help="processus pour les partitions, au plus un par cœur disponible (défaut : un par cœur)",
    )
    p.add_argument(
        "-o",
        "--output",
        type=_output,
        default=None,
        metavar="RESULT.json",
        help="fichier du résultat (défaut, ou « - » : la sortie standard)",
    )
    p.set_defaults(command=_solve)

    p = sub.add_parser("check", help="vérifier un résultat (capacités, acceptabilité, stabilité)")
    p.add_argument("instance", type=Path, metavar="INSTANCE.json")
    p.add_argument("result", type=Path, metavar="RESULT.json")
    p.set_defaults(command=_check)

    p = sub.add_parser("generate", help="générer une instance synthétique réaliste")
    p.add_argument("--candidates", type=int, required=True, metavar="N")
    p.add_argument("--posts", type=int, required=True, metavar="M")
    p.add_argument("--partitions", type=int, default=1, metavar="K")
    p.add_argument("--places", type=int, default=None, metavar="P")
    p.add_argument("--wishes-per-candidate", type=_wish_range, default=(10, 30), metavar="A-B")
    p.add_argument("--seed", type=int, default=0)
    ties = p.add_mutually_exclusive_group()
    ties.add_argument("--ties", dest="ties", action="store_true", default=True)
    ties.add_argument("--strict", dest="ties", action="store_false")
    p.add_argument("-o", "--output", type=_output, default=None, metavar="FILE")
    p.set_defaults(command=_generate)
    return parser


def _output(text: str) -> Path | None:
    """An output file; "-" is the standard output, as for most command-line tools."""
    if not text:
        raise argparse.ArgumentTypeError("attendu un chemin de fichier, reçu ''")
    return None if text == "-" else Path(text)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"attendu un entier ≥ 1, reçu {text!r}")
    return value


def _limit(text: str) -> float | None:
    """A per-partition limit: a number ≥ 0, where 0 lifts it."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"attendu un nombre ≥ 0, reçu {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"attendu un nombre ≥ 0, reçu {text!r}")
    return value or None


def _wish_range(text: str) -> tuple[int, int]:
    low, dash, high = text.partition("-")
    try:
        bounds = (int(low), int(high if dash else low))  # "3" is 3-3; "3-" is a typo
    except ValueError:
        raise argparse.ArgumentTypeError(f"attendu A-B (ex. 10-30), reçu {text!r}") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"attendu 1 <= A <= B, reçu {text!r}")
    return bounds


def _read_json(path: Path) -> Any:
    """JSON in UTF-8, with or without the byte-order mark some Windows tools write."""
    try:
        with path.open(encoding="utf-8-sig") as f:
            return json.load(f)
    except OSError as exc:
        raise UnusableInputError(f"{path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UnusableInputError(f"{path}: pas en UTF-8 (octet {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise UnusableInputError(f"{path}: JSON invalide ({exc})") from None
    except ValueError:  # Python reads integers of at most 4,300 digits
        raise UnusableInputError(f"{path}: JSON invalide (nombre trop long)") from None
    except RecursionError:
        raise UnusableInputError(f"{path}: JSON invalide (imbrication trop profonde)") from None


def _read_instance(path: Path) -> Instance:
    try:
        return Instance.from_dict(_read_json(path))
    except InvalidInstance as exc:
        raise UnusableInputError(f"{path}: instance invalide: {exc}") from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _writable(path: Path | None) -> None:
    """Fail before the work, not after it: a national solve takes minutes."""
    if path is None:
        return
    if path.is_dir():
        raise UnusableInputError(f"{path}: est un répertoire, attendu un fichier")
    if not path.parent.is_dir():
        raise UnusableInputError(f"{path}: le répertoire {path.parent} n'existe pas")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise UnusableInputError(f"{path}: pas le droit d'écrire dans {path.parent}")


def _write_json(data: Any, path: Path | None, *, indent: int | None) -> None:
    """Write `data`; a file appears whole or not at all (written aside, then renamed over
    the target), so that an interrupt or a full disk never leaves half a RESULT.json that
    a later `check` would read as a result."""
    text = json.dumps(data, ensure_ascii=False, indent=indent) + "\n"
    if path is None:
        sys.stdout.write(text)
        return
    aside = path.with_name(f".{path.name}.{os.getpid()}.partiel")
    if path.is_symlink() or (path.exists() and not path.is_file()):
        aside = path  # /dev/stdout, a pipe, a link: written through, never replaced
    try:
        try:
            aside.write_text(text, encoding="utf-8")
            if aside != path:
                os.replace(aside, path)
        except BaseException:
            if aside != path:
                aside.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise UnusableInputError(f"{path}: {exc.strerror or exc}") from None


def _solve(args: argparse.Namespace) -> int:
    _writable(args.output)
    workers = _workers(args.workers)
    inst = _read_instance(args.instance)
    bar = ProgressLine(sys.stderr)
    started = time.perf_counter()
    # `kill` or a supervisor's stop ends the run like a Ctrl-C, the worker processes too,
    # until the result is written whole.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            res = solve(
                inst,
                seed=args.seed,
                time_limit_s=args.time_limit,
                work_limit=args.work_limit,
                method=args.method,
                workers=workers,
                progress=bar.update,
                interruptible=True,  # a Ctrl-C stops even a lone unlimited search at once
            )
        finally:
            bar.close()
        elapsed = time.perf_counter() - started
        _write_json(res.to_dict(), args.output, indent=2)
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(_summary(res, elapsed), file=sys.stderr)
    for line in _unproven(res):
        print(line, file=sys.stderr)
    return 0


def _workers(asked: int | None) -> int | None:
    """At most one process per available core: each keeps a core busy, so more run no
    faster, and each holds its own solver's memory (a national round on 2 cores, work limit
    0.3: 1,086 MiB of proportional set size with 16, 393 MiB with 2). The result is the same
    whatever the number."""
    available = available_cpus()
    if asked is None or asked <= available:
        return asked
    print(
        f"--workers {asked} : {available} cœur(s) disponible(s), donc {available} processus",
        file=sys.stderr,
    )
    return available


def _summary(res: Result, elapsed: float) -> str:
    objective = res.report["objective"]
    parts = res.report["partitions"]
    total = len(res.assignments) + len(res.unassigned)
    proven = sum(1 for p in parts if p["proven_optimal"])
    searched = res.report["method"] == "optimal"  # deferred acceptance proves nothing
    return (
        f"affectés {grouped(objective['assigned'])}/{grouped(total)} · "
        f"couples parfaits {grouped(objective['perfect_couples'])} · "
        + (f"partitions prouvées optimales {proven}/{len(parts)} · " if searched else "")
        + f"{elapsed:.1f} s"
    )


LEVEL_NAMES = {
    "assigned": "affectés",
    "perfect_couples": "couples parfaits",
    "total_hearts": "cœurs",
    "sum_of_ranks": "rangs",
}
UNPROVEN_SHOWN = 10


def _unproven(res: Result) -> list[str]:
    """The partitions a limit stopped, largest first: which level is open and the best bound
    on it, so that an operator knows where more time would matter (all in the report)."""
    parts = [p for p in res.report["partitions"] if p["proven_optimal"] is False]
    if not parts:
        return []
    parts.sort(key=lambda p: (-p["candidates"], p["partition"]))
    lines = [f"non prouvées optimales ({len(parts)}) :"]
    for p in parts[:UNPROVEN_SHOWN]:
        level = p["open_level"]
        where = f"  {p['partition'] or '(sans partition)'} ({p['candidates']} candidats) : "
        if level is None:
            lines.append(where + "niveau ouvert inconnu")
            continue
        bound = "" if p["bound"] is None else f", borne {grouped(p['bound'])}"
        lines.append(where + f"{LEVEL_NAMES[level]} {grouped(p['objective'][level])}{bound}")
    if len(parts) > UNPROVEN_SHOWN:
        lines.append(f"  … et {len(parts) - UNPROVEN_SHOWN} autres (report.partitions)")
    return lines


def _check(args: argparse.Namespace) -> int:
    inst = _read_instance(args.instance)
    try:
        res = Result.from_dict(_read_json(args.result))
    except (KeyError, TypeError, ValueError) as exc:
        raise UnusableInputError(f"{args.result}: résultat invalide: {exc}") from None
    claimed, actual = res.report.get("input_sha256"), inst.sha256()
    if claimed is not None and claimed != actual:
        # Not a fault of the matching (it is checked all the same), but an auditor must
        # know the result says it was computed from another input.
        print(
            f"attention : ce résultat a été calculé sur une autre instance "
            f"(SHA-256 {claimed}, celle-ci {actual})",
            file=sys.stderr,
        )
    violations = check(inst, res)
    for v in violations:
        print(f"{v.kind}: {v.message}")
    if violations:
        print(f"{len(violations)} violation(s)", file=sys.stderr)
        return 1
    print("aucune violation", file=sys.stderr)
    return 0


def _generate(args: argparse.Namespace) -> int:
    _writable(args.output)
    try:
        data = generate(
            candidates=args.candidates,
            posts=args.posts,
            partitions=args.partitions,
            wishes_per_candidate=args.wishes_per_candidate,
            seed=args.seed,
            ties=args.ties,
            places=args.places,
        )
    except ValueError as exc:
        raise UnusableInputError(str(exc)) from None
    _write_json(data, args.output, indent=None)
    return 0


class ProgressLine:
    """One stderr line over the partitions, rewritten in place; silent when not a terminal."""

    def __init__(self, stream: TextIO, *, min_seconds: float = 1.0) -> None:
        self._stream = stream
        self._active = stream.isatty()
        self._started = time.perf_counter()
        self._min_seconds = min_seconds  # short runs show no bar at all
        self._shown = False

    def update(self, done: int, total: int) -> None:
        if not self._active or time.perf_counter() - self._started < self._min_seconds:
            return
        width = 30
        filled = width * done // max(total, 1)
        bar = "█" * filled + "·" * (width - filled)
        self._stream.write(f"\rpartitions {bar} {done}/{total}")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()


if __name__ == "__main__":
    raise SystemExit(main())
