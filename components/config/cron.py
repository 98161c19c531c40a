"""A CronJob's schedule, checked as Kubernetes parses it (robfig/cron's standard parser, which
the API server's validation and the CronJob controller both use), so a schedule the API server
would refuse fails here, before anything is created."""

from __future__ import annotations

import re
from typing import Annotated, Optional

from pydantic import AfterValidator

from .base import expects

EXAMPLE = "'30 2 * * *' (02:30 every day)"
MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_NAMES = {
    "month": {name: number for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)},
    "day-of-week": {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))},
}
# (name, lowest, highest) of the five fields, in order.
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 6))
_TERM = re.compile(r"(?P<start>[^-/]+)(?:-(?P<end>[^-/]+))?(?:/(?P<step>[^-/]*))?", re.ASCII)


def _value(text: str, field: str, low: int, high: int) -> int:
    number = _NAMES.get(field, {}).get(text.lower()) if not text.isdigit() else int(text)
    if number is None:
        raise ValueError(f"{field} {text!r} is not a number" + (
            f" or a name ({', '.join(_NAMES[field])})" if field in _NAMES else ""))
    if not low <= number <= high:
        raise ValueError(f"{field} {number} is outside {low}-{high}")
    return number


def _field_problem(text: str, field: str, low: int, high: int) -> Optional[str]:
    try:
        for term in text.split(","):
            match = _TERM.fullmatch(term)
            if not match:
                raise ValueError(f"{field} {term!r} is not a value, range (1-5), list (1,15) or step (*/10)")
            start, end, step = match["start"], match["end"], match["step"]
            if start in ("*", "?"):
                if end is not None:
                    raise ValueError(f"{field} {term!r}: '*' takes no range")
            else:
                first = _value(start, field, low, high)
                if end is not None and first > _value(end, field, low, high):
                    raise ValueError(f"{field} range {term!r} starts after it ends")
            if step is not None and (not step.isdigit() or int(step) == 0):
                raise ValueError(f"{field} step in {term!r} must be a positive number")
    except ValueError as problem:
        return str(problem)
    return None


def schedule_problem(schedule: str) -> Optional[str]:
    """What Kubernetes would refuse in this schedule, or None."""
    if schedule.startswith(("TZ=", "CRON_TZ=")):
        return "a time zone in the schedule is refused by the API server; schedules run in UTC"
    if schedule.startswith("@"):
        return None if schedule in MACROS else f"{schedule!r} is not one of {', '.join(MACROS)}"
    fields = schedule.split()
    if len(fields) != len(_FIELDS):
        return (f"has {len(fields)} fields; a schedule has five: minute hour day-of-month month day-of-week")
    for text, (field, low, high) in zip(fields, _FIELDS):
        problem = _field_problem(text, field, low, high)
        if problem:
            return problem
    return None


@expects(f"cron schedule (UTC), e.g. `30 2 * * *`, or one of {', '.join(MACROS)}")
def _schedule(value: str) -> str:
    problem = schedule_problem(value) if value.isascii() else "must be plain ASCII"
    if problem:
        raise ValueError(f"{problem}; use five fields (minute hour day-of-month month day-of-week) such as "
                         f"{EXAMPLE}, '*/15 * * * *' (every 15 minutes) or a macro such as @daily")
    return value


CronSchedule = Annotated[str, AfterValidator(_schedule)]
