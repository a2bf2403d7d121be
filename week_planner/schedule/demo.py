"""A demonstration programme dated around today, so that a fresh install shows the service
alive: something happening now, something about to start (with a reminder a few minutes
ahead), the rest of a week. ``demo_schedule(now)`` returns its YAML text; ``week-planner
serve --demo`` (what ``scripts/run`` starts) writes it under the instance folder and
serves it beside the schedules folder, which it never touches. Every title says it is a
demonstration."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from week_planner.schedule import jalali

DEMO_ID = "demo-week"
TIMEZONE = "Asia/Tehran"
FIVE_MINUTES = dt.timedelta(minutes=5)


def _rounded(moment: dt.datetime, up: bool) -> dt.datetime:
    """To the five minutes below (or above) ``moment``."""
    moment = moment.replace(second=0, microsecond=0)
    extra = dt.timedelta(minutes=moment.minute % 5)
    if not extra:
        return moment
    return moment - extra + (FIVE_MINUTES if up else dt.timedelta())


def _event(event_id: str, title: str, category: str, start: dt.datetime, minutes: int,
           extra: str = "", venue: str = "hall") -> str:
    return (f"  - id: {event_id}\n"
            f"    title: \"{title} (نمونهٔ نمایشی)\"\n"
            f"    category: {category}\n"
            f"    date: {jalali.iso_jalali(start.date())}\n"
            f"    start: \"{start:%H:%M}\"\n"
            f"    duration: {minutes}m\n"
            f"    venue: {venue}\n{extra}")


def demo_schedule(now: dt.datetime) -> str:
    """The demonstration programme as a schedule file, for the week around ``now``."""
    zone = ZoneInfo(TIMEZONE)
    local = now.astimezone(zone)
    today = local.date()
    happening = _rounded(local - dt.timedelta(minutes=30), up=False)
    soon = _rounded(local + dt.timedelta(minutes=12), up=True)
    tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(10), zone)
    yesterday = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(17), zone)
    events = [
        _event("past-meeting", "نشست هم‌اندیشی مدیران تعاونی‌ها", "meeting", yesterday, 90),
        _event("now-visit", "بازدید از نمایشگاه محصولات تعاونی‌ها", "visit", happening, 120),
        _event("soon-talk", "سخنرانی دربارهٔ مزیت‌های تعاون", "talk", soon, 45,
               "    reminders: [5m]\n", venue="office"),
        _event("taxi-parade", "رژهٔ تاکسی‌های تعاونی", "parade", tomorrow, 60),
        _event("award", "تجلیل از تعاونگران نمونه", "ceremony",
               tomorrow + dt.timedelta(days=1, hours=6), 90),
        "  - id: service-desk\n"
        "    title: \"میز خدمت اداره تعاون (نمونهٔ نمایشی)\"\n"
        "    category: service\n"
        f"    dates: [{jalali.iso_jalali(today)}, "
        f"{jalali.iso_jalali(today + dt.timedelta(days=2))}]\n"
        "    all_day: true\n"
        "    venue: hall\n",
    ]
    days = [happening.date(), yesterday.date(), today - dt.timedelta(days=2),
            today + dt.timedelta(days=4)]
    return (
        "# A demonstration programme written by 'week-planner serve --demo', dated around\n"
        "# the day the service started. It is not in the schedules folder and is never\n"
        "# published by a real deployment.\n"
        "programme:\n"
        f"  id: {DEMO_ID}\n"
        "  title: \"برنامهٔ نمایشی هفتهٔ تعاون (نمونه، نه یک برنامهٔ واقعی)\"\n"
        "  organiser: \"نمونهٔ نمایشی week-planner\"\n"
        f"  timezone: {TIMEZONE}\n"
        f"  from: {jalali.iso_jalali(min(days))}\n"
        f"  to: {jalali.iso_jalali(max(days))}\n"
        "  description: |\n"
        "    این برنامه نمونه‌ای نمایشی است که هنگام راه‌اندازی ساخته می‌شود تا «اکنون و بعد»،\n"
        "    تقویم‌ها و یادآوری‌ها را با تاریخ امروز ببینید. برنامه‌های واقعی در پوشهٔ\n"
        "    schedules نوشته می‌شوند.\n"
        "categories:\n"
        "  ceremony: {label: مراسم, color: \"#6a1b9a\"}\n"
        "  visit: {label: بازدید, color: \"#2e7d32\", reminders: [1h]}\n"
        "  meeting: {label: نشست, color: \"#1565c0\"}\n"
        "  talk: {label: سخنرانی, color: \"#00838f\", reminders: [5m]}\n"
        "  service: {label: میز خدمت, color: \"#ef6c00\"}\n"
        "  parade: {label: رژه, color: \"#c62828\", reminders: [1d, 1h]}\n"
        "venues:\n"
        "  hall: {name: سالن نمونه, address: نشانی نمونه}\n"
        "  office: {name: دفتر نمونه, address: نشانی نمونه}\n"
        "events:\n" + "".join(events))
