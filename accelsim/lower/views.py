"""Tensors seen through affine views, and Einsums over them: the core of ``lower_module``.

A traced PyTorch program reshapes, transposes and slices freely; an Einsum can only index a
stored tensor with affine expressions of rank variables.  Here every value of the program is a
:class:`View` of a stored tensor: its dimensions are made of *factors* (a dimension of size
H*E viewed as heads and head features has two factors, outer first), and each stored
dimension is indexed by ``sum(coefficient * factor) + offset``.  Reshapes regroup or split
factors, transposes reorder dimensions, slices shift offsets, ``expand`` adds a factor no
stored index depends on -- none of them computes anything.

Each factor ranges over a :class:`Family`: the rank it will be named after.  Families are
merged (union-find) when the same variable must index two dimensions (an element-wise op, a
contraction).  Names are given only at the end (:meth:`Program.render`): one rank per family,
and aliases (``R64_2: R64``) where one tensor or one Einsum needs two variables of a family
(attention scores ``[t, t']``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import count
from typing import Callable

from accelsim.errors import LoweringError

_ids = count()


class Family:
    """A set of dimensions known to have the same rank (union-find node)."""

    __slots__ = ("size", "parent", "id")

    def __init__(self, size: int):
        self.size, self.parent, self.id = size, None, next(_ids)

    def root(self) -> "Family":
        """The representative of this family's set."""
        node = self
        while node.parent is not None:
            node = node.parent
        return node


def unify(a: Family, b: Family) -> Family:
    """Merge two families (same size) and return the root."""
    ra, rb = a.root(), b.root()
    if ra is rb:
        return ra
    if ra.size != rb.size:
        raise LoweringError(f"dimensions of {ra.size} and {rb.size} elements meet where one "
                            "variable must index both")
    rb.parent = ra
    return ra


Index = tuple[dict[int, int], int]
"""One stored dimension's index: {factor position or slot: coefficient}, offset."""


