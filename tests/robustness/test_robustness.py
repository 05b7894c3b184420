"""Issue 13's table: every way a careless command used to destroy data, crash
or report nonsense, run as a user would, with its exit code, its message, and
every pre-existing file byte-identical afterwards (robust.py). Disk-full and
read-only cases use small tmpfs mounts and are skipped (with the reason)
where mounting is not allowed."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from robust import BIN, ENV, MPIRUN, Case, Fixture, run, run_cases, snapshot  # noqa: E402

fx = Fixture()
W = fx.root
C = fx.common


def model_copy(name, mutate):
    def setup(f):
        dst = f.copy("model.h5", name)
        with h5py.File(dst, "r+") as h:
            mutate(h)
    return setup


def replace(h, path, data):
    del h[path]
    h[path] = data


def sharded_model_without_parts(f):
    """A model exported by 2 ranks whose rank-0 part file was deleted."""
    out = f.p("m_noparts.h5")
    run([MPIRUN, "-np", "2", "--oversubscribe", BIN, "export", "--checkpoint",
         f.p("run", "checkpoints"), "--out", out, "--parts", f.p("p_noparts")], check=0)
    folder = out + ".parts"
    for name in os.listdir(folder):
        if name.endswith("-rank-00000-of-00002.h5"):
            os.remove(os.path.join(folder, name))


def write(name, data, mode="w"):
    def setup(f):
        with open(f.p(name), mode) as out:
            out.write(data)
    return setup


def users_of(f, name):
    with h5py.File(f.p(name)) as h:
        return [x.decode() for x in h["users/original_id"][:]]


def bom_check(f, _):
    users = users_of(f, "bom.h5")
    assert sorted(users) == ["u1", "u2"], users


def tsv_fields_check(f, p):
    lines = p.stdout.rstrip("\n").split("\n")
    assert lines[0] == "user\trank\titem\tscore", lines[0]
    assert len(lines) == 11, len(lines)
    assert all(len(line.split("\t")) == 4 for line in lines), lines
    assert any("\\t" in line for line in lines[1:]), "no escaped tab among the items"


def pseudonym_order_check(f, _):
    # Rows carry no order of the raw ids: the rank correlation between row
    # index and raw id is ~0, and rows equal to their integer id are as
    # rare as for a random permutation (expected 1).
    import hashlib
    import hmac
    with h5py.File(f.p("pmodel.h5")) as h:
        pseudonyms = [x.decode() for x in h["users/original_id"][:]]
    key = open(f.p("key"), "rb").read().rstrip(b"\n")
    raw = users_of(f, "d.h5")
    of = {hmac.new(key, r.encode(), hashlib.sha256).hexdigest(): int(r) for r in raw}
    ids = np.array([of[p] for p in pseudonyms])
    rows = np.arange(len(ids))
    ranks = np.argsort(np.argsort(ids))
    rho = np.corrcoef(rows, ranks)[0, 1]
    same = int((rows == ids).sum())
    assert abs(rho) < 0.2, f"rank correlation {rho:.3f}"
    assert same <= 5, f"{same} rows equal their raw id"
    print(f"    pseudonymized rows: rank correlation {rho:+.3f}, {same} of {len(ids)} rows at "
          f"their raw id")


def same_metrics_as_plain(f, p):
    plain = run([BIN, "evaluate", "--model", f.p("model.h5"), "--dataset", f.p("d.h5"),
                 "--json"], check=0)
    assert json.loads(p.stdout) == json.loads(plain.stdout), (p.stdout, plain.stdout)


def resumed_from_older(f, p):
    older = f.checkpoints[0]
    assert re.search(f"resumed from .*{older}", p.stderr), p.stderr[-800:]


def no_final_record(f, p):
    rows = [json.loads(line) for line in open(f.p("run_sig", "metrics.jsonl"))]
    assert not any(r.get("final") for r in rows), rows[-1]


def uncommitted_removed(f, p):
    left = [d for d in os.listdir(f.p("run_crash", "checkpoints"))
            if d.startswith("step-") and
            not os.path.exists(f.p("run_crash", "checkpoints", d, "COMMITTED"))]
    assert not left, left
    assert "never committed" in p.stderr


def crash_in_checkpoint(f):
    f.copy("run", "run_crash")
    step = int(f.checkpoints[-1][5:])
    run([BIN, "train", *C, "--set", "train.epochs=3", "--set", f"output.dir={f.p('run_crash')}",
         "--resume", "latest"], env={"HALOREC_TEST_CRASH_IN_CHECKPOINT": str(step * 3 // 2)})
    assert any(not os.path.exists(f.p("run_crash", "checkpoints", d, "COMMITTED"))
               for d in os.listdir(f.p("run_crash", "checkpoints"))), "no uncommitted leftover"


def break_newest_checkpoint(f):
    f.copy("run", "run_fallback")
    newest = f.p("run_fallback", "checkpoints", f.checkpoints[-1], "rank-00000.h5")
    with open(newest, "r+b") as out:
        out.truncate(1000)


def tab_pipeline(f):
    # Item ids with a tab (quoted CSV fields), through prepare, train, export.
    rows = ["user,item"]
    rng = np.random.default_rng(5)
    for u in range(60):
        for i in rng.choice(40, 12, replace=False):
            rows.append(f'u{u},"it\t{i}"')
    with open(f.p("tab.csv"), "w") as out:
        out.write("\n".join(rows) + "\n")
    run([BIN, "prepare", "--format", "csv", "--input", f.p("tab.csv"), "--header", "--user-col",
         "user", "--item-col", "item", "--out", f.p("tab.h5")], check=0)
    run([BIN, "train", "--set", f"data.dataset={f.p('tab.h5')}", "--set", "train.epochs=1",
         "--set", "model.dim=8", "--set", "train.threads=1", "--set",
         f"output.dir={f.p('tabrun')}"], check=0)
    run([BIN, "export", "--checkpoint", f.p("tabrun", "checkpoints"), "--out", f.p("tab_model.h5")],
        check=0)


ESC_FIELD = "1\x1b[2J\x1b[31m" + "x" * 300000
RUN_NEW = [r"run_(force|sig|lr|skip)/.*", r"run_crash/.*", r"run_fallback/.*"]

cases = [
    # --- destroys data --------------------------------------------------
    Case("prepare --out an existing folder", [BIN, "prepare", "--format", "lightgcn", "--train",
         "{W}/train.txt", "--out", "{W}/mine"], 2, r"--out '.*mine' is an existing folder"),
    Case("synth --out an existing folder", [BIN, "synth", "--out", "{W}/mine"], 2,
         r"existing folder|expected a \.tsv"),
    Case("synth --out an existing folder named .h5", [BIN, "synth", "--out", "{W}/mine.h5"], 2,
         "existing folder", setup=lambda f: os.makedirs(f.p("mine.h5"), exist_ok=True)),
    Case("export --out the run folder", [BIN, "export", "--checkpoint", "{W}/run/checkpoints",
         "--out", "{W}/run"], 2, "existing folder"),
    Case("train with data.parts = a user's folder", [BIN, "train", *C, "--set",
         "data.parts={W}/mine", "--set", "output.dir={W}/run_parts"], 2,
         r"data.parts '.*mine' is a folder .* not a HaloRec partition folder"),
    Case("prepare --out . (a user's folder)", [BIN, "prepare", "--format", "lightgcn", "--train",
         "{W}/train.txt", "--out", "."], 2, "existing folder", cwd="{W}/mine"),
    Case("partition --out . (a user's folder) --force", [BIN, "partition", "--dataset",
         "{W}/d.h5", "--parts", "2", "--out", ".", "--force"], 2, "not a HaloRec partition",
         cwd="{W}/mine"),
    Case("prepare --out = --train", [BIN, "prepare", "--format", "lightgcn", "--train",
         "{W}/train.txt", "--out", "{W}/train.txt"], 2, "also this command's input"),
    Case("prepare --out = --test (through a symlink)", [BIN, "prepare", "--format", "lightgcn",
         "--train", "{W}/train.txt", "--test", "{W}/train.txt", "--out", "{W}/link.txt"], 2,
         "also this command's input",
         setup=lambda f: os.path.lexists(f.p("link.txt")) or os.symlink(f.p("train.txt"),
                                                                          f.p("link.txt"))),
    Case("export --out = its own dataset", [BIN, "export", "--checkpoint", "{W}/run/checkpoints",
         "--out", "{W}/d.h5"], 2, "also this command's input"),
    Case("export --out onto a committed checkpoint file", [BIN, "export", "--checkpoint",
         "{W}/run/checkpoints", "--out",
         f"{W}/run/checkpoints/{fx.checkpoints[-1]}/rank-00000.h5"], 2,
         "inside the folder this command reads|inside the checkpoint folder"),
    Case("export --out a user's non-HaloRec file", [BIN, "export", "--checkpoint",
         "{W}/run/checkpoints", "--out", "{W}/mine/notes.txt"], 2,
         "not a HaloRec file of the kind"),
    Case("export --out a dataset (another kind)", [BIN, "export", "--checkpoint",
         "{W}/run/checkpoints", "--out", "{W}/tab_dummy.h5"], 2, "not a HaloRec file of the kind",
         setup=lambda f: f.copy("d.h5", "tab_dummy.h5") if not os.path.exists(
             f.p("tab_dummy.h5")) else None),
    Case("synth --out an existing log without --force", [BIN, "synth", "--out", "{W}/log.tsv"], 2,
         "give --force"),
    Case("partition --out an existing partition without --force", [BIN, "partition",
         "--dataset", "{W}/d.h5", "--parts", "1", "--out", "{W}/run/parts"], 2,
         "give --force"),
    Case("fresh train into a run with checkpoints", [BIN, "train", *C, "--set",
         "output.dir={W}/run"], 2, r"earlier run .*--resume latest.*--force"),
    Case("fresh train --force starts over (HaloRec's files only)", [BIN, "train", *C, "--set",
         "output.dir={W}/run_force", "--force"], 0, "removed 2 checkpoint",
         setup=lambda f: (f.copy("run", "run_force"),
                          open(f.p("run_force", "mine.txt"), "w").write("keep me\n")),
         new=RUN_NEW, changed=[r"run_force/.*"],
         check=lambda f, p: (assert_true(open(f.p("run_force", "mine.txt")).read() == "keep me\n",
                                         "user file in the run folder")),
         issue="train --force"),
    Case("train.lr 1e30: stops, keeps the good checkpoints", [BIN, "train", *C, "--set",
         "train.epochs=4", "--set", "train.lr=1e30", "--set", "output.dir={W}/run_lr",
         "--resume", "latest"], 3, r"diverged: .*NaN.*newest good checkpoint",
         setup=lambda f: f.copy("run", "run_lr"), new=RUN_NEW,
         changed=[r"run_lr/(steps\.csv|metrics\.jsonl|config\.yaml|parts/.*|\.halorec)"]),
    Case("train.lr 1e30 with on_nonfinite: skip", [BIN, "train", *C, "--set", "train.lr=1e30",
         "--set", "train.on_nonfinite=skip", "--set", "output.dir={W}/run_skip"], 3,
         r"skip.*|every step of epoch", new=RUN_NEW),
    # baseline (issue 15) and prepare --unseen-test: bad values exit 2 before
    # any work; an output that is not HaloRec's own model is left as it is.
    Case("baseline --out the dataset it reads", [BIN, "baseline", "--method", "popularity",
         "--dataset", "{W}/d.h5", "--out", "{W}/d.h5"], 2, "also this command's input"),
    Case("baseline --out a user's text file", [BIN, "baseline", "--method", "gfcf",
         "--dataset", "{W}/d.h5", "--out", "{W}/train.txt"], 2,
         "not a HaloRec file of the kind"),
    Case("baseline --out for itemknn (no vectors)", [BIN, "baseline", "--method", "itemknn",
         "--dataset", "{W}/d.h5", "--out", "{W}/knn.h5"], 2, "item x item matrix"),
    Case("baseline --method unknown", [BIN, "baseline", "--method", "svd", "--dataset",
         "{W}/d.h5"], 2, "--method"),
    Case("baseline --rank 0", [BIN, "baseline", "--method", "gfcf", "--dataset", "{W}/d.h5",
         "--rank", "0"], 2, "--rank must be"),
    Case("baseline ease above --max-memory", [BIN, "baseline", "--method", "ease", "--dataset",
         "{W}/d.h5", "--max-memory", "0.00001"], 2, r"GiB per rank .* > --max-memory"),
    Case("baseline --dataset a text file", [BIN, "baseline", "--method", "popularity",
         "--dataset", "{W}/train.txt"], 2, "train.txt"),
    # hybrids and tune (issue 35): bad values exit 2 naming the key or
    # option, before any work; a folder that is no tune's is left as it is.
    Case("model.filter unknown", [BIN, "train", *C, "--set", "model.filter=svd", "--set",
         "output.dir={W}/run_filter"], 2, r"model.filter"),
    Case("model.filter_mix auto without a carve", [BIN, "train", *C, "--set",
         "model.filter=gfcf", "--set", "output.dir={W}/run_mix"], 2,
         r"model.filter_mix: auto .*data.validation"),
    Case("model.filter_mix out of [0, 1]", [BIN, "train", *C, "--set", "model.filter=gfcf",
         "--set", "model.filter_mix=2", "--set", "output.dir={W}/run_mix2"], 2,
         r"model.filter_mix: '2' is not valid"),
    Case("tune --budget not a duration", [BIN, "tune", "--dataset", "{W}/d.h5", "--budget",
         "soon", "--out", "{W}/tune_a"], 2, r"--budget 'soon'"),
    Case("tune --validation out of range", [BIN, "tune", "--dataset", "{W}/d.h5",
         "--validation", "0.9", "--out", "{W}/tune_b"], 2, r"--validation must be"),
    Case("tune --out a folder that is no tune's, even with --force", [BIN, "tune", "--dataset",
         "{W}/d.h5", "--out", "{W}", "--force"], 2, r"no tune's folder"),
    Case("tune --ranks 0", [BIN, "tune", "--dataset", "{W}/d.h5", "--ranks", "0", "--out",
         "{W}/tune_r"], 2, r"--ranks"),
    # the first hour (issue 40): new options refuse bad values, nothing written.
    Case("prepare --weight-transform unknown", [BIN, "prepare", "--format", "tsv", "--input",
         "{W}/train.txt", "--weight-col", "2", "--weight-transform", "sqrt", "--out",
         "{W}/w.h5"], 2, r"--weight-transform"),
    Case("prepare --weight-transform without --weight-col", [BIN, "prepare", "--format", "tsv",
         "--input", "{W}/train.txt", "--weight-transform", "log1p", "--out", "{W}/w.h5"], 2,
         r"--weight-transform needs --weight-col"),
    Case("prepare --weight-col with --format lightgcn", [BIN, "prepare", "--format", "lightgcn",
         "--train", "{W}/train.txt", "--weight-col", "2", "--out", "{W}/w.h5"], 2,
         r"--weight-col need --format csv or tsv"),
    Case("prepare --weight-col naming the user column", [BIN, "prepare", "--format", "tsv",
         "--input", "{W}/train.txt", "--weight-col", "0", "--out", "{W}/w.h5"], 2,
         r"name the same column"),
    Case("prepare --max-skipped out of [0, 1]", [BIN, "prepare", "--format", "lightgcn",
         "--train", "{W}/train.txt", "--skip-bad-lines", "--max-skipped", "-0.1", "--out",
         "{W}/w.h5"], 2, r"--max-skipped must be a share"),
    Case("recommend --include-seen with --dataset", [BIN, "recommend", "--model",
         "{W}/model.h5", "--user", "0", "--include-seen", "--dataset", "{W}/d.h5"], 2,
         r"--include-seen"),
    Case("recommend --users-file of unknown users only", [BIN, "recommend", "--model",
         "{W}/model.h5", "--users-file", "{W}/ghosts.txt"], 2, r"2 of its 2 users are not in",
         setup=lambda f: open(f.p("ghosts.txt"), "w").write("ghost\nnobody\n")),
    Case("interests --threshold that is not auto or a cost", [BIN, "interests", "--model",
         "{W}/model.h5", "--dataset", "{W}/d.h5", "--all", "--threshold", "0"], 2,
         r"--threshold must be auto or a Ward merge cost > 0"),
    Case("export --interest-threshold text", [BIN, "export", "--checkpoint", "{W}/run/checkpoints",
         "--out", "{W}/never.h5", "--interests", "--interest-threshold", "high"], 2,
         r"--interest-threshold must be auto"),
    Case("evaluate --steer below 0", [BIN, "evaluate", "--model", "{W}/model.h5", "--dataset",
         "{W}/d.h5", "--strategy", "multi", "--steer", "-0.5"], 2, r"--steer must be in"),
    # Issue 36: the social weight's range, names files, the cold share.
    Case("partition --social-weight above 1", [BIN, "partition", "--dataset", "{W}/d.h5",
         "--parts", "2", "--social", "{W}/soc_ok.tsv", "--social-weight", "1.5", "--out",
         "{W}/p_sw"], 2, r"--social-weight must be in \[0, 1\], got 1.5",
         setup=write("soc_ok.tsv", "0\t1\n")),
    Case("data.social_weight negative", [BIN, "train", *C, "--set", "data.social_weight=-0.1",
         "--set", "output.dir={W}/run_sw"], 2, r"data.social_weight.*in \[0, 1\]"),
    Case("prepare --cold-items 1 (nothing left to train on)", [BIN, "prepare", "--format",
         "lightgcn", "--train", "{W}/train.txt", "--cold-items", "1", "--out", "{W}/cold.h5"], 2,
         r"--cold-items must be a share in \[0, 1\)"),
    Case("prepare --item-names: an id named twice", [BIN, "prepare", "--format", "lightgcn",
         "--train", "{W}/train.txt", "--item-names", "{W}/names_dup.tsv", "--out",
         "{W}/named.h5"], 2, r"names_dup\.tsv:2: item '1' is named again \(first on line 1\)",
         setup=write("names_dup.tsv", "1\tOne\n1\tUno\n")),
    Case("prepare --item-names-cols: one column", [BIN, "prepare", "--format", "lightgcn",
         "--train", "{W}/train.txt", "--item-names", "{W}/names_ok.tsv", "--item-names-cols",
         "1", "--out", "{W}/named.h5"], 2, r"--item-names-cols '1': expected two different",
         setup=write("names_ok.tsv", "1\tOne\n")),
    Case("recommend --friends on a model trained without social edges", [BIN, "recommend",
         "--model", "{W}/model.h5", "--history", "1", "--friends", "0"], 2,
         r"--friends: the model .* kept no social fold-in data"),
    Case("config: a prefix no key has", [BIN, "config", "nope."], 2, r"no config key starts"),
    Case("info: neither --dataset nor --model", [BIN, "info"], 2, r"--dataset DATASET or --model"),
    Case("info --model a dataset", [BIN, "info", "--model", "{W}/d.h5"], 2, r"d\.h5"),
    Case("completion for an unknown shell", [BIN, "completion", "fish"], 2, r"fish"),
    Case("prepare --unseen-test with a bad value", [BIN, "prepare", "--format", "lightgcn",
         "--train", "{W}/train.txt", "--split", "random:0.2", "--unseen-test", "maybe",
         "--out", "{W}/unseen.h5"], 2, "unseen-test"),
    Case("prepare: an unseen test item stops by default", [BIN, "prepare", "--format",
         "lightgcn", "--train", "{W}/train.txt", "--test", "{W}/test_unseen.txt", "--out",
         "{W}/unseen.h5"], 2, r"test_unseen.txt:1: item '999999' does not occur .*--unseen-test",
         setup=lambda f: open(f.p("test_unseen.txt"), "w").write("0 999999\n")),
    # minibatch propagation, eval.users, fennel (issue 16): bad values exit 2
    # naming the key before any work.
    Case("train.propagation unknown", [BIN, "train", *C, "--set", "train.propagation=sampled",
         "--set", "output.dir={W}/run_prop"], 2, r"train.propagation.*full or minibatch"),
    Case("train.fanouts: more entries than layers", [BIN, "train", *C, "--set",
         "train.propagation=minibatch", "--set", "model.layers=2", "--set",
         "train.fanouts=[10,5,2]", "--set", "output.dir={W}/run_fan"], 2,
         r"train.fanouts: 3 entries, but model.layers is 2"),
    Case("train.fanouts negative", [BIN, "train", *C, "--set", "train.fanouts=-1", "--set",
         "output.dir={W}/run_fan2"], 2, r"train.fanouts"),
    Case("eval.users negative", [BIN, "train", *C, "--set", "eval.users=-5", "--set",
         "output.dir={W}/run_evu"], 2, r"eval.users"),
    Case("baseline --eval-users negative", [BIN, "baseline", "--method", "popularity",
         "--dataset", "{W}/d.h5", "--eval-users", "-1"], 2, "eval-users"),
    Case("partition --method unknown", [BIN, "partition", "--dataset", "{W}/d.h5", "--parts",
         "2", "--method", "ldg", "--out", "{W}/p_ldg"], 2, r"--method"),
    Case("partition --social: a line with one user", [BIN, "partition", "--dataset",
         "{W}/d.h5", "--parts", "2", "--social", "{W}/soc_bad.tsv", "--out", "{W}/p_soc"], 2,
         r"soc_bad\.tsv:2: expected 'USER USER \[WEIGHT\]'",
         setup=write("soc_bad.tsv", "0 1\n2\n")),
    Case("partition --social: weight 0", [BIN, "partition", "--dataset", "{W}/d.h5", "--parts",
         "2", "--social", "{W}/soc_w.tsv", "--out", "{W}/p_soc"], 2,
         r"soc_w\.tsv:1: weight '0' is not a finite number > 0",
         setup=write("soc_w.tsv", "0\t1\t0\n")),
    Case("partition --social: ids of another id space", [BIN, "partition", "--dataset",
         "{W}/d.h5", "--parts", "2", "--social", "{W}/soc_ids.tsv", "--out", "{W}/p_soc"], 2,
         r"none of its 2 pairs joins two users of the dataset",
         setup=write("soc_ids.tsv", "alice bob\ncarol dave\n")),
    Case("export --social for a checkpoint trained without", [BIN, "export", "--checkpoint",
         "{W}/run/checkpoints", "--out", "{W}/m_soc.h5", "--social", "{W}/soc_any.tsv"], 2,
         r"trained without social edges", setup=write("soc_any.tsv", "u0 u1\n")),
    Case("eval.items unknown", [BIN, "train", *C, "--set", "eval.items=striped", "--set",
         "output.dir={W}/run_evi"], 2, r"eval.items.*auto, replicated or sharded"),
    Case("export --parts without mpirun", [BIN, "export", "--checkpoint", "{W}/run/checkpoints",
         "--out", "{W}/m_parts.h5", "--parts", "{W}/p_any"], 2, r"--parts.*mpirun"),
    Case("export --index unknown kind", [BIN, "export", "--checkpoint", "{W}/run/checkpoints",
         "--out", "{W}/m_ix1.h5", "--index", "annoy"], 2, r"--index"),
    Case("export --index-params unknown key", [BIN, "export", "--checkpoint",
         "{W}/run/checkpoints", "--out", "{W}/m_ix2.h5", "--index", "hnsw", "--index-params",
         "links=8"], 2, r"--index-params: unknown key 'links'"),
    Case("export --index-params without --index", [BIN, "export", "--checkpoint",
         "{W}/run/checkpoints", "--out", "{W}/m_ix3.h5", "--index-params", "m=8"], 2,
         r"--index-params needs --index"),
    Case("index --model missing", [BIN, "index", "--model", "{W}/no_model.h5", "--kind", "flat"],
         2, r"--model '.*no_model.h5' does not exist"),
    Case("index --model is a dataset", [BIN, "index", "--model", "{W}/d.h5", "--kind", "flat"],
         2, r"d.h5' is not a HaloRec model file"),
    Case("index --kind unknown", [BIN, "index", "--model", "{W}/d.h5", "--kind", "annoy"], 2,
         r"--kind"),
    Case("a model whose part file is gone", [BIN, "recommend", "--model", "{W}/m_noparts.h5",
         "--user", fx.user], 2, r"m_noparts.h5.parts/.*-rank-00000-of-00002.h5', which is missing",
         setup=lambda f: sharded_model_without_parts(f)),
    # --- crashes ----------------------------------------------------------
    Case("evaluate --strategy multi, user_offsets not monotone", [BIN, "evaluate", "--model",
         "{W}/m_offsets.h5", "--dataset", "{W}/d.h5", "--strategy", "multi"], 2,
         "user_offsets.*not increasing",
         setup=model_copy("m_offsets.h5", lambda h: h["interests/user_offsets"].__setitem__(
             5, h["interests/user_offsets"][-1] + 7))),
    Case("recommend --strategy multi, user_offsets out of range", [BIN, "recommend", "--model",
         "{W}/m_offsets2.h5", "--user", fx.user, "--strategy", "multi"], 2, "interests",
         setup=model_copy("m_offsets2.h5", lambda h: h["interests/user_offsets"].__setitem__(
             3, -40))),
    # --- wrong results --------------------------------------------------
    Case("BOM, no header: no phantom user", [BIN, "prepare", "--format", "csv", "--input",
         "{W}/bom.csv", "--split", "none", "--out", "{W}/bom.h5"], 0, None,
         setup=write("bom.csv", "\ufeffu1,i1\nu1,i2\nu2,i1\n"), new=[r"bom\.h5"],
         check=bom_check),
    Case("BOM with a header: --user-col user is a column", [BIN, "prepare", "--format", "csv",
         "--input", "{W}/bomh.csv", "--header", "--user-col", "user", "--item-col", "item",
         "--split", "none", "--out", "{W}/bomh.h5"], 0, None,
         setup=write("bomh.csv", "\ufeffuser,item\nu1,i1\nu2,i2\n"), new=[r"bomh\.h5"]),
    Case("evaluate --k 0", [BIN, "evaluate", "--model", "{W}/model.h5", "--dataset", "{W}/d.h5",
         "--k", "0"], 2, "--k must be in 1..10000"),
    Case("evaluate --k -1", [BIN, "evaluate", "--model", "{W}/model.h5", "--dataset",
         "{W}/d.h5", "--k", "-1"], 2, "--k must be"),
    Case("recommend --k 0", [BIN, "recommend", "--model", "{W}/model.h5", "--user", fx.user, "--k",
         "0"], 2, r"--k must be in 1\.\.100000"),
    Case("prepare --user-col 0 --item-col 0", [BIN, "prepare", "--format", "tsv", "--input",
         "{W}/log.tsv", "--header", "--user-col", "0", "--item-col", "0", "--out",
         "{W}/same.h5"], 2, "name the same column"),
    Case("prepare --user-col user --item-col 0 (same column by name and index)", [BIN, "prepare",
         "--format", "tsv", "--input", "{W}/log.tsv", "--header", "--user-col", "user",
         "--item-col", "0", "--out", "{W}/same.h5"], 2, "name the same column"),
    Case("model.h5 with NaN user vectors", [BIN, "recommend", "--model", "{W}/m_nan.h5",
         "--user", fx.user], 2, "NaN or infinite",
         setup=model_copy("m_nan.h5", lambda h: h["users/vector"].__setitem__(
             (4, 2), np.nan))),
    Case("model.h5 with Inf item vectors", [BIN, "evaluate", "--model", "{W}/m_inf.h5",
         "--dataset", "{W}/d.h5"], 2, "NaN or infinite",
         setup=model_copy("m_inf.h5", lambda h: h["items/vector"].__setitem__((0, 0), np.inf))),
    Case("model.h5 with integer-typed vectors", [BIN, "recommend", "--model", "{W}/m_int.h5",
         "--user", fx.user], 2, "stored as integers, expected floats",
         setup=model_copy("m_int.h5", lambda h: replace(
             h, "items/vector", np.zeros(h["items/vector"].shape, np.int32)))),
    Case("model.h5 with NaN interest weights", [BIN, "recommend", "--model", "{W}/m_w.h5",
         "--user", fx.user, "--strategy", "multi"], 2, "weight nan",
         setup=model_copy("m_w.h5", lambda h: h["interests/weight"].__setitem__(0, np.nan))),
    # --- security -------------------------------------------------------
    Case("pseudonymized rows carry no raw-id order", [BIN, "recommend", "--model",
         "{W}/pmodel.h5", "--user", fx.user, "--key", "{W}/key"], 0, None,
         check=pseudonym_order_check),
    Case("pseudonymized model + dataset needs the key", [BIN, "evaluate", "--model",
         "{W}/pmodel.h5", "--dataset", "{W}/d.h5"], 2, "give the export's --key"),
    Case("pseudonymized model + key: the plain model's metrics", [BIN, "evaluate", "--model",
         "{W}/pmodel.h5", "--dataset", "{W}/d.h5", "--key", "{W}/key", "--json"], 0, None,
         check=same_metrics_as_plain),
    Case("control bytes and a 300 kB field in a message", [BIN, "prepare", "--format", "csv",
         "--input", "{W}/esc.csv", "--rating-col", "2", "--out", "{W}/esc.h5"], 2,
         r"is not a number",
         setup=write("esc.csv", f"u1,i1,{ESC_FIELD}\n"),
         check=lambda f, p: assert_true(len(p.stderr) < 2000, f"{len(p.stderr)} bytes")),
    Case("a tab inside an id: TSV output stays 4 fields", [BIN, "recommend", "--model",
         "{W}/tab_model.h5", "--user", "u1", "--k", "10"], 0, None, setup=tab_pipeline,
         check=tsv_fields_check),
    Case("key file readable by others", [BIN, "recommend", "--model", "{W}/pmodel.h5", "--user",
         "7", "--key", "{W}/key644"], 2, "chmod 600",
         setup=lambda f: (f.copy("key", "key644"), os.chmod(f.p("key644"), 0o644))),
    Case("key file readable by others, --allow-readable-key", [BIN, "recommend", "--model",
         "{W}/pmodel.h5", "--user", fx.user, "--key", "{W}/key644", "--allow-readable-key"], 0),
    # --- hygiene ----------------------------------------------------------
    Case("--config a folder", [BIN, "train", "--config", "{W}/mine"], 2, "is a folder"),
    Case("--key a folder", [BIN, "recommend", "--model", "{W}/pmodel.h5", "--user", fx.user,
         "--key", "{W}/mine"], 2, "not a regular file"),
    Case("output.dir is a file", [BIN, "train", *C, "--set", "output.dir={W}/mine/notes.txt"],
         2, r"output.dir '.*notes.txt' exists and is not a folder"),
    Case("checkpoint.dir is a file (before any epoch)", [BIN, "train", *C, "--set",
         "output.dir={W}/run_ckfile", "--set", "checkpoint.dir={W}/mine/notes.txt"], 2,
         r"checkpoint.dir '.*notes.txt' exists and is not a folder"),
    Case("a crash inside a checkpoint: the next run removes the leftover", [BIN, "train", *C,
         "--set", "train.epochs=3", "--set", "output.dir={W}/run_crash", "--resume", "latest"], 0,
         "never committed", setup=crash_in_checkpoint, new=RUN_NEW,
         changed=[r"run_crash/.*"], check=uncommitted_removed),
    Case("--resume latest skips an unreadable newest checkpoint", [BIN, "train", *C, "--set",
         "train.epochs=3", "--set", "output.dir={W}/run_fallback", "--resume", "latest"], 0,
         r"skipping checkpoint .*trying the one before", setup=break_newest_checkpoint,
         new=RUN_NEW, changed=[r"run_fallback/.*"], check=resumed_from_older),
    Case("export skips an unreadable newest checkpoint", [BIN, "export", "--checkpoint",
         "{W}/run_fallback2/checkpoints", "--out", "{W}/fallback.h5"], 0, "skipping checkpoint",
         setup=lambda f: (f.copy("run", "run_fallback2"), open(f.p(
             "run_fallback2", "checkpoints", f.checkpoints[-1], "dense.h5"), "r+b").truncate(64)),
         new=[r"fallback\.h5"]),
]


def assert_true(cond, what):
    assert cond, what


def signal_cases():
    """SIGTERM while prepare holds its temporary, and SIGTERM during train."""
    rows = []
    before = snapshot(W)
    p = subprocess.Popen([BIN, "prepare", "--format", "lightgcn", "--train", fx.p("train.txt"),
                          "--out", fx.p("sig.h5")], stderr=subprocess.PIPE, text=True,
                         env={**ENV, "HALOREC_TEST_PAUSE_BEFORE_COMMIT": "30"})
    for line in p.stderr:
        if "test pause before committing" in line:
            break
    else:
        sys.exit("prepare never paused before its commit")
    temps = [n for n in os.listdir(W) if ".tmp-" in n]
    assert temps, "no temporary while paused"
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    assert p.returncode == -signal.SIGTERM, p.returncode
    left = [n for n in os.listdir(W) if ".tmp-" in n or n == "sig.h5"]
    assert not left, left
    assert snapshot(W) == before
    rows.append(f"ok   SIGTERM during prepare: killed by the signal, temporary {temps[0]} removed")

    proc = subprocess.Popen([BIN, "train", *C, "--set", "train.epochs=500", "--set",
                             "checkpoint.every=0", "--set", f"output.dir={fx.p('run_sig')}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=ENV)
    steps = fx.p("run_sig", "steps.csv")
    deadline = time.time() + 60
    while time.time() < deadline and not (os.path.exists(steps) and
                                          sum(1 for _ in open(steps)) > 20):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 75, (proc.returncode, err[-500:])
    assert "stopped by a signal" in err
    no_final_record(fx, None)
    rows.append("ok   SIGTERM during train: exit 75, checkpoint committed, no final record")
    print("\n".join(rows))


def mount_tmpfs(path, size, ro=False):
    os.makedirs(path, exist_ok=True)
    opts = f"size={size}" + (",ro" if ro else "")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", path], capture_output=True,
                       text=True)
    return p.returncode == 0, p.stderr.strip()


def storage_cases():
    full, ro = fx.p("full"), fx.p("ro")
    ok, why = mount_tmpfs(full, "256k")
    if not ok:
        print(f"SKIP disk-full and read-only cases: cannot mount a tmpfs here ({why})")
        return
    try:
        mount_tmpfs(ro, "64k", ro=True)
        nothing = [r"full/.*"]
        storage = [
            Case("disk full: synth", [BIN, "synth", "--users", "3000", "--items", "2000",
                 "--interactions", "60000", "--out", "{W}/full/s.h5"], 1,
                 r"^halorec synth: error: .*No space left on device[^\n]*\n\Z", new=nothing),
            Case("disk full: prepare", [BIN, "prepare", "--format", "lightgcn", "--train",
                 "{W}/train_big.txt", "--out", "{W}/full/p.h5"], 1, "No space left on device",
                 setup=big_train_file, new=nothing),
            Case("disk full: export", [BIN, "export", "--checkpoint", "{W}/run/checkpoints",
                 "--out", "{W}/full/m.h5", "--interests"], 1,
                 r"halorec export: error: .*No space left on device", setup=fill_disk,
                 new=nothing),
            Case("disk full: a checkpoint", [BIN, "train", *C, "--set", "model.dim=256",
                 "--set", "output.dir={W}/run_full", "--set", "checkpoint.dir={W}/full/ck"], 1,
                 "No space left on device", new=[r"run_full/.*", r"full/ck/\.halorec"]),
            Case("output.dir on a read-only mount", [BIN, "train", *C, "--set",
                 "output.dir={W}/ro/run"], 2, r"output.dir '.*ro/run': .*Read-only"),
        ]
        run_cases(fx, storage)
        left = [n for d, _, files in os.walk(full) for n in files if n != ".halorec"]
        assert left == ["filler"], f"left on the full disk: {left}"
    finally:
        for m in (full, ro):
            subprocess.run(["umount", m], capture_output=True)


def big_train_file(f):
    with open(f.p("train_big.txt"), "w") as out:
        for u in range(4000):
            out.write(f"{u} " + " ".join(str((u * 7 + k) % 3000) for k in range(20)) + "\n")


def fill_disk(f):
    path = f.p("full", "filler")
    if not os.path.exists(path):
        with open(path, "wb") as out:
            out.write(b"\0" * (236 * 1024))


try:
    run_cases(fx, cases, only=os.environ.get("HALOREC_ROBUST_ONLY"))
    if not os.environ.get("HALOREC_ROBUST_ONLY"):
        signal_cases()
        storage_cases()
finally:
    fx.close()
