"""The owner edits the cadence wording: checks as they type and on save, a preview, a new policy version.

* ``check_step``: per variant, the problems of the typed wording (unknown placeholders, a missing
  ``{cancel_link}``, ``{faq_link}`` or ``{alternative}`` where the variant needs it) and the store's
  message guidelines (``guidelines.check``: exact dates, forbidden phrases, word limits, "shipped"
  while waiting) on the text as a sample customer would read it, with and without a known range;
  and that text, as the live preview.
* ``save_step``: the owner's wording for one step saved as a NEW policy version (a version is never
  edited), refused with every problem when one remains, audited with the wording before and after.

The preview and the checks render through ``drafting.render``, the same code the cadence drafts with.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from backorders.calendar import BusinessCalendar
from backorders.models import StorePolicy
from backorders.roles import is_owner
from packets.models import AuditEvent
from packets.notify import drafting
from packets.notify import wording as w
from packets.notify.cadence_rows import _Customer, _Line, _Order, _Product
from suppliers.eta import EtaRange

TEXT_MAX = 2000
FIELD_LABELS = {"subject": "subject", "email": "email text", "sms": "SMS text"}
SAMPLE_ALTERNATIVE = "Linen Throw (Sand)"


@dataclass
class VariantCheck:
    variant: str
    label: str
    texts: dict[str, str]
    issues: list[str] = field(default_factory=list)
    previews: dict[str, str] = field(default_factory=dict)  # "email" / "sms" -> the text a sample customer reads
    falls_back: bool = False  # nothing written: the default wording (or the built-in text) applies

    @property
    def written(self) -> bool:
        return any(self.texts.values())


def cadence_step(policy: StorePolicy, key: str) -> dict | None:
    return next((s for s in policy.cadence if s.get("key") == key), None)


def typed(data, step: dict) -> dict[str, dict[str, str]]:
    """The wording typed into the form (``<variant>-<field>`` names), tidied, for the step's variants."""
    return {
        variant: {f: str(data.get(f"{variant}-{f}", "") or "").replace("\r\n", "\n").strip() for f in w.FIELDS}
        for variant in w.variants_for(step)
    }


def _sample_line(policy: StorePolicy, variant: str, now) -> _Line:
    orders = {w.VIP: policy.vip_min_orders, w.FIRST_ORDER: 0}.get(variant, max(1, policy.vip_min_orders - 1))
    customer = _Customer(0, "Sam Rivera", "sam@example.com", "", "email", False, None, orders)
    order = _Order(0, "1042", "open", now, None, Decimal("48.00"), customer)
    return _Line(0, 0, "backordered", now, "", 1, order, _Product(0, "Linen Throw", "Rust"))


def _render(step: dict, variant: str, channel: str, texts: dict, policy: StorePolicy, *, eta_known: bool):
    now = timezone.now()
    today = BusinessCalendar.for_policy(policy).local_date(now)
    eta = EtaRange(today + timedelta(days=10), today + timedelta(days=17), 0.9, "sample") if eta_known else None
    chosen = w.Chosen(variant, texts["subject"], texts[channel]) if texts[channel] else None
    return drafting.render(
        step["key"],
        line=_sample_line(policy, variant, now),
        channel=channel,
        policy=policy,
        today=today,
        link=settings.SITE_URL + reverse("packets:customer-order", args=["sample-link"]),
        eta=eta,
        next_update=today + timedelta(days=3),
        offer_cancel=bool(step.get("offer_cancel")),
        parcel_moving=False,  # a line that waits has no parcel moving
        chosen=chosen,
        alternative=SAMPLE_ALTERNATIVE if variant == w.ALTERNATIVE else "",
    )


def _own_issues(step: dict, variant: str, texts: dict, faq_url: str) -> list[str]:
    issues = []
    if texts["subject"] and not (texts["email"] or texts["sms"]):
        issues.append("A subject alone is not used: write the email text (or the SMS text) too.")
    for name in w.FIELDS:
        if len(texts[name]) > TEXT_MAX:
            issues.append(f"The {FIELD_LABELS[name]} is {len(texts[name])} characters long; at most {TEXT_MAX}.")
        for unknown in w.unknown_placeholders(texts[name], variant):
            where = w.ONLY_IN.get(unknown)
            hint = f"only the {w.VARIANT_LABELS[where].lower()} wording has it" if where else "no such placeholder"
            issues.append(f"The {FIELD_LABELS[name]} uses {{{unknown}}}: {hint}.")
    for name in ("email", "sms"):
        text, label = texts[name], FIELD_LABELS[name]
        if not text:
            continue
        if "{cancel_link}" not in text:
            why = "this step offers cancellation" if step.get("offer_cancel") else "every backorder update carries it"
            issues.append(f"The {label} must include {{cancel_link}}: {why}.")
        if variant == w.FIRST_ORDER and "{faq_link}" not in text:
            issues.append(f"The {label} must include {{faq_link}}: first-time buyers get the FAQ link.")
        if variant == w.ALTERNATIVE and "{alternative}" not in text:
            issues.append(f"The {label} must name the alternative with {{alternative}}.")
    if variant == w.FIRST_ORDER and any(texts.values()) and not faq_url:
        issues.append("Give the FAQ address: the first-time buyers' wording links it.")
    return issues


