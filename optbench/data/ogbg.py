"""ogbg-molpcba from the Open Graph Benchmark's raw files, batched as AlgoPerf's ``ogbg`` pipeline.

Files, as OGB's download leaves them (``pcba.zip``, unzipped to ``pcba/``, which OGB's own loader
renames ``ogbg_molpcba/``): ``raw/edge.csv.gz`` (the bonds, one ``sender,receiver`` row each,
node indices within the molecule), ``raw/edge-feat.csv.gz`` (3 features per bond),
``raw/node-feat.csv.gz`` (9 features per atom), ``raw/graph-label.csv.gz`` (128 labels per
molecule: 0, 1 or empty for unmeasured), ``raw/num-node-list.csv.gz`` and
``raw/num-edge-list.csv.gz`` (atoms and bonds per molecule, in molecule order) and
``split/scaffold/{train,valid,test}.csv.gz`` (the molecule indices of each split): the files
OGB's ``read_csv_graph_raw`` and TensorFlow Datasets' ``ogbg_molpcba`` builder (what AlgoPerf
reads) read, gzipped CSV without a header. ``--data-dir`` names that folder (or the one above
it, holding ``ogbg_molpcba/`` or ``pcba/``). Features are kept as float32, as TFDS stores them;
the parsed arrays are cached (``ogbg_molpcba_<digest>.npz`` in the cache folder, keyed by the
files' paths, sizes and modification times).

Batching, as AlgoPerf's ``input_pipeline.py`` with ``jraph``: each molecule's bonds are made
bidirectional (its edges are its bonds ``sender -> receiver``, then the same bonds reversed, both
with the bond's features); graphs are added to a batch in stream order while the batch stays
within ``26 x b`` nodes, ``56 x b`` edges and ``b`` graphs (``b`` the batch size per shard:
``jraph.dynamically_batch``, so a batch holds at most ``b`` molecules, often fewer), then padded
to exactly ``26 b + 1`` nodes, ``56 b`` edges and ``b + 1`` graphs (``jraph.pad_with_graphs``:
one padding graph holding every padding node and edge, its edges from and to its first node,
then empty graphs; padding features, labels and weights zero). Labels become ``targets`` (unmeasured
ones 0) and ``weights`` (True where measured, False for unmeasured labels and padding graphs).
A global batch of ``S`` shards (the data-parallel ranks; AlgoPerf: the GPUs) is ``S``
consecutive such batches, each padded on its own, concatenated, node indices local to the shard:
rank ``r`` of ``S`` trains on the ``r``-th contiguous part of every tensor.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from optbench.data.cache import cached_arrays
from optbench.data.data_dir import search_data_dir
from optbench.errors import UserError

NUM_TASKS = 128
NODE_FEATURES, EDGE_FEATURES = 9, 3
AVG_NODES_PER_GRAPH, AVG_EDGES_PER_GRAPH = 26, 56  # AlgoPerf's batch budget per graph
FOLDERS = ("ogbg_molpcba", "pcba")  # OGB's name for the folder, and the zip's
RAW_FILES = {
    "edge": "edge.csv.gz",
    "edge_feat": "edge-feat.csv.gz",
    "node_feat": "node-feat.csv.gz",
    "labels": "graph-label.csv.gz",
    "num_nodes": "num-node-list.csv.gz",
    "num_edges": "num-edge-list.csv.gz",
}
SPLIT_FILES = {"train": "train.csv.gz", "validation": "valid.csv.gz", "test": "test.csv.gz"}
DOWNLOAD_URL = "https://snap.stanford.edu/ogb/data/graphproppred/csv_mol_download/pcba.zip"
HOW_TO_GET = (
    f"download OGB's ogbg-molpcba ({DOWNLOAD_URL}) and unzip it; --data-dir names the folder "
    "it makes (pcba/, which OGB's loader renames ogbg_molpcba/) or the folder above it"
)
CACHE_VERSION = 1


# --- reading and checking the raw files --------------------------------------------------------
def _is_root(path: Path) -> bool:
    return (path / "raw").is_dir() or (path / "split").is_dir()


def find_root(data_dir: Path | None) -> Path:
    """The folder holding ``raw/`` and ``split/scaffold/`` (``data_dir`` or a folder in it)."""
    return search_data_dir(
        data_dir,
        needs=f"ogbg needs --data-dir: {HOW_TO_GET}",
        folders=FOLDERS,
        is_root=_is_root,
        missing=lambda data_dir: f"{data_dir / FOLDERS[0] / 'raw'} not found: {HOW_TO_GET}",
    )


def raw_paths(root: Path) -> dict[str, Path]:
    """Every file the workload reads, by role (the raw arrays, then the three splits)."""
    paths = {key: root / "raw" / name for key, name in RAW_FILES.items()}
    paths.update({key: root / "split" / "scaffold" / name for key, name in SPLIT_FILES.items()})
    return paths


def _read_csv(path: Path, columns: int, integer: bool) -> np.ndarray:
    """A headerless gzipped CSV of ``columns`` numeric columns as a (rows, columns) array
    (float64, or int64 with ``integer``); a one-line error naming the file otherwise."""
    import pandas as pd

    if not path.is_file():
        raise UserError(f"{path} not found: {HOW_TO_GET}")
    try:
        frame = pd.read_csv(path, compression="gzip", header=None)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path} is empty: {HOW_TO_GET}") from None
    except (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: unreadable as gzipped CSV ({first}); {HOW_TO_GET}") from None
    if frame.shape[1] != columns:
        raise UserError(
            f"{path} has {frame.shape[1]} columns, not {columns}: not ogbg-molpcba's; {HOW_TO_GET}"
        )
    if not all(kind in "iuf" for kind in (dtype.kind for dtype in frame.dtypes)):
        raise UserError(f"{path} holds values that are not numbers: {HOW_TO_GET}")
    values = frame.to_numpy(dtype=np.float64)
    if integer:
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            row = int(np.flatnonzero(bad.any(axis=1))[0]) + 1
            raise UserError(f"{path}: row {row} holds a value that is not an integer: {HOW_TO_GET}")
        return values.astype(np.int64)
    return values


def _bad(path: Path, what: str) -> UserError:
    return UserError(f"{path}: {what}; {HOW_TO_GET}")


def read_raw(root: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Parse and check the raw files: the concatenated arrays of every molecule, and the splits
    (molecule indices), with their provenance."""
    paths = raw_paths(root)
    num_nodes = _read_csv(paths["num_nodes"], 1, integer=True)[:, 0]
    num_edges = _read_csv(paths["num_edges"], 1, integer=True)[:, 0]
    node_feat = _read_csv(paths["node_feat"], NODE_FEATURES, integer=False)
    edge = _read_csv(paths["edge"], 2, integer=True)
    edge_feat = _read_csv(paths["edge_feat"], EDGE_FEATURES, integer=False)
    labels = _read_csv(paths["labels"], NUM_TASKS, integer=False)
    graphs = len(num_nodes)
    if (num_nodes < 1).any():
        raise _bad(paths["num_nodes"], "a molecule without atoms")
    if len(num_edges) != graphs or (num_edges < 0).any():
        raise _bad(
            paths["num_edges"],
            f"{len(num_edges)} bond counts (none negative) expected {graphs} (num-node-list's)",
        )
    if len(node_feat) != num_nodes.sum() or not np.isfinite(node_feat).all():
        raise _bad(
            paths["node_feat"],
            f"{len(node_feat)} rows of finite numbers expected {int(num_nodes.sum())} "
            "(the atoms of num-node-list)",
        )
    for key, rows in (("edge", len(edge)), ("edge_feat", len(edge_feat))):
        if rows != num_edges.sum():
            raise _bad(paths[key], f"{rows} rows, not {int(num_edges.sum())} (num-edge-list's)")
    if not np.isfinite(edge_feat).all():
        raise _bad(paths["edge_feat"], "a missing or infinite bond feature")
    owner = np.repeat(np.arange(graphs), num_edges)
    outside = (edge < 0).any(axis=1) | (edge >= num_nodes[owner][:, None]).any(axis=1)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise _bad(
            paths["edge"],
            f"row {row + 1} names an atom outside molecule {int(owner[row])} "
            f"({int(num_nodes[owner[row]])} atoms; indices count from 0 within each molecule)",
        )
    if len(labels) != graphs:
        raise _bad(paths["labels"], f"{len(labels)} rows, not {graphs} (num-node-list's)")
    measured = ~np.isnan(labels)
    if ((labels[measured] != 0) & (labels[measured] != 1)).any():
        raise _bad(paths["labels"], "a label other than 0, 1 or empty (unmeasured)")
    arrays = {
        "num_nodes": num_nodes.astype(np.int32),
        "num_edges": num_edges.astype(np.int32),
        "node_feat": node_feat.astype(np.float32),
        "edge_index": edge.astype(np.int32),
        "edge_feat": edge_feat.astype(np.float32),
        "labels": np.where(measured, labels, -1).astype(np.int8),  # -1: unmeasured
    }
    for split in SPLIT_FILES:
        ids = _read_csv(paths[split], 1, integer=True)[:, 0]
        if len(ids) == 0 or (ids < 0).any() or (ids >= graphs).any():
            raise _bad(paths[split], f"molecule indices from 0 to {graphs - 1} expected")
        arrays[f"split_{split}"] = ids
    provenance = {
        "root": str(root),
        "molecules": graphs,
        "atoms": int(num_nodes.sum()),
        "bonds": int(num_edges.sum()),
        "measured_labels": int(measured.sum()),
        **{f"{s}_molecules": len(arrays[f"split_{s}"]) for s in SPLIT_FILES},
    }
    return arrays, provenance


