"""``ogbg`` and its variants at size ``full`` (AlgoPerf's GNN, data format, batching, loss, metric,
targets): parameter counts on the meta device, targets and budgets, the batch rule, a dozen real
molecules written here in OGB's raw format (featurised with RDKit as OGB's ``smiles2graph``),
jraph's dynamic batching and padding, data-parallel shards, the loss and the metric, malformed
input, and one training step and one evaluation of every model at a reduced, test-only width."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from algoperf_full import PARAM_COUNTS
from checks import meta_network, sgd_step, train_forward

from optbench import distributed, prng, spec
from optbench.data import ogbg
from optbench.errors import UserError
from optbench.models.gnn import Graphs
from optbench.workloads import get_workload
from optbench.workloads.common.average_precision import average_precision
from optbench.workloads.ogbg import GRAPH_KEYS

NAMES = ("ogbg", "ogbg_gelu", "ogbg_silu", "ogbg_model_size")


@pytest.mark.parametrize("name", NAMES)
def test_full_models_have_algoperf_parameter_counts(name):
    workload, model = meta_network(name, PARAM_COUNTS[name])
    names = [n for n, _ in model.named_parameters()]
    assert names[:4] == [
        "node_embedder.weight",
        "node_embedder.bias",
        "edge_embedder.weight",
        "edge_embedder.bias",
    ]
    assert "graph_network.0.update_edge_fn.dense_0.weight" in names
    assert names[-2:] == ["decoder.weight", "decoder.bias"] and workload.output_layer == "decoder"
    steps = 3 if name == "ogbg_model_size" else 5
    assert f"graph_network.{steps - 1}.update_global_fn.norm_0.bias" in names
    assert f"graph_network.{steps}.update_edge_fn.dense_0.weight" not in names
    assert workload.is_output_params("decoder.bias") and not workload.is_output_params(
        "edge_embedder.bias"
    )
    types = workload.model_params_types
    assert (
        types["graph_network.0.update_node_fn.norm_0.weight"] == spec.ParameterType.LAYER_NORM_SCALE
    )
    assert types["graph_network.0.update_node_fn.dense_0.bias"] == spec.ParameterType.BIAS
    activation = {"ogbg_gelu": torch.nn.GELU, "ogbg_silu": torch.nn.SiLU}.get(name, torch.nn.ReLU)
    act = model.graph_network[0].update_edge_fn.activation_fn_0
    assert type(act) is activation and (name != "ogbg_gelu" or act.approximate == "tanh")


def test_initialisation_is_algoperfs():
    """Truncated LeCun normal weights (std sqrt(1 / fan_in), cut at 2 std), zero biases,
    LayerNorm at (1, 0) with eps 1e-6; the same seed gives the same model."""
    workload = get_workload("ogbg", "full", test_width=64)
    model, state = workload.init_model_fn(prng.key(3))
    again, _ = workload.init_model_fn(prng.key(3))
    assert state is None
    for (name, p), (_, q) in zip(model.named_parameters(), again.named_parameters(), strict=True):
        assert torch.equal(p, q), name
    dense = model.graph_network[1].update_edge_fn.dense_0  # 4 x 64 inputs
    std = 1 / math.sqrt(256)
    assert dense.weight.abs().max() <= 2 * std / 0.87962566103423978 + 1e-7
    assert abs(dense.weight.std().item() - std) < 0.05 * std
    assert not dense.bias.any() and not model.decoder.bias.any()
    norm = model.graph_network[1].update_edge_fn.norm_0
    assert norm.eps == 1e-6 and torch.equal(norm.weight, torch.ones(64))


def test_targets_point_the_right_way():
    w = get_workload("ogbg", "full")
    assert w.has_reached_validation_target({"validation/mean_average_precision": 0.29})
    assert not w.has_reached_validation_target({"validation/mean_average_precision": 0.28})


# --- a dozen molecules in OGB's raw format ------------------------------------------------------
SMILES = (
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",  # caffeine
    "CC(C)Cc1ccc(cc1)[C@@H](C)C(=O)O",  # ibuprofen
    "CC(=O)Nc1ccc(O)cc1",  # paracetamol
    "Cl[C@H](/C=C/C)Br",  # OGB's own featurisation example
    "C1CCCCC1",
    "c1ccc2ccccc2c1",
    "OCC(O)CO",
    "C#N",
    "[Na+].[Cl-]",  # two atoms, no bond
    "O",  # one atom, no bond
    "CCN(CC)C(=O)c1cccc(C)c1",
)
ATOMIC = [*range(1, 119)]
CHIRALITY = ["CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER"]
HYBRIDISATION = ["SP", "SP2", "SP3", "SP3D", "SP3D2"]
BOND_TYPES = ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]
STEREO = ["STEREONONE", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS", "STEREOANY"]


def _index(options: list, value) -> int:
    """OGB's ``safe_index``: the position of ``value``, or the last ('misc') slot."""
    return options.index(value) if value in options else len(options)


