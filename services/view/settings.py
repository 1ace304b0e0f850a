"""The view service's settings (how settings work: services.runtime.settings)."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.settings import Section, setting
from services.view.cache import MAX_AGE_LIMIT_SECONDS


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
    photo_cache_entries: int = setting(
        "SHUTTER_VIEW_PHOTO_CACHE_ENTRIES", 10_000, "photos' metadata kept in each view process (0: none)", minimum=0
    )
    photo_cache_seconds: float = setting(
        "SHUTTER_VIEW_PHOTO_CACHE_SECONDS",
        1.0,
        "the longest a photo's metadata is served from that cache (a deleted photo is gone within it)",
        minimum=0,
        maximum=MAX_AGE_LIMIT_SECONDS,
    )
    listing_cache_entries: int = setting(
        "SHUTTER_VIEW_LISTING_CACHE_ENTRIES",
        2_000,
        "pages of users' photos kept in each view process, for every viewer allowed to see them (0: none)",
        minimum=0,
    )
    listing_cache_seconds: float = setting(
        "SHUTTER_VIEW_LISTING_CACHE_SECONDS",
        1.0,
        "the longest such a page is served from that cache (a new, edited or deleted photo shows within it)",
        minimum=0,
        maximum=MAX_AGE_LIMIT_SECONDS,
    )
