"""Forms for the case pages. Dates people pick are store-local days; the next check happens at
9:00 in the store's time zone on that day, stored in UTC."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time

from django import forms
from django.conf import settings
from django.utils import timezone

from backorders.calendar import BusinessCalendar
from backorders.models import StorePolicy
from packets.models import Decision, Outcome

CHECK_HOUR = time(9, 0)

# One key per decision on the packet page (j, k and ? belong to the queue and the help).
DECISION_KEYS = {
    Decision.Action.WAIT: "w",
    Decision.Action.SWITCH_SUPPLIER: "s",
    Decision.Action.OFFER_REPLACEMENT: "r",
    Decision.Action.CANCEL: "c",
    Decision.Action.REFUND: "f",
    Decision.Action.CHASE_SUPPLIER: "h",
    Decision.Action.PAUSE_PRODUCT: "p",
    Decision.Action.REQUEST_PROOF: "o",
    Decision.Action.MESSAGE_CUSTOMER: "m",
    Decision.Action.ESCALATE: "e",
}


def store_check_time(day) -> datetime:
    return datetime.combine(day, CHECK_HOUR, tzinfo=zoneinfo.ZoneInfo(settings.STORE_TIME_ZONE))


def default_check_day(policy: StorePolicy | None = None):
    """Two business days from today, in the store's calendar."""
    calendar = BusinessCalendar.for_policy(policy or StorePolicy.objects.current())
    return calendar.add_business_days(calendar.local_date(timezone.now()), 2)


def _future_check(day) -> datetime:
    moment = store_check_time(day)
    if moment <= timezone.now():
        raise forms.ValidationError("Pick a day in the future for the next check.")
    return moment


class IdListField(forms.MultipleChoiceField):
    """Row ids ticked in a list; the server re-checks every one, so any whole numbers pass here."""

    def to_python(self, value):
        return [int(v) for v in super().to_python(value) if str(v).isdigit()]

    def valid_value(self, value):
        return True

    def validate(self, value):
        if self.required and not value:
            raise forms.ValidationError("Tick at least one row.", code="required")


class DecisionForm(forms.Form):
    action = forms.ChoiceField(choices=Decision.Action.choices, widget=forms.RadioSelect)
    note = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Why, in a sentence"})
    )
    amount = forms.DecimalField(required=False, min_value=0, max_digits=12, decimal_places=2)
    next_check_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    packet_version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    replaces = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        data["next_check_at"] = None
        day = data.get("next_check_on")
        if data.get("action") == Decision.Action.WAIT and day is None:
            self.add_error("next_check_on", "Waiting needs the date of the next check.")
            return data
        if day is not None:
            try:
                data["next_check_at"] = _future_check(day)
            except forms.ValidationError as exc:
                self.add_error("next_check_on", exc)
        return data


class RejectForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000)


class OutcomeForm(forms.Form):
    kind = forms.ChoiceField(choices=[c for c in Outcome.Kind.choices])
    note = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(queryset=None, required=False, empty_label="Nobody")

    def __init__(self, *args, staff=None, **kwargs):
        super().__init__(*args, **kwargs)
        from packets.decisions import staff_users

        self.fields["assignee"].queryset = staff if staff is not None else staff_users()


class BulkCasesForm(forms.Form):
    OPERATIONS = [("accept", "Accept the recommendation"), ("assign", "Assign")]

    case_ids = IdListField()
    operation = forms.ChoiceField(choices=OPERATIONS)
    assignee = forms.ModelChoiceField(queryset=None, required=False, empty_label="Nobody")
    next_check_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, staff=None, **kwargs):
        super().__init__(*args, **kwargs)
        from packets.decisions import staff_users

        self.fields["assignee"].queryset = staff if staff is not None else staff_users()
        if not self.is_bound:
            self.initial.setdefault("next_check_on", default_check_day())

    def clean(self):
        data = super().clean()
        day = data.get("next_check_on")
        data["next_check_at"] = None
        if data.get("operation") == "accept":
            try:
                data["next_check_at"] = _future_check(day or default_check_day())
            except forms.ValidationError as exc:
                self.add_error("next_check_on", exc)
        return data


class BulkDraftsForm(forms.Form):
    message_ids = IdListField()
