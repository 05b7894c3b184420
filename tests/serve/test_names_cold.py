"""Item names and cold-start items from prepare to the outputs.

prepare --item-names keeps names in dataset.h5; export copies them into
model.h5; recommend (TSV and JSON, --explain), interests print them beside
the ids; bad names files exit 2 naming file:line. prepare --cold-items holds a
seeded share of the items out of train entirely (none in train or test, every
record of theirs in cold test) and evaluate ranks them apart, against
popularity and random, with content features giving their vectors.
tools/tag_features.py turns (item, tag) records into such features."""
import json
import math
import os
import tempfile

import h5py
import numpy as np

from servetest import BIN, MPIRUN, REPO, run

D = tempfile.mkdtemp(prefix="halorec-names-cold-")
PY = "/usr/bin/python3"

run(BIN, "synth", "--users", 800, "--items", 400, "--communities", 4, "--in-community", 0.9,
    "--interactions", 24000, "--seed", 7, "--out", f"{D}/all.tsv")
community = {}
for line in open(f"{D}/all.communities.tsv"):
    kind, ident, c = line.rstrip("\n").split("\t")
    if kind == "item":
        community[ident] = int(c)
records = []  # (user, item) of the log
with open(f"{D}/all.tsv") as f:
    f.readline()
    for line in f:
        u, i, _ = line.rstrip("\n").split("\t")
        records.append((u, i))
items = sorted(community, key=lambda x: int(x[1:]))

# Names: every item, one with a tab-free unicode name, plus an id the log lacks.
NAMES = {i: f"Band {i.upper()}" for i in items}
NAMES[items[3]] = "Sigur Rós, \"Ágætis\""  # TSV: quotes are part of the name
NAMES[items[4]] = "\"Weird Al\" Yankovic"
with open(f"{D}/names.tsv", "w") as f:
    f.write("id\tname\turl\n")
    for i in items:
        f.write(f"{i}\t{NAMES[i]}\thttp://x/{i}\n")
    f.write("nowhere\tNobody\thttp://x/n\n")


def prepare(out, *extra, expect=0):
    return run(BIN, "prepare", "--format", "tsv", "--input", f"{D}/all.tsv", "--header",
               "--user-col", "user", "--item-col", "item", "--split", "random:0.2", "--out",
               f"{D}/{out}", *extra, "--json", expect=expect)


# 1. The cold split.
rep = json.loads(prepare("d.h5", "--item-names", f"{D}/names.tsv", "--item-names-header",
                         "--cold-items", 0.2).stdout)
assert rep["cold_items"] == round(0.2 * len(items)), rep
assert rep["items"] + rep["cold_items"] == len(items), rep
assert rep["names_read"] == len(items) + 1 and rep["items_named"] == len(items), rep
assert rep["records_read"] == rep["records_kept"] + rep["dropped_total"], rep
with h5py.File(f"{D}/d.h5") as f:
    warm = [x.decode() for x in f["items/original_id"][:]]
    users = [x.decode() for x in f["users/original_id"][:]]
    cold = [x.decode() for x in f["cold/original_id"][:]]
    cu, ci = f["cold/test/user"][:], f["cold/test/item"][:]
    name_ids = [x.decode() for x in f["item_names/original_id"][:]]
    names = [x.decode() for x in f["item_names/name"][:]]
assert not set(warm) & set(cold) and len(cold) == rep["cold_items"]
cold_pairs = {(users[u], cold[c]) for u, c in zip(cu, ci)}
expected = {(u, i) for u, i in records if i in set(cold)}
assert cold_pairs == expected, (len(cold_pairs), len(expected))  # every record, nothing else
assert {c for _, c in cold_pairs} == set(cold)  # every cold item is in cold test
assert rep["cold_test"] == len(expected), rep
assert dict(zip(name_ids, names)) == NAMES  # warm and cold items, not the unknown id
# The choice depends on the ids and the seed alone.
again = json.loads(prepare("d2.h5", "--cold-items", 0.2).stdout)
other = json.loads(prepare("d3.h5", "--cold-items", 0.2, "--seed", 9).stdout)
with h5py.File(f"{D}/d2.h5") as f2, h5py.File(f"{D}/d3.h5") as f3:
    assert [x.decode() for x in f2["cold/original_id"][:]] == cold
    assert [x.decode() for x in f3["cold/original_id"][:]] != cold
# Names are not in the fingerprint; the cold split is.
assert again["fingerprint"] == rep["fingerprint"], (again["fingerprint"], rep["fingerprint"])
assert other["fingerprint"] != rep["fingerprint"]
plain = json.loads(prepare("plain.h5").stdout)
assert plain["fingerprint"] != rep["fingerprint"] and "cold_items" not in plain

