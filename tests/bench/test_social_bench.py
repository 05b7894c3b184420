"""bench/social.py end to end on tiny data: three graphs (none, homophilous
social edges, a random control), their halo rows and accuracy; rows whose
numbers hang together (the graph without social edges has ratios 1, the
others more user-user edges and halo rows)."""
import tempfile

from tiny_data import run_bench, table_rows

with tempfile.TemporaryDirectory() as d:
    rows = table_rows(run_bench("social.py", [
        "--users", 600, "--items", 300, "--interactions", 6000, "--communities", 4,
        "--epochs", 2, "--halo-parts", 2, "--set", "train.threads=1"], d))
    assert [r[0] for r in rows] == ["no social edges", "social, homophily 0.8",
                                    "social, random (control)"], rows
    assert rows[0][1] == "0" and rows[0][7] == "1.000" and rows[0][8] == "1.00", rows[0]
    for r in rows:
        assert int(r[2]) > 0 and float(r[4]) > 0 and 0 < float(r[5]) <= 1 and 0 < float(r[6]) <= 1, r
    for r in rows[1:]:
        # 600 users naming 5 friends: about 3,000 pairs, less repeats.
        assert 2500 < int(r[1]) <= 3000 and float(r[8]) > 1.0, r
    # Homophilous friends carry interests, random ones do not.
    assert float(rows[1][5]) > float(rows[2][5]), rows
print("ok")
