"""Settings of `selfinstruct review`: the single source of its options and their help."""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict

from selfinstruct.settings import _Config, setting

SERVER = "Server"


class ReviewConfig(_Config):
    """Settings of `review`: which rows, drawn how, served where."""

    model_config = ConfigDict(json_schema_extra={"config_example": "sample: 50"})

    source: Path = setting(
        help="A run directory (its reviews go to RUN/reviews.jsonl), or a dataset file: Alpaca, ShareGPT or messages JSON/JSONL "
        "(reviews go beside it, to NAME.reviews.jsonl).", argument=True, metavar="RUN_DIR|DATA")
    sample: int | None = setting(
        None, "Review N rows drawn uniformly with --seed (every row when there are fewer). A later, larger --sample adds rows to the same "
        "sample and never redraws it. Without --sample: the sample drawn before, if any, else every row, page by page.", metavar="N", ge=1)
    seed: int | None = setting(None, "Seed of the sample's draw. Default: 42, or the seed the sample was first drawn with (it cannot change).")
    summary: bool = setting(False, "Print the rows reviewed, the share marked right and its 95% Wilson interval, then exit (no server).")
    host: str = setting(
        "127.0.0.1", "Address to listen on. Anything but loopback (0.0.0.0 included) prints a warning; every request still needs the token.",
        panel=SERVER, min_length=1)
    port: int = setting(0, "Port to listen on; 0 picks a free one. A port in use is an error.", panel=SERVER, ge=0, le=65535)
    open_browser: bool = setting(False, "Also open the page in the default web browser.", flag="--open", panel=SERVER)