# 2. Bad names files and options: exit 2, naming the file and line.
def bad(text, needle, *extra, options=None):
    with open(f"{D}/bad.tsv", "w") as f:
        f.write(text)
    p = prepare("bad.h5", *(options or ["--item-names", f"{D}/bad.tsv", *extra]), expect=2)
    assert needle in p.stderr, (needle, p.stderr[-1500:])
    assert not os.path.exists(f"{D}/bad.h5")


bad("i0\tA\ni1\n", f"{D}/bad.tsv:2: 1 field(s)")
bad("i0\tA\ni1\tB\ni0\tC\n", f"{D}/bad.tsv:3: item 'i0' is named again (first on line 1)")
bad("i0\t  \n", f"{D}/bad.tsv:1: item 'i0' has an empty name")
bad("x1\tA\nx2\tB\n", "none of its 2 ids is an item of the dataset")
bad("", "no item names")
bad("i0,A\n", "--item-names-cols", "--item-names-cols", "1")
bad('i0,"A\n', f"{D}/bad.tsv:1:", "--item-names-sep", ",")  # CSV: an open quote
bad("i0\tA\n", "--cold-items must be a share", options=["--cold-items", 1.5])
bad("i0\tA\n", "need --item-names", options=["--item-names-header"])
p = run(BIN, "prepare", "--format", "tsv", "--input", f"{D}/all.tsv", "--header", "--user-col",
        "user", "--item-col", "item", "--append-to", f"{D}/d.h5", "--out", f"{D}/grown.h5",
        expect=2)
assert "cold items" in p.stderr, p.stderr

# 3. Content features (community one-hot + noise) for every item, cold ones
# included; a model trained on the warm items ranks the cold ones apart.
rng = np.random.default_rng(2)
vec = np.zeros((len(items), 8), np.float32)
for r, i in enumerate(items):
    vec[r, community[i]] = 1.0
vec += rng.normal(0, 0.3, vec.shape).astype(np.float32)
with h5py.File(f"{D}/features.h5", "w") as f:
    f["ids"] = np.array(items, dtype=h5py.string_dtype())
    f["vectors"] = vec
run(MPIRUN, "-np", 1, BIN, "train", "--config", f"{REPO}/configs/quickstart.yaml",
    "--set", f"data.dataset={D}/d.h5", "--set", f"data.parts={D}/parts", "--set",
    f"output.dir={D}/run", "--set", "train.epochs=15", "--set", "eval.every=0", "--set",
    "train.threads=1", "--set", "model.layers=1", "--set", f"data.item_features={D}/features.h5",
    "--set", "data.unknown_feature_ids=cold", "--set", "model.feature_widths=[32]")
run(BIN, "export", "--checkpoint", f"{D}/run/checkpoints", "--out", f"{D}/m.h5", "--interests")
with h5py.File(f"{D}/m.h5") as m:
    assert dict(zip([x.decode() for x in m["item_names/original_id"][:]],
                    [x.decode() for x in m["item_names/name"][:]])) == NAMES
# Exported by two ranks: the model index carries the names too.
run(MPIRUN, "-np", 2, "--oversubscribe", BIN, "export", "--checkpoint", f"{D}/run/checkpoints",
    "--out", f"{D}/m2.h5", "--parts", f"{D}/parts2")
with h5py.File(f"{D}/m2.h5") as m:
    assert len(m["item_names/name"]) == len(NAMES)
p = run(BIN, "recommend", "--model", f"{D}/m2.h5", "--user", users[1], "--k", 2)
for line in p.stdout.splitlines()[1:]:
    assert line.split("\t")[3] == NAMES[line.split("\t")[2]], p.stdout
ev = json.loads(run(BIN, "evaluate", "--model", f"{D}/m.h5", "--dataset", f"{D}/d.h5",
                    "--json").stdout)
assert ev["cold/items"] == len(cold) and ev["cold/items_without_vector"] == 0, ev
assert ev["cold/users"] == len({u for u, _ in cold_pairs}), ev
# 80 cold items, 4 communities: random recall@20 is 20/80; content that names
# the community lifts a user's in-community cold items to the top.
assert math.isclose(ev["cold/random_recall@20"], 20 / len(cold), rel_tol=1e-9), ev
assert ev["cold/recall@20"] > 1.5 * ev["cold/random_recall@20"], ev
assert 0 < ev["recall@20"] < 1 and 0 < ev["cold/popularity_recall@20"] <= 1, ev
text = run(BIN, "evaluate", "--model", f"{D}/m.h5", "--dataset", f"{D}/d.h5").stdout
assert "cold items: recall@20" in text and "x popularity among cold items" in text, text
# The popularity baseline by hand: cold items by how many other users have them.
holders = {}
for u, c in cold_pairs:
    holders.setdefault(c, set()).add(u)
order = sorted(cold, key=lambda c: (-len(holders[c]), cold.index(c)))
by_user = {}
for u, c in cold_pairs:
    by_user.setdefault(u, set()).add(c)
