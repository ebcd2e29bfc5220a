"""The public credit query API (公示查询): profile by any code, search, the public lists.

Thin routes over the publicity index reader; what is checked here is the request itself
(which code, how long a query, which list), so every refusal names what was wrong. The
reader is passed in (`public_router(reader)`), so tests and `creditsync run` build the same
routes over a real Redis.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, HTTPException, Path, Query

from schemas.categories import CATEGORY_SPECS, ITEM_AND_CHANGE_CATEGORIES
from schemas.identifiers import KIND_NAMES, InvalidCode, identify_code
from sinks.errors import SearchQueryInvalid
from sinks.publicity.paging import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    PageOutOfRange,
    page_request,
)

# The lists a profile's items are published on (DOMAIN.md "Other lists named in the seeds").
PUBLIC_LISTS: dict[str, str] = {
    "restriction": "严重违法失信名单（黑名单）",
    "abnormal_operation": "经营异常名录",
    "red_list": "守信红名单",
    "tax_credit_rating": "纳税信用A级纳税人名单",
}
MIN_QUERY_CHARS = 2
MAX_QUERY_CHARS = 100
MAX_SEARCH_RESULTS = 50
_PAGE_HELP = f"页码，从 1 开始（至多 {MAX_PAGE:,}；超出末页为 400）"
_SIZE_HELP = f"每页条数，1 至 {MAX_PAGE_SIZE}"


class PublicityReaderLike(Protocol):
    """What the routes need of sinks.publicity's `PublicityReader`."""

    def profile(
        self,
        code: str,
        *,
        category: str | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> dict[str, Any] | None: ...

    def search(self, q: str, limit: int = 20) -> list[dict[str, Any]]: ...

    def list_page(
        self, list_name: str, region: str | None = None, page: int = 1, size: int = 20
    ) -> dict[str, Any]: ...

    def index_stats(self) -> dict[str, Any]: ...


def api_error(status: int, error: str, message: str, **extra: Any) -> HTTPException:
    """An HTTPException whose body is `{"error": …, "message": …, …}` (see creditsync.http)."""
    return HTTPException(status, detail={"error": error, "message": message, **extra})


def parse_entity_code(raw: str) -> tuple[str, str]:
    """(kind, normalised code) of a code typed by a user, or a 400 naming what is wrong."""
    try:
        return identify_code(raw)
    except InvalidCode as exc:
        # str(exc) masks the value when it is a resident ID (personal data).
        raise api_error(
            400,
            "invalid_code",
            str(exc),
            kind=exc.kind,
            reason=exc.reason,
            expected="统一社会信用代码 (18), 注册号 (15 digits) or 组织机构代码 (9)",
        ) from None


def check_search_query(q: str) -> str:
    """The query stripped, or a 400 when it is too short or too long to search by."""
    text = q.strip()
    if len(text) < MIN_QUERY_CHARS:
        raise api_error(
            400,
            "query_too_short",
            f"q: a search needs at least {MIN_QUERY_CHARS} characters of a name or code, "
            f"got {len(text)} ({text!r})",
        )
    if len(text) > MAX_QUERY_CHARS:
        raise api_error(
            400,
            "query_too_long",
            f"q: at most {MAX_QUERY_CHARS} characters, got {len(text)}",
        )
    return text


def check_list_name(name: str) -> str:
    """The list name, or a 404 listing the lists there are."""
    if name not in PUBLIC_LISTS:
        known = ", ".join(f"{key} ({label})" for key, label in PUBLIC_LISTS.items())
        raise api_error(404, "unknown_list", f"no list {name!r}; the public lists are {known}")
    return name


def page_error(exc: PageOutOfRange) -> HTTPException:
    """The 400 of a page number or size out of range, with the totals when known."""
    extra = {} if exc.pages is None else {"total": exc.total, "pages": exc.pages}
    return api_error(400, "page_out_of_range", str(exc), **extra)


def check_page(page: int, size: int, size_name: str) -> None:
    """A 400 (Chinese message) when page or size are outside their bounds."""
    try:
        page_request(page, size, size_name=size_name)
    except PageOutOfRange as exc:
        raise page_error(exc) from None


def check_category(category: str | None) -> str | None:
    """An item category of the profile, or a 400 listing them."""
    if category is None or category == "":
        return None
    if category not in ITEM_AND_CHANGE_CATEGORIES:
        known = ", ".join(f"{c} ({CATEGORY_SPECS[c].chinese})" for c in ITEM_AND_CHANGE_CATEGORIES)
        raise api_error(400, "unknown_category", f"没有类别 {category[:40]!r}；可选类别为 {known}")
    return category


def check_region(region: str | None) -> str | None:
    """A GB/T 2260 division code or prefix of 2, 4 or 6 digits, or a 400."""
    if region is None or region.strip() == "":
        return None
    code = region.strip()
    if not code.isdigit() or len(code) not in (2, 4, 6):
        raise api_error(
            400,
            "invalid_region",
            f"region {region!r}: expected a GB/T 2260 division code or its prefix "
            "(2, 4 or 6 digits: 64 宁夏, 6404 固原市, 640422 西吉县)",
        )
    return code


def public_router(reader: PublicityReaderLike) -> APIRouter:
    """The routes of the public query API over one publicity index reader."""
    router = APIRouter(tags=["public credit information 公示查询"])

    # Plain `def` routes: the Redis client is synchronous, FastAPI runs them in its pool.
    @router.get(
        "/v1/entities/{code}",
        summary="Public credit profile of one enterprise",
        responses={400: {"description": "malformed code"}, 404: {"description": "not known"}},
    )
    def entity(
        code: Annotated[
            str,
            Path(
                description="统一社会信用代码 (USCC), 15-digit 注册号 or 组织机构代码 "
                "(XXXXXXXX-X); spaces, hyphens and full-width characters are accepted"
            ),
        ],
        category: Annotated[
            str | None,
            Query(description="只看一个类别并分页：" + ", ".join(ITEM_AND_CHANGE_CATEGORIES)),
        ] = None,
        page: Annotated[int, Query(description=_PAGE_HELP + "；翻页需指定 category")] = 1,
        page_size: Annotated[int, Query(description=_SIZE_HELP)] = DEFAULT_PAGE_SIZE,
    ) -> dict[str, Any]:
        """Identity, item counts per category, and each category's newest `page_size` items;
        `category` + `page` page through one category (newest first)."""
        kind, normalised = parse_entity_code(code)
        section = check_category(category)
        check_page(page, page_size, "page_size")
        if section is None and page != 1:
            raise api_error(
                400,
                "category_required",
                "翻页时请同时指定类别 category（各类别分别翻页），例如 ?category=penalty&page=2",
            )
        try:
            profile = reader.profile(normalised, category=section, page=page, page_size=page_size)
        except PageOutOfRange as exc:
            raise page_error(exc) from None
        if profile is None:
            raise api_error(
                404,
                "not_found",
                f"no enterprise with {kind} ({KIND_NAMES[kind]}) {normalised} in the public "
                "credit index: the code is valid but no department has reported it yet",
                kind=kind,
                code=normalised,
            )
        return profile

    @router.get("/v1/search", summary="Search by any part of a current or former name, or code")
    def search(
        q: Annotated[str, Query(description="at least 2 characters of a name, or a code prefix")],
        limit: Annotated[int, Query(ge=1, le=MAX_SEARCH_RESULTS)] = 20,
    ) -> dict[str, Any]:
        text = check_search_query(q)
        try:
            results = reader.search(text, limit)
        except SearchQueryInvalid as exc:
            raise api_error(400, "invalid_query", f"q: {exc}") from None
        return {"query": text, "count": len(results), "results": results}

    @router.get(
        "/v1/lists/{list_name}",
        summary="A public list: restriction, abnormal_operation, red_list or tax_credit_rating "
        "(A-level taxpayers), paged",
    )
    def public_list(
        list_name: Annotated[str, Path(description=", ".join(PUBLIC_LISTS))],
        region: Annotated[
            str | None, Query(description="GB/T 2260 division code prefix: 64, 6404, 640422")
        ] = None,
        page: Annotated[int, Query(description=_PAGE_HELP)] = 1,
        size: Annotated[int, Query(description=_SIZE_HELP)] = DEFAULT_PAGE_SIZE,
    ) -> dict[str, Any]:
        name = check_list_name(list_name)
        prefix = check_region(region)
        check_page(page, size, "size")
        try:
            return reader.list_page(name, region=prefix, page=page, size=size)
        except PageOutOfRange as exc:
            raise page_error(exc) from None
        except ValueError as exc:
            raise api_error(400, "invalid_request", str(exc)) from None

    @router.get("/v1/categories", summary="Categories and their fields' Chinese template names")
    def categories() -> dict[str, Any]:
        # The public page labels fields from this, so it stays in step with the templates.
        return {
            spec.category: {
                "chinese": spec.chinese,
                "fields": {f.name: f.chinese for f in spec.fields},
            }
            for spec in CATEGORY_SPECS.values()
        }

    @router.get("/v1/stats", summary="Size of the public credit index")
    def stats() -> dict[str, Any]:
        return reader.index_stats()

    return router


__all__ = [
    "MAX_PAGE_SIZE",
    "MIN_QUERY_CHARS",
    "PUBLIC_LISTS",
    "PublicityReaderLike",
    "api_error",
    "check_category",
    "check_list_name",
    "check_page",
    "check_region",
    "check_search_query",
    "parse_entity_code",
    "public_router",
]