def smiles_to_graph(smiles: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OGB's ``smiles2graph`` features (``ogb/utils/features.py``): 9 per atom, 3 per bond, and
    the bonds as (sender, receiver) pairs in RDKit's bond order."""
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    atoms = [
        [
            _index(ATOMIC, a.GetAtomicNum()),
            _index(CHIRALITY, str(a.GetChiralTag())),
            _index(list(range(11)), a.GetTotalDegree()),
            _index(list(range(-5, 6)), a.GetFormalCharge()),
            _index(list(range(9)), a.GetTotalNumHs()),
            _index(list(range(5)), a.GetNumRadicalElectrons()),
            _index(HYBRIDISATION, str(a.GetHybridization())),
            int(a.GetIsAromatic()),
            int(a.IsInRing()),
        ]
        for a in mol.GetAtoms()
    ]
    bonds = [
        [
            _index(BOND_TYPES, str(b.GetBondType())),
            STEREO.index(str(b.GetStereo())),
            int(b.GetIsConjugated()),
        ]
        for b in mol.GetBonds()
    ]
    pairs = [[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] for b in mol.GetBonds()]
    return (
        np.array(atoms, np.int64).reshape(-1, 9),
        np.array(bonds, np.int64).reshape(-1, 3),
        np.array(pairs, np.int64).reshape(-1, 2),
    )


def test_featurisation_matches_ogbs_example():
    atoms, bonds, _ = smiles_to_graph("Cl[C@H](/C=C/C)Br")
    assert atoms[1].tolist() == [5, 2, 4, 5, 1, 0, 2, 0, 0]  # OGB's features.py example
    assert bonds[2].tolist() == [1, 2, 0]


def _write(path: Path, rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(",".join(str(x) for x in row) + "\n" for row in rows)
    with gzip.open(path, "wt") as f:
        f.write(text)


def _labels() -> np.ndarray:
    """128 labels per molecule: 1.0, 0.0 or NaN (unmeasured), each split with both classes in
    most tasks."""
    rng = np.random.default_rng(0)
    labels = (rng.random((len(SMILES), 128)) < 0.4).astype(float)
    labels[rng.random((len(SMILES), 128)) < 0.3] = np.nan
    return labels


def write_molpcba(folder: Path) -> None:
    """The molecules of :data:`SMILES` as OGB's ``ogbg_molpcba`` folder: train = molecules
    0-5, valid = 6-8, test = 9-11 (the split files list them out of order)."""
    graphs = [smiles_to_graph(s) for s in SMILES]
    raw = folder / "raw"
    _write(raw / "num-node-list.csv.gz", [[len(a)] for a, _, _ in graphs])
    _write(raw / "num-edge-list.csv.gz", [[len(p)] for _, _, p in graphs])
    _write(raw / "node-feat.csv.gz", [row.tolist() for a, _, _ in graphs for row in a])
    _write(raw / "edge-feat.csv.gz", [row.tolist() for _, b, _ in graphs for row in b])
    _write(raw / "edge.csv.gz", [row.tolist() for _, _, p in graphs for row in p])
    labels = [["" if np.isnan(x) else f"{x:.1f}" for x in row] for row in _labels()]
    _write(raw / "graph-label.csv.gz", labels)
    split = folder / "split" / "scaffold"
    _write(split / "train.csv.gz", [[i] for i in (3, 0, 1, 2, 5, 4)])
    _write(split / "valid.csv.gz", [[i] for i in (6, 7, 8)])
    _write(split / "test.csv.gz", [[i] for i in (11, 9, 10)])
    (folder / "RELEASE_v1.txt").write_text("ogbg-molpcba\n")


@pytest.fixture(scope="module")
def molpcba_dir(tmp_path_factory) -> Path:
    """A folder holding ``ogbg_molpcba/`` (as OGB leaves it) with the dozen molecules."""
    root = tmp_path_factory.mktemp("ogb")
    write_molpcba(root / "ogbg_molpcba")
    return root


@pytest.fixture(scope="module")
def molecules(molpcba_dir, tmp_path_factory) -> ogbg.Molecules:
    root = ogbg.find_root(molpcba_dir)
    return ogbg.load(root, tmp_path_factory.mktemp("cache"))[0]


def test_reader_gives_tfds_arrays(molpcba_dir, tmp_path):
    root = ogbg.find_root(molpcba_dir)
    assert root == molpcba_dir / "ogbg_molpcba" and ogbg.find_root(root) == root
    loaded, provenance = ogbg.load(root, tmp_path)
    assert provenance["molecules"] == 12 and provenance["train_molecules"] == 6
    assert list(tmp_path.glob("ogbg_molpcba_*.npz"))  # cached
    again, _ = ogbg.load(root, tmp_path)
    for i, smiles in enumerate(SMILES):
        atoms, bonds, pairs = smiles_to_graph(smiles)
        n0, e0 = loaded.node_start[i], loaded.edge_start[i]
        assert loaded.num_nodes[i] == len(atoms) and loaded.num_edges[i] == len(pairs)
        np.testing.assert_array_equal(loaded.node_feat[n0 : n0 + len(atoms)], atoms)
        np.testing.assert_array_equal(loaded.edge_feat[e0 : e0 + len(bonds)], bonds)
        np.testing.assert_array_equal(loaded.edge_index[e0 : e0 + len(pairs)], pairs)
        np.testing.assert_array_equal(again.node_feat, loaded.node_feat)
    labels = _labels()
    np.testing.assert_array_equal(loaded.labels, np.where(np.isnan(labels), -1, labels))
    assert loaded.node_feat.dtype == np.float32  # as TFDS stores them
    assert loaded.splits["train"].tolist() == [3, 0, 1, 2, 5, 4]


def _jraph_batches(molecules, ids, budget):
    """jraph.dynamically_batch's loop, written out: add graphs while they fit."""
    batches, current, nodes, edges = [], [], 0, 0
    for i in ids:
        n, e = molecules.num_nodes[i], 2 * molecules.num_edges[i]
        if current and (
            len(current) + 1 > budget.graphs - 1
            or nodes + n > budget.nodes - 1
            or edges + e > budget.edges
        ):
            batches.append(current)
            current, nodes, edges = [], 0, 0
        current.append(int(i))
        nodes, edges = nodes + n, edges + e
    return [*batches, current] if current else batches


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5, 12])
def test_dynamic_batching_cuts_as_jraph(molecules, batch_size):
    ids = np.array([3, 0, 1, 2, 5, 4, 6, 7, 8, 11, 9, 10, 10, 8])
    budget = ogbg.Budget.for_batch(batch_size)
    got = [b.tolist() for b in ogbg.dynamic_batches(molecules, iter([ids[:5], ids[5:]]), budget)]
    assert got == _jraph_batches(molecules, ids, budget)
    assert sum(len(b) for b in got) == len(ids)


