"""AlgoPerf's ``ogbg`` graph network (init2winit's GNN, a jraph ``GraphNetwork``), in PyTorch.

Architecture as AlgoPerf's ``ogbg/ogbg_pytorch/models.py`` (``latent_dim`` 256, ``hidden_dims``
(256,), 5 message-passing steps, 128 outputs): the 9 node features and the 3 edge features are
embedded by linear layers (``node_embedder``, ``edge_embedder``) to ``latent_dim``; the graph
globals start at zeros of width 128; each of the ``num_message_passing_steps`` graph-network
layers (``graph_network.<i>``) updates, in this order,

* every edge from ``[edge, sender node, receiver node, its graph's globals]``,
* every node from ``[node, sum of its edges as sender, sum of its edges as receiver, globals]``,
* every graph's globals from ``[sum of its nodes, sum of its edges, globals]``,

each update an MLP (``update_edge_fn`` / ``update_node_fn`` / ``update_global_fn``) of one block
per entry of ``hidden_dims``: ``dense_<j>`` (linear), ``norm_<j>`` (LayerNorm, eps 1e-6),
``activation_fn_<j>``, ``dropout_<j>``. No residual connections. The decoder (linear, ``decoder``)
maps the final globals to the 128 logits per graph. Activations: ReLU; ``gelu``: GELU with the
tanh approximation; ``silu``: SiLU (AlgoPerf's ``ogbg_gelu`` / ``ogbg_silu``).

Initialisation as AlgoPerf: every linear layer truncated LeCun normal (AlgoPerf's
``init_utils.pytorch_default_init``), biases zero; LayerNorm scale 1, shift 0. The modules are
built (and re-initialised) in AlgoPerf's order, and module and parameter names are AlgoPerf's, so
``param_shapes`` has AlgoPerf's keys.

Input: a batch of graphs as AlgoPerf's padded ``GraphsTuple`` fields (:class:`Graphs`): node and
edge features, ``senders``/``receivers`` (indices into the batch's nodes), ``n_node``/``n_edge``
(nodes and edges of every graph, padding graphs included, in order: a graph's nodes and edges are
consecutive). Output: logits (graphs, 128), padding graphs included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import nn

from optbench.models.common import lecun_normal_

NODE_FEATURES, EDGE_FEATURES = 9, 3  # ogbg-molpcba's (AlgoPerf's in_features)
DROPOUT_RATE = 0.1  # AlgoPerf's ogbg default (model_fn's and v0.5's init default)


class Graphs(NamedTuple):
    """A batch of graphs: the fields of AlgoPerf's ``jraph.GraphsTuple`` (without globals)."""

    nodes: torch.Tensor  # (N, 9) float
    edges: torch.Tensor  # (E, 3) float
    senders: torch.Tensor  # (E,) int64
    receivers: torch.Tensor  # (E,) int64
    n_node: torch.Tensor  # (G,) int64
    n_edge: torch.Tensor  # (G,) int64


def activation_class(name: str) -> Callable[[], nn.Module]:
    """AlgoPerf's ``activation_fn_name``: relu, gelu (tanh approximation) or silu."""
    if name == "relu":
        return nn.ReLU
    if name == "gelu":
        return lambda: nn.GELU(approximate="tanh")
    if name == "silu":
        return nn.SiLU
    raise ValueError(f"invalid activation function name: {name!r}")


def make_mlp(in_dim: int, hidden_dims: Sequence[int], activation: str) -> nn.Sequential:
    """AlgoPerf's ``_make_mlp``: per hidden width, linear, LayerNorm (eps 1e-6), activation and
    dropout, named ``dense_<j>``, ``norm_<j>``, ``activation_fn_<j>``, ``dropout_<j>``."""
    make = activation_class(activation)
    layers = nn.Sequential()
    for j, dim in enumerate(hidden_dims):
        layers.add_module(f"dense_{j}", nn.Linear(in_dim, dim))
        layers.add_module(f"norm_{j}", nn.LayerNorm(dim, eps=1e-6))
        layers.add_module(f"activation_fn_{j}", make())
        layers.add_module(f"dropout_{j}", nn.Dropout(0.0))
        in_dim = dim
    return layers


