"""The catalogue of lower bounds (``lbounds bounds list / show / eval``): every surveyed
impossibility result with its statement, hypotheses, citation and proof page."""

from __future__ import annotations

import json

from . import _lbounds

__all__ = ["eval", "list", "show"]

_list = list


def list() -> _list[dict]:  # noqa: A001  (the CLI's name)
    """Every catalogue entry as ``lbounds bounds list --json`` prints it."""
    return json.loads(_lbounds.bounds_list_json())


def show(id: str):  # noqa: A002
    """The entry ``id`` (a dict), or every variant of a family id such as ``"R4"`` (a list)."""
    return json.loads(_lbounds.bounds_show_json(id))


def eval(id: str, **params: float) -> dict:  # noqa: A001
    """The bound ``id`` at ``params`` (the others at their defaults), as
    ``lbounds bounds eval --json``: ``value`` (None when infinite, with ``reason``), ``upper``,
    ``kind``, ``tight``, ``status``, the ``params`` used."""
    from . import _params

    return json.loads(_lbounds.bounds_eval_json(id, _params(params, id) or {}))
