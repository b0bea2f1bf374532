from pathlib import Path

from selfinstruct.generate.settings import GenerateConfig
from selfinstruct.records import AlpacaExample, Candidate, Completed, Instance, SeedTask
from selfinstruct.run import RunState
from selfinstruct.stages.emit import alpaca_rows


def _state() -> RunState:
    state = RunState()
    for n, (instruction, outputs) in enumerate([("Name a colour.", ["Red."]), ("Add the numbers.", ["3", "7"]), ("Say hi.", [])]):
        cid = f"r00000.{n:02d}"
        state.apply(Candidate(id=cid, instruction=instruction, status="kept", request=0))
        instances = [Instance(input=f"in {o}" if o[0].isdigit() else "", output=o) for o in outputs]
        state.apply(Completed(id=cid, instances=instances, reason=None if instances else "no_valid_instances"))
    return state


def test_rows_are_alpaca_examples_in_keep_order_up_to_the_budget(tmp_path: Path) -> None:
    seed = SeedTask(id="seed_task_0", instruction="Greet.", instances=[Instance(output="Hello.")])
    cfg = GenerateConfig(seeds=tmp_path / "s.jsonl", budget=1, out=tmp_path / "run")
    assert alpaca_rows(_state(), cfg, [seed]) == [{"instruction": "Name a colour.", "input": "", "output": "Red."}]
    cfg = cfg.model_copy(update={"budget": 5, "include_seeds": True})
    rows = alpaca_rows(_state(), cfg, [seed])
    assert [AlpacaExample.model_validate(r).model_dump() for r in rows] == rows  # exactly the three fields, all strings
    assert [(r["instruction"], r["input"], r["output"]) for r in rows] == [
        ("Greet.", "", "Hello."), ("Name a colour.", "", "Red."), ("Add the numbers.", "in 3", "3"), ("Add the numbers.", "in 7", "7"),
    ]  # fmt: skip
