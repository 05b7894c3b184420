"""bench/warm_start.py end to end on tiny data: a log split in time, the
append, a full retrain and a warm start; two rows whose numbers hang
together (the retrain's ratios are 1, the warm start ran fewer epochs)."""
import tempfile

from tiny_data import run_bench, table_rows

with tempfile.TemporaryDirectory() as d:
    rows = table_rows(run_bench("warm_start.py", [
        "--users", 1500, "--items", 800, "--interactions", 30000, "--epochs", 6,
        "--warm-epochs", 2, "--set", "train.lr=0.01", "--set", "train.threads=1"], d))
    assert [r[0] for r in rows] == ["full retrain", "warm start (--init-from)"], rows
    assert rows[0][1] == "6" and rows[1][1] == "2", rows
    assert rows[0][5] == "1.00" and rows[0][6] == "1.000", rows
    for r in rows:
        assert float(r[2]) > 0 and 0 < float(r[3]) <= 1 and 0 < float(r[4]) <= 1, r
    # Warm-started on planted communities, 2 epochs get most of 6 from scratch.
    assert float(rows[1][6]) > 0.9, rows[1]
print("ok")
