"""Shopify's own Admin GraphQL schema, to check the documents the product sends against.

The schema is the introspection Shopify ships in its npm package ``@shopify/dev-mcp`` (pinned in
``package.json`` as a development dependency; ``make venv`` installs it with ``npm ci``), one file
per API version: ``node_modules/@shopify/dev-mcp/dist/data/admin_<version>.json.gz``. graphql-core
validates against it the way Shopify's own tooling does (graphql-js 16 rules).
"""

from __future__ import annotations

import gzip
import json
import re
from functools import cache
from pathlib import Path

from graphql import GraphQLError, GraphQLSchema, build_client_schema, parse, validate
from graphql.execution.values import get_variable_values
from graphql.language import OperationDefinitionNode

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "node_modules" / "@shopify" / "dev-mcp" / "dist" / "data"
STABLE = re.compile(r"admin_(\d{4}-\d{2})\.json\.gz")


def shipped_versions() -> list[str]:
    """The stable Admin API versions the package ships a schema for, oldest first."""
    if not SCHEMA_DIR.is_dir():
        raise AssertionError(f"{SCHEMA_DIR} is missing: run `make venv` (npm ci installs @shopify/dev-mcp)")
    return sorted(m.group(1) for path in SCHEMA_DIR.iterdir() if (m := STABLE.fullmatch(path.name)))


@cache
def admin_schema(version: str) -> GraphQLSchema:
    with gzip.open(SCHEMA_DIR / f"admin_{version}.json.gz", "rt", encoding="utf-8") as handle:
        introspection = json.load(handle)
    return build_client_schema(introspection.get("data", introspection))


def problems(version: str, document: str, variables: dict | None = None) -> list[str]:
    """What Shopify's schema says is wrong with a document (and the variables sent with it)."""
    schema = admin_schema(version)
    try:
        ast = parse(document)
    except GraphQLError as exc:
        return [f"does not parse: {exc.message}"]
    errors = [error.message for error in validate(schema, ast)]
    if errors or variables is None:
        return errors
    operation = next(d for d in ast.definitions if isinstance(d, OperationDefinitionNode))
    coerced = get_variable_values(schema, operation.variable_definitions or [], variables)
    return [error.message for error in coerced] if isinstance(coerced, list) else []