def _files_key(root: Path) -> str:
    """A cache key from the files' resolved paths, sizes and modification times."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    for path in raw_paths(root).values():
        if not path.is_file():
            raise UserError(f"{path} not found: {HOW_TO_GET}")
        stat = path.stat()
        digest.update(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    return f"ogbg_molpcba_{digest.hexdigest()[:16]}"


def load(root: Path, cache_dir: Path) -> tuple[Molecules, dict[str, Any]]:
    """Every molecule of ``root`` (parsed once, then read from the cache) and the provenance."""
    arrays, provenance = cached_arrays(cache_dir, _files_key(root), lambda: read_raw(root))
    return Molecules(arrays), {k: v for k, v in provenance.items() if k != "sha256"}


# --- molecules and batches -----------------------------------------------------------------------
class Molecules:
    """Every molecule's arrays, concatenated in molecule order, and the splits' molecule ids."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.num_nodes = arrays["num_nodes"].astype(np.int64)
        self.num_edges = arrays["num_edges"].astype(np.int64)  # bonds (undirected)
        self.node_feat = arrays["node_feat"]
        self.edge_index = arrays["edge_index"].astype(np.int64)
        self.edge_feat = arrays["edge_feat"]
        self.labels = arrays["labels"]
        self.node_start = np.cumsum(self.num_nodes) - self.num_nodes
        self.edge_start = np.cumsum(self.num_edges) - self.num_edges
        self.splits = {s: arrays[f"split_{s}"].astype(np.int64) for s in SPLIT_FILES}

    def __len__(self) -> int:
        return len(self.num_nodes)


