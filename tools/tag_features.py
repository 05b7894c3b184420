#!/usr/bin/python3
"""Item content features from tags: a TF-IDF matrix and its truncated SVD.

Reads (item, tag) records, one per line (a user tagging an item, as LastFM
hetrec's user_taggedartists.dat; or one record per tag an item carries), and
writes an HDF5 file in the format `data.item_features` reads (docs/formats.md):
`ids` (the items' original ids, as text) and `vectors` (float32, items x dim).

  tf(i, t)  = log(1 + number of records of item i with tag t)
  idf(t)    = log(items / items with tag t)
  X         = rows of tf * idf, each scaled to unit length
  vectors   = U_dim * S_dim of X's truncated SVD (randomized range finder with
              power iterations, seeded), each row scaled to unit length, and
              with --count a last column log(1 + the item's records) / the
              largest such value: how much an item is tagged is how much it is
              known, the one popularity signal a cold item has

Tags on fewer than --min-items items are dropped (they tell no two items
apart); items left without tags get no row (train's data.missing_features
decides: error, or zero features). numpy and h5py only (Debian's python3).

  /usr/bin/python3 tools/tag_features.py --tags user_taggedartists.dat \
      --header --item-col 1 --tag-col 2 --dim 64 --out tags.h5
"""

import argparse
import sys

import h5py
import numpy as np


