"""An execution drawn like the Step Functions console's graph view.

:func:`state_status` reads an execution history (GetExecutionHistory shape) and
says, for every state, whether it was reached, succeeded, failed, had its error
caught, or is still running. :func:`layout` places an ASL definition's states in
layers (top to bottom, Next/Default/Choices/Catch edges; Map and Parallel as boxes
holding their sub-graphs) and :func:`to_svg` draws the result as inline SVG, so the
web page, the API and tests all see the same picture without a layout library.

States are keyed by their path (``"PreprocessExposures/Preprocess"`` for a state
inside a Map), the same key in the layout and in the statuses.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from html import escape
from typing import Any

__all__ = [
    "STATUS_COLOURS",
    "Graph",
    "GraphEdge",
    "GraphNode",
    "StateStatus",
    "execution_graph",
    "layout",
    "state_status",
    "to_svg",
]

#: fill/stroke per status, close to the console's legend
STATUS_COLOURS = {
    "succeeded": ("#d7f2dc", "#1d8102"),
    "failed": ("#fde2e1", "#d13212"),
    "caught": ("#fff0d6", "#e07700"),
    "running": ("#dbeafe", "#0972d3"),
    "aborted": ("#ececec", "#5f6b7a"),
    "not_reached": ("#ffffff", "#9ba7b6"),
}

_FAIL_EVENTS = {
    "TaskFailed",
    "TaskTimedOut",
    "TaskSubmitFailed",
    "TaskStartFailed",
    "MapStateFailed",
    "ParallelStateFailed",
    "LambdaFunctionFailed",
    "LambdaFunctionTimedOut",
}
_OK_EVENTS = {
    "TaskSucceeded",
    "MapStateSucceeded",
    "ParallelStateSucceeded",
    "LambdaFunctionSucceeded",
}
_NESTING = {"MapStateStarted", "ParallelStateStarted", "MapIterationStarted"}


@dataclass
class StateStatus:
    """What the history says about one state."""

    status: str = "not_reached"
    entered: int = 0
    exited: int = 0
    failures: int = 0  # failed attempts, caught, retried or not
    retries: int = 0  # TaskScheduled beyond the first per entry
    iterations: dict[str, int] = field(default_factory=dict)  # Map: succeeded/failed counts
    error: str | None = None
    cause: str | None = None
    first_entered: str | None = None
    last_exited: str | None = None
    _last_ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


def state_status(
    history: list[dict], execution_status: str | None = None
) -> dict[str, StateStatus]:
    """Status of every state the history mentions, keyed by state path.

    Events link to the previous event of the same thread of control
    (``previousEventId``), so each event inherits the state its predecessor was
    in; a ``*StateEntered`` right after a Map/Parallel start opens a nested scope.
    """
    # event id -> (scope, state, event type, id of the StateEntered its thread is in)
    ctx: dict[int, tuple[tuple[str, ...], str | None, str, int]] = {0: ((), None, "", 0)}
    out: dict[str, StateStatus] = defaultdict(StateStatus)
    # TaskScheduled per entry, not per state: a Map's iterations enter the same state
    # concurrently and their tasks interleave; only a second one in one entry is a retry
    scheduled: dict[int, int] = defaultdict(int)
    finished = execution_status not in (None, "RUNNING")
    for ev in sorted(history, key=lambda e: int(e.get("id", 0))):
        eid, typ = int(ev.get("id", 0)), str(ev.get("type", ""))
        scope, cur, prev_type, entry = ctx.get(
            int(ev.get("previousEventId") or 0), ((), None, "", 0)
        )
        if typ.endswith("StateEntered"):
            entry = eid
            name = str((ev.get("stateEnteredEventDetails") or {}).get("name", ""))
            if prev_type in _NESTING and cur is not None:
                scope = scope + (cur,)
            cur = name
            key = "/".join(scope + (name,))
            st = out[key]
            st.entered += 1
            st.first_entered = st.first_entered or str(ev.get("timestamp"))
            if typ == "FailStateEntered":
                st.status = "failed"
        ctx[eid] = (scope, cur, typ, entry)
        if cur is None:
            continue
        key = "/".join(scope + (cur,))
        st = out[key]
        if typ == "TaskScheduled":
            scheduled[entry] += 1
            if scheduled[entry] > 1:
                st.retries += 1
        elif typ in _FAIL_EVENTS:
            details = next((v for k, v in ev.items() if k.endswith("EventDetails")), None) or {}
            st.failures += 1
            st._last_ok = False
            st.error = details.get("error") or st.error or typ
            st.cause = details.get("cause") or st.cause
        elif typ in _OK_EVENTS:
            st._last_ok = True
        elif typ.endswith("StateExited"):
            st.exited += 1
            st.last_exited = str(ev.get("timestamp"))
        elif typ.startswith("MapIteration") and typ != "MapIterationStarted":
            name = str(
                (
                    ev.get("mapIterationSucceededEventDetails")
                    or ev.get("mapIterationFailedEventDetails")
                    or ev.get("mapIterationAbortedEventDetails")
                    or {}
                ).get("name", "")
            )
            path = scope + (cur,)
            if name in path:
                idx = len(path) - 1 - path[::-1].index(name)
                mkey = "/".join(path[: idx + 1])
                outcome = typ[len("MapIteration") :].lower()
                its = out[mkey].iterations
                its[outcome] = its.get(outcome, 0) + 1
    for st in out.values():
        if st.status == "failed" or st.entered == 0:
            continue
        if st.exited >= st.entered:
            st.status = "succeeded" if st._last_ok else "caught"
        elif not finished:
            st.status = "running"
        elif execution_status == "ABORTED" or execution_status == "TIMED_OUT":
            st.status = "aborted"
        else:
            st.status = "failed"
    return dict(out)


# ----------------------------------------------------------------------------- layout
NODE_H = 36
CHAR_W = 7.2
LAYER_GAP = 44
NODE_GAP = 28
PAD = 16  # inside container boxes
HEADER = 26  # container title band


@dataclass
class GraphNode:
    id: str  # state path, or "__start__"/"__end__" (per scope)
    label: str
    type: str
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = NODE_H
    layer: int = 0
    parent: str | None = None
    status: str = "not_reached"
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class GraphEdge:
    source: str
    target: str
    kind: str  # next | default | choice | catch | start | end
    label: str = ""
    points: list[tuple[float, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Graph:
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    width: float
    height: float

    def node(self, node_id: str) -> GraphNode:
        return next(n for n in self.nodes if n.id == node_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
            "width": self.width,
            "height": self.height,
        }


def _edges_of(name: str, state: dict) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    if state.get("Next"):
        out.append((state["Next"], "next", ""))
    for i, choice in enumerate(state.get("Choices") or []):
        if choice.get("Next"):
            out.append((choice["Next"], "choice", f"rule {i + 1}"))
    if state.get("Default"):
        out.append((state["Default"], "default", "default"))
    for catcher in state.get("Catch") or []:
        if catcher.get("Next"):
            out.append((catcher["Next"], "catch", ",".join(catcher.get("ErrorEquals") or [])))
    return out


def _subgraphs(state: dict) -> list[dict]:
    if state.get("Type") == "Map":
        proc = state.get("ItemProcessor") or state.get("Iterator")
        return [proc] if isinstance(proc, dict) else []
    if state.get("Type") == "Parallel":
        return [b for b in state.get("Branches") or [] if isinstance(b, dict)]
    return []


class _Block:
    """One laid-out (sub)machine, with coordinates relative to its own origin."""

    def __init__(self, nodes: list[GraphNode], edges: list[GraphEdge], w: float, h: float):
        self.nodes, self.edges, self.w, self.h = nodes, edges, w, h


def _layout_machine(machine: dict, prefix: str, top: bool) -> _Block:
    states: dict[str, dict] = machine.get("States") or {}
    start = machine.get("StartAt")
    p = (prefix + "/") if prefix else ""
    ids = {name: p + name for name in states}
    nodes: dict[str, GraphNode] = {}
    children: dict[str, list[_Block]] = {}
    for name, st in states.items():
        subs = [_layout_machine(sm, f"{p}{name}", False) for sm in _subgraphs(st)]
        node = GraphNode(ids[name], name, str(st.get("Type", "")), parent=prefix or None)
        if subs:
            children[name] = subs
            node.w = max(
                sum(b.w for b in subs) + NODE_GAP * (len(subs) - 1) + 2 * PAD,
                (len(name) + 24) * CHAR_W,
            )  # room for "Map · 123 succeeded"
            node.h = HEADER + max(b.h for b in subs) + PAD
        else:
            node.w = max(90.0, len(name) * CHAR_W + 32)
        nodes[name] = node
    s_id, e_id = f"{p}__start__", f"{p}__end__"
    nodes["__start__"] = GraphNode(
        s_id,
        "Start" if top else "",
        "Start",
        w=60 if top else 14,
        h=26 if top else 14,
        parent=prefix or None,
    )
    nodes["__end__"] = GraphNode(
        e_id,
        "End" if top else "",
        "End",
        w=60 if top else 14,
        h=26 if top else 14,
        parent=prefix or None,
    )
    raw: list[tuple[str, str, str, str]] = []
    if start in states:
        raw.append(("__start__", start, "start", ""))
    for name, st in states.items():
        for target, kind, label in _edges_of(name, st):
            if target in states:
                raw.append((name, target, kind, label))
        if st.get("End") or st.get("Type") in ("Succeed", "Fail"):
            raw.append((name, "__end__", "end", ""))
    succ: dict[str, list[str]] = defaultdict(list)
    for a, b, _, _ in raw:
        if b not in succ[a]:
            succ[a].append(b)
    # back edges by DFS from Start (cycles: Retry loops drawn as Wait -> Task)
    back: set[tuple[str, str]] = set()
    colour: dict[str, int] = {}

    def dfs(u: str) -> None:
        colour[u] = 1
        for v in succ[u]:
            if colour.get(v) == 1:
                back.add((u, v))
            elif v not in colour:
                dfs(v)
        colour[u] = 2

    dfs("__start__")
    for name in list(nodes):  # unreachable states still get drawn
        if name not in colour:
            dfs(name)
    # longest-path layering over the acyclic part, in topological order
    indeg: dict[str, int] = defaultdict(int)
    for a, targets in list(succ.items()):
        for b in targets:
            if (a, b) not in back:
                indeg[b] += 1
    layer = {n: 0 for n in nodes}
    queue = [n for n in nodes if indeg[n] == 0]
    order: list[str] = []
    while queue:
        u = queue.pop(0)
        order.append(u)
        for v in succ[u]:
            if (u, v) in back:
                continue
            layer[v] = max(layer[v], layer[u] + 1)
            indeg[v] -= 1
            if indeg[v] == 0:
                queue.append(v)
    last = max(layer.values()) if layer else 0
    layer["__end__"] = max(
        last, max((layer[a] + 1 for a, b, *_ in raw if b == "__end__"), default=0)
    )
    rows: dict[int, list[str]] = defaultdict(list)
    for n in order if len(order) == len(nodes) else list(nodes):
        rows[layer[n]].append(n)
    # one barycentre sweep keeps chains straight and branches side by side
    pos: dict[str, float] = {}
    preds: dict[str, list[str]] = defaultdict(list)
    for a, b, *_ in raw:
        if (a, b) not in back:
            preds[b].append(a)
    for li in sorted(rows):
        row = rows[li]
        row.sort(
            key=lambda n: sum(pos.get(q, 0) for q in preds[n]) / len(preds[n]) if preds[n] else 0
        )
        for i, n in enumerate(row):
            pos[n] = i
    width = max(sum(nodes[n].w for n in row) + NODE_GAP * (len(row) - 1) for row in rows.values())
    y = 0.0
    for li in sorted(rows):
        row = rows[li]
        row_w = sum(nodes[n].w for n in row) + NODE_GAP * (len(row) - 1)
        row_h = max(nodes[n].h for n in row)
        x = (width - row_w) / 2
        for n in row:
            node = nodes[n]
            node.layer, node.x, node.y = li, x, y + (row_h - node.h) / 2
            x += node.w + NODE_GAP
        y += row_h + LAYER_GAP
    height = y - LAYER_GAP
    out_nodes: list[GraphNode] = []
    out_edges: list[GraphEdge] = []
    for name in rows_flat(rows):
        node = nodes[name]
        out_nodes.append(node)
        if name in children:
            bx = (
                node.x
                + PAD
                + (
                    node.w
                    - 2 * PAD
                    - (sum(b.w for b in children[name]) + NODE_GAP * (len(children[name]) - 1))
                )
                / 2
            )
            for block in children[name]:
                dx, dy = bx, node.y + HEADER
                for cn in block.nodes:
                    cn.x += dx
                    cn.y += dy
                for ce in block.edges:
                    ce.points = [(px + dx, py + dy) for px, py in ce.points]
                out_nodes.extend(block.nodes)
                out_edges.extend(block.edges)
                bx += block.w + NODE_GAP
    lane = 0
    # forward edges leave a node's bottom and enter the next one's top at points
    # spread in the order of the nodes at the other end, so they do not overlap
    forward = [(a, b) for a, b, *_ in raw if (a, b) not in back and nodes[b].layer > nodes[a].layer]
    outs: dict[str, list[str]] = defaultdict(list)
    ins: dict[str, list[str]] = defaultdict(list)
    for a, b in forward:
        if b not in outs[a]:
            outs[a].append(b)
        if a not in ins[b]:
            ins[b].append(a)

    def anchor(node: GraphNode, others: list[str], other: str) -> float:
        ranked = sorted(others, key=lambda o: nodes[o].x + nodes[o].w / 2)
        return node.x + node.w * (ranked.index(other) + 1) / (len(ranked) + 1)

    band: dict[int, tuple[float, float]] = {  # vertical extent of each layer
        li: (min(nodes[n].y for n in row), max(nodes[n].y + nodes[n].h for n in row))
        for li, row in rows.items()
    }

    def free_x(want: float, layers: range) -> float:
        """An x near ``want`` that crosses no node of the given layers."""
        spans = [(nodes[n].x - 8, nodes[n].x + nodes[n].w + 8) for li in layers for n in rows[li]]
        if all(not lo < want < hi for lo, hi in spans):
            return want
        options = sorted({v for span in spans for v in span}, key=lambda v: abs(v - want))
        return next(v for v in options if all(not lo < v < hi for lo, hi in spans))

    for a, b, kind, label in raw:
        na, nb = nodes[a], nodes[b]
        if (a, b) in back or nb.layer <= na.layer:
            lane += 1
            xr = width + 12 * lane
            below = band[na.layer][1] + LAYER_GAP / 3
            pts = [
                (na.x + na.w / 2, na.y + na.h),
                (na.x + na.w / 2, below),
                (xr, below),
                (xr, nb.y + nb.h / 2),
                (nb.x + nb.w, nb.y + nb.h / 2),
            ]
        else:
            x0, x1 = anchor(na, outs[a], b), anchor(nb, ins[b], a)
            pts = [(x0, na.y + na.h)]
            between = range(na.layer + 1, nb.layer)
            if len(between):
                # a long edge runs down a free gap past the layers it skips
                xm = free_x((x0 + x1) / 2, between)
                pts += [
                    (xm, band[between[0]][0] - LAYER_GAP / 4),
                    (xm, band[between[-1]][1] + LAYER_GAP / 4),
                ]
            pts.append((x1, nb.y))
        out_edges.append(GraphEdge(na.id, nb.id, kind, label, pts))
    return _Block(out_nodes, out_edges, width + 12 * lane + (8 if lane else 0), height)


def rows_flat(rows: dict[int, list[str]]) -> list[str]:
    return [n for li in sorted(rows) for n in rows[li]]


def layout(definition: dict) -> Graph:
    """Place every state of an ASL definition (nested ones inside their container)."""
    block = _layout_machine(definition, "", True)
    margin = 20.0
    for n in block.nodes:
        n.x += margin
        n.y += margin
    for e in block.edges:
        e.points = [(x + margin, y + margin) for x, y in e.points]
    return Graph(block.nodes, block.edges, block.w + 2 * margin, block.h + 2 * margin)


def execution_graph(
    definition: dict, history: list[dict], execution_status: str | None = None
) -> Graph:
    """The definition's layout with each state's status from the history."""
    graph = layout(definition)
    statuses = state_status(history, execution_status)
    for n in graph.nodes:
        if n.type == "Start":
            n.status = "succeeded" if history else "not_reached"
        elif n.type == "End":
            n.status = {"SUCCEEDED": "succeeded", "FAILED": "failed"}.get(
                execution_status or "", "not_reached"
            )
        elif n.id in statuses:
            st = statuses[n.id]
            n.status = st.status
            n.info = st.to_dict()
    return graph


def _path_d(points: list[tuple[float, float]]) -> str:
    """Axis-aligned segments as lines, the others as S-curves with vertical ends."""
    d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if abs(x0 - x1) < 0.5 or abs(y0 - y1) < 0.5:
            d += f" L{x1:.1f},{y1:.1f}"
        else:
            my = (y0 + y1) / 2
            d += f" C{x0:.1f},{my:.1f} {x1:.1f},{my:.1f} {x1:.1f},{y1:.1f}"
    return d


def to_svg(graph: Graph) -> str:
    """Inline SVG; every state is a ``<g class="state" data-state=... data-status=...>``."""
    w, h = graph.width, graph.height
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="asl-graph" width="{w:.0f}" '
            f'height="{h:.0f}" viewBox="0 0 {w:.0f} {h:.0f}" role="img" '
            f'aria-label="state machine graph">'
        ),
        (
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            'fill="#5f6b7a"/></marker></defs>'
        ),
    ]
    containers = [n for n in graph.nodes if n.type in ("Map", "Parallel") and n.h > NODE_H]
    for n in containers:  # boxes first, so their contents draw on top
        fill, stroke = STATUS_COLOURS.get(n.status, STATUS_COLOURS["not_reached"])
        its = n.info.get("iterations") or {}
        extra = ", ".join(f"{v} {k}" for k, v in sorted(its.items()))
        parts.append(
            f'<g class="state container" data-state="{escape(n.id)}" data-status="{n.status}">'
            f"<title>{escape(n.id)}: {n.type}, {n.status}</title>"
            f'<rect x="{n.x:.1f}" y="{n.y:.1f}" width="{n.w:.1f}" height="{n.h:.1f}" rx="8" '
            f'fill="{fill}" fill-opacity="0.35" stroke="{stroke}" stroke-width="2" '
            f'stroke-dasharray="6 3"/>'
            f'<text x="{n.x + 10:.1f}" y="{n.y + 17:.1f}" class="label">{escape(n.label)} '
            f'<tspan class="kind">{n.type}{" · " + escape(extra) if extra else ""}</tspan>'
            f"</text></g>"
        )
    for e in graph.edges:
        if not e.points:
            continue
        cls = f"edge {e.kind}"
        parts.append(
            f'<path class="{cls}" d="{_path_d(e.points)}" fill="none" '
            f'marker-end="url(#arrow)"><title>{escape(e.kind)} '
            f"{escape(e.label)}</title></path>"
        )
    for n in graph.nodes:
        if n in containers:
            continue
        fill, stroke = STATUS_COLOURS.get(n.status, STATUS_COLOURS["not_reached"])
        title = f"{n.id}: {n.type}, {n.status.replace('_', ' ')}"
        if n.info.get("error"):
            title += f" ({n.info['error']})"
        if n.info.get("retries"):
            title += f", {n.info['retries']} retr{'y' if n.info['retries'] == 1 else 'ies'}"
        if n.type in ("Start", "End"):
            r = min(n.w, n.h) / 2
            if n.label:
                parts.append(
                    f'<g class="state terminal" data-state="{escape(n.id)}" '
                    f'data-status="{n.status}"><rect x="{n.x:.1f}" y="{n.y:.1f}" '
                    f'width="{n.w:.1f}" height="{n.h:.1f}" rx="{r:.1f}" fill="#f2f3f3" '
                    f'stroke="#5f6b7a"/><text x="{n.x + n.w / 2:.1f}" '
                    f'y="{n.y + n.h / 2 + 4:.1f}" text-anchor="middle" class="label">'
                    f"{escape(n.label)}</text></g>"
                )
            else:
                parts.append(
                    f'<circle class="terminal" cx="{n.x + n.w / 2:.1f}" '
                    f'cy="{n.y + n.h / 2:.1f}" r="{r:.1f}" fill="#f2f3f3" '
                    f'stroke="#5f6b7a"/>'
                )
            continue
        width = 3 if n.status in ("failed", "caught", "running") else 1.5
        parts.append(
            f'<g class="state" data-state="{escape(n.id)}" data-status="{n.status}">'
            f"<title>{escape(title)}</title>"
            f'<rect x="{n.x:.1f}" y="{n.y:.1f}" width="{n.w:.1f}" height="{n.h:.1f}" rx="5" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>'
            f'<text x="{n.x + n.w / 2:.1f}" y="{n.y + 15:.1f}" text-anchor="middle" '
            f'class="label">{escape(n.label)}</text>'
            f'<text x="{n.x + n.w / 2:.1f}" y="{n.y + 29:.1f}" text-anchor="middle" '
            f'class="kind">{n.type}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
