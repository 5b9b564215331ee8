"""Molecular graphs with multi-task binary labels, from the MOSES SMILES (MIT) and RDKit (BSD).

Source: the SMILES files shipped inside the PyPI wheel ``molsets==0.3.1`` (``moses/dataset/data/
{train,test}.csv.gz``: 1,584,663 and 176,074 drug-like molecules from ZINC), located with
``importlib.util.find_spec('moses')`` without importing ``moses`` (its dependencies are heavy and
not needed). RDKit turns each SMILES into a graph and computes the labels.

Graphs: one node per heavy atom with 22 binary features (element C N O F S Cl Br or other; degree
0-4; formal charge -1/0/+1; total hydrogens 0-3; aromatic; in a ring) and two directed edges per
bond with 6 binary features (single, double, triple, aromatic; conjugated; in a ring).

Labels (``TASKS``, 32 binary tasks, in the spirit of ogbg-molpcba's many sparse assays): the
presence of 27 functional groups (RDKit's ``Chem.Fragments`` SMARTS; benzene and aromatic
nitrogen as "at least two") and 5 whole-molecule properties (at least three aromatic rings,
Crippen logP > 3, TPSA > 75, fraction of sp3 carbons > 0.4, at least six rotatable bonds).
Like molpcba's unmeasured assays, 10% of the labels are masked out (weight 0) by a fixed draw
(seed 0).

Fixed split: train and validation are disjoint slices of one fixed permutation (seed 0) of the
MOSES train file; test is a prefix of a fixed permutation (seed 1) of the MOSES test file (MOSES's
train and test sets are disjoint).
"""

from __future__ import annotations

import gzip
import importlib.util
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from optbench.data.cache import cached_arrays, default_cache_dir
from optbench.errors import UserError

HOW_TO_GET = (
    "molecules need RDKit and the MOSES SMILES: pip install rdkit; "
    "pip install --no-deps molsets==0.3.1"
)
ELEMENTS = ("C", "N", "O", "F", "S", "Cl", "Br")
NODE_FEATURES = len(ELEMENTS) + 1 + 5 + 3 + 4 + 2  # 22
EDGE_FEATURES = 6
MASK_FRACTION = 0.1

# (task name, RDKit Fragments function name, minimum count)
_FRAGMENT_TASKS = (
    ("two_benzene_rings", "fr_benzene", 2),
    ("amide", "fr_amide", 1),
    ("secondary_amine", "fr_NH1", 1),
    ("aniline", "fr_aniline", 1),
    ("ether", "fr_ether", 1),
    ("two_aromatic_nitrogens", "fr_Ar_N", 2),
    ("bicyclic", "fr_bicyclic", 1),
    ("aryl_methyl", "fr_aryl_methyl", 1),
    ("halogen", "fr_halogen", 1),
    ("methoxy", "fr_methoxy", 1),
    ("ester", "fr_ester", 1),
    ("pyridine", "fr_pyridine", 1),
    ("primary_amine", "fr_NH2", 1),
    ("sulfide", "fr_sulfide", 1),
    ("sulfonamide", "fr_sulfonamd", 1),
    ("ketone", "fr_ketone", 1),
    ("imidazole", "fr_imidazole", 1),
    ("thiophene", "fr_thiophene", 1),
    ("nitrile", "fr_nitrile", 1),
    ("aliphatic_hydroxyl", "fr_Al_OH", 1),
    ("phenol", "fr_phenol", 1),
    ("furan", "fr_furan", 1),
    ("piperidine", "fr_piperdine", 1),
    ("morpholine", "fr_morpholine", 1),
    ("thiazole", "fr_thiazole", 1),
    ("urea", "fr_urea", 1),
    ("piperazine", "fr_piperzine", 1),
)
_PROPERTY_TASKS = (
    "three_aromatic_rings",
    "logp_above_3",
    "tpsa_above_75",
    "fsp3_above_0.4",
    "six_rotatable_bonds",
)
TASKS: tuple[str, ...] = tuple(t[0] for t in _FRAGMENT_TASKS) + _PROPERTY_TASKS


def moses_dir() -> Path:
    """The folder holding MOSES's ``train.csv.gz`` and ``test.csv.gz`` (without importing moses)."""
    found = importlib.util.find_spec("moses")
    locations = list(found.submodule_search_locations or []) if found else []
    for location in locations:
        folder = Path(location) / "dataset" / "data"
        if (folder / "train.csv.gz").exists() and (folder / "test.csv.gz").exists():
            return folder
    raise UserError(HOW_TO_GET)


def _read_smiles(path: Path) -> list[str]:
    with gzip.open(path, "rt") as f:
        lines = f.read().splitlines()
    return [line.split(",")[0] for line in lines[1:]]  # first line: the header


