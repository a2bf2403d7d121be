"""Schedule files for a national week (benchmarks/national.py): one programme per county
office, with real county names, their provinces and Persian text like the sample's.

``write_national(folder, programmes, events=12)`` writes the files, every one with an mtime
an hour old (settled: the registry applies it at once). Past 150 programmes the counties
repeat with another organising office (the cooperative office, the chamber of
cooperatives, the municipality …), so every id and title stays unique.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

# (id, Persian name, province id of schedule/provinces.py)
COUNTIES: tuple[tuple[str, str, str], ...] = (
    ("tehran", "تهران", "tehran"), ("rey", "ری", "tehran"),
    ("shemiranat", "شمیرانات", "tehran"), ("eslamshahr", "اسلامشهر", "tehran"),
    ("shahriar", "شهریار", "tehran"), ("varamin", "ورامین", "tehran"),
    ("pakdasht", "پاکدشت", "tehran"), ("damavand", "دماوند", "tehran"),
    ("firuzkuh", "فیروزکوه", "tehran"), ("robat-karim", "رباط‌کریم", "tehran"),
    ("mashhad", "مشهد", "khorasan-razavi"), ("neyshabur", "نیشابور", "khorasan-razavi"),
    ("sabzevar", "سبزوار", "khorasan-razavi"), ("quchan", "قوچان", "khorasan-razavi"),
    ("kashmar", "کاشمر", "khorasan-razavi"), ("khalilabad", "خلیل‌آباد", "khorasan-razavi"),
    ("torbat-heydarieh", "تربت حیدریه", "khorasan-razavi"),
    ("torbat-jam", "تربت جام", "khorasan-razavi"), ("gonabad", "گناباد", "khorasan-razavi"),
    ("chenaran", "چناران", "khorasan-razavi"), ("sarakhs", "سرخس", "khorasan-razavi"),
    ("taybad", "تایباد", "khorasan-razavi"), ("bardaskan", "بردسکن", "khorasan-razavi"),
    ("isfahan", "اصفهان", "isfahan"), ("kashan", "کاشان", "isfahan"),
    ("najafabad", "نجف‌آباد", "isfahan"), ("khomeinishahr", "خمینی‌شهر", "isfahan"),
    ("shahinshahr", "شاهین‌شهر", "isfahan"), ("golpayegan", "گلپایگان", "isfahan"),
    ("natanz", "نطنز", "isfahan"), ("ardestan", "اردستان", "isfahan"),
    ("naein", "نائین", "isfahan"), ("mobarakeh", "مبارکه", "isfahan"),
    ("semirom", "سمیرم", "isfahan"), ("shahreza", "شهرضا", "isfahan"),
    ("khansar", "خوانسار", "isfahan"), ("shiraz", "شیراز", "fars"),
    ("marvdasht", "مرودشت", "fars"), ("kazerun", "کازرون", "fars"),
    ("jahrom", "جهرم", "fars"), ("fasa", "فسا", "fars"), ("darab", "داراب", "fars"),
    ("larestan", "لارستان", "fars"), ("abadeh", "آباده", "fars"), ("eqlid", "اقلید", "fars"),
    ("firuzabad", "فیروزآباد", "fars"), ("neyriz", "نی‌ریز", "fars"),
    ("estahban", "استهبان", "fars"), ("sepidan", "سپیدان", "fars"),
    ("ahvaz", "اهواز", "khuzestan"), ("abadan", "آبادان", "khuzestan"),
    ("khorramshahr", "خرمشهر", "khuzestan"), ("dezful", "دزفول", "khuzestan"),
    ("shushtar", "شوشتر", "khuzestan"), ("andimeshk", "اندیمشک", "khuzestan"),
    ("masjed-soleyman", "مسجد سلیمان", "khuzestan"), ("behbahan", "بهبهان", "khuzestan"),
    ("izeh", "ایذه", "khuzestan"), ("ramhormoz", "رامهرمز", "khuzestan"),
    ("shush", "شوش", "khuzestan"), ("mahshahr", "ماهشهر", "khuzestan"),
    ("sari", "ساری", "mazandaran"), ("babol", "بابل", "mazandaran"),
    ("amol", "آمل", "mazandaran"), ("qaemshahr", "قائم‌شهر", "mazandaran"),
    ("behshahr", "بهشهر", "mazandaran"), ("chalus", "چالوس", "mazandaran"),
    ("nowshahr", "نوشهر", "mazandaran"), ("tonekabon", "تنکابن", "mazandaran"),
    ("ramsar", "رامسر", "mazandaran"), ("babolsar", "بابلسر", "mazandaran"),
    ("rasht", "رشت", "gilan"), ("bandar-anzali", "بندر انزلی", "gilan"),
    ("lahijan", "لاهیجان", "gilan"), ("langarud", "لنگرود", "gilan"),
    ("astara", "آستارا", "gilan"), ("talesh", "تالش", "gilan"), ("rudsar", "رودسر", "gilan"),
    ("fuman", "فومن", "gilan"), ("sowmesara", "صومعه‌سرا", "gilan"),
    ("tabriz", "تبریز", "azarbaijan-sharqi"), ("maragheh", "مراغه", "azarbaijan-sharqi"),
    ("marand", "مرند", "azarbaijan-sharqi"), ("mianeh", "میانه", "azarbaijan-sharqi"),
    ("ahar", "اهر", "azarbaijan-sharqi"), ("bonab", "بناب", "azarbaijan-sharqi"),
    ("sarab", "سراب", "azarbaijan-sharqi"), ("shabestar", "شبستر", "azarbaijan-sharqi"),
    ("urmia", "ارومیه", "azarbaijan-gharbi"), ("khoy", "خوی", "azarbaijan-gharbi"),
    ("miandoab", "میاندوآب", "azarbaijan-gharbi"), ("mahabad", "مهاباد", "azarbaijan-gharbi"),
    ("bukan", "بوکان", "azarbaijan-gharbi"), ("salmas", "سلماس", "azarbaijan-gharbi"),
    ("naqadeh", "نقده", "azarbaijan-gharbi"), ("sardasht", "سردشت", "azarbaijan-gharbi"),
    ("kerman", "کرمان", "kerman"), ("sirjan", "سیرجان", "kerman"),
    ("rafsanjan", "رفسنجان", "kerman"), ("jiroft", "جیرفت", "kerman"), ("bam", "بم", "kerman"),
    ("zarand", "زرند", "kerman"), ("shahr-babak", "شهربابک", "kerman"),
    ("yazd", "یزد", "yazd"), ("meybod", "میبد", "yazd"), ("ardakan", "اردکان", "yazd"),
    ("bafq", "بافق", "yazd"), ("mehriz", "مهریز", "yazd"), ("taft", "تفت", "yazd"),
    ("qom", "قم", "qom"), ("semnan", "سمنان", "semnan"), ("shahrud", "شاهرود", "semnan"),
    ("damghan", "دامغان", "semnan"), ("garmsar", "گرمسار", "semnan"),
    ("zanjan", "زنجان", "zanjan"), ("abhar", "ابهر", "zanjan"),
    ("khodabandeh", "خدابنده", "zanjan"), ("qazvin", "قزوین", "qazvin"),
    ("takestan", "تاکستان", "qazvin"), ("buin-zahra", "بوئین‌زهرا", "qazvin"),
    ("hamadan", "همدان", "hamadan"), ("malayer", "ملایر", "hamadan"),
    ("nahavand", "نهاوند", "hamadan"), ("tuyserkan", "تویسرکان", "hamadan"),
    ("kermanshah", "کرمانشاه", "kermanshah"), ("eslamabad-gharb", "اسلام‌آباد غرب", "kermanshah"),
    ("sonqor", "سنقر", "kermanshah"), ("paveh", "پاوه", "kermanshah"),
    ("sanandaj", "سنندج", "kurdistan"), ("saqqez", "سقز", "kurdistan"),
    ("marivan", "مریوان", "kurdistan"), ("baneh", "بانه", "kurdistan"),
    ("khorramabad", "خرم‌آباد", "lorestan"), ("borujerd", "بروجرد", "lorestan"),
    ("dorud", "دورود", "lorestan"), ("aligudarz", "الیگودرز", "lorestan"),
    ("ilam", "ایلام", "ilam"), ("dehloran", "دهلران", "ilam"),
    ("bushehr", "بوشهر", "bushehr"), ("dashtestan", "دشتستان", "bushehr"),
    ("genaveh", "گناوه", "bushehr"), ("bandar-abbas", "بندرعباس", "hormozgan"),
    ("minab", "میناب", "hormozgan"), ("qeshm", "قشم", "hormozgan"),
    ("zahedan", "زاهدان", "sistan-baluchestan"), ("zabol", "زابل", "sistan-baluchestan"),
    ("chabahar", "چابهار", "sistan-baluchestan"), ("iranshahr", "ایرانشهر", "sistan-baluchestan"),
    ("birjand", "بیرجند", "khorasan-jonubi"), ("qaen", "قائنات", "khorasan-jonubi"),
    ("ferdows", "فردوس", "khorasan-jonubi"), ("bojnurd", "بجنورد", "khorasan-shomali"),
    ("shirvan", "شیروان", "khorasan-shomali"), ("esfarayen", "اسفراین", "khorasan-shomali"),
    ("gorgan", "گرگان", "golestan"), ("gonbad-kavus", "گنبد کاووس", "golestan"),
    ("aliabad-katul", "علی‌آباد کتول", "golestan"), ("arak", "اراک", "markazi"),
    ("saveh", "ساوه", "markazi"), ("khomein", "خمین", "markazi"),
    ("mahallat", "محلات", "markazi"), ("shahrekord", "شهرکرد", "chaharmahal-bakhtiari"),
    ("borujen", "بروجن", "chaharmahal-bakhtiari"), ("yasuj", "یاسوج", "kohgiluyeh-boyerahmad"),
    ("gachsaran", "گچساران", "kohgiluyeh-boyerahmad"), ("ardabil", "اردبیل", "ardabil"),
    ("meshginshahr", "مشگین‌شهر", "ardabil"), ("parsabad", "پارس‌آباد", "ardabil"),
    ("karaj", "کرج", "alborz"), ("nazarabad", "نظرآباد", "alborz"),
)

# The office that publishes the programme; past the first pass over the counties, the same
# county's other offices publish their own weeks.
OFFICES: tuple[tuple[str, str], ...] = (
    ("", "اداره تعاون، کار و رفاه اجتماعی شهرستان {county}"),
    ("otaq", "اتاق تعاون شهرستان {county}"),
    ("shahrdari", "شهرداری {county}"),
    ("farmandari", "فرمانداری شهرستان {county}"),
    ("bank", "بانک توسعه تعاون شعبه {county}"),
    ("roosta", "اتحادیه تعاونی‌های روستایی {county}"),
    ("maskan", "اتحادیه تعاونی‌های مسکن {county}"),
    ("farhangian", "تعاونی مصرف فرهنگیان {county}"),
    ("zanan", "تعاونی‌های زنان {county}"),
    ("daneshgah", "دانشگاه آزاد اسلامی واحد {county}"),
    ("karafarini", "مرکز کارآفرینی {county}"),
    ("ashayer", "تعاونی‌های عشایری {county}"),
    ("sanaye", "تعاونی‌های صنایع دستی {county}"),
    ("taxi", "تعاونی تاکسیرانی {county}"),
    ("kesht", "تعاونی‌های کشت و صنعت {county}"),
    ("sayadan", "تعاونی‌های صیادی {county}"),
    ("javanan", "تعاونی‌های جوانان {county}"),
    ("farsh", "تعاونی‌های فرش دستباف {county}"),
    ("dam", "تعاونی‌های دامداران {county}"),
    ("asnaf", "تعاونی‌های اصناف {county}"),
    ("omran", "تعاونی‌های عمرانی {county}"),
    ("madan", "تعاونی‌های معدنی {county}"),
    ("sherkat", "شرکت‌های تعاونی تولیدی {county}"),
    ("kargaran", "تعاونی‌های کارگری {county}"),
    ("bahman", "تعاونی‌های آب‌بران {county}"),
    ("moalem", "صندوق تعاون معلمان {county}"),
    ("basij", "تعاونی‌های بسیج {county}"),
    ("isar", "تعاونی‌های ایثارگران {county}"),
    ("nanva", "تعاونی نانوایان {county}"),
    ("tarabar", "تعاونی‌های حمل و نقل {county}"),
)

HEAD = """# برنامهٔ هفتهٔ تعاون ۱۴۰۴، {organiser}
programme:
  id: {id}
  title: هفته تعاون ۱۴۰۴ {short}
  organiser: {organiser}
  province: {province}
  county: {county}
  timezone: Asia/Tehran
  from: 1404-06-11
  to: 1404-06-17
  description: |
    به مناسبت هفته تعاون، ستادی با ریاست فرماندار و حضور مدیران تعاونی‌های شهرستان
    {county} تشکیل شده و بر اساس روزشمار این هفته، {events} عنوان برنامه اجرا می‌شود.

    تعاونی‌های شهرستان در سال‌های گذشته صدها فرصت شغلی ایجاد کرده‌اند.
  contact:
    url: https://{id}.example.ir/taavon

