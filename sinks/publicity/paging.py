"""Page bounds of every public listing (profile sections, lists): checked before Redis is asked.

A page number is a user's input: it is bounded before it reaches arithmetic or a Redis
range (page=10**19 once became a 500), and a page past the end is a 400 that says how many
pages there are, rather than an empty page that reads like "no records".
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# 1,000,000 pages of up to 100 entries reach further than any list or section holds; the
# bound only keeps absurd numbers out of the range arithmetic.
MAX_PAGE = 1_000_000


class PageOutOfRange(ValueError):
    """A page number or page size outside what can be served; the message is for the public."""

    def __init__(self, message: str, *, total: int | None = None, pages: int | None = None):
        super().__init__(message)
        self.total = total
        self.pages = pages


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A checked page request: 1 ≤ page ≤ MAX_PAGE, 1 ≤ size ≤ MAX_PAGE_SIZE."""

    page: int
    size: int

    @property
    def start(self) -> int:
        return (self.page - 1) * self.size

    @property
    def stop(self) -> int:
        """One past the last index of the page (slice end)."""
        return self.start + self.size


def page_request(page: int, size: int, *, size_name: str = "page_size") -> PageRequest:
    """A PageRequest, or PageOutOfRange with a Chinese message naming the bound."""
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise PageOutOfRange(f"{size_name} 应为 1 至 {MAX_PAGE_SIZE} 之间的整数，收到 {size}")
    if not 1 <= page <= MAX_PAGE:
        shown = str(page) if len(str(page)) <= 20 else f"{str(page)[:20]}…"
        raise PageOutOfRange(f"page 应为 1 至 {MAX_PAGE:,} 之间的整数，收到 {shown}")
    return PageRequest(page, size)


def page_count(total: int, size: int) -> int:
    """Pages needed for `total` entries (0 for none)."""
    return -(-total // size)


def check_in_range(request: PageRequest, total: int, what: str) -> int:
    """The number of pages; PageOutOfRange when the page lies past the end.

    Page 1 is always valid, so an empty list or section is an empty page, not an error."""
    pages = page_count(total, request.size)
    if request.page > max(pages, 1):
        raise PageOutOfRange(
            f"第 {request.page} 页超出范围：{what}共 {total} 条，每页 {request.size} 条，"
            f"共 {pages} 页",
            total=total,
            pages=pages,
        )
    return pages


__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "PageOutOfRange",
    "PageRequest",
    "check_in_range",
    "page_count",
    "page_request",
]
