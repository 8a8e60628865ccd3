"""Panels on the board's privacy dashboard, contributed by each feature.

A feature appends a :class:`DashboardPanel` to ``state.dashboard`` in its
``create_blueprint``; the dashboard page shows the panels the user may see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DashboardPanel:
    """``context(state)`` returns the variables for ``template`` (a template path)."""

    key: str
    title: Any
    template: str
    context: Callable[[Any], dict[str, Any]]
    action: str
    order: int = 100
