"""The paste-evidence form on a supplier's page."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.utils import timezone

from backorders.models import Product

from .evidence import MAX_TEXT
from .models import Supplier


class EvidenceForm(forms.Form):
    text = forms.CharField(
        label="What the supplier said",
        max_length=MAX_TEXT,
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "Paste the email, chat message or call notes"}),
        help_text="Pasted as received; it is kept with the update.",
    )
    product = forms.ModelChoiceField(
        queryset=Product.objects.none(),
        required=False,
        empty_label="Found from the text, if it names a SKU",
        help_text="The product the words are about.",
    )
    received_at = forms.DateTimeField(
        label="Received",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="When it arrived (store time); empty means now. Relative dates are read from here.",
    )

    def __init__(self, *args, supplier: Supplier, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.filter(sources__supplier=supplier).order_by("sku")

    def clean_received_at(self):
        value = self.cleaned_data.get("received_at")
        if value and value > timezone.now() + timedelta(minutes=5):
            raise forms.ValidationError("The received time cannot be in the future.")
        return value