categories:
  ceremony: {{label: مراسم, color: "#6a1b9a"}}
  visit: {{label: بازدید و دیدار, color: "#2e7d32", reminders: [1d, 1h]}}
  meeting: {{label: نشست, color: "#1565c0"}}
  service: {{label: میز خدمت, color: "#ef6c00"}}
  award: {{label: تجلیل, color: "#f9a825", reminders: [1d, 2h]}}
  parade: {{label: رژه, color: "#c62828", reminders: [1d, 2h]}}

venues:
  golzar:
    name: گلزار شهدای {county}
    address: {county}، بلوار شهدا
    location: [35.2571, 58.2912]
  farmandari:
    name: سالن اجتماعات فرمانداری
    address: {county}، خیابان امام خمینی، فرمانداری شهرستان
    location: [35.2553, 58.2866]
  edareh:
    name: اداره تعاون، کار و رفاه اجتماعی
    address: {county}، خیابان امام خمینی
    location: [35.2540, 58.2849]
  meydan:
    name: میدان امام خمینی
    address: {county}، مرکز شهر
    location: [35.2560, 58.2880]

events:
"""

# (id, title, category, dates, start, end, venue, hosts, description)
EVENTS = (
    ("martyrs-tribute", "ادای احترام به شهدای انقلاب", "ceremony", "date: 1404-06-11",
     "08:00", "09:00", "golzar", "[فرماندار, مدیران تعاونی‌ها]", None),
    ("governor-meeting", "نشست با امام جمعه و فرماندار", "meeting", "date: 1404-06-11",
     "10:00", "11:30", "farmandari", "[امام جمعه {county}, فرماندار]", None),
    ("peoples-visits", "دیدارهای مردمی در روستاها و مساجد", "visit",
     "dates: [1404-06-12, 1404-06-13, 1404-06-16]", "18:30", "20:30", "meydan", "[]",
     "دیدار مسئولان تعاون با مردم روستاهای شهرستان {county} پس از نماز مغرب و عشا."),
    ("service-desk", "برگزاری میز خدمت", "service", "date: 1404-06-12", None, None,
     "edareh", "[کارشناسان اداره تعاون]",
     "پاسخ به پرسش‌های تعاونگران دربارهٔ ثبت، تسهیلات و بیمه؛ تمام روز."),
    ("wood-cooperative", "افتتاح تعاونی محصولات چوب", "ceremony", "date: 1404-06-13",
     "10:00", "11:00", "edareh", "[فرماندار]", None),
    ("friday-talk", "سخنرانی و تبیین مزیت‌های بخش تعاون", "meeting", "date: 1404-06-14",
     "11:00", "11:30", "meydan", "[مدیر کل تعاون استان]", None),
    ("cooperative-visits", "بازدید از تعاونی‌ها", "visit", "dates: [1404-06-15, 1404-06-16]",
     "09:00", "12:00", "edareh", "[]",
     "حرکت از اداره تعاون؛ بازدید از تعاونی‌های فعال شهرستان {county}."),
    ("taxi-parade", "رژه خودروهای تعاونی تاکسی بی‌سیم", "parade", "date: 1404-06-15",
     "16:00", "17:30", "meydan", "[]", None),
    ("managers-meeting", "نشست هم‌اندیشی مدیران تعاونی‌ها", "meeting", "date: 1404-06-16",
     "16:00", "18:00", "farmandari", "[مدیران تعاونی‌ها]",
     "گفت‌وگو دربارهٔ تأمین سرمایه در گردش و بازار فروش محصولات."),
    ("award-ceremony", "تجلیل از تعاونی‌های برتر", "award", "date: 1404-06-17", "10:00",
     "12:00", "farmandari", "[فرماندار, مدیر کل تعاون استان]", None),
    ("women-cooperatives", "نمایشگاه تعاونی‌های زنان", "service", "date: 1404-06-14",
     "17:00", "21:00", "meydan", "[]", "عرضهٔ محصولات تعاونی‌های زنان روستایی {county}."),
    ("closing", "آیین پایانی هفته تعاون", "ceremony", "date: 1404-06-17", "18:00", "19:00",
     "golzar", "[فرماندار]", None),
)


PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def programme_text(number: int, events: int = 12) -> tuple[str, str]:
    """(file name, YAML text) of the ``number``-th programme of a national week."""
    county_id, county, province = COUNTIES[number % len(COUNTIES)]
    office_id, office = OFFICES[number // len(COUNTIES) % len(OFFICES)]
    cycle = number // (len(COUNTIES) * len(OFFICES))
    programme_id = "-".join(part for part in (county_id, office_id,
                                              str(cycle) if cycle else "", "1404") if part)
    organiser = office.format(county=county)
    short = f"شهرستان {county}" if not office_id else organiser
    lines = [HEAD.format(id=programme_id, organiser=organiser, short=short,
                         province=province_name(province), county=county,
                         events=str(events).translate(PERSIAN_DIGITS))]
    for n in range(events):
        event_id, title, category, dates, start, end, venue, hosts, description = \
            EVENTS[n % len(EVENTS)]
        if n >= len(EVENTS):
            event_id, title = f"{event_id}-{n}", f"{title} ({n})"
        lines.append(f"  - id: {event_id}\n    title: {title}\n    category: {category}\n"
                     f"    {dates}\n")
        lines.append(f'    start: "{start}"\n    end: "{end}"\n' if start else
                     "    all_day: true\n")
        lines.append(f"    venue: {venue}\n    hosts: {hosts.format(county=county)}\n")
        if description:
            lines.append(f"    description: {description.format(county=county)}\n")
        lines.append("\n")
    return f"{programme_id}.yaml", "".join(lines)


def province_name(province_id: str) -> str:
    from week_planner.schedule.provinces import NAMES
    return NAMES[province_id]


def write_national(folder: Path, programmes: int, events: int = 12) -> list[str]:
    """Write ``programmes`` files into ``folder``; their programme ids."""
    folder.mkdir(parents=True, exist_ok=True)
    settled = time.time() - 3600
    ids = []
    for number in range(programmes):
        name, text = programme_text(number, events)
        path = folder / name
        path.write_text(text, encoding="utf-8")
        os.utime(path, (settled, settled))
        ids.append(name[:-len(".yaml")])
    return ids
