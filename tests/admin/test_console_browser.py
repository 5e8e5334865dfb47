"""The operator console in a real headless Chromium, over a real uvicorn server.

Sessions are made by real requests through ``SessionMiddleware``; the browser
then does what an operator does, and each test checks the outcome in the
store (through the manager) or in what a session's own cookie gets.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionware import MemoryStore, SessionManager

from .conftest import LAPTOP, PHONE, screenshot
from .site import CONSOLE, build

pytestmark = pytest.mark.browser

USERS = [f"user{n:02d}" for n in range(24)]


@dataclass
class Site:
    url: str
    store: MemoryStore
    manager: SessionManager
    clients: dict[str, httpx.Client]  # user → a client holding that user's cookie
    ids: dict[str, str]  # user → session id


def sign_in(url: str, user: str, prefix: str = "") -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url)
    assert client.post(f"{prefix}/login", data={"user": user}).status_code == 200
    return client, client.get(f"{prefix}/whoami").json()["id"]


@pytest.fixture
def site(serve: Any) -> Any:
    """24 shop users, 2 blog users, one anonymous visitor; one revoked, one expired."""
    store = MemoryStore()
    app, _ = build(store)
    server = serve(app)
    clients, ids = {}, {}
    for user in USERS:
        clients[user], ids[user] = sign_in(server.url, user)
    for user in ("blogger", "reader"):
        clients[user], ids[user] = sign_in(server.url, user, "/blog")
    anonymous = httpx.Client(base_url=server.url)
    anonymous.post("/visit")
    manager = SessionManager(store)
    manager.revoke(ids["user03"], actor="setup")
    manager.set_ttl(ids["user04"], 0.5)
    time.sleep(1)  # user04's session expires
    yield Site(server.url, store, manager, clients, ids)
    for client in [*clients.values(), anonymous]:
        client.close()


def console(new_page: Any, site: Site, operator: str = "admin:ada", **kw: Any) -> Any:
    """A browser page signed in to the console as ``operator`` (``role:name``)."""
    return new_page(site.url, operator, **kw)


def rows(page: Any) -> list[dict[str, str]]:
    """The table's rows as {column label: text}, once the page has loaded: a click that
    navigates returns when the new page starts loading, and a busy machine may not have
    parsed its table yet."""
    page.wait_for_load_state()
    found = []
    for row in page.locator("table.sessions tbody tr[data-id]").all():
        cells = row.locator("td[data-label]").all()
        found.append({c.get_attribute("data-label"): c.inner_text().strip() for c in cells})
        found[-1]["id"] = row.get_attribute("data-id")
    return found


def test_search_filters_sort_and_paging_live_in_the_url(new_page: Any, site: Site) -> None:
    page = console(new_page, site)
    page.goto(f"{CONSOLE}/")
    assert page.locator(".count").inner_text().startswith("27 sessions")
    assert len(rows(page)) == 25  # the default page size

    page.get_by_label("Search").fill("user1")
    page.get_by_role("button", name="Apply").click()
    found = rows(page)
    assert sorted(r["User email"] for r in found) == [f"user1{n}@example.com" for n in range(10)]
    assert "q=user1" in page.url

    page.goto(f"{CONSOLE}/")
    page.get_by_label("Status").select_option("revoked")
    page.get_by_role("button", name="Apply").click()
    assert [r["id"] for r in rows(page)] == [site.ids["user03"]]
    page.get_by_label("Status").select_option("expired")
    page.get_by_role("button", name="Apply").click()
    assert [r["id"] for r in rows(page)] == [site.ids["user04"]]
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Apply").click()
    assert {r["Status"] for r in rows(page)} == {"active"}
    assert page.locator(".count").inner_text().startswith("25 sessions")

    page.goto(f"{CONSOLE}/")
    page.get_by_label("App").fill("blog")
    page.get_by_role("button", name="Apply").click()
    assert sorted(r["User email"] for r in rows(page)) == [
        "blogger@example.com",
        "reader@example.com",
    ]
    assert {r["App"] for r in rows(page)} == {"blog"}

    page.goto(f"{CONSOLE}/?q=example.com&size=10")
    page.get_by_role("link", name="User email").click()
    ascending = [r["User email"] for r in rows(page)]
    assert ascending == sorted(ascending) and ascending[0] == "blogger@example.com"
    assert page.locator("th[aria-sort=ascending]").text_content().startswith("User email")
    page.get_by_role("link", name="User email").click()  # again: reversed
    descending = [r["User email"] for r in rows(page)]
    assert descending == sorted(descending, reverse=True) and descending[0] == "user23@example.com"

    assert page.locator(".count").inner_text() == "26 sessions · page 1 of 3"
    page.get_by_role("link", name="Next").click()
    assert "page=2" in page.url
    second = [r["User email"] for r in rows(page)]
    assert second == sorted(second, reverse=True) and second[0] < descending[-1]
    page.get_by_role("link", name="Last", exact=True).click()
    assert len(rows(page)) == 6
    bookmarked = page.url
    other = console(new_page, site)  # a shared link shows the same view
    other.goto(bookmarked)
    assert [r["id"] for r in rows(other)] == [r["id"] for r in rows(page)]
    page.get_by_label("Sort by").select_option("created")  # the same without the headers
    page.get_by_label("Order").select_option("asc")
    page.get_by_role("button", name="Apply").click()
    assert "sort=created" in page.url and "order=asc" in page.url and "page=" not in page.url
    created = [r["Created"] for r in rows(page)]
    assert created == sorted(created)
    page.get_by_label("Per page").select_option("50")
    page.get_by_role("button", name="Apply").click()
    assert len(rows(page)) == 26


def open_detail(page: Any, site: Site, user: str) -> Any:
    page.goto(f"{CONSOLE}/?q={user}@")
    row = page.locator(f"tr[data-id='{site.ids[user]}']")
    row.get_by_role("link", name=re.compile(r"View \(\d+\)")).click()
    dialog = page.locator("dialog#detail-dialog")
    dialog.get_by_role("heading", name=re.compile("Session")).wait_for()
    return dialog


def test_detail_reveal_is_audited_and_payloads_stay_out_of_the_html(
    new_page: Any, site: Site
) -> None:
    page = console(new_page, site)
    page.goto(f"{CONSOLE}/?q=user07@")
    button = page.get_by_role("link", name=re.compile(r"View \(\d+\)"))
    assert button.inner_text() == "View (6)"  # user_id, email, cart, since, ref, blob
    dialog = open_detail(page, site, "user07")
    facts = dialog.locator("#detail-facts").inner_text()
    for expected in (
        "user07@example.com",
        "shop",
        "active",
        "Revoked by",
        "Last activity",
        "Created on",
        "Python on unknown OS · 127.0.0.1",
    ):
        assert expected in facts
    assert "4.50" not in page.content()  # the payload is not in the page before reveal

    dialog.get_by_label("Reason for viewing (logged, optional)").fill("ticket 42")
    dialog.get_by_role("button", name="View session content").click()
    payload = dialog.locator("#payload")
    payload.wait_for()
    revealed = json.loads(payload.inner_text())
    assert revealed["cart"] == {"sku": "tea", "price": "4.50", "qty": 2}
    assert revealed["since"] == "2026-01-02T03:04:05+00:00"
    assert revealed["blob"] == "AAFoaQ=="
    types = dialog.locator(".types").inner_text()
    assert "since datetime" in types and "blob bytes (4)" in types
    screenshot(page, "console-detail", full_page=False)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    dialog.get_by_role("button", name="Copy").click()
    dialog.get_by_role("button", name="Copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "Email: user07@example.com" in copied and '"price": "4.50"' in copied

    (entry,) = site.manager.audit_log(action="reveal")
    assert (entry.actor, entry.session_id, entry.reason) == ("ada", site.ids["user07"], "ticket 42")
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").select_option("reveal")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"action=reveal"))  # the filtered page, loaded
    page.wait_for_load_state()
    audit_rows = page.locator("table.audit tbody tr").all_inner_texts()
    assert len(audit_rows) == 1 and "ada" in audit_rows[0] and "ticket 42" in audit_rows[0]
    page.get_by_label("Who").fill("somebody-else")
    page.get_by_role("button", name="Apply").click()
    assert "No audit entries match." in page.locator("table.audit").inner_text()


def test_ttl_and_revoke_act_at_once(new_page: Any, site: Site) -> None:
    page = console(new_page, site)
    dialog = open_detail(page, site, "user08")
    dialog.get_by_label("New TTL (minutes)").fill("90")
    dialog.get_by_role("button", name="Update payload TTL").click()
    dialog.get_by_text("Payload TTL updated: expires in 90 min.").wait_for()
    info = site.manager.get(site.ids["user08"])
    assert info is not None and info.expires_at is not None
    assert abs(info.expires_at.timestamp() - (time.time() + 5400)) < 60
    dialog.get_by_label("Unlimited").check()
    dialog.get_by_role("button", name="Update payload TTL").click()
    dialog.get_by_text("Payload TTL updated: unlimited.").wait_for()
    assert dialog.locator("#detail-facts dd").nth(6).inner_text() == "never (no expiry)"
    info = site.manager.get(site.ids["user08"])
    assert info is not None and info.expires_at is None

    assert site.clients["user09"].get("/whoami").json()["keys"]  # signed in
    with page.expect_navigation():
        page.keyboard.press("Escape")  # closing after a change reloads the table
    dialog = open_detail(page, site, "user09")
    dialog.get_by_role("button", name="Revoke", exact=True).click()
    confirm = dialog.get_by_role("alertdialog", name="Confirm revoke")
    confirm.wait_for()
    assert site.manager.get(site.ids["user09"]).status == "active"  # type: ignore[union-attr]
    confirm.get_by_role("button", name="Yes, revoke").click()
    dialog.get_by_text("Session revoked.").wait_for()
    assert site.clients["user09"].get("/whoami").json() == {"id": None, "keys": []}
    actions = [(e.action, e.actor, e.session_id) for e in site.manager.audit_log()]
    assert actions[:2] == [
        ("revoke", "ada", site.ids["user09"]),
        ("ttl", "ada", site.ids["user08"]),
    ]
    with page.expect_navigation():
        page.keyboard.press("Escape")
    row = page.locator(f"tr[data-id='{site.ids['user09']}']")
    assert row.locator(".badge").inner_text() == "revoked"


def test_every_session_of_a_user_ends_from_one_of_them(new_page: Any, site: Site) -> None:
    """user11 signed in twice: from one session's dialog, both end at once."""
    phone, phone_id = sign_in(site.url, "user11")
    page = console(new_page, site)
    dialog = open_detail(page, site, "user11")
    dialog.get_by_role("button", name="Revoke all of this user's sessions").click()
    confirm = dialog.get_by_role("alertdialog", name="Confirm revoking every session of this user")
    confirm.wait_for()
    assert "user11" in confirm.inner_text() and "this one included" in confirm.inner_text()
    confirm.get_by_label("Reason for revoking (logged, optional)").fill("lost phone")
    confirm.get_by_role("button", name="Yes, revoke them all").scroll_into_view_if_needed()
    screenshot(page, "console-revoke-user", full_page=False)
    assert site.manager.get(phone_id).status == "active"  # type: ignore[union-attr]
    confirm.get_by_role("button", name="Yes, revoke them all").click()
    dialog.get_by_text("Revoked 2 sessions: every active one of this user.").wait_for()
    for client in (site.clients["user11"], phone):
        assert client.get("/whoami").json() == {"id": None, "keys": []}
    assert site.clients["user12"].get("/whoami").json()["keys"]  # another user's stays
    entries = [(e.session_id, e.reason) for e in site.manager.audit_log(actor="ada")]
    why = "every live session of its user: lost phone"
    assert sorted(entries) == sorted([(site.ids["user11"], why), (phone_id, why)])
    phone.close()


