"""End-to-end tests of the halorec command line: usage, exit codes, reports,
bad input, and reading dataset.h5 from Python h5py."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from clitest import run, run_json  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402


class Usage(unittest.TestCase):
    def test_help_lists_subcommands(self):
        p = run("--help", check_rc=0)
        for sub in ("synth", "prepare", "info"):
            self.assertIn(sub, p.stdout)

    def test_subcommand_help_lists_options_with_defaults(self):
        p = run("prepare", "--help", check_rc=0)
        for opt in ("--format", "--train,--input", "--test", "--out", "--header", "--sep",
                    "--user-col TEXT=0", "--item-col TEXT=1", "--rating-col", "--time-col",
                    "--behavior-col", "--min-rating", "--behavior-weights", "--kcore INT=0",
                    "--split", "--seed UINT=2020", "--skip-bad-lines", "--json"):
            self.assertIn(opt, p.stdout)
        p = run("synth", "--help", check_rc=0)
        self.assertIn("--communities INT=8", p.stdout)

    def test_version(self):
        p = run("--version", check_rc=0)
        self.assertRegex(p.stdout.strip(), r"^halorec \d+\.\d+\.\d+$")

    def test_unknown_option_is_named_and_exits_2(self):
        p = run("prepare", "--format", "csv", "--input", "x", "--out", "y", "--frobnicate", "3")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--frobnicate", p.stderr)
        p = run("prepare", "--frobnicate")  # also when required options are missing
        self.assertEqual(p.returncode, 2)
        self.assertIn("--frobnicate", p.stderr)

    def test_unknown_subcommand_and_no_arguments_exit_2(self):
        p = run("trian")
        self.assertEqual(p.returncode, 2)
        self.assertIn("trian", p.stderr)
        self.assertEqual(run().returncode, 2)

    def test_bad_option_value_exits_2(self):
        p = run("prepare", "--format", "parquet", "--input", "x", "--out", "y")
        self.assertEqual(p.returncode, 2)
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "log.csv")
            with open(log, "w") as f:
                f.write("a,b\n")
            p = run("prepare", "--format", "csv", "--input", log, "--out",
                    os.path.join(d, "o.h5"), "--split", "random:2")
            self.assertEqual(p.returncode, 2)
            self.assertIn("--split 'random:2'", p.stderr)


class Prepare(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.d, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_csv_json_report_and_h5py_interop(self):
        log = self.write("log.csv",
                         "when,who,what,kind\n"
                         "2021-01-01T10:00:00Z,ann,sku-1,view\n"
                         "2021-01-02T10:00:00Z,ann,sku-2,buy\n"
                         "2021-01-03T10:00:00Z,ann,sku-1,buy\n"
                         "2021-01-04T10:00:00Z,ben,sku-2,view\n"
                         "2021-01-05T10:00:00Z,ben,sku-3,cart\n"
                         "2021-01-06T10:00:00Z,ben,sku-1,like\n")
        out = os.path.join(self.d, "dataset.h5")
        r = run_json("prepare", "--format", "csv", "--input", log, "--header", "--user-col",
                     "who", "--item-col", "what", "--time-col", "when", "--behavior-col", "kind",
                     "--behavior-weights", "view=1,cart=2,buy=4", "--split", "temporal:1",
                     "--out", out)
        self.assertEqual((r["users"], r["items"], r["train"], r["test"]), (2, 3, 2, 2))
        self.assertEqual(r["records_read"], 6)
        self.assertEqual(r["dropped"]["duplicate"], 1)
        self.assertEqual(r["dropped"]["unweighted_behavior"], 1)
        self.assertEqual(r["records_kept"] + r["dropped_total"], r["records_read"])

        with h5py.File(out, "r") as f:
            self.assertEqual(f.attrs["format"], "halorec.dataset")
            self.assertEqual(int(f.attrs["format_version"]), 1)
            self.assertEqual(int(f.attrs["num_train"]), 2)
            self.assertEqual(f.attrs["fingerprint"], r["fingerprint"])
            users = [s.decode() for s in f["users/original_id"][:]]
            items = [s.decode() for s in f["items/original_id"][:]]
            self.assertEqual(users, ["ann", "ben"])
            self.assertEqual(items, ["sku-1", "sku-2", "sku-3"])
            tu, ti, tw = f["train/user"][:], f["train/item"][:], f["train/weight"][:]
            # ann: sku-1 view+buy merged (weight 5, latest 01-03) is her last -> test;
            # sku-2 buy stays in train. ben: sku-3 cart is his last -> test.
            train = {(users[u], items[i]): w for u, i, w in zip(tu, ti, tw)}
            self.assertEqual(train, {("ann", "sku-2"): 4.0, ("ben", "sku-2"): 1.0})
            test = {(users[u], items[i]): w for u, i, w in
                    zip(f["test/user"][:], f["test/item"][:], f["test/weight"][:])}
            self.assertEqual(test, {("ann", "sku-1"): 5.0, ("ben", "sku-3"): 2.0})
            indptr = f["train/indptr"][:]
            self.assertTrue(np.array_equal(indptr, [0, 1, 2]))
            report = json.loads(f.attrs["prepare_report"])
            self.assertEqual(report["train"], 2)

    def test_malformed_line_names_file_and_line_and_writes_nothing(self):
        train = self.write("train.txt", "0 1 2\n1 2 3\n2 oops\n")
        out = os.path.join(self.d, "d.h5")
        p = run("prepare", "--format", "lightgcn", "--train", train, "--out", out)
        self.assertEqual(p.returncode, 2)
        self.assertIn("train.txt:3", p.stderr)
        self.assertIn("'oops'", p.stderr)
        self.assertEqual(os.listdir(self.d), ["train.txt"])
        r = run_json("prepare", "--format", "lightgcn", "--train", train, "--out", out,
                     "--skip-bad-lines", "--split", "none")
        self.assertEqual(r["dropped"]["malformed"], 1)
        self.assertEqual(r["train"], 4)

    def test_failed_run_keeps_existing_output(self):
        good = self.write("good.txt", "0 1 2\n1 2\n")
        out = os.path.join(self.d, "d.h5")
        first = run_json("prepare", "--format", "lightgcn", "--train", good, "--out", out)
        test = self.write("test.txt", "5 1\n")
        p = run("prepare", "--format", "lightgcn", "--train", good, "--test", test, "--out", out)
        self.assertEqual(p.returncode, 2)
        self.assertIn("test.txt:1: user '5' does not occur in the train data", p.stderr)
        with h5py.File(out, "r") as f:
            self.assertEqual(f.attrs["fingerprint"], first["fingerprint"])
        self.assertEqual(sorted(os.listdir(self.d)), ["d.h5", "good.txt", "test.txt"])

    def test_missing_column_empty_file_and_unwritable_output(self):
        log = self.write("log.csv", "user,item\na,b\nc\n")
        p = run("prepare", "--format", "csv", "--input", log, "--header", "--out",
                os.path.join(self.d, "d.h5"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("log.csv:3: expected at least 2 fields", p.stderr)
        empty = self.write("empty.csv", "")
        p = run("prepare", "--format", "csv", "--input", empty, "--out",
                os.path.join(self.d, "d.h5"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("empty.csv", p.stderr)
        good = self.write("good.csv", "a,b\n")
        p = run("prepare", "--format", "csv", "--input", good, "--out",
                os.path.join(self.d, "missing-folder", "d.h5"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("missing-folder", p.stderr)
        p = run("prepare", "--format", "csv", "--input", os.path.join(self.d, "nope.csv"),
                "--out", os.path.join(self.d, "d.h5"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("nope.csv", p.stderr)

    def test_reads_standard_input(self):
        out = os.path.join(self.d, "d.h5")
        p = run("prepare", "--format", "tsv", "--input", "-", "--out", out, "--split", "none",
                "--json", stdin="u1\ti1\nu2\ti1\n", check_rc=0)
        self.assertEqual(json.loads(p.stdout)["train"], 2)

    def test_synth_prepare_info_pipeline(self):
        log = os.path.join(self.d, "synth.tsv")
        s = run_json("synth", "--users", 300, "--items", 200, "--interactions", 5000,
                     "--communities", 4, "--seed", 3, "--out", log)
        self.assertEqual(s["interactions"], 5000)
        with open(log) as f:
            self.assertEqual(sum(1 for _ in f), 5001)
        with open(os.path.join(self.d, "synth.communities.tsv")) as f:
            self.assertEqual(sum(1 for _ in f), 1 + 300 + 200)
        out = os.path.join(self.d, "d.h5")
        r = run_json("prepare", "--format", "tsv", "--input", log, "--header", "--user-col",
                     "user", "--item-col", "item", "--time-col", "time", "--kcore", 3,
                     "--out", out)
        self.assertEqual(r["records_read"], 5000)
        info = run_json("info", "--dataset", out)
        self.assertEqual(info["train"], r["train"])
        self.assertEqual(info["fingerprint"], r["fingerprint"])
        self.assertGreaterEqual(info["item_train_degree"]["min"], 1)
        # Same seed, same bytes of log.
        log2 = os.path.join(self.d, "synth2.tsv")
        run_json("synth", "--users", 300, "--items", 200, "--interactions", 5000,
                 "--communities", 4, "--seed", 3, "--out", log2)
        with open(log, "rb") as a, open(log2, "rb") as b:
            self.assertEqual(a.read(), b.read())

    def test_info_on_a_non_dataset_exits_2(self):
        junk = self.write("junk.h5", "nope")
        p = run("info", "--dataset", junk)
        self.assertEqual(p.returncode, 2)
        self.assertIn("junk.h5", p.stderr)


class Partition(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.ds = os.path.join(self.d, "d.h5")
        run_json("synth", "--users", 200, "--items", 100, "--interactions", 3000, "--out",
                 self.ds)

    def tearDown(self):
        self.tmp.cleanup()

    def test_partition_reports_statistics(self):
        out = os.path.join(self.d, "parts")
        r = run_json("partition", "--dataset", self.ds, "--parts", 3, "--out", out + "/")
        self.assertEqual(r["parts"], 3)
        self.assertEqual(r["method"], "metis")
        for key in ("nodes", "edges", "halo"):
            self.assertEqual(len(r[key]), 3)
        self.assertEqual(sum(r["nodes"]), 300)
        self.assertEqual(r["halo_volume_total"], sum(r["halo"]))
        self.assertEqual(r["exchange_bytes_dim64"], r["halo_volume_total"] * 256)
        # .halorec marks the folder as HaloRec's own partition (docs/formats.md).
        self.assertEqual(sorted(os.listdir(out)), [".halorec", "meta.h5", "rank-00000.h5",
                                                   "rank-00001.h5", "rank-00002.h5"])
        with h5py.File(os.path.join(out, "meta.h5"), "r") as f:
            self.assertEqual(f.attrs["format"], "halorec.partition")
            self.assertEqual(json.loads(f.attrs["stats"])["edge_cut"], r["edge_cut"])
            owner = f["owner"][:]
        with h5py.File(os.path.join(out, "rank-00001.h5"), "r") as f:
            owned = f["owned/global_id"][:]
            self.assertTrue((owner[owned] == 1).all())
            self.assertTrue((owner[f["halo/global_id"][:]] != 1).all())

    def test_bad_requests_exit_2(self):
        out = os.path.join(self.d, "parts")
        for args, needle in ((("--parts", 0), "--parts must be >= 1"),
                             (("--parts", 301), "larger than the graph's 300 nodes"),
                             (("--parts", 2, "--method", "spectral"), "spectral")):
            p = run("partition", "--dataset", self.ds, "--out", out, *args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(needle, p.stderr)
        self.assertFalse(os.path.exists(out))
        p = run("partition", "--dataset", os.path.join(self.d, "none.h5"), "--parts", 2,
                "--out", out)
        self.assertEqual(p.returncode, 2)
        self.assertIn("none.h5", p.stderr)
        run_json("partition", "--dataset", self.ds, "--parts", 2, "--out", out)
        p = run("partition", "--dataset", self.ds, "--parts", 2, "--out", out)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--force", p.stderr)
        r = run_json("partition", "--dataset", self.ds, "--parts", 4, "--out", out, "--force")
        self.assertEqual(len(os.listdir(out)), 6)
        self.assertEqual(r["parts"], 4)


if __name__ == "__main__":
    unittest.main(verbosity=2)