@dataclass(frozen=True)
class Budget:
    """The padded size of one shard's batch for ``graphs_per_shard`` (AlgoPerf's per-device
    batch size ``b``): ``26 b + 1`` nodes, ``56 b`` edges, ``b + 1`` graphs; the real graphs of
    a batch fill at most ``26 b`` nodes, ``56 b`` edges and ``b`` graphs."""

    graphs_per_shard: int

    @classmethod
    def for_batch(cls, global_batch_size: int, shards: int = 1) -> Budget:
        """AlgoPerf's: ``b = global_batch_size // shards`` average-sized graphs per shard."""
        per_shard = int(global_batch_size) // int(shards)
        if per_shard < 1:
            raise UserError(
                f"batch size {global_batch_size} gives no graph to each of {shards} shards"
            )
        return cls(per_shard)

    @property
    def max_nodes(self) -> int:
        return AVG_NODES_PER_GRAPH * self.graphs_per_shard

    @property
    def max_edges(self) -> int:
        return AVG_EDGES_PER_GRAPH * self.graphs_per_shard

    @property
    def nodes(self) -> int:
        return self.max_nodes + 1

    @property
    def edges(self) -> int:
        return self.max_edges

    @property
    def graphs(self) -> int:
        return self.graphs_per_shard + 1