def test_a_revoke_on_a_detail_opened_as_a_page_leaves_back_harmless(
    new_page: Any, site: Site
) -> None:
    """On a full page the question is a page of its own (a GET) and the revoke ends in a
    redirect: Back returns to the question, with no "Confirm Form Resubmission"."""
    page = console(new_page, site)
    page.goto(f"{CONSOLE}/session?id={site.ids['user10']}")
    page.get_by_role("button", name="Revoke", exact=True).click()
    confirm = page.get_by_role("alertdialog", name="Confirm revoke")
    confirm.wait_for()
    assert "/revoke?id=" in page.url
    with page.expect_navigation():
        confirm.get_by_role("button", name="Yes, revoke").click()
    page.get_by_text("Session revoked.").wait_for()
    assert site.manager.get(site.ids["user10"]).status == "revoked"  # type: ignore[union-attr]
    audited = [e for e in site.manager.audit_log() if e.session_id == site.ids["user10"]]
    page.go_back()
    page.get_by_role("heading", name=re.compile("Session")).wait_for()
    assert "/revoke?id=" in page.url
    assert page.get_by_role("alertdialog", name="Confirm revoke").count() == 0  # not active
    again = [e for e in site.manager.audit_log() if e.session_id == site.ids["user10"]]
    assert again == audited  # nothing sent again


