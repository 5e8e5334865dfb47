"""The README's "Session tokens" worked example, as written, driven like a mobile app:
sign in, call the API with Bearer, write, refresh, and have a reused refresh token
revoke the session. Its Redis store is swapped for the test's own key prefix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from .conftest import REDIS_URL, redis_or_skip

README = Path(__file__).resolve().parents[1] / "README.md"
STORE_LINE = 'store = RedisStore.from_url("redis://127.0.0.1:6379/0")'


def example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "bearer=True" in b and '@app.post("/refresh")' in b]
    assert STORE_LINE in block
    return block


def test_the_mobile_app_example(redis_prefix: str) -> None:
    redis_or_skip()
    code = example().replace(
        STORE_LINE, f"store = RedisStore.from_url({REDIS_URL!r}, prefix={redis_prefix!r})"
    )
    namespace: dict[str, Any] = {"__name__": "readme_tokens"}
    exec(compile(code, "README.md", "exec"), namespace)
    responses = []
    with TestClient(namespace["app"], base_url="https://testserver") as app:

        def call(method: str, path: str, token: str | None = None, **kw: Any) -> Any:
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            response = app.request(method, path, headers=headers, **kw)
            responses.append(response)
            return response

        assert call("POST", "/login", json={"email": "a@x.io", "password": "no"}).status_code == 401
        signed_in = call("POST", "/login", json={"email": "a@x.io", "password": "correct horse"})
        first = signed_in.json()
        assert set(first) == {"access_token", "refresh_token", "expires_at"}
        assert call("GET", "/me").status_code == 401
        me = call("GET", "/me", first["access_token"])
        assert me.json() == {"userId": "user_123", "email": "a@x.io"}
        assert call("POST", "/me/role/owner", first["access_token"]).json() == {"role": "owner"}
        assert call("POST", "/me/role/owner").status_code == 401  # no token: no session made

        second = call("POST", "/refresh", json={"refresh_token": first["refresh_token"]}).json()
        assert call("GET", "/me", first["access_token"]).status_code == 401  # the old pair is dead
        assert call("GET", "/me", second["access_token"]).status_code == 200
        manager = namespace["manager"]
        assert manager.decrypt(second["access_token"])["role"] == "owner"
        assert [(u.user, u.sessions) for u in manager.users("user-session").items] == [
            ("user_123", 1)
        ]

        reused = call("POST", "/refresh", json={"refresh_token": first["refresh_token"]})
        assert reused.status_code == 401
        assert call("GET", "/me", second["access_token"]).status_code == 401  # revoked
    assert all("set-cookie" not in r.headers for r in responses)
    namespace["store"].close()
