#!/usr/bin/python3
"""Draw a HaloRec training run: tools/plot.py RUN_DIR [--parts DIR] [--out DIR]

Reads RUN_DIR/metrics.jsonl, RUN_DIR/steps.csv and RUN_DIR/config.yaml (all
written by `halorec train`) and the partition's meta.h5, and writes:

  RUN_DIR/training.png   loss per step and per epoch, the evaluation metrics
                         per evaluated epoch, and seconds per epoch
  RUN_DIR/partition.png  per-rank owned nodes, local edges and halo rows

tools/plot.py --compare RUN_DIR[=LABEL] ... --out FILE.png [--metric recall@20]
  [--hline VALUE[=LABEL]] ...
draws the metric against wall time (training plus evaluations, summed from
metrics.jsonl) for several runs in one figure, with dashed reference levels.
A RUN_DIR may also be a kept copy of a run's metrics.jsonl (docs/runs/).

Needs Debian's python3-matplotlib and python3-h5py (scripts/install-deps.sh).
"""
import argparse
import csv
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def fail(msg):
    print(f"plot.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def metrics_path(run):
    # A run folder, or (for --compare) a kept copy of a run's metrics.jsonl.
    return run if os.path.isfile(run) else os.path.join(run, "metrics.jsonl")


def run_name(run):
    # The folder's name; for a kept copy, its file name less .metrics.jsonl.
    if not os.path.isfile(run):
        return os.path.basename(run.rstrip("/"))
    return os.path.basename(run).removesuffix(".jsonl").removesuffix(".metrics")


def read_metrics(run):
    path = metrics_path(run)
    if not os.path.exists(path):
        fail(f"{path} not found: is {run} a `halorec train` output.dir?")
    epochs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                fail(f"{path}:{n}: not JSON ({e})")
            if not row.get("final"):
                epochs.append(row)
    if not epochs:
        fail(f"{path} has no epoch records yet")
    return epochs


def read_final(run):
    """The run's last final record (None without one)."""
    final = None
    with open(metrics_path(run)) as f:
        for line in f:
            line = line.strip()
            if line:
                row = json.loads(line)
                if row.get("final"):
                    final = row
    return final


def read_steps(run):
    path = os.path.join(run, "steps.csv")
    if not os.path.exists(path):
        return [], []
    steps, loss = [], []
    with open(path) as f:
        for row in csv.DictReader(f):
            steps.append(int(row["step"]))
            loss.append(float(row["loss"]))
    return steps, loss


def parts_dir_from_config(run):
    """data.parts from the run's config.yaml (or output.dir/parts when empty)."""
    path = os.path.join(run, "config.yaml")
    if not os.path.exists(path):
        return None
    section, parts = None, ""
    with open(path) as f:
        for line in f:
            if line and not line[0].isspace():
                section = line.strip().rstrip(":")
            elif section == "data" and line.strip().startswith("parts:"):
                parts = line.split(":", 1)[1].strip().strip('"').strip("'")
    if not parts:
        return os.path.join(run, "parts")
    if os.path.isabs(parts) or os.path.exists(parts):
        return parts
    # Relative paths are relative to where training ran; try the run's parent.
    guess = os.path.join(os.path.dirname(os.path.abspath(run)), os.path.basename(parts))
    return guess if os.path.exists(guess) else parts


def plot_training(run, epochs, steps, step_loss, out):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    if steps:
        ax.plot(steps, step_loss, lw=0.6, alpha=0.45, label="per step")
    spe = epochs[0]["step"] / epochs[0]["epoch"] if epochs[0]["epoch"] else 1
    ax.plot([r["step"] for r in epochs], [r["loss"] for r in epochs], "o-", ms=3,
            label="epoch mean")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("loss")
    ax.legend()
    secax = ax.secondary_xaxis("top", functions=(lambda s: s / spe, lambda e: e * spe))
    secax.set_xlabel("epoch")

    ax = axes[1]
    evald = [r for r in epochs if any("@" in k for k in r)]
    names = sorted({k for r in evald for k in r if "@" in k and not k.startswith("hitrate")})
    for name in names:
        ax.plot([r["epoch"] for r in evald], [r.get(name) for r in evald], "o-", ms=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_title("evaluation (test split)")
    if names:
        ax.legend(fontsize=8, ncol=2)
    else:
        ax.text(0.5, 0.5, "no evaluation yet", ha="center", transform=ax.transAxes)

    ax = axes[2]
    ax.bar([r["epoch"] for r in epochs], [r["epoch_seconds"] for r in epochs], label="train")
    if evald:
        ax.bar([r["epoch"] for r in evald], [r.get("eval_seconds", 0) for r in evald],
               bottom=[r["epoch_seconds"] for r in evald], label="evaluation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("seconds")
    ax.set_title("seconds per epoch")
    ax.legend()
    for ax in axes[1:]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(os.path.abspath(run), fontsize=9)
    fig.tight_layout()
    path = os.path.join(out, "training.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_partition(parts, out):
    import h5py

    meta = os.path.join(parts, "meta.h5")
    if not os.path.exists(meta):
        return None
    with h5py.File(meta, "r") as f:
        stats = json.loads(f.attrs["stats"])
        method = f.attrs["method"]
        method = method.decode() if isinstance(method, bytes) else str(method)
    ranks = list(range(len(stats["nodes"])))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, key, title in zip(axes, ["nodes", "edges", "halo"],
                              ["owned nodes (users + items)", "local edges", "halo rows"]):
        ax.bar(ranks, stats[key])
        mean = sum(stats[key]) / max(1, len(ranks))
        ax.axhline(mean, color="k", lw=0.8, ls="--", label=f"mean {mean:,.0f}")
        ax.set_xlabel("rank")
        ax.set_title(title)
        ax.set_xticks(ranks)
        ax.legend()
    fig.suptitle(f"{os.path.abspath(parts)}: {method}, {len(ranks)} parts, node imbalance "
                 f"{stats['node_imbalance']:.3f}, edge imbalance {stats['edge_imbalance']:.3f}",
                 fontsize=9)
    fig.tight_layout()
    path = os.path.join(out, "partition.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_compare(runs, metric, out, hlines=()):
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for spec in hlines:
        value, _, label = spec.partition("=")
        try:
            y = float(value)
        except ValueError:
            fail(f"--hline {spec}: '{value}' is not a number (VALUE[=LABEL])")
        ax.axhline(y, color="gray", ls="--", lw=0.8)
        if label:
            ax.annotate(label, (0, y), xycoords=("axes fraction", "data"), xytext=(4, 2),
                        textcoords="offset points", fontsize=7, color="gray")
    for spec in runs:
        run, _, label = spec.partition("=")
        epochs = read_metrics(run)
        t, xs, ys = 0.0, [], []
        for r in epochs:
            t += r.get("epoch_seconds", 0) + r.get("eval_seconds", 0)
            if metric in r:
                xs.append(t / 60)
                ys.append(r[metric])
        if not xs:
            fail(f"{run}: no '{metric}' in its metrics.jsonl")
        final = read_final(run)
        if final and "filter_mix" in final and metric in final:
            # A hybrid (docs/hybrid.md): the epochs' points are the learned
            # part alone, the star the hybrid at the run's end.
            line, = ax.plot(xs, ys, "o-", ms=3, label=f"{label or run_name(run)}: learned part")
            ax.plot([xs[-1], final["seconds"] / 60], [ys[-1], final[metric]], ":",
                    color=line.get_color())
            ax.plot([final["seconds"] / 60], [final[metric]], "*", ms=11, color=line.get_color(),
                    label=f"{label or run_name(run)}: hybrid (mix {final['filter_mix']:.1f}, "
                          f"{final[metric]:.4f})")
            continue
        ax.plot(xs, ys, "o-", ms=3, label=f"{label or run_name(run)} "
                                            f"(last {ys[-1]:.4f})")
    ax.set_xlabel("wall time, minutes (training + evaluations)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main():
    if "--compare" in sys.argv[1:]:
        ap = argparse.ArgumentParser(description="a metric against wall time for several runs")
        ap.add_argument("--compare", nargs="+", required=True, metavar="RUN_DIR[=LABEL]",
                        help="run folders, or kept copies of their metrics.jsonl")
        ap.add_argument("--metric", default="recall@20")
        ap.add_argument("--hline", action="append", default=[], metavar="VALUE[=LABEL]",
                        help="a reference level (a published number), dashed")
        ap.add_argument("--out", required=True, help="the PNG file to write")
        a = ap.parse_args()
        print(plot_compare(a.compare, a.metric, a.out, a.hline))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", metavar="RUN_DIR", help="a `halorec train` output.dir")
    ap.add_argument("--parts", help="partition folder (default: data.parts from config.yaml)")
    ap.add_argument("--out", help="where the PNG files go (default: RUN_DIR)")
    a = ap.parse_args()
    if not os.path.isdir(a.run):
        fail(f"{a.run}: no such folder")
    out = a.out or a.run
    os.makedirs(out, exist_ok=True)
    epochs = read_metrics(a.run)
    steps, loss = read_steps(a.run)
    print(plot_training(a.run, epochs, steps, loss, out))
    parts = a.parts or parts_dir_from_config(a.run)
    written = plot_partition(parts, out) if parts else None
    if written:
        print(written)
    else:
        print(f"plot.py: no partition at '{parts}' (pass --parts DIR): partition.png not drawn",
              file=sys.stderr)


if __name__ == "__main__":
    main()
