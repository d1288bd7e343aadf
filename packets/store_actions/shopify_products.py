"""Shopify Admin GraphQL for product actions: inventory policy of variants, the wording metafield.

The transport (throttling, 429, 5xx, top-level errors) is ``shopify.graphql``'s. Setting a policy
or a metafield to what it already is changes nothing, so a retry is harmless; still, a call that
got no answer is followed by reading the product back before anything is sent again.
"""

from __future__ import annotations

from .results import FAILED, NOT_DONE, SUCCEEDED, UNKNOWN, CallResult, StoreCallError, failure_from, sending
from .shopify import graphql, user_errors_text

VARIANTS_POLICY = """mutation BackorderDeskSelling($productId: ID!, $variants: [ProductVariantsBulkInput!]!) {
  productVariantsBulkUpdate(productId: $productId, variants: $variants) {
    productVariants { id inventoryPolicy }
    userErrors { field message code }
  }
}"""

PRODUCT_STATE = """query BackorderDeskProduct($id: ID!) {
  product(id: $id) {
    id status
    variants(first: 250) { nodes { id inventoryPolicy } }
    metafield(namespace: "backorder_desk", key: "backorder_message") { id value }
  }
}"""

METAFIELDS_SET = """mutation BackorderDeskWording($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id namespace key value }
    userErrors { field message code }
  }
}"""

METAFIELDS_DELETE = """mutation BackorderDeskWordingRemove($metafields: [MetafieldIdentifierInput!]!) {
  metafieldsDelete(metafields: $metafields) {
    deletedMetafields { ownerId namespace key }
    userErrors { field message }
  }
}"""


PRODUCT_STATUS = """mutation BackorderDeskProductStatus($product: ProductUpdateInput!) {
  productUpdate(product: $product) {
    product { id status }
    userErrors { field message }
  }
}"""


def _call(query: str, variables: dict) -> dict:
    return {"query": query, "variables": variables}


def product_state(gid: str) -> dict | None:
    body = graphql(PRODUCT_STATE, {"id": gid})
    return (body.get("data") or {}).get("product")


def shows(kind: str, plan: dict, product: dict) -> bool:
    """Whether the product as Shopify has it already shows what the plan asks for."""
    if kind in {"stop_selling", "resume_selling"}:
        policies = {n.get("id"): n.get("inventoryPolicy") for n in (product.get("variants") or {}).get("nodes") or []}
        status = plan.get("product_status")
        return all(policies.get(v["gid"]) == plan["policy"] for v in plan["variants"]) and (
            not status or product.get("status") == status
        )
    metafield = product.get("metafield")
    if kind == "set_wording":
        return (metafield or {}).get("value") == plan["text"]
    return metafield is None


def read_back(action) -> CallResult:
    gid = action.plan["product_gid"]
    try:
        product = product_state(gid)
    except StoreCallError as exc:
        return failure_from(exc, _call(PRODUCT_STATE, {"id": gid}), mutation=False)
    if product is None:
        return CallResult(FAILED, error=f"Shopify has no product {gid}")
    if shows(action.kind, action.plan, product):
        return CallResult(SUCCEEDED, response={"product": product}, external_ref=gid, note="the store already shows it")
    return CallResult(NOT_DONE, response={"product": product})


def execute(action) -> CallResult:
    plan = action.plan
    metafield = {"ownerId": plan["product_gid"], "namespace": plan.get("namespace"), "key": plan.get("key")}
    if action.kind in {"stop_selling", "resume_selling"}:
        document = VARIANTS_POLICY
        root = "productVariantsBulkUpdate"
        variants = [{"id": v["gid"], "inventoryPolicy": plan["policy"]} for v in plan["variants"]]
        variables = {"productId": plan["product_gid"], "variants": variants}
    elif action.kind == "set_wording":
        document = METAFIELDS_SET
        root = "metafieldsSet"
        variables = {"metafields": [{**metafield, "type": plan["type"], "value": plan["text"]}]}
    else:
        document = METAFIELDS_DELETE
        root = "metafieldsDelete"
        variables = {"metafields": [metafield]}
    request = _call(document, variables)
    sending(action, request)
    try:
        body = graphql(document, variables)
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    payload = (body.get("data") or {}).get(root)
    if payload is None:
        return CallResult(UNKNOWN, request, body, f"Shopify answered without a {root} result")
    errors = payload.get("userErrors") or []
    if errors:
        return CallResult(FAILED, request, body, user_errors_text(errors))
    if plan.get("product_status") and action.kind in {"stop_selling", "resume_selling"}:
        return _set_status(action, request, body)
    return CallResult(SUCCEEDED, request, body, external_ref=plan["product_gid"])


def _set_status(action, first_request: dict, first_body: dict) -> CallResult:
    """The product to draft (with a stop) or active (with its resume), once the variants are set.
    Sent again after a failure, the variants' call changes nothing the second time."""
    variables = {"product": {"id": action.plan["product_gid"], "status": action.plan["product_status"]}}
    request = {"calls": [first_request, _call(PRODUCT_STATUS, variables)]}
    sending(action, request)
    try:
        body = graphql(PRODUCT_STATUS, variables)
    except StoreCallError as exc:
        return failure_from(exc, request, mutation=True)
    response = {"variants": first_body, "status": body}
    errors = ((body.get("data") or {}).get("productUpdate") or {}).get("userErrors") or []
    if errors:
        return CallResult(
            FAILED,
            request,
            response,
            f"The variants are set; the product status was refused: {user_errors_text(errors)}",
        )
    return CallResult(SUCCEEDED, request, response, external_ref=action.plan["product_gid"])