def _featurizer() -> Callable:
    try:
        from rdkit import Chem, RDLogger
        from rdkit.Chem import Crippen, Fragments, rdMolDescriptors
    except ImportError as exc:
        raise UserError(HOW_TO_GET) from exc
    RDLogger.DisableLog("rdApp.*")
    fragment_fns = [(getattr(Fragments, fn), k) for _, fn, k in _FRAGMENT_TASKS]
    bond_types = {
        Chem.BondType.SINGLE: 0,
        Chem.BondType.DOUBLE: 1,
        Chem.BondType.TRIPLE: 2,
        Chem.BondType.AROMATIC: 3,
    }
    element = {symbol: i for i, symbol in enumerate(ELEMENTS)}

    def featurize(smiles: str):
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return None
        o = len(ELEMENTS) + 1
        hot = [
            (
                element.get(a.GetSymbol(), len(ELEMENTS)),
                o + min(a.GetDegree(), 4),
                o + 6 + min(max(a.GetFormalCharge(), -1), 1),
                o + 8 + min(a.GetTotalNumHs(), 3),
                o + 12 if a.GetIsAromatic() else -1,
                o + 13 if a.IsInRing() else -1,
            )
            for a in mol.GetAtoms()
        ]
        nodes = np.zeros((len(hot), NODE_FEATURES + 1), np.uint8)  # column -1 catches "off"
        nodes[np.arange(len(hot))[:, None], np.array(hot)] = 1
        nodes = nodes[:, :-1]
        ends, kinds = [], []
        for bond in mol.GetBonds():
            a, b = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
            ends += [(a, b), (b, a)]
            kind = (
                bond_types.get(bond.GetBondType(), 0),
                4 if bond.GetIsConjugated() else -1,
                5 if bond.IsInRing() else -1,
            )
            kinds += [kind, kind]
        edges = np.array(ends, np.int32).reshape(-1, 2).T
        edge_feats = np.zeros((len(kinds), EDGE_FEATURES + 1), np.uint8)
        if kinds:
            edge_feats[np.arange(len(kinds))[:, None], np.array(kinds)] = 1
        edge_feats = edge_feats[:, :-1]
        labels = [fn(mol) >= k for fn, k in fragment_fns] + [
            rdMolDescriptors.CalcNumAromaticRings(mol) >= 3,
            Crippen.MolLogP(mol) > 3.0,
            rdMolDescriptors.CalcTPSA(mol) > 75.0,
            rdMolDescriptors.CalcFractionCSP3(mol) > 0.4,
            rdMolDescriptors.CalcNumRotatableBonds(mol) >= 6,
        ]
        return nodes, edges, edge_feats, np.array(labels, np.uint8)

    return featurize


def _featurize_split(featurize: Callable, smiles: list[str], n: int, prefix: str) -> dict:
    nodes, edges, edge_feats, labels = [], [], [], []
    for s in smiles:
        if len(labels) == n:
            break
        out = featurize(s)
        if out is None or len(out[0]) == 0 or out[1].shape[1] == 0:
            continue  # unparsable or bond-less: skip (MOSES has none, but be safe)
        nodes.append(out[0])
        edges.append(out[1])
        edge_feats.append(out[2])
        labels.append(out[3])
    if len(labels) < n:
        raise UserError(f"only {len(labels)} usable molecules for the {prefix} split, need {n}")
    node_counts = np.array([len(x) for x in nodes], np.int32)
    edge_counts = np.array([e.shape[1] for e in edges], np.int32)
    return {
        f"{prefix}_node_features": np.concatenate(nodes),
        f"{prefix}_node_counts": node_counts,
        f"{prefix}_edge_index": np.concatenate(edges, axis=1),  # local to each molecule
        f"{prefix}_edge_features": np.concatenate(edge_feats),
        f"{prefix}_edge_counts": edge_counts,
        f"{prefix}_labels": np.stack(labels),
    }


def load(
    n_train: int, n_validation: int, n_test: int, cache_dir: Path | None = None
) -> tuple[dict[str, np.ndarray], dict]:
    """Featurised molecules per split: ``({<split>_<array>}, provenance)``.

    Arrays per split: ``node_features`` (nodes, 22) uint8, ``node_counts`` (N,), ``edge_index``
    (2, edges) int32 local to each molecule, ``edge_features`` (edges, 6) uint8, ``edge_counts``
    (N,), ``labels`` (N, 32) uint8 and ``weights`` (N, 32) uint8 (0 = masked label).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()

    def prepare() -> tuple[dict[str, np.ndarray], dict]:
        folder = moses_dir()
        featurize = _featurizer()
        start = time.perf_counter()
        train_smiles = _read_smiles(folder / "train.csv.gz")
        test_smiles = _read_smiles(folder / "test.csv.gz")
        order = np.random.default_rng(0).permutation(len(train_smiles))
        # Slack of 1% for unparsable molecules; validation comes from the end of the slice.
        val_pool = [train_smiles[i] for i in order[: n_validation + n_validation // 100 + 10]]
        rest = order[len(val_pool) :]
        train_pool = [train_smiles[i] for i in rest[: n_train + n_train // 100 + 10]]
        test_order = np.random.default_rng(1).permutation(len(test_smiles))
        test_pool = [test_smiles[i] for i in test_order[: n_test + n_test // 100 + 10]]
        arrays: dict[str, np.ndarray] = {}
        mask_rng = np.random.default_rng(0)
        for prefix, pool, n in (
            ("train", train_pool, n_train),
            ("validation", val_pool, n_validation),
            ("test", test_pool, n_test),
        ):
            split = _featurize_split(featurize, pool, n, prefix)
            labels = split[f"{prefix}_labels"]
            split[f"{prefix}_weights"] = (mask_rng.random(labels.shape) >= MASK_FRACTION).astype(
                np.uint8
            )
            arrays.update(split)
        provenance = {
            "dataset": "MOSES molecules (ZINC subset) featurised with RDKit",
            "source": str(folder),
            "licence": "MIT (MOSES data); RDKit BSD-3-Clause",
            "synthetic": False,
            "labels": "computed with RDKit: " + ", ".join(TASKS),
            "masked_label_fraction": MASK_FRACTION,
            "split": (
                f"train {n_train} / validation {n_validation} from MOSES train.csv.gz (fixed "
                f"permutation, seed 0, disjoint slices) / test {n_test} from MOSES test.csv.gz "
                "(fixed permutation, seed 1)"
            ),
            "prepare_seconds": round(time.perf_counter() - start, 2),
        }
        return arrays, provenance

    return cached_arrays(cache_dir, f"molecules_v1_{n_train}_{n_validation}_{n_test}", prepare)
