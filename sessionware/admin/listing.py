"""The sessions table's state as it lives in the URL: search, filters, sort, page.

Whatever the query string holds, :meth:`Listing.from_query` gives a valid
listing (unknown values fall back to the defaults, a page number is kept
within what the manager accepts), so a hand-edited or stale bookmark never
breaks the page. A page past the last one is the console's to settle: it shows
the last page (see :meth:`Listing.within`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from ..management import MAX_PAGE, STATUSES
from ..stores.base import SORT_FIELDS

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_SIZE = 25
COLUMNS = (  # (sort field, header) in table order
    ("id", "ID"),
    ("email", "User email"),
    ("app", "App"),
    ("created", "Created"),
    ("expires", "Expires"),
    ("status", "Status"),
    ("last_activity", "Last activity"),
)

FILTER_CHARS = 200  # a search or app filter's length; the page's inputs stop there too


@dataclass(frozen=True, slots=True)
class Listing:
    """One view of the table; ``page`` is 1-based as the URL shows it."""

    q: str = ""
    status: str = ""
    app: str = ""
    sort: str = "last_activity"
    order: str = "desc"
    page: int = 1
    size: int = DEFAULT_SIZE

    @classmethod
    def from_query(cls, query: dict[str, str]) -> Listing:
        """The listing a query string asks for, defaults where it asks nonsense."""
        status = query.get("status", "")
        sort = query.get("sort", "last_activity")
        return cls(
            # (an id copied from the table's cell ends in "…": what precedes it is the search)
            q=query.get("q", "").strip().removesuffix("…").strip()[:FILTER_CHARS],
            status=status if status in STATUSES else "",
            app=query.get("app", "").strip()[:FILTER_CHARS],
            sort=sort if sort in SORT_FIELDS else "last_activity",
            order="asc" if query.get("order") == "asc" else "desc",
            page=min(max(1, _int(query.get("page"), 1)), MAX_PAGE + 1),
            size=_int(query.get("size"), DEFAULT_SIZE)
            if _int(query.get("size"), 0) in PAGE_SIZES
            else DEFAULT_SIZE,
        )

    def within(self, total_pages: int) -> Listing:
        """This listing, moved to the last of ``total_pages`` pages if it is past it."""
        return self if self.page <= max(total_pages, 1) else replace(self, page=total_pages or 1)

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for the manager's ``list`` and ``export``."""
        return {
            "search": self.q or None,
            "status": self.status or None,
            "app": self.app or None,
            "sort": self.sort,
            "descending": self.order == "desc",
            "page": self.page - 1,
            "page_size": self.size,
        }

    def params(self, **changes: Any) -> dict[str, str]:
        """The query parameters of this listing (changed), defaults left out."""
        changed = replace(self, **changes)
        default = Listing()
        return {
            name: str(getattr(changed, name))
            for name in ("q", "status", "app", "sort", "order", "page", "size")
            if getattr(changed, name) != getattr(default, name)
        }

    def url(self, root: str, **changes: Any) -> str:
        """The console URL of this listing with ``changes``."""
        query = urlencode(self.params(**changes))
        return f"{root}/" + (f"?{query}" if query else "")

    def sort_url(self, root: str, column: str) -> str:
        """Sort by ``column`` from page 1; the current column again reverses the order."""
        if column == self.sort:
            return self.url(root, order="asc" if self.order == "desc" else "desc", page=1)
        return self.url(root, sort=column, order="asc", page=1)

    def aria_sort(self, column: str) -> str:
        """The ``aria-sort`` value of ``column``'s header."""
        if column != self.sort:
            return "none"
        return "ascending" if self.order == "asc" else "descending"


def _int(text: str | None, default: int) -> int:
    try:
        return int(text or "")
    except ValueError:
        return default
