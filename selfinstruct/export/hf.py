"""The Hugging Face export: a `datasets.DatasetDict` saved to disk, plus one Parquet file per split.

    write_hf(rows, out_dir, val_size=0.05, seed=42)
    # out_dir/dataset_dict.json, train/, validation/   -> datasets.load_from_disk(out_dir)
    # out_dir/data/train-00000-of-00001.parquet ...     -> load_dataset("parquet", data_dir=out_dir / "data")

The validation rows are the ones `selfinstruct finetune --val-size V --seed S` holds out from the
same data (the same split function), so a model's validation loss and this split agree.
"""

from __future__ import annotations

from pathlib import Path

from selfinstruct.export.formats import to_alpaca
from selfinstruct.finetune.data import split_indices
from selfinstruct.report.source import Row

PARQUET_DIR = "data"


def parquet_name(split: str) -> str:
    return f"{PARQUET_DIR}/{split}-00000-of-00001.parquet"


def write_hf(rows: list[Row], out_dir: Path, val_size: float, seed: int) -> dict[str, int]:
    """Write both forms into out_dir; returns rows per split."""
    from datasets import Dataset, DatasetDict, Features, Value, disable_progress_bars

    disable_progress_bars()

    features = Features({"instruction": Value("string"), "input": Value("string"), "output": Value("string")})
    train, validation = split_indices(len(rows), val_size, seed) if val_size > 0 and len(rows) > 1 else (list(range(len(rows))), [])
    splits = {"train": train, "validation": validation}
    data = DatasetDict({
        name: Dataset.from_list([to_alpaca(rows[i]) for i in indices], features=features)
        for name, indices in splits.items() if indices or name == "train"
    })  # fmt: skip
    data.save_to_disk(str(out_dir))
    (out_dir / PARQUET_DIR).mkdir(exist_ok=True)
    for name, dataset in data.items():
        dataset.to_parquet(str(out_dir / parquet_name(name)))
    return {name: len(dataset) for name, dataset in data.items()}
