"""Speaking dynamic values (digits, numbers, dates, times) in each of the seven languages.

Theory of operation
-------------------
A value becomes a list of prompt ids from ``content/catalogue/core.yaml``, played one after
the other in the caller's language (``Play(prompt_id=..., language=...)`` for each). Word
formation differs too much between languages to build numbers from a handful of English-
shaped pieces, so the catalogue carries whole words where languages fuse them:

- ``numbers/0`` .. ``numbers/99`` (Spanish *veintiuno*, Creole *swasannkenz*, Russian
  *двадцать один*), the round hundreds ``numbers/100`` .. ``numbers/900`` (Spanish
  *quinientos*, Russian *двести*), ``numbers/1xx`` (Spanish *ciento*, the hundred followed by
  more) and the round thousands ``numbers/1000`` .. ``numbers/9000`` (*две тысячи*, 两千);
  so every number 0..9999 is at most three or four prompts, with per-language joins
  (Chinese 零 for a gap, 一十 after a higher unit);
- ``digits/0`` .. ``digits/9`` for reading identifiers digit by digit: Mandarin says 幺 for
  one and Korean 공 for zero, as they do for phone and case numbers;
- ``ordinals/1`` .. ``ordinals/31``, ``months/<name>``, ``months_of/<name>`` (Spanish *de
  marzo*, Russian genitive *марта*), ``weekdays/<name>``, ``date/day`` (日/号, 일);
- ``time/hour/0`` .. ``time/hour/23``: the hour as each language says it alone (*la una*,
  *два часа*, 오후 세 시, 下午三点: Korean and Chinese put the part of the day first, so it
  is inside the prompt), and ``time/*`` words for minutes and the part of the day;
- a number of minutes (a queue's wait estimate) where the number and the word agree:
  ``minutes/1``, ``minutes/2`` are one and two as they count minutes (Spanish *un*, Russian
  feminine *одна*, *две*, Chinese 两/兩), ``minutes/21`` and ``minutes/and_1`` Spanish
  *veintiún* and *y un*, and the word ends the sentence in the form the number asks for:
  ``queue/minute`` (after one; Russian also after 21, 31 ...), ``queue/minutes_few``
  (Russian after 2-4, 22-24 ...) and ``queue/minutes``.

Everything here is pure: values in, prompt ids out. Ranges are checked; out-of-range values
raise `ValueError` (speak a long figure with `say_digits`).
"""

from __future__ import annotations

import datetime as dt

from line311.ivr.catalogue import LANGUAGES

__all__ = [
    "MAX_NUMBER",
    "MONTHS",
    "WEEKDAYS",
    "all_building_blocks",
    "say_date",
    "say_digits",
    "say_minutes",
    "say_number",
    "say_ordinal",
    "say_time",
]

#: Largest number `say_number` speaks as words.
MAX_NUMBER = 9999

#: Month names used in prompt ids (``months/january``), January first.
MONTHS: tuple[str, ...] = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip

#: Weekday names used in prompt ids (``weekdays/monday``), Monday first like `date.weekday`.
WEEKDAYS: tuple[str, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip

_SEPARATORS = frozenset(" -./()")


def _check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r} (expected one of {', '.join(LANGUAGES)})")


def say_digits(text: str, lang: str) -> list[str]:
    """Read ``text`` digit by digit (SR numbers, phone numbers): ``"311"`` → three prompts.

    Spaces, hyphens, dots, slashes and parentheses are skipped; any other character is an
    error.
    """
    _check_language(lang)
    out: list[str] = []
    for ch in text:
        if ch in "0123456789":
            out.append(f"digits/{ch}")
        elif ch not in _SEPARATORS:
            raise ValueError(f"cannot read {ch!r} in {text!r} digit by digit")
    if not out:
        raise ValueError(f"no digits to read in {text!r}")
    return out