def check_step(policy: StorePolicy, step: dict, words: dict, faq_url: str) -> dict[str, VariantCheck]:
    """Per variant of ``step``, the problems of ``words`` and the text a sample customer would read."""
    trial = copy.copy(policy)  # never saved: the checks read the FAQ address as typed
    trial.faq_url = faq_url
    checks = {}
    default_subject = (words.get(w.DEFAULT) or {}).get("subject", "")
    for variant in w.variants_for(step):
        texts = words.get(variant) or dict.fromkeys(w.FIELDS, "")
        check = VariantCheck(variant, w.VARIANT_LABELS[variant], texts)
        checks[variant] = check
        check.issues = _own_issues(step, variant, texts, faq_url)
        for channel in ("email", "sms"):
            if not texts[channel] and variant != w.DEFAULT:
                continue
            found = []
            for eta_known in (True, False):
                shown = {**texts, "subject": texts["subject"] or default_subject}
                draft = _render(step, variant, channel, shown, trial, eta_known=eta_known)
                found += draft.issues
                if eta_known:
                    check.previews[channel] = f"{draft.subject}\n\n{draft.body}" if channel == "email" else draft.body
            if any(w.unknown_placeholders(texts[f], variant) for f in w.FIELDS):
                found = [i for i in found if "placeholder" not in i]  # said above, by name
            if texts[channel]:
                check.issues += [f"The {FIELD_LABELS[channel]}: {issue}" for issue in found]
        check.issues = list(dict.fromkeys(check.issues))
        check.falls_back = not check.written
    return checks


def _compact(words: dict) -> dict:
    """Only what is written: an empty variant is left out, an empty step is nothing."""
    return {variant: {f: v for f, v in texts.items() if v} for variant, texts in words.items() if any(texts.values())}


def save_step(step_key: str, user, data, *, base_version: int | None = None) -> StorePolicy:
    """Save the typed wording of one cadence step (and the FAQ address) as a new policy version.

    Raises ``ValidationError`` with every problem, ``PermissionDenied`` for anyone but an owner."""
    if not is_owner(user):
        raise PermissionDenied("Only an owner changes the wording of the store's messages.")
    with transaction.atomic():
        policy = StorePolicy.objects.select_for_update().order_by("-version").first() or StorePolicy.objects.current()
        step = cadence_step(policy, step_key)
        if step is None:
            raise ValidationError(f"The policy has no cadence step {step_key!r}.")
        if base_version is not None and base_version != policy.version:
            raise ValidationError(
                f"The policy changed while you typed (it is version {policy.version} now, you started from "
                f"{base_version}): copy your text, reload the page and save again."
            )
        faq_url = str(data.get("faq_url", policy.faq_url) or "").strip()
        errors = []
        if faq_url:
            try:
                URLValidator(schemes=["http", "https"])(faq_url)
            except ValidationError:
                errors.append("The FAQ address must be a full web address (https://...).")
        words = typed(data, step)
        for check in check_step(policy, step, words, faq_url).values():
            errors += [f"{check.label}: {issue}" for issue in check.issues]
        if errors:
            raise ValidationError(errors)
        before = _compact(w.step_wording(policy, step_key))
        after = _compact(words)
        if before == after and faq_url == policy.faq_url:
            return policy
        all_wording = {k: v for k, v in (policy.cadence_wording or {}).items() if k != step_key}
        if after:
            all_wording[step_key] = after
        label = step.get("label") or step_key
        new = policy.revise(user=user, note=f"Wording: {label}", cadence_wording=all_wording, faq_url=faq_url)
        AuditEvent.record(
            "policy.wording_changed",
            actor=user,
            obj=new,
            summary=f"Changed the wording of {label} (policy v{policy.version} → v{new.version})",
            step=step_key,
            before=before,
            after=after,
            **({"faq_url_before": policy.faq_url, "faq_url_after": faq_url} if faq_url != policy.faq_url else {}),
            version_before=policy.version,
            version=new.version,
        )
    return new
