"""`modelrunner launch codex` and `modelrunner launch opencode`: each tool pointed at the runner the way
its own documentation configures a local provider, without touching the user's own configuration.

- Codex reads providers from `config.toml`; its `-c key=value` overrides set the same keys for one run,
  so a `modelrunner` provider (Responses API at the runner's `/v1`) is given on the command line.
- opencode merges the file named by `OPENCODE_CONFIG` over the user's global config, so a `modelrunner`
  provider is written to a file of ours, shown to the user, and named there.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from modelrunner.cli.session import connect, load_settings
from modelrunner.core.errors import Conflict, NotFound

PROVIDER = "modelrunner"
KEY_VARIABLE = "MODELRUNNER_API_KEY"
PLACEHOLDER_KEY = "modelrunner"
CODEX_INSTALL_HINT = "install it with `npm install -g @openai/codex`"
OPENCODE_INSTALL_HINT = "install it with `npm install -g opencode-ai`"
OPENCODE_CONFIG_PATH = Path.home() / ".config" / "modelrunner" / "opencode.json"

ModelOption = Annotated[str | None, typer.Option(help="Model to use (default: the runner's default model).")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print what would run instead of running it.")]
EXTRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def codex_arguments(base_url: str, model: str) -> list[str]:
    """`-c` overrides that add a `modelrunner` provider speaking the Responses API and select it."""
    provider = f"model_providers.{PROVIDER}"
    overrides = {
        f"{provider}.name": _toml_string(PROVIDER),
        f"{provider}.base_url": _toml_string(base_url.rstrip("/") + "/v1"),
        f"{provider}.wire_api": _toml_string("responses"),
        f"{provider}.env_key": _toml_string(KEY_VARIABLE),
        "model_provider": _toml_string(PROVIDER),
        "model": _toml_string(model),
    }
    return [argument for key, value in overrides.items() for argument in ("-c", f"{key}={value}")]


def opencode_config(base_url: str, model: str) -> dict[str, object]:
    """An opencode config with a `modelrunner` provider (OpenAI-compatible) serving `model`."""
    return {
        "$schema": "https://opencode.ai/config.json",
        "provider": {PROVIDER: {
            "npm": "@ai-sdk/openai-compatible",
            "name": "modelrunner (local)",
            "options": {"baseURL": base_url.rstrip("/") + "/v1", "apiKey": "{env:" + KEY_VARIABLE + "}"},
            "models": {model: {"name": model}},
        }},
        "model": f"{PROVIDER}/{model}",
    }


def _is_ours(path: Path) -> bool:
    """Whether `path` is absent or holds only a config this command wrote (one `modelrunner` provider)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return True
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return (isinstance(document, dict) and set(document) <= {"$schema", "provider", "model"}
            and isinstance(document.get("provider"), dict) and set(document["provider"]) == {PROVIDER}
            and str(document.get("model", "")).startswith(f"{PROVIDER}/"))


def _check_config_path(config_path: Path) -> None:
    """Never overwrite a file this command did not write: it may be the user's own opencode config."""
    if not _is_ours(config_path):
        raise Conflict(f"{config_path} exists and is not a config written by `modelrunner launch opencode`, "
                       "so it is left as it is; pass another --config-path")


def _replaced_opencode_config(config_path: Path) -> str | None:
    """The user's own OPENCODE_CONFIG, when this run names another file instead (so they are told).
    opencode's variable, not a modelrunner setting: read from the environment handed to the child, as `_run` does."""
    own = os.environ.get("OPENCODE_CONFIG")
    return own if own and Path(own).expanduser().resolve() != config_path.expanduser().resolve() else None


def _executable(name: str, hint: str) -> str:
    executable = shutil.which(name)
    if executable is None:
        raise NotFound(f"`{name}` is not on PATH; {hint}")
    return executable


def _run(executable: str, arguments: list[str], environment: dict[str, str]) -> None:
    connect().close()
    completed = subprocess.run([executable, *arguments], env={**os.environ, **environment}, check=False)
    raise typer.Exit(completed.returncode)


def codex(context: typer.Context, model: ModelOption = None, dry_run: DryRunOption = False) -> None:
    """Run the Codex CLI with the runner as its model provider; arguments after `--` go to codex.

    Example: modelrunner launch codex --model ai/qwen3 -- exec "explain this repo"
    """
    settings = load_settings()
    arguments = [*codex_arguments(settings.runner_host, model or settings.default_model), *context.args]
    environment = {KEY_VARIABLE: settings.api_key or PLACEHOLDER_KEY}
    if dry_run:
        print(f"export {KEY_VARIABLE}={shlex.quote(environment[KEY_VARIABLE])}")
        print(shlex.join(["codex", *arguments]))
        return
    _run(_executable("codex", CODEX_INSTALL_HINT), arguments, environment)


def opencode(context: typer.Context, model: ModelOption = None, dry_run: DryRunOption = False,
             config_path: Annotated[Path, typer.Option(help="Where to write the provider config for opencode.")]
             = OPENCODE_CONFIG_PATH) -> None:
    """Run opencode with the runner as a provider, from a config file of ours that opencode merges over
    yours (OPENCODE_CONFIG); arguments after `--` go to opencode.

    Example: modelrunner launch opencode --model ai/qwen3 -- run "explain this repo"
    """
    settings = load_settings()
    document = json.dumps(opencode_config(settings.runner_host, model or settings.default_model), indent=2) + "\n"
    environment = {"OPENCODE_CONFIG": str(config_path), KEY_VARIABLE: settings.api_key or PLACEHOLDER_KEY}
    _check_config_path(config_path)
    replaced = _replaced_opencode_config(config_path)
    if replaced:
        sys.stderr.write(f"modelrunner: OPENCODE_CONFIG was {replaced}; for this run it names {config_path} "
                         "instead, so opencode does not read that file\n")
    if dry_run:
        print(f"# {config_path} would hold:\n{document}")
        for name, value in environment.items():
            print(f"export {name}={shlex.quote(value)}")
        print(shlex.join(["opencode", *context.args]))
        return
    executable = _executable("opencode", OPENCODE_INSTALL_HINT)
    config_path.parent.mkdir(parents=True, exist_ok=True)
    config_path.write_text(document, encoding="utf-8")
    sys.stderr.write(f"modelrunner: wrote the opencode provider config to {config_path} "
                     "(your own opencode config is left as it is)\n")
    _run(executable, list(context.args), environment)


def register(launch_app: typer.Typer) -> None:
    launch_app.command(context_settings=EXTRA_ARGS)(codex)
    launch_app.command(context_settings=EXTRA_ARGS)(opencode)
