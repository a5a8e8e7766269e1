"""Two-stage session recommender: co-visitation candidates, one LightGBM ranker per target.

Training is leakage-free by construction (:func:`training_split`): the log is cut at a time
``cutoff``; co-visitation matrices and popularity for the training features come only from
events before it; the sessions that start after it are truncated at a random point (OTTO's
protocol) and what follows the cut becomes the labels. The final model then rebuilds the
matrices on the whole log (more data, same features) for prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.errors import ArtifactError, require
from reclift.models.errors import InvalidParameterError
from reclift.models.sessions.features import (
    CovisitIndex,
    feature_matrix,
    ranked_candidates,
    rules_score,
)
from reclift.models.sessions.labels import Labels, capped_recall, truncate_sessions
from reclift.models.sessions.rules import CovisitationRecommender, _check_positive_int
from reclift.pipelines.candidates import FEATURES
from reclift.workspace.artifacts import Artifact


@dataclass(frozen=True)
class TrainingSplit:
    """The parts of a log used to train the ranker.

    Attributes
    ----------
    cutoff
        Instant separating the feature period (before) from the label period.
    feature_events
        Events strictly before ``cutoff``: the only input of co-visitation and popularity.
    history
        Truncated label-period sessions (the inputs the ranker learns to complete).
    labels
        What followed each cut (session -> target -> items).
    """

    cutoff: pa.Scalar
    feature_events: pa.Table
    history: pa.Table
    labels: Labels


def training_split(
    events: pa.Table,
    *,
    label_fraction: float,
    seed: int,
    max_sessions: int | None = None,
    cuts_per_session: int = 1,
) -> TrainingSplit:
    """Cut a validated log in time for leakage-free ranker training.

    Parameters
    ----------
    events
        Validated session log, shape ``(n_events, 4)``.
    label_fraction
        Share of the time span, at its end, that forms the label period.
    seed
        Seed of the truncation points and of the session sample.
    max_sessions
        Keep at most this many label-period sessions (a seeded sample), to bound training.
    cuts_per_session
        Cut each label-period session this many times at independent random points (copies
        keyed ``<session>#<j>``): more training examples from the same sessions.

    Returns
    -------
    TrainingSplit
        Label-period sessions are those whose *first* event is at or after ``cutoff``;
        sessions straddling the cutoff contribute only their earlier events to the features.
    """
    ts = events.column("ts")
    t0 = pc.min(ts).value
    t1 = pc.max(ts).value
    cutoff_us = int(t0 + (1.0 - label_fraction) * (t1 - t0))
    cutoff = pa.scalar(cutoff_us, type=ts.type)
    before = pc.less(ts, cutoff)
    feature_events = events.filter(before)
    firsts = events.group_by("session_id").aggregate([("ts", "min")])
    late = firsts.filter(pc.greater_equal(firsts.column("ts_min"), cutoff)).column("session_id")
    late_ids = np.asarray(sorted(late.to_pylist()), dtype=object)
    if max_sessions is not None and late_ids.size > max_sessions:
        rng = np.random.default_rng(seed)
        late_ids = np.sort(rng.choice(late_ids, size=max_sessions, replace=False))
    in_label = pc.is_in(
        events.column("session_id"), value_set=pa.array(late_ids.tolist(), pa.string())
    )
    label_events = events.filter(in_label)
    if cuts_per_session > 1:
        copies = []
        for j in range(cuts_per_session):
            keyed = pc.binary_join_element_wise(
                label_events.column("session_id"), pa.scalar(str(j)), "#"
            )
            idx = label_events.schema.get_field_index("session_id")
            copies.append(label_events.set_column(idx, "session_id", keyed))
        label_events = pa.concat_tables(copies)
    history, labels = truncate_sessions(label_events, seed=seed)
    return TrainingSplit(cutoff, feature_events, history, labels)


def label_vector(candidates: pa.Table, labels: Labels, target: str) -> np.ndarray:
    """1 where a candidate row is in its session's truth for ``target``, shape ``(n,)``."""
    sessions = candidates.column("session_id").to_pylist()
    items = candidates.column("item_id").to_pylist()
    truth = {s: set(v.get(target, ())) for s, v in labels.items()}
    return np.fromiter(
        (1 if it in truth.get(s, ()) else 0 for s, it in zip(sessions, items, strict=True)),
        dtype=np.int32,
        count=len(items),
    )


def _rank_within(sessions: np.ndarray, score: np.ndarray) -> np.ndarray:
    """0-based rank of each row by descending ``score`` within its session (rows grouped)."""
    n = sessions.size
    if not n:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sessions[1:] != sessions[:-1]])
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n]))
    order = np.lexsort((-score, group))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[group[order]]
    return rank


