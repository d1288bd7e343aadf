"""Every GraphQL document the product sends to Shopify is valid against Shopify's own Admin schema.

The schema comes from Shopify's npm package ``@shopify/dev-mcp`` (see ``tests/shopify_schema.py``).
The documents are found in the product's source, not listed by hand: every module-level string
that is a GraphQL operation, and every ``graphql(...)`` call must send one of them. The store-action
tests also validate each document with the variables it is actually sent with (``store_fakes.shop``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings

from tests.shopify_schema import problems, shipped_versions

ROOT = Path(__file__).resolve().parent.parent.parent
OPERATION = re.compile(r"\s*(query|mutation|subscription)\b")


def product_documents() -> dict[str, str]:
    """``{"module:NAME": document}`` for every module-level GraphQL operation in the product's code."""
    found = {}
    for app in ("backorders", "suppliers", "packets"):
        for path in sorted((ROOT / app).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in tree.body:
                if (
                    isinstance(node, ast.Assign)
                    and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)
                    and OPERATION.match(node.value.value)
                ):
                    for target in node.targets:
                        found[f"{path.relative_to(ROOT)}:{target.id}"] = node.value.value
    return found


def graphql_calls() -> list[tuple[str, ast.Call, ast.AST]]:
    """Every call of a function named ``graphql`` in the product, with the function around it."""
    calls = []
    for app in ("backorders", "suppliers", "packets"):
        for path in sorted((ROOT / app).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for function in ast.walk(tree):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "graphql":
                        calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node, function))
    return calls


DOCUMENTS = product_documents()


def test_it_finds_the_documents_store_actions_send():
    names = {key.rsplit(":", 1)[1] for key in DOCUMENTS}
    assert {"ORDER_CANCEL", "REFUND_CREATE", "HOLD", "RELEASE_HOLD", "TAGS_ADD", "ORDER_STATE", "SHOP"} <= names


@pytest.mark.parametrize("key", sorted(DOCUMENTS))
def test_each_document_is_valid_against_the_default_api_versions_admin_schema(key):
    document = DOCUMENTS[key].replace("%s", "backorder-desk-refund-1")  # the idempotency key's place
    assert problems(settings.SHOPIFY_API_VERSION, document) == []


def test_every_graphql_call_sends_one_of_those_documents():
    constants = {key.rsplit(":", 1)[1] for key in DOCUMENTS}
    calls = graphql_calls()
    assert len(calls) >= 8
    for where, call, function in calls:
        sent = call.args[0]
        assert isinstance(sent, ast.Name), f"{where}: the document must be a named constant"
        if sent.id in constants:
            continue
        built_from = {
            name.id
            for node in ast.walk(function)
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == sent.id for t in node.targets)
            for name in ast.walk(node.value)
            if isinstance(name, ast.Name)
        }
        assert built_from & constants, f"{where}: {sent.id} is not built from a document checked here"


def test_the_checker_refuses_what_shopify_would():
    version = settings.SHOPIFY_API_VERSION
    assert problems(version, "query { shop { nameTypo } }") == [
        "Cannot query field 'nameTypo' on type 'Shop'. Did you mean 'name'?"
    ]
    refund = "mutation R($input: RefundInput!) { refundCreate(input: $input) { refund { id } } }"
    assert problems(version, refund, {"input": {"orderId": "gid://shopify/Order/1", "notAField": 1}})


def test_the_default_api_version_is_the_newest_stable_one_shopifys_package_ships():
    versions = shipped_versions()
    assert settings.SHOPIFY_API_VERSION in versions
    assert versions[-1] == settings.SHOPIFY_API_VERSION, f"newer schemas are available: {versions}"
