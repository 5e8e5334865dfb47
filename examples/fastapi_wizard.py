"""A multi-step checkout wizard whose progress lives in the session (FastAPI).

    python examples/fastapi_wizard.py

Then open http://localhost:8000/docs, or with curl (``-b``/``-c`` keep the cookie)::

    curl -b jar -c jar localhost:8000/wizard
    curl -b jar -c jar -X POST localhost:8000/wizard/shipping \\
         -H 'content-type: application/json' -d '{"name": "Ada", "address": "1 Main St"}'
    curl -b jar -c jar -X POST localhost:8000/wizard/back
    curl -b jar -c jar -X POST localhost:8000/wizard/confirm

The session holds ``{"step": ..., "answers": {...}}``; answering a step moves
on, ``back`` returns to the previous one (answers kept, so the form can be
pre-filled), and confirming places the order and clears the wizard.
``autoload=False``: only handlers that declare ``SessionDep`` load the session.
"""

from __future__ import annotations

import os
import secrets
import uuid
from typing import Any, Literal

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from sessionware import Session, SessionMiddleware
from sessionware.fastapi import SessionDep


class Shipping(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    address: str = Field(min_length=1, max_length=300)


class Delivery(BaseModel):
    method: Literal["standard", "express"]


class Payment(BaseModel):
    card_last4: str = Field(pattern=r"^\d{4}$")


STEPS = ("shipping", "delivery", "payment", "review")
WIZARD = "wizard"

app = FastAPI(title="sessionware checkout wizard")
app.add_middleware(
    SessionMiddleware,
    secret_key=os.environ.get("SESSION_SECRET") or secrets.token_urlsafe(32),
    autoload=False,  # SessionDep loads it for the handlers that need it
    # Cookies are Secure by default and browsers drop those on plain http (except on
    # localhost); this example serves plain http, so it turns that off. Keep it on in production.
    secure=False,
)


def wizard_of(session: Session) -> dict[str, Any]:
    return session.setdefault(WIZARD, {"step": 0, "answers": {}})  # type: ignore[no-any-return]


def state(session: Session) -> dict[str, Any]:
    wizard = session.get(WIZARD, {"step": 0, "answers": {}})
    return {"step": STEPS[wizard["step"]], "steps": STEPS, "answers": wizard["answers"]}


def answer(session: Session, step: str, model: BaseModel) -> dict[str, Any]:
    """Record ``step``'s answers if it is the current step, or an earlier one being edited."""
    wizard = wizard_of(session)
    if STEPS.index(step) > wizard["step"]:
        raise HTTPException(409, f"answer {STEPS[wizard['step']]!r} first")
    wizard["answers"][step] = model.model_dump()
    wizard["step"] = STEPS.index(step) + 1
    return state(session)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}  # no SessionDep: no store round trip


@app.get("/wizard")
async def show(session: SessionDep) -> dict[str, Any]:
    return state(session)


@app.post("/wizard/shipping")
async def shipping(body: Shipping, session: SessionDep) -> dict[str, Any]:
    return answer(session, "shipping", body)


@app.post("/wizard/delivery")
async def delivery(body: Delivery, session: SessionDep) -> dict[str, Any]:
    return answer(session, "delivery", body)


@app.post("/wizard/payment")
async def payment(body: Payment, session: SessionDep) -> dict[str, Any]:
    return answer(session, "payment", body)


@app.post("/wizard/back")
async def back(session: SessionDep) -> dict[str, Any]:
    wizard = wizard_of(session)
    wizard["step"] = max(0, wizard["step"] - 1)
    return state(session)


@app.post("/wizard/confirm", status_code=201)
async def confirm(session: SessionDep) -> dict[str, Any]:
    wizard = session.get(WIZARD)
    if wizard is None or STEPS[wizard["step"]] != "review":
        raise HTTPException(409, "the wizard is not finished yet")
    del session[WIZARD]  # completed: the next visit starts afresh
    return {"order": uuid.uuid4().hex[:12], **wizard["answers"]}


if __name__ == "__main__":
    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    print(f"sessionware wizard: http://localhost:{port}/docs", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