def _run_lengths(values: np.ndarray) -> np.ndarray:
    """Lengths of runs of equal consecutive values (LightGBM's query groups), shape ``(g,)``."""
    if not values.size:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return np.diff(np.r_[starts, values.size])


class TwoStageRanker(CovisitationRecommender):
    """Co-visitation candidates re-ranked by one LightGBM lambdarank model per target.

    Parameters
    ----------
    label_fraction
        Share of the log's time span (at its end) used as label period for training.
    n_estimators, learning_rate, num_leaves, min_data_in_leaf
        LightGBM settings.
    max_train_sessions
        Label-period sessions sampled for training (bounds time and memory).
    max_train_candidates
        Per training session, keep the best candidates by rules score up to this many rows
        (easy negatives teach little and cost time); set it to at least the number of
        candidates per session to train on all of them.
    cuts_per_session
        Random cuts per training session (see :func:`training_split`).
    n_threads
        LightGBM threads (1 is fastest on a busy machine: OpenMP threads spin).
    seed
        Seed of the split, the sample and LightGBM.
    top_k_neighbours, tail, window_hours, buy_window_days, n_expand, n_popular
        As in :class:`~reclift.models.sessions.rules.CovisitationRecommender`.

    Notes
    -----
    A target without any positive among the training candidates keeps the rules score
    (recorded in ``fit_report_``). The rules score of the target is itself a feature.
    """

    name: ClassVar[str] = "ranker"

    def __init__(
        self,
        *,
        label_fraction: float = 0.25,
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_data_in_leaf: int = 20,
        max_train_sessions: int = 100_000,
        max_train_candidates: int = 60,
        cuts_per_session: int = 1,
        n_threads: int = 1,
        seed: int = 0,
        top_k_neighbours: int = 20,
        tail: int = 30,
        window_hours: float = 24.0,
        buy_window_days: float = 14.0,
        n_expand: int = 20,
        n_popular: int = 20,
    ) -> None:
        super().__init__(
            top_k_neighbours=top_k_neighbours,
            tail=tail,
            window_hours=window_hours,
            buy_window_days=buy_window_days,
            n_expand=n_expand,
            n_popular=n_popular,
        )
        self.label_fraction = label_fraction
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.max_train_sessions = max_train_sessions
        self.max_train_candidates = max_train_candidates
        self.cuts_per_session = cuts_per_session
        self.n_threads = n_threads
        self.seed = seed

    def _check_params(self) -> None:
        super()._check_params()
        lf = self.label_fraction
        if isinstance(lf, bool) or not isinstance(lf, (int, float)) or not 0 < lf < 1:
            raise InvalidParameterError(f"label_fraction must be in (0, 1), got {lf!r}")
        for name in (
            "n_estimators",
            "num_leaves",
            "min_data_in_leaf",
            "max_train_sessions",
            "max_train_candidates",
            "cuts_per_session",
            "n_threads",
        ):
            _check_positive_int(name, getattr(self, name))
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr <= 0:
            raise InvalidParameterError(f"learning_rate must be positive, got {lr!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidParameterError(f"seed must be an integer, got {self.seed!r}")

    def _lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "lambdarank",
            "metric": "map",
            "eval_at": [20],
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "min_data_in_leaf": int(self.min_data_in_leaf),
            "feature_fraction": 0.9,
            "seed": int(self.seed),
            "deterministic": True,
            "num_threads": int(self.n_threads),
            "verbosity": -1,
        }

    def training_data(self, events: pa.Table) -> tuple[TrainingSplit, pa.Table | None]:
        """The split and the training candidates (features from pre-cutoff events only).

        Parameters
        ----------
        events
            A validated log (as given to :meth:`fit`).

        Returns
        -------
        split, candidates
            ``candidates`` has ``session_id``, ``item_id`` and the features, one row per
            (truncated label-period session, candidate); ``None`` when the split leaves no
            feature events or no labelled session.
        """
        split = training_split(
            events,
            label_fraction=float(self.label_fraction),
            seed=int(self.seed),
            max_sessions=int(self.max_train_sessions),
            cuts_per_session=int(self.cuts_per_session),
        )
        if not (split.feature_events.num_rows and split.history.num_rows and split.labels):
            return split, None
        train_index = CovisitIndex.build(split.feature_events, self.index_params())
        cands = train_index.candidates(
            split.history, n_expand=self.n_expand, n_popular=self.n_popular
        )
        return split, cands

    def _fit(self, events: pa.Table) -> None:
        lgb: Any = require("lightgbm", "ml")
        split, cands = self.training_data(events)
        self.boosters_: dict[str, Any] = {}
        report: dict[str, Any] = {
            "cutoff": str(split.cutoff.as_py()),
            "feature_events": split.feature_events.num_rows,
            "label_sessions": len(split.labels),
            "targets": {},
        }
        if cands is not None:
            # Candidate recall on the training labels: the ceiling of any re-ranking.
            lists = ranked_candidates(cands, self.targets_)
            report["candidate_recall"] = {
                f"@{k}" if k < 10**6 else "all": {
                    t: round(v, 4) for t, v in capped_recall(lists, split.labels, k).items()
                }
                for k in (20, 50, 100, 10**6)
            }
            sessions = np.asarray(cands.column("session_id").to_pylist(), dtype=object)
            for target in self.targets_:
                y = label_vector(cands, split.labels, target)
                # Lambdarank learns only from sessions with a positive among the candidates.
                # The cap applies to positives too: keeping positives beyond it (and no
                # negatives there) would teach "a low rules score means relevant".
                rank = _rank_within(sessions, rules_score(cands, target))
                capped = rank < self.max_train_candidates
                pos_sessions = set(sessions[(y == 1) & capped].tolist())
                in_pos = np.fromiter((s in pos_sessions for s in sessions), bool, sessions.size)
                keep = capped & in_pos
                info: dict[str, Any] = {"rows": int(keep.sum()), "sessions": len(pos_sessions)}
                report["targets"][target] = info
                if len(pos_sessions) < 2 or not (y[keep] == 0).any():
                    info["model"] = "rules (too few positives)"
                    continue
                x = self._features(cands.filter(pa.array(keep)), target)
                counts = _run_lengths(sessions[keep])
                data = lgb.Dataset(x, label=y[keep], group=counts, free_raw_data=True)
                booster = lgb.train(self._lgb_params(), data, num_boost_round=self.n_estimators)
                self.boosters_[target] = booster
                info["model"] = "lightgbm"
        self.fit_report_ = report
        self.index_ = CovisitIndex.build(events, self.index_params())

    def first_stage(self) -> CovisitationRecommender:
        """The co-visitation rules this ranker re-ranks, sharing its fitted index (no copy).

        Equal to ``CovisitationRecommender(**same params).fit(events)`` on the events this
        ranker was fitted on, without building the index a second time.
        """
        self._check_fitted()
        names = CovisitationRecommender().get_params()
        rules = CovisitationRecommender(**{p: getattr(self, p) for p in names})
        rules.targets_ = self.targets_
        rules.index_ = self.index_
        return rules

    @staticmethod
    def _features(candidates: pa.Table, target: str) -> np.ndarray:
        x = feature_matrix(candidates)
        rules = rules_score(candidates, target).astype(np.float32)[:, None]
        return np.hstack([x, rules])

    def score(self, candidates: pa.Table, target: str) -> np.ndarray:
        """LightGBM score per candidate row (rules score where no model was trained).

        Only each session's best ``max_train_candidates`` by rules score are re-ranked; the
        others keep their rules order below them.
        """
        booster = self.boosters_.get(target)
        rules = rules_score(candidates, target)
        if booster is None:
            return rules
        # Explicit threads: a loaded booster would otherwise spin up every core's OpenMP
        # thread per call, which costs milliseconds on the few rows of one live session.
        raw = booster.predict(self._features(candidates, target), num_threads=int(self.n_threads))
        learned = np.asarray(raw, dtype=np.float64)
        # The model re-ranks what it was trained on (each session's best candidates by rules);
        # the rest follow in rules order, below every re-ranked candidate.
        sessions = np.asarray(candidates.column("session_id").to_pylist(), dtype=object)
        inside = _rank_within(sessions, rules) < self.max_train_candidates
        return np.where(inside, learned, -1e12 + rules)

    def _save(self, directory: Path) -> None:
        super()._save(directory)
        for target, booster in self.boosters_.items():
            booster.save_model(str(directory / f"lgbm_{target}.txt"))

    def _load(self, artifact: Artifact) -> None:
        lgb: Any = require("lightgbm", "ml")
        super()._load(artifact)
        self.boosters_ = {}
        for target in self.targets_:
            name = f"lgbm_{target}.txt"
            if name in artifact.files:
                try:
                    self.boosters_[target] = lgb.Booster(model_file=str(artifact.file(name)))
                except Exception as exc:  # LightGBM raises its own error type on bad files
                    raise ArtifactError(
                        f"{artifact.path}/{name}: not a LightGBM model: {exc}"
                    ) from None
        n = len(FEATURES) + 1
        for target, booster in self.boosters_.items():
            if booster.num_feature() != n:
                raise ArtifactError(
                    f"{artifact.path}: model for {target} has {booster.num_feature()} features, "
                    f"expected {n}"
                )
