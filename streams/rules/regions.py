"""Administrative divisions (GB/T 2260) by code: the province, prefecture and county names."""

from __future__ import annotations

from functools import lru_cache

import gb2260

from schemas.records import Region

# GB/T 2260 fills the prefecture level of municipalities and of counties directly under a
# province with placeholder names; they name no place, so the public view shows none.
_PLACEHOLDER_NAMES = frozenset(
    {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划", "省直辖行政单位"}
)


@lru_cache(maxsize=8192)
def _division_name(code: str) -> str | None:
    # search() looks through every revision, newest first, so codes retired or created
    # between revisions still get their name.
    division = gb2260.search(code)
    if division is None or division.name in _PLACEHOLDER_NAMES:
        return None
    return division.name


_NO_NAMES: tuple[None, None, None] = (None, None, None)


# Only well-formed six-digit codes reach the cache: a key is 6 characters, so 8192 entries
# stay small whatever a department puts in the field (an arbitrary string once was a key).
@lru_cache(maxsize=8192)
def _names(code: str) -> tuple[str | None, str | None, str | None]:
    province = _division_name(code[:2] + "0000")
    prefecture = None if code[2:] == "0000" else _division_name(code[:4] + "00")
    county = None if code[4:] == "00" else _division_name(code)
    return province, prefecture, county


def region_of(division_code: str) -> Region:
    """The names of a six-digit division code; unknown codes or levels give None, never fail.

    Each level is looked up on its own, so a county created after the package's newest
    revision still gets its province and prefecture.
    """
    well_formed = len(division_code) == 6 and division_code.isascii() and division_code.isdigit()
    province, prefecture, county = _names(division_code) if well_formed else _NO_NAMES
    # A fresh dict each time: the cached tuple must not be changed through a caller's copy.
    return Region(code=division_code, province=province, prefecture=prefecture, county=county)
