"""The two-stage ranker: leakage-free training split, LightGBM text models, learned signal."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from reclift.errors import SchemaError
from reclift.evaluation.sessions import otto_score, truncate_sessions
from reclift.models.errors import InvalidParameterError
from reclift.models.sessions import CovisitationRecommender, TwoStageRanker, training_split
from reclift.models.sessions.base import check_events
from reclift.models.sessions.ranker import (
    CATALOG_FEATURES,
    SESSION_FEATURES,
    UNRANKED,
    catalog_features,
    item_catalog,
    session_features,
)
from reclift.pipelines.candidates import FEATURES
from reclift.pipelines.covisitation import MATRICES
from reclift.schema.tables import TIMESTAMP

T0 = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def planted_log(n_sessions: int = 120, seed: int = 3) -> pa.Table:
    """Sessions over 20 days; every session ends with its own item 'L<s>' (always a label).

    Items pair up (2j -> 2j+1): clicking 2j is followed by carting 2j+1.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sessions):
        t = T0 + dt.timedelta(hours=float(rng.uniform(0, 480)))
        for _ in range(int(rng.integers(2, 6))):
            a = int(rng.integers(0, 12)) * 2
            for item, kind in ((a, "click"), (a + 1, "click"), (a + 1, "cart")):
                t += dt.timedelta(minutes=float(rng.uniform(1, 4)))
                rows.append((f"s{s:03d}", f"i{item}", kind, t))
        rows.append((f"s{s:03d}", f"L{s}", "order", t + dt.timedelta(minutes=1)))
    return check_events(
        pa.table(
            {
                "session_id": [r[0] for r in rows],
                "item_id": [r[1] for r in rows],
                "event_type": [r[2] for r in rows],
                "ts": pa.array([r[3] for r in rows], TIMESTAMP),
            }
        )
    )


LOG = planted_log()


def test_no_label_period_event_reaches_features() -> None:
    model = TwoStageRanker(label_fraction=0.3)
    model.targets_ = ("clicks", "carts", "orders")
    split, cands = model.training_data(LOG)
    assert cands is not None and split.labels
    # Features come only from events strictly before the cutoff ...
    assert pc.all(pc.less(split.feature_events.column("ts"), split.cutoff)).as_py()
    label_sessions = set(split.labels)
    feature_sessions = set(split.feature_events.column("session_id").to_pylist())
    assert not label_sessions & feature_sessions
    # ... and no label event is in a session's history: each history ends before its labels.
    hist = split.history.to_pandas()
    full = LOG.to_pandas()
    for session, truth in split.labels.items():
        h = hist[hist.session_id == session]
        rest = full[full.session_id == session].iloc[len(h) :]
        assert rest.ts.min() >= h.ts.max()
        assert set(truth.get("orders", [])) <= set(rest.item_id)
    # The planted last items L<s> of label sessions exist only after the cut: no feature of
    # theirs may be non-zero (popularity or co-visitation would reveal the future).
    rows = cands.to_pandas()
    planted = rows[rows.item_id.isin([f"L{s[1:].lstrip('0') or '0'}" for s in label_sessions])]
    leak_cols = [c for c in FEATURES if c.startswith(("pop_", "cv_", "h_"))]
    leak_cols = [c for c in leak_cols if c not in ("h_last_rev", "h_secs")]
    assert {"h_view", "h_click_only", "h_last_type"} <= set(leak_cols)
    assert planted[leak_cols].to_numpy().sum() == 0.0
    assert (planted.h_last_rev == 1000).all()


def test_split_cutoff_and_sample() -> None:
    split = training_split(LOG, label_fraction=0.5, seed=1, max_sessions=5)
    assert len({*split.history.column("session_id").to_pylist()}) == 5
    t = LOG.column("ts")
    lo, hi = pc.min(t).value, pc.max(t).value
    assert split.cutoff.value == int(lo + 0.5 * (hi - lo))


