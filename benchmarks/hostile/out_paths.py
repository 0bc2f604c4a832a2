"""out_paths: every `--out` refuses a path that is not its own kind of output (a user's
directory, `--out .` among the user's files, a file, a link, a special file) with one line and
touches nothing; an early failure (401/403, a wrong benchmark path) takes back only what the
run created."""

from __future__ import annotations

import os
from pathlib import Path

from hostile import Case, assert_one_line_error, case, pertool
from pertool.testing.openai_stub import Reply, StubServer

CASES: list[Case] = []

ROOT = Path(__file__).resolve().parents[2]
SYNTH_CONFIG = ROOT / "examples" / "synth-small.yaml"
USER_TEXT = "the user's own file\n"

DIR_COMMANDS = {
    "eval": ["eval", "--benchmark", "example", "--model", "oracle", "--no-progress"],
    "ablate": ["ablate", "--benchmark", "example", "--model", "oracle", "--no-progress"],
    "generate": ["generate", "--users", "3", "--untrained-users", "1", "--train", "4", "--test-trained", "2",
                 "--test-untrained", "2"],
    "synth-run": ["synth", "run", "--config", str(SYNTH_CONFIG), "--model", "oracle", "--no-progress"],
    "synth-queries": ["synth", "queries", "--model", "oracle", "--no-progress"],
    "train-lora": ["train", "lora", "--base", "BASE", "--data", "example", "--allow-test"],
    "train-tiny-model": ["train", "tiny-model"],
    "data-export": ["data", "export", "--benchmark", "example"],
    "models-prepare": ["models", "prepare", "smollm2-135m"],
}  # fmt: skip


def _argv(name: str, out: Path | str, work: Path) -> list[str]:
    return [str(work / "base") if a == "BASE" else a for a in DIR_COMMANDS[name]] + ["--out", str(out)]


def _snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _user_dir(path: Path, name: str = "notes.txt") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / name).write_text(USER_TEXT)
    return path


def _refused_untouched(argv: list[str], watched: Path, *, cwd: Path | None = None, mentions: str = "") -> None:
    before = _snapshot(watched) if watched.is_dir() else watched.read_bytes()
    proc = pertool(*argv, cwd=cwd, timeout=60)
    assert_one_line_error(proc, mentions=mentions)
    after = _snapshot(watched) if watched.is_dir() else watched.read_bytes()
    assert after == before, "the user's files changed"


def _dir_case(name: str, variant: str) -> None:
    def run(work: Path) -> None:
        if variant == "user-file":
            out = _user_dir(work / "mine")
            _refused_untouched(_argv(name, out, work), out, mentions=str(out))
        elif variant == "out-dot":
            _user_dir(work)
            (work / "project").mkdir()
            (work / "project" / "main.py").write_text("print('hi')\n")
            _refused_untouched(_argv(name, ".", work), work, cwd=work, mentions="--out .")
        elif variant == "hidden-file-only":
            out = _user_dir(work / "repo", ".gitignore")
            _refused_untouched(_argv(name, out, work), out)
        elif variant == "is-a-file":
            out = work / "results.txt"
            out.write_text(USER_TEXT)
            _refused_untouched(_argv(name, out, work), out, mentions="is a file")
        elif variant == "symlink-to-user-dir":
            target = _user_dir(work / "real")
            (work / "link").symlink_to(target)
            _refused_untouched(_argv(name, work / "link", work), target)
        elif variant == "broken-symlink":
            (work / "dangling").symlink_to(work / "nowhere")
            _refused_untouched(_argv(name, work / "dangling", work), work, mentions="broken symbolic link")
            assert not (work / "nowhere").exists()
        elif variant == "parent-is-a-file":
            (work / "afile").write_text(USER_TEXT)
            _refused_untouched(_argv(name, work / "afile" / "sub", work), work / "afile")
        else:
            raise AssertionError(variant)

    CASES.append(Case(f"{name}-{variant}", run))


