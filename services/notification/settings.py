"""The notification service's settings (how settings work: services.runtime.settings)."""

from __future__ import annotations

from dataclasses import dataclass

from services.runtime.settings import Section, setting


@dataclass(frozen=True)
class NotificationSettings(Section):
    """The notification service and its consumer."""

    PROCESS = "notification"

    # 500: listing, grouping and the unread count read a user's whole retained list, so this bounds every
    # such request (500 small rows); it is more than a person scrolls back through (Instagram shows weeks,
    # Mastodon's clients a few pages), and a popular photo's likes still show as one group of up to 500.
    capacity: int = setting(
        "SHUTTER_NOTIFICATION_CAPACITY", 500, "notifications kept per user, newest first", minimum=1, maximum=5000
    )
    concurrency: int = setting(
        "SHUTTER_NOTIFICATION_CONCURRENCY",
        8,
        "events turned into notifications at once (one recipient's still one at a time, in order)",
        minimum=1,
    )
    max_deliver: int = setting(
        "SHUTTER_NOTIFICATION_MAX_DELIVER",
        20,
        "deliveries of an event failing for a reason other than an outage before it is dead-lettered",
        minimum=1,
    )