def say_number(n: int, lang: str) -> list[str]:
    """Prompt ids speaking the cardinal ``n`` (0..9999) in ``lang``."""
    _check_language(lang)
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"say_number needs an int, got {n!r}")
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"say_number speaks 0..{MAX_NUMBER}, got {n}; use say_digits")
    if n == 0:
        return ["numbers/0"]
    thousands, rest = divmod(n, 1000)
    hundreds, units = divmod(rest, 100)
    out: list[str] = []
    if thousands:
        out.append(f"numbers/{thousands * 1000}")
    if hundreds:
        # numbers/1xx is "the hundred followed by more": Spanish "ciento" (vs "cien").
        out.append("numbers/1xx" if hundreds == 1 and units else f"numbers/{hundreds * 100}")
    if units:
        if lang in ("cmn", "yue") and out:
            if (thousands and not hundreds) or (hundreds and units < 10):
                out.append("numbers/0")  # 一千零五, 一百零五: 零 marks the gap
            if 10 <= units <= 19:
                out.append("numbers/1")  # 一百一十五: the ten takes an explicit 一
        out.append(f"numbers/{units}")
    return out


def say_minutes(n: int, lang: str) -> list[str]:
    """Prompt ids speaking ``n`` minutes (1..9999) in ``lang``, ending the sentence.

    en "one minute." / "two minutes."; es "un minuto." / "veintiún minutos." / "treinta y un
    minutos."; ru "одна минута." / "две минуты." / "пять минут." / "двадцать одна минута.";
    cmn "两分钟。"; yue "兩分鐘。"; ko "이 분입니다."; ht "de minit.".
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_NUMBER:
        raise ValueError(f"say_minutes speaks 1..{MAX_NUMBER} minutes, got {n!r}")
    out = say_number(n, lang)
    last_two = n % 100
    units, teen = last_two % 10, 10 <= last_two <= 19
    if lang == "es" and units == 1 and not teen:  # uno -> un before a masculine noun
        if last_two == 1:
            out[-1] = "minutes/1"
        elif last_two == 21:
            out[-1] = "minutes/21"
        else:  # treinta y uno -> treinta y un
            out[-1:] = [f"numbers/{last_two - 1}", "minutes/and_1"]
    elif lang == "ru" and units in (1, 2) and not teen:  # минута is feminine: одна, две
        tens = last_two - units
        out[-1:] = [*([f"numbers/{tens}"] if tens else []), f"minutes/{units}"]
    elif lang in ("cmn", "yue") and n == 2:  # 两分钟, not 二分钟
        out = ["minutes/2"]
    if lang == "ru":
        if not teen and units == 1:
            return [*out, "queue/minute"]
        if not teen and 2 <= units <= 4:
            return [*out, "queue/minutes_few"]
        return [*out, "queue/minutes"]
    return [*out, "queue/minute" if n == 1 else "queue/minutes"]


def say_ordinal(n: int, lang: str) -> list[str]:
    """Prompt ids speaking the ordinal ``n`` (1..31: days of the month) in ``lang``."""
    _check_language(lang)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 31:
        raise ValueError(f"say_ordinal speaks 1..31, got {n!r}")
    return [f"ordinals/{n}"]


def say_date(date: dt.date, lang: str, *, weekday: bool = True) -> list[str]:
    """Prompt ids speaking ``date`` (day and month, optionally the weekday) in ``lang``'s order.

    en "Tuesday, March fifth"; es "martes, cinco de marzo" (1st: "primero"); ru "вторник,
    пятое марта"; ht "madi senk mas" (1st: "premye"); ko "삼월 오일 화요일"; cmn "三月五号
    星期二"; yue "三月五號 星期二". The year is not spoken: the IVR talks about days near
    today (collection days, closures, updates to a request).
    """
    _check_language(lang)
    month = MONTHS[date.month - 1]
    day = date.day
    wd = [f"weekdays/{WEEKDAYS[date.weekday()]}"] if weekday else []
    if lang == "en":
        return [*wd, f"months/{month}", f"ordinals/{day}"]
    if lang == "es":
        day_ids = ["ordinals/1"] if day == 1 else say_number(day, lang)
        return [*wd, *day_ids, f"months_of/{month}"]
    if lang == "ru":
        return [*wd, f"ordinals/{day}", f"months_of/{month}"]
    if lang == "ht":
        day_ids = ["ordinals/1"] if day == 1 else say_number(day, lang)
        return [*wd, *day_ids, f"months/{month}"]
    # ko, cmn, yue: month, day + day counter, then the weekday.
    return [f"months/{month}", *say_number(day, lang), "date/day", *wd]


def _part_of_day(hour: int, evening_from: int) -> str:
    if hour < 12:
        return "time/morning"
    if hour < evening_from:
        return "time/afternoon"
    return "time/evening"


def say_time(time: dt.time, lang: str) -> list[str]:
    """Prompt ids speaking the clock time ``time`` (seconds ignored) in ``lang``.

    en "ten oh five in the morning" (12-hour); es "las diez y cinco de la mañana"; ht "dizè
    senk nan maten"; ru 24-hour, "четырнадцать тридцать" / "четырнадцать часов"; ko "오후
    두 시 삼십 분" (native hours, Sino-Korean minutes); cmn "下午两点三十分"; yue
    "下晝兩點三十分".
    """
    _check_language(lang)
    h, m = time.hour, time.minute
    hour = f"time/hour/{h}"
    if lang == "en":
        if m == 0:
            mins = ["time/oclock"]
        elif m < 10:
            mins = ["time/oh", f"numbers/{m}"]
        else:
            mins = [f"numbers/{m}"]
        return [hour, *mins, _part_of_day(h, 18)]
    if lang == "es":
        mins = ["time/oclock"] if m == 0 else ["time/past", f"numbers/{m}"]
        return [hour, *mins, _part_of_day(h, 20)]
    if lang == "ht":
        # midi / minwi need no part of the day
        tail = [] if h in (0, 12) else [_part_of_day(h, 18)]
        mins = ["time/oclock"] if m == 0 else [f"numbers/{m}"]
        return [hour, *mins, *tail]
    if lang == "ru":
        if m == 0:
            return [hour]
        zero = ["numbers/0"] if m < 10 else []
        return [f"numbers/{h}", *zero, f"numbers/{m}"]
    if lang == "ko":
        return [hour] if m == 0 else [hour, f"numbers/{m}", "time/minute"]
    # cmn, yue
    if m == 0:
        return [hour, "time/oclock"]
    zero = ["numbers/0"] if m < 10 else []
    return [hour, *zero, f"numbers/{m}", "time/minute"]


def all_building_blocks() -> list[str]:
    """Every prompt id the functions of this module can produce (for catalogue checks)."""
    ids = {f"digits/{d}" for d in range(10)}
    ids |= {f"numbers/{n}" for n in range(100)}
    ids |= {f"numbers/{h * 100}" for h in range(1, 10)} | {"numbers/1xx"}
    ids |= {f"numbers/{t * 1000}" for t in range(1, 10)}
    ids |= {f"ordinals/{n}" for n in range(1, 32)}
    ids |= {f"months/{m}" for m in MONTHS} | {f"months_of/{m}" for m in MONTHS}
    ids |= {f"weekdays/{w}" for w in WEEKDAYS} | {"date/day"}
    ids |= {"minutes/1", "minutes/2", "minutes/21", "minutes/and_1"}
    ids |= {"queue/minute", "queue/minutes_few", "queue/minutes"}
    ids |= {f"time/hour/{h}" for h in range(24)}
    ids |= {
        f"time/{w}" for w in ("oclock", "oh", "past", "minute", "morning", "afternoon", "evening")
    }
    return sorted(ids)