def test_on_a_phone_the_detail_dialog_opens_at_its_top(new_page: Any, site: Site) -> None:
    """Its first field (the reveal's reason) takes the focus; scrolled to, it left the
    dialog's title and Close button out of sight on a 390 px phone."""
    phone = console(new_page, site, viewport=PHONE)
    dialog = open_detail(phone, site, "user11")
    assert dialog.evaluate("d => d.scrollTop") == 0
    assert dialog.get_by_role("heading", name=re.compile("Session")).is_visible()
    assert dialog.evaluate("d => d.contains(document.activeElement)")  # (focus is inside)


def assert_question_in_hand(where: Any) -> None:
    """A revoke question in ``where`` holds the focus on its safe answer (Cancel, or the
    reason box of a revoke-all: Enter there answers no other form), its answer in a
    phone's view."""
    confirm = where.locator("form.confirm")
    confirm.wait_for()
    focused = confirm.evaluate(
        "f => f.contains(document.activeElement) && (document.activeElement.name || "
        "document.activeElement.textContent.trim())"
    )
    assert focused in ("Cancel", "reason"), focused
    box = confirm.get_by_role("button", name=re.compile("^Yes, revoke")).bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]


@pytest.mark.parametrize("question", ["Revoke", "Revoke all of this user's sessions"])
def test_a_revoke_question_takes_the_focus_and_is_in_view_on_a_phone(
    new_page: Any, site: Site, question: str
) -> None:
    """The focus went to the dialog's first field, the reveal's reason, and the dialog
    back to its top: a reason typed for a revoke-all and Enter revealed the user's data
    (audited as a reveal) and revoked nothing, and on a phone the question sat out of
    sight, as if the button had done nothing."""
    phone = console(new_page, site, viewport=PHONE)
    dialog = open_detail(phone, site, "user12")
    dialog.get_by_role("button", name=question, exact=True).click()
    assert_question_in_hand(dialog)
    if question != "Revoke":  # Enter in its reason box answers this question, no other
        phone.keyboard.type("compromised")
        phone.keyboard.press("Enter")
        dialog.get_by_text(re.compile(r"Revoked \d+ session")).wait_for()
        assert not site.manager.audit_log(action="reveal")