def test_a_molecule_larger_than_a_batch_is_refused():
    big = ogbg.synthetic_molecules(2)
    big.num_nodes[:], big.num_edges[:] = [20, 27], [10, 10]  # 27 atoms: over a graph's 26
    with pytest.raises(UserError, match=r"molecule 1 .* exceeds a whole batch of 1 graphs"):
        list(ogbg.dynamic_batches(big, iter([np.array([0, 1])]), ogbg.Budget.for_batch(1)))
    with pytest.raises(UserError, match="batch size 1 gives no graph to each of 2 shards"):
        ogbg.Budget.for_batch(1, shards=2)


def test_padded_batch_is_jraphs(molecules):
    """Bidirectional bonds molecule by molecule, one padding graph with every padding node and
    edge (edges on its first node), then empty graphs; labels and weights as AlgoPerf's."""
    budget = ogbg.Budget.for_batch(4)  # 105 nodes, 224 edges, 5 graphs
    ids = np.array([1, 10, 4])
    batch = ogbg.pad_batch(molecules, ids, budget)
    assert batch["inputs"].shape == (105, 9) and batch["edges"].shape == (224, 3)
    assert batch["targets"].shape == batch["weights"].shape == (5, 128)
    sizes = [smiles_to_graph(SMILES[i]) for i in ids]
    n_atoms = [len(a) for a, _, _ in sizes]
    n_bonds = [len(p) for _, _, p in sizes]
    real_nodes, real_edges = sum(n_atoms), 2 * sum(n_bonds)
    assert batch["n_node"].tolist() == [*n_atoms, 105 - real_nodes, 0]
    assert batch["n_edge"].tolist() == [*[2 * b for b in n_bonds], 224 - real_edges, 0]
    node, edge = 0, 0
    for atoms, bonds, pairs in sizes:
        np.testing.assert_array_equal(batch["inputs"][node : node + len(atoms)], atoms)
        forward = slice(edge, edge + len(pairs))
        backward = slice(edge + len(pairs), edge + 2 * len(pairs))
        np.testing.assert_array_equal(batch["senders"][forward], pairs[:, 0] + node)
        np.testing.assert_array_equal(batch["receivers"][forward], pairs[:, 1] + node)
        np.testing.assert_array_equal(batch["senders"][backward], pairs[:, 1] + node)
        np.testing.assert_array_equal(batch["receivers"][backward], pairs[:, 0] + node)
        np.testing.assert_array_equal(batch["edges"][forward], bonds)
        np.testing.assert_array_equal(batch["edges"][backward], bonds)
        node, edge = node + len(atoms), edge + 2 * len(pairs)
    assert not batch["inputs"][real_nodes:].any() and not batch["edges"][real_edges:].any()
    assert (batch["senders"][real_edges:] == real_nodes).all()
    assert (batch["receivers"][real_edges:] == real_nodes).all()
    labels = _labels()[ids]
    np.testing.assert_array_equal(batch["weights"][:3], ~np.isnan(labels))
    np.testing.assert_array_equal(batch["targets"][:3], np.nan_to_num(labels))
    assert not batch["weights"][3:].any() and not batch["targets"][3:].any()


