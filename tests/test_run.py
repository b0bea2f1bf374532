"""The journal's records survive a replay: RunDir.append leaves None fields out, so none may be required."""

import types
import typing

from pydantic import BaseModel

from selfinstruct.run import _RECORDS


def _models(annotation: object) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds, however nested (list[X], X | None, dict[str, X])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _nullable(annotation: object) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation)


def test_no_journaled_field_that_can_be_none_is_required():
    seen: set[type[BaseModel]] = set()
    todo = list(_RECORDS.values())
    required_nullable = []
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in model.model_fields.items():
            if field.is_required() and _nullable(field.annotation):
                required_nullable.append(f"{model.__name__}.{name}")
            todo += _models(field.annotation)
    assert len(seen) > len(_RECORDS)  # nested records (instances, quality notes) were walked too
    assert required_nullable == []
