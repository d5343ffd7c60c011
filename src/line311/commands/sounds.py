"""`line311 sounds ...`: build and check the prompt library.

``build`` renders every prompt of the catalogue (``catalogue_dir``, default
``content/catalogue/*.yaml``) in the seven languages into
``<state_dir>/sounds/<lang>/<prompt_id>.wav`` (8 kHz mono s16), preferring human recordings
from ``sounds/<lang>/``; ``check`` verifies that library; ``list`` shows the catalogue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from line311.config import Settings

app = typer.Typer(no_args_is_help=True)

OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Library directory (default <state_dir>/sounds)."),
]
LanguageOption = Annotated[
    list[str] | None,
    typer.Option("--language", "-l", help="Only these languages (repeatable)."),
]


def _catalogue_dir(settings: Settings) -> Path:
    return settings.catalogue_dir


def default_library_dir(settings: Settings) -> Path:
    """Where ``line311 sounds build`` puts the library unless told otherwise."""
    return settings.state_dir / "sounds"


@app.command()
def build(
    ctx: typer.Context,
    out: OutOption = None,
    engine: Annotated[
        str, typer.Option("--engine", help="TTS engine: espeak (offline) or google.")
    ] = "espeak",
    language: LanguageOption = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=16)] = 2,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every file.")] = False,
) -> None:
    """Render missing prompts (TTS) and convert human recordings into the library."""
    from line311.commands.context import settings_from
    from line311.ivr.catalogue import LANGUAGES, load_catalogue
    from line311.messaging.library import Outcome, build_library
    from line311.messaging.tts import make_engine

    settings = settings_from(ctx)
    catalogue = load_catalogue(_catalogue_dir(settings))
    out_dir = out or default_library_dir(settings)

    def progress(key: str, outcome: Outcome) -> None:
        if verbose and outcome is not Outcome.UNCHANGED:
            typer.echo(f"  {outcome.value:<12} {key}")

    report = build_library(
        catalogue,
        human_dir=settings.sounds_dir,
        out_dir=out_dir,
        engine=make_engine(engine),
        cache_dir=settings.cache_dir / "tts",
        languages=language or LANGUAGES,
        workers=workers,
        progress=progress,
    )
    typer.echo(report.summary())


@app.command()
def check(
    ctx: typer.Context,
    out: OutOption = None,
    language: LanguageOption = None,
) -> None:
    """Check that every prompt is in the library as an 8 kHz mono 16-bit WAV."""
    from line311.commands.context import settings_from
    from line311.ivr.catalogue import LANGUAGES, load_catalogue
    from line311.messaging.library import check_library

    settings = settings_from(ctx)
    catalogue = load_catalogue(_catalogue_dir(settings))
    out_dir = out or default_library_dir(settings)
    langs = language or list(LANGUAGES)
    problems = check_library(catalogue, out_dir, languages=langs)
    if problems:
        for problem in problems:
            typer.echo(f"  {problem}", err=True)
        typer.secho(
            f"{len(problems)} problem(s) in {out_dir} (run: line311 sounds build)",
            fg="red",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(f"ok: {len(catalogue)} prompts x {len(langs)} languages in {out_dir}")


@app.command("list")
def list_prompts(
    ctx: typer.Context,
    language: Annotated[str, typer.Option("--language", "-l")] = "en",
) -> None:
    """List the catalogue's prompts with their text in one language."""
    from line311.commands.context import settings_from
    from line311.ivr.catalogue import load_catalogue

    settings = settings_from(ctx)
    catalogue = load_catalogue(_catalogue_dir(settings))
    for prompt_id, prompt in catalogue.items():
        typer.echo(
            f"{prompt_id}\t{prompt.texts[language].text if language in prompt.texts else '?'}"
        )
