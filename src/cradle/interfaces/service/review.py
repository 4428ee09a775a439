"""The clinicians' review page: sign in, adjudicate one post at a time, move on by keyboard.

Server-rendered with Jinja2; the page's script and style are served by this app (no CDN, works
offline). The label checkboxes follow the clinical rules twice: in the browser (a port of
:func:`cradle.labels.apply_clinical_rules` in ``static/review.js``, showing the rule that
fired) and on the server, which re-applies the rules to every submitted set and, when they
change it, shows the corrected set again instead of saving it silently.

Routes (all under ``/review``): ``GET /`` (go to the next undecided post), ``GET|POST /login``,
``POST /logout``, ``GET /queue``, ``GET|POST /items/{position}``, ``GET /done``.
"""

# No ``from __future__ import annotations``: FastAPI reads the form annotations at runtime.

import hmac
import json
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from cradle.interfaces.service.auth import Session, SessionSigner, new_csrf_token
from cradle.interfaces.service.errors import ServiceError
from cradle.interfaces.service.review_store import ReviewError, ReviewStore, StoredItem
from cradle.labels import POST_LABELS, CrisisType, PostLabel, TimeFrame, UnknownLabelError, apply_clinical_rules, post_label

__all__ = ["COOKIE_NAME", "LABEL_NAMES", "TYPE_NAMES", "TEMPLATES_DIR", "STATIC_DIR", "build_review_router", "templates"]

COOKIE_NAME = "cradle_review"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

#: Reviewer-facing names of the crisis types, in grid order.
TYPE_NAMES: dict[CrisisType, str] = {
    CrisisType.SUICIDE_IDEATION_ACTIVE: "Suicidal ideation, active",
    CrisisType.SUICIDE_IDEATION_PASSIVE: "Suicidal ideation, passive",
    CrisisType.SELF_HARM: "Self-harm",
    CrisisType.DOMESTIC_VIOLENCE: "Domestic violence",
    CrisisType.RAPE: "Rape",
    CrisisType.SEXUAL_HARASSMENT: "Sexual harassment",
    CrisisType.CHILD_ABUSE: "Child abuse / endangerment",
}
#: The clinical definitions, shown beside the grid.
TYPE_DEFINITIONS: dict[CrisisType, str] = {
    CrisisType.SUICIDE_IDEATION_ACTIVE: "Method, intent, plan or preparation (C-SSRS 4-5).",
    CrisisType.SUICIDE_IDEATION_PASSIVE: "A wish to be dead or to disappear, no plan (C-SSRS 1-3).",
    CrisisType.SELF_HARM: "Intentional non-suicidal self-injury, or urges to do it.",
    CrisisType.DOMESTIC_VIOLENCE: "Abuse between intimate partners: physical, emotional, financial, coercive control. Not parent-child.",
    CrisisType.RAPE: "Non-consensual sexual acts with penetration (force, coercion, drugs, unconsciousness).",
    CrisisType.SEXUAL_HARASSMENT: "Unwanted sexual comments, advances or touching without penetration.",
    CrisisType.CHILD_ABUSE: "Physical or sexual abuse or physical neglect of a minor by an adult. Not peers close in age, not verbal or emotional alone.",
}
_ONGOING_KEYS = "qwertyu"
_PAST_KEYS = "asdfghj"
_NO_CRISIS_KEY = "n"


def _label_names() -> dict[str, str]:
    names = {PostLabel.NO_CRISIS.value: "No crisis"}
    for t, name in TYPE_NAMES.items():
        for frame in TimeFrame:
            names[post_label(t, frame).value] = f"{name} ({frame.value})"
    return names


#: Canonical post label -> reviewer-facing name, e.g. ``"Self-harm (ongoing)"``.
LABEL_NAMES: dict[str, str] = _label_names()


def _grid() -> list[dict[str, Any]]:
    rows = []
    for i, (t, name) in enumerate(TYPE_NAMES.items()):
        rows.append(
            {
                "name": name,
                "definition": TYPE_DEFINITIONS[t],
                "ongoing": {"label": post_label(t, TimeFrame.ONGOING).value, "key": _ONGOING_KEYS[i]},
                "past": {"label": post_label(t, TimeFrame.PAST).value, "key": _PAST_KEYS[i]},
            }
        )
    return rows