@pytest.mark.slow
def test_ranker_saves_lightgbm_text_and_learns_the_planted_pairs(tmp_path: object) -> None:
    from pathlib import Path

    model = TwoStageRanker(n_estimators=30, label_fraction=0.4, min_data_in_leaf=5).fit(LOG)
    assert model.fit_report_["targets"]["carts"]["model"] == "lightgbm"
    artifact = model.save(Path(str(tmp_path)))
    text = (artifact.path / "lgbm_carts.txt").read_text()
    assert text.startswith("tree") and "feature_names=" in text
    test_log = planted_log(60, seed=11)
    history, labels = truncate_sessions(test_log, seed=5)
    ranker = otto_score(model.recommend(history, 20).as_predictions(), labels)
    rules = CovisitationRecommender().fit(LOG)
    base = otto_score(rules.recommend(history, 20).as_predictions(), labels)
    # Carts follow planted pairs both models see; the ranker must at least match the rules.
    assert ranker.recall["carts"] >= 0.8
    assert ranker.recall["carts"] >= base.recall["carts"] - 0.05


def test_several_cuts_per_session_stay_leakage_free() -> None:
    one = training_split(LOG, label_fraction=0.3, seed=2)
    three = training_split(LOG, label_fraction=0.3, seed=2, cuts_per_session=3)
    base = {s.split("#")[0] for s in three.labels}
    assert base <= {*one.history.column("session_id").to_pylist()}
    assert len(three.history.column("session_id").unique()) == 3 * len(
        one.history.column("session_id").unique()
    )
    assert three.feature_events.equals(one.feature_events)


# ---------------------------------------------------------------- context and catalogue

#: Session-context columns of the candidate pipeline checked against the slow reference.
CONTEXT = (
    "h_view",
    "h_click_only",
    "h_last_type",
    "s_n_click",
    "s_n_cart",
    "s_n_order",
    "s_last_type",
    *(f"cv_{kind}_last" for kind in MATRICES),
)


def _catalog_for(log: pa.Table) -> pa.Table:
    """Pairs 2j/2j+1 share a leaf; planted last items L<s> have a leaf of their own."""
    ids = sorted(set(log.column("item_id").to_pylist()))
    cats, brands, prices = [], [], []
    for i in ids:
        if i.startswith("L"):
            cats.append("Z>Z>planted")
            brands.append("zb")
            prices.append(5.0)
        else:
            j = int(i[1:])
            cats.append(f"D{j % 3}>S{j % 6}>leaf{j // 2}")
            brands.append(None if j % 5 == 0 else f"b{j % 4}")
            prices.append(None if j % 7 == 0 else 10.0 + j)
    return pa.table(
        {
            "item_id": ids,
            "category": cats,
            "brand": pa.array(brands, pa.string()),
            "price": pa.array(prices, pa.float64()),
        }
    )


CATALOG = _catalog_for(LOG)


def _last_item_neighbours(neighbours: pa.Table, n_expand: int) -> dict[tuple[str, str], dict]:
    """(kind, item) -> {neighbour: score / best score}, over the ``rank <= n_expand`` rows."""
    lists: dict[tuple[str, str], dict[str, float]] = {}
    for r in neighbours.to_pylist():
        if r["rank"] <= n_expand:
            lists.setdefault((r["kind"], r["item_a"]), {})[r["item_b"]] = float(r["score"])
    return {key: {b: v / max(row.values()) for b, v in row.items()} for key, row in lists.items()}


