"""Neighbour lists in torch (CPU or GPU).

Pairs are directed: both (i, j) and (j, i) are returned, with the Cartesian shift that makes
r_ij = R[j] - R[i] + shift. The list is *mirror-ordered*: its second half is its first half reversed
(pair p + P/2 is pair p seen from the other atom), which lets SchNet evaluate its filter network, a
function of the distance only, on half of the pairs. Periodic boundaries, triclinic cells and cells
smaller than the cutoff (several images of the same atom) are handled; self pairs appear only as
periodic images.

Two algorithms:
* ``dense``: all pairs inside each structure, vectorised over a batch of small molecules (training).
* ``cell list``: O(N) binning into Cartesian cells of edge >= cutoff, for periodic or large systems.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor

from zoo.errors import ModelError

_DENSE_MAX_ATOMS = 128
_CHUNK = 16384  # centres per chunk in the cell list, bounds memory


def neighbor_list(
    positions: Tensor,
    cutoff: float,
    cell: Tensor | None = None,
    pbc: Tensor | None = None,
    idx_m: Tensor | None = None,
    n_atoms: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Pairs within ``cutoff`` for one structure or a batch of structures.

    positions (N,3); cell (B,3,3) or (3,3) with lattice vectors as rows; pbc (B,3) or (3,);
    idx_m (N,) structure index of every atom and n_atoms (B,) for batches.
    Returns edge_index (2,P) int64 and shifts (P,3) in the dtype of positions.
    """
    if cutoff <= 0:
        raise ModelError(f"cutoff must be positive, got {cutoff}")
    if not bool(torch.isfinite(positions).all()):
        raise ModelError("positions contain NaN or infinite values")
    device, dtype = positions.device, positions.dtype
    n = positions.shape[0]
    if idx_m is None:
        idx_m = torch.zeros(n, dtype=torch.long, device=device)
        n_atoms = torch.tensor([n], dtype=torch.long, device=device)
    assert n_atoms is not None
    n_struct = n_atoms.shape[0]
    if cell is None:
        cell = torch.zeros(n_struct, 3, 3, dtype=dtype, device=device)
    if pbc is None:
        pbc = torch.zeros(n_struct, 3, dtype=torch.bool, device=device)
    cell = cell.to(dtype).reshape(-1, 3, 3)
    pbc = pbc.to(torch.bool).reshape(-1, 3)

    if not bool(pbc.any()) and int(n_atoms.max()) <= _DENSE_MAX_ATOMS:
        return _dense_pairs(positions, idx_m, n_atoms, cutoff)

    offsets = torch.cumsum(n_atoms, 0) - n_atoms
    halves, shifts = [], []
    for b in range(n_struct):
        start, count = int(offsets[b]), int(n_atoms[b])
        e, s = cell_list(positions[start : start + count], cutoff, cell[b], pbc[b])
        half = e.shape[1] // 2
        halves.append(e[:, :half] + start)
        shifts.append(s[:half])
    first, s = torch.cat(halves, 1), torch.cat(shifts, 0)
    return torch.cat([first, first.flip(0)], 1), torch.cat([s, -s], 0)


def _dense_pairs(positions: Tensor, idx_m: Tensor, n_atoms: Tensor, cutoff: float) -> tuple[Tensor, Tensor]:
    device = positions.device
    offsets = torch.cumsum(n_atoms, 0) - n_atoms
    counts = n_atoms[idx_m]  # partners per atom (itself included)
    i = torch.repeat_interleave(torch.arange(positions.shape[0], device=device), counts)
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(i.shape[0], device=device) - torch.repeat_interleave(starts, counts)
    j = offsets[idx_m[i]] + local
    d2 = (positions[j] - positions[i]).pow(2).sum(-1)
    keep = (i < j) & (d2 < cutoff * cutoff)
    i, j = i[keep], j[keep]
    edge_index = torch.stack([torch.cat([i, j]), torch.cat([j, i])])
    return edge_index, torch.zeros(edge_index.shape[1], 3, dtype=positions.dtype, device=device)


