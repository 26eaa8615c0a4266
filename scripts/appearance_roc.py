"""Does appearance earn its place in the tracker? ROC of appearance embeddings on PETS09-S2L1, and the tracker's scores.

Detections: vidtrack's detector (COCO YOLOv8n, person class, ``detector.appearance: neck``) on every frame of
``video/vtest.avi``, computed once and cached in ``<out>/detections.npz``. Those with score >= 0.25 get a ground-truth
identity (`vidtrack.evaluation.appearance.label_detections`; gt frame n is video frame n-1).

Embeddings, all unit vectors compared by the tracker's distance, the halved cosine distance (`appearance_cost`):
- ``neck``: the detector's pooled P3/P4/P5 features (``features[:, 0:448]``), as the tracker uses them;
  ``P3``, ``P4``, ``P5``: one pyramid level alone (0:64, 64:192, 192:448), L2-normalised again.
- ``neck-centred``: ``neck`` minus the mean vector of the first half's detections (no labels), normalised again:
  every person's vector shares one large component, which crowds all cosines towards 1.
- ``colour``: `vidtrack.detect.colour.colour_histograms` (``detector.appearance: colour``, the default): HSV histograms
  (8 hue x 4 saturation x 4 value bins) of the box's torso (rows 10-50 %) and legs (50-90 %), inner 60 % of the
  columns, square-rooted; the halved cosine is then (1 - mean Bhattacharyya coefficient of the two parts) / 2.
- ``colour+P3``: both concatenated with weights sqrt(w), sqrt(1 - w), so that the distance is w times P3's plus
  (1 - w) times the colour's; w in {0.1, 0.25, 0.5} chosen by AUC on the first half. (P3 is the neck's best level;
  the whole neck or ``neck-centred`` with colour scored lower than colour alone at every weight.)

Pairs (`identity_pairs`): the same person 1..``--max-gap-s`` seconds apart (``re-seen``: only the pairs where the
second detection is the person's next one after a gap of >= 2 frames, i.e. after a miss or an occlusion, when the
tracker needs appearance), and different people in the same frame or up to that far apart; ``near`` keeps the
different-person pairs whose box centres lie within one box height, the ones the tracker's gate lets compete.
Weights: each person counts the same among same-person pairs, each pair of people among the others. Thresholds are
chosen on the first half (frames < 398, both detections of a pair inside it) and applied to the second half.

Tracker: vidtrack's `Tracker` (configs/default.yaml) on each half separately, with an embedding written into the
appearance slice of the features, for every ``tracker.appearance_thresh`` of a grid and the ROC's threshold at a false
match rate of 1 %, scored by `evaluate_tracking` against the half's ground truth (``<out>/gt/<half>/``, frames
renumbered); the threshold with the best HOTA on the first half is marked, to be read on the second.

Writes ``<out>/roc.md`` (tables), ``<out>/distances.png``, ``<out>/roc.png`` and the tracker's result files.

Run (about 3 minutes on 2 CPU cores, the first time):
    .venv/bin/python scripts/appearance_roc.py
"""

from __future__ import annotations

import argparse
import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vidtrack.config import TrackerConfig, load_config
from vidtrack.detect.colour import colour_histograms
from vidtrack.detect.detector import Detector
from vidtrack.detect.features import APPEARANCE, LEVEL_CHANNELS
from vidtrack.evaluation.appearance import ROC, Pairs, balanced_weights, identity_pairs, label_detections, match_rate
from vidtrack.evaluation.appearance import roc as roc_curve
from vidtrack.evaluation.tracking import cut_sequence, evaluate_tracking
from vidtrack.io.motchallenge import MOTWriter, read_ground_truth, read_seqinfo
from vidtrack.io.sources import open_source
from vidtrack.structures import Detections
from vidtrack.track.tracker import Tracker

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "PETS09-S2L1"
SPLIT = 398  # first video frame of the second half
MIN_SCORE = 0.25  # detections that get an identity (the tracker's first pass)
TRACKER_GRID = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.16, 0.2)


def normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def detect(video: Path, cache: Path) -> dict[str, np.ndarray]:
    """vidtrack's detector (person class, neck appearance) on every frame, with the clothing-colour vectors of the same
    boxes, computed once and cached in `cache` (npz)."""
    if cache.is_file():
        return dict(np.load(cache))
    detector = Detector("yolov8n.pt", classes=["person"], device="cpu", appearance="neck")
    columns: dict[str, list] = {"frame": [], "xyxy": [], "score": [], "class_id": [], "features": [], "colour": []}
    with open_source(video) as source:
        for frame in tqdm(source, total=source.info.frame_count, desc="detecting", unit="frame"):
            [d] = detector([frame.image])
            for key, value in (("frame", np.full(len(d), frame.index)), ("xyxy", d.xyxy), ("score", d.score),
                               ("class_id", d.class_id), ("features", d.features),
                               ("colour", colour_histograms(frame.image, d.xyxy))):
                columns[key].append(value)
    dets = {k: np.concatenate(v) for k, v in columns.items()} | {"n_frames": np.array(frame.index + 1)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **dets)
    return dets


