"""CLI commands: ``reclift uplift fit|predict|segment`` and ``reclift simulate-roi`` (file mode).

::

    reclift uplift fit --data FILE --treatment-col T --outcome-col Y --model-dir DIR
        [--control-value V] [--feature-cols a,b|auto] [--exclude-cols c,d] [--id-col ID]
        [--learner t|s|x|dr|ct] [--base lightgbm|linear] [--propensity constant|model]
    reclift uplift predict --model-dir DIR --data FILE --out FILE [--id-col ID]
    reclift uplift segment --model-dir DIR --data FILE --out FILE
        (--top-k N | --top-share S | --threshold X | --budget B --cost-per-contact C)
        [--value-per-unit V]
    reclift uplift train WORKSPACE --model-dir DIR [--campaign C] [--outcome converted|revenue]
    reclift uplift features WORKSPACE --out FILE     (user features: the --data of predict)
    reclift simulate-roi --data FILE --treatment-col T --outcome-col Y
        --cost-per-contact C --value-per-unit V --budgets B1,B2,... [--truth-col TAU]
        [--out FILE] [--report FILE.html]

Inputs are CSV/TSV (optionally gzipped) or Parquet. Text columns whose every value is a
number are numeric features; other text columns are categorical; empty cells are missing.
``--feature-cols auto`` uses every column except the treatment, outcome, id and
``--exclude-cols`` columns (exclude other outcomes, e.g. Hillstrom's ``spend``, or they
leak). ``predict`` writes one row per input row in input order: the id (when known),
``uplift`` (of the best treatment), one ``uplift_<treatment>`` column per treatment and
``best_treatment``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import pyarrow as pa
import typer
from rich.console import Console

from reclift.errors import ReclifError, SchemaError
from reclift.io import read_table, write_table
from reclift.models.errors import InvalidParameterError
from reclift.models.persist import resolve_artifact
from reclift.models.targeting import get_uplift_model, load_uplift_model
from reclift.models.targeting.audience import score_table, select_audience
from reclift.models.targeting.base import UpliftModel, arm_label

console = Console(stderr=True)

uplift_app = typer.Typer(
    name="uplift",
    help="Uplift (incrementality) targeting on plain files: fit, predict, segment.",
    no_args_is_help=True,
)


def _split_cols(text: str | None) -> list[str]:
    return [c.strip() for c in (text or "").split(",") if c.strip()]


def _numeric_or_text(col: pd.Series) -> pd.Series:
    """A text column whose every non-empty value parses as a number becomes numeric."""
    if pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
        return col
    stripped = col.astype(object).where(col.notna(), None)
    values = pd.Series(
        [None if v is None or str(v).strip() == "" else str(v).strip() for v in stripped],
        dtype=object,
        index=col.index,
    )
    parsed = pd.to_numeric(values, errors="coerce")
    if parsed.notna().sum() == values.notna().sum():
        return parsed.astype(np.float64)
    return values


def _read_frame(path: Path) -> pd.DataFrame:
    table = read_table(path)
    if table.num_rows == 0:
        raise SchemaError(f"{path}: no rows")
    # Parquet written by pandas may carry an index: rows are addressed by position only.
    frame: pd.DataFrame = table.to_pandas().reset_index(drop=True)
    return frame


def _need(frame: pd.DataFrame, col: str, option: str, source: Path) -> None:
    if col not in frame.columns:
        raise SchemaError(
            f"{source}: missing column {col!r} ({option}); the file has {list(frame.columns)}"
        )


def _feature_columns(
    frame: pd.DataFrame,
    feature_cols: str,
    reserved: list[str],
    exclude: list[str],
    source: Path,
) -> list[str]:
    for col in exclude:
        _need(frame, col, "--exclude-cols", source)
    if feature_cols.strip() == "auto":
        cols = [c for c in frame.columns if c not in reserved and c not in exclude]
    else:
        cols = _split_cols(feature_cols)
        for col in cols:
            _need(frame, col, "--feature-cols", source)
        clash = [c for c in cols if c in reserved]
        if clash:
            raise SchemaError(
                f"--feature-cols: {clash} is the treatment, outcome or id column; "
                "a feature cannot be one of them"
            )
    if not cols:
        raise SchemaError(f"{source}: no feature columns left (see --feature-cols)")
    return cols


def _features(frame: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: _numeric_or_text(frame[c]) for c in cols})


def _outcome(frame: pd.DataFrame, col: str, source: Path) -> np.ndarray:
    values = _numeric_or_text(frame[col])
    if not pd.api.types.is_numeric_dtype(values.dtype):
        bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(
            f"{source}: column {col!r}, row {row + 1}: {values.iloc[row]!r} is not a number "
            "(the outcome must be 0/1 or an amount)"
        )
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise SchemaError(f"{source}: column {col!r}, row {row + 1}: empty outcome")
    out: np.ndarray = np.asarray(values.to_numpy(dtype=np.float64), dtype=np.float64)
    return out


def _treatment(frame: pd.DataFrame, col: str, source: Path) -> np.ndarray:
    values = frame[col]
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise SchemaError(f"{source}: column {col!r}, row {row + 1}: empty treatment")
    parsed = _numeric_or_text(values)
    return np.asarray([arm_label(v) for v in parsed.tolist()], dtype=object)


def _with_source(exc: SchemaError, source: Path) -> SchemaError:
    msg = exc.message if exc.message.startswith(str(source)) else f"{source}: {exc.message}"
    return SchemaError(msg, hint=exc.hint)


@uplift_app.command("fit")
def fit(
    data: Annotated[Path, typer.Option("--data", help="Trial file (CSV/TSV/Parquet).")],
    treatment_col: Annotated[str, typer.Option("--treatment-col", help="Arm column.")],
    outcome_col: Annotated[str, typer.Option("--outcome-col", help="Outcome column.")],
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Output model directory.")],
    control_value: Annotated[
        str | None,
        typer.Option("--control-value", help="Control arm value (default 0/false/control)."),
    ] = None,
    feature_cols: Annotated[
        str, typer.Option("--feature-cols", help="Comma-separated feature columns, or auto.")
    ] = "auto",
    exclude_cols: Annotated[
        str | None,
        typer.Option("--exclude-cols", help="With auto: columns to leave out (other outcomes)."),
    ] = None,
    id_col: Annotated[str | None, typer.Option("--id-col", help="Customer id column.")] = None,
    learner: Annotated[str, typer.Option("--learner", help="t, s, x, dr or ct.")] = "t",
    base: Annotated[str, typer.Option("--base", help="lightgbm or linear.")] = "lightgbm",
    outcome: Annotated[str, typer.Option("--outcome", help="auto, binary or continuous.")] = "auto",
    propensity: Annotated[
        str,
        typer.Option("--propensity", help="constant (randomised) or model (observational)."),
    ] = "constant",
    n_estimators: Annotated[int, typer.Option("--n-estimators", help="LightGBM trees.")] = 100,
) -> None:
    """Fit an uplift model on a trial file and publish it under --model-dir."""
    cls = get_uplift_model(learner)
    frame = _read_frame(data)
    _need(frame, treatment_col, "--treatment-col", data)
    _need(frame, outcome_col, "--outcome-col", data)
    if id_col is not None:
        _need(frame, id_col, "--id-col", data)
    reserved = [c for c in (treatment_col, outcome_col, id_col) if c is not None]
    cols = _feature_columns(frame, feature_cols, reserved, _split_cols(exclude_cols), data)
    y = _outcome(frame, outcome_col, data)
    t = _treatment(frame, treatment_col, data)
    model = cls(base=base, outcome=outcome, propensity=propensity, n_estimators=n_estimators)
    try:
        model.fit(_features(frame, cols), y, t, control=control_value)
    except SchemaError as exc:
        raise _with_source(exc, data) from None
    artifact = model.save(
        model_dir,
        meta={
            "file_mode": {
                "data": str(data),
                "treatment_col": treatment_col,
                "outcome_col": outcome_col,
                "id_col": id_col,
                "feature_cols": cols,
                "n_rows": len(frame),
            }
        },
    )
    console.print(
        f"fitted [bold]{learner}[/] ({model.outcome_type_} outcome, control "
        f"{model.control_!r}, treatments {model.treatments_}) on {len(frame):,} rows from "
        f"{data} -> {artifact.path}",
        highlight=False,
    )


def _score(
    model_dir: Path, data: Path, id_col: str | None, name: str | None
) -> tuple[UpliftModel, pa.Table]:
    artifact = resolve_artifact(model_dir, name)
    model = load_uplift_model(artifact)
    file_mode = artifact.meta.get("file_mode") or {}
    frame = _read_frame(data)
    cols = list(file_mode.get("feature_cols") or model.feature_spec_.order)
    cols = [c for c in cols if c in model.feature_spec_.order]
    for c in cols:
        _need(frame, c, "a feature used at fit", data)
    ident = id_col if id_col is not None else file_mode.get("id_col")
    if id_col is not None:
        _need(frame, id_col, "--id-col", data)
    ids = None
    if ident is not None and ident in frame.columns:
        ids = frame[ident].astype(object).where(frame[ident].notna(), None).tolist()
    try:
        table = score_table(model, _features(frame, cols), ids, id_column=str(ident))
    except SchemaError as exc:
        raise _with_source(exc, data) from None
    return model, table


@uplift_app.command("predict")
def predict(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Model directory from fit.")],
    data: Annotated[Path, typer.Option("--data", help="Customers to score (CSV/Parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="Id column (default: the one used at fit).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Model name in --model-dir.")] = None,
) -> None:
    """Score every row of --data: uplift per treatment and the best treatment."""
    _, table = _score(model_dir, data, id_col, name)
    write_table(table, out)
    console.print(f"wrote {table.num_rows:,} rows to {out}", highlight=False)


@uplift_app.command("segment")
def segment(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Model directory from fit.")],
    data: Annotated[Path, typer.Option("--data", help="Candidate customers (CSV/Parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Audience file (.csv or .parquet).")],
    top_k: Annotated[int | None, typer.Option("--top-k", help="Best N customers.")] = None,
    top_share: Annotated[
        float | None, typer.Option("--top-share", help="Best share of customers (0-1].")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Customers with uplift above this.")
    ] = None,
    budget: Annotated[
        float | None, typer.Option("--budget", help="Money to spend (needs --cost-per-contact).")
    ] = None,
    cost_per_contact: Annotated[
        float | None, typer.Option("--cost-per-contact", help="Money per contact.")
    ] = None,
    value_per_unit: Annotated[
        float | None,
        typer.Option("--value-per-unit", help="Money per unit of outcome (e.g. per conversion)."),
    ] = None,
    include_negative: Annotated[
        bool,
        typer.Option("--include-negative", help="Keep customers whose best uplift is <= 0."),
    ] = False,
    id_col: Annotated[str | None, typer.Option("--id-col", help="Id column.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Model name in --model-dir.")] = None,
) -> None:
    """Write the audience of a campaign: best customers first, with their best treatment."""
    model, table = _score(model_dir, data, id_col, name)
    gain = table.column("uplift").to_numpy()
    try:
        order = select_audience(
            gain,
            top_k=top_k,
            top_share=top_share,
            threshold=threshold,
            budget=budget,
            cost_per_contact=cost_per_contact,
            include_negative=include_negative,
        )
    except InvalidParameterError as exc:
        for api, opt in (
            ("top_k", "--top-k"),
            ("top_share", "--top-share"),
            ("cost_per_contact", "--cost-per-contact"),
        ):
            if str(exc).startswith(api):
                raise ReclifError(opt + str(exc)[len(api) :]) from None
        raise
    n = table.num_rows
    chosen = table.take(pa.array(order, pa.int64()))
    chosen = chosen.add_column(0, "rank", pa.array(np.arange(1, order.size + 1), pa.int64()))
    # 1-based data row of --data, so the audience can be joined back without an id
    chosen = chosen.add_column(1, "row", pa.array(order + 1, pa.int64()))
    chosen = chosen.append_column(
        "expected_incremental_outcome", pa.array(gain[order], pa.float64())
    )
    if value_per_unit is not None:
        chosen = chosen.append_column(
            "expected_incremental_value", pa.array(gain[order] * value_per_unit, pa.float64())
        )
    write_table(chosen, out)
    total = float(gain[order].sum())
    console.print(
        f"audience: {order.size:,} of {n:,} customers, expected incremental "
        f"{'conversions' if model.outcome_type_ == 'binary' else 'outcome'} {total:,.1f}"
        + (f", value {total * value_per_unit:,.2f}" if value_per_unit is not None else "")
        + f" -> {out}",
        highlight=False,
    )


def _workspace_features(workspace: Path) -> pd.DataFrame:
    from reclift.models.targeting.customers import customer_features
    from reclift.workspace.store import Workspace

    ws = Workspace.open(workspace)
    feats = customer_features(ws.read_table("users"), ws.read_table("events"))
    return feats


@uplift_app.command("features")
def features_command(
    workspace: Annotated[Path, typer.Argument(help="Workspace directory.")],
    out: Annotated[Path, typer.Option("--out", help="Feature file (.parquet or .csv).")],
) -> None:
    """Write one row of customer features per user of a workspace (input of predict/segment)."""
    feats = _workspace_features(workspace).reset_index()
    write_table(pa.Table.from_pandas(feats, preserve_index=False), out)
    console.print(f"wrote features of {len(feats):,} users to {out}", highlight=False)


@uplift_app.command("train")
def train_command(
    workspace: Annotated[Path, typer.Argument(help="Workspace directory.")],
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Output model directory.")],
    campaign: Annotated[
        str | None,
        typer.Option("--campaign", help="Only this ad campaign (default: all, pooled)."),
    ] = None,
    outcome: Annotated[
        str, typer.Option("--outcome", help="converted or revenue (exposures columns).")
    ] = "converted",
    learner: Annotated[str, typer.Option("--learner", help="t, s, x, dr or ct.")] = "t",
    propensity: Annotated[
        str, typer.Option("--propensity", help="constant (randomised) or model.")
    ] = "constant",
) -> None:
    """Fit an uplift model on a workspace's ad exposures with features from users and events."""
    from reclift.workspace.store import Workspace

    if outcome not in ("converted", "revenue"):
        raise ReclifError(f"--outcome must be converted or revenue, got {outcome!r}")
    cls = get_uplift_model(learner)
    ws = Workspace.open(workspace)
    expo = ws.read_table("exposures").to_pandas()
    if campaign is not None:
        known = sorted(expo["campaign_id"].dropna().unique().tolist())
        if campaign not in known:
            raise ReclifError(
                f"{workspace}: no exposures of campaign {campaign!r}; campaigns: {known[:20]}"
            )
        expo = expo[expo["campaign_id"] == campaign]
    if expo.empty:
        raise ReclifError(f"{workspace}: the exposures table is empty: nothing to learn from")
    if expo[outcome].isna().any():
        expo = expo[expo[outcome].notna()]
    feats = _workspace_features(workspace)
    X = feats.reindex(expo["user_id"].to_numpy()).reset_index(drop=True)  # noqa: N806
    y = expo[outcome].to_numpy(dtype=np.float64)
    # Name the arm after the campaign so output columns read uplift_<campaign>.
    t = np.where(expo["treatment"].to_numpy(dtype=bool), campaign or "treated", "control")
    model = cls(propensity=propensity)
    try:
        model.fit(X, y, t, control="control")
    except SchemaError as exc:
        raise SchemaError(f"{workspace}: exposures: {exc.message}", hint=exc.hint) from None
    artifact = model.save(
        model_dir,
        meta={
            "file_mode": {
                "workspace": str(workspace),
                "campaign": campaign,
                "outcome_col": outcome,
                "id_col": "user_id",
                "feature_cols": list(X.columns),
                "n_rows": len(y),
            }
        },
    )
    console.print(
        f"fitted [bold]{learner}[/] on {len(y):,} exposures"
        + (f" of campaign {campaign}" if campaign else "")
        + f" -> {artifact.path}; score users with: reclift uplift features {workspace} "
        "--out F.parquet, then reclift uplift predict --data F.parquet",
        highlight=False,
    )


