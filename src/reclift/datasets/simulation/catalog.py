"""The simulated catalogue: category tree, brands, items, complements and the query universe."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from reclift.datasets.simulation.config import SimulationConfig
from reclift.datasets.simulation.output import join_strings, padded_ids, take
from reclift.datasets.simulation.vocab import (
    ADJECTIVES,
    BRAND_SYLLABLES,
    COLOURS,
    DEPARTMENTS,
)

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]


def _title(text: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))


def _unit(x: F64) -> F64:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    out: F64 = x / np.maximum(norm, 1e-12)
    return out


def typo(text: str, rng: np.random.Generator) -> str:
    """A plausible misspelling: swap, drop or double one letter of the longest word."""
    words = text.split(" ")
    w = max(range(len(words)), key=lambda i: len(words[i]))
    word = words[w]
    if len(word) < 4:
        return text + text[-1]
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(0, 3))
    if kind == 0:
        word = word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    elif kind == 1:
        word = word[:i] + word[i + 1 :]
    else:
        word = word[:i] + word[i] + word[i:]
    words[w] = word
    return " ".join(words)


@dataclass
class Catalog:
    """Item-level arrays (internal index = items grouped by leaf) and their lookups."""

    # category tree
    leaf_path: list[str]
    leaf_phrase: list[str]  # "running shoes"
    leaf_dept: I64
    leaf_sub: I64  # global subcategory index
    leaf_vec: F64  # (n_leaves, d)
    leaf_weight: F64  # attention share of each leaf
    leaf_median_price: F64
    leaf_start: I64
    leaf_end: I64
    leaf_cum: F64  # per-leaf cumulative popularity, offset by leaf index (flat sampling)
    sub_noun: list[str]
    sub_synonyms: list[tuple[str, ...]]
    # brands
    brand_name: list[str]
    brand_dept: I64
    # items
    n_items: int
    item_num: I64  # number in the public id
    item_ids: pa.Array  # public ids by internal index
    leaf: I64
    dept: I64
    brand: I64
    colour: I64  # -1 when the department has no colours
    size: pa.Array
    material: pa.Array
    price: F64
    popularity: F64  # within-leaf popularity weight
    appeal: F64  # intrinsic quality, drives conversion
    latent: F32  # (n_items, d), unit vectors
    complement: I64  # -1 or the complementary item planted for this item
    complement_strength: F64  # probability the complement follows an order
    # query universe (canonical intents, then surface strings)
    q_text: list[str]
    q_leaf: I64
    q_colour: I64
    q_brand: I64
    q_weight: F64
    s_text: list[str]
    s_query: I64
    s_typo: BOOL
    leaf_q_start: I64
    leaf_q_end: I64

    def relevance(self, query: I64, items: I64) -> I64:
        """Graded true relevance (0..3) of items to canonical queries, element-wise.

        3: the query's leaf and every attribute it names (colour, brand); 2: the query's leaf
        with an attribute mismatch; 1: a sibling leaf of the same subcategory; 0: otherwise.
        """
        ql = self.q_leaf[query]
        same_leaf = self.leaf[items] == ql
        same_sub = self.leaf_sub[self.leaf[items]] == self.leaf_sub[ql]
        qc = self.q_colour[query]
        qb = self.q_brand[query]
        attrs_ok = ((qc < 0) | (self.colour[items] == qc)) & ((qb < 0) | (self.brand[items] == qb))
        rel = np.where(same_leaf, np.where(attrs_ok, 3, 2), np.where(same_sub, 1, 0))
        return rel.astype(np.int64)

    def sample_in_leaf(self, rng: np.random.Generator, leaves: I64) -> I64:
        """Draw one item per entry of ``leaves`` by within-leaf popularity."""
        u = leaves.astype(np.float64) + rng.random(leaves.shape[0])
        idx = np.searchsorted(self.leaf_cum, u, side="right").astype(np.int64)
        return np.clip(idx, self.leaf_start[leaves], self.leaf_end[leaves] - 1)


def _pick_per_department(
    rng: np.random.Generator, dept: I64, choices: list[tuple[str, ...]]
) -> pa.Array:
    flat = pa.array([c for group in choices for c in group])
    lens = np.array([len(g) for g in choices], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    k = rng.integers(0, 1 << 30, size=dept.shape[0]) % lens[dept]
    return take(flat, offsets[dept] + k)


def _brand_names(rng: np.random.Generator, n: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    syl = np.array(BRAND_SYLLABLES)
    for _ in range(n):
        k = int(rng.integers(2, 4))
        name = "".join(syl[rng.integers(0, len(syl), size=k)]).capitalize()
        while name in seen:
            name += str(syl[rng.integers(0, len(syl))])
        seen.add(name)
        names.append(name)
    return names


def build_catalog(cfg: SimulationConfig, rng: np.random.Generator) -> Catalog:
    """Build the catalogue (in memory: sized by ``n_items``, not by the number of events)."""
    d = cfg.latent_dim
    depts = DEPARTMENTS[: cfg.n_departments]
    leaf_path: list[str] = []
    leaf_phrase: list[str] = []
    leaf_dept_l: list[int] = []
    leaf_sub_l: list[int] = []
    sub_noun: list[str] = []
    sub_syn: list[tuple[str, ...]] = []
    leaf_mod: list[str] = []
    dept_vec = rng.normal(size=(len(depts), d))
    leaf_vec_l: list[F64] = []
    leaf_price_l: list[float] = []
    for di, dep in enumerate(depts):
        for sc in dep.subcategories[: cfg.subcategories_per_department]:
            si = len(sub_noun)
            sub_noun.append(sc.noun)
            sub_syn.append(sc.synonyms)
            sub_vec = dept_vec[di] + 0.8 * rng.normal(size=d)
            sub_price = dep.median_price * float(np.exp(rng.normal(0, 0.35)))
            for mod in sc.modifiers[: cfg.leaves_per_subcategory]:
                phrase = f"{mod} {sc.noun}"
                leaf_phrase.append(phrase)
                leaf_mod.append(mod)
                leaf_path.append(f"{dep.name}>{sc.name}>{_title(phrase)}")
                leaf_dept_l.append(di)
                leaf_sub_l.append(si)
                leaf_vec_l.append(sub_vec + 0.6 * rng.normal(size=d))
                leaf_price_l.append(sub_price * float(np.exp(rng.normal(0, 0.25))))
    n_leaves = len(leaf_path)
    leaf_dept = np.asarray(leaf_dept_l, dtype=np.int64)
    leaf_sub = np.asarray(leaf_sub_l, dtype=np.int64)
    leaf_vec = _unit(np.asarray(leaf_vec_l))
    leaf_weight = np.exp(rng.normal(0, 0.6, size=n_leaves))
    leaf_weight /= leaf_weight.sum()
    leaf_median_price = np.asarray(leaf_price_l)

    # brands: each belongs to one department, Zipf-like popularity inside it
    brand_name = _brand_names(rng, cfg.n_brands)
    brand_dept = rng.permutation(np.arange(cfg.n_brands) % len(depts)).astype(np.int64)
    brand_pop = np.exp(rng.normal(0, 1.0, size=cfg.n_brands))
    brand_premium = np.exp(rng.normal(0, 0.25, size=cfg.n_brands))
    brand_vec = rng.normal(size=(cfg.n_brands, d))

    # items grouped by leaf
    counts = 1 + rng.multinomial(cfg.n_items - n_leaves, leaf_weight)
    leaf = np.repeat(np.arange(n_leaves, dtype=np.int64), counts)
    leaf_end = np.cumsum(counts).astype(np.int64)
    leaf_start = leaf_end - counts
    n = cfg.n_items
    dept = leaf_dept[leaf]
    # brand: drawn from the department's brands by brand popularity
    brand = np.empty(n, dtype=np.int64)
    for di in range(len(depts)):
        members = np.flatnonzero(brand_dept == di)
        rows = np.flatnonzero(dept == di)
        p = brand_pop[members] / brand_pop[members].sum()
        brand[rows] = members[rng.choice(members.shape[0], size=rows.shape[0], p=p)]
    # popularity: Zipf over a random rank inside each leaf, tilted by brand popularity
    within_rank = np.empty(n, dtype=np.float64)
    for li in range(n_leaves):
        s, e = leaf_start[li], leaf_end[li]
        within_rank[s:e] = rng.permutation(e - s) + 1
    popularity = within_rank ** (-cfg.zipf_exponent) * brand_pop[brand] ** 0.3
    leaf_tot = np.add.reduceat(popularity, leaf_start)
    cum = np.cumsum(popularity) - np.repeat(
        np.concatenate([[0.0], np.cumsum(leaf_tot)[:-1]]), counts
    )
    leaf_cum = cum / np.repeat(leaf_tot, counts) + leaf.astype(np.float64)
    leaf_cum[leaf_end - 1] = np.arange(1, n_leaves + 1, dtype=np.float64)

    price = leaf_median_price[leaf] * brand_premium[brand] * np.exp(rng.normal(0, 0.35, size=n))
    price = np.where(price >= 2.0, np.floor(price) + 0.99, np.round(price, 2) + 0.01)
    appeal = np.exp(rng.normal(0, 0.35, size=n))
    latent = _unit(leaf_vec[leaf] + 0.55 * rng.normal(size=(n, d)) + 0.25 * brand_vec[brand])

    has_colour = np.array([dep.has_colour for dep in depts])[dept]
    colour_p = np.linspace(2.0, 0.5, len(COLOURS))
    colour = rng.choice(len(COLOURS), size=n, p=colour_p / colour_p.sum()).astype(np.int64)
    colour = np.where(has_colour, colour, -1)
    size = _pick_per_department(rng, dept, [dep.sizes for dep in depts])
    material = _pick_per_department(rng, dept, [dep.materials for dep in depts])
    item_num = (rng.permutation(n) + 1).astype(np.int64)
    width = max(6, len(str(n)))
    item_ids = padded_ids("i", item_num, width)

    # planted complements: A drawn by global popularity, B popular in a paired leaf
    complement = np.full(n, -1, dtype=np.int64)
    strength = np.zeros(n, dtype=np.float64)
    if cfg.n_complement_pairs:
        partner_leaf = (
            np.arange(n_leaves) + rng.integers(1, max(2, n_leaves), size=n_leaves)
        ) % n_leaves
        partner_leaf = np.where(
            partner_leaf == np.arange(n_leaves), (partner_leaf + 1) % n_leaves, partner_leaf
        )
        gpop = popularity / np.repeat(leaf_tot, counts) * leaf_weight[leaf]
        a = rng.choice(n, size=cfg.n_complement_pairs, replace=False, p=gpop / gpop.sum())
        b = np.empty(a.shape[0], dtype=np.int64)
        for j, ai in enumerate(a):
            lo, hi = leaf_start[partner_leaf[leaf[ai]]], leaf_end[partner_leaf[leaf[ai]]]
            k = hi - lo
            p = popularity[lo:hi] / popularity[lo:hi].sum()
            b[j] = lo + int(rng.choice(k, p=p))
            if b[j] == ai:
                b[j] = lo + (b[j] - lo + 1) % k
        complement[a] = b
        strength[a] = rng.uniform(0.3, 0.7, size=a.shape[0])

    # query universe: per leaf, the phrase, a synonym, two colours, a brand
    q_text: list[str] = []
    q_leaf_l: list[int] = []
    q_colour_l: list[int] = []
    q_brand_l: list[int] = []
    q_weight_l: list[float] = []
    q_seen: set[str] = set()
    leaf_q_start = np.zeros(n_leaves, dtype=np.int64)
    leaf_q_end = np.zeros(n_leaves, dtype=np.int64)
    for li in range(n_leaves):
        leaf_q_start[li] = len(q_text)
        phrase = leaf_phrase[li]
        si = int(leaf_sub[li])
        mod = leaf_mod[li]

        def add(text: str, colour_i: int, brand_i: int, weight: float, li: int = li) -> None:
            if text in q_seen:
                return
            q_seen.add(text)
            q_text.append(text)
            q_leaf_l.append(li)
            q_colour_l.append(colour_i)
            q_brand_l.append(brand_i)
            q_weight_l.append(weight)

        add(phrase, -1, -1, 4.0)
        syn = sub_syn[si][int(rng.integers(0, len(sub_syn[si])))]
        add(f"{mod} {syn}", -1, -1, 2.0)
        if depts[int(leaf_dept[li])].has_colour:
            for c in rng.choice(len(COLOURS), size=2, replace=False):
                add(f"{COLOURS[int(c)]} {phrase}", int(c), -1, 1.0)
        lo, hi = leaf_start[li], leaf_end[li]
        top_brand = int(brand[lo + int(np.argmax(popularity[lo:hi]))])
        add(f"{brand_name[top_brand].lower()} {sub_noun[si]}", -1, top_brand, 1.0)
        leaf_q_end[li] = len(q_text)
    q_leaf = np.asarray(q_leaf_l, dtype=np.int64)
    q_colour = np.asarray(q_colour_l, dtype=np.int64)
    q_brand = np.asarray(q_brand_l, dtype=np.int64)
    # brand queries name the brand and the subcategory noun: their leaf is the top item's leaf
    s_text: list[str] = []
    s_query_l: list[int] = []
    s_typo_l: list[bool] = []
    for qi, text in enumerate(q_text):
        s_text.append(text)
        s_query_l.append(qi)
        s_typo_l.append(False)
        if rng.random() < 0.5:
            variant = typo(text, rng)
            if variant != text and variant not in q_text:
                s_text.append(variant)
                s_query_l.append(qi)
                s_typo_l.append(True)
    # the same surface string may come from two leaves; keep the first meaning
    first: dict[str, int] = {}
    keep = []
    for i, t in enumerate(s_text):
        if t not in first:
            first[t] = i
            keep.append(i)
    s_text = [s_text[i] for i in keep]
    s_query = np.asarray([s_query_l[i] for i in keep], dtype=np.int64)
    s_typo = np.asarray([s_typo_l[i] for i in keep], dtype=np.bool_)

    return Catalog(
        leaf_path=leaf_path,
        leaf_phrase=leaf_phrase,
        leaf_dept=leaf_dept,
        leaf_sub=leaf_sub,
        leaf_vec=leaf_vec,
        leaf_weight=leaf_weight,
        leaf_median_price=leaf_median_price,
        leaf_start=leaf_start,
        leaf_end=leaf_end,
        leaf_cum=leaf_cum,
        sub_noun=sub_noun,
        sub_synonyms=sub_syn,
        brand_name=brand_name,
        brand_dept=brand_dept,
        n_items=n,
        item_num=item_num,
        item_ids=item_ids,
        leaf=leaf,
        dept=dept,
        brand=brand,
        colour=colour,
        size=size,
        material=material,
        price=price,
        popularity=popularity,
        appeal=appeal,
        latent=latent.astype(np.float32),
        complement=complement,
        complement_strength=strength,
        q_text=q_text,
        q_leaf=q_leaf,
        q_colour=q_colour,
        q_brand=q_brand,
        q_weight=np.asarray(q_weight_l, dtype=np.float64),
        s_text=s_text,
        s_query=s_query,
        s_typo=s_typo,
        leaf_q_start=leaf_q_start,
        leaf_q_end=leaf_q_end,
    )


def items_table(cfg: SimulationConfig, cat: Catalog, rng: np.random.Generator) -> pa.Table:
    """The canonical ``items`` table, sorted by ``item_id``."""
    depts = DEPARTMENTS[: cfg.n_departments]
    leaf_title = pa.array([_title(p) for p in cat.leaf_phrase])
    adjective = pa.array(list(ADJECTIVES))
    colours = pa.array(list(COLOURS))
    brands = pa.array(cat.brand_name)
    size_names = pa.array([dep.size_name for dep in depts])
    has_c = cat.colour >= 0
    colour_idx = np.where(has_c, cat.colour, 0)
    colour_s = take(colours, colour_idx)
    adj = take(adjective, rng.integers(0, len(ADJECTIVES), size=cat.n_items))
    brand_s = take(brands, cat.brand)
    size_s = cat.size
    mat_s = cat.material
    leaf_s = take(leaf_title, cat.leaf)
    size_name = take(size_names, cat.dept)
    colour_title = pc.utf8_capitalize(colour_s)
    title_c = join_strings(
        brand_s, " ", adj, " ", colour_title, " ", leaf_s, ", ", size_name, " ", size_s
    )
    title_n = join_strings(brand_s, " ", adj, " ", leaf_s, ", ", size_name, " ", size_s)
    title = pc.if_else(pa.array(has_c), title_c, title_n)
    mat_name = take(pa.array([dep.material_name for dep in depts]), cat.dept)
    attrs_c = join_strings(
        '{"colour":"',
        colour_s,
        '","',
        size_name,
        '":"',
        size_s,
        '","',
        mat_name,
        '":"',
        mat_s,
        '"}',
    )
    attrs_n = join_strings('{"', size_name, '":"', size_s, '","', mat_name, '":"', mat_s, '"}')
    attrs = pc.if_else(pa.array(has_c), attrs_c, attrs_n)
    table = pa.table(
        {
            "item_id": cat.item_ids,
            "title": title,
            "category": take(pa.array(cat.leaf_path), cat.leaf),
            "brand": brand_s,
            "price": pa.array(cat.price, type=pa.float64()),
            "attributes": attrs,
        }
    )
    return table.take(pa.array(np.argsort(cat.item_num, kind="stable")))