def fail(message):
    print(f"tag_features.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def read_records(path, sep, header, item_col, tag_col):
    items, tags = [], []
    need = max(item_col, tag_col) + 1
    try:
        f = open(path, encoding="utf-8", errors="replace")
    except OSError as e:
        fail(f"{path}: {e.strerror}")
    with f:
        for number, line in enumerate(f, start=1):
            if number == 1 and header:
                continue
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split(sep)
            if len(fields) < need:
                fail(f"{path}:{number}: {len(fields)} field(s), expected an item in column "
                     f"{item_col} and a tag in column {tag_col}")
            item, tag = fields[item_col].strip(), fields[tag_col].strip()
            if not item or not tag:
                fail(f"{path}:{number}: empty item or tag")
            items.append(item)
            tags.append(tag)
    if not items:
        fail(f"{path}: no (item, tag) records")
    return items, tags


def tfidf(items, tags, min_items):
    """Returns (item ids, COO arrays rows/cols/vals, tags kept, records per item)."""
    item_ids, item_index = np.unique(np.array(items, dtype=object), return_inverse=True)
    tag_ids, tag_index = np.unique(np.array(tags, dtype=object), return_inverse=True)
    n_tags = len(tag_ids)
    pair = item_index.astype(np.int64) * n_tags + tag_index.astype(np.int64)
    pairs, counts = np.unique(pair, return_counts=True)
    rows, cols = pairs // n_tags, pairs % n_tags
    df = np.bincount(cols, minlength=n_tags)
    keep_tag = df >= min_items
    keep = keep_tag[cols]
    rows, cols, counts = rows[keep], cols[keep], counts[keep]
    has_row = np.zeros(len(item_ids), dtype=bool)
    has_row[rows] = True
    # Dense ids over the items that kept a tag, and the kept tags.
    new_row = np.cumsum(has_row) - 1
    new_col = np.cumsum(keep_tag) - 1
    rows, cols = new_row[rows], new_col[cols]
    n_items = int(has_row.sum())
    idf = np.log(n_items / df[keep_tag].astype(np.float64))
    vals = np.log1p(counts.astype(np.float64)) * idf[cols]
    norms = np.sqrt(np.bincount(rows, weights=vals * vals, minlength=n_items))
    vals = vals / np.maximum(norms[rows], 1e-300)
    records = np.bincount(item_index, minlength=len(item_ids))[has_row]
    return item_ids[has_row], rows, cols, vals, int(keep_tag.sum()), records


def truncated_svd(rows, cols, vals, shape, dim, seed, power_iterations=6, oversample=16):
    """U[:, :dim] * S[:dim] of the sparse matrix (rows, cols, vals)."""
    n, m = shape

    def times(b):  # X @ b
        out = np.zeros((n, b.shape[1]))
        np.add.at(out, rows, vals[:, None] * b[cols])
        return out

    def times_t(a):  # X.T @ a
        out = np.zeros((m, a.shape[1]))
        np.add.at(out, cols, vals[:, None] * a[rows])
        return out

    k = min(dim + oversample, n, m)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(times(rng.standard_normal((m, k))))
    for _ in range(power_iterations):
        z, _ = np.linalg.qr(times_t(q))
        q, _ = np.linalg.qr(times(z))
    b = times_t(q).T  # k x m = Q^T X
    ub, s, _ = np.linalg.svd(b, full_matrices=False)
    u = q @ ub
    d = min(dim, k)
    total = float(np.sum(vals * vals))
    return u[:, :d] * s[:d], float(np.sum(s[:d] ** 2)) / total if total > 0 else 0.0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tags", required=True, help="(item, tag) records, one per line")
    p.add_argument("--sep", default="\t", help="field separator (default tab)")
    p.add_argument("--header", action="store_true", help="the first line names the columns")
    p.add_argument("--item-col", type=int, default=0, help="0-based column of the item id")
    p.add_argument("--tag-col", type=int, default=1, help="0-based column of the tag")
    p.add_argument("--dim", type=int, default=64, help="SVD dimensions kept (default 64)")
    p.add_argument("--min-items", type=int, default=2,
                   help="drop tags on fewer items than this (default 2)")
    p.add_argument("--seed", type=int, default=0, help="seed of the randomized SVD")
    p.add_argument("--count", action="store_true",
                   help="add a last column: log(1 + the item's records), scaled to [0, 1]")
    p.add_argument("--out", required=True, help="output .h5 (ids, vectors)")
    a = p.parse_args()
    if a.dim < 1 or a.dim > 4096:
        fail(f"--dim must be in 1..4096, got {a.dim}")
    if a.min_items < 1:
        fail(f"--min-items must be >= 1, got {a.min_items}")
    if a.item_col < 0 or a.tag_col < 0 or a.item_col == a.tag_col:
        fail("--item-col and --tag-col must be two different 0-based columns")
    sep = "\t" if a.sep in ("tab", "\\t") else a.sep
    items, tags = read_records(a.tags, sep, a.header, a.item_col, a.tag_col)
    ids, rows, cols, vals, n_tags, records = tfidf(items, tags, a.min_items)
    if len(ids) < 2 or n_tags < 1:
        fail(f"{a.tags}: {len(ids)} items and {n_tags} tags are left after --min-items "
             f"{a.min_items}")
    vectors, explained = truncated_svd(rows, cols, vals, (len(ids), n_tags), a.dim, a.seed)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.maximum(norms, 1e-12)
    if a.count:
        known = np.log1p(records.astype(np.float64))
        vectors = np.hstack([vectors, (known / known.max())[:, None]])
    tmp = a.out + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("ids", data=np.array([str(i) for i in ids], dtype=object),
                         dtype=h5py.string_dtype())
        f.create_dataset("vectors", data=vectors.astype(np.float32))
        f.attrs["source"] = (f"tag_features.py --tags {a.tags} --dim {a.dim} --min-items "
                             f"{a.min_items}{' --count' if a.count else ''}")
        f.attrs["explained_variance"] = explained
    import os
    os.replace(tmp, a.out)
    print(f"wrote {a.out}: {len(ids)} items x {vectors.shape[1]} dims"
          f"{' (the last: the count)' if a.count else ''} from {len(items)} records, "
          f"{n_tags} tags (on >= {a.min_items} items); the SVD keeps {100 * explained:.1f} % of "
          f"the TF-IDF matrix's energy")


if __name__ == "__main__":
    main()
