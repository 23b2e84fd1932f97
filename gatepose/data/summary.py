"""What `gatepose data info` and `gatepose data import-mocap` report, as plain data.

:func:`archive_summary` summarises an archive (a JSON-ready dict: frames per action and subject,
split, bone lengths); :func:`mocap_import_summary` the clips of one mocap import (source rates,
units, rig mappings, heights, per-clip bone lengths). The CLI only prints them.
"""
from __future__ import annotations

import re

import numpy as np

from .archive import SPLITS, Dataset
from .skeleton import get_skeleton


def natural_key(s: str) -> list:
    """Sort key that orders digit runs by value: 'S2' before 'S11', '02_01' before '10_01'."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s))]


def frames_per_action_subject(ds: Dataset) -> dict:
    """{action: {subject: frames}}, actions sorted, subjects in natural order, zeros included."""
    subj_names, subj_idx = np.unique(ds.subject, return_inverse=True)
    act_names, act_idx = np.unique(ds.action, return_inverse=True)
    table = np.bincount(act_idx * len(subj_names) + subj_idx,
                        minlength=len(act_names) * len(subj_names)).reshape(len(act_names), len(subj_names))
    order = sorted(range(len(subj_names)), key=lambda i: natural_key(subj_names[i]))
    return {str(a): {str(subj_names[i]): int(table[ai, i]) for i in order} for ai, a in enumerate(act_names)}


def bone_length_stats(ds: Dataset) -> list[dict]:
    """Per bone of ``ds.poses_3d`` (which must be present): its name, the mean and std of its length
    (mm) over all frames, and the largest std within one sequence (~0 for mocap or synthetic data)."""
    skel = ds.skel
    seq = ds.sequence_ids()
    child, parent = np.array(skel.bones).T
    X = ds.poses_3d.astype(np.float64)
    length = np.linalg.norm(X[:, child] - X[:, parent], axis=-1)              # (N, nb)
    n_seq = int(seq[-1]) + 1
    count = np.bincount(seq, minlength=n_seq)[:, None]
    mean = np.stack([np.bincount(seq, length[:, k], n_seq) for k in range(skel.n_bones)], 1) / count
    dev = length - mean[seq]
    var = np.stack([np.bincount(seq, dev[:, k] ** 2, n_seq) for k in range(skel.n_bones)], 1) / count
    within = np.sqrt(var).max(axis=0)
    return [{"bone": name, "mean": float(length[:, k].mean()), "std": float(length[:, k].std()),
             "max_within_sequence_std": float(within[k])} for k, name in enumerate(skel.bone_names)]


def archive_summary(ds: Dataset, file) -> dict:
    """Everything `gatepose data info` reports about archive ``file`` holding ``ds``, JSON-ready.

    Keys: file, skeleton, joints, bones, frames, sequences, poses_2d, poses_3d, confidence,
    image_size {min, max}, split (None, or {train|test: {frames, subjects}}),
    frames_per_action_subject, and bone_lengths_mm (:func:`bone_length_stats`) when 3D is present,
    with perspective {median, p5, p95} (:func:`perspective_strength`) when the roots have depth.
    """
    skel = ds.skel
    out = {
        "file": str(file), "skeleton": ds.skeleton, "joints": skel.n_joints, "bones": skel.n_bones,
        "frames": len(ds), "sequences": int(ds.sequence_ids()[-1]) + 1,
        "poses_2d": True, "poses_3d": ds.poses_3d is not None, "confidence": ds.confidence is not None,
        "image_size": {"min": ds.image_size.min(0).tolist(), "max": ds.image_size.max(0).tolist()},
        "split": None, "frames_per_action_subject": frames_per_action_subject(ds),
    }
    if ds.split is not None:
        out["split"] = {sp: {"frames": int((ds.split == sp).sum()),
                             "subjects": sorted(np.unique(ds.subject[ds.split == sp]).tolist(), key=natural_key)}
                        for sp in SPLITS if sp != "test-seen" or (ds.split == sp).any()}
    if ds.poses_3d is not None:
        out["bone_lengths_mm"] = bone_length_stats(ds)
        k = perspective_strength(ds.poses_3d)
        if k is not None:
            out["perspective"] = {"median": float(np.median(k)), "p5": float(np.percentile(k, 5)),
                                  "p95": float(np.percentile(k, 95))}
    return out


def perspective_strength(X) -> np.ndarray | None:
    """X (N, J, 3) camera-frame poses, mm -> (N,) each pose's size over its camera's distance: the
    Frobenius norm of the root-relative pose over the root's depth, what ``train --perspective``
    takes (its median). None where a root is not in front of the camera (poses without depth)."""
    X = np.asarray(X, dtype=np.float64)
    depth = X[:, 0, 2]
    if not (depth > 0).all():
        return None
    size = np.sqrt(((X - X[:, :1]) ** 2).sum(axis=(1, 2)))
    return size / depth


def clip_bone_lengths(clips) -> tuple[np.ndarray, np.ndarray]:
    """(mean (n_clips, nb), std within each clip (n_clips, nb)) of the h36m17 bone lengths, mm,
    of mocap clips (anything with ``world`` poses (T, 17, 3) in mm)."""
    bones = np.array(get_skeleton("h36m17").bones)
    means, stds = [], []
    for c in clips:
        L = np.linalg.norm(c.world[:, bones[:, 0]] - c.world[:, bones[:, 1]], axis=-1)
        means.append(L.mean(0))
        stds.append(L.std(0))
    return np.array(means), np.array(stds)


def mocap_import_summary(clips, ds: Dataset) -> dict:
    """What one mocap import made of its clips (:class:`gatepose.data.mocap.importer.Clip`) and the
    archive ``ds`` built from them.

    Keys: clips, kinds {bvh, amc: count}, frames (rows of ``ds``), joints, cameras (per clip),
    rates [(source fps rounded to 0.01, frame step)], units {unit: clips}, rigs [(mapping items,
    [clip names])], split {train, test: rows; test_subjects}, subjects [{subject, clips, frames
    (kept, before filming), height_m (min, max), split}], and bones [{bone, mean, min_clip,
    max_clip, max_within_clip_std}] over the per-clip mean bone lengths (mm), and implausible
    {checked (frames of clips with joint limits), frames (kept frames past a limit), clips,
    dropped, dropped_clips, worst (degrees), worst_clip}.
    """
    n_test, n_seen = int((ds.split == "test").sum()), int((ds.split == "test-seen").sum())
    test_subj = sorted(np.unique(ds.subject[ds.split == "test"]).tolist(), key=natural_key)
    rigs = {}
    for c in clips:
        rigs.setdefault(tuple(c.rig.items()), []).append(c.name)
    subjects = []
    for s in sorted({c.subject for c in clips}, key=natural_key):
        cs = [c for c in clips if c.subject == s]
        h = [c.height_mm / 1000 for c in cs]
        subjects.append({"subject": s, "clips": len(cs), "frames": sum(len(c.world) for c in cs),
                         "height_m": (min(h), max(h)), "split": "test" if s in test_subj else "train"})
    means, stds = clip_bone_lengths(clips)
    bones = [{"bone": n, "mean": float(means[:, k].mean()), "min_clip": float(means[:, k].min()),
              "max_clip": float(means[:, k].max()), "max_within_clip_std": float(stds[:, k].max())}
             for k, n in enumerate(get_skeleton("h36m17").bone_names)]
    return {
        "clips": len(clips), "kinds": {k: sum(c.kind == k for c in clips) for k in ("bvh", "amc")},
        "frames": len(ds), "joints": ds.poses_3d.shape[1], "cameras": len(np.unique(ds.camera)),
        "rates": sorted({(round(c.source_fps, 2), c.step) for c in clips}),
        "units": {u: sum(c.units == u for c in clips) for u in sorted({c.units for c in clips})},
        "rigs": list(rigs.items()),
        "split": {"train": len(ds) - n_test - n_seen, "test": n_test, "test_subjects": test_subj,
                  "test-seen": n_seen, "test_seen_clips": len(np.unique(ds.clip[ds.split == "test-seen"]))},
        "subjects": subjects, "bones": bones, "implausible": _implausible(clips),
    }


def _implausible(clips) -> dict:
    checked = [c for c in clips if c.limit_excess is not None]
    worst = max(checked, key=lambda c: c.worst_excess, default=None)
    return {"checked": sum(len(c.world) + c.dropped for c in checked), "frames": sum(c.implausible for c in clips),
            "clips": sum(c.implausible > 0 for c in clips), "dropped": sum(c.dropped for c in clips),
            "dropped_clips": sum(c.dropped > 0 for c in clips),
            "worst": worst.worst_excess if worst is not None else 0.0,
            "worst_clip": worst.name if worst is not None else None}


def unmatched_subjects(clips, names) -> list[str]:
    """The subject ``names`` (as given to --test-subjects) that no clip has, sorted; a leading
    zero in a clip's subject may be left out ('2' matches '02')."""
    have = {s for c in clips for s in (c.subject, c.subject.lstrip("0"))}
    return sorted(set(names) - have)
