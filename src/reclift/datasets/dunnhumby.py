"""dunnhumby / 84.51° The Complete Journey (2017 edition, as in the ``completejourney`` R package).

Download: the CSV exports of the R package's tables (CRAN ``completejourney``, source
https://github.com/bradleyboehmke/completejourney)::

    Rscript -e 'library(completejourney); for (n in c("campaign_descriptions", "campaigns",
      "coupon_redemptions", "coupons", "demographics", "products", "promotions_sample",
      "transactions_sample")) readr::write_csv(get(n), gzfile(paste0(n, ".csv.gz")))'

(``get_transactions()`` in that package fetches the full 1.47M-row transactions.)
License: CC0 (the R package); 84.51° publishes the source files at https://www.8451.com/area51.

Mapping to canonical tables
---------------------------
items
    ``products``: ``item_id`` = product_id; ``title`` = product_type (the finest product
    description in the data); ``category`` = department > product_category > product_type
    (empty levels omitted); ``brand`` null (the data only says National or Private, kept as
    ``attributes.brand_type``); attributes also hold manufacturer_id and package_size.
users
    every household seen in demographics, transactions, campaigns or redemptions;
    ``attributes`` = the demographics (age, income, home_ownership, marital_status,
    household_size, household_comp, kids_count) plus ``has_demographics``.
events
    ``transactions_sample``: one ``order`` per line; user_id = household_id, session_id =
    basket_id (one basket = one shopping trip), ts = transaction_timestamp (UTC), quantity,
    price = sales_value / quantity (unit amount paid; null when quantity is 0). Store and
    discounts are not canonical; they stay in the source file.
campaigns
    ``campaign_descriptions``: one row per campaign, keyword null; start = start_date
    00:00 UTC, end = the midnight after end_date (exclusive); ``impressions`` = number of
    households the campaign targeted (``campaigns``), ``orders`` = number of coupon
    redemptions attributed to it (``coupon_redemptions``). Campaign type (A/B/C) has no
    canonical column; it is in the extra ``campaign_types``.
exposures
    one row per targeted (campaign, household) with ``treatment=True``, ts = campaign start,
    ``converted`` = the household redeemed at least one coupon of that campaign, revenue
    null. There are **no control rows**: targeting was not randomised, so non-targeted
    households are not a valid control group; this table supports response propensity and
    lookalikes, not unbiased uplift.
Extras: ``coupons``, ``coupon_redemptions``, ``promotions`` (promotions_sample: in-store
display / mailer placement per product, store and week) and ``campaign_types``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from reclift.datasets._base import (
    DatasetInfo,
    LoadResult,
    build_table,
    frame_records,
    json_strings,
    need_dir,
    need_file,
    read_csv,
    utc_from_series,
)

INFO = DatasetInfo(
    name="dunnhumby",
    description="dunnhumby The Complete Journey: baskets, products, campaigns, coupons, households",
    license="CC0",
    folder="dunnhumby_completejourney",
    download=(
        "Rscript -e 'library(completejourney); ...' (export the package tables to "
        "<name>.csv.gz; see reclift.datasets.dunnhumby)"
    ),
    tables=("items", "users", "events", "campaigns", "exposures"),
    extras=("coupons", "coupon_redemptions", "promotions", "campaign_types"),
    files=(
        "products.csv.gz",
        "transactions_sample.csv.gz",
        "demographics.csv.gz",
        "campaigns.csv.gz",
        "campaign_descriptions.csv.gz",
        "coupon_redemptions.csv.gz",
    ),
)

DEMOGRAPHICS = (
    "age",
    "income",
    "home_ownership",
    "marital_status",
    "household_size",
    "household_comp",
    "kids_count",
)


def _file(root: Path, stem: str) -> Path:
    """``stem.csv.gz`` or, failing that, ``stem.csv``."""
    if (root / f"{stem}.csv").is_file() and not (root / f"{stem}.csv.gz").is_file():
        return root / f"{stem}.csv"
    return need_file(root, f"{stem}.csv.gz", INFO)


def _date_utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="%Y-%m-%d", utc=True)


def _items(root: Path) -> pa.Table:
    products = read_csv(
        _file(root, "products"),
        INFO,
        ["product_id", "department", "brand", "product_category", "product_type"],
        dtype=str,
        keep_default_na=False,
    )
    levels = products[["department", "product_category", "product_type"]].apply(
        lambda s: s.str.strip()
    )
    category = [">".join(p for p in parts if p) or None for parts in levels.itertuples(index=False)]
    title = levels["product_type"].mask(levels["product_type"] == "")
    attributes = json_strings(
        {
            "manufacturer_id": m or None,
            "brand_type": b or None,
            "package_size": s or None,
        }
        for m, b, s in zip(
            products.get("manufacturer_id", pd.Series([""] * len(products))),
            products["brand"],
            products.get("package_size", pd.Series([""] * len(products))),
            strict=True,
        )
    )
    return build_table(
        "items",
        {
            "item_id": products["product_id"].str.strip().to_numpy(),
            "title": pa.array(title, type=pa.string(), from_pandas=True),
            "category": category,
            "attributes": attributes,
        },
    )


def load(path: Path) -> LoadResult:
    """Load The Complete Journey tables.

    Parameters
    ----------
    path
        Folder holding the ``*.csv.gz`` exports.

    Returns
    -------
    LoadResult
        ``items``, ``users``, ``events``, ``campaigns``, ``exposures`` and the extras.
    """
    root = need_dir(Path(path), INFO)
    items = _items(root)

    tx = read_csv(
        _file(root, "transactions_sample"),
        INFO,
        [
            "household_id",
            "basket_id",
            "product_id",
            "quantity",
            "sales_value",
            "transaction_timestamp",
        ],
        dtype={"household_id": str, "basket_id": str, "product_id": str},
    )
    quantity = tx["quantity"].astype("float64")
    price = (tx["sales_value"] / quantity.where(quantity > 0)).round(6)
    events = build_table(
        "events",
        {
            "user_id": tx["household_id"].to_numpy(),
            "session_id": tx["basket_id"].to_numpy(),
            "item_id": tx["product_id"].to_numpy(),
            "event_type": pa.array(["order"] * len(tx), type=pa.string()),
            "ts": utc_from_series(
                pd.to_datetime(tx["transaction_timestamp"], utc=True, format="ISO8601")
            ),
            "quantity": pa.array(np.round(quantity.to_numpy()).astype(np.int64)),
            "price": pa.array(price.to_numpy(), type=pa.float64(), from_pandas=True),
        },
    )

    desc = read_csv(
        _file(root, "campaign_descriptions"),
        INFO,
        ["campaign_id", "campaign_type", "start_date", "end_date"],
        dtype=str,
    )
    targeted = read_csv(_file(root, "campaigns"), INFO, ["campaign_id", "household_id"], dtype=str)
    redemptions = read_csv(
        _file(root, "coupon_redemptions"),
        INFO,
        ["household_id", "coupon_upc", "campaign_id", "redemption_date"],
        dtype=str,
    )
    start = _date_utc(desc["start_date"])
    end = _date_utc(desc["end_date"]) + pd.Timedelta(days=1)
    reach = targeted.groupby("campaign_id").size()
    redeemed = redemptions.groupby("campaign_id").size()
    campaigns = build_table(
        "campaigns",
        {
            "campaign_id": desc["campaign_id"].to_numpy(),
            "impressions": desc["campaign_id"].map(reach).fillna(0).astype("int64").to_numpy(),
            "orders": desc["campaign_id"].map(redeemed).fillna(0).astype("int64").to_numpy(),
            "start": utc_from_series(start),
            "end": utc_from_series(end),
        },
    )
    starts = dict(zip(desc["campaign_id"], start, strict=True))
    pairs = set(zip(redemptions["campaign_id"], redemptions["household_id"], strict=True))
    exp_ts = targeted["campaign_id"].map(starts)
    unknown = exp_ts.isna()
    exposures = build_table(
        "exposures",
        {
            "user_id": targeted["household_id"][~unknown].to_numpy(),
            "campaign_id": targeted["campaign_id"][~unknown].to_numpy(),
            "treatment": pa.array(np.ones(int((~unknown).sum()), dtype=bool)),
            "ts": utc_from_series(exp_ts[~unknown].astype("datetime64[us, UTC]")),
            "converted": pa.array(
                [
                    (c, h) in pairs
                    for c, h in zip(
                        targeted["campaign_id"][~unknown],
                        targeted["household_id"][~unknown],
                        strict=True,
                    )
                ],
                type=pa.bool_(),
            ),
        },
    )

    demo = read_csv(_file(root, "demographics"), INFO, ["household_id", *DEMOGRAPHICS], dtype=str)
    demo = demo.assign(has_demographics=True)
    seen = pd.Index(
        pd.concat(
            [
                demo["household_id"],
                tx["household_id"],
                targeted["household_id"],
                redemptions["household_id"],
            ]
        ).unique()
    )
    everyone = pd.DataFrame({"household_id": seen}).merge(demo, on="household_id", how="left")
    everyone["has_demographics"] = everyone["has_demographics"].eq(True)
    users = build_table(
        "users",
        {
            "user_id": everyone["household_id"].to_numpy(),
            "attributes": frame_records(everyone, [*DEMOGRAPHICS, "has_demographics"]),
        },
    )

    extras: dict[str, pa.Table] = {
        "coupon_redemptions": pa.Table.from_pandas(redemptions, preserve_index=False),
        "campaign_types": pa.Table.from_pandas(
            desc[["campaign_id", "campaign_type"]], preserve_index=False
        ),
    }
    coupons_file = root / "coupons.csv.gz"
    if coupons_file.is_file():
        coupons = read_csv(
            coupons_file, INFO, ["coupon_upc", "product_id", "campaign_id"], dtype=str
        )
        extras["coupons"] = pa.Table.from_pandas(coupons, preserve_index=False)
    promotions_file = root / "promotions_sample.csv.gz"
    if promotions_file.is_file():
        promotions = read_csv(promotions_file, INFO, ["product_id", "store_id"], dtype=str)
        extras["promotions"] = pa.Table.from_pandas(promotions, preserve_index=False)

    missing_items = len(set(tx["product_id"]) - set(items.column("item_id").to_pylist()))
    notes = [
        f"{len(tx)} transaction lines in {tx['basket_id'].nunique()} baskets -> order events",
        f"{missing_items} purchased product id(s) absent from products",
        f"{int((quantity == 0).sum())} line(s) with quantity 0 (price null)",
        f"{int(unknown.sum())} targeting row(s) of unknown campaigns skipped",
        "exposures are treated-only: campaign targeting was not randomised",
    ]
    return LoadResult(
        tables={
            "items": items,
            "users": users,
            "events": events,
            "campaigns": campaigns,
            "exposures": exposures,
        },
        extras=extras,
        notes=notes,
    )