@pytest.mark.parametrize("question", ["revoke", "revoke-user"])
def test_a_revoke_question_opened_as_a_page_is_in_view_on_a_phone_without_scripts(
    new_page: Any, site: Site, question: str
) -> None:
    """Without JavaScript (or from a detail opened as a page) the question came as a
    page, its answer below the fold of a phone and the focus nowhere."""
    phone = console(new_page, site, viewport=PHONE, scripts=False)
    phone.goto(f"{CONSOLE}/{question}?id={site.ids['user13']}")
    assert_question_in_hand(phone)


def test_the_dialog_sends_a_form_once_and_says_why_one_was_refused(
    new_page: Any, site: Site
) -> None:
    page = console(new_page, site)
    dialog = open_detail(page, site, "user10")
    dialog.get_by_label("Reason for viewing (logged, optional)").fill("ticket 7")
    dialog.get_by_role("button", name="View session content").dblclick()
    dialog.locator("#payload").wait_for()
    page.wait_for_timeout(300)  # (time for a second request, were one sent)
    reveals = [e.reason for e in site.manager.audit_log(action="reveal")]
    assert reveals == ["ticket 7"]  # one reveal, one audit entry

    # a form the server refuses as filled in (422): the form again, with why
    dialog.get_by_role("button", name="Update payload TTL").click()  # no TTL given
    refused = "Give a TTL from 1 minute to a year, in whole minutes, or unlimited."
    dialog.get_by_text(refused).wait_for()
    assert dialog.get_by_label("New TTL (minutes)").is_visible()

    # a form gone stale (a page left open for a day): the server's own sentence
    stale = dialog.locator("form[action$='/ttl'] input[name=csrf_token]")
    stale.evaluate("input => { input.value = '123.stale'; }")
    dialog.get_by_label("New TTL (minutes)").fill("30")
    dialog.get_by_role("button", name="Update payload TTL").click()
    dialog.get_by_text(re.compile(r"CSRF check failed: this form has expired")).wait_for()
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="hidden")
    assert site.manager.audit_log(action="ttl") == []

    # a session that went while its row was on screen: the page's words, not the page
    row = page.locator(f"tr[data-id='{site.ids['user11']}']")
    page.goto(f"{CONSOLE}/?q=user11@")
    site.store.delete(site.ids["user11"])  # (what a logout does to the record)
    row.get_by_role("link", name=re.compile(r"View \(\d+\)")).click()
    dialog.get_by_text("This session is gone (logged out, or past retention).").wait_for()
    assert dialog.locator("header, nav").count() == 0  # no page inside the dialog
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="hidden")