@dataclass(frozen=True)
class View:
    """A stored tensor seen through an affine view (see the module docstring)."""

    tensor: str
    factors: tuple[Family, ...]
    dims: tuple[tuple[int, ...], ...]
    """View dimension -> positions in :attr:`factors` (outer first; empty for size 1)."""
    index: tuple[Index, ...]
    """Stored dimension -> its index in terms of factor positions."""

    @property
    def shape(self) -> tuple[int, ...]:
        """Size of each view dimension."""
        return tuple(_product(self.factors[f].size for f in d) for d in self.dims)

    def permute(self, order) -> "View":
        """Dimensions reordered (``torch.permute``)."""
        order = [o % len(self.dims) for o in order]
        if sorted(order) != list(range(len(self.dims))):
            raise LoweringError(f"permute: {list(order)} is not a permutation of "
                                f"{len(self.dims)} dimensions")
        return replace(self, dims=tuple(self.dims[o] for o in order))

    def transpose(self, a: int, b: int) -> "View":
        """Dimensions ``a`` and ``b`` swapped."""
        order = list(range(len(self.dims)))
        a, b = a % len(order), b % len(order)
        order[a], order[b] = order[b], order[a]
        return self.permute(order)

    def unsqueeze(self, position: int) -> "View":
        """A size-1 dimension inserted at ``position``."""
        position = position % (len(self.dims) + 1)
        return replace(self, dims=self.dims[:position] + ((),) + self.dims[position:])

    def split(self, position: int, sizes: list[int]) -> "View":
        """Replace factor ``position`` by factors of ``sizes`` (outer first, same product)."""
        old = self.factors[position]
        if _product(sizes) != old.size:
            raise LoweringError(f"cannot split {old.size} elements as {sizes}")
        new = [Family(s) for s in sizes]
        shift = len(new) - 1
        renumber = lambda f: f if f < position else f + shift  # noqa: E731
        factors = self.factors[:position] + tuple(new) + self.factors[position + 1:]
        dims = tuple(tuple(x for f in d for x in (range(position, position + len(new))
                                                   if f == position else (renumber(f),)))
                     for d in self.dims)
        index = []
        for coefs, offset in self.index:
            moved = {renumber(f): c for f, c in coefs.items() if f != position}
            if position in coefs:
                stride = 1
                for k in reversed(range(len(new))):
                    moved[position + k] = coefs[position] * stride
                    stride *= sizes[k]
            index.append((moved, offset))
        return View(self.tensor, factors, dims, tuple(index))

    def refine(self, dim: int, sizes: list[int]) -> "View":
        """Split the factors of dimension ``dim`` so that their sizes are ``sizes``."""
        view, k = self, 0
        for target in sizes:
            f = view.dims[dim][k]
            size = view.factors[f].size
            if size != target:
                if size % target:
                    raise LoweringError(f"cannot view {view.shape[dim]} elements as {sizes}")
                view = view.split(f, [target, size // target])
            k += 1
        return view

    def reshape(self, shape) -> "View":
        """The same elements in row-major order with another shape (``-1`` allowed)."""
        shape = _resolve_shape(shape, _product(self.shape))
        view = self
        queue = [f for d in self.dims for f in d]
        dims = []
        for target in shape:
            group, filled = [], 1
            while filled < target:
                if not queue:
                    raise LoweringError(f"cannot reshape {self.shape} into {tuple(shape)}")
                f = queue.pop(0)
                size = view.factors[f].size
                if target % (filled * size) == 0:
                    group.append(f)
                    filled *= size
                    continue
                need = target // filled
                if size % need:
                    raise LoweringError(f"cannot reshape {self.shape} into {tuple(shape)} "
                                        "with affine indices")
                view, (outer, inner) = _split_tracking(view, f, [need, size // need], queue)
                group.append(outer)
                queue.insert(0, inner)
                filled *= need
            dims.append(tuple(group))
        return replace(view, dims=tuple(dims))

    def slice(self, dim: int, start: int, stop: int) -> "View":
        """Elements ``start:stop`` of dimension ``dim`` (step 1)."""
        dim %= len(self.dims)
        extent = self.shape[dim]
        start, stop, _ = slice(start, stop).indices(extent)
        stop = max(stop, start)
        if (start, stop) == (0, extent):
            return self
        if stop - start == 1:
            return self.select(dim, start).unsqueeze(dim)
        factors = self.dims[dim]
        inner = _product(self.factors[f].size for f in factors[1:])
        if not factors or start % inner or stop % inner:
            raise LoweringError(f"slice {start}:{stop} of a dimension viewed as "
                                f"{[self.factors[f].size for f in factors]} is not affine")
        f = factors[0]
        shifted = []
        for coefs, offset in self.index:
            shifted.append((coefs, offset + coefs.get(f, 0) * (start // inner)))
        fresh = Family((stop - start) // inner)
        view = View(self.tensor, self.factors[:f] + (fresh,) + self.factors[f + 1:], self.dims,
                    tuple(shifted))
        if any(coefs == {f: 1} and offset == 0 for coefs, offset in shifted):
            # a plain index would name the part's rank for the whole dimension: split it so
            # that the index has two terms (the IR requires a plain index to match its rank)
            size = fresh.size
            divisor = next((p for p in range(2, int(size ** 0.5) + 1) if size % p == 0), None)
            if divisor is None:
                raise LoweringError(f"slice 0:{stop - start} of a dimension of {extent}: a "
                                    f"part of prime size {size} starting at 0 is not supported")
            view = view.split(f, [divisor, size // divisor])
        return view

    def select(self, dim: int, position: int) -> "View":
        """Dimension ``dim`` fixed at ``position`` (and removed)."""
        dim %= len(self.dims)
        position %= self.shape[dim]
        values, rest = {}, position
        for f in reversed(self.dims[dim]):
            values[f] = rest % self.factors[f].size
            rest //= self.factors[f].size
        index = tuple(({f: c for f, c in coefs.items() if f not in values},
                       offset + sum(c * values[f] for f, c in coefs.items() if f in values))
                      for coefs, offset in self.index)
        return replace(self, dims=self.dims[:dim] + self.dims[dim + 1:], index=index)

    def expand(self, shape) -> "View":
        """Size-1 dimensions broadcast to ``shape`` (``-1`` keeps a size)."""
        shape = list(shape)
        view = self
        while len(view.dims) < len(shape):
            view = view.unsqueeze(0)
        factors, dims = list(view.factors), list(view.dims)
        for d, target in enumerate(shape):
            if target in (-1, view.shape[d]):
                continue
            if view.shape[d] != 1:
                raise LoweringError(f"expand: dimension {d} has {view.shape[d]} elements, "
                                    f"not 1, and cannot become {target}")
            factors.append(Family(target))
            dims[d] = (len(factors) - 1,)
        return replace(view, factors=tuple(factors), dims=tuple(dims))


def identity(tensor: str, families: tuple[Family, ...]) -> View:
    """A stored tensor seen as it is (size-1 dimensions have no factor)."""
    factors, dims, index = [], [], []
    for family in families:
        if family.size == 1:
            dims.append(())
            index.append(({}, 0))
            continue
        factors.append(family)
        dims.append((len(factors) - 1,))
        index.append(({len(factors) - 1: 1}, 0))
    return View(tensor, tuple(factors), tuple(dims), tuple(index))


def common_sizes(a: list[int], b: list[int]) -> list[int]:
    """The coarsest factor sizes refining both mixed-radix splits ``a`` and ``b``."""
    cuts = sorted(set(_cuts(a)) | set(_cuts(b)))
    for small, big in zip(cuts, cuts[1:]):
        if big % small:
            raise LoweringError(f"dimension views {a} and {b} cannot be combined affinely")
    return [big // small for small, big in reversed(list(zip(cuts, cuts[1:])))]


def _cuts(sizes: list[int]) -> list[int]:
    found, stride = [1], 1
    for s in reversed(sizes):
        stride *= s
        found.append(stride)
    return found


def _split_tracking(view: View, f: int, sizes: list[int], queue: list[int]):
    """Split factor ``f`` and renumber the positions held in ``queue``."""
    split = view.split(f, sizes)
    queue[:] = [q if q < f else q + len(sizes) - 1 for q in queue]
    return split, (f, f + 1)


def _resolve_shape(shape, total: int) -> list[int]:
    shape = [int(s) for s in shape]
    if shape.count(-1) > 1:
        raise LoweringError(f"reshape to {shape}: more than one -1")
    known = _product(s for s in shape if s != -1)
    if -1 in shape:
        if known == 0 or total % known:
            raise LoweringError(f"cannot reshape {total} elements into {shape}")
        shape[shape.index(-1)] = total // known
    if _product(shape) != total:
        raise LoweringError(f"cannot reshape {total} elements into {shape}")
    return shape


def _product(values) -> int:
    total = 1
    for v in values:
        total *= v
    return total


# ----------------------------------------------------------------------------- Einsums

@dataclass
class Read:
    """One access of a pending Einsum: a stored tensor and its index per dimension."""

    tensor: str
    dims: tuple[Index, ...]
    """Stored dimension -> ({slot: coefficient}, offset)."""


@dataclass
class Pending:
    """An Einsum before ranks are named: slots, reads, and a text template.

    The template names reads ``{a0}``, ``{a1}`` ... and slot variables ``{s0}``, ``{s1}`` ...;
    the output is ``{out}``.
    """

    out: str
    slots: list[Family]
    out_slots: list[int]
    reads: list[Read]
    template: str
    matmul: bool = False


@dataclass
class Program:
    """Stored tensors and pending Einsums, named and rendered at the end."""

    stored: dict[str, tuple[Family, ...]] = field(default_factory=dict)
    einsums: list[Pending] = field(default_factory=list)

    def read(self, view: View, slot_of: Callable[[int], int | None]) -> Read:
        """The access of ``view`` with factor ``f`` at slot ``slot_of(f)`` (None for a factor
        of size 1, which is always 0)."""
        dims = []
        for coefs, offset in view.index:
            slots = {f: slot_of(f) for f in coefs}
            dims.append(({slots[f]: c for f, c in coefs.items() if slots[f] is not None},
                         offset))
        return Read(view.tensor, tuple(dims))

    def emit(self, out: str, slots: list[Family], out_slots: list[int], reads: list[Read],
             template: str, matmul: bool = False) -> View:
        """Record an Einsum writing a new stored tensor ``out``; returns its view."""
        self.stored[out] = tuple(slots[s] for s in out_slots)
        self.einsums.append(Pending(out, slots, out_slots, reads, template, matmul))
        return identity(out, self.stored[out])

    # ----------------------------------------------------------------- naming
    def render(self) -> tuple[dict[str, object], dict[str, tuple[str, ...]], list[Pending],
                              list[str]]:
        """Rank declarations, stored tensor ranks, and each Einsum's text (in order)."""
        namer = _Namer()
        ranks_of = {name: namer.tensor_ranks(families) for name, families in self.stored.items()}
        texts = [namer.einsum(e, ranks_of) for e in self.einsums]
        return namer.ranks, ranks_of, self.einsums, texts


class _Namer:
    """Rank names: ``R<size>`` (then ``R<size>B``, ...) per family, aliases ``R<size>_2``."""

    def __init__(self):
        self.base: dict[int, str] = {}
        self.ranks: dict[str, object] = {}
        self.taken: set[str] = set()

    def name(self, family: Family, k: int = 0) -> str:
        """The rank of ``family`` (its ``k``-th alias for k > 0), declared on first use."""
        root = family.root()
        if root.id not in self.base:
            stem, letter = f"R{root.size}", 0
            while (stem + _letters(letter)) in self.taken:
                letter += 1
            base = stem + _letters(letter)
            self.taken.add(base)
            self.base[root.id] = base
            self.ranks[base] = root.size
        base = self.base[root.id]
        if k == 0:
            return base
        alias = f"{base}_{k + 1}"
        self.ranks.setdefault(alias, base)
        return alias

    def tensor_ranks(self, families: tuple[Family, ...]) -> tuple[str, ...]:
        """Ranks of a stored tensor: repeated families take successive aliases."""
        seen: dict[int, int] = {}
        names = []
        for family in families:
            root = family.root()
            k = seen.get(root.id, 0)
            seen[root.id] = k + 1
            names.append(self.name(root, k))
        return tuple(names)

    def einsum(self, e: Pending, ranks_of: dict[str, tuple[str, ...]]) -> str:
        """The text of ``e``: a variable per slot, output slots named as the output's dims."""
        out_ranks = ranks_of[e.out]
        alias = {s: _alias_index(r) for s, r in zip(e.out_slots, out_ranks)}
        for s in range(len(e.slots)):
            if s not in alias:
                alias[s] = self._free_index(e, s, alias, ranks_of)
        variables = {s: self.name(e.slots[s], alias[s]).lower() for s in range(len(e.slots))}
        for read in e.reads:
            self._check_plain(e, read, alias, ranks_of)
        fields = {f"s{s}": v for s, v in variables.items()}
        fields["out"] = f"{e.out}[{','.join(variables[s] for s in e.out_slots)}]"
        for k, read in enumerate(e.reads):
            fields[f"a{k}"] = f"{read.tensor}[{','.join(_index(d, variables) for d in read.dims)}]"
        return e.template.format(**fields)

    def _free_index(self, e: Pending, s: int, alias: dict, ranks_of) -> int:
        root = e.slots[s].root()
        used = {alias[o] for o in alias if e.slots[o].root() is root}
        wanted = {_alias_index(ranks_of[r.tensor][d]) for r in e.reads
                  for d, (coefs, offset) in enumerate(r.dims)
                  if coefs == {s: 1} and offset == 0}
        for k in sorted(wanted - {0}) + list(range(len(used) + 2)):
            if k not in used and all(k == w or 0 in (k, w) for w in wanted):
                return k
        raise LoweringError(f"cannot name the ranks of the Einsum writing {e.out}")

    def _check_plain(self, e: Pending, read: Read, alias: dict, ranks_of) -> None:
        stored = ranks_of[read.tensor]
        for d, (coefs, offset) in enumerate(read.dims):
            if len(coefs) != 1 or offset != 0 or next(iter(coefs.values())) != 1:
                continue
            s = next(iter(coefs))
            rank = stored[d]
            if _alias_base(rank) != _alias_base(self.name(e.slots[s])):
                raise LoweringError(f"the Einsum writing {e.out} reads part of dimension {d} "
                                    f"of {read.tensor} with a plain index (a slice starting "
                                    "at 0 of an unsplit dimension is not supported)")
            k = _alias_index(rank)
            if not (alias[s] == k or 0 in (alias[s], k)):
                raise LoweringError(f"cannot name the ranks of the Einsum writing {e.out}")


def _letters(k: int) -> str:
    return "" if k == 0 else chr(ord("A") + k)


def _alias_index(rank: str) -> int:
    base, _, k = rank.partition("_")
    return int(k) - 1 if k else 0


def _alias_base(rank: str) -> str:
    return rank.partition("_")[0]


def _index(dim: Index, variables: dict[int, str]) -> str:
    coefs, offset = dim
    terms = [variables[s] if c == 1 else f"{c}*{variables[s]}" for s, c in coefs.items() if c]
    if offset or not terms:
        terms.append(str(offset))
    return "+".join(terms).replace("+-", "-")