def cell_list(positions: Tensor, cutoff: float, cell: Tensor, pbc: Tensor) -> tuple[Tensor, Tensor]:
    """O(N) neighbour search for one structure (periodic in the directions where pbc is True)."""
    device, dtype = positions.device, positions.dtype
    n = positions.shape[0]
    if n == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=device), torch.zeros(
            0, 3, dtype=dtype, device=device
        )
    pbc = pbc.to(device)
    periodic = [bool(p) for p in pbc.tolist()]
    if any(periodic):
        vol = torch.linalg.det(cell[pbc][:, pbc] if not all(periodic) else cell).abs()
        if float(vol) < 1e-8 or any(float(cell[k].norm()) < 1e-8 for k in range(3) if periodic[k]):
            raise ModelError("the cell is degenerate along a periodic direction")
    # a full-rank cell: replace non-periodic lattice vectors by orthogonal unit vectors if needed
    full = cell.clone()
    for k in range(3):
        if not periodic[k] and float(full[k].norm()) < 1e-8:
            full[k] = 0.0
    if abs(float(torch.linalg.det(full))) < 1e-8:
        full = _complete_basis(full, periodic)
    inv = torch.linalg.inv(full)
    frac = positions @ inv
    wrap = torch.zeros_like(frac)
    for k in range(3):
        if periodic[k]:
            wrap[:, k] = -torch.floor(frac[:, k])
    frac = frac + wrap
    pos0 = frac @ full  # wrapped positions; pos0 - positions = wrap @ cell
    offset = wrap @ full

    # periodic images within the cutoff of the cell
    recip_len = inv.norm(dim=0)  # |b_k|, inverse plane spacing along lattice vector k
    reach = [int(torch.ceil(cutoff * recip_len[k]).item()) if periodic[k] else 0 for k in range(3)]
    img_ranges = [range(-r, r + 1) for r in reach]
    images = torch.tensor(list(itertools.product(*img_ranges)), dtype=dtype, device=device)
    margin = cutoff * recip_len
    all_pos, all_idx, all_img = [], [], []
    for img in images:
        f = frac + img
        keep = torch.ones(n, dtype=torch.bool, device=device)
        for k in range(3):
            if periodic[k]:
                keep &= (f[:, k] >= -margin[k]) & (f[:, k] <= 1 + margin[k])
        idx = torch.nonzero(keep).squeeze(1)
        all_pos.append(pos0[idx] + img @ full)
        all_idx.append(idx)
        all_img.append(img.expand(idx.shape[0], 3))
    cand_pos = torch.cat(all_pos)
    cand_idx = torch.cat(all_idx)
    cand_img = torch.cat(all_img)

    # bin candidates into Cartesian cells of edge >= cutoff
    lo = cand_pos.min(0).values
    hi = cand_pos.max(0).values
    nbins = torch.clamp(torch.floor((hi - lo) / cutoff).long(), min=1)
    binsize = (hi - lo) / nbins.to(dtype)
    binsize = torch.where(binsize > 0, binsize, torch.ones_like(binsize))

    def bin_of(p: Tensor) -> Tensor:
        b = torch.floor((p - lo) / binsize).long()
        return torch.minimum(torch.clamp(b, min=0), nbins - 1)

    cb = bin_of(cand_pos)
    flat = (cb[:, 0] * nbins[1] + cb[:, 1]) * nbins[2] + cb[:, 2]
    order = torch.argsort(flat)
    flat_sorted = flat[order]
    n_bins_total = int(nbins.prod())
    bin_count = torch.bincount(flat_sorted, minlength=n_bins_total)
    bin_start = torch.cumsum(bin_count, 0) - bin_count
    max_occ = int(bin_count.max())

    neigh = torch.tensor(list(itertools.product((-1, 0, 1), repeat=3)), device=device)
    cutoff2 = cutoff * cutoff
    out_i, out_j, out_s = [], [], []
    centre_bins = bin_of(pos0)
    slot = torch.arange(max_occ, device=device)
    for c0 in range(0, n, _CHUNK):
        ci = torch.arange(c0, min(n, c0 + _CHUNK), device=device)
        nb = centre_bins[ci][:, None, :] + neigh[None]  # (C,27,3)
        valid = ((nb >= 0) & (nb < nbins)).all(-1)
        nbf = (nb[..., 0] * nbins[1] + nb[..., 1]) * nbins[2] + nb[..., 2]
        nbf = torch.where(valid, nbf, torch.zeros_like(nbf))
        cnt = torch.where(valid, bin_count[nbf], torch.zeros_like(nbf))
        start = bin_start[nbf]
        member = slot[None, None, :] < cnt[..., None]  # (C,27,K)
        ii = ci[:, None, None].expand_as(member)[member]
        cand = order[(start[..., None] + slot)[member]]
        vec = cand_pos[cand] - pos0[ii]
        d2 = vec.pow(2).sum(-1)
        jj = cand_idx[cand]
        img = cand_img[cand]
        keep = (d2 < cutoff2) & _first_half(ii, jj, img)
        ii, jj, img = ii[keep], jj[keep], img[keep]
        out_i.append(ii)
        out_j.append(jj)
        out_s.append(img @ full + offset[jj] - offset[ii])
    i, j, s = torch.cat(out_i), torch.cat(out_j), torch.cat(out_s)
    edge_index = torch.stack([torch.cat([i, j]), torch.cat([j, i])])
    return edge_index, torch.cat([s, -s])