def _reference_context(
    cands: pa.Table, history: pa.Table, catalog: pa.Table | None, neighbours: pa.Table
) -> dict[str, list[float]]:
    """Slow per-row rewrite of the context and catalogue features from their definitions."""
    near = _last_item_neighbours(neighbours, 20)
    attrs = {}
    if catalog is not None:
        cat = item_catalog(catalog).to_pylist()
        attrs = {r["item_id"]: r for r in cat}
    code = {"view": 1, "click": 2, "cart": 3, "order": 4}
    by_session: dict[str, list[tuple[int, int, str]]] = {}
    for r in history.to_pylist():
        ts = int(r["ts"].timestamp() * 1_000_000)
        by_session.setdefault(r["session_id"], []).append((ts, code[r["event_type"]], r["item_id"]))
    out: dict[str, list[float]] = {}
    for row in cands.select(["session_id", "item_id"]).to_pylist():
        ev = sorted(by_session.get(row["session_id"], []))
        item = row["item_id"]
        mine = [e for e in ev if e[2] == item]
        f = {
            "h_view": sum(e[1] == 1 for e in mine),
            "h_click_only": sum(e[1] == 2 for e in mine),
            "h_last_type": mine[-1][1] if mine else 0,
            "s_n_click": sum(e[1] == 2 for e in ev),
            "s_n_cart": sum(e[1] == 3 for e in ev),
            "s_n_order": sum(e[1] == 4 for e in ev),
            "s_last_type": ev[-1][1] if ev else 0,
        }
        # The latest event's item expands alone; buy2buy only if the session bought it.
        last = ev[-1][2] if ev else None
        bought = any(e[2] == last and e[1] >= 3 for e in ev)
        for kind in MATRICES:
            on = kind != "buy2buy" or bought
            f[f"cv_{kind}_last"] = near.get((kind, last), {}).get(item, 0.0) if on else 0.0
        if catalog is not None:
            me = attrs.get(item, {})
            n = len(ev)
            for lvl in ("leaf", "sub", "dept", "brand"):
                v = me.get(lvl)
                hits = [
                    0.5 ** ((n - p) / 5.0)
                    for p, e in enumerate(ev)
                    if v is not None and attrs.get(e[2], {}).get(lvl) == v
                ]
                f[f"c_{lvl}_share"] = len(hits) / n if n else 0.0
                f[f"c_{lvl}_wshare"] = sum(hits)
                last = attrs.get(ev[-1][2], {}).get(lvl) if ev else None
                f[f"c_{lvl}_same_last"] = float(v is not None and v == last)
            rel = me.get("rel_price")
            rel = float("nan") if rel is None else rel
            known = [attrs[e[2]]["rel_price"] for e in ev if e[2] in attrs]
            known = [x for x in known if x is not None and x == x]
            f["c_rel_price"] = rel
            f["c_price_gap"] = rel - (sum(known) / len(known) if known else float("nan"))
        for k, v in f.items():
            out.setdefault(k, []).append(float(v))
    return out


@pytest.mark.parametrize("with_catalog", [False, True])
def test_context_and_catalogue_features_equal_a_slow_reference(with_catalog: bool) -> None:
    history, _ = truncate_sessions(planted_log(40, seed=8), seed=2)
    # Unknown items (absent from the catalogue) and same-instant events in the history.
    extra = check_events(
        pa.table(
            {
                "session_id": ["s000", "s000", "s001"],
                "item_id": ["new1", "i4", "new2"],
                "event_type": ["view", "cart", "click"],
                "ts": pa.array([T0 + dt.timedelta(days=40)] * 3, TIMESTAMP),
            }
        )
    )
    history = pa.concat_tables([history, extra])
    model = CovisitationRecommender().fit(LOG)
    cands = model.candidates(history)
    catalog = CATALOG if with_catalog else None
    got = cands if catalog is None else catalog_features(cands, history, item_catalog(catalog))
    want = _reference_context(cands, history, catalog, model.index_.neighbours)
    names = [*CONTEXT, *(CATALOG_FEATURES if with_catalog else ())]
    assert got.column_names == [*cands.column_names, *names[len(CONTEXT) :]]
    for name in names:
        np.testing.assert_allclose(
            got.column(name).to_numpy(), np.asarray(want[name]), rtol=1e-9, err_msg=name
        )
    # Some rows of every kind, or the comparison above proves little.
    assert set(want["h_last_type"]) >= {0.0, 1.0, 2.0, 3.0}
    for kind in MATRICES:
        assert 0 < np.count_nonzero(want[f"cv_{kind}_last"]) < len(want[f"cv_{kind}_last"])
    if with_catalog:
        assert 0 < np.mean(want["c_leaf_same_last"]) < 1
        assert np.isnan(want["c_rel_price"]).any() and not np.isnan(want["c_rel_price"]).all()


