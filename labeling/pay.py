"""Effective pay per hour of time on task, for every kind of paid work with a rate set:
a demonstration earns when it is approved, a review and a ranking when submitted. Shown to
each worker on their own page and to admins on the people page, so both read one figure.

Hours are those spent on the kinds that have a rate: time on work nobody pays for per item
(a kind with no rate) does not lower the figure of the paid kinds."""

from collections.abc import Mapping

from django.conf import settings

# Work kind -> the setting holding its pay per item.
RATE_SETTINGS = {
    "demonstrations": "LABELING_PAY_PER_APPROVED",
    "reviews": "LABELING_PAY_PER_REVIEW",
    "rankings": "LABELING_PAY_PER_RANKING",
}


def pay_rates() -> dict[str, float]:
    """The rates that are set, by work kind."""
    rates = {kind: getattr(settings, name, None) for kind, name in RATE_SETTINGS.items()}
    return {kind: rate for kind, rate in rates.items() if rate is not None}


def pay_per_hour(*, earning: Mapping[str, int], seconds: Mapping[str, int]) -> float | None:
    """`earning`: per kind, the items that earn (approved demonstrations, every review and
    ranking); `seconds`: per kind, the time on task. None when no rate is set or no time
    was spent on the paid kinds."""
    rates = pay_rates()
    hours = sum(seconds.get(kind, 0) for kind in rates) / 3600
    if not rates or not hours:
        return None
    return sum(rate * earning.get(kind, 0) for kind, rate in rates.items()) / hours
