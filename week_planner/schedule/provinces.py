"""Iran's 31 provinces, for a programme's optional ``province:``: the name as written in
Persian, and the Latin id of its pages and feed (``/provinces/<id>.ics``). ``find(text)``
reads a name as people type it (ي/ك, ZWNJ or space, «استان» in front)."""

from __future__ import annotations

import difflib
import re

from week_planner.schedule import jalali

PROVINCES: tuple[tuple[str, str], ...] = (
    ("azarbaijan-sharqi", "آذربایجان شرقی"), ("azarbaijan-gharbi", "آذربایجان غربی"),
    ("ardabil", "اردبیل"), ("isfahan", "اصفهان"), ("alborz", "البرز"), ("ilam", "ایلام"),
    ("bushehr", "بوشهر"), ("tehran", "تهران"),
    ("chaharmahal-bakhtiari", "چهارمحال و بختیاری"), ("khorasan-jonubi", "خراسان جنوبی"),
    ("khorasan-razavi", "خراسان رضوی"), ("khorasan-shomali", "خراسان شمالی"),
    ("khuzestan", "خوزستان"), ("zanjan", "زنجان"), ("semnan", "سمنان"),
    ("sistan-baluchestan", "سیستان و بلوچستان"), ("fars", "فارس"), ("qazvin", "قزوین"),
    ("qom", "قم"), ("kurdistan", "کردستان"), ("kerman", "کرمان"), ("kermanshah", "کرمانشاه"),
    ("kohgiluyeh-boyerahmad", "کهگیلویه و بویراحمد"), ("golestan", "گلستان"),
    ("gilan", "گیلان"), ("lorestan", "لرستان"), ("mazandaran", "مازندران"),
    ("markazi", "مرکزی"), ("hormozgan", "هرمزگان"), ("hamadan", "همدان"), ("yazd", "یزد"),
)
NAMES = dict(PROVINCES)  # id → Persian name
_PREFIX = re.compile(r"^استان\s*")


def comparable(text: str) -> str:
    """A name as people mean it: Persian ی/ک, no ZWNJ, spaces or «استان» in front."""
    text = _PREFIX.sub("", jalali.normalise_letters(text.strip()))
    return re.sub(r"[\s\u200c\u200f\u200e]+", "", text)


_BY_NAME = {comparable(name): province_id for province_id, name in PROVINCES}


def find(text: str) -> str | None:
    """The id of the province ``text`` names, else None."""
    return _BY_NAME.get(comparable(text)) or (text if text in NAMES else None)


def closest(text: str) -> str | None:
    """The Persian name of the province closest to a mistyped ``text``."""
    found = difflib.get_close_matches(comparable(text), list(_BY_NAME), n=1, cutoff=0.6)
    return NAMES[_BY_NAME[found[0]]] if found else None
