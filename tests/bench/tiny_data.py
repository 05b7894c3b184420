"""Shared by the bench script tests: a tiny LightGCN-format data set."""
import os


def write_tiny_lightgcn(d):
    """train.txt and test.txt in `d`: 200 users, 120 items, every user with 8
    train and 2 test items."""
    with open(os.path.join(d, "train.txt"), "w") as tr, open(os.path.join(d, "test.txt"), "w") as te:
        for u in range(200):
            items = [(u * 7 + k * 13) % 120 for k in range(10)]
            tr.write(f"{u} " + " ".join(map(str, items[:8])) + "\n")
            te.write(f"{u} " + " ".join(map(str, items[8:])) + "\n")