def graphs_to_hold(molecules: Molecules, ids: np.ndarray) -> int:
    """The smallest per-shard batch size whose one batch holds all of ``ids``: at least one
    graph per molecule, and room for their atoms and directed bonds."""
    atoms = int(molecules.num_nodes[ids].sum())
    edges = 2 * int(molecules.num_edges[ids].sum())
    return max(len(ids), -(-atoms // AVG_NODES_PER_GRAPH), -(-edges // AVG_EDGES_PER_GRAPH), 1)


def dynamic_batches(
    molecules: Molecules, chunks: Iterator[np.ndarray], budget: Budget
) -> Iterator[np.ndarray]:
    """The molecule ids of each batch, as ``jraph.dynamically_batch`` cuts the stream of
    molecules ``chunks`` (arrays of ids, concatenated): each batch takes molecules in order while
    they fit the budget (sizes are non-negative, so that is the longest fitting prefix); the
    last batch of a finite stream holds what is left. A molecule larger than a whole batch is a
    one-line error (jraph raises too)."""
    pending = np.empty(0, dtype=np.int64)
    exhausted = False
    while True:
        while len(pending) < budget.graphs_per_shard and not exhausted:
            chunk = next(chunks, None)
            if chunk is None:
                exhausted = True
            else:
                pending = np.concatenate([pending, np.asarray(chunk, dtype=np.int64)])
        if len(pending) == 0:
            return
        head = pending[: budget.graphs_per_shard]
        nodes = np.cumsum(molecules.num_nodes[head])
        edges = np.cumsum(2 * molecules.num_edges[head])
        fit = min(
            len(head),
            int(np.searchsorted(nodes, budget.max_nodes, side="right")),
            int(np.searchsorted(edges, budget.max_edges, side="right")),
        )
        if fit == 0:
            first = int(head[0])
            raise UserError(
                f"molecule {first} ({int(molecules.num_nodes[first])} atoms, "
                f"{2 * int(molecules.num_edges[first])} directed bonds) exceeds a whole batch of "
                f"{budget.graphs_per_shard} graphs ({budget.max_nodes} atoms, {budget.max_edges} "
                "bonds): use a larger batch size"
            )
        yield pending[:fit]
        pending = pending[fit:]


def _ranges(starts: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The concatenated ranges ``starts[i] .. starts[i] + counts[i] - 1`` and the owner ``i`` of
    each element."""
    owner = np.repeat(np.arange(len(counts)), counts)
    offsets = np.cumsum(counts) - counts
    return starts[owner] + np.arange(int(counts.sum())) - offsets[owner], owner


def pad_batch(molecules: Molecules, ids: np.ndarray, budget: Budget) -> dict[str, np.ndarray]:
    """One shard's padded batch of the molecules ``ids`` (see the module docstring): ``inputs``
    (nodes, 9) float32 node features, ``edges`` (edges, 3) float32, ``senders`` and
    ``receivers`` (edges,) int64, ``n_node`` and ``n_edge`` (graphs,) int64, ``targets``
    (graphs, 128) float32 and ``weights`` (graphs, 128) bool."""
    count = len(ids)
    nn_, ne = molecules.num_nodes[ids], molecules.num_edges[ids]
    real_nodes, bonds = int(nn_.sum()), int(ne.sum())
    if count > budget.graphs_per_shard or real_nodes > budget.max_nodes or 2 * bonds > budget.edges:
        raise ValueError("molecules beyond the batch budget")
    node_rows, _ = _ranges(molecules.node_start[ids], nn_)
    nodes = np.zeros((budget.nodes, NODE_FEATURES), np.float32)
    nodes[:real_nodes] = molecules.node_feat[node_rows]
    # Each molecule's bonds, then the same bonds reversed (AlgoPerf's _to_jraph), molecule after
    # molecule (jraph.batch), node indices offset by the atoms of the molecules before.
    bond_rows, owner = _ranges(molecules.edge_start[ids], ne)
    node_offset = np.cumsum(nn_) - nn_
    local = np.arange(bonds) - (np.cumsum(ne) - ne)[owner]
    forward = (np.cumsum(2 * ne) - 2 * ne)[owner] + local
    backward = forward + ne[owner]
    pairs = molecules.edge_index[bond_rows] + node_offset[owner][:, None]
    senders = np.full(budget.edges, real_nodes, np.int64)  # padding: the first padding node
    receivers = np.full(budget.edges, real_nodes, np.int64)
    senders[forward], receivers[forward] = pairs[:, 0], pairs[:, 1]
    senders[backward], receivers[backward] = pairs[:, 1], pairs[:, 0]
    edges = np.zeros((budget.edges, EDGE_FEATURES), np.float32)
    edges[forward] = edges[backward] = molecules.edge_feat[bond_rows]
    n_node = np.zeros(budget.graphs, np.int64)
    n_edge = np.zeros(budget.graphs, np.int64)
    n_node[:count], n_node[count] = nn_, budget.nodes - real_nodes
    n_edge[:count], n_edge[count] = 2 * ne, budget.edges - 2 * bonds
    labels = molecules.labels[ids]
    targets = np.zeros((budget.graphs, NUM_TASKS), np.float32)
    weights = np.zeros((budget.graphs, NUM_TASKS), bool)
    targets[:count] = labels == 1
    weights[:count] = labels >= 0
    return {
        "inputs": nodes,
        "edges": edges,
        "senders": senders,
        "receivers": receivers,
        "n_node": n_node,
        "n_edge": n_edge,
        "targets": targets,
        "weights": weights,
    }


def global_batches(
    molecules: Molecules, chunks: Iterator[np.ndarray], budget: Budget, shards: int = 1
) -> Iterator[dict[str, np.ndarray]]:
    """Global batches of ``shards`` consecutive padded shard batches, concatenated (node indices
    local to each shard); with a finite stream, the last incomplete global batch is left out
    unless ``shards`` is 1 (AlgoPerf keeps only whole sets of shards too)."""
    parts: list[dict[str, np.ndarray]] = []
    for ids in dynamic_batches(molecules, chunks, budget):
        parts.append(pad_batch(molecules, ids, budget))
        if len(parts) == shards:
            yield (
                parts[0]
                if shards == 1
                else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
            )
            parts = []


def synthetic_molecules(count: int, seed: int = 0) -> Molecules:
    """``count`` random molecule-like graphs (13-39 atoms, about as many bonds as atoms,
    feature values in ogbg-molpcba's ranges, 10% of the labels measured, 5% of those positive),
    every one in every split: for timing steps without the data."""
    rng = np.random.default_rng(seed)
    num_nodes = rng.integers(13, 40, count)
    num_edges = np.maximum(num_nodes - 1 + rng.integers(-1, 5, count), 0)
    senders = np.concatenate(
        [rng.integers(0, n, e) for n, e in zip(num_nodes, num_edges, strict=True)]
    )
    receivers = np.concatenate(
        [rng.integers(0, n, e) for n, e in zip(num_nodes, num_edges, strict=True)]
    )
    ranges = np.array([119, 4, 11, 12, 9, 5, 8, 2, 2])
    labels = np.where(rng.random((count, NUM_TASKS)) < 0.05, 1, 0)
    ids = np.arange(count)
    return Molecules(
        {
            "num_nodes": num_nodes,
            "num_edges": num_edges,
            "node_feat": rng.integers(0, ranges, (int(num_nodes.sum()), 9)).astype(np.float32),
            "edge_index": np.stack([senders, receivers], axis=1),
            "edge_feat": rng.integers(0, [5, 6, 2], (int(num_edges.sum()), 3)).astype(np.float32),
            "labels": np.where(rng.random((count, NUM_TASKS)) < 0.1, labels, -1).astype(np.int8),
            **{f"split_{s}": ids for s in SPLIT_FILES},
        }
    )