def _severity_pairs() -> list[list[str]]:
    """``[severe, mild]`` crisis-type pairs, read off :func:`apply_clinical_rules` itself."""
    pairs = []
    for severe in CrisisType:
        for mild in CrisisType:
            hi, lo = post_label(severe, TimeFrame.ONGOING), post_label(mild, TimeFrame.ONGOING)
            fired = apply_clinical_rules([hi, lo]).fired if severe is not mild else ()
            if any(f.rule == "severity" and f.kept is hi and f.removed is lo for f in fired):
                pairs.append([severe.value, mild.value])
    return pairs


def _rules_data() -> dict[str, Any]:
    """What the browser's port of the clinical rules needs (taken from the Python rules)."""
    return {
        "labels": [x.value for x in POST_LABELS],
        "crisisTypes": [t.value for t in CrisisType],
        "severityPairs": _severity_pairs(),
        "noCrisis": PostLabel.NO_CRISIS.value,
        "names": LABEL_NAMES,
    }


#: The Jinja2 environment of the review pages (and of the service's HTML error page).
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.globals["label_name"] = lambda label: LABEL_NAMES.get(label, label)


def _snippet(text: str, limit: int = 90) -> str:
    """The start of a text on one line, cut at a word."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/review") and not target.startswith("//") and "\\" not in target:
        return target
    return "/review"


def build_review_router(store: ReviewStore, *, session_max_age_s: int = 12 * 3600) -> APIRouter:
    """The ``/review`` pages over one review store.

    Parameters
    ----------
    store : ReviewStore
    session_max_age_s : int, default=43200
        How long a sign-in lasts.

    Returns
    -------
    fastapi.APIRouter
        Routes excluded from the OpenAPI schema (they are pages, not API).
    """
    signer = SessionSigner(store.session_key(), max_age_s=session_max_age_s)
    router = APIRouter(prefix="/review", include_in_schema=False)
    grid = _grid()
    rules_json = json.dumps(_rules_data()).replace("</", "<\\/")

    def session_of(request: Request) -> tuple[Session, bool]:
        session = signer.load(request.cookies.get(COOKIE_NAME))
        if session is None:
            return Session(None, new_csrf_token(), int(time.time())), True
        return session, False

    def set_cookie(request: Request, response: Response, session: Session) -> Response:
        response.set_cookie(
            COOKIE_NAME,
            signer.dump(session),
            max_age=signer.max_age_s,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/review",
        )
        return response

    def page(request: Request, name: str, context: dict[str, Any], session: Session, new: bool, status: int = 200) -> Response:
        reviewer = session.user
        done_total = store.progress(reviewer) if reviewer else (0, store.count())
        ctx = {"reviewer": reviewer, "csrf": session.csrf, "progress": done_total, **context}
        response = templates.TemplateResponse(request, name, ctx, status_code=status)
        return set_cookie(request, response, session) if new else response

    def signed_in(request: Request) -> tuple[Session, bool, Response | None]:
        session, new = session_of(request)
        if session.user is None or not store.has_user(session.user):
            target = f"/review/login?next={quote(request.url.path)}"
            response = RedirectResponse(target, status_code=303)
            return session, new, (set_cookie(request, response, session) if new else response)
        return session, new, None

    def check_csrf(session: Session, token: str) -> None:
        if not token or not hmac.compare_digest(token.encode(), session.csrf.encode()):
            raise ServiceError(
                403, "this form has expired or did not come from this page; reload the page and try again", "csrf_failed"
            )

    def item_or_404(position: int) -> StoredItem:
        item = store.item(position)
        if item is None:
            raise ServiceError(404, f"there is no post {position} in the queue (it holds {store.count()})")
        return item

    def item_page(
        request: Request,
        session: Session,
        new: bool,
        item: StoredItem,
        selected: list[str],
        note: str,
        messages: list[str],
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        total = store.count()
        saved = store.decision(item.id, session.user or "")
        votes = [
            {"name": name, "labels": v.get("labels"), "status": v.get("status", "ok"), "key": str(i + 1) if i < 9 else None}
            for i, (name, v) in enumerate(item.votes.items())
        ]
        context = {
            "item": item,
            "votes": votes,
            "selected": set(selected),
            "note": note,
            "messages": messages,
            "error": error,
            "saved": saved,
            "grid": grid,
            "no_crisis": {"label": PostLabel.NO_CRISIS.value, "key": _NO_CRISIS_KEY},
            "rules_json": rules_json,
            "previous": item.position - 1 if item.position > 1 else None,
            "next": item.position + 1 if item.position < total else None,
            "total": total,
        }
        return page(request, "item.html", context, session, new, status)

    @router.get("")
    def home(request: Request) -> Response:
        session, new, redirect = signed_in(request)
        if redirect is not None:
            return redirect
        position = store.next_pending(session.user or "")
        target = f"/review/items/{position}" if position is not None else "/review/done"
        response = RedirectResponse(target, status_code=303)
        return set_cookie(request, response, session) if new else response

    @router.get("/login")
    def login_form(request: Request, next: str | None = None) -> Response:
        session, new = session_of(request)
        if session.user is not None and store.has_user(session.user):
            return RedirectResponse(_safe_next(next), status_code=303)
        return page(request, "login.html", {"next": _safe_next(next), "error": None, "name": ""}, session, new)

    @router.post("/login")
    def login(
        request: Request,
        name: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/review",
    ) -> Response:
        session, new = session_of(request)
        check_csrf(session, csrf)
        if not store.check_user(name, password):
            context = {"next": _safe_next(next), "error": "Wrong name or password.", "name": name}
            return page(request, "login.html", context, session, new, status=401)
        fresh = Session(name, new_csrf_token(), int(time.time()))
        return set_cookie(request, RedirectResponse(_safe_next(next), status_code=303), fresh)

    @router.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
        session, _ = session_of(request)
        check_csrf(session, csrf)
        response = RedirectResponse("/review/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/review")
        return response

    @router.get("/queue")
    def queue(request: Request) -> Response:
        session, new, redirect = signed_in(request)
        if redirect is not None:
            return redirect
        decided = store.decisions(session.user or "")
        rows = [{"item": it, "decision": decided.get(it.id), "snippet": _snippet(it.text)} for it in store.items()]
        pending = store.next_pending(session.user or "")
        return page(request, "queue.html", {"rows": rows, "pending": pending}, session, new)

    @router.get("/done")
    def done(request: Request) -> Response:
        session, new, redirect = signed_in(request)
        if redirect is not None:
            return redirect
        return page(request, "done.html", {"db": str(store.path)}, session, new)

    @router.get("/items/{position}")
    def show_item(request: Request, position: int) -> Response:
        session, new, redirect = signed_in(request)
        if redirect is not None:
            return redirect
        item = item_or_404(position)
        saved = store.decision(item.id, session.user or "")
        selected = list(saved.labels) if saved else []
        return item_page(request, session, new, item, selected, saved.note if saved else "", [])

    @router.post("/items/{position}")
    def decide(
        request: Request,
        position: int,
        labels: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
        note: Annotated[str, Form(max_length=4000)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
        action: Annotated[str, Form(max_length=20)] = "save",
    ) -> Response:
        session, new, redirect = signed_in(request)
        if redirect is not None:
            return redirect
        check_csrf(session, csrf)
        item = item_or_404(position)
        reviewer = session.user or ""
        if action == "skip":
            following = store.next_pending(reviewer, after=position)
            target = (
                f"/review/items/{following}"
                if following is not None and following != position
                else f"/review/items/{min(position + 1, store.count())}"
            )
            return RedirectResponse(target, status_code=303)
        if action != "save":
            raise ServiceError(422, f"unknown action {action!r}; expected save or skip")
        try:
            result = apply_clinical_rules(labels)
        except UnknownLabelError as exc:
            raise ServiceError(422, str(exc)) from None
        final = [x.value for x in result.labels]
        if not final:
            return item_page(
                request,
                session,
                new,
                item,
                [],
                note,
                [],
                error="Choose at least one label (No crisis when nothing applies).",
                status=422,
            )
        if result.changed:
            messages = [f.message for f in result.fired]
            error = "Not saved yet: the clinical rules changed your selection. Check it and save again."
            return item_page(request, session, new, item, final, note, messages, error=error, status=409)
        try:
            store.decide(item.id, reviewer, final, note)
        except ReviewError as exc:
            raise ServiceError(422, str(exc)) from None
        following = store.next_pending(reviewer, after=position)
        return RedirectResponse(f"/review/items/{following}" if following is not None else "/review/done", status_code=303)

    return router
