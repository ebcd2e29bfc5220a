"""The public credit query API (公示查询): profile by any code, search, the public lists.

Thin routes over the publicity index reader; what is checked here is the request itself
(which code, how long a query, which list), so every refusal names what was wrong. The
reader is passed in (`public_router(reader)`), so tests and `creditsync run` build the same
routes over a real Redis.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, HTTPException, Path, Query

from schemas.categories import CATEGORY_SPECS
from schemas.identifiers import KIND_NAMES, InvalidCode, identify_code
from sinks.errors import SearchQueryInvalid

# The lists a profile's items are published on (DOMAIN.md "Other lists named in the seeds").
PUBLIC_LISTS: dict[str, str] = {
    "restriction": "严重违法失信名单（黑名单）",
    "abnormal_operation": "经营异常名录",
    "red_list": "守信红名单",
}
MIN_QUERY_CHARS = 2
MAX_QUERY_CHARS = 100
MAX_PAGE_SIZE = 100
MAX_SEARCH_RESULTS = 50


class PublicityReaderLike(Protocol):
    """What the routes need of sinks.publicity's `PublicityReader`."""

    def profile(self, code: str) -> dict[str, Any] | None: ...

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
    ) -> dict[str, Any]:
        kind, normalised = parse_entity_code(code)
        profile = reader.profile(normalised)
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
        summary="A public list: restriction, abnormal_operation or red_list, paged",
    )
    def public_list(
        list_name: Annotated[str, Path(description=", ".join(PUBLIC_LISTS))],
        region: Annotated[
            str | None, Query(description="GB/T 2260 division code prefix: 64, 6404, 640422")
        ] = None,
        page: Annotated[int, Query(ge=1)] = 1,
        size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    ) -> dict[str, Any]:
        name = check_list_name(list_name)
        prefix = check_region(region)
        try:
            return reader.list_page(name, region=prefix, page=page, size=size)
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
    "check_list_name",
    "check_region",
    "check_search_query",
    "parse_entity_code",
    "public_router",
]