def test_item_catalog_relative_price_and_levels() -> None:
    items = pa.table(
        {
            "item_id": ["a", "b", "c", "d", "e"],
            "category": ["X>Y>z", "X>Y>z", "X>Y>z", "X>W", None],
            "price": [10.0, 20.0, 40.0, 0.0, 3.0],
        }
    )
    cat = item_catalog(items).to_pydict()
    assert cat["leaf"] == ["X>Y>z", "X>Y>z", "X>Y>z", "X>W", None]
    assert cat["sub"] == ["X>Y", "X>Y", "X>Y", "X>W", None]
    assert cat["dept"] == ["X", "X", "X", "X", None]
    assert cat["brand"] == [None] * 5
    # log(price) over the leaf's median (20): -log 2, 0, +log 2; a zero price is unknown.
    np.testing.assert_allclose(cat["rel_price"][:3], [-np.log(2), 0.0, np.log(2)])
    assert cat["rel_price"][3] is None


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (pa.table({"item_id": ["a"]}), "items: missing column 'category'"),
        (pa.table({"category": ["x"]}), "items: missing column 'item_id'"),
        (
            pa.table({"item_id": pa.array([None], pa.string()), "category": ["x"]}),
            "items: column 'item_id' has nulls",
        ),
        ({"item_id": ["a"]}, "items must be a pyarrow Table, got dict"),
    ],
)
def test_item_catalog_rejects_bad_tables(items: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        TwoStageRanker(n_estimators=2).fit(LOG, items=items)  # type: ignore[arg-type]


def test_catalogue_features_stay_leakage_free() -> None:
    model = TwoStageRanker(label_fraction=0.3)
    model.targets_ = ("clicks", "carts", "orders")
    model.catalog_ = item_catalog(CATALOG)
    split, cands = model.training_data(LOG)
    assert cands is not None
    assert cands.column_names[-len(CATALOG_FEATURES) :] == list(CATALOG_FEATURES)
    rows = cands.to_pandas()
    # The planted items exist only after each cut: nothing the session did may mention them.
    planted = rows[rows.item_id.str.startswith("L")]
    assert len(planted)
    zero = [
        *CONTEXT[:3],
        *(
            f"c_{lvl}_{s}"
            for lvl in ("leaf", "sub", "dept", "brand")
            for s in ("share", "wshare", "same_last")
        ),
    ]
    assert planted[zero].to_numpy().sum() == 0.0
    # Every catalogue feature is a function of the truncated history alone.
    again = catalog_features(
        cands.drop_columns(list(CATALOG_FEATURES)), split.history, model.catalog_
    )
    assert again.to_pandas().equals(rows)  # NaN prices compare equal here


@pytest.mark.slow
def test_ranker_with_catalogue_online_equals_batch_and_survives_save(tmp_path: object) -> None:
    from pathlib import Path

    model = TwoStageRanker(n_estimators=20, label_fraction=0.4, min_data_in_leaf=5)
    model.fit(LOG, items=CATALOG)
    assert model.catalog_ is not None
    n_features = len(FEATURES) + len(SESSION_FEATURES) + len(CATALOG_FEATURES) + 1
    assert model.boosters_["carts"].num_feature() == n_features
    loaded = TwoStageRanker.load(model.save(Path(str(tmp_path))))
    assert loaded.catalog_ is not None and loaded.catalog_.equals(model.catalog_)
    history, _ = truncate_sessions(planted_log(30, seed=12), seed=4)
    batch = model.recommend(history, 20)
    again = loaded.recommend(history, 20)
    for target in batch.targets:
        assert again.items[target].tolist() == batch.items[target].tolist()
    sessions = batch.session_ids.tolist()[:6]
    for i, s in enumerate(sessions):
        one = history.filter(pc.equal(history.column("session_id"), s))
        online = loaded.recommend_session(
            one.column("item_id").to_pylist(),
            one.column("event_type").to_pylist(),
            one.column("ts").cast(pa.int64()).to_pylist(),
            20,
            session_id=s,
        )
        for target in batch.targets:
            assert online.items[target][0].tolist() == batch.items[target][i].tolist()
            assert online.scores[target][0] == pytest.approx(batch.scores[target][i], rel=1e-5)


def _reference_session_features(cands: pa.Table) -> np.ndarray:
    """Slow rewrite of :func:`session_features`: a loop over each session's rows."""
    rows = cands.to_pylist()
    out = np.zeros((len(rows), len(SESSION_FEATURES)))
    by_session: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_session.setdefault(r["session_id"], []).append(i)
    for idx in by_session.values():
        for i in idx:
            r = rows[i]
            f = {
                "r_cart_click": (r["pop_cart"] + 1) / (r["pop_click"] + 20),
                "r_order_cart": (r["pop_order"] + 1) / (r["pop_cart"] + 3),
                "r_order_click": (r["pop_order"] + 1) / (r["pop_click"] + 50),
            }
            for name, src in [
                *((f"cv_{k}", f"cv_{k}_w") for k in MATRICES),
                ("h_score", "h_score"),
            ]:
                v = r[src]
                # Rows before i with a larger or equal value come first (ties in row order).
                ahead = sum(
                    rows[j][src] > v or (rows[j][src] == v and j < i) for j in idx if j != i
                )
                f[f"{name}_rank"] = ahead if v > 0 else UNRANKED
                best = max(rows[j][src] for j in idx)
                f[f"{name}_rel"] = v / best if best > 0 else 0.0
            out[i] = [f[name] for name in SESSION_FEATURES]
    return out


def test_session_features_equal_a_slow_reference_and_need_only_the_session() -> None:
    history, _ = truncate_sessions(planted_log(40, seed=8), seed=2)
    cands = CovisitationRecommender().fit(LOG).candidates(history)
    got = session_features(cands)
    want = _reference_session_features(cands)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # Both ranked and unranked rows of every source, or the comparison proves little.
    for j, name in enumerate(SESSION_FEATURES):
        if name.endswith("_rank"):
            assert 0 < np.count_nonzero(want[:, j] == UNRANKED) < len(want), name
    # One session's rows alone (the online path) give the same values as in the batch.
    sessions = cands.column("session_id")
    for s in sessions.unique().to_pylist()[:5]:
        mask = pc.equal(sessions, s)
        np.testing.assert_array_equal(
            session_features(cands.filter(mask)), got[mask.to_numpy(zero_copy_only=False)]
        )


def test_models_of_an_older_feature_layout_fail_to_load(tmp_path: object) -> None:
    from pathlib import Path

    import lightgbm as lgb

    from reclift.errors import ArtifactError

    fitted = CovisitationRecommender().fit(LOG)
    model = TwoStageRanker()
    model.targets_ = fitted.targets_
    model.index_ = fitted.index_
    # The layout before SESSION_FEATURES: pipeline features and the rules score.
    rng = np.random.default_rng(0)
    x = rng.random((200, len(FEATURES) + 1))
    data = lgb.Dataset(x, label=(x[:, 0] > 0.5).astype(int))
    model.boosters_ = {"carts": lgb.train({"objective": "binary", "verbosity": -1}, data, 2)}
    path = model.save(Path(str(tmp_path)))
    n = len(model.feature_names())
    with pytest.raises(ArtifactError, match=rf"has {len(FEATURES) + 1} features, expected {n}"):
        TwoStageRanker.load(path)


def test_model_without_catalogue_ignores_none() -> None:
    model = TwoStageRanker()
    model.targets_ = ("clicks",)
    assert model.feature_names() == [*FEATURES, *SESSION_FEATURES, "rules"]
    model.catalog_ = item_catalog(CATALOG)
    assert model.feature_names() == [*FEATURES, *SESSION_FEATURES, *CATALOG_FEATURES, "rules"]


def test_orders_model_learns_from_carts_and_orders() -> None:
    params = {
        "n_estimators": 5,
        "label_fraction": 0.4,
        "min_data_in_leaf": 5,
        "max_train_candidates": 1000,
    }
    pooled = TwoStageRanker(**params).fit(LOG)
    alone = TwoStageRanker(**params, orders_from_carts=False).fit(LOG)
    split, cands = pooled.training_data(LOG)
    assert cands is not None
    sessions = cands.column("session_id").to_pylist()
    items = cands.column("item_id").to_pylist()
    # Every training candidate is within the cap here: count the sessions directly.
    assert max(map(sessions.count, set(sessions))) <= pooled.max_train_candidates

    def with_positive(targets: tuple[str, ...]) -> int:
        hit = {
            s
            for s, i in zip(sessions, items, strict=True)
            if any(i in split.labels.get(s, {}).get(t, ()) for t in targets)
        }
        return len(hit)

    got, base = pooled.fit_report_["targets"]["orders"], alone.fit_report_["targets"]["orders"]
    assert got["labels"] == "carts or orders" and base["labels"] == "orders"
    assert got["sessions"] == with_positive(("carts", "orders"))
    assert base["sessions"] == with_positive(("orders",))
    assert got["sessions"] > base["sessions"]
    # Carts keep their own labels.
    assert pooled.fit_report_["targets"]["carts"]["labels"] == "carts"


def test_orders_from_carts_must_be_a_bool() -> None:
    with pytest.raises(InvalidParameterError, match="orders_from_carts must be a bool, got 1"):
        TwoStageRanker(orders_from_carts=1).fit(LOG)  # type: ignore[arg-type]