def segment_sum(values: torch.Tensor, segments: torch.Tensor, count: int) -> torch.Tensor:
    """Sums of the rows of ``values`` per segment id (AlgoPerf's ``scatter_sum``)."""
    out = values.new_zeros((count, *values.shape[1:]))
    return out.index_add_(0, segments, values)


class GraphNetwork(nn.Module):
    """One message-passing step (see the module docstring); AlgoPerf's ``GraphNetwork`` with
    its three update functions."""

    def __init__(
        self, update_edge_fn: nn.Module, update_node_fn: nn.Module, update_global_fn: nn.Module
    ) -> None:
        super().__init__()
        self.update_edge_fn = update_edge_fn
        self.update_node_fn = update_node_fn
        self.update_global_fn = update_global_fn

    def forward(
        self,
        nodes: torch.Tensor,
        edges: torch.Tensor,
        globals_: torch.Tensor,
        graph: Graphs,
        node_graph: torch.Tensor,
        edge_graph: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n_nodes, n_graphs = nodes.shape[0], globals_.shape[0]
        senders, receivers = graph.senders, graph.receivers
        edges = self.update_edge_fn(
            torch.cat([edges, nodes[senders], nodes[receivers], globals_[edge_graph]], dim=-1)
        )
        sent = segment_sum(edges, senders, n_nodes)
        received = segment_sum(edges, receivers, n_nodes)
        nodes = self.update_node_fn(torch.cat([nodes, sent, received, globals_[node_graph]], -1))
        pooled_nodes = segment_sum(nodes, node_graph, n_graphs)
        pooled_edges = segment_sum(edges, edge_graph, n_graphs)
        globals_ = self.update_global_fn(torch.cat([pooled_nodes, pooled_edges, globals_], -1))
        return nodes, edges, globals_


class GNN(nn.Module):
    """AlgoPerf's ogbg ``GNN`` (see the module docstring)."""

    def __init__(
        self,
        num_outputs: int = 128,
        activation_fn_name: str = "relu",
        latent_dim: int = 256,
        hidden_dims: Sequence[int] = (256,),
        num_message_passing_steps: int = 5,
    ) -> None:
        super().__init__()
        self.num_outputs = num_outputs
        self.node_embedder = nn.Linear(NODE_FEATURES, latent_dim)
        self.edge_embedder = nn.Linear(EDGE_FEATURES, latent_dim)
        hidden = hidden_dims[-1]
        layers = []
        for step in range(num_message_passing_steps):
            if step == 0:  # embedded nodes and edges, zero globals of width num_outputs
                edge_in = 3 * latent_dim + num_outputs
                node_in = latent_dim + 2 * hidden + num_outputs
                global_in = 2 * hidden + num_outputs
            else:
                edge_in = node_in = 4 * hidden
                global_in = 3 * hidden
            layers.append(
                GraphNetwork(
                    make_mlp(edge_in, hidden_dims, activation_fn_name),
                    make_mlp(node_in, hidden_dims, activation_fn_name),
                    make_mlp(global_in, hidden_dims, activation_fn_name),
                )
            )
        self.graph_network = nn.Sequential(*layers)
        self.decoder = nn.Linear(hidden, num_outputs)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                lecun_normal_(module)

    def forward(self, graph: Graphs) -> torch.Tensor:
        n_graphs, n_nodes, n_edges = len(graph.n_node), len(graph.nodes), len(graph.edges)
        ids = torch.arange(n_graphs, device=graph.n_node.device)
        # The graph of every node and edge (AlgoPerf: repeat_interleave in every layer).
        node_graph = torch.repeat_interleave(ids, graph.n_node, output_size=n_nodes)
        edge_graph = torch.repeat_interleave(ids, graph.n_edge, output_size=n_edges)
        nodes = self.node_embedder(graph.nodes)
        edges = self.edge_embedder(graph.edges)
        globals_ = nodes.new_zeros((n_graphs, self.num_outputs))
        for layer in self.graph_network:
            nodes, edges, globals_ = layer(nodes, edges, globals_, graph, node_graph, edge_graph)
        return self.decoder(globals_)