def test_shards_are_padded_batches_each_rank_takes_its_own(molecules):
    ids = np.array([3, 0, 1, 2, 5, 4])
    budget = ogbg.Budget.for_batch(8, shards=2)  # 4 graphs per shard
    batch = next(ogbg.global_batches(molecules, iter([ids]), budget, shards=2))
    cuts = list(ogbg.dynamic_batches(molecules, iter([ids]), budget))
    for rank in range(2):
        part = distributed.shard({k: torch.from_numpy(v) for k, v in batch.items()}, rank, 2)
        expected = ogbg.pad_batch(molecules, cuts[rank], budget)
        for key, value in expected.items():
            np.testing.assert_array_equal(part[key].numpy(), value, err_msg=key)


def test_padding_and_batch_company_do_not_change_a_molecules_logits(molecules):
    """The padding graphs and the other molecules of a batch leave a molecule's logits alone
    (jraph's padding is computation-preserving)."""
    workload = get_workload("ogbg", "full", test_width=16)
    model, state = workload.init_model_fn(prng.key(0))

    def logits(ids, batch_size):
        padded = ogbg.pad_batch(molecules, np.array(ids), ogbg.Budget.for_batch(batch_size))
        batch = {k: torch.from_numpy(v) for k, v in padded.items()}
        return workload.model_fn(model, batch, state, spec.ForwardPassMode.EVAL, None, False)[0]

    alone = logits([2], 2)[0]
    together = logits([0, 2, 10], 6)[1]
    torch.testing.assert_close(alone, together, rtol=1e-5, atol=1e-5)


def test_training_queue_streams_every_molecule_once_per_epoch(molpcba_dir, tmp_path):
    """The epochs (a fresh permutation each) are one stream, cut as jraph cuts it; the queue's
    batches are those, padded, the same for the same data RNG."""
    workload = get_workload("ogbg", "full", data_dir=molpcba_dir, cache_dir=tmp_path)
    workload.load_data()
    budget = ogbg.Budget.for_batch(4)
    stream = ogbg.dynamic_batches(workload._molecules, workload._train_chunks(prng.key(7)), budget)
    cuts = [next(stream) for _ in range(12)]
    seen = np.concatenate(cuts)[:18]
    train = sorted(workload._split("train").tolist())
    epochs = [sorted(seen[i : i + 6].tolist()) for i in (0, 6, 12)]
    assert epochs == [train] * 3 and not np.array_equal(seen[:6], seen[6:12])
    queue = workload._build_input_queue(prng.key(7), "train", None, 4)
    for ids in cuts[:4]:
        batch = next(queue)
        expected = ogbg.pad_batch(workload._molecules, ids, budget)
        assert all(np.array_equal(batch[k].numpy(), v) for k, v in expected.items())