total = 0.0
for u, own in by_user.items():
    ranked = sorted(cold, key=lambda c: (-(len(holders[c]) - (c in own)), order.index(c)))[:20]
    total += len(own & set(ranked)) / len(own)
assert math.isclose(ev["cold/popularity_recall@20"], total / len(by_user), rel_tol=1e-9), (
    ev["cold/popularity_recall@20"], total / len(by_user))

# 4. Names in the outputs.
user = users[0]
p = run(BIN, "recommend", "--model", f"{D}/m.h5", "--user", user, "--k", 5)
lines = p.stdout.splitlines()
assert lines[0] == "user\trank\titem\tname\tscore", lines[0]
for line in lines[1:]:
    _, _, item, name, _ = line.split("\t")
    assert name == NAMES[item], line
p = run(BIN, "recommend", "--model", f"{D}/m.h5", "--user", user, "--k", 3, "--explain", 2)
lines = p.stdout.splitlines()
assert lines[0] == "user\trank\titem\tname\tscore\tinterest\tbecause\tbecause_names", lines[0]
for line in lines[1:]:
    fields = line.split("\t")
    because = [b.split("(")[0] for b in fields[6].split(",")]
    assert fields[7].split(" | ") == [NAMES[b] for b in because], line
j = json.loads(run(BIN, "recommend", "--model", f"{D}/m.h5", "--user", user, "--k", 3,
                   "--explain", 1, "--json").stdout)
for it in j["recommendations"][0]["items"]:
    assert it["name"] == NAMES[it["item"]], it
    assert it["because"][0]["name"] == NAMES[it["because"][0]["item"]], it
p = run(BIN, "interests", "--model", f"{D}/m.h5", "--user", user)
assert "(Band I" in p.stdout, p.stdout
j = json.loads(run(BIN, "interests", "--model", f"{D}/m.h5", "--user", user, "--json").stdout)
for it in j["interests"]:
    assert it["medoid_name"] == NAMES[it["medoid"]], it
    assert it["representative_names"] == [NAMES[r] for r in it["representatives"]], it
p = run(BIN, "interests", "--model", f"{D}/m.h5", "--all")
assert p.stdout.splitlines()[0].split("\t")[5] == "medoid_name", p.stdout[:200]
# A model from a dataset without names prints no name column.
run(BIN, "baseline", "--dataset", f"{D}/plain.h5", "--method", "popularity", "--out", f"{D}/pop.h5")
p = run(BIN, "recommend", "--model", f"{D}/pop.h5", "--user", user, "--k", 2)
assert p.stdout.splitlines()[0] == "user\trank\titem\tscore", p.stdout
run(BIN, "baseline", "--dataset", f"{D}/d.h5", "--method", "popularity", "--out", f"{D}/pop2.h5")
p = run(BIN, "recommend", "--model", f"{D}/pop2.h5", "--user", user, "--k", 2)
for line in p.stdout.splitlines()[1:]:
    assert line.split("\t")[3] == NAMES[line.split("\t")[2]], p.stdout

# 5. tools/tag_features.py: tags -> TF-IDF -> SVD, in data.item_features' format.
with open(f"{D}/tags.tsv", "w") as f:
    f.write("user\titem\ttag\n")
    for r, i in enumerate(items):
        c = community[i]
        for k in range(3):
            f.write(f"u{k}\t{i}\tgenre{c}\n")
        f.write(f"u9\t{i}\tstyle{(c * 2 + r % 2)}\n")
        f.write(f"u9\t{i}\tonly{r}\n")  # a tag on one item: dropped (--min-items 2)
p = run(PY, f"{REPO}/tools/tag_features.py", "--tags", f"{D}/tags.tsv", "--header",
        "--item-col", 1, "--tag-col", 2, "--dim", 6, "--out", f"{D}/tags.h5")
assert f"{len(items)} items x 6 dims" in p.stdout and "12 tags" in p.stdout, p.stdout
with h5py.File(f"{D}/tags.h5") as f:
    ids = [x.decode() for x in f["ids"][:]]
    v = f["vectors"][:]
assert sorted(ids) == sorted(items) and v.dtype == np.float32 and v.shape == (len(items), 6)
assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
row = {i: r for r, i in enumerate(ids)}
same = [float(v[row[a]] @ v[row[b]]) for a, b in zip(items, items[4:]) if community[a] == community[b]]
diff = [float(v[row[a]] @ v[row[b]]) for a, b in zip(items, items[1:]) if community[a] != community[b]]
assert min(same) > max(diff) + 0.3, (min(same), max(diff))
with open(f"{D}/badtags.tsv", "w") as f:
    f.write("i0\tx\ni1\n")
p = run(PY, f"{REPO}/tools/tag_features.py", "--tags", f"{D}/badtags.tsv", "--out",
        f"{D}/bt.h5", expect=2)
assert f"{D}/badtags.tsv:2:" in p.stderr, p.stderr
print("ok")
