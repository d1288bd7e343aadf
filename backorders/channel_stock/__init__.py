"""Stock the channels can trust: Shopify's per-location levels summed per variant over the
locations the store sells from, each channel's reported stock kept beside the desk's own, and
(with ``STOCK_SOURCE=desk``) the products whose stock may have changed handed, after commit, to
whatever pushes the desk's available-to-promise out (``settings.AFTER_STOCK_CHANGE``)."""
