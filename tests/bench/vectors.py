"""Family 3: vector search at 100,000 and 1,000,000 synthetic 384-d product vectors.

Every search goes the server's way: a connection logged in as the principal's own role,
and one pipeline of begin read only, the statement semantic_search_products sends (with
server-side parameters), rollback and the session cleaning. Recall@10 is measured against the
exact top-10 of an exact scan in PostgreSQL (index scans disabled), for plain search and
for in_stock_only as Seattle's manager (exact top-10 among products in stock at store 1).

Figures:
  plain       mcp.search_products without query_text, head office
  hybrid      the same with query_text (what the tool always sends), fused by RRF, as
              head office and as Seattle's manager with in_stock_only; beside it the
              function as it was at BEFORE_COMMIT (installed in the benchmark's database
              as bench_vectors.search_products_before, from git), on fewer queries
  in_stock    in_stock_only as Seattle's manager (row level security keeps store 1)
  phrases     three descriptions as people type them, embedded by the local model, on
              the sample catalog (its own database): how many text matches each gets,
              before and now
  sweep       the function with its hnsw.ef_search SET clause altered per point
              (ALTER FUNCTION in the benchmark's own database, restored afterwards)
  naive       in_stock_only with hnsw.iterative_scan off: what the filter does to an
              index scan that stops after ef_search candidates

The built databases are kept (zava_bench_vectors_<count>, a marker comment records how
they were built and what the build cost) and reused unless rebuild is asked for; the
exact neighbours are kept beside the data, in schema bench_vectors.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, LiteralString

import jinja2
import measure
import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from zava_mcp import database, schema
from zava_mcp.calls import CLEAN_SESSION
from zava_mcp.config import DB_DIR, Settings
from zava_mcp.seed import SEED_DIR

SEED = 20261201
FULL_SIZES = (100_000, 1_000_000)
QUICK_SIZE = 2_000
QUERY_COUNT = 100
QUICK_QUERY_COUNT = 20
EF_SWEEP = (40, 100, 200, 400)
QUICK_EF_SWEEP = (40, 100)
K = 10
# The function before the full-text helper computed the text document of every product
# (row level security kept its @@ out of the GIN index): seconds at a million. It is
# measured on this many queries, once each.
BEFORE_QUERIES = 10
QUICK_BEFORE_QUERIES = 3
# The commit whose mcp.search_products and document function are "before".
BEFORE_COMMIT = "b5e391aee6532250475d5672eab7b0d216c4f339"
BEFORE_FILES = (
    "db/functions/mcp_internal.product_search_document.sql",
    "db/functions/mcp.search_products.sql",
)
# Descriptions as people type them (issue 12): before, every word had to match.
PHRASES = (
    "waterproof electrical connectors",
    "cordless drill for decking",
    "stain to protect a deck",
)
PHRASE_DATABASE = "zava_bench_search_phrases"

# The shape of the synthetic embeddings (see markdown() for why): topics, clusters inside
# topics, and inside each cluster a low-rank spread plus a little isotropic noise.
CLUSTER_SIZE = 1_000  # products per cluster on average, at every dataset size
CLUSTERS_PER_TOPIC = 20
CLUSTER_SPREAD = 0.9  # a cluster centre's offset from its topic, relative to unit length
CLUSTER_RANK = 16  # the intrinsic dimension of a cluster
RANK_SCALE = 0.5  # length of the low-rank offset of a product from its cluster centre
NOISE_SCALE = 0.15  # length of the isotropic noise on top of it
CHUNK = 100_000  # vectors generated and copied at a time

# Stock: Seattle (store 1) has ~10% of the catalog in stock and another ~2% at zero;
# every product is in stock at one other store, so in_stock_only as head office filters
# little and as Seattle's manager is selective.
SEATTLE_STORE_ID = 1
SEATTLE_IN_STOCK = 0.10
SEATTLE_SOLD_OUT = 0.02

# Build settings for the index build session: the 1M graph (~2.2 GB) fits in memory, and
# the two cores both build.
BUILD_SETTINGS = {"maintenance_work_mem": "4GB", "max_parallel_maintenance_workers": "2"}

TYPE_KINDS = ("Basics", "Pro Line", "Compact", "Heavy Duty")
VOCABULARY_SIZE = 3_000
WORDS_PER_CLUSTER = 6

HNSW_INDEX = "product_description_embeddings_hnsw_idx"
TEXT_INDEX = "products_search_document_idx"
INDEX_FILE = schema.DB_DIR / "schema" / "20_retail_indexes.sql"
SEARCH_FILE = schema.DB_DIR / "functions" / "mcp.search_products.sql"
SEARCH_SIGNATURE = "mcp.search_products(vector, integer, real, text, boolean, text)"
MARKER_PREFIX = "zava-mcp bench vectors "

# Tuning changes made while building this benchmark, with the figures of the development
# runs that decided them (noisy: other benchmarks ran on the same two cores). The tables
# above measure the settings now in force.
TUNING_NOTES = (
    "Changes made while building this benchmark, each with the development-run figures "
    "that decided it (100,000 vectors, 100 queries; noisy: other benchmarks shared the two "
    "cores, so buffer counts and recall are the firm figures, times are indicative):",
    "",
    "1. **The final joins read every product and vector row.** The function joined "
    "products and the vectors on `coalesce()` of the full join of vector and text "
    "candidates; row level security counts `coalesce()` as leaky, so the join could not "
    "become an index probe below the policy, and the plan hashed a sequential scan of "
    "both tables (100,000 rows each, 1.5 GB of vectors at a million). `fused` is now a "
    "materialized CTE, so the join is on a plain column: one `EXPLAIN (ANALYZE, BUFFERS)` "
    "of a plain search went from 23,903 buffers and 271 ms to 1,832 buffers and 84 ms "
    "(auto_explain timing included), with 40 index probes instead of the scans.",
    "2. **in_stock_only hashed the whole inventory.** The planner turned the `exists()` "
    "filter into a hash of every in-stock row the caller sees (a sequential scan of "
    "inventory per call: 112,000 rows at 100,000 products); a scalar subquery "
    "`(select true … limit 1)` probes the product_id index once per candidate instead "
    "(~400 probes for 40 results at one product in ten). Seattle's median went from "
    "202 ms to 25 ms.",
    "3. **The query_model check read every vector row.** `array_agg(distinct model_name)` "
    "over the vectors ran before every search given a model, as the tool always does. "
    "A first fix, a range probe `model_name < $1 or model_name > $1` on a new index, was "
    "fast as a custom plan, but PL/pgSQL moves to a generic plan after five calls, and "
    "the generic plan filters every entry of the index (plain search 17.2 ms with the "
    "model, 7.9 ms without). "
    "Now `min()`/`max()` of the indexed model names: no parameter, two index probes, "
    "no difference with or without the model. The live figures are in the table above.",
    "4. **ef_construction 64 → 128.** With pgvector's default, a few queries (those in "
    "small clusters) found none of their true neighbours at any ef_search: the graph "
    "barely linked those clusters. Raw index recall@10 at 100,000 vectors, ef_search "
    "40/100/200/400: 0.955/0.956/0.966/0.966 with 64, 0.988/0.999/0.999/0.999 with 128. "
    "At 1,000,000 vectors the plateau came back, smaller: raw recall@10 0.966 at "
    "ef_search 40 and 100, 0.974 at 400 and 1000, as two of the 100 queries (in small "
    "clusters) found none of their neighbours at any ef_search.",
    "5. **m 16 → 24.** More links per node, so that fewer small clusters are left out of "
    "the graph. At 1,000,000 vectors (ef_construction 128 both), raw recall@10 at "
    "ef_search 40/100/400: 0.966/0.966/0.974 with m 16, 0.972/0.982/0.982 with m 24; one "
    "query still finds none of its neighbours. The index is the same size (1,953 MB) "
    "and the build took 645 s against "
    "643 s (both while other benchmarks ran).",
    "6. **Hybrid search read every product.** `@@` is not leakproof and retail.products "
    "has a policy, so PostgreSQL could not use the GIN index before the policy's test: "
    "each hybrid call derived the text document of every product (a sequential scan, "
    "about 11 s at a million) and every query word had to match. Even as the owner, "
    "whom the policy does not restrict, the index search took 96 ms at a million, as "
    "ts_rank_cd and the recheck derived each match's document again. Now the document "
    "is a stored generated column (`search_document`) with a GIN index, and "
    "`mcp_internal.product_text_matches`, SECURITY DEFINER, searches it for a known "
    "principal only and returns ranked product ids, which `mcp.search_products` joins "
    "through row level security again (the in-stock test included). Any word of the "
    "description matches; a product holding more of them ranks higher. When at least 400 "
    "products hold every word, only those are ranked (they are exactly the top of the "
    "whole ranking, and the search takes at most 400 text candidates); the in-stock test "
    "runs on the matches in rank order until enough are in stock. The hybrid table above "
    "measures both functions on the same queries in the same run.",
    "7. **The stock test read a table page per candidate.** The inventory policy adds "
    "`store_id = any(<the visible stores>)`, an array the planner cannot see (it assumes "
    "ten elements), so it took the index on product_id alone and fetched each "
    "candidate's rows from the table: as Seattle's manager, about 770 tests per hybrid "
    "call (about 360 on the vector half, 400 on the text half, as a tenth of the "
    "catalog is in stock there), four pages each, one of them a random table page. Now "
    "an index of the rows in stock, store first (`inventory_in_stock_idx`, "
    "`(store_id, product_id) where stock_level > 0`), answers each test alone, inside "
    "the store's own part of it (about 2 MB, which stays in memory), and the index on "
    "product_id alone is gone (while it exists the planner keeps preferring it). At "
    "1,000,000 products (`EXPLAIN (ANALYZE, BUFFERS)` of the tool's statement as the "
    "principal, 100 queries after a warm-up pass), a hybrid call as Seattle's manager with "
    "in_stock_only: 8,014 instead of 8,818 pages, 3,940 instead of 4,805 of them read from "
    "outside shared buffers; the stock tests read none. Also measured: an index led by "
    "product_id covering the test (`(product_id) include (store_id, stock_level)`) saved "
    "446 reads, not 865; an explicit `store_id = any(...)` beside the policy's changed no "
    "plan; `hnsw.ef_search` 40 instead of 100 saved 2 % of the pages (same recall).",
    "8. **Counting the words a match holds copied its document.** The text rank counts "
    "the query's words a product holds as the length its document loses to `ts_delete`, "
    "a copy of every matching document. When every match holds every word (a one-word "
    "text, or only the products holding every word ranked) the count is the number of "
    "words, and the copy is now skipped. At 1,000,000 products on 2026-12-05 (Intel "
    "Xeon), `product_text_matches` for the 100 query texts as Seattle, four rounds "
    "alternating with the function before: median 9.6 ms before, 8.7 ms after; ranking "
    "one common word's 2,875 matches with their pages in shared buffers, 2.84 against "
    "1.72 ms (EXPLAIN ANALYZE). The hybrid calls' answers were the same for all 100 "
    "queries, and their medians moved less than the rounds spread (15.3 and 15.1 ms as "
    "head office, 21.8 and 22.2 ms as Seattle): with 128 MB of shared_buffers the pages "
    "read outside them outweigh it.",
    "9. **Why a manager's hybrid call costs more than its halves (measured, not "
    "changed).** At 100,000 products, in the family's runs, Seattle's hybrid call with "
    "in_stock_only took about twice head office's (19.8 against 8.2 ms), more than its "
    "halves add up to. On 2026-12-05 (Intel Xeon, 128 MB of shared_buffers, the 100 "
    "queries in loop order, three measured rounds, PostgreSQL's pages read counted per "
    "call): plain search 5.0 ms (520 pages read from outside shared buffers), "
    "in_stock_only without text 9.9 ms (1,166), hybrid without in_stock_only 10.4 ms "
    "(686), both together 21.2 ms (1,451) where the two additions alone would make 15.3. "
    "Under auto_explain the text half's ranking statement took 7.2 ms in the call with "
    "both, against 3.1 ms without in_stock_only, for 169 pages read against 15: the stock "
    "test's wider HNSW scan runs first and evicts the products' pages, and each page read "
    "back took about 19 us of I/O time (`track_io_timing`) where reading 8 kB from the "
    "operating system's cache takes 2 us on this machine. The text half's bitmap heap "
    "scan reads ahead through PostgreSQL 18's I/O worker processes (`io_method = "
    "worker`, the default), and on two cores the hand-over costs more than the read. "
    "With `io_method = sync` (a restart) the call with both took 14.1 and 14.8 ms in "
    "two runs against 21.2 and 20.5, the same pages read; with `effective_io_concurrency "
    "= 0` on `product_text_matches` alone, 13.8 ms; with shared_buffers at 1 GB, holding "
    "it all, 9.6 ms, where the additions make 9.4 (plain 3.3, in_stock_only 6.0, hybrid "
    "6.6 ms). At a million the read-ahead pays: "
    "the text half reads 1,700 to 1,800 pages a call, and `effective_io_concurrency = 0` "
    "made head office's hybrid slower (18.2 and 18.1 ms against 16.9 and 16.1, two "
    "alternating rounds) and Seattle's no faster (25.3 and 26.2 against 25.4 and 24.6), "
    "as `io_method = sync` did (19.3 and 26.8 against 16.9 and 24.4). Not kept: which "
    "setting wins depends on how much of the catalog shared_buffers holds, and sizing "
    "shared_buffers to the tables search reads beats either (docs/scaling.md).",
    "10. **This machine pages out file cache left alone for a minute.** Its kernel runs "
    "a DAMON `pageout` scheme (kdamond; memory with at most one access per 5 s for 60 s, "
    "up to 2 GB a second, and no swap), so the operating system's page cache stays small "
    "(0.3 to 0.7 GB with 22 GB free) and, after a quiet spell, PostgreSQL's reads come "
    "from the disk. At 1,000,000 products with 128 MB of shared_buffers (2026-12-05, "
    "passes of the 100 queries, head office's hybrid then Seattle's with in_stock_only, "
    "medians): 92.9 and 81.9 ms on the first pass, 19.4 and 26.4 ms at once after it, "
    "90.9 and 88.8 ms after 120 s idle (the page cache had fallen from 2.2 to 0.3 GB), "
    "18.4 and 26.4 ms at once after that. With 5 GB of shared_buffers, which the kernel "
    "cannot page out without swap: 10.1 and 13.8 ms warm, 10.1 and 15.5 ms after 120 s "
    "idle. The family's figures come from passes run back to back after a warm-up pass; "
    "searches that come minutes apart see the idle figures unless shared_buffers holds "
    "the tables.",
    "",
    "On a quiet machine (commit 48e705a, 1-minute load 1.2 median during the run), both "
    "hybrid searches meet the 20 ms target at a million with PostgreSQL's default 128 MB "
    "of shared_buffers: 15.6 ms as head office, 16.9 ms as Seattle's manager with "
    "in_stock_only (the tables above; an AMD EPYC). On an Intel Xeon on 2026-12-05, where "
    "plain search took 7.6 ms against the EPYC's 5.9, the same searches took 17.4 ms as "
    "head office and 26.3 ms as Seattle's manager (9.6 and 13.6 ms with shared_buffers "
    "holding the tables): Seattle's in_stock_only misses the target there. Rerun the same "
    "day after item 8: 15.1 and 26.5 ms, 8.4 and 12.2 ms with shared_buffers holding the "
    "tables. The planner's "
    "store test that the inventory policy gained that day (commit c06270f) does not move "
    "it: the 100 queries in alternating blocks, three with each policy, Seattle's hybrid "
    "median 27.3 ms with the policy before and 27.4 ms after. Load moves these figures more "
    "than any change here: runs of the same code while other work loaded both cores gave 25.7 to 47.3 ms "
    "as head office and 37.7 to 53.7 ms as Seattle (load 3.4 to 6.5). Measured in "
    "alternating blocks of the 100 queries (load 2.6 to 4.8), Seattle's hybrid median was "
    "52.6, 50.7, 72.8 and 44.9 ms with the product_id index against 44.7, 36.3, 39.1 and "
    "46.8 ms with `inventory_in_stock_idx`. Where a call's time goes at a million "
    "(auto_explain with timing, the 100 queries in loop order, machine loaded, so times "
    "are inflated alike): ranking the text matches in `mcp_internal.product_text_matches` "
    "23 ms median (1,666 pages read per call: a one-word query ranks every product holding "
    "the word, a few thousand), the HNSW scan with its stock tests 21 ms (1,944 reads: "
    "about 360 candidates scanned for 40 in stock), the stock tests 1 ms per half (no "
    "reads). Nearly all of it is pages read from outside shared_buffers: the HNSW index "
    "alone is 1,953 MB. With shared_buffers holding what the search reads (the rows "
    "naming `shared_buffers` above: the server restarted with it in the same run), the "
    "medians fall to 7.7 ms as head office and 10.9 ms as Seattle, and the p95s under "
    "20 ms. A deployment at this size sizes shared_buffers to it (docs/scaling.md).",
    "",
    "Tried and not kept (2026-12-05, Intel Xeon, 128 MB shared_buffers): an HNSW index on "
    "the vectors cast to `halfvec(384)` (same m and ef_construction), with the search "
    "ordering by the same cast, to read fewer pages. The index took 1,163 MB against "
    "1,953 MB and 399 s to build, but over the 100 queries, two rounds alternating with the "
    "float index's function, the medians did not move: plain 6.1 against 6.4 ms, hybrid as "
    "head office 15.5 against 15.0 ms, Seattle's hybrid with in_stock_only 22.5 against "
    "22.5 ms; recall@10 fell from 0.974 to 0.964 (plain) and from 0.971 to 0.965 "
    "(in_stock_only). In the same rounds Seattle's in_stock_only search without text took "
    "11.6 ms: the text half, ranking each product that holds a query word, is the other "
    "half of the hybrid call, and it reads a table page per match.",
)

# The statement semantic_search_products sends (server/zava_mcp/tools.py), and the same
# for the function as it was before.
SEARCH: LiteralString = (
    "select coalesce(jsonb_agg(to_jsonb(match) order by match.score desc, "
    "match.product_id), '[]') from mcp.search_products("
    "%s, %s::integer, %s::real, %s::text, %s, %s::text) as match"
)
SEARCH_BEFORE: LiteralString = (
    "select coalesce(jsonb_agg(to_jsonb(match) order by match.score desc, "
    "match.product_id), '[]') from bench_vectors.search_products_before("
    "%s, %s::integer, %s::real, %s::text, %s, %s::text) as match"
)


# --- the synthetic catalog ---


@dataclass(frozen=True)
class Corpus:
    """What a synthetic dataset is made of; the same values make the same rows."""

    count: int
    dimensions: int
    model: str
    seed: int = SEED

    @property
    def clusters(self) -> int:
        return max(10, self.count // CLUSTER_SIZE)

    @property
    def topics(self) -> int:
        return max(2, self.clusters // CLUSTERS_PER_TOPIC)


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


class Shapes:
    """The cluster structure of a corpus: centres, low-rank bases, sizes and words."""

    def __init__(self, corpus: Corpus) -> None:
        rng = np.random.default_rng([corpus.seed, 0])
        d = corpus.dimensions
        topics = _unit(rng.standard_normal((corpus.topics, d)))
        topic_of = rng.integers(corpus.topics, size=corpus.clusters)
        offsets = _unit(rng.standard_normal((corpus.clusters, d)))
        self.centres = _unit(topics[topic_of] + CLUSTER_SPREAD * offsets).astype(np.float32)
        # Each basis row has unit expected length, so RANK_SCALE is the offset's length.
        self.bases = (rng.standard_normal((corpus.clusters, CLUSTER_RANK, d)) / np.sqrt(d)).astype(
            np.float32
        )
        # Uneven cluster sizes, as real catalogs have popular and niche kinds of product.
        self.weights = rng.dirichlet(np.full(corpus.clusters, 2.0))
        self.vocabulary = _vocabulary(rng)
        self.cluster_words = np.stack(
            [
                rng.choice(VOCABULARY_SIZE, WORDS_PER_CLUSTER, replace=False)
                for _ in range(corpus.clusters)
            ]
        )
        self.dimensions = d

    def draw(self, clusters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Unit vectors around the given clusters' centres."""
        d = self.dimensions
        points = self.centres[clusters].copy()
        latent = rng.standard_normal((len(clusters), CLUSTER_RANK)).astype(np.float32)
        latent *= RANK_SCALE / np.sqrt(CLUSTER_RANK)
        for cluster in np.unique(clusters):
            members = np.flatnonzero(clusters == cluster)
            points[members] += latent[members] @ self.bases[cluster]
        points += rng.standard_normal((len(clusters), d)).astype(np.float32) * (
            NOISE_SCALE / np.sqrt(d)
        )
        return _unit(points).astype(np.float32)


