"""The feed service's settings (how settings work: services.runtime.settings)."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.settings import Section, setting


@dataclass(frozen=True)
class FeedSettings(Section):
    """The feed service and its fan-out consumer."""

    PROCESS = "feed"

    capacity: int = setting("SHUTTER_FEED_CAPACITY", 800, "entries kept in each home feed, newest first", minimum=1)
    trim_every: int = setting(
        "SHUTTER_FEED_TRIM_EVERY", 32, "on CQL, one write in this many trims its feed to capacity", minimum=1
    )
    large_account_followers: int = setting(
        "SHUTTER_FEED_LARGE_ACCOUNT_FOLLOWERS",
        10_000,
        "authors with more followers are not fanned out but merged into their followers' feeds at read time",
        minimum=0,
    )
    large_account_pair_checks: int = setting(
        "SHUTTER_FEED_LARGE_ACCOUNT_PAIR_CHECKS",
        100,
        "with at most this many large accounts a feed read checks the reader against each; with more, it lists "
        "whom the reader follows and keeps the large ones",
        minimum=0,
    )
    followers_page_size: int = setting(
        "SHUTTER_FEED_FOLLOWERS_PAGE_SIZE", 1000, "followers read (and feeds written) per page of a fan-out", minimum=1
    )
    follow_backfill: int = setting(
        "SHUTTER_FEED_FOLLOW_BACKFILL", 50, "recent posts of a newly followed author added to the follower's feed"
    )
    fanout_concurrency: int = setting(
        "SHUTTER_FEED_FANOUT_CONCURRENCY",
        8,
        "fan-out events handled at once (one author's events still one at a time, in order)",
        minimum=1,
    )
    max_deliver: int = setting(
        "SHUTTER_FEED_MAX_DELIVER",
        20,
        "deliveries of an event failing for a reason other than an outage before it is dead-lettered",
        minimum=1,
    )
