"""The view service's settings (how settings work: services.runtime.settings)."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.settings import Section, setting


@dataclass(frozen=True)
class ViewSettings(Section):
    """The view service."""

    PROCESS = "view"

    deadline_seconds: float = setting(
        "SHUTTER_VIEW_DEADLINE_SECONDS", 2.0, "a view's budget when its caller set no deadline", minimum=0.001
    )
    part_budget_seconds: float = setting(
        "SHUTTER_VIEW_PART_BUDGET_SECONDS",
        0.5,
        "the most likes or comments may take before the view is sent without them",
        minimum=0.001,
    )
    comments_page_size: int = setting(
        "SHUTTER_VIEW_COMMENTS_PAGE_SIZE", 20, "comments shown with a photo", minimum=1, maximum=100
    )
