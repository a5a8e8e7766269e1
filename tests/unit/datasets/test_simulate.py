"""The shop simulator: exact schemas, determinism, and realism checked against its own truth."""

from __future__ import annotations

import json
import math
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from reclift.datasets.simulate import (
    TABLE_NAMES,
    SimulationConfig,
    SimulationConfigError,
    read_truth,
    simulate,
)
from reclift.schema.tables import TABLES


def _sql(out: Path, query: str) -> list[tuple]:  # type: ignore[type-arg]
    con = duckdb.connect()
    for name in TABLE_NAMES:
        query = query.replace("{" + name + "}", f"read_parquet('{out / (name + '.parquet')}')")
    for path in (out / "truth").glob("*.parquet"):
        query = query.replace("{truth." + path.stem + "}", f"read_parquet('{path}')")
    return con.sql(query).fetchall()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    simulate(SimulationConfig.tiny(seed=3), out, progress=False)
    return out


MID = SimulationConfig(
    seed=11,
    n_users=10_000,
    n_items=5_000,
    n_events=250_000,
    days=28,
    n_complement_pairs=200,
    n_seller_campaigns=100,
    n_ad_campaigns=2,
    exposure_rate=1.0,
    chunk_users=2_500,
)


@pytest.fixture(scope="module")
def mid(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mid")
    simulate(MID, out, progress=False)
    return out


# ---------------------------------------------------------------- contract and determinism


def test_every_table_has_exactly_its_canonical_schema(tiny: Path) -> None:
    for name in TABLE_NAMES:
        path = tiny / f"{name}.parquet"
        schema = pq.read_schema(path).remove_metadata()
        assert schema.equals(TABLES[name].schema), name
        assert pq.ParquetFile(path).metadata.num_rows > 0, name


def test_summary_and_manifest_list_what_was_written(tmp_path: Path) -> None:
    summary = simulate(SimulationConfig.tiny(seed=5), tmp_path, progress=False)
    assert set(summary.tables) == set(TABLE_NAMES)
    for name, path in summary.tables.items():
        assert pq.ParquetFile(path).metadata.num_rows == summary.rows[name]
    manifest = json.loads((tmp_path / "truth" / "manifest.json").read_text())
    assert set(manifest) == set(summary.truth_files)
    assert all(p.exists() for p in summary.truth_files.values())
    assert not (tmp_path / ".simulate-tmp").exists()
    assert summary.events_per_second > 0
    config = json.loads((tmp_path / "truth" / "config.json").read_text())
    assert config["rows"] == summary.rows


def test_read_truth_returns_tables_and_json_and_names_unknown_files(tiny: Path) -> None:
    assert (
        read_truth(tiny, "uplift").num_rows == pq.read_metadata(tiny / "exposures.parquet").num_rows
    )
    assert read_truth(tiny, "banners.json")["logging_policy"] == "softmax"
    with pytest.raises(SimulationConfigError, match="unknown truth file 'nope'; expected one of"):
        read_truth(tiny, "nope")
    with pytest.raises(SimulationConfigError, match="does not exist"):
        read_truth(tiny / "missing", "uplift")


def test_same_seed_gives_byte_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    cfg = SimulationConfig.tiny(seed=9)
    simulate(cfg, tmp_path / "a", progress=False)
    simulate(cfg, tmp_path / "b", progress=False)
    simulate(SimulationConfig.tiny(seed=10), tmp_path / "c", progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert len(files) == len(TABLE_NAMES) + 13
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert (tmp_path / "a" / "events.parquet").read_bytes() != (
        tmp_path / "c" / "events.parquet"
    ).read_bytes()


def test_tables_are_stored_in_their_natural_order(tiny: Path) -> None:
    for name in TABLE_NAMES:
        spec = TABLES[name]
        table = pq.read_table(tiny / f"{name}.parquet")
        if not spec.order_by:
            continue
        idx = table.sort_by([(c, "ascending") for c in spec.order_by])
        assert table.select(spec.order_by).equals(idx.select(spec.order_by)), name


def test_contract_rules_hold(tiny: Path) -> None:
    for name in TABLE_NAMES:
        spec = TABLES[name]
        table = pq.read_table(tiny / f"{name}.parquet")
        for col in spec.required:
            assert table[col].null_count == 0, (name, col)
        for col, allowed in spec.enums.items():
            assert set(table[col].drop_null().to_pylist()) <= set(allowed), (name, col)
        for col in spec.non_negative:
            values = np.asarray(table[col].drop_null().to_numpy(), dtype=float)
            assert (values >= 0).all(), (name, col)
        for col in spec.open_unit_interval:
            values = table[col].to_numpy()
            assert ((values > 0) & (values <= 1)).all(), (name, col)
        for col in spec.json_columns:
            for text in table[col].drop_null().to_pylist():
                assert isinstance(json.loads(text), dict)
        if spec.key:
            keys = table.select(list(spec.key)).to_pylist()
            assert len({tuple(k.values()) for k in keys}) == len(keys), name


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**31),
    n_users=st.integers(1, 150),
    extra_items=st.integers(0, 200),
    days=st.integers(1, 10),
    chunk=st.integers(1, 200),
)
def test_any_small_shop_satisfies_the_contract(
    tmp_path: Path, seed: int, n_users: int, extra_items: int, days: int, chunk: int
) -> None:
    cfg = SimulationConfig.tiny(
        seed=seed,
        n_users=n_users,
        n_items=18 + extra_items,
        n_complement_pairs=min(5, (18 + extra_items) // 2),
        n_seller_campaigns=3,
        n_events=n_users * 20,
        days=days,
        chunk_users=chunk,
    )
    out = tmp_path / f"s{seed}-{n_users}-{extra_items}-{days}-{chunk}"
    summary = simulate(cfg, out, progress=False)
    assert summary.rows["users"] == n_users
    for name in TABLE_NAMES:
        table = pq.read_table(summary.tables[name])
        assert table.schema.remove_metadata().equals(TABLES[name].schema), name
        for col in TABLES[name].required:
            assert table[col].null_count == 0, (name, col)
    events = pq.read_table(summary.tables["events"])
    if events.num_rows:
        ts = events["ts"].cast("int64").to_numpy()
        assert ts.min() >= cfg.start_us()
        assert ts.max() < cfg.start_us() + (days + 1) * 86_400_000_000


def test_quantity_and_price_only_on_carts_and_orders(tiny: Path) -> None:
    rows = _sql(
        tiny,
        "select event_type, count(*) filter (where quantity is null), "
        "count(*) filter (where price is null), count(*) from {events} group by 1",
    )
    for event_type, q_null, p_null, n in rows:
        if event_type in ("cart", "order"):
            assert q_null == 0 and p_null == 0
        else:
            assert q_null == n and p_null == n


def test_foreign_keys_resolve(tiny: Path) -> None:
    for table, col, ref, ref_col in [
        ("events", "item_id", "items", "item_id"),
        ("events", "user_id", "users", "user_id"),
        ("queries", "item_id", "items", "item_id"),
        ("campaigns", "item_id", "items", "item_id"),
        ("exposures", "user_id", "users", "user_id"),
        ("banner_log", "user_id", "users", "user_id"),
    ]:
        (missing,) = _sql(
            tiny,
            f"select count(*) from {{{table}}} t anti join {{{ref}}} r on t.{col} = r.{ref_col}",
        )[0]
        assert missing == 0, (table, col)


def test_times_lie_in_the_simulated_period(tiny: Path) -> None:
    cfg = SimulationConfig.tiny(seed=3)
    lo, hi = _sql(tiny, "select min(epoch_us(ts)), max(epoch_us(ts)) from {events}")[0]
    start_us = cfg.start.timestamp() * 1e6
    assert lo >= start_us
    assert hi < start_us + (cfg.days + 1) * 86400e6


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"n_users": 0}, "n_users=0: must be >= 1"),
        ({"n_events": 0}, "n_events=0: must be >= 1"),
        ({"days": 0}, "days=0: must be between 1 and 3660"),
        ({"seed": -1}, "seed=-1: must be an integer >= 0"),
        ({"start": datetime(2026, 1, 1)}, "must be a timezone-aware datetime"),
        ({"n_items": 5}, "n_items=5: must be >= the number of leaf categories (18)"),
        ({"n_departments": 9}, "n_departments=9: must be between 1 and 8"),
        ({"n_complement_pairs": 300}, "needs two distinct items per pair"),
        ({"keyword_pool_size": 2}, "keyword_pool_size=2: must be >= keywords_per_campaign"),
        ({"treatment_probability": 1.0}, "treatment_probability=1.0: must be in (0, 1)"),
        ({"exposure_rate": 1.5}, "exposure_rate=1.5: must be in [0, 1]"),
        ({"policy_epsilon": 0.0}, "policy_epsilon=0.0: must be in (0, 1]"),
        ({"logging_policy": "greedy"}, "must be 'uniform' or 'softmax'"),
        ({"chunk_users": 0}, "chunk_users=0: must be >= 1"),
        ({"n_positions": 5}, "n_positions=5: must be <= n_banners"),
        (
            {"start": datetime(9999, 12, 30, tzinfo=UTC)},
            "start=9999-12-30T00:00:00+00:00: plus 7 days must end by 9999-12-31",
        ),
    ],
)
def test_bad_settings_are_refused_with_their_name(overrides: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(SimulationConfigError, match="simulation setting") as info:
        SimulationConfig.tiny(**overrides)
    assert message in str(info.value)


def test_output_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(SimulationConfigError, match="not a directory"):
        simulate(SimulationConfig.tiny(), target, progress=False)


def test_optional_parts_can_be_switched_off(tmp_path: Path) -> None:
    cfg = SimulationConfig.tiny(
        n_ad_campaigns=0, n_seller_campaigns=0, n_complement_pairs=0, search_session_rate=0.0
    )
    summary = simulate(cfg, tmp_path, progress=False)
    assert summary.rows["exposures"] == 0
    assert summary.rows["campaigns"] == 0
    assert summary.rows["queries"] == 0
    for name in TABLE_NAMES:
        assert pq.read_schema(summary.tables[name]).remove_metadata().equals(TABLES[name].schema)


def test_memory_is_bounded_by_the_chunk_not_the_run(tmp_path: Path) -> None:
    def peak(n_users: int) -> int:
        cfg = SimulationConfig.tiny(n_users=n_users, n_events=n_users * 30, chunk_users=300)
        tracemalloc.start()
        simulate(cfg, tmp_path / str(n_users), progress=False)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(600), peak(3_000)
    assert large < 1.5 * small


# ---------------------------------------------------------------- realism (mid-size run)


def test_event_count_reaches_the_target(mid: Path) -> None:
    (n,) = _sql(mid, "select count(*) from {events}")[0]
    assert abs(n - MID.n_events) / MID.n_events < 0.15


def test_funnel_ratios_are_in_documented_ranges(mid: Path) -> None:
    counts = dict(_sql(mid, "select event_type, count(*) from {events} group by 1"))
    views, clicks, carts, orders = (counts[t] for t in ("view", "click", "cart", "order"))
    assert views > clicks > carts > orders > 0
    assert 0.15 <= clicks / views <= 0.5
    assert 0.03 <= carts / clicks <= 0.15
    assert 0.2 <= orders / carts <= 0.7


def test_popularity_has_a_long_tail(mid: Path) -> None:
    counts = np.array(
        [
            n
            for (n,) in _sql(
                mid, "select count(*) n from {events} group by item_id order by n desc"
            )
        ]
    )
    top = max(1, MID.n_items // 100)
    assert counts[:top].sum() / counts.sum() >= 0.12
    head = slice(0, len(counts) // 10)
    ranks = np.arange(1, len(counts) + 1)
    slope = np.polyfit(np.log(ranks[head]), np.log(counts[head]), 1)[0]
    assert -1.4 <= slope <= -0.45


def test_session_lengths_are_heavy_tailed(mid: Path) -> None:
    mean, median, longest, p99 = _sql(
        mid,
        "select avg(n), median(n), max(n), quantile_cont(n, 0.99) "
        "from (select count(*) n from {events} group by session_id)",
    )[0]
    assert 4 <= mean <= 20
    assert 2 <= median <= 10
    assert longest >= 60
    assert p99 / median >= 4


def test_users_come_back(mid: Path) -> None:
    share, days_apart = _sql(
        mid,
        "select avg((n >= 2)::int), avg(span) from (select user_id, count(distinct session_id) n,"
        " date_diff('day', min(ts), max(ts)) span from {events} group by 1)",
    )[0]
    assert share >= 0.3
    assert days_apart >= 2


def test_traffic_follows_time_of_day_and_trend(mid: Path) -> None:
    night, evening = _sql(
        mid,
        "select count(*) filter (where hour(ts) between 2 and 5), "
        "count(*) filter (where hour(ts) between 19 and 22) from {events}",
    )[0]
    assert evening > 5 * night
    half = f"TIMESTAMPTZ '{MID.start.isoformat()}' + INTERVAL 14 DAY"
    first, second = _sql(
        mid,
        f"select count(*) filter (where ts < {half}), count(*) filter (where ts >= {half})"
        " from {events}",
    )[0]
    assert second > first


def test_browsing_stays_near_taste_and_category(mid: Path) -> None:
    (same_leaf,) = _sql(
        mid,
        "with v as (select e.session_id, e.ts, i.category from {events} e join {items} i "
        "using (item_id) where event_type = 'view'), "
        "l as (select category, lag(category) over (partition by session_id order by ts) prev "
        "from v)"
        " select avg((category = prev)::int) from l where prev is not null",
    )[0]
    assert same_leaf >= 0.6
    # users view items closer to their taste than random items are
    items = pq.read_table(mid / "truth" / "items.parquet", columns=["item_id", "latent"])
    users = pq.read_table(mid / "truth" / "users.parquet", columns=["user_id", "taste"])
    views = _sql(
        mid,
        "select user_id, item_id from {events} where event_type='view' "
        "using sample 20000 rows (reservoir, 1)",
    )
    item_vec = dict(
        zip(items["item_id"].to_pylist(), np.array(items["latent"].to_pylist()), strict=True)
    )
    user_vec = dict(
        zip(users["user_id"].to_pylist(), np.array(users["taste"].to_pylist()), strict=True)
    )
    seen = np.mean([item_vec[i] @ user_vec[u] for u, i in views])
    rng = np.random.default_rng(0)
    all_items = np.array(items["latent"].to_pylist())
    rand = np.mean([all_items[rng.integers(len(all_items))] @ user_vec[u] for u, _ in views[:5000]])
    assert seen > rand + 0.1


def test_planted_complements_show_lift_over_random_pairs(mid: Path) -> None:
    query = """
    with o as (select distinct user_id, session_id, item_id from {events} where event_type='order'),
         k as (select distinct session_id, item_id from {events} where event_type='cart'),
         s as (select user_id, session_id,
               row_number() over (partition by user_id order by min(ts)) r
               from {events} group by 1, 2),
         a as (select o.user_id, s.r, p.PARTNER as b from o join PAIRS p on o.item_id = p.item_a
               join s using (session_id)),
         kk as (select s.user_id, s.r, k.item_id from k join s using (session_id))
    select count(*), count(*) filter (where exists (select 1 from kk where kk.user_id = a.user_id
           and kk.item_id = a.b and kk.r between a.r and a.r + 1)) from a
    """
    pairs = "{truth.complements}"
    n, hits = _sql(mid, query.replace("PAIRS", pairs).replace("PARTNER", "item_b"))[0]
    shuffled = (
        "(select item_a, lead(item_b, 7) over (order by item_a) as fake from {truth.complements})"
    )
    n0, hits0 = _sql(mid, query.replace("PAIRS", shuffled).replace("PARTNER", "fake"))[0]
    assert n >= 100
    rate, base = hits / n, (hits0 + 1) / (n0 + 1)
    assert rate >= 0.25
    assert rate / base >= 10


def test_search_queries_match_their_truth(mid: Path) -> None:
    n, agree = _sql(
        mid,
        "select count(*), count(*) filter (where coalesce(r.relevance, 0) = q.relevance) "
        "from {queries} q join {truth.queries} t using (query) "
        "left join {truth.query_relevance} r "
        "on r.canonical = t.canonical and r.item_id = q.item_id",
    )[0]
    assert n > 0 and agree == n
    rel = dict(_sql(mid, "select action, avg(relevance) from {queries} group by 1"))
    assert rel["click"] > rel["impression"]
    (typo_share,) = _sql(
        mid, "select avg(t.is_typo::int) from {queries} q join {truth.queries} t using (query)"
    )[0]
    assert 0.02 <= typo_share <= 0.4
    # queries on events are the search sessions' results
    (n_query_events,) = _sql(mid, "select count(*) from {events} where query is not null")[0]
    (n_impressions,) = _sql(mid, "select count(*) from {queries} where action='impression'")[0]
    assert n_query_events >= n_impressions


def test_campaigns_follow_their_true_keyword_rates(mid: Path) -> None:
    bad = _sql(
        mid, "select count(*) from {campaigns} where clicks > impressions or orders > clicks"
    )
    assert bad[0][0] == 0
    (mismatch,) = _sql(
        mid,
        "select count(*) from {truth.campaign_keywords} t full join {campaigns} c "
        "using (campaign_id, keyword) where (t.chosen and c.campaign_id is null) "
        "or (c.campaign_id is not null and not coalesce(t.chosen, false))",
    )[0]
    assert mismatch == 0
    by_rel = _sql(
        mid,
        "select relevance, sum(clicks)::double / sum(impressions), "
        "sum(orders)::double / sum(clicks) "
        "from {campaigns} c join {truth.campaign_keywords} t using (campaign_id, keyword) "
        "group by 1 order by 1",
    )
    ctrs = [ctr for _, ctr, _ in by_rel]
    assert ctrs == sorted(ctrs)
    ratio = _sql(
        mid,
        "select sum(c.clicks) / sum(c.impressions * t.true_ctr) from {campaigns} c "
        "join {truth.campaign_keywords} t using (campaign_id, keyword)",
    )[0][0]
    assert 0.9 <= ratio <= 1.1


def test_exposure_lift_matches_true_uplift(mid: Path) -> None:
    rows = _sql(
        mid,
        "select e.campaign_id, "
        "avg(converted::int) filter (where e.treatment), count(*) filter (where e.treatment), "
        "avg(converted::int) filter (where not e.treatment), "
        "count(*) filter (where not e.treatment),"
        " avg(t.uplift), avg(t.revenue_uplift), "
        "avg(revenue) filter (where e.treatment) - avg(revenue) filter (where not e.treatment), "
        "stddev(revenue) from {exposures} e join {truth.uplift} t using (campaign_id, user_id) "
        "group by 1",
    )
    assert len(rows) == MID.n_ad_campaigns
    for _, p1, n1, p0, n0, true_uplift, true_rev, rev_diff, rev_sd in rows:
        se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
        assert abs((p1 - p0) - true_uplift) <= 4 * se
        assert abs(rev_diff - true_rev) <= 4 * rev_sd * math.sqrt(1 / n1 + 1 / n0)
        assert 0.4 <= n1 / (n1 + n0) <= 0.6
    segments = dict(_sql(mid, "select segment, avg(uplift) from {truth.uplift} group by 1"))
    assert segments["persuadable"] > 0.02
    assert segments["sleeping_dog"] < -0.01
    assert abs(segments["sure_thing"]) < 0.01 and abs(segments["lost_cause"]) < 0.01


def test_uplift_depends_on_observable_user_features(mid: Path) -> None:
    rows = _sql(
        mid,
        "select json_extract_string(u.attributes, '$.age_band') age, avg(t.uplift) "
        "from {truth.uplift} t join {users} u using (user_id) group by 1 order by 1",
    )
    by_age = dict(rows)
    assert by_age["18-24"] > 0.03
    assert by_age["65+"] < 0.0


def test_banner_ctr_per_arm_matches_truth(mid: Path) -> None:
    rows = _sql(
        mid,
        "with b as (select *, json_extract_string(context, '$.age_band') age_band, "
        "json_extract_string(context, '$.device') device, "
        "json_extract_string(context, '$.region') region from {banner_log}) "
        "select banner_id, count(*), avg(reward), avg(t.true_ctr), "
        "max(abs(b.propensity - t.propensity)), min(b.propensity), max(b.propensity) "
        "from b join {truth.banner_ctr} t using (banner_id, position, age_band, device, region) "
        "group by 1",
    )
    assert len(rows) == MID.n_banners
    for _, n, empirical, truth, prop_err, lo, hi in rows:
        assert abs(empirical - truth) <= 4 * math.sqrt(truth * (1 - truth) / n)
        assert prop_err < 1e-12
        assert 0 < lo <= hi <= 1
    # the logged propensities of each context and position sum to one over banners
    (worst,) = _sql(
        mid,
        "select max(abs(s - 1)) from (select position, age_band, device, region, sum(propensity) s "
        "from {truth.banner_ctr} group by 1, 2, 3, 4)",
    )[0]
    assert worst < 1e-9


def test_slates_show_distinct_banners_with_exact_marginal_propensities(tiny: Path) -> None:
    (dupes,) = _sql(
        tiny,
        "select count(*) from (select ts, user_id, banner_id from {banner_log} "
        "group by all having count(*) > 1)",
    )[0]
    assert dupes == 0
    from reclift.datasets.simulation.banners import slate_marginals

    rng = np.random.default_rng(4)
    weights = rng.dirichlet(np.ones(5), size=3)
    exact = slate_marginals(weights, 3)
    n = 200_000
    keys = np.log(weights[0]) + rng.gumbel(size=(n, 5))
    slates = np.argsort(-keys, axis=1)[:, :3]
    for p in range(3):
        freq = np.bincount(slates[:, p], minlength=5) / n
        assert np.allclose(freq, exact[0, :, p], atol=4e-3)
    assert np.allclose(exact.sum(axis=1), 1.0)
    assert np.allclose(exact[:, :, 0], weights)


def test_uniform_logging_policy(tmp_path: Path) -> None:
    simulate(SimulationConfig.tiny(logging_policy="uniform"), tmp_path, progress=False)
    props = pq.read_table(tmp_path / "banner_log.parquet")["propensity"].to_numpy()
    assert np.allclose(props, 1 / SimulationConfig.tiny().n_banners)


# ---------------------------------------------------------------- CLI


def _cli() -> typer.Typer:
    from reclift.cli.simulate import register

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    return app


def test_cli_writes_tables_and_reports_counts(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        _cli(),
        ["simulate", str(tmp_path), "--users", "200", "--items", "300", "--events", "4000",
         "--days", "5", "--seed", "1", "--no-progress"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "events" in result.output and "truth" in result.output
    for name in TABLE_NAMES:
        assert (tmp_path / f"{name}.parquet").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "0"], "n_users=0"),
        (["--start", "yesterday"], "--start 'yesterday' is not an ISO 8601"),
        (["--logging-policy", "greedy"], "--logging-policy 'greedy'"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from reclift.cli.main import main

    with pytest.raises(SystemExit) as info:
        main(["simulate", str(tmp_path / "out"), "--no-progress", *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


# ---------------------------------------------------------------- large


@pytest.mark.slow
def test_large_run_keeps_schemas_and_target(tmp_path: Path) -> None:
    cfg = SimulationConfig(n_users=80_000, n_items=40_000, n_events=2_000_000, seed=2)
    summary = simulate(cfg, tmp_path, progress=False)
    assert abs(summary.rows["events"] - cfg.n_events) / cfg.n_events < 0.1
    for name in TABLE_NAMES:
        assert pq.read_schema(summary.tables[name]).remove_metadata().equals(TABLES[name].schema)
