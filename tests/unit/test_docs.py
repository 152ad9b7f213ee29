"""The generated docs are current, and README's commands exist in the command tree."""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer
from typer.core import TyperGroup, TyperOption

from promkit.core import errors

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
PROGRAMS = ("promkit", ".venv/bin/promkit")


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_cli_docs", REPO / "scripts/gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gen: Any = _load_generator()


@pytest.fixture(scope="module")
def rendered() -> dict[Path, str]:
    result: dict[Path, str] = gen.rendered()
    return result


def test_docs_generated_files_are_current(rendered: dict[Path, str]) -> None:
    assert set(rendered) == {REPO / "docs/cli.md", REPO / "docs/exit-codes.md"}
    for path, text in rendered.items():
        committed = path.read_text(encoding="utf-8") if path.exists() else ""
        assert committed == text, f"{path.relative_to(REPO)} is stale: run make docs"


def test_docs_cli_reference_has_a_section_per_command(rendered: dict[Path, str]) -> None:
    text = rendered[REPO / "docs/cli.md"]
    root = gen.root_command()
    paths = [d.path for d in gen.walk(root, gen.root_context(root))]
    assert len(paths) == len(set(paths)) > 1
    for path in paths:
        assert f"\n## `{path}`\n" in text
        assert f"(#{gen.anchor(path)})" in text
    assert "\x1b[" not in text and "╭" not in text  # no ANSI, no rich boxes


def test_docs_cli_reference_does_not_depend_on_the_terminal(
    monkeypatch: pytest.MonkeyPatch, rendered: dict[Path, str]
) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert gen.render_cli_reference() == rendered[REPO / "docs/cli.md"]


def test_docs_exit_codes_list_every_error_class(rendered: dict[Path, str]) -> None:
    text = rendered[REPO / "docs/exit-codes.md"]
    for error in errors.ALL_ERRORS:
        row = f"| {error.exit_code} | `{error.__name__}` |"
        assert row in text
        assert gen.error_meaning(error), f"{error.__name__} has no meaning in errors.py"
    assert "| 70 | internal error" in text
    assert "| 130 | interrupted" in text


def test_docs_error_tree_docstring_matches_the_classes() -> None:
    tree = gen.error_tree()
    assert set(tree) == {e.__name__ for e in errors.ALL_ERRORS}
    for error in errors.ALL_ERRORS:
        entry = tree[error.__name__]
        assert (entry.exit_code, entry.http_status) == (error.exit_code, error.http_status), (
            f"the tree in promkit.core.errors' docstring disagrees with {error.__name__}"
        )


# --- README commands ---------------------------------------------------------------------


def readme_commands(text: str) -> list[str]:
    """The promkit command lines inside README's fenced code blocks (continuations joined)."""
    commands: list[str] = []
    in_block = False
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_block, pending = not in_block, ""
            continue
        if not in_block:
            continue
        line = pending + line.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        words = _words(line)
        if words and words[0] in PROGRAMS:
            commands.append(line)
    return commands


def _words(line: str) -> list[str]:
    """Shell words of ``line`` up to the first pipe/redirect/`;`, without leading VAR=value."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words: list[str] = []
    try:
        for word in lexer:
            if word and set(word) <= set("();<>|&"):
                break
            words.append(word)
    except ValueError:  # unbalanced quotes: prose in a code block, not a command
        return []
    while words and "=" in words[0] and not words[0].startswith("-"):
        words.pop(0)
    return words


def command_problems(words: list[str]) -> list[str]:
    """Why ``words`` (``promkit`` and its arguments) would not parse: unknown commands/flags."""
    root = gen.root_command()
    command: Any = root
    ctx: typer.Context = gen.root_context(root)
    problems: list[str] = []
    options_here = 0  # options given to the current command (--help, --version on a group)
    rest = iter(words[1:])
    for word in rest:
        if word == "--":
            break
        if word.startswith("-") and word != "-":
            name = word.split("=", 1)[0]
            options_here += 1
            option = _option(command, ctx, name)
            if option is None and name not in ctx.help_option_names:
                problems.append(f"`{ctx.command_path}` has no option {name}")
            elif option is not None and not option.is_flag and not option.count and "=" not in word:
                next(rest, None)  # the option's value
        elif isinstance(command, TyperGroup):
            sub = command.get_command(ctx, word)
            if sub is None:
                problems.append(f"`{ctx.command_path}` has no command {word!r}")
                break
            command, ctx = sub, typer.Context(sub, info_name=word, parent=ctx)
            options_here = 0
    if isinstance(command, TyperGroup) and not options_here:
        problems.append(f"`{ctx.command_path}` is a group: which command?")
    return problems


def _option(command: Any, ctx: typer.Context, name: str) -> TyperOption | None:
    for param in command.get_params(ctx):
        if isinstance(param, TyperOption) and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def help_examples() -> list[tuple[str, str]]:
    """(command path, line) for every ``promkit ...`` line in a command's help text."""
    root = gen.root_command()
    examples: list[tuple[str, str]] = []
    pending = [(root, gen.root_context(root))]
    while pending:
        command, ctx = pending.pop(0)
        for line in (command.help or "").splitlines():
            words = _words(line.strip())
            if words and words[0] in PROGRAMS:
                examples.append((ctx.command_path, line.strip()))
        if isinstance(command, TyperGroup):
            pending += gen.subcommands(command, ctx)
    return examples


def test_docs_help_examples_name_existing_commands_and_flags() -> None:
    examples = help_examples()
    assert examples
    problems = {f"{path}: {line}": command_problems(_words(line)) for path, line in examples}
    assert {k: v for k, v in problems.items() if v} == {}


def test_docs_readme_has_promkit_commands() -> None:
    assert readme_commands(README.read_text(encoding="utf-8"))


@pytest.mark.parametrize("line", readme_commands(README.read_text(encoding="utf-8")))
def test_docs_readme_command_exists(line: str) -> None:
    assert command_problems(_words(line)) == []


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("promkit gather nosuch --url x", "`promkit gather` has no command 'nosuch'"),
        ("promkit gather export --no-such-flag", "`promkit gather export` has no option"),
        ("promkit volume", "`promkit volume` is a group"),
        ("promkit volume --nope", "`promkit volume` has no option --nope"),
        ("promkit --url x gather validate", "`promkit` has no option --url"),
    ],
)
def test_docs_readme_checker_reports_unknown_commands_and_flags(line: str, problem: str) -> None:
    problems = command_problems(_words(line))
    assert any(p.startswith(problem) for p in problems), problems


def test_docs_readme_commands_parse_shell_lines() -> None:
    text = "\n".join(
        [
            "```sh",
            "make run   # not promkit",
            "promkit gather export --url http://a --selector 'up{a=\"b|c\"}' \\",
            "    --stdout > lines.jsonl",
            "VM_PASSWORD=x .venv/bin/promkit gather validate --url=http://a --json | jq .",
            "promkit --version && promkit volume --help",
            'echo "it\'s prose" > /dev/null',
            "echo 'unbalanced",
            "```",
            "promkit outside a block",
        ]
    )
    lines = readme_commands(text)
    assert [_words(line) for line in lines] == [
        [
            "promkit",
            "gather",
            "export",
            "--url",
            "http://a",
            "--selector",
            'up{a="b|c"}',
            "--stdout",
        ],
        [".venv/bin/promkit", "gather", "validate", "--url=http://a", "--json"],
        ["promkit", "--version"],
    ]
    assert all(command_problems(_words(line)) == [] for line in lines)
