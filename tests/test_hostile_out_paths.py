"""Never delete or overwrite what pertool did not create: every `--out` refuses a user's path
before doing anything, and cleanup after an early failure takes back only this run's files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pertool.errors import PertoolError
from pertool.outpaths import MARKER, check_out_dir, check_out_file, record_written
from support.cli import run_pertool
from support.openai_stub import Reply, StubServer

USER_FILE = "notes.txt"
USER_TEXT = "my own notes, not pertool's\n"

# Every command that writes a directory named by --out, with the rest of a valid command line.
DIR_COMMANDS = {
    "eval": ["eval", "--benchmark", "example", "--model", "oracle", "--no-progress"],
    "ablate": ["ablate", "--benchmark", "example", "--model", "oracle", "--no-progress"],
    "generate": ["generate", "--users", "3", "--untrained-users", "1", "--train", "5", "--test-trained", "3",
                 "--test-untrained", "3"],
    "synth run": ["synth", "run", "--config", "EXAMPLE_CONFIG", "--model", "oracle", "--no-progress"],
    "synth tools": ["synth", "tools", "--config", "EXAMPLE_CONFIG", "--model", "oracle", "--no-progress"],
    "synth dataset": ["synth", "dataset", "--model", "oracle", "--no-progress"],
    "train lora": ["train", "lora", "--base", "BASE", "--data", "builtin:train", "--limit", "2"],
    "train tiny-model": ["train", "tiny-model"],
    "data export": ["data", "export", "--benchmark", "example"],
    "models prepare": ["models", "prepare", "smollm2-135m"],
}  # fmt: skip

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "synth-small.yaml"


def command(name: str, out: Path | str, tmp_path: Path) -> list[str]:
    argv = [str(EXAMPLE_CONFIG) if a == "EXAMPLE_CONFIG" else a for a in DIR_COMMANDS[name]]
    argv = [str(tmp_path / "base") if a == "BASE" else a for a in argv]
    return [*argv, "--out", str(out)]


def assert_refused(proc, mentions: str = "") -> None:  # type: ignore[no-untyped-def]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-800:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("pertool: error:")]
    assert len(errors) == 1, proc.stderr
    assert mentions in errors[0], errors[0]


def user_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / USER_FILE).write_text(USER_TEXT)
    return path


def assert_untouched(path: Path) -> None:
    assert sorted(p.name for p in path.iterdir()) == [USER_FILE]
    assert (path / USER_FILE).read_text() == USER_TEXT


@pytest.mark.parametrize("name", sorted(DIR_COMMANDS))
def test_a_directory_holding_a_users_file_is_refused_and_survives(name: str, tmp_path: Path) -> None:
    out = user_dir(tmp_path / "mine")
    proc = run_pertool(*command(name, out, tmp_path), timeout=120)
    assert_refused(proc, mentions=str(out))
    assert "not empty" in proc.stderr and USER_FILE in proc.stderr
    assert_untouched(out)


@pytest.mark.parametrize("name", sorted(DIR_COMMANDS))
def test_out_dot_in_a_working_directory_with_files_is_refused(name: str, tmp_path: Path) -> None:
    cwd = user_dir(tmp_path / "work")
    (cwd / "sub").mkdir()
    (cwd / "sub" / "data.csv").write_text("a,b\n")
    proc = run_pertool(*command(name, ".", tmp_path), cwd=cwd, timeout=120)
    assert_refused(proc, mentions="--out .")
    assert sorted(p.name for p in cwd.iterdir()) == [USER_FILE, "sub"]
    assert (cwd / "sub" / "data.csv").read_text() == "a,b\n"


@pytest.mark.parametrize("name", ["eval", "generate", "train tiny-model"])  # all: benchmarks/hostile
def test_a_file_where_a_directory_is_expected_is_refused(name: str, tmp_path: Path) -> None:
    out = tmp_path / "a-file"
    out.write_text(USER_TEXT)
    proc = run_pertool(*command(name, out, tmp_path), timeout=120)
    assert_refused(proc, mentions="is a file")
    assert out.read_text() == USER_TEXT


def test_another_commands_output_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "generated"
    run_pertool(*command("generate", out, tmp_path), check=True)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    proc = run_pertool(*command("data export", out, tmp_path))
    assert_refused(proc, mentions="output of `pertool generate`")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_an_empty_directory_and_own_output_are_fine(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    run_pertool(*command("generate", empty, tmp_path), check=True)
    assert (empty / "test.jsonl").is_file()
    assert json.loads((empty / MARKER).read_text())["kind"] == "dataset"
    run_pertool(*command("generate", empty, tmp_path), check=True)  # its own output: written again
    run_pertool(*command("data export", tmp_path / "x" / "y", tmp_path), check=True)  # parents made


# --- file outputs -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oracle_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "oracle"
    run_pertool("eval", "--benchmark", "example", "--model", "oracle", "--out", run, "--no-progress", check=True)
    return run


def file_commands(run: Path, tmp_path: Path) -> dict[str, list[str]]:
    return {
        "report": ["report", str(run)],
        "compare": ["compare", str(run), "--resamples", "10"],
        "train export": ["train", "export", "--benchmark", "builtin:train", "--format", "trl", "--limit", "3"],
    }


@pytest.mark.parametrize("name", ["report", "compare", "train export"])
def test_a_users_file_is_never_overwritten(name: str, oracle_run: Path, tmp_path: Path) -> None:
    target = tmp_path / "theirs.out"
    target.write_text(USER_TEXT)
    proc = run_pertool(*file_commands(oracle_run, tmp_path)[name], "--out", target)
    assert_refused(proc, mentions="pertool did not write it")
    assert target.read_text() == USER_TEXT


@pytest.mark.parametrize("name", ["report", "compare", "train export"])
def test_own_file_is_replaced_but_not_once_edited(name: str, oracle_run: Path, tmp_path: Path) -> None:
    target = tmp_path / "mine.out"
    argv = [*file_commands(oracle_run, tmp_path)[name], "--out", str(target)]
    run_pertool(*argv, check=True)
    run_pertool(*argv, check=True)  # pertool's own, unchanged: replaced
    target.write_text(target.read_text() + "my edit\n")
    proc = run_pertool(*argv)
    assert_refused(proc, mentions="changed")
    assert target.read_text().endswith("my edit\n")


@pytest.mark.parametrize("name", ["report", "compare", "train export"])
def test_a_directory_where_a_file_is_expected_is_refused(name: str, oracle_run: Path, tmp_path: Path) -> None:
    out = user_dir(tmp_path / "dir")
    proc = run_pertool(*file_commands(oracle_run, tmp_path)[name], "--out", out)
    assert_refused(proc, mentions="is a directory")
    assert_untouched(out)


def test_report_default_file_beside_a_run_respects_a_users_report(oracle_run: Path, tmp_path: Path) -> None:
    theirs = oracle_run / "report.html"
    theirs.write_text("<p>my hand-made report</p>")
    try:
        proc = run_pertool("report", oracle_run)
        assert_refused(proc, mentions="report.html")
        assert theirs.read_text() == "<p>my hand-made report</p>"
    finally:
        theirs.unlink()


# --- early failure: only this run's files go ----------------------------------------------------


def unauthorized() -> StubServer:
    return StubServer(lambda body, request: Reply(status=401, json={"error": {"message": "bad key"}}))


def eval_against(server: StubServer, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run_pertool("eval", "--benchmark", "example", "--model", "openai-compatible/m", "--base-url",
                       server.url, "--out", out, "--no-progress", "--max-attempts", "1", *extra)  # fmt: skip


def test_first_request_401_into_a_fresh_out_leaves_nothing(tmp_path: Path) -> None:
    with unauthorized() as server:
        out = tmp_path / "new" / "run"
        proc = eval_against(server, out)
    assert_refused(proc)
    assert not (tmp_path / "new").exists()  # the parent this run made goes too
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_first_request_401_into_an_existing_empty_dir_leaves_it_empty(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    with unauthorized() as server:
        proc = eval_against(server, out)
    assert_refused(proc)
    assert out.is_dir() and list(out.iterdir()) == []


def test_wrong_benchmark_path_into_out_dot_of_an_empty_dir_keeps_the_dir(tmp_path: Path) -> None:
    proc = run_pertool("eval", "--benchmark", f"dataset:{tmp_path / 'missing'}", "--model", "oracle",
                       "--out", ".", "--no-progress", cwd=tmp_path)  # fmt: skip
    assert_refused(proc, mentions="missing")
    assert tmp_path.is_dir() and list(tmp_path.iterdir()) == []


def test_ablate_401_leaves_nothing(tmp_path: Path) -> None:
    with unauthorized() as server:
        proc = run_pertool("ablate", "--benchmark", "example", "--model", "openai-compatible/m", "--base-url",
                           server.url, "--out", tmp_path / "abl", "--no-progress", "--max-attempts", "1")  # fmt: skip
    assert_refused(proc)
    assert not (tmp_path / "abl").exists()


def test_a_file_appearing_during_a_failed_run_survives_its_cleanup(tmp_path: Path) -> None:
    out = tmp_path / "run"

    def respond(body, request):  # type: ignore[no-untyped-def]
        (out / "user-dropped.txt").write_text("hello")  # the user writes into the run dir meanwhile
        return Reply(status=403, json={"error": {"message": "forbidden"}})

    with StubServer(respond) as server:
        proc = eval_against(server, out, "--max-concurrency", "1")
    assert_refused(proc)
    assert sorted(p.name for p in out.iterdir()) == ["user-dropped.txt"]


# --- the rule itself (unit) ---------------------------------------------------------------------


def test_check_out_dir_checks_only_and_make_discard_round_trip(tmp_path: Path) -> None:
    target = check_out_dir(tmp_path / "a" / "b", "dataset")
    assert not (tmp_path / "a").exists()  # a check writes nothing
    target.make()
    assert (tmp_path / "a" / "b" / MARKER).is_file()
    target.discard()
    assert not (tmp_path / "a").exists()


def test_discard_keeps_the_marker_while_other_output_remains(tmp_path: Path) -> None:
    target = check_out_dir(tmp_path / "o", "lora")
    target.make()
    (tmp_path / "o" / "checkpoints").mkdir()
    target.discard()
    assert (tmp_path / "o" / MARKER).is_file()  # still signs the checkpoints as pertool's
    check_out_dir(tmp_path / "o", "lora")  # so a re-run accepts it


def test_a_broken_symlink_is_refused(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(PertoolError, match="broken symbolic link"):
        check_out_dir(tmp_path / "link", "dataset")
    with pytest.raises(PertoolError, match="broken symbolic link"):
        check_out_file(tmp_path / "link")


def test_a_fifo_is_not_a_file_to_overwrite(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(PertoolError, match="not a regular file"):
        check_out_file(tmp_path / "pipe")


def test_record_written_then_replaceable(tmp_path: Path) -> None:
    file = tmp_path / "table.md"
    file.write_text("| a |\n")
    with pytest.raises(PertoolError, match="did not write it"):
        check_out_file(file)
    record_written(file)
    assert check_out_file(file) == file


def test_llamafactory_registry_beside_an_export_is_merged_never_clobbered(tmp_path: Path) -> None:
    info = tmp_path / "dataset_info.json"
    info.write_text('{"theirs": {"file_name": "theirs.json"}}')
    argv = ["train", "export", "--benchmark", "example", "--allow-test", "--format", "llamafactory"]
    run_pertool(*argv, "--out", tmp_path / "mine.jsonl", check=True)
    assert set(json.loads(info.read_text())) == {"theirs", "mine"}
    info.write_text("not json {")
    proc = run_pertool(*argv, "--out", tmp_path / "other.jsonl")
    assert_refused(proc, mentions="dataset_info.json")
    assert info.read_text() == "not json {" and not (tmp_path / "other.jsonl").exists()


@pytest.mark.parametrize("name,signature,kind", [
    ("ablate", "config.json", "deep"), ("eval", "config.json", "not_utf8"), ("generate", "manifest.json", "fifo"),
    ("synth tools", "pipeline.json", "fifo"), ("ablate", MARKER, "deep"), ("generate", MARKER, "fifo"),
])  # fmt: skip
def test_damaged_signature_files_in_out_are_a_users_directory(name: str, signature: str, kind: str,
                                                              tmp_path: Path) -> None:  # fmt: skip
    """A deeply nested, non-UTF-8 or FIFO marker or signature file is no sign of pertool's output:
    refused in one line, no RecursionError, no hang, nothing touched."""
    out = tmp_path / "mine"
    out.mkdir()
    file = out / signature
    if kind == "fifo":
        os.mkfifo(file)
    else:
        file.write_bytes(b"[" * 100_000 + b"]" * 100_000 if kind == "deep" else b'{"benchmark": "\xff"}')
    proc = run_pertool(*command(name, out, tmp_path), timeout=60)
    assert_refused(proc, mentions=str(out))
    assert [p.name for p in out.iterdir()] == [signature]


@pytest.mark.parametrize("existing", [False, True])
def test_synth_that_fails_before_any_record_takes_back_its_directory(existing: bool, tmp_path: Path) -> None:
    out = tmp_path / "pipe"
    if existing:
        out.mkdir()
    env = {"OPENAI_API_KEY": "", "PTB_NO_KEY": ""}
    proc = run_pertool("synth", "run", "--config", EXAMPLE_CONFIG, "--model", "openai/gpt-4o-mini", "--out", out,
                       "--api-key-env", "PTB_NO_KEY", "--no-progress", env=env, timeout=60)  # fmt: skip
    assert_refused(proc, mentions="PTB_NO_KEY")
    assert out.exists() == existing
    assert not existing or list(out.iterdir()) == []