for _name in DIR_COMMANDS:
    for _variant in ("user-file", "out-dot", "is-a-file", "symlink-to-user-dir", "parent-is-a-file"):
        _dir_case(_name, _variant)
for _name in ("eval", "generate", "train-tiny-model"):
    for _variant in ("hidden-file-only", "broken-symlink"):
        _dir_case(_name, _variant)


# --- file outputs -------------------------------------------------------------------------------


def _run_dir(work: Path) -> Path:
    run = work / "run"
    proc = pertool("eval", "--benchmark", "example", "--model", "oracle", "--out", run, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return run


FILE_COMMANDS = {
    "report": lambda run: ["report", str(run)],
    "compare": lambda run: ["compare", str(run), "--resamples", "0"],
    "train-export": lambda run: ["train", "export", "--benchmark", "example", "--format", "trl", "--allow-test"],
}


def _file_case(name: str, variant: str) -> None:
    def run(work: Path) -> None:
        rundir = _run_dir(work) if name != "train-export" else work
        argv = FILE_COMMANDS[name](rundir)
        if variant == "user-file":
            out = work / "mine.out"
            out.write_text(USER_TEXT)
            _refused_untouched([*argv, "--out", str(out)], out, mentions="did not write it")
        elif variant == "directory":
            out = _user_dir(work / "d")
            _refused_untouched([*argv, "--out", str(out)], out, mentions="is a directory")
        elif variant == "fifo":
            os.mkfifo(work / "pipe")
            proc = pertool(*argv, "--out", work / "pipe", timeout=60)
            assert_one_line_error(proc, mentions="not a regular file")
        elif variant == "edited-own-file":
            out = work / "own.out"
            assert pertool(*argv, "--out", out).returncode == 0
            assert pertool(*argv, "--out", out).returncode == 0, "its own unchanged file must be replaceable"
            out.write_text(out.read_text() + "edited\n")
            _refused_untouched([*argv, "--out", str(out)], out, mentions="changed")
        else:
            raise AssertionError(variant)

    CASES.append(Case(f"{name}-file-{variant}", run))


for _name in FILE_COMMANDS:
    for _variant in ("user-file", "directory", "fifo", "edited-own-file"):
        _file_case(_name, _variant)


@case(CASES)
def report_default_file_is_a_users(work: Path) -> None:
    run = _run_dir(work)
    (run / "report.html").write_text("<p>mine</p>")
    _refused_untouched(["report", str(run)], run / "report.html", mentions="report.html")


# --- early failures: only this run's files go ---------------------------------------------------


def _failing(status: int) -> StubServer:
    return StubServer(lambda body, request: Reply(status=status, json={"error": {"message": "no"}}))


def _eval_stub(server: StubServer, out: Path | str, cwd: Path | None = None):  # type: ignore[no-untyped-def]
    return pertool("eval", "--benchmark", "example", "--model", "openai-compatible/m", "--base-url", server.url,
                   "--out", out, "--no-progress", "--max-attempts", "1", cwd=cwd, timeout=60)  # fmt: skip


for _status in (401, 403):

    def _fresh(work: Path, status: int = _status) -> None:
        with _failing(status) as server:
            proc = _eval_stub(server, work / "a" / "b" / "run")
        assert_one_line_error(proc)
        assert list(work.iterdir()) == [], f"left behind: {list(work.rglob('*'))}"

    def _empty(work: Path, status: int = _status) -> None:
        (work / "empty").mkdir()
        with _failing(status) as server:
            proc = _eval_stub(server, work / "empty")
        assert_one_line_error(proc)
        assert (work / "empty").is_dir() and list((work / "empty").iterdir()) == []

    def _dot(work: Path, status: int = _status) -> None:
        with _failing(status) as server:
            proc = _eval_stub(server, ".", cwd=work)
        assert_one_line_error(proc)
        assert work.is_dir() and list(work.iterdir()) == []

    CASES += [Case(f"first-request-{_status}-fresh-out", _fresh), Case(f"first-request-{_status}-empty-dir", _empty),
              Case(f"first-request-{_status}-out-dot-empty-cwd", _dot)]  # fmt: skip


@case(CASES)
def wrong_benchmark_path_into_empty_dir(work: Path) -> None:
    (work / "empty").mkdir()
    proc = pertool("eval", "--benchmark", f"ptbench:{work / 'missing'}", "--model", "oracle",
                   "--out", work / "empty", "--no-progress")  # fmt: skip
    assert_one_line_error(proc)
    assert list((work / "empty").iterdir()) == []


@case(CASES)
def ablate_first_request_401_fresh_out(work: Path) -> None:
    with _failing(401) as server:
        proc = pertool("ablate", "--benchmark", "example", "--model", "openai-compatible/m", "--base-url",
                       server.url, "--out", work / "abl", "--no-progress", "--max-attempts", "1")  # fmt: skip
    assert_one_line_error(proc)
    assert list(work.iterdir()) == []


@case(CASES)
def existing_run_is_not_restarted(work: Path) -> None:
    run = _run_dir(work)
    _refused_untouched(["eval", "--benchmark", "example", "--model", "oracle", "--out", str(run), "--no-progress"],
                       run, mentions="already holds a run")  # fmt: skip


@case(CASES)
def another_commands_output_is_refused(work: Path) -> None:
    out = work / "gen"
    assert pertool(*_argv("generate", out, work)).returncode == 0
    _refused_untouched(_argv("data-export", out, work), out, mentions="pertool generate")


# --- damaged signature files: never a sign of pertool's output, never a crash or a hang ----------


def _signature_case(name: str, signature: str, kind: str) -> None:
    def run(work: Path) -> None:
        out = work / "mine"
        (out / signature).parent.mkdir(parents=True)
        file = out / signature
        if kind == "fifo":
            os.mkfifo(file)
        elif kind == "directory":
            file.mkdir()
        else:
            file.write_bytes({"deep": b"[" * 100_000 + b"]" * 100_000, "deep-object": b'{"a":' * 50_000 + b"1"
                              + b"}" * 50_000, "not-utf8": b'{"kind": "\xff"}', "list": b"[1]"}[kind])  # fmt: skip
        before = sorted(p.name for p in out.rglob("*"))
        proc = pertool(*_argv(name, out, work), timeout=60)
        assert_one_line_error(proc, mentions=str(out))
        assert sorted(p.name for p in out.rglob("*")) == before, "the user's files changed"

    CASES.append(Case(f"{name}-signature-{signature}-{kind}", run))


for _name, _signature in (("ablate", "config.json"), ("eval", ".pertool-output"), ("generate", "manifest.json"),
                          ("synth-queries", "pipeline.json"), ("train-lora", "checkpoints/run.json"),
                          ("data-export", ".pertool-output")):  # fmt: skip
    for _kind in ("deep", "deep-object", "not-utf8", "fifo", "directory", "list"):
        _signature_case(_name, _signature, _kind)


def _synth_no_key_case(existing: bool) -> None:
    def run(work: Path) -> None:
        out = work / "pipe"
        if existing:
            out.mkdir()
        proc = pertool("synth", "run", "--config", SYNTH_CONFIG, "--model", "openai/gpt-4o-mini", "--out", out,
                       "--api-key-env", "PTB_NO_SUCH_KEY", "--no-progress", env={"PTB_NO_SUCH_KEY": ""})  # fmt: skip
        assert_one_line_error(proc, mentions="PTB_NO_SUCH_KEY")
        assert out.exists() == existing and (not existing or list(out.iterdir()) == []), \
            f"left behind: {sorted(p.name for p in out.iterdir()) if out.exists() else None}"  # fmt: skip

    CASES.append(Case(f"synth-missing-key-{'existing-empty' if existing else 'fresh'}-out", run))


for _existing in (False, True):
    _synth_no_key_case(_existing)
