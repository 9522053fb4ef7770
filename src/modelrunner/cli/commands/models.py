"""Verbs about stored models: list, inspect, pull, push, rm, tag, package."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from modelrunner.cli.client import RunnerClient
from modelrunner.cli.output import format_age, print_json, print_table
from modelrunner.cli.progress import follow_transfer
from modelrunner.cli.session import connect
from modelrunner.cli.uploads import upload
from modelrunner.core.gguf_shards import gguf_shards

LIST_HEADERS = ("MODEL NAME", "PARAMETERS", "QUANTIZATION", "ARCHITECTURE", "MODEL ID", "CREATED", "CONTEXT",
                "SIZE")


def short_id(model_id: str) -> str:
    return model_id.removeprefix("sha256:")[:12]


def context_tokens(config: dict[str, Any]) -> str:
    if config.get("context_size"):
        return str(config["context_size"])
    trained = (config.get("gguf") or {}).get(f"{config.get('architecture')}.context_length")
    return str(trained) if trained else ""


def list_rows(models: list[dict[str, Any]]) -> list[list[str]]:
    """One row per tag, as `docker model list` shows them; untagged models show their ID alone."""
    rows = []
    for model in models:
        config = model.get("config") or {}
        facts = [config.get("parameters", ""), config.get("quantization", ""), config.get("architecture", ""),
                 short_id(model.get("id", "")), format_age(model.get("created")), context_tokens(config),
                 config.get("size", "")]
        for name in model.get("tags") or ["<none>"]:
            rows.append([name, *facts])
    return rows


def pull_model(client: RunnerClient, model: str) -> str:
    return follow_transfer(client.stream_json_lines("POST", "/models/create", {"from": model}))


def split_target(target: str) -> tuple[str, str]:
    """`org/name:tag` -> (`org/name`, `tag`); the tag follows the last `:` after the last `/`."""
    slash = target.rfind("/")
    colon = target.rfind(":")
    if colon > slash:
        return target[:colon], target[colon + 1:]
    return target, "latest"


def list_models(
    model: Annotated[str | None, typer.Argument(help="Show only this model.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runner's JSON.")] = False,
    openai: Annotated[bool, typer.Option("--openai", help="Print the OpenAI model list.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print model IDs only.")] = False,
) -> None:
    """List the models in the store.

    Example: modelrunner list --json
    """
    client = connect()
    if openai:
        print_json(client.get_json("/engines/v1/models"))
        return
    models = [client.get_json(f"/models/{model}")] if model else client.get_json("/models")
    if as_json:
        print_json(models)
    elif quiet:
        for model_id in dict.fromkeys(short_id(m.get("id", "")) for m in models):
            print(model_id)
    else:
        print_table(LIST_HEADERS, list_rows(models))


def inspect(
    model: Annotated[str, typer.Argument(help="Model name or ID.")],
    openai: Annotated[bool, typer.Option("--openai", help="Print the OpenAI model object.")] = False,
) -> None:
    """Show everything the store knows about a model, as JSON.

    Example: modelrunner inspect ai/smollm2
    """
    client = connect()
    print_json(client.get_json(f"/engines/v1/models/{model}" if openai else f"/models/{model}"))


def pull(model: Annotated[str, typer.Argument(help="Reference to pull, e.g. ai/smollm2 or hf.co/org/repo.")]) -> None:
    """Download a model from a registry or Hugging Face into the store.

    Example: modelrunner pull ai/smollm2:135M-Q4_0
    """
    message = pull_model(connect(), model)
    print(message or f"Model {model} pulled.")


def push(model: Annotated[str, typer.Argument(help="Model to push, named with its registry.")]) -> None:
    """Upload a model to its registry.

    Example: modelrunner push localhost:5000/me/tiny:latest
    """
    message = follow_transfer(connect().stream_json_lines("POST", f"/models/{model}/push"))
    print(message or f"Model {model} pushed.")


def rm(
    models: Annotated[list[str], typer.Argument(help="Models to remove.")],
    force: Annotated[bool, typer.Option("--force", "-f", help="Remove even when the model has several tags.")] = False,
) -> None:
    """Remove models (one tag, or the model with every tag when forced).

    Example: modelrunner rm ai/smollm2
    """
    client = connect()
    for model in models:
        removed = client.delete_json(f"/models/{model}", force="true" if force else None)
        for entry in removed if isinstance(removed, list) else []:
            for kind, name in entry.items():
                print(f"{kind}: {name}")


def tag(
    source: Annotated[str, typer.Argument(help="Existing model.")],
    target: Annotated[str, typer.Argument(help="New name, [registry/]org/name[:tag].")],
) -> None:
    """Give a model another name.

    Example: modelrunner tag ai/smollm2 me/smollm2:test
    """
    repo, new_tag = split_target(target)
    result = connect().post_json(f"/models/{source}/tag", repo=repo, tag=new_tag)
    print((result or {}).get("message") or f"Tagged {source} as {repo}:{new_tag}")


def package(
    target: Annotated[str, typer.Argument(help="Name of the new model, e.g. me/mymodel:Q4_K_M.")],
    gguf: Annotated[Path, typer.Option(help="GGUF file (first shard of a sharded model).", exists=True,
                                       dir_okay=False)],
    license_files: Annotated[list[Path] | None, typer.Option("--license", help="License file (repeatable).",
                                                                exists=True, dir_okay=False)] = None,
    chat_template: Annotated[Path | None, typer.Option(help="Jinja chat template file.", exists=True,
                                                          dir_okay=False)] = None,
    mmproj: Annotated[Path | None, typer.Option(help="Multimodal projector file.", exists=True,
                                                   dir_okay=False)] = None,
    context_size: Annotated[int | None, typer.Option(min=1, help="Context size to record.")] = None,
    push_after: Annotated[bool, typer.Option("--push", help="Push to the registry afterwards.")] = False,
) -> None:
    """Package a local GGUF file as a model in the store (the files are uploaded to the runner).

    Example: modelrunner package --gguf ./model.gguf --license LICENSE me/mymodel:latest
    """
    client = connect()
    body: dict[str, Any] = {"tag": target, "gguf": [upload(client, shard) for shard in gguf_shards(gguf)],
                            "licenses": [upload(client, path) for path in license_files or []], "push": push_after}
    for key, path in (("chat_template", chat_template), ("mmproj", mmproj)):
        if path is not None:
            body[key] = upload(client, path)
    if context_size is not None:
        body["context_size"] = context_size
    message = follow_transfer(client.stream_json_lines("POST", "/models/package", body))
    print(message or f"Packaged {target}")


def verify(
    model: Annotated[str | None, typer.Argument(help="Model to check; every model when left out.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runner's JSON.")] = False,
) -> None:
    """Check that every file of the stored models still matches its digest (exit status 1 if not).

    Example: modelrunner verify ai/smollm2
    """
    report = connect().post_json("/models/verify", {"model": model} if model else {})
    if as_json:
        print_json(report)
    else:
        for checked in report["models"]:
            name = ", ".join(checked["tags"]) or short_id(checked["id"])
            print(f"{name}: {'ok' if checked['ok'] else 'DAMAGED'} ({checked['blobs_checked']} files checked)")
            for problem in checked["problems"]:
                print(f"  {problem['digest']}: {problem['problem']}")
    if not report["ok"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("list")(list_models)
    app.command("ls", hidden=True)(list_models)
    for command in (inspect, pull, push, rm, tag, package, verify):
        app.command()(command)
