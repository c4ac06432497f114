"""Constructor keywords that are not fields: kept as request fields, with a warning.

Every Nebula model class accepts request fields it does not model (a server's
extras, a field added to the API after this package) as constructor keywords, and
sends them as top-level request fields through its ``model_kwargs``. A keyword close
to a real field's name is most likely a typo, so the warning names that field.
"""

from __future__ import annotations

import difflib
import sys
import warnings
from collections.abc import Mapping, Set
from typing import Any

from pydantic import AliasChoices, BaseModel

__all__ = ["field_names", "move_unknown_keywords"]


def field_names(cls: type[BaseModel]) -> frozenset[str]:
    """Every name a field of ``cls`` may be given by: its own, its alias, its legacy ones."""
    names: set[str] = set()
    for name, info in cls.model_fields.items():
        names.add(name)
        if info.alias:
            names.add(info.alias)
        if isinstance(info.validation_alias, AliasChoices):
            names.update(c for c in info.validation_alias.choices if isinstance(c, str))
    return frozenset(names)


def move_unknown_keywords(
    cls: type[BaseModel],
    values: Any,
    *,
    server_fields: Set[str] = frozenset(),
    refused: Mapping[str, str] | None = None,
) -> Any:
    """Moves keywords that are not fields of ``cls`` into ``model_kwargs``, warning once each.

    Args:
        cls: The model class being constructed.
        values: The raw constructor input (a ``before`` model validator's argument).
        server_fields: Request fields that are meant as they are: no "did you mean"
            hint for them, however close they are to a field's name.
        refused: Keywords that are refused, each with what to do instead (settings of
            other integrations that must never go out as request fields).

    Returns:
        ``values`` itself when nothing moves, otherwise a new dict.

    Raises:
        ValueError: For a refused keyword, naming it and what to do instead.
    """
    if not isinstance(values, dict):
        return values
    known = field_names(cls)
    # Underscored names are LangChain's own caches (seen on assignment), not input.
    unknown = [name for name in values if name not in known and not name.startswith("_")]
    if not unknown:
        return values
    for name in unknown:
        if refused and name in refused:
            msg = f"{cls.__name__} does not take {name!r}: {refused[name]}"
            raise ValueError(msg)
    values = dict(values)
    extra = dict(values.get("model_kwargs") or {})
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]!r}?" if close and name not in server_fields else ""
        msg = (
            f"{cls.__name__} has no parameter {name!r}{hint} It was moved to model_kwargs "
            "and will be sent as a top-level request field."
        )
        warnings.warn(msg, UserWarning, stacklevel=_user_stacklevel())
        extra[name] = values.pop(name)
    values["model_kwargs"] = extra
    return values


def _user_stacklevel() -> int:
    """How far up the stack the user's constructor call is (past pydantic and us)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(("langchain_nebula", "langchain_core", "pydantic")):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level
