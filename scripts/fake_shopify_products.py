"""The Shopify stand-in's products: variants' inventory policy, the product's metafields, stock.

Answers ``productVariantsBulkUpdate``, ``productUpdate`` (status), ``metafieldsSet``,
``metafieldsDelete``, ``inventorySetQuantities`` (``@idempotent``: a repeated key returns the first
answer; available per inventory item and location, kept in ``levels``) and ``product``
(read back) the way Shopify's Admin GraphQL documentation shows. Any product id exists, with the
variants a test adds (``add_product``) or, when none were added, the ones the first call names;
a variant that belongs to another product is refused with Shopify's user error.
"""

from __future__ import annotations

PRODUCT_OPERATIONS = (
    "productVariantsBulkUpdate",
    "metafieldsSet",
    "metafieldsDelete",
    "productUpdate",
    "inventorySetQuantities",
    "product",
)
PRODUCT_MUTATIONS = {
    "productVariantsBulkUpdate",
    "metafieldsSet",
    "metafieldsDelete",
    "productUpdate",
    "inventorySetQuantities",
}
RESULT_KEY = {
    "inventorySetQuantities": "inventoryAdjustmentGroup",
    "productUpdate": "product",
    "productVariantsBulkUpdate": "productVariants",
    "metafieldsSet": "metafields",
    "metafieldsDelete": "deletedMetafields",
}


def _id(gid: str) -> str:
    return str(gid).rsplit("/", 1)[-1]


class FakeProducts:
    """Mixed into ``FakeShopStore``: its lock, log and ids serve products too."""

    def product(self, product_id: str) -> dict:
        product_id = _id(product_id)
        with self._lock:
            products = self.products
            if product_id not in products:
                products[product_id] = {"id": product_id, "status": "ACTIVE", "variants": {}, "metafields": {}}
            return products[product_id]

    def add_product(self, product_id: str, variant_ids, *, policy: str = "CONTINUE") -> dict:
        with self._lock:
            product = self.product(product_id)
            product["variants"].update({str(v): policy for v in variant_ids})
            return product

    def policies(self, product_id: str) -> dict[str, str]:
        with self._lock:
            return dict(self.product(product_id)["variants"])

    def metafield(self, product_id: str, namespace: str = "backorder_desk", key: str = "backorder_message"):
        with self._lock:
            found = self.product(product_id)["metafields"].get((namespace, key))
            return found and found["value"]

    def product_user_error(self, operation: str, message: str, code: str | None) -> dict:
        field = ["input", "quantities", "0", "locationId"] if operation == "inventorySetQuantities" else None
        error = {"field": field or ["variants", "0", "id"], "message": message}
        if operation not in {"metafieldsDelete", "productUpdate"}:
            error["code"] = code or "INVALID"
        return {"data": {operation: {RESULT_KEY[operation]: None, "userErrors": [error]}}}

    def available(self, inventory_item_id: str, location_id: str) -> int | None:
        """The level ``inventorySetQuantities`` left for an inventory item at a location (ids or gids)."""
        with self._lock:
            return self.levels.get((_id(inventory_item_id), _id(location_id)))

    def run_product(self, operation: str, v: dict, entry: dict, key: str = "") -> dict:
        if operation == "inventorySetQuantities":
            return self._set_quantities(v, entry, key)
        if operation == "product":
            return {"data": {"product": self._product_view(self.product(v["id"]))}}
        if operation == "productVariantsBulkUpdate":
            product = self.product(v["productId"])
            wanted = {_id(item["id"]): item for item in v["variants"]}
            strangers = [vid for vid in wanted if product["variants"] and vid not in product["variants"]]
            if strangers:
                message = f"Product variant does not exist on this product: {strangers[0]}"
                return self.product_user_error(operation, message, "PRODUCT_VARIANT_DOES_NOT_EXIST")
            for vid, item in wanted.items():
                if "inventoryPolicy" in item:
                    product["variants"][vid] = item["inventoryPolicy"]
            entry["applied"] = True
            nodes = [
                {"id": f"gid://shopify/ProductVariant/{vid}", "inventoryPolicy": product["variants"][vid]}
                for vid in wanted
            ]
            return {"data": {operation: {"productVariants": nodes, "userErrors": []}}}
        if operation == "productUpdate":
            product = self.product(v["product"]["id"])
            product["status"] = v["product"].get("status", product["status"])
            entry["applied"] = True
            view = {"id": f"gid://shopify/Product/{product['id']}", "status": product["status"]}
            return {"data": {operation: {"product": view, "userErrors": []}}}
        if operation == "metafieldsSet":
            made = []
            for item in v["metafields"]:
                product = self.product(item["ownerId"])
                key = (item["namespace"], item["key"])
                found = product["metafields"].get(key) or {"id": f"gid://shopify/Metafield/{self._next_id()}"}
                found.update(namespace=key[0], key=key[1], value=item["value"], type=item.get("type"))
                product["metafields"][key] = found
                made.append({k: found[k] for k in ("id", "namespace", "key", "value")})
            entry["applied"] = True
            return {"data": {operation: {"metafields": made, "userErrors": []}}}
        if operation == "metafieldsDelete":
            deleted = []
            for item in v["metafields"]:
                product = self.product(item["ownerId"])
                gone = product["metafields"].pop((item["namespace"], item["key"]), None)
                deleted.append(
                    {"ownerId": item["ownerId"], "namespace": item["namespace"], "key": item["key"]} if gone else None
                )
            entry["applied"] = True
            return {"data": {operation: {"deletedMetafields": deleted, "userErrors": []}}}
        return {}

    def _set_quantities(self, v: dict, entry: dict, key: str) -> dict:
        if not key:
            error = {"field": None, "message": "An idempotency key is required.", "code": "IDEMPOTENCY_KEY_REQUIRED"}
            return {"data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": None, "userErrors": [error]}}}
        if key in self.idempotent:
            return self.idempotent[key]
        data, changes = v["input"], []
        for q in data["quantities"]:
            where = (_id(q["inventoryItemId"]), _id(q["locationId"]))
            before = self.levels.get(where, 0)
            self.levels[where] = q["quantity"]
            change = {"name": data["name"], "delta": q["quantity"] - before, "quantityAfterChange": q["quantity"]}
            changes.append({**change, "location": {"id": q["locationId"]}})
        group = {
            "id": f"gid://shopify/InventoryAdjustmentGroup/{self._next_id()}",
            "reason": data["reason"],
            "changes": changes,
        }
        entry["applied"] = True
        body = {"data": {"inventorySetQuantities": {"inventoryAdjustmentGroup": group, "userErrors": []}}}
        self.idempotent[key] = body
        return body

    def _product_view(self, product: dict) -> dict:
        found = product["metafields"].get(("backorder_desk", "backorder_message"))
        return {
            "id": f"gid://shopify/Product/{product['id']}",
            "status": product["status"],
            "variants": {
                "nodes": [
                    {"id": f"gid://shopify/ProductVariant/{vid}", "inventoryPolicy": policy}
                    for vid, policy in product["variants"].items()
                ]
            },
            "metafield": {"id": found["id"], "value": found["value"]} if found else None,
        }