def test_loss_is_algoperfs_masked_smoothed_bce():
    workload = get_workload("ogbg", "full")
    logits = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 40.0, 0.0]])
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, False, True]])
    out = workload.loss_fn(labels, logits, mask, label_smoothing=0.3)
    smoothed = 0.7 * labels + 0.3 / 3  # AlgoPerf: towards 1 / num_tasks
    expected = (
        torch.clamp(logits, min=0) - logits * smoothed + torch.log1p(torch.exp(-logits.abs()))
    )
    expected = torch.where(mask, expected, 0.0)
    torch.testing.assert_close(out["per_example"], expected)
    assert out["n_valid_examples"].item() == 4 and out["summed"].item() == pytest.approx(
        expected.sum().item()
    )
    nan_logits = logits.clone()
    nan_logits[0, 2] = math.nan  # masked: no NaN leaks into the sum
    assert math.isfinite(workload.loss_fn(labels, nan_logits, mask)["summed"].item())
    assert workload.loss_fn(labels, logits)["n_valid_examples"].item() == 6


def test_average_precision_is_sklearns():
    # sklearn's documented example: average_precision_score([0, 0, 1, 1], [.1, .4, .35, .8])
    scores, labels = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    assert average_precision(scores, labels) == pytest.approx(0.8333333333)
    # tied scores are one threshold: both at 1.0, one positive -> precision 1/2 at recall 1
    assert average_precision(np.array([1.0, 1.0]), np.array([1, 0])) == pytest.approx(0.5)