def test_both_exports_download_exactly_the_current_page(new_page: Any, site: Site) -> None:
    page = console(new_page, site)
    page.goto(f"{CONSOLE}/?sort=email&order=asc&size=10&page=1")
    shown = rows(page)
    assert len(shown) == 10 and any(r["Status"] != "active" for r in shown)
    page.locator("summary", has_text="Export").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="Data only").click()
    data_only = json.loads(Path(info.value.path()).read_text())
    active = [r for r in shown if r["Status"] == "active"]
    assert [item["userEmail"] for item in data_only["items"]] == [r["User email"] for r in active]
    assert {frozenset(item) for item in data_only["items"]} == {
        frozenset({"appId", "userEmail", "payload"})
    }
    first = next(item for item in data_only["items"] if item["userEmail"].startswith("user"))
    assert first["payload"]["cart"]["price"] == "4.50"
    assert info.value.suggested_filename.startswith("sessions-data-p1-")

    page.locator("summary", has_text="Export").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="Include metadata").click()
    full = json.loads(Path(info.value.path()).read_text())
    assert [item["id"] for item in full["items"]] == [r["id"] for r in shown]
    assert {item["status"] for item in full["items"]} >= {"revoked", "active"}
    assert (full["page"], full["pageSize"], full["totalItems"]) == (0, 10, 27)

    exports = site.manager.audit_log(action="export")
    written = len(data_only["items"])
    assert written < 10  # the page has revoked rows, which a data-only export leaves out
    assert [(e.actor, e.reason) for e in exports] == [
        ("ada", "10 sessions (page 1, 10 per page)"),
        ("ada", f"{written} sessions (page 1, 10 per page)"),  # what it wrote, not the page
    ]  # one entry per export, not one per session


def test_analytics_draws_every_chart(new_page: Any, site: Site) -> None:
    page = console(new_page, site)
    page.goto(f"{CONSOLE}/analytics")
    for key in ("active", "new", "sizes", "apps", "statuses"):
        chart = page.locator(f"#chart-{key} svg[role=img]")
        assert chart.is_visible()
        assert chart.locator("rect, polyline").count() > 0
    assert page.locator("#concurrent-now").inner_text() == "25"
    assert int(page.locator("#concurrent-peak").inner_text()) >= 25
    statuses = page.locator("#chart-statuses svg").get_attribute("aria-label")
    assert statuses == "Sessions per status: active: 25, expired: 1, revoked: 1"
    assert page.locator("#chart-sizes .limit").count() == 1  # the max_payload_bytes line
    screenshot(page, "console-analytics")


def test_a_viewer_sees_metadata_but_is_refused_admin_actions(new_page: Any, site: Site) -> None:
    page = console(new_page, site, "viewer:vic")
    page.goto(f"{CONSOLE}/")
    assert page.locator(".role").inner_text() == "viewer"
    assert page.get_by_text("Export").count() == 0
    dialog = open_detail(page, site, "user10")
    assert "user10@example.com" in dialog.inner_text()
    for name in (
        "View session content",
        "Revoke",
        "Revoke all of this user's sessions",
        "Update payload TTL",
    ):
        assert dialog.get_by_role("button", name=name).count() == 0
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert token  # the viewer's own valid token does not make these allowed
    for path, extra in (
        ("/reveal", {}),
        ("/revoke", {"confirm": "yes"}),
        ("/revoke-user", {"confirm": "yes"}),
        ("/ttl", {}),
        ("/export", {"include_metadata": "1"}),
    ):
        response = page.request.post(
            f"{CONSOLE}{path}",
            form={"id": site.ids["user10"], "csrf_token": token, "ttl_minutes": "5", **extra},
        )
        assert response.status == 403, path
    assert site.manager.get(site.ids["user10"]).status == "active"  # type: ignore[union-attr]
    assert site.manager.audit_log(actor="vic") == []