def simulate_roi_command(
    data: Annotated[Path, typer.Option("--data", help="Randomised trial (CSV/Parquet).")],
    treatment_col: Annotated[str, typer.Option("--treatment-col", help="Arm column.")],
    outcome_col: Annotated[str, typer.Option("--outcome-col", help="Outcome column.")],
    cost_per_contact: Annotated[
        float, typer.Option("--cost-per-contact", help="Money per contact.")
    ],
    value_per_unit: Annotated[
        float, typer.Option("--value-per-unit", help="Money per unit of outcome.")
    ],
    budgets: Annotated[str, typer.Option("--budgets", help="Comma-separated budgets.")],
    control_value: Annotated[
        str | None, typer.Option("--control-value", help="Control arm value.")
    ] = None,
    treatment_value: Annotated[
        str | None,
        typer.Option("--treatment-value", help="The arm to evaluate when there are several."),
    ] = None,
    feature_cols: Annotated[
        str, typer.Option("--feature-cols", help="Feature columns or auto.")
    ] = "auto",
    exclude_cols: Annotated[
        str | None, typer.Option("--exclude-cols", help="With auto: columns to leave out.")
    ] = None,
    truth_col: Annotated[
        str | None,
        typer.Option("--truth-col", help="True per-customer uplift (simulated data): oracle."),
    ] = None,
    learner: Annotated[str, typer.Option("--learner", help="Uplift learner.")] = "t",
    test_share: Annotated[
        float, typer.Option("--test-share", help="Held-out share the ROI is estimated on.")
    ] = 0.3,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap replicates.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    out: Annotated[Path | None, typer.Option("--out", help="Result table (CSV/Parquet).")] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="HTML report with the profit plot.")
    ] = None,
) -> None:
    """Expected profit of random / all / response / uplift (/ oracle) targeting per budget."""
    from reclift.evaluation.roi import best_budget, plot_profit, simulate_roi
    from reclift.models.targeting.response import fit_response_model

    try:
        grid = [float(b) for b in _split_cols(budgets)]
    except ValueError:
        raise ReclifError(
            f"--budgets: cannot parse {budgets!r}; expected e.g. 100,500,1000"
        ) from None
    if not 0 < test_share < 1:
        raise ReclifError(f"--test-share must be in (0, 1), got {test_share}")
    frame = _read_frame(data)
    for col, opt in ((treatment_col, "--treatment-col"), (outcome_col, "--outcome-col")):
        _need(frame, col, opt, data)
    if truth_col is not None:
        _need(frame, truth_col, "--truth-col", data)
    reserved = [c for c in (treatment_col, outcome_col, truth_col) if c is not None]
    cols = _feature_columns(frame, feature_cols, reserved, _split_cols(exclude_cols), data)
    y = _outcome(frame, outcome_col, data)
    t = _treatment(frame, treatment_col, data)
    from reclift.models.targeting.base import encode_treatment

    try:
        codes, ctrl, arms = encode_treatment(t, control_value, len(t))
    except SchemaError as exc:
        raise _with_source(exc, data) from None
    if len(arms) > 1 and treatment_value is None:
        raise ReclifError(f"{data}: several treatment arms {arms}; pick one with --treatment-value")
    arm = arms[0] if treatment_value is None else arm_label(treatment_value)
    if arm not in arms:
        raise ReclifError(f"--treatment-value {arm!r} is not one of {arms}")
    keep = (codes == 0) | (codes == arms.index(arm) + 1)
    feats = _features(frame, cols)[keep].reset_index(drop=True)
    y, treated = y[keep], (codes[keep] != 0).astype(np.int64)
    truth = _outcome(frame, truth_col, data)[keep] if truth_col is not None else None
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for g in (0, 1):  # stratified by arm
        rows = np.flatnonzero(treated == g)
        test[rng.choice(rows, round(rows.size * test_share), replace=False)] = True
    train = ~test
    model = get_uplift_model(learner)(random_state=seed)
    try:
        model.fit(feats[train], y[train], treated[train])
    except SchemaError as exc:
        raise _with_source(exc, data) from None
    response = fit_response_model(feats[train], y[train], treated[train], seed=seed)
    scores = {
        "uplift": model.predict(feats[test])[:, 0],
        "response": response.predict(feats[test]),
    }
    results = simulate_roi(
        scores,
        y[test],
        treated[test],
        cost_per_contact=cost_per_contact,
        value_per_unit=value_per_unit,
        budgets=grid,
        true_uplift=truth[test] if truth is not None else None,
        n_boot=n_boot,
        seed=seed,
    )
    table = pa.Table.from_pylist([r.to_dict() for r in results])
    if out is not None:
        write_table(table, out)
    for strategy in dict.fromkeys(r.strategy for r in results):
        b = best_budget(results, strategy)
        console.print(
            f"{strategy:>9}: best budget {b.budget:,.0f} -> profit {b.profit:,.0f} "
            f"[{b.profit_lo:,.0f}, {b.profit_hi:,.0f}], ROI {b.roi:.2f}"
            + (f", true profit {b.true_profit:,.0f}" if b.true_profit is not None else ""),
            highlight=False,
        )
    if report is not None:
        from reclift.evaluation.report import HtmlReport

        rep = HtmlReport("ROI simulation", f"{data} ({int(test.sum()):,} held-out customers)")
        rep.section("Profit vs budget")
        rep.figure(plot_profit(results), "Estimated (IPS) profit with 90% bootstrap bands.")
        if truth is not None:
            rep.figure(plot_profit(results, use_truth=True), "Realised profit on the true uplift.")
        rep.table([r.to_dict() for r in results])
        rep.write(report)
    console.print(
        f"evaluated on {int(test.sum()):,} held-out rows (arm {arm!r} vs {ctrl!r})",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``uplift`` (fit/predict/segment) and ``simulate-roi`` to ``app``."""
    app.add_typer(uplift_app, name="uplift")
    app.command("simulate-roi")(simulate_roi_command)