def test_eval_metric_uses_float32_sigmoid_masks_and_skips_one_class_tasks(monkeypatch):
    """mAP on float32 sigmoid probabilities (logits 20 and 30 tie at 1.0), over the measured
    labels, tasks without both classes skipped; loss and accuracy over measured labels."""
    workload = get_workload("ogbg", "full")
    logits = torch.tensor([[20.0, 1.0, 1.0], [30.0, 2.0, -1.0], [-1.0, 3.0, 2.0]])
    labels = torch.tensor([[0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    weights = torch.tensor([[True, True, True], [True, True, True], [True, True, False]])
    batch = {"targets": labels, "weights": weights}
    monkeypatch.setattr(workload, "_eval_batches", lambda split, size: iter([batch]))
    monkeypatch.setattr(workload, "_eval_logits", lambda *args: logits)
    monkeypatch.setattr(workload, "_split_size", lambda split: 3)
    metrics, n = workload._eval_split("validation", None, None, None, 8)
    # task 0: scores (1.0, 1.0, 0.27) labels (0, 1, 0): the tie gives precision 1/2 -> AP 0.5
    # task 1: scores rank (3, 2, 1) for labels (0, 1, 1) -> AP (1/2 + 2/3) / 2
    # task 2: its measured labels (1, 0) -> AP 1; all skipped if one class only
    expected = np.mean([0.5, (1 / 2 + 2 / 3) / 2, 1.0])
    assert n == 3 and metrics["mean_average_precision"] == pytest.approx(expected)
    assert metrics["accuracy"] == pytest.approx(6 / 8)
    weights[:, 2] = torch.tensor([True, False, False])  # task 2: one class left: skipped
    metrics, _ = workload._eval_split("validation", None, None, None, 8)
    assert metrics["mean_average_precision"] == pytest.approx(np.mean([0.5, (1 / 2 + 2 / 3) / 2]))


# --- malformed input ---------------------------------------------------------------------------
def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src / "ogbg_molpcba", dst / "ogbg_molpcba")
    return dst / "ogbg_molpcba"


def _load_fails(root: Path, tmp_path: Path, match: str) -> None:
    with pytest.raises(UserError, match=match) as info:
        ogbg.load(ogbg.find_root(root), tmp_path / "cache")
    assert "\n" not in str(info.value) and "pcba.zip" in str(info.value)


def test_malformed_input_is_one_line_naming_the_file(molpcba_dir, tmp_path):
    with pytest.raises(UserError, match=r"ogbg needs --data-dir.*pcba\.zip"):
        get_workload("ogbg", "full").load_data()
    with pytest.raises(UserError, match=r"ogbg_molpcba/raw not found: download OGB's"):
        get_workload("ogbg", "full", data_dir=tmp_path).load_data()
    root = _copy(molpcba_dir, tmp_path)
    (root / "raw" / "edge-feat.csv.gz").unlink()
    _load_fails(root, tmp_path, r"raw/edge-feat\.csv\.gz not found")
    _write(root / "raw" / "edge-feat.csv.gz", [[0, 0]] * 3)
    _load_fails(root, tmp_path, r"edge-feat\.csv\.gz has 2 columns, not 3")
    (root / "raw" / "edge-feat.csv.gz").write_bytes(b"not gzip")
    _load_fails(root, tmp_path, r"edge-feat\.csv\.gz: unreadable as gzipped CSV")


@pytest.mark.parametrize(
    ("name", "rows", "match"),
    [
        ("raw/edge.csv.gz", "edge", r"edge\.csv\.gz: row 1 names an atom outside molecule 0"),
        ("raw/graph-label.csv.gz", "label", r"graph-label\.csv\.gz: a label other than 0, 1"),
        ("raw/num-node-list.csv.gz", "count", r"node-feat\.csv\.gz: .* rows of finite numbers"),
        ("split/scaffold/valid.csv.gz", "split", r"valid\.csv\.gz: molecule indices from 0 to 11"),
        ("split/scaffold/test.csv.gz", "text", r"test\.csv\.gz holds values that are not numbers"),
    ],
)
def test_inconsistent_files_are_refused(molpcba_dir, tmp_path, name, rows, match):
    root = _copy(molpcba_dir, tmp_path)
    path = root / name
    with gzip.open(path, "rt") as f:
        lines = [line.rstrip("\n").split(",") for line in f]
    if rows == "edge":
        lines[0] = ["0", "99"]
    elif rows == "label":
        lines[3][5] = "2.0"
    elif rows == "count":
        lines[0] = [str(int(lines[0][0]) + 1)]
    elif rows == "split":
        lines.append(["12"])
    else:
        lines[0] = ["first"]
    _write(path, lines)
    _load_fails(root, tmp_path, match)


# --- one step and one evaluation of every model, at a reduced (test-only) width ----------------
@pytest.mark.parametrize("name", NAMES)
def test_trains_one_step_and_evaluates(name, molpcba_dir, tmp_path):
    workload = get_workload(name, "full", data_dir=molpcba_dir, cache_dir=tmp_path, test_width=8)
    workload.load_data()
    model, state, batch, logits = train_forward(workload, 4)
    assert workload._dropout_rate == 0.1  # AlgoPerf's ogbg default
    assert logits.shape == batch["targets"].shape == (5, 128)
    loss = workload.loss_fn(batch["targets"], logits, batch["weights"], label_smoothing=0.1)
    sgd_step(model, loss, lr=1e-2)
    results = workload.eval_model(workload.eval_batch_size, model, state, prng.key(3))
    # A split smaller than a batch is padded to what it needs, not to 4,096 graphs.
    assert len(next(workload._eval_batches("validation", 4096))["n_node"]) == 4
    assert workload.num_train_examples == 6 and workload.num_eval_train_examples == 3
    assert results["validation/num_examples"] == 3 and results["test/num_examples"] == 3
    for split in ("train", "validation", "test"):
        assert 0 < results[f"{split}/mean_average_precision"] <= 1, results
        assert 0 < results[f"{split}/loss"] < 10 and 0 <= results[f"{split}/accuracy"] <= 1
    small = workload.eval_model(2, model, state, prng.key(3))  # other batches, same metrics
    for key, value in results.items():
        assert small[key] == pytest.approx(value, rel=1e-5), key
    assert workload.properties()["test_width"] == 8
    assert workload.data_provenance["molecules"] == 12


def test_synthetic_batch_has_real_shapes():
    workload = get_workload("ogbg", "full", test_width=4)
    batch = workload.synthetic_batch(8, seed=1)
    assert batch["inputs"].shape == (26 * 8 + 1, 9) and batch["senders"].shape == (56 * 8,)
    assert batch["targets"].shape == batch["weights"].shape == (9, 128)
    assert batch["weights"].dtype == torch.bool and int(batch["n_node"].sum()) == 26 * 8 + 1
    graphs = Graphs(*(batch[k] for k in GRAPH_KEYS))
    assert int(graphs.n_edge.sum()) == len(graphs.senders)