def _vocabulary(rng: np.random.Generator) -> list[str]:
    """Made-up three-syllable words: a vocabulary whose frequencies we control."""
    syllables = [c + v for c in "bdfgklmnprtvz" for v in "aeiou"]
    picks = rng.choice(len(syllables) ** 3, VOCABULARY_SIZE, replace=False)
    n = len(syllables)
    return [syllables[p // n // n] + syllables[p // n % n] + syllables[p % n] for p in picks]


@dataclass(frozen=True)
class Query:
    vector: np.ndarray
    text: str


def queries(corpus: Corpus, shapes: Shapes, count: int) -> list[Query]:
    """Fresh draws from the corpus's clusters (never dataset members), each with one or
    two of its cluster's words as query_text."""
    rng = np.random.default_rng([corpus.seed, 2])
    clusters = rng.choice(corpus.clusters, count, p=shapes.weights)
    vectors = shapes.draw(clusters, rng)
    found = []
    for index, cluster in enumerate(clusters):
        words = [shapes.vocabulary[w] for w in shapes.cluster_words[cluster][: 1 + index % 2]]
        found.append(Query(vectors[index], " ".join(words)))
    return found


# --- building and caching a dataset ---


def database_name(count: int, quick: bool) -> str:
    return "zava_bench_vectors_quick" if quick else f"zava_bench_vectors_{count}"


def index_statement(settings: Settings, name: str) -> str:
    """The statement of the index file that creates the named index."""
    found = re.search(
        rf"create index if not exists {name}\b.*?;", schema.render(INDEX_FILE, settings), re.DOTALL
    )
    if found is None:
        raise RuntimeError(f"{INDEX_FILE} no longer creates {name}")
    return found.group()


def index_definition(settings: Settings) -> str:
    """A fingerprint of the HNSW index's statement in the index file: when it changes,
    the index is rebuilt on the cached data."""
    return hashlib.sha256(index_statement(settings, HNSW_INDEX).encode()).hexdigest()[:16]


def dataset(count: int, quick: bool, rebuild: bool) -> tuple[Settings, str, dict[str, Any]]:
    """The dataset's settings, admin DSN and build record, built now or found cached."""
    settings = measure.bench_settings(database_name(count, quick))
    corpus = Corpus(count, settings.embedding_dim, settings.embeddings.model)
    wanted = {"corpus": asdict(corpus), "shape": _shape_parameters()}
    if not rebuild and measure.database_exists(settings):
        url = database.admin_url(settings)
        record = measure.database_marker(url, MARKER_PREFIX)
        if record and {key: record.get(key) for key in wanted} == wanted:
            cached = "yes"
            if record.get("index_definition") != index_definition(settings):
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(f"drop index if exists retail.{HNSW_INDEX}")
                    record.update(_build_vector_index(conn, settings))
                measure.set_database_marker(url, settings, MARKER_PREFIX, record)
                cached = "rows yes, index rebuilt in this run"
            # Changed functions and policies are measured: apply the schema again.
            schema.build(url, settings)
            return settings, url, {**record, "cached": cached}
    url = measure.fresh_database(settings)
    record = {**wanted, **_load(url, settings, corpus)}
    # The stores came with the load: their managers and head office get their roles now.
    with psycopg.connect(url) as conn:
        conn.execute(schema.render(DB_DIR / schema.PRINCIPAL_ROLES, settings))
    measure.set_database_marker(url, settings, MARKER_PREFIX, record)
    return settings, url, {**record, "cached": "no, built in this run"}


def _shape_parameters() -> dict[str, float]:
    return {
        "cluster_size": CLUSTER_SIZE,
        "clusters_per_topic": CLUSTERS_PER_TOPIC,
        "cluster_spread": CLUSTER_SPREAD,
        "cluster_rank": CLUSTER_RANK,
        "rank_scale": RANK_SCALE,
        "noise_scale": NOISE_SCALE,
        "seattle_in_stock": SEATTLE_IN_STOCK,
        "seattle_sold_out": SEATTLE_SOLD_OUT,
    }


def _load(url: str, settings: Settings, corpus: Corpus) -> dict[str, Any]:
    """Fill a freshly built schema with the corpus, then build the text and vector
    indexes on the loaded rows (faster than maintaining them row by row)."""
    shapes = Shapes(corpus)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"drop index retail.{HNSW_INDEX}")
        conn.execute(f"drop index retail.{TEXT_INDEX}")
        with conn.transaction():
            types, store_count = _insert_catalog(conn)
            for first in range(0, corpus.count, CHUNK):
                size = min(CHUNK, corpus.count - first)
                _copy_chunk(conn, corpus, shapes, first, size, types, store_count)
        load_seconds = time.perf_counter() - started
        begun = time.perf_counter()
        conn.execute(index_statement(settings, TEXT_INDEX))
        text_index_seconds = time.perf_counter() - begun
        record = _build_vector_index(conn, settings)
        conn.execute("vacuum analyze")
    return {
        "load_seconds": round(load_seconds, 1),
        "text_index_seconds": round(text_index_seconds, 1),
        **record,
    }


def _build_vector_index(conn: psycopg.Connection, settings: Settings) -> dict[str, Any]:
    """Apply the index file (only the missing HNSW index is built) and time it."""
    notices: list[str] = []
    conn.add_notice_handler(lambda notice: notices.append(notice.message_primary or ""))
    for name, value in BUILD_SETTINGS.items():
        conn.execute("select set_config(%s, %s, false)", (name, value))
    begun = time.perf_counter()
    conn.execute(schema.render(INDEX_FILE, settings))
    seconds = time.perf_counter() - begun
    row = conn.execute(
        "select pg_relation_size(%s::regclass), pg_get_indexdef(%s::regclass)",
        (f"retail.{HNSW_INDEX}", f"retail.{HNSW_INDEX}"),
    ).fetchone()
    assert row is not None
    for name in BUILD_SETTINGS:
        conn.execute(sql.SQL("reset {}").format(sql.Identifier(name)))
    return {
        "index_seconds": round(seconds, 1),
        "index_bytes": row[0],
        "index_sql": row[1],
        "index_definition": index_definition(settings),
        "index_notices": [n for n in notices if "hnsw" in n.lower()],
        "build_settings": BUILD_SETTINGS,
    }


def _insert_catalog(conn: psycopg.Connection) -> tuple[list[tuple[int, str, str]], int]:
    """The sample's own stores (the seed's first two steps, whose scratch schema goes at
    once) and categories (its catalog file), with synthetic product types; returns the
    types (category index, category, kind) and how many stores there are."""
    for step in ("00_prepare.sql", "10_stores.sql"):
        conn.execute((SEED_DIR / step).read_text())
    conn.execute("drop schema zava_seed cascade")
    categories = _categories()
    types = _types(categories)
    with conn.cursor() as cursor:
        cursor.executemany(
            "insert into retail.categories (category_id, category_name) values (%s, %s)",
            list(enumerate(categories, start=1)),
        )
        cursor.executemany(
            "insert into retail.product_types (type_id, category_id, type_name) "
            "values (%s, %s, %s)",
            [(t + 1, c + 1, f"{name} {kind}") for t, (c, name, kind) in enumerate(types)],
        )
    found = conn.execute("select count(*) from retail.stores").fetchone()
    return types, int(found[0]) if found else 0


def _categories() -> list[str]:
    """The reference's categories, in the order of the sample's catalog file."""
    with (SEED_DIR / "catalog" / "categories.csv").open(newline="") as catalog:
        return [row["category_name"] for row in csv.DictReader(catalog)]


def _types(categories: Sequence[str]) -> list[tuple[int, str, str]]:
    return [(c, name, kind) for c, name in enumerate(categories) for kind in TYPE_KINDS]


def _copy_chunk(
    conn: psycopg.Connection,
    corpus: Corpus,
    shapes: Shapes,
    first: int,
    size: int,
    types: list[tuple[int, str, str]],
    store_count: int,
) -> None:
    """Products first..first+size-1 (ids from 1): rows, vectors and stock."""
    rng = np.random.default_rng([corpus.seed, 1, first])
    clusters = rng.choice(corpus.clusters, size, p=shapes.weights)
    vectors = shapes.draw(clusters, rng)
    ids = np.arange(first + 1, first + size + 1, dtype=np.int32)
    # Four of the cluster's six words (name and description) and two from anywhere.
    order = np.argsort(rng.random((size, WORDS_PER_CLUSTER)), axis=1)[:, :4]
    own = np.take_along_axis(shapes.cluster_words[clusters], order, axis=1)
    other = rng.integers(VOCABULARY_SIZE, size=(size, 2))
    prices = np.round(rng.uniform(5, 500, size), 2)
    words = shapes.vocabulary
    lines = []
    for i in range(size):
        type_index = int(clusters[i]) % len(types)
        category, category_name, kind = types[type_index]
        w = [words[j] for j in own[i]]
        price = float(prices[i])
        lines.append(
            f"{ids[i]}\tVEC-{ids[i]:07d}\t{w[0].title()} {w[1].title()} {kind} {ids[i]}\t"
            f"{category + 1}\t{type_index + 1}\t{price * 0.6:.2f}\t{price:.2f}\t40.00\t"
            f"{category_name} {kind.lower()} with {w[2]} {w[3]} and {words[other[i, 0]]} "
            f"{words[other[i, 1]]} details.\n"
        )
    with conn.cursor().copy(
        "copy retail.products (product_id, sku, product_name, category_id, type_id, cost, "
        "base_price, gross_margin_percent, product_description) from stdin"
    ) as copy:
        copy.write("".join(lines))
    with conn.cursor().copy(
        "copy retail.product_description_embeddings (product_id, description_embedding, "
        "model_name) from stdin with (format binary)"
    ) as copy:
        copy.write(_binary_embeddings(ids, vectors, corpus.model))
    stock = rng.random(size)
    levels = rng.integers(1, 41, size=size)
    elsewhere = rng.integers(2, store_count + 1, size=size)
    rows = []
    for i in range(size):
        if stock[i] < SEATTLE_IN_STOCK + SEATTLE_SOLD_OUT:
            level = int(levels[i]) if stock[i] < SEATTLE_IN_STOCK else 0
            rows.append(f"{SEATTLE_STORE_ID}\t{ids[i]}\t{level}\n")
        rows.append(f"{elsewhere[i]}\t{ids[i]}\t{levels[i]}\n")
    with conn.cursor().copy(
        "copy retail.inventory (store_id, product_id, stock_level) from stdin"
    ) as copy:
        copy.write("".join(rows))


def _binary_embeddings(ids: np.ndarray, vectors: np.ndarray, model: str) -> bytes:
    """COPY BINARY rows (product_id, vector, model_name), laid out by numpy: a vector
    is sent as int16 dimensions, int16 zero, then big-endian float4s."""
    d = vectors.shape[1]
    name = model.encode()
    layout = np.dtype(
        [
            ("fields", ">i2"),
            ("id_size", ">i4"),
            ("id", ">i4"),
            ("vector_size", ">i4"),
            ("dimensions", ">i2"),
            ("unused", ">i2"),
            ("vector", ">f4", (d,)),
            ("name_size", ">i4"),
            ("name", f"S{len(name)}"),
        ]
    )
    rows = np.zeros(len(ids), layout)
    rows["fields"] = 3
    rows["id_size"] = 4
    rows["id"] = ids
    rows["vector_size"] = 4 + 4 * d
    rows["dimensions"] = d
    rows["vector"] = vectors
    rows["name_size"] = len(name)
    rows["name"] = name
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    return header + rows.tobytes() + (-1).to_bytes(2, "big", signed=True)


# --- exact neighbours ---

EXACT_QUERIES: dict[str, LiteralString] = {
    "all": (
        "select array_agg(product_id order by distance) from ("
        " select product_id, description_embedding <=> %(q)s as distance"
        " from retail.product_description_embeddings order by distance limit %(k)s) as top"
    ),
    "seattle_in_stock": (
        "select array_agg(product_id order by distance) from ("
        " select embedding.product_id, embedding.description_embedding <=> %(q)s as distance"
        " from retail.product_description_embeddings as embedding"
        " where exists (select from retail.inventory as stock"
        "  where stock.product_id = embedding.product_id and stock.store_id = 1"
        "  and stock.stock_level > 0)"
        " order by distance limit %(k)s) as top"
    ),
}
EXACT_DEPTH = 20  # enough for max_rows 20


def exact_neighbours(
    url: str, corpus: Corpus, found: Sequence[Query]
) -> dict[str, list[list[int]]]:
    """The exact nearest products of each query by a sequential scan (index scans off),
    kept in bench_vectors.exact_neighbours so a cached dataset computes them once."""
    query_set = f"seed={corpus.seed} count={len(found)} depth={EXACT_DEPTH}"
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        conn.execute("create schema if not exists bench_vectors")
        conn.execute(
            "create table if not exists bench_vectors.exact_neighbours ("
            " query_set text, kind text, query_index integer, product_ids integer[],"
            " primary key (query_set, kind, query_index))"
        )
        conn.execute("set enable_indexscan = off")
        conn.execute("set enable_bitmapscan = off")
        answers: dict[str, list[list[int]]] = {}
        for kind, statement in EXACT_QUERIES.items():
            rows = conn.execute(
                "select product_ids from bench_vectors.exact_neighbours "
                "where query_set = %s and kind = %s order by query_index",
                (query_set, kind),
            ).fetchall()
            if len(rows) == len(found):
                answers[kind] = [list(row[0]) for row in rows]
                continue
            answers[kind] = []
            for index, query in enumerate(found):
                row = conn.execute(statement, {"q": query.vector, "k": EXACT_DEPTH}).fetchone()
                product_ids = list(row[0]) if row and row[0] else []
                answers[kind].append(product_ids)
                conn.execute(
                    "insert into bench_vectors.exact_neighbours values (%s, %s, %s, %s) "
                    "on conflict do nothing",
                    (query_set, kind, index, product_ids),
                )
    return answers


def recall(found: Sequence[int], exact: Sequence[int], k: int = K) -> float:
    """The share of the exact top-k that the first k found products contain."""
    truth = set(exact[:k])
    if not truth:
        raise ValueError("recall needs at least one exact neighbour")
    return len(truth & set(found[:k])) / len(truth)


# --- searching the server's way ---


class Reader:
    """Connections that call like calls.Database: each principal's own login role
    (database.principal_url), and a call as one pipeline of begin read only, the
    statement with server-side parameters, rollback and the server's session cleaning."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.conns: dict[str, psycopg.Connection] = {}

    def _connection(self, principal: str) -> psycopg.Connection:
        conn = self.conns.get(principal)
        if conn is None:
            conn = psycopg.connect(
                database.principal_url(self.settings, principal),
                autocommit=True,
                prepare_threshold=None,
            )
            register_vector(conn)
            self.conns[principal] = conn
        return conn

    def call(
        self, principal: str, statement: LiteralString, params: Sequence[Any]
    ) -> tuple[Any, float]:
        conn = self._connection(principal)
        begun = time.perf_counter()
        with conn.pipeline():
            conn.execute("begin read only")
            cursor = conn.execute(statement, params)
            conn.execute("rollback")
            conn.execute(CLEAN_SESSION)
        row = cursor.fetchone()
        return (row[0] if row else None), time.perf_counter() - begun

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()


@dataclass(frozen=True)
class Search:
    """One way of calling mcp.search_products for every query."""

    principal: str
    max_rows: int = K
    hybrid: bool = False
    in_stock_only: bool = False
    before: bool = False  # the function as it was at BEFORE_COMMIT


def run_searches(
    reader: Reader,
    model: str,
    found: Sequence[Query],
    search: Search,
    repeats: int,
    warm_up: int | None = None,
) -> tuple[measure.Timings, list[list[dict[str, Any]]]]:
    """The first warm_up queries (default all) unmeasured, then `repeats` measured passes
    over every query; the answers are those of the first measured pass."""

    def call(query: Query) -> tuple[list[dict[str, Any]], float]:
        params = [
            query.vector,
            search.max_rows,
            0.0,  # min_similarity 0: recall counts every neighbour, however far
            query.text if search.hybrid else None,
            search.in_stock_only,
            model,
        ]
        return reader.call(search.principal, SEARCH_BEFORE if search.before else SEARCH, params)

    for query in found[:warm_up]:
        call(query)
    answers: list[list[dict[str, Any]]] = []
    samples = []
    started = time.perf_counter()
    for _ in range(repeats):
        for query in found:
            answer, seconds = call(query)
            samples.append(seconds)
            if len(answers) < len(found):
                answers.append(answer)
    return measure.Timings(samples, time.perf_counter() - started), answers


def ids(answer: list[dict[str, Any]]) -> list[int]:
    return [row["product_id"] for row in answer]


def figures(
    timings: measure.Timings,
    answers: list[list[dict[str, Any]]],
    exact: list[list[int]] | None,
    max_rows: int,
) -> dict[str, Any]:
    """Latency, recall@10 (and @max_rows) and how often the full max_rows came back."""
    summary: dict[str, Any] = timings.summary()
    summary["full_rows_rate"] = round(
        sum(len(answer) == max_rows for answer in answers) / len(answers), 3
    )
    if exact is not None:
        summary["recall_at_10"] = round(
            float(np.mean([recall(ids(a), e) for a, e in zip(answers, exact, strict=True)])), 4
        )
        summary[f"recall_at_{max_rows}"] = round(
            float(
                np.mean([recall(ids(a), e, max_rows) for a, e in zip(answers, exact, strict=True)])
            ),
            4,
        )
    return summary


def alter_search(conn: psycopg.Connection, name: str, value: str) -> None:
    """Change one setting of mcp.search_products' SET clause (benchmark database only)."""
    conn.execute(
        sql.SQL("alter function " + SEARCH_SIGNATURE + " set {} = {}").format(
            sql.Identifier(*name.split(".")), sql.Literal(value)
        )
    )


def model_check_cost(url: str, settings: Settings, repeats: int) -> dict[str, Any]:
    """What checking query_model costs as the reader: the read of every stored model name
    the function did first, against the two index probes it does now."""
    reader = Reader(settings)
    statements: dict[str, LiteralString] = {
        "array_agg(distinct model_name) over every row (before)": (
            "select array_agg(distinct embedding.model_name) "
            "from retail.product_description_embeddings as embedding"
        ),
        "min() and max() of model_name, by index (now)": (
            "select min(embedding.model_name), max(embedding.model_name) "
            "from retail.product_description_embeddings as embedding"
        ),
    }
    found = {}
    for label, statement in statements.items():

        def call(statement: LiteralString = statement) -> tuple[Any, float]:
            return reader.call(measure.HEAD_OFFICE, statement, ())

        found[label] = measure.time_calls(call, repeats, 2).summary()
    reader.close()
    return found


def install_before(url: str, settings: Settings) -> str | None:
    """Install the search function of BEFORE_COMMIT, with the document function it
    called, as bench_vectors.search_products_before (its expression index left out: under
    row level security the old function could not use it). Returns why not when git or
    the commit is missing."""
    texts = []
    for path in BEFORE_FILES:
        try:
            shown = subprocess.run(
                ["git", "-C", str(DB_DIR.parent), "show", f"{BEFORE_COMMIT}:{path}"],
                capture_output=True,
                text=True,
                check=True,
            )
        except (OSError, subprocess.CalledProcessError) as error:
            return f"git show {BEFORE_COMMIT[:7]}:{path} failed: {error}"
        template = jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(shown.stdout)
        text = template.render(settings.template_values)
        text = re.sub(r"^(re)?set role.*$", "", text, flags=re.MULTILINE)
        text = re.sub(r"create index if not exists .*?;", "", text, flags=re.DOTALL)
        text = text.replace(
            "mcp_internal.product_search_document(", "bench_vectors.product_search_document("
        )
        texts.append(text.replace("mcp.search_products(", "bench_vectors.search_products_before("))
    with _owner_connection(url) as conn:
        conn.execute("create schema if not exists bench_vectors")
        conn.execute(
            sql.SQL("grant usage on schema bench_vectors to {}").format(
                sql.Identifier(settings.reader_role)
            )
        )
        for text in texts:
            conn.execute(text)
    return None


def phrase_matches() -> dict[str, Any]:
    """The three phrases through the tool's statement (its defaults: max_rows 20,
    similarity 30), embedded by the local model, on the sample catalog with embeddings:
    rows returned and rows that matched the words, as head office and as Seattle's
    manager with in_stock_only, before and now."""
    import asyncio

    from zava_mcp.embeddings import LocalProvider, embed_products

    settings, url = measure.sample_database(0.05, PHRASE_DATABASE)
    provider = LocalProvider(settings.embeddings)
    with psycopg.connect(url) as conn:
        row = conn.execute("select count(*) from retail.product_description_embeddings").fetchone()
    if not row or not row[0]:
        asyncio.run(embed_products(url, provider, owner_role=settings.owner_role))
    vectors = asyncio.run(provider.embed(list(PHRASES)))
    skipped = install_before(url, settings)
    reader = Reader(settings)
    found: dict[str, Any] = {"before_skipped": skipped, "phrases": {}}
    for phrase, vector in zip(PHRASES, vectors, strict=True):
        per_phrase: dict[str, Any] = {}
        for label, principal, in_stock in (
            ("head office", measure.HEAD_OFFICE, False),
            ("Seattle, in_stock_only", measure.SEATTLE, True),
        ):
            for version, statement in (("now", SEARCH), ("before", SEARCH_BEFORE)):
                if version == "before" and skipped:
                    continue
                params = [
                    np.array(vector, dtype=np.float32),
                    20,
                    30.0,
                    phrase,
                    in_stock,
                    settings.embeddings.model,
                ]
                answer, _ = reader.call(principal, statement, params)
                per_phrase[f"{label}, {version}"] = {
                    "rows": len(answer),
                    "text_matches": sum(match["text_rank"] is not None for match in answer),
                    "top_text_match": next(
                        (
                            match["product_name"]
                            for match in answer
                            if match["text_rank"] is not None
                        ),
                        None,
                    ),
                }
        found["phrases"][phrase] = per_phrase
    reader.close()
    return found


def measure_dataset(count: int, quick: bool, rebuild: bool, largest: bool) -> dict[str, Any]:
    settings, url, build = dataset(count, quick, rebuild)
    corpus = Corpus(count, settings.embedding_dim, settings.embeddings.model)
    shapes = Shapes(corpus)
    found = queries(corpus, shapes, QUICK_QUERY_COUNT if quick else QUERY_COUNT)
    exact = exact_neighbours(url, corpus, found)
    repeats = 1 if quick else 2
    model = settings.embeddings.model
    reader = Reader(settings)
    with psycopg.connect(url, autocommit=True) as conn:
        seattle_stock = {
            row[0]
            for row in conn.execute(
                "select product_id from retail.inventory where store_id = %s and stock_level > 0",
                (SEATTLE_STORE_ID,),
            )
        }
        index_size = conn.execute(
            "select pg_relation_size(%s::regclass)", (f"retail.{HNSW_INDEX}",)
        ).fetchone()
    results: dict[str, Any] = {
        "count": count,
        "queries": len(found),
        "build": build,
        "index_bytes_now": index_size[0] if index_size else None,
        "seattle_in_stock_products": len(seattle_stock),
        "search_settings": search_settings(url),
    }

    plain_timings, plain = run_searches(reader, model, found, Search(measure.HEAD_OFFICE), repeats)
    results["plain"] = figures(plain_timings, plain, exact["all"], K)

    # Hybrid search, now and as it was: as head office, and as Seattle's manager with
    # in_stock_only. The function as it was reads every product, so it runs on the first
    # few queries only, once each; "now" is shown on the same queries beside it.
    skipped = install_before(url, settings)
    results["before_skipped"] = skipped
    before_count = QUICK_BEFORE_QUERIES if quick else BEFORE_QUERIES
    results["hybrid"] = {}
    for name, search in (
        ("head_office", Search(measure.HEAD_OFFICE, hybrid=True)),
        ("seattle_in_stock", Search(measure.SEATTLE, hybrid=True, in_stock_only=True)),
    ):
        timings, hybrid = run_searches(reader, model, found, search, repeats)
        figure = {**figures(timings, hybrid, None, K), "text_matched_share": _text_share(hybrid)}
        if name == "head_office":
            figure["overlap_with_plain_at_10"] = round(
                float(
                    np.mean(
                        [
                            len(set(ids(h)) & set(ids(p))) / K
                            for h, p in zip(hybrid, plain, strict=True)
                        ]
                    )
                ),
                3,
            )
        if not skipped:
            first = found[:before_count]
            now_timings, now = run_searches(reader, model, first, search, 1, 1)
            before_timings, before = run_searches(
                reader, model, first, Search(**{**asdict(search), "before": True}), 1, 1
            )
            figure["same_queries"] = {
                "queries": len(first),
                "now_median_ms": now_timings.summary()["median_ms"],
                "before_median_ms": before_timings.summary()["median_ms"],
                "now_text_matched_share": _text_share(now),
                "before_text_matched_share": _text_share(before),
            }
        results["hybrid"][name] = figure

    reader.close()  # the sized-memory pass restarts the server
    if quick:
        results["sized_memory"] = {
            "skipped": "quick mode runs in the tests' PostgreSQL, which it does not restart"
        }
    elif largest:
        results["sized_memory"] = hybrid_with_sized_memory(settings, url, model, found, repeats)
    reader = Reader(settings)

    results["in_stock"] = {}
    outside = 0
    for max_rows in (10, 20):
        timings, answers = run_searches(
            reader,
            model,
            found,
            Search(measure.SEATTLE, max_rows=max_rows, in_stock_only=True),
            repeats,
        )
        outside += sum(pid not in seattle_stock for a in answers for pid in ids(a))
        results["in_stock"][str(max_rows)] = figures(
            timings, answers, exact["seattle_in_stock"], max_rows
        )
    results["in_stock_rows_not_in_seattle_stock"] = outside

    results["sweep"] = sweep(
        url, settings, reader, found, exact, repeats, QUICK_EF_SWEEP if quick else EF_SWEEP
    )
    results["model_check"] = model_check_cost(url, settings, 5 if quick else 10)
    reader.close()
    return results


# What hybrid search reads: a deployment at a million products gives PostgreSQL the memory to
# hold them (pgvector's advice for HNSW), where the embedded server keeps PostgreSQL's 128 MB.
SEARCH_RELATIONS = ("retail.products", "retail.product_description_embeddings", "retail.inventory")


def sized_shared_buffers(relations_bytes: int) -> str:
    """shared_buffers that holds the given bytes: whole GiB, rounded up, at least one."""
    return f"{max(1, -(-relations_bytes // 2**30))}GB"


def _restart(settings: Settings, url: str, shared_buffers: str | None) -> str:
    """Set (None: reset) shared_buffers and restart the embedded server; its setting now."""
    with psycopg.connect(url, autocommit=True) as conn:
        if shared_buffers is None:
            conn.execute("alter system reset shared_buffers")
        else:
            conn.execute(
                sql.SQL("alter system set shared_buffers = {}").format(sql.Literal(shared_buffers))
            )
    database.stop_embedded(settings)
    with psycopg.connect(database.admin_url(settings), autocommit=True) as conn:
        row = conn.execute("show shared_buffers").fetchone()
    return str(row[0]) if row else "?"


def hybrid_with_sized_memory(
    settings: Settings, url: str, model: str, found: Sequence[Query], repeats: int
) -> dict[str, Any]:
    """Hybrid search again with shared_buffers sized to SEARCH_RELATIONS (the embedded
    server restarted with it, then with its own setting again); the warm-up pass reads the
    pages in. Other users of the benchmarks' PostgreSQL lose their connections twice."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select sum(pg_total_relation_size(r::regclass))::bigint from unnest(%s::text[]) r",
            (list(SEARCH_RELATIONS),),
        ).fetchone()
        default = conn.execute("show shared_buffers").fetchone()
    relations_bytes = int(row[0]) if row and row[0] else 0
    result: dict[str, Any] = {
        "relations": list(SEARCH_RELATIONS),
        "relations_bytes": relations_bytes,
        "default_shared_buffers": default[0] if default else "?",
    }
    try:
        result["shared_buffers"] = _restart(settings, url, sized_shared_buffers(relations_bytes))
        reader = Reader(settings)
        try:
            result["hybrid"] = {
                name: figures(*run_searches(reader, model, found, search, repeats), None, K)
                for name, search in (
                    ("head_office", Search(measure.HEAD_OFFICE, hybrid=True)),
                    ("seattle_in_stock", Search(measure.SEATTLE, hybrid=True, in_stock_only=True)),
                )
            }
        finally:
            reader.close()
    finally:
        _restart(settings, url, None)
    return result


def _text_share(answers: list[list[dict[str, Any]]]) -> float:
    """The share of returned rows that matched the query's words."""
    rows = [row["text_rank"] is not None for answer in answers for row in answer]
    return round(float(np.mean(rows)), 3) if rows else 0.0


def search_settings(url: str) -> dict[str, str]:
    """The SET clause of mcp.search_products as built (what the plain figures ran with)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select proconfig from pg_proc where oid = %s::regprocedure", (SEARCH_SIGNATURE,)
        ).fetchone()
    config = row[0] if row and row[0] else []
    return dict(item.split("=", 1) for item in config)


def sweep(
    url: str,
    settings: Settings,
    reader: Reader,
    found: Sequence[Query],
    exact: dict[str, list[list[int]]],
    repeats: int,
    ef_values: Sequence[int],
) -> list[dict[str, Any]]:
    """mcp.search_products with other SET clauses: ef_search per point, and the naive
    scan (iterative scan off); the function file is applied again afterwards."""
    model = settings.embeddings.model
    points: list[dict[str, Any]] = []
    variants = [("relaxed_order", ef) for ef in ef_values]
    variants.append(("off", 100))
    try:
        with _owner_connection(url) as conn:
            for iterative, ef in variants:
                alter_search(conn, "hnsw.ef_search", str(ef))
                alter_search(conn, "hnsw.iterative_scan", iterative)
                point: dict[str, Any] = {"ef_search": ef, "iterative_scan": iterative}
                for name, search, truth in (
                    ("plain", Search(measure.HEAD_OFFICE), exact["all"]),
                    (
                        "in_stock",
                        Search(measure.SEATTLE, in_stock_only=True),
                        exact["seattle_in_stock"],
                    ),
                ):
                    timings, answers = run_searches(reader, model, found, search, repeats)
                    point[name] = figures(timings, answers, truth, K)
                points.append(point)
    finally:
        with _owner_connection(url) as conn:
            conn.execute(schema.render(SEARCH_FILE, settings))
    return points


def _owner_connection(url: str) -> psycopg.Connection:
    """An admin connection with pgvector loaded: the hnsw.* settings of the function's
    SET clause are then real parameters, not placeholders only a superuser may set."""
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("load 'vector'")
    return conn


# --- the family ---


# How a search was called: figures saved before principal roles carry no call_path.
CALL_PATH = "principal role pipeline"
CALL_PATHS = {
    "bound login role": "a pooled-style connection of the server's login role, a transaction "
    "bound to the principal (`mcp.bind_principal`: read only, reader role), the tool's own "
    "statement (the function wrapped in `jsonb_agg`), rollback, the server's session "
    "cleaning (not timed; these figures were measured before principal login roles).",
    CALL_PATH: "a connection logged in as the principal's own role, and one pipeline (one "
    "round trip, extended protocol) of `begin read only`, the tool's own statement (the "
    "function wrapped in `jsonb_agg`) with server-side parameters, `rollback` and the "
    "server's session cleaning, as `calls.Database` sends it.",
}


def run(
    quick: bool = False, rebuild: bool = False, sizes: Sequence[int] = FULL_SIZES
) -> dict[str, Any]:
    """Measure every dataset size (quick: one small dataset, always built afresh;
    ZAVA_BENCH_REBUILD=1 builds the cached ones again too)."""
    rebuild = rebuild or os.environ.get("ZAVA_BENCH_REBUILD") == "1"
    if quick:
        sizes = (QUICK_SIZE,)
    results: dict[str, Any] = {
        "call_path": CALL_PATH,
        "targets": {"recall_at_10": 0.95, "median_ms_at_1m": 20.0},
        "datasets": {
            str(count): measure_dataset(count, quick, rebuild or quick, count == max(sizes))
            for count in sizes
        },
        "phrases": phrase_matches(),
    }
    report(results)
    return results


def report(results: dict[str, Any]) -> None:
    rows = []
    for count, found in results["datasets"].items():
        build = found["build"]
        rows.append([count, build["index_seconds"], round(build["index_bytes"] / 2**20, 1)])
    measure.print_table("HNSW build", ["vectors", "build s", "index MB"], rows)
    measure.print_table(
        "Search through mcp.search_products (bound, reader role)",
        ["vectors", "search", "recall@10", "median ms", "p95 ms", "p99 ms", "full rows"],
        [
            [count, label, *_figure_cells(figure)]
            for count, found in results["datasets"].items()
            for label, figure in _searches(found)
        ],
    )
    measure.print_table(
        "ef_search sweep (the function's SET clause altered per point)",
        [
            "vectors",
            "ef_search",
            "iterative",
            "search",
            "recall@10",
            "median ms",
            "p95 ms",
            "p99 ms",
            "full rows",
        ],
        [
            [count, point["ef_search"], point["iterative_scan"], name, *_figure_cells(point[name])]
            for count, found in results["datasets"].items()
            for point in found["sweep"]
            for name in ("plain", "in_stock")
        ],
    )


HYBRID_LABELS = {
    "head_office": "hybrid, head office",
    "seattle_in_stock": "hybrid, Seattle's manager, in_stock_only",
}


def _searches(found: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("plain", found["plain"]),
        *[(HYBRID_LABELS[name], figure) for name, figure in found["hybrid"].items()],
        *[
            (f"{HYBRID_LABELS[name]}, shared_buffers {sized['shared_buffers']}", figure)
            for sized in [found.get("sized_memory", {})]
            for name, figure in sized.get("hybrid", {}).items()
        ],
        ("in_stock_only, max_rows 10", found["in_stock"]["10"]),
        ("in_stock_only, max_rows 20", found["in_stock"]["20"]),
    ]


def _sized_memory_note(found: dict[str, Any]) -> list[str]:
    sized = found.get("sized_memory", {})
    if "hybrid" not in sized:
        return []
    return [
        f"Every row but those naming `shared_buffers` ran with the embedded server's "
        f"`shared_buffers` ({sized['default_shared_buffers']}, PostgreSQL's default). The "
        f"rows naming it ran after a restart with `shared_buffers` holding what hybrid search "
        f"reads ({', '.join(f'`{r}`' for r in sized['relations'])} with their indexes: "
        f"{sized['relations_bytes'] / 2**20:,.0f} MiB), as a deployment at this size is "
        "configured (docs/scaling.md); the unmeasured pass read the pages in.",
        "",
    ]


def _figure_cells(figure: dict[str, Any]) -> list[Any]:
    return [
        figure.get("recall_at_10", "-"),
        figure["median_ms"],
        figure["p95_ms"],
        figure["p99_ms"],
        figure["full_rows_rate"],
    ]


def _before_cells(figure: dict[str, Any]) -> list[Any]:
    same = figure.get("same_queries")
    if same is None:
        return ["-", "-", figure["median_ms"], "-", "-", f"{figure['text_matched_share']:.0%}"]
    return [
        same["queries"],
        same["before_median_ms"],
        same["now_median_ms"],
        f"{same['before_median_ms'] / same['now_median_ms']:,.0f}x",
        f"{same['before_text_matched_share']:.0%}",
        f"{same['now_text_matched_share']:.0%}",
    ]


def _phrases_section(results: dict[str, Any]) -> list[str]:
    found = results.get("phrases")
    if not found:
        return []
    columns = list(
        dict.fromkeys(key for per_phrase in found["phrases"].values() for key in per_phrase)
    )
    return [
        "Descriptions as people type them, on the sample catalog (442 products, embedded "
        "by the local model; the tool's defaults, `max_rows` 20 and 30 % similarity): "
        "rows that matched the words, of rows returned"
        + (f" (before: skipped, {found['before_skipped']})" if found["before_skipped"] else "")
        + ". Before, every word had to match.",
        "",
        _md_table(
            ["phrase", *columns, "best text match now (head office)"],
            [
                [
                    f"“{phrase}”",
                    *[
                        f"{per_phrase[c]['text_matches']} of {per_phrase[c]['rows']}"
                        for c in columns
                    ],
                    per_phrase["head office, now"]["top_text_match"] or "-",
                ]
                for phrase, per_phrase in found["phrases"].items()
            ],
        ),
        "",
    ]


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10_000:
        return f"{value:,}"
    return str(value)


def _passes(figure: dict[str, Any], queries: int) -> str:
    passes = figure["calls"] // queries
    return "once each" if passes == 1 else f"{passes} times each"


def _largest(results: dict[str, Any]) -> dict[str, Any]:
    return results["datasets"][max(results["datasets"], key=int)]


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, what was measured, met) at the largest dataset."""
    return [(label, value, passed) for label, passed, value in _checks(results)]


def _targets(results: dict[str, Any]) -> list[str]:
    """One line per target, met or missed, with the figure that decides it."""
    return [
        f"- {'met' if passed else '**missed**'}: {label} ({value})"
        for label, passed, value in _checks(results)
    ]


def _checks(results: dict[str, Any]) -> list[tuple[str, bool, str]]:
    found = _largest(results)
    targets = results["targets"]
    checks = [
        (
            f"plain recall@10 ≥ {targets['recall_at_10']}",
            found["plain"]["recall_at_10"] >= targets["recall_at_10"],
            f"{found['plain']['recall_at_10']:.3f}",
        ),
        (
            f"plain median ≤ {targets['median_ms_at_1m']:g} ms",
            found["plain"]["median_ms"] <= targets["median_ms_at_1m"],
            f"{found['plain']['median_ms']:.2f} ms",
        ),
    ]
    # The tool always sends query_text: hybrid search is held to the same target, as
    # head office and as a store manager with in_stock_only (issue 12, target 3).
    for name, figure in found["hybrid"].items():
        checks.append(
            (
                f"{HYBRID_LABELS[name]} (what the tool sends) median ≤ {targets['median_ms_at_1m']:g} ms",
                figure["median_ms"] <= targets["median_ms_at_1m"],
                f"{figure['median_ms']:.2f} ms",
            )
        )
    sized = found.get("sized_memory", {})
    for name, figure in sized.get("hybrid", {}).items():
        checks.append(
            (
                f"{HYBRID_LABELS[name]} median ≤ {targets['median_ms_at_1m']:g} ms with "
                f"shared_buffers {sized['shared_buffers']} (holding the tables it reads)",
                figure["median_ms"] <= targets["median_ms_at_1m"],
                f"{figure['median_ms']:.2f} ms",
            )
        )
    for max_rows in ("10", "20"):
        figure = found["in_stock"][max_rows]
        checks += [
            (
                f"in_stock_only (max_rows {max_rows}) recall@10 ≥ {targets['recall_at_10']}",
                figure["recall_at_10"] >= targets["recall_at_10"],
                f"{figure['recall_at_10']:.3f}",
            ),
            (
                f"in_stock_only returns the full max_rows {max_rows}",
                figure["full_rows_rate"] == 1.0,
                f"{figure['full_rows_rate']:.0%} of queries",
            ),
        ]
    # The sizes' targets hold at the largest dataset; the phrases' on the sample catalog.
    checks = [
        (f"{label} at {found['count']:,} vectors", passed, value) for label, passed, value in checks
    ]
    for phrase, per_phrase in results.get("phrases", {}).get("phrases", {}).items():
        now = per_phrase["head office, now"]
        checks.append(
            (
                f"“{phrase}” gets text matches in the sample catalog, as head office",
                now["text_matches"] > 0,
                f"{now['text_matches']} of {now['rows']} rows",
            )
        )
    return checks


def markdown(results: dict[str, Any]) -> str:
    """The vector search section of docs/benchmarks.md."""
    datasets = results["datasets"]
    largest = _largest(results)
    settings = largest["search_settings"]
    build = largest["build"]
    shape = build["shape"]
    parts = [
        "## 3. Vector search",
        "",
        "`mcp.search_products` called the way `semantic_search_products` calls it: "
        + CALL_PATHS[results.get("call_path", "bound login role")]
        + " Latency is that whole call "
        "seen from the client. Recall@10 compares the first 10 product ids with the exact "
        "top-10 of a sequential scan in PostgreSQL (index scans off); for `in_stock_only` "
        "with the exact top-10 among the products in stock at Seattle (store 1). "
        f"{largest['queries']} queries, measured {_passes(largest['plain'], largest['queries'])} "
        "after one unmeasured pass, `min_similarity` 0 and `max_rows` 10 unless said.",
        "",
        "### The data",
        "",
        "Synthetic, deterministic (numpy, seed "
        f"{build['corpus']['seed']}), {build['corpus']['dimensions']}-d unit vectors shaped "
        "like text embeddings rather than uniform noise, on which HNSW is at its worst and "
        "unlike any real catalog: topics, "
        f"{shape['clusters_per_topic']} clusters per topic (about {shape['cluster_size']:,} "
        "products per cluster, Dirichlet-uneven sizes), and inside a cluster a "
        f"{shape['cluster_rank']}-dimensional spread (length {shape['rank_scale']}) plus "
        f"isotropic noise (length {shape['noise_scale']}). Real sentence embeddings have "
        "that shape: a low intrinsic dimension, neighbours that share a topic, cosine "
        "similarity around 0.8 inside a cluster, 0.4 across a topic and near 0 otherwise. "
        "Queries are fresh draws from the same clusters, never dataset members. Names and "
        "descriptions use a made-up vocabulary of 3,000 words, four of them from the "
        "product's cluster's six, so a query_text of one or two of its cluster's words "
        "matches a few hundred to a few thousand products. Seattle stocks "
        f"{shape['seattle_in_stock']:.0%} of the catalog (another "
        f"{shape['seattle_sold_out']:.0%} at zero) and every product is stocked at one "
        "other store: as Seattle's manager `in_stock_only` keeps one product in ten, the "
        "filter that starves an index scan that stops after `ef_search` candidates.",
        "",
        "### Build",
        "",
        _md_table(
            ["vectors", "load s", "full-text index s", "HNSW build s", "HNSW MB", "cached"],
            [
                [
                    found["count"],
                    found["build"]["load_seconds"],
                    found["build"]["text_index_seconds"],
                    found["build"]["index_seconds"],
                    round(found["build"]["index_bytes"] / 2**20, 1),
                    found["build"]["cached"],
                ]
                for found in datasets.values()
            ],
        ),
        "",
        f"`{build['index_sql']}`, built with "
        + ", ".join(f"`{k} = {v}`" for k, v in build["build_settings"].items())
        + " in the building session (the graph fits in memory: "
        + (
            "pgvector said it did not: " + "; ".join(build["index_notices"])
            if build["index_notices"]
            else "pgvector did not warn that it spilled"
        )
        + "). Build figures come from when the cached database was built; set `ZAVA_BENCH_REBUILD=1` "
        "to measure them again.",
        "",
        "### Search",
        "",
        _md_table(
            ["vectors", "search", "recall@10", "median ms", "p95 ms", "p99 ms", "full max_rows"],
            [
                [found["count"], label, *_figure_cells(figure)]
                for found in datasets.values()
                for label, figure in _searches(found)
            ],
        ),
        "",
        *_sized_memory_note(largest),
        "Hybrid search (`query_text` given; the tool always sends its description as "
        "`query_text`) fuses the vector candidates with the best full-text matches by "
        "reciprocal rank fusion, so it is not meant to reproduce the exact vector top-10 "
        "(its vector half is the plain search above, whose recall is measured). Against "
        "the function as it was (commit "
        f"{BEFORE_COMMIT[:7]}, installed beside it in the benchmark's database) on the "
        "first queries, once each, in the same run:",
        "",
        _md_table(
            [
                "vectors",
                "hybrid",
                "queries",
                "median ms before",
                "median ms now",
                "before / now",
                "rows that matched the words, before",
                "now",
                "hybrid top-10 also in plain top-10",
            ],
            [
                [
                    found["count"],
                    HYBRID_LABELS[name],
                    *_before_cells(figure),
                    f"{figure['overlap_with_plain_at_10']:.0%}"
                    if "overlap_with_plain_at_10" in figure
                    else "-",
                ]
                for found in datasets.values()
                for name, figure in found["hybrid"].items()
            ],
        ),
        "",
        *_phrases_section(results),
        "",
        "### Targets",
        "",
        *_targets(results),
        "",
        "### Settings chosen, and why",
        "",
        f"- Index: `{build['index_sql'].split(' USING ', 1)[1]}`: ef_construction 128 and "
        "m 24 rather than pgvector's 64 and 16, see changes 4 and 5 below.",
        f"- `hnsw.ef_search = {settings.get('hnsw.ef_search')}` and "
        f"`hnsw.iterative_scan = {settings.get('hnsw.iterative_scan')}`, pinned in the "
        "function's SET clause so no session setting can change them. On these vectors "
        "the sweep below finds ef_search 40 as good as 100 for about a millisecond less; "
        "100 is kept as the margin for catalogs whose clusters are less tight, and above "
        "it recall no longer moves while latency grows. The sweep is "
        "the function itself with that SET clause altered per point (ALTER FUNCTION in the "
        "benchmark's own database, put back afterwards).",
        f"- `hnsw.max_scan_tuples` is left at its default ({settings.get('hnsw.max_scan_tuples', '20000')}): "
        "a filter keeping one product in ten needs about ten times the candidates, far below it.",
        "- relaxed_order rather than strict_order: the function ranks the candidates by "
        "distance itself (row_number over the distance), so the index need not return "
        "them in exact order.",
        "",
        _md_table(
            [
                "vectors",
                "ef_search",
                "iterative scan",
                "search",
                "recall@10",
                "median ms",
                "p95 ms",
                "p99 ms",
                "full max_rows",
            ],
            [
                [
                    found["count"],
                    point["ef_search"],
                    point["iterative_scan"],
                    name,
                    *_figure_cells(point[name]),
                ]
                for found in datasets.values()
                for point in found["sweep"]
                for name in ("plain", "in_stock")
            ],
        ),
        "",
        "### What moved which figure",
        "",
        _md_table(
            ["vectors", "query_model check", "median ms", "p95 ms", "p99 ms"],
            [
                [found["count"], label, figure["median_ms"], figure["p95_ms"], figure["p99_ms"]]
                for found in datasets.values()
                for label, figure in found["model_check"].items()
            ],
        ),
        "",
        *TUNING_NOTES,
    ]
    return "\n".join(parts) + "\n"


def plots(results: dict[str, Any], directory: Path) -> list[Path]:
    """recall@10 against median latency, one line per dataset size (plain and
    in_stock_only as Seattle), a point per ef_search."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    directory.mkdir(parents=True, exist_ok=True)
    figure, axes = pyplot.subplots(figsize=(7, 4.5))
    for index, (count, found) in enumerate(results["datasets"].items()):
        points = [p for p in found["sweep"] if p["iterative_scan"] != "off"]
        # One colour per dataset size; the line style tells plain from in_stock_only.
        for name, style in (("plain", "-o"), ("in_stock", "--s")):
            recalls = [p[name]["recall_at_10"] for p in points]
            medians = [p[name]["median_ms"] for p in points]
            label = f"{int(count):,} vectors, {'plain' if name == 'plain' else 'in_stock_only (Seattle)'}"
            axes.plot(recalls, medians, style, color=f"C{index}", label=label)
            for point, x, y in zip(points, recalls, medians, strict=True):
                axes.annotate(
                    f"ef {point['ef_search']}",
                    (x, y),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                )
    target = results["targets"]
    axes.axvline(target["recall_at_10"], color="grey", linewidth=0.8, linestyle=":")
    axes.axhline(target["median_ms_at_1m"], color="grey", linewidth=0.8, linestyle=":")
    axes.set_xlabel("recall@10 against exact")
    axes.set_ylabel("median latency per call (ms)")
    axes.set_title("mcp.search_products: recall vs latency by hnsw.ef_search")
    axes.legend(fontsize=7)
    axes.grid(True, linewidth=0.3)
    return measure.save_figure(figure, directory / "vector-recall-latency.png")
