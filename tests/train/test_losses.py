"""The losses over shared negatives beat BPR at equal epochs on planted
communities: MF, 5 epochs of each train interaction once (edge sampler), one
rank; BPR at its best of lr 0.005/0.01/0.02 on this data (0.01; measured
0.357/0.405/0.368 on the quickstart set), ccl and softmax at settings fixed
here (cosine scores, 256 shared negatives). Measured on this set: BPR 0.421,
ccl 0.471, softmax 0.463 recall@20."""
import json
import os
import tempfile

from traintest import BIN, run


with tempfile.TemporaryDirectory() as d:
    ds = os.path.join(d, "d.h5")
    run(BIN, "synth", "--users", "2000", "--items", "1000", "--interactions", "50000",
        "--communities", "8", "--seed", "21", "--out", ds)
    recall = {}
    for loss, sets in (("bpr", ["train.lr=0.01"]),
                       ("ccl", ["train.lr=0.02", "model.score=cosine", "train.margin=0.2",
                                "train.negative_weight=5", "train.negatives=256"]),
                       ("softmax", ["train.lr=0.01", "model.score=cosine",
                                    "train.temperature=0.3", "train.negatives=256"]),
                       ("softmax-in-batch", ["train.lr=0.01", "model.score=cosine",
                                             "train.temperature=0.3", "train.negatives=256",
                                             "train.in_batch_negatives=true"])):
        out = os.path.join(d, loss)
        args = [BIN, "train", "--set", f"data.dataset={ds}", "--set", f"output.dir={out}",
                "--set", "model.type=mf", "--set", "train.sampler=edge", "--set",
                "train.epochs=5", "--set", "eval.every=5", "--set", "train.threads=1",
                "--set", f"train.loss={loss.split('-')[0]}"]
        for s in sets:
            args += ["--set", s]
        run(*args)
        with open(os.path.join(out, "metrics.jsonl")) as f:
            recall[loss] = [json.loads(line) for line in f][-1]["recall@20"]
    print({k: round(v, 4) for k, v in recall.items()})
    assert recall["ccl"] >= recall["bpr"] + 0.02, recall
    assert recall["softmax"] >= recall["bpr"] + 0.02, recall
    assert recall["softmax-in-batch"] >= recall["bpr"] + 0.02, recall
print("ok")