def _first_half(i: Tensor, j: Tensor, img: Tensor) -> Tensor:
    """One of each pair of mirror images (i, j, n) <-> (j, i, -n): i < j, or i == j with n > 0
    (lexicographically). Self pairs with n == 0 are dropped."""
    first_nonzero = torch.where(img[:, 0] != 0, img[:, 0], torch.where(img[:, 1] != 0, img[:, 1], img[:, 2]))
    return (i < j) | ((i == j) & (first_nonzero > 0))


def mirror_order(edge_index: Tensor, shifts: Tensor) -> tuple[Tensor, Tensor]:
    """The same pairs, mirror-ordered (export/SPEC.md "Pair order"): one of each mirror pair (i < j, or
    i == j with a lexicographically positive shift), then all of them seen from the other atom. The C++
    runtime's ``zoo::mirror_order`` does the same. Raises ModelError when the list does not hold both
    directions of every pair (SPEC: "both directions present")."""
    keep = _first_half(edge_index[0], edge_index[1], shifts)
    half, s = edge_index[:, keep], shifts[keep]
    if 2 * half.shape[1] != edge_index.shape[1]:
        raise ModelError(
            f"the pair list ({edge_index.shape[1]} pairs) does not hold both directions of every pair"
        )
    return torch.cat([half, half.flip(0)], 1), torch.cat([s, -s], 0)


def _complete_basis(cell: Tensor, periodic: list[bool]) -> Tensor:
    """Replace non-periodic lattice vectors by unit vectors orthogonal to the periodic ones."""
    full = cell.clone()
    basis = [full[k] for k in range(3) if periodic[k]]
    for k in range(3):
        if periodic[k]:
            continue
        for trial in torch.eye(3, dtype=cell.dtype, device=cell.device):
            v = trial.clone()
            for b in basis:
                v = v - (v @ b) / (b @ b) * b
            if float(v.norm()) > 1e-6:
                full[k] = v / v.norm()
                basis.append(full[k])
                break
    return full


def pair_vectors(positions: Tensor, edge_index: Tensor, shifts: Tensor) -> Tensor:
    """r_ij = R[j] - R[i] + shift for every pair."""
    return positions[edge_index[1]] - positions[edge_index[0]] + shifts