def test_posts_without_a_valid_token_or_from_another_site_are_refused(
    new_page: Any, site: Site
) -> None:
    victim = site.ids["user11"]
    page = console(new_page, site)
    page.goto(f"{CONSOLE}/")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    attempts = [
        {"id": victim, "confirm": "yes"},  # no token
        {"id": victim, "confirm": "yes", "csrf_token": "123.forged"},
        {"id": victim, "confirm": "yes", "csrf_token": token + "x"},
    ]
    for form in attempts:
        assert page.request.post(f"{CONSOLE}/revoke", form=form).status == 403
    # a valid token from another operator's page
    other = console(new_page, site, "admin:bob")
    other.goto(f"{CONSOLE}/")
    bobs = other.locator("input[name=csrf_token]").first.get_attribute("value")
    assert (
        page.request.post(
            f"{CONSOLE}/revoke", form={"id": victim, "confirm": "yes", "csrf_token": bobs}
        ).status
        == 403
    )
    # the right token, but the request comes from another site
    cross = page.request.post(
        f"{CONSOLE}/revoke",
        form={"id": victim, "confirm": "yes", "csrf_token": token},
        headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status == 403
    assert site.manager.get(victim).status == "active"  # type: ignore[union-attr]
    ok = page.request.post(
        f"{CONSOLE}/revoke", form={"id": victim, "confirm": "yes", "csrf_token": token}
    )
    assert ok.status == 200 and site.manager.get(victim).status == "revoked"  # type: ignore[union-attr]


def test_pages_are_strict_and_nobody_gets_in_without_authorize(new_page: Any, site: Site) -> None:
    page = new_page(site.url)  # no operator cookie
    response = page.goto(f"{CONSOLE}/")
    assert response.status == 403
    assert "user01" not in page.content()
    page = console(new_page, site)
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )
    response = page.goto(f"{CONSOLE}/")
    headers = response.headers
    assert headers["cache-control"] == "no-store"
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    open_detail(page, site, "user12")
    assert errors == []  # no CSP violation, no script error
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"


def test_a_very_long_email_wraps_and_keeps_view_on_screen(new_page: Any, serve: Any) -> None:
    """A ~300-character email with no break point made the table ~2,500 px wide on a
    1280 px laptop, pushing View (and Status, Last activity) off-screen."""
    store = MemoryStore()
    app, _ = build(store)
    server = serve(app)
    email = "operations." + "x" * 280 + "@example.com"
    for form in ({"user": "longmail", "email": email}, {"user": "short"}):
        with httpx.Client(base_url=server.url) as client:
            assert client.post("/login", data=form).status_code == 200
    page = console(new_page, Site(server.url, store, SessionManager(store), {}, {}))
    page.goto(f"{CONSOLE}/?q=longmail")
    page.wait_for_load_state()
    row = page.locator("table.sessions tbody tr[data-id]")
    assert row.count() == 1 and email in row.inner_text()
    screenshot(page, "console-long-email")
    width = LAPTOP["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    table_wrap = page.locator(".table-wrap").evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert table_wrap[0] <= table_wrap[1], "the table scrolls sideways"
    view = row.get_by_role("link", name=re.compile(r"^View")).bounding_box()
    assert view is not None and view["x"] >= 0 and view["x"] + view["width"] <= width
    status = row.locator('td[data-label="Status"]').bounding_box()
    assert status is not None and status["x"] + status["width"] <= width


def test_screenshots_on_a_laptop_and_a_phone(new_page: Any, site: Site) -> None:
    page = console(new_page, site)
    page.goto(f"{CONSOLE}/?size=10")
    screenshot(page, "console-sessions")
    assert page.locator("nav a[aria-current=page]").inner_text() == "Sessions"
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    for path, form in (
        ("/reveal", {"id": site.ids["user05"], "reason": "ticket 812: cart looks wrong"}),
        ("/ttl", {"id": site.ids["user05"], "ttl_minutes": "120"}),
        ("/export", {"include_metadata": "1", "size": "10", "reason": "weekly review"}),
        ("/revoke", {"id": site.ids["user06"], "confirm": "yes"}),
    ):
        assert page.request.post(f"{CONSOLE}{path}", form={"csrf_token": token, **form}).ok
    # what "my sessions" writes when user07 ends a device: an end user's own entry
    assert site.manager.revoke(site.ids["user07"], actor="user:user07")
    page.get_by_role("link", name="Audit log").click()
    assert page.locator("table.audit .who-end-user").count() == 1
    assert page.locator("nav a[aria-current=page]").inner_text() == "Audit log"
    screenshot(page, "console-audit")
    phone = console(new_page, site, viewport=PHONE)
    phone.goto(f"{CONSOLE}/?size=10")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # no sideways scrolling on a phone
    screenshot(phone, "console-sessions-phone", full_page=False)