def embeddings(features: np.ndarray, colour: np.ndarray, first: np.ndarray) -> dict[str, np.ndarray]:
    """Every embedding named in the module docstring except the combination; `first` marks first-half rows."""
    neck = features[:, APPEARANCE]
    bounds = pairwise(np.cumsum((0, *LEVEL_CHANNELS)))
    levels = {f"P{3 + k}": normalise(neck[:, a:b]) for k, (a, b) in enumerate(bounds)}
    return {"neck": neck, **levels, "neck-centred": normalise(neck - neck[first].mean(axis=0)), "colour": colour}


def combine(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """Unit vectors whose halved cosine distance is `weight` times a's plus (1 - weight) times b's."""
    return np.concatenate([np.sqrt(weight) * a, np.sqrt(1 - weight) * b], axis=1)


def distance(vectors: np.ndarray, pairs: Pairs) -> np.ndarray:
    return np.clip((1 - (vectors[pairs.first] * vectors[pairs.second]).sum(axis=1)) / 2, 0, 1)


class Half:
    """The pairs of one half of the video, their weights and which of them are `re_seen` or `near`."""

    def __init__(self, pairs: Pairs, identity: np.ndarray, xyxy: np.ndarray, keep: np.ndarray) -> None:
        self.pairs = Pairs(*(getattr(pairs, k)[keep] for k in ("first", "second", "same", "gap", "next_seen")))
        p, same = self.pairs, self.pairs.same
        a, b = identity[p.first], identity[p.second]
        self.weight = np.where(same, balanced_weights(a, a), balanced_weights(np.minimum(a, b), np.maximum(a, b)))
        self.re_seen = p.next_seen[same] & (p.gap[same] >= 2)
        centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2
        height = xyxy[:, 3] - xyxy[:, 1]
        apart = np.linalg.norm(centre[p.first] - centre[p.second], axis=1)
        self.near = (apart <= (height[p.first] + height[p.second]) / 2)[~same]

    def roc(self, vectors: np.ndarray) -> tuple[ROC, np.ndarray, np.ndarray]:
        """The ROC, and the distances of same-person and different-person pairs."""
        d, same = distance(vectors, self.pairs), self.pairs.same
        return roc_curve(d[same], d[~same], self.weight[same], self.weight[~same]), d[same], d[~same]


def evaluate(vectors: np.ndarray, halves: dict[str, Half]) -> dict:
    """AUCs on each half, thresholds chosen on the first, the second half's match rates at them."""
    (first, *_), (second, same, different) = (halves[h].roc(vectors) for h in ("first", "second"))
    h = halves["second"]
    w_same, w_diff = h.weight[h.pairs.same], h.weight[~h.pairs.same]
    result = {"auc first": first.auc, "auc second": second.auc,
              "auc second re-seen": roc_curve(same[h.re_seen], different, w_same[h.re_seen], w_diff).auc,
              "auc second near": roc_curve(same, different[h.near], w_same, w_diff[h.near]).auc}
    for rule, t in (("fmr1%", first.at_fmr(0.01)), ("youden", first.youden())):
        result[rule] = {"threshold": t, "tmr": float(match_rate(same, t, w_same)),
                        "tmr re-seen": float(match_rate(same[h.re_seen], t, w_same[h.re_seen])),
                        "fmr": float(match_rate(different, t, w_diff)),
                        "fmr near": float(match_rate(different[h.near], t, w_diff[h.near]))}
    return result


def track(dets: dict, vectors: np.ndarray, thresh: float, part: tuple[int, int, Path], path: Path) -> dict:
    """Track video frames start..stop-1 of `part` (start, stop, ground-truth folder) with `vectors` as the appearance;
    TrackEval's scores against the part's ground truth."""
    start, stop, gt = part
    tracker = Tracker(load_config(overrides={"tracker.appearance_thresh": thresh}).tracker, fps=7.0,
                      image_size=(768, 576))
    features = dets["features"].copy()
    features[:, APPEARANCE] = 0.0
    features[:, :vectors.shape[1]] = vectors
    with MOTWriter(path) as writer:
        for frame in range(start, stop):
            rows = np.flatnonzero(dets["frame"] == frame)
            writer.write(frame - start + 1, tracker.update(Detections(dets["xyxy"][rows], dets["score"][rows],
                                                                      dets["class_id"][rows], features[rows])))
    return evaluate_tracking(gt, path).combined


def plot(vectors: dict[str, np.ndarray], halves: dict[str, Half], out: Path) -> None:
    """Distance histograms (second half) and ROC curves (first half dashed, second solid) of every embedding."""
    from matplotlib.figure import Figure  # not pyplot: no global backend

    columns = (len(vectors) + 1) // 2
    hist = Figure(figsize=(4 * columns, 6.4), layout="constrained")
    curves = Figure(figsize=(6, 5), layout="constrained")
    ax_roc = curves.subplots()
    for k, (name, v) in enumerate(vectors.items()):
        h = halves["second"]
        d = distance(v, h.pairs)
        same, w = h.pairs.same, h.weight
        ax = hist.add_subplot(2, columns, k + 1)
        bins = np.linspace(0, np.quantile(d, 0.99), 60)
        for label, mask in (("same", same), ("same, re-seen", np.flatnonzero(same)[h.re_seen]),
                            ("different", ~same), ("different, near", np.flatnonzero(~same)[h.near])):
            ax.hist(d[mask], bins=bins, weights=w[mask], density=True, histtype="step", label=label)
        ax.set(title=name, xlabel="halved cosine distance")
        for half, style in (("first", "--"), ("second", "-")):
            r, *_ = halves[half].roc(v)
            ax_roc.plot(r.fmr, r.tmr, style, color=f"C{k}", label=f"{name} ({half} half, AUC {r.auc:.3f})")
    hist.axes[0].legend(fontsize=7)
    ax_roc.set(xscale="log", xlim=(1e-3, 1), xlabel="false match rate", ylabel="true match rate")
    ax_roc.legend(fontsize=6, loc="lower right")
    hist.savefig(out / "distances.png", dpi=110)
    curves.savefig(out / "roc.png", dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="PETS09-S2L1 folder")
    parser.add_argument("--out", type=Path, default=Path("runs/appearance"))
    parser.add_argument("--max-gap-s", type=float, default=3.0, help="longest time between the two of a pair")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    dets = detect(args.data / "video" / "vtest.avi", args.out / "detections.npz")
    frame, xyxy = dets["frame"], dets["xyxy"]
    fps = read_seqinfo(args.data).fps
    identity = label_detections(frame + 1, xyxy, read_ground_truth(args.data / "gt" / "gt.txt"))
    identity[dets["score"] < MIN_SCORE] = -1
    pairs = identity_pairs(frame, identity, max_gap=round(args.max_gap_s * fps))
    first_frame = frame < SPLIT
    halves = {"first": Half(pairs, identity, xyxy, first_frame[pairs.second]),
              "second": Half(pairs, identity, xyxy, ~first_frame[pairs.first])}
    print(f"{(identity >= 0).sum()} of {len(frame)} detections labelled; pairs (same, different): "
          + ", ".join(f"{k} {h.pairs.same.sum()}, {(~h.pairs.same).sum()}" for k, h in halves.items()), file=sys.stderr)

    vectors = embeddings(dets["features"], dets["colour"], first_frame)
    first_auc = lambda w: halves["first"].roc(combine(vectors["P3"], vectors["colour"], w))[0].auc  # noqa: E731
    weight = max((0.1, 0.25, 0.5), key=first_auc)
    vectors["colour+P3"] = combine(vectors["P3"], vectors["colour"], weight)
    results = {name: evaluate(v, halves) for name, v in vectors.items()}
    plot(vectors, halves, args.out)

    lines = [f"Combination weight of P3, chosen on the first half: {weight}", "",
             "| embedding | AUC first | AUC second | AUC second re-seen | AUC second near | rule | threshold (first) "
             "| TMR second | TMR re-seen | FMR second | FMR near |", "|---|" + "---:|" * 4 + "---|" + "---:|" * 5]
    for name, r in results.items():
        for rule in ("fmr1%", "youden"):
            t = r[rule]
            lines.append(f"| {name} | {r['auc first']:.3f} | {r['auc second']:.3f} | {r['auc second re-seen']:.3f} | "
                         f"{r['auc second near']:.3f} | {rule} | {t['threshold']:.4f} | {t['tmr']:.3f} | "
                         f"{t['tmr re-seen']:.3f} | {t['fmr']:.4f} | {t['fmr near']:.4f} |")

    parts = {h: (start, stop, cut_sequence(args.data, args.out / "gt" / h, start + 1, stop))
             for h, (start, stop) in (("first", (0, SPLIT)), ("second", (SPLIT, int(dets["n_frames"]))))}
    metrics = ("HOTA", "AssA", "IDF1", "IDSW")
    default = TrackerConfig().appearance_thresh
    lines += ["", "Tracker, every threshold of the grid on both halves; only the first half chooses (the second half's "
              "other rows show how sensitive the choice is).", "",
              "| embedding | appearance_thresh | chosen by | " + " | ".join(f"{m} {h}" for h in parts for m in metrics)
              + " |", "|---|---:|---|" + "---:|" * 2 * len(metrics)]
    for name in ("neck", "P3", "colour", "colour+P3"):
        at_fmr = results[name]["fmr1%"]["threshold"]
        scores = {t: {h: track(dets, vectors[name], t, part, args.out / "tracks" / name / f"{t:g}" / f"{h}.txt")
                      for h, part in parts.items()} for t in sorted({*TRACKER_GRID, at_fmr})}
        best = max(scores, key=lambda t: scores[t]["first"]["HOTA"])
        for t, by_half in scores.items():
            why = ", ".join(w for w, u in (("off", 0.0), ("default", default), ("ROC FMR 1 %", at_fmr),
                                           ("first-half HOTA", best)) if t == u)
            cells = [f"{by_half[h][m]:.0f}" if m == "IDSW" else f"{by_half[h][m]:.1f}" for h in parts for m in metrics]
            lines.append(f"| {name} | {t:.4f} | {why} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    (args.out / "roc.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
