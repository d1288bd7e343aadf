"""The owner's wording page: each cadence step's words and variants, edited with live checks.

``/policy/wording/`` lists the steps; ``/policy/wording/<step>/`` edits one (a save makes a new policy
version); ``/policy/wording/<step>/check/`` answers the typed text's problems and preview for one
variant (a partial for htmx). Owners only: support is refused on the server (and the refusal audited).
Without scripts the form still posts; a refused save shows the typed text again with its errors (400).
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backorders.models import StorePolicy
from backorders.roles import is_owner
from packets.audit import record_refusal
from packets.notify import wording as w
from packets.notify import wording_edit as edit

REFUSED = "Only an owner sees and changes the wording of the store's messages."


def _require_owner(request: HttpRequest, action: str) -> None:
    if not is_owner(request.user):
        record_refusal(request, action, REFUSED)
        raise PermissionDenied(REFUSED)


def _step(policy: StorePolicy, key: str) -> dict:
    step = edit.cadence_step(policy, key)
    if step is None:
        raise Http404("No such cadence step")
    return step


@require_GET
def wording_list(request: HttpRequest) -> HttpResponse:
    _require_owner(request, "policy.wording.view")
    policy = StorePolicy.objects.current()
    steps = []
    for step in sorted(policy.cadence, key=lambda s: s["after_hours"]):
        words = w.step_wording(policy, step["key"])
        variants = [(w.VARIANT_LABELS[v], words[v]) for v in w.variants_for(step)]
        steps.append({"step": step, "variants": variants})
    context = {"policy": policy, "steps": steps, "placeholders": w.PLACEHOLDERS}
    return render(request, "packets/policy_wording.html", context)


def _edit_page(request, policy, step, words, faq_url, *, errors=(), status=200):
    checks = edit.check_step(policy, step, words, faq_url)
    context = {
        "policy": policy,
        "step": step,
        "checks": list(checks.values()),
        "faq_url": faq_url,
        "errors": list(errors),
        "placeholders": w.PLACEHOLDERS,
        "only_in": w.ONLY_IN,
    }
    return render(request, "packets/policy_wording_edit.html", context, status=status)


@require_http_methods(["GET", "POST"])
def wording_edit(request: HttpRequest, step: str) -> HttpResponse:
    _require_owner(request, "policy.wording.edit")
    policy = StorePolicy.objects.current()
    cadence_step = _step(policy, step)
    if request.method == "GET":
        words = {v: w.step_wording(policy, step)[v] for v in w.variants_for(cadence_step)}
        return _edit_page(request, policy, cadence_step, words, policy.faq_url)
    try:
        base = int(request.POST.get("version") or 0) or None
    except ValueError:
        base = None
    try:
        new = edit.save_step(step, request.user, request.POST, base_version=base)
    except ValidationError as exc:
        words = edit.typed(request.POST, cadence_step)
        faq_url = request.POST.get("faq_url", "").strip()
        return _edit_page(request, policy, cadence_step, words, faq_url, errors=exc.messages, status=400)
    if new.version == policy.version:
        flash.info(request, "Nothing changed: the wording is as it was.")
    else:
        flash.success(request, f"Saved the wording of {cadence_step.get('label') or step} as policy v{new.version}.")
    return redirect("packets:policy-wording")


@require_POST
def wording_check(request: HttpRequest, step: str) -> HttpResponse:
    """One variant's problems and preview for the text being typed (a partial for htmx)."""
    _require_owner(request, "policy.wording.check")
    policy = StorePolicy.objects.current()
    cadence_step = _step(policy, step)
    variant = request.POST.get("variant", w.DEFAULT)
    if variant not in w.variants_for(cadence_step):
        variant = w.DEFAULT
    words = edit.typed(request.POST, cadence_step)
    check = edit.check_step(policy, cadence_step, words, request.POST.get("faq_url", "").strip())[variant]
    return render(request, "packets/partials/_wording_check.html", {"check": check, "checked": True})
