"""Login, logout, flash messages and "log out everywhere" on Flask.

    python examples/flask_login_flash.py

Log in as ada / lovelace (or grace / hopper) from two browsers, then "Log out
everywhere" in one: the other is logged out on its next request.

* login calls ``session.regenerate()``: a new session id at every privilege
  change, so an id planted before login (session fixation) is worthless;
* logout calls ``session.clear()``: the stored session is deleted and the
  cookie expired; the "logged out" flash written afterwards goes into a new one;
* flash messages are Flask's own ``flash()`` / ``get_flashed_messages()``;
* "log out everywhere" revokes the user's other sessions through
  ``SessionManager(store).revoke_user(...)``, which finds them because the
  middleware records ``session["user_id"]`` as each session's user (``user_key``).
"""

from __future__ import annotations

import os
import secrets

from flask import Flask, flash, redirect, render_template_string, request
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response

from sessionware import MemoryStore, SessionManager
from sessionware.flask import Sessionware, session

USERS = {
    "ada": generate_password_hash("lovelace"),
    "grace": generate_password_hash("hopper"),
}

PAGE = """<!doctype html>
<title>sessionware login</title>
<h1>sessionware login</h1>
{% for category, message in get_flashed_messages(with_categories=true) %}
  <p class="{{ category }}">{{ message }}</p>
{% endfor %}
{% if user %}
  <p>Logged in as <b>{{ user }}</b> (session {{ session_id }}).</p>
  <form method="post" action="/logout"><button>Log out</button></form>
  <form method="post" action="/logout-everywhere"><button>Log out everywhere else</button></form>
{% else %}
  <form method="post" action="/login">
    <input name="username" placeholder="ada" autocomplete="username">
    <input name="password" type="password" placeholder="lovelace">
    <button>Log in</button>
  </form>
{% endif %}
"""

store = MemoryStore()
sessions = SessionManager(store)

app = Flask(__name__)
app.config["SESSIONWARE_SECRET_KEY"] = os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32)
Sessionware(
    app,
    store=store,
    user_key="user_id",  # what the management API lists and revokes sessions by
    # Cookies are Secure by default and browsers drop those on plain http (except on
    # localhost); this example serves plain http, so it turns that off. Keep it on in production.
    secure=False,
)


@app.get("/")
def home() -> str:
    return render_template_string(PAGE, user=session.get("user_id"), session_id=session.id)


@app.post("/login")
def login() -> Response:
    username, password = request.form.get("username", ""), request.form.get("password", "")
    if username not in USERS or not check_password_hash(USERS[username], password):
        flash("Unknown user or wrong password.", "error")
        return redirect("/", 303)
    session.regenerate()  # a new id at login defeats session fixation
    session["user_id"] = username
    flash(f"Welcome, {username}!", "success")
    return redirect("/", 303)


@app.post("/logout")
def logout() -> Response:
    session.clear()  # deletes the stored session, expires the cookie
    flash("You have been logged out.")  # ...stored in a brand-new session
    return redirect("/", 303)


@app.post("/logout-everywhere")
def logout_everywhere() -> Response:
    user = session.get("user_id")
    if user is None:
        flash("Log in first.", "error")
        return redirect("/", 303)
    count = sessions.revoke_user(user, actor=f"user:{user}", keep=session.id)
    flash(f"Logged out {count} other session{'s' * (count != 1)}.", "success")
    return redirect("/", 303)


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    print(f"sessionware login: http://localhost:{port}/", flush=True)
    app.run(host="127.0.0.1", port=port)
