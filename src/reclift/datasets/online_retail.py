"""UCI Online Retail (a UK gift retailer, 2010-12 to 2011-12), France subset.

Download the full workbook and cut the France subset::

    curl -L -o online_retail.zip https://archive.ics.uci.edu/static/public/352/online+retail.zip
    unzip online_retail.zip && python -c "import pandas as pd;
      d = pd.read_excel('Online Retail.xlsx', dtype={'InvoiceNo': str, 'StockCode': str});
      d[d.Country == 'France'].to_csv('france.csv', index=False, date_format='%m/%d/%Y %H:%M')"

License: CC BY 4.0 (UCI Machine Learning Repository, doi:10.24432/C5BW33).

Format: ``InvoiceNo, StockCode, Description, Quantity, InvoiceDate (M/D/YYYY H:MM),
UnitPrice, CustomerID, Country``. Any country's subset (or the whole file) reads the same.

Mapping to canonical tables
---------------------------
events
    one ``order`` per invoice line; session_id = InvoiceNo, user_id = CustomerID (null when
    missing), item_id = StockCode, quantity, price = UnitPrice (GBP). InvoiceDate is the
    retailer's local time (UK): it is read as Europe/London and converted to UTC.
    **Skipped, with counts in the notes:** cancellations (invoices starting with ``C``,
    which carry negative quantities and reverse earlier lines; reversing is not an
    event type), any other line with a negative quantity, and service lines whose stock
    code is not a product (``POST`` postage, ``M`` manual, ``C2`` carriage, ``D`` discount,
    ``DOT``, ``BANK CHARGES``, ``AMAZONFEE``, ...: codes not starting with a digit).
    ``keep_service_lines=True`` keeps the latter.
items
    one row per stock code seen in the kept lines; title = the most frequent description
    (stripped; ties broken alphabetically); price = the median unit price over kept lines.
users
    one row per CustomerID with ``attributes`` = {"country": ...}.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from reclift.datasets._base import (
    DatasetError,
    DatasetInfo,
    LoadResult,
    build_table,
    json_strings,
    need_file,
    read_csv,
    utc_from_series,
)

INFO = DatasetInfo(
    name="online-retail-france",
    description="UCI Online Retail, France subset: invoices of a UK gift retailer",
    license="CC BY 4.0 (UCI)",
    folder="uci_online_retail",
    download=(
        "curl -L -o online_retail.zip https://archive.ics.uci.edu/static/public/352/"
        "online+retail.zip (then export Country == 'France' to france.csv)"
    ),
    tables=("items", "users", "events"),
    files=("france.csv",),
)

COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
LOCAL_TZ = "Europe/London"


def load(path: Path, *, file: str = "france.csv", keep_service_lines: bool = False) -> LoadResult:
    """Load the Online Retail invoices.

    Parameters
    ----------
    path
        Folder holding the CSV (or the CSV itself).
    file
        CSV name inside the folder.
    keep_service_lines
        Keep lines whose stock code is not a product (postage, manual, carriage, ...).

    Returns
    -------
    LoadResult
        ``items``, ``users``, ``events``; notes count every skipped line by reason.
    """
    source = Path(path)
    source = source if source.is_file() else need_file(source, file, INFO)
    raw = read_csv(
        source,
        INFO,
        COLUMNS,
        dtype={
            "InvoiceNo": str,
            "StockCode": str,
            "Description": str,
            "CustomerID": str,
            "Country": str,
        },
        encoding="utf-8",
        encoding_errors="replace",
    )
    raw["InvoiceNo"] = raw["InvoiceNo"].str.strip()
    raw["StockCode"] = raw["StockCode"].str.strip()
    quantity = pd.to_numeric(raw["Quantity"], errors="coerce")
    unit = pd.to_numeric(raw["UnitPrice"], errors="coerce")
    when = pd.to_datetime(raw["InvoiceDate"], format="%m/%d/%Y %H:%M", errors="coerce")
    bad = (
        quantity.isna()
        | unit.isna()
        | when.isna()
        | raw["InvoiceNo"].isna()
        | raw["StockCode"].isna()
    )
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise DatasetError(
            f"online-retail: {source}: {int(bad.sum())} line(s) with an unparsable invoice, "
            f"stock code, quantity, price or date (first at line {row})"
        )
    cancelled = raw["InvoiceNo"].str.upper().str.startswith("C")
    negative = (quantity < 0) & ~cancelled
    service = ~raw["StockCode"].str[0].str.isdigit()
    negative_price = unit < 0
    keep = ~cancelled & ~negative & ~negative_price
    if not keep_service_lines:
        keep &= ~service
    notes = [
        f"skipped {int(cancelled.sum())} cancellation line(s) (invoice numbers starting 'C')",
        f"skipped {int(negative.sum())} other line(s) with a negative quantity",
        f"skipped {int((negative_price & ~cancelled).sum())} line(s) with a negative price",
    ]
    if not keep_service_lines:
        notes.append(
            f"skipped {int((service & ~cancelled & ~negative).sum())} service line(s) "
            "(stock codes not starting with a digit: postage, manual, carriage, ...)"
        )
    data = raw[keep].copy()
    data["quantity"] = quantity[keep].astype("int64")
    data["price"] = unit[keep].astype("float64")
    local = when[keep].dt.tz_localize(LOCAL_TZ, ambiguous="NaT", nonexistent="shift_forward")
    if local.isna().any():
        # Ambiguous wall-clock hour at the autumn DST change: take the earlier (BST) instant.
        fill = when[keep][local.isna()].dt.tz_localize(LOCAL_TZ, ambiguous=True)
        local = local.fillna(fill)
    data["ts"] = local.dt.tz_convert("UTC")
    customer = data["CustomerID"].str.strip().str.replace(r"\.0$", "", regex=True)
    customer = customer.mask(customer == "")
    events = build_table(
        "events",
        {
            "user_id": pa.array(customer, type=pa.string(), from_pandas=True),
            "session_id": data["InvoiceNo"].to_numpy(),
            "item_id": data["StockCode"].to_numpy(),
            "event_type": pa.array(["order"] * len(data), type=pa.string()),
            "ts": utc_from_series(data["ts"]),
            "quantity": data["quantity"].to_numpy(),
            "price": data["price"].to_numpy(),
        },
    )
    desc = data["Description"].fillna("").str.strip()
    counts = (
        pd.DataFrame({"item_id": data["StockCode"], "title": desc})
        .query("title != ''")
        .value_counts()
        .rename("n")
        .reset_index()
        .sort_values(["item_id", "n", "title"], ascending=[True, False, True])
        .drop_duplicates("item_id")
        .set_index("item_id")["title"]
    )
    prices = data.groupby("StockCode")["price"].median()
    item_ids = np.sort(data["StockCode"].unique())
    items = build_table(
        "items",
        {
            "item_id": item_ids,
            "title": pa.array(pd.Series(item_ids).map(counts), type=pa.string(), from_pandas=True),
            "price": pd.Series(item_ids).map(prices).to_numpy(dtype=np.float64),
        },
    )
    cust = (
        pd.DataFrame({"user_id": customer, "country": data["Country"].str.strip()})
        .dropna(subset=["user_id"])
        .drop_duplicates("user_id")
    )
    users = build_table(
        "users",
        {
            "user_id": cust["user_id"].to_numpy(),
            "attributes": json_strings({"country": c} for c in cust["country"]),
        },
    )
    notes.insert(
        0, f"kept {len(data)} of {len(raw)} lines in {data['InvoiceNo'].nunique()} invoices"
    )
    return LoadResult(tables={"items": items, "users": users, "events": events}, notes=notes)
