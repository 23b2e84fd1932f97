"""A training run's lifecycle in its folder: the one writer, the loop around the Trainer's
iterations (``train.py``), logging, validation, ``best.npz``, checkpoints, resume, signals, and
what a failure leaves.

One writer per run folder: :func:`hold_run_folder` takes an exclusive lock on the folder itself
(``flock``; nothing is written for it, and the kernel drops it when the process ends, however it
ends), so a second ``train`` or ``train --resume`` on the same folder is refused at once, naming the
process that holds it. Every file is written atomically (``files.atomic_open``) but
``metrics.jsonl``, appended a line at a time (a resume drops a half-written last line and the lines
after the checkpoint, :func:`truncate_metrics`). A write that fails (a full disk) stops the run with
one error naming the file, the step of the checkpoint that survived, and how to resume. Ctrl-C (or
SIGTERM, SIGHUP) finishes the step in flight and saves a checkpoint; a NaN or inf loss stops the
run and keeps the last good checkpoint.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .backend import host_scalars
from .data.normalize import root_relative
from .data.prepare import prepare_data
from .errors import GateposeError, TrainingDiverged
from .files import BEST, CHECKPOINT, CONFIG, METRICS, atomic_open
from .metrics import mpjpe, n_mpjpe
from .options import TrainOptions, learning_rate, total_steps
from .progress import Progress
from .nn import split_prefix, with_prefix
from .runs import load_checkpoint, predict_poses, read_config, refine_threshold, save_checkpoint, write_json_atomic
from .train import Trainer


# -- the run folder: one writer ---------------------------------------------------------------------
def hold_run_folder(run_dir: Path):
    """Lock ``run_dir`` for this process's writes; returns the lock (close it with
    :func:`release_run_folder`). Another holder: a GateposeError naming its process. Where the
    system has no ``flock`` (Windows), nothing is locked."""
    try:
        import fcntl
    except ImportError:
        return None
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise GateposeError(f"{run_dir}: in use by {_lock_holder(run_dir)}, which writes this run folder; "
                            "one writer per run: wait for it to end, or stop it") from None
    return fd


def release_run_folder(lock) -> None:
    if lock is not None:
        os.close(lock)


def _lock_holder(run_dir: Path) -> str:
    """'process PID (its command line)' from /proc/locks (Linux), else 'another process'."""
    try:
        inode = os.stat(run_dir).st_ino
        with open("/proc/locks") as f:
            for line in f:
                fields = line.split()
                if "FLOCK" in fields and len(fields) > 5 and fields[5].rsplit(":", 1)[-1] == str(inode):
                    pid = fields[4]
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as c:
                            cmd = c.read().replace(b"\0", b" ").decode(errors="replace").strip()
                    except OSError:
                        cmd = ""
                    return f"process {pid}" + (f" ({cmd[:120]})" if cmd else "")
    except OSError:
        pass
    return "another process"


# -- creating and resuming the folder --------------------------------------------------------------
def check_run_dir(run_dir: Path, resume: bool) -> None:
    """A new run needs a new or empty folder (nothing is ever overwritten); a resumed one needs
    config.json and checkpoint.npz. Checked before any data is loaded."""
    if resume:
        if not run_dir.is_dir():
            raise GateposeError(f"{run_dir}: no such run folder to resume")
        if (run_dir / CONFIG).is_file() and not (run_dir / CHECKPOINT).is_file():
            raise GateposeError(f"{run_dir}: a run stopped before its first checkpoint (config.json, no "
                                "checkpoint.npz): nothing to resume; remove the folder to start it again")
        if not (run_dir / CONFIG).is_file() or not (run_dir / CHECKPOINT).is_file():
            raise GateposeError(f"{run_dir}: not a run folder to resume (config.json and checkpoint.npz expected)")
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise GateposeError(f"--out {run_dir}: exists and is not a folder")
    there = sorted(p.name for p in run_dir.iterdir()) if run_dir.is_dir() else []
    if there:
        hint = (f"; it holds a run: continue it with --resume {run_dir}" if CHECKPOINT in there
                else "; a run stopped before its first checkpoint: remove the folder to start it again"
                if CONFIG in there else "; choose a new folder")
        raise GateposeError(f"--out {run_dir}: not empty ({', '.join(there[:5])}{', ...' if len(there) > 5 else ''})"
                            f"{hint}")


def make_run_dir(run_dir: Path) -> list:
    """Create a new run's folder (and missing parents) before the data is loaded, so that an
    unwritable --out fails first. Returns the folders created, for :func:`remove_created` (not one
    that another process made at the same moment: it is that process's)."""
    created = [p for p in reversed(run_dir.parents) if not p.exists()]
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            run_dir.mkdir()
            created.append(run_dir)
        except FileExistsError:
            pass
        fd, probe = tempfile.mkstemp(dir=run_dir, prefix=".gatepose-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        remove_created(created)
        raise GateposeError(f"--out {run_dir}: cannot be written ({exc.strerror or exc})") from None
    return created


def remove_created(created: list) -> None:
    """Remove the folders :func:`make_run_dir` created if they are still empty (a run that failed
    before writing anything leaves nothing behind)."""
    for p in reversed(created):
        try:
            p.rmdir()
        except OSError:
            return


def remove_stale_temporaries(run_dir: Path) -> list:
    """Delete the temporary files of atomic writes that a killed process left (``.NAME.*.tmp``,
    ``metrics.jsonl.tmp`` from older versions): they are never complete files. Returns their names."""
    stale = [p for p in run_dir.glob(".*.tmp") if p.is_file()] + [p for p in run_dir.glob("*.jsonl.tmp")]
    for p in stale:
        p.unlink()
    return [p.name for p in stale]



# -- the training state in a checkpoint --------------------------------------------------------------
def state_dict(tr: Trainer) -> dict:
    """The whole training state: 'arrays' (name -> array, the live ones: gen/, cam/, critic/ the
    parameters, opt_g/, opt_d/ the optimisers' moments, ema/ the moving average) and 'meta'
    (JSON values: the step, the optimisers' step counts, the samplers' and RNGs' states)."""
    arrays = {**with_prefix(tr.gen, "gen/"), **with_prefix(tr.cam, "cam/"), **with_prefix(tr.critic, "critic/"),
              **with_prefix(tr.opt_g.state_arrays(), "opt_g/"), **with_prefix(tr.opt_d.state_arrays(), "opt_d/")}
    if tr.ema is not None:
        arrays.update(with_prefix(tr.ema, "ema/"))
    meta = {"step": tr.step, "opt_g_t": tr.opt_g.t, "opt_d_t": tr.opt_d.t,
            "sampler_2d": tr.s2d.state(), "sampler_3d": tr.s3d.state(),
            "rng_eps": tr.rng_eps.bit_generator.state, "rng_aug": tr.rng_aug.bit_generator.state}
    return {"arrays": arrays, "meta": meta}


def load_state_dict(tr: Trainer, state: dict) -> None:
    """Restore exactly what :func:`state_dict` gave (host or device arrays; :func:`check_state`
    has checked names and shapes). A checkpoint without 'rng_aug' (older runs) keeps the seeded
    one; one without ema/ arrays starts the average from the generator."""
    xp, arrays, meta = tr.xp, state["arrays"], state["meta"]
    for prefix, params in (("gen/", tr.gen), ("cam/", tr.cam), ("critic/", tr.critic)):
        saved = split_prefix(arrays, prefix)
        for k in params:
            params[k][...] = xp.asarray(saved[k])
    for prefix, opt, t in (("opt_g/", tr.opt_g, "opt_g_t"), ("opt_d/", tr.opt_d, "opt_d_t")):
        opt.load_state_arrays({k: xp.asarray(v) for k, v in split_prefix(arrays, prefix).items()}, meta[t])
    try:
        tr.s2d.load_state(meta["sampler_2d"])
        tr.s3d.load_state(meta["sampler_3d"])
        tr.rng_eps.bit_generator.state = meta["rng_eps"]
        if "rng_aug" in meta:
            tr.rng_aug.bit_generator.state = meta["rng_aug"]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise GateposeError(f"checkpoint metadata: a sampler or RNG state is damaged ({type(exc).__name__}: "
                            f"{str(exc)[:120]}); it cannot be resumed") from None
    if tr.ema is not None:
        saved = split_prefix(arrays, "ema/")
        for k in tr.ema:
            tr.ema[k][...] = xp.asarray(saved[k]) if k in saved else tr.gen[k]
    tr.step = int(meta["step"])


def params_finite(tr: Trainer) -> bool:
    """One reduction per model, one host read."""
    return bool(tr.opt_g.all_finite() & tr.opt_d.all_finite())


def save_state(run_dir: Path, trainer, extra_meta: dict) -> None:
    """checkpoint.npz: the trainer's whole state (:func:`state_dict`: every parameter, both
    optimisers' moments, the step and every RNG state) and ``extra_meta``."""
    state = state_dict(trainer)
    save_checkpoint(run_dir / CHECKPOINT, state["arrays"], {**state["meta"], **extra_meta})


def resume_state(run_dir: Path, trainer) -> dict:
    """Restore ``trainer`` from run_dir's checkpoint.npz exactly (:func:`load_state_dict`, after
    :func:`check_state`) and drop the metrics lines logged after it. Returns the checkpoint's metadata."""
    arrays, meta = load_checkpoint(run_dir / CHECKPOINT)
    check_state(state_dict(trainer), arrays, meta)
    load_state_dict(trainer, {"arrays": arrays, "meta": meta})
    truncate_metrics(run_dir / METRICS, trainer.step)
    return meta


def check_state(current: dict, arrays: dict, meta: dict) -> None:
    """A checkpoint's arrays and metadata can replace the training state ``current`` (a
    :func:`state_dict`): the metadata's counters are there, and every parameter and optimiser
    moment is there with its shape; otherwise a GateposeError that says what is wrong."""
    missing = [k for k in ("step", "opt_g_t", "opt_d_t", "sampler_2d", "sampler_3d", "rng_eps") if k not in meta]
    if missing:
        raise GateposeError(f"checkpoint metadata lacks {', '.join(missing)}; it cannot be resumed")
    if not all(isinstance(meta[k], int) and not isinstance(meta[k], bool) and meta[k] >= 0
               for k in ("step", "opt_g_t", "opt_d_t")):
        raise GateposeError("checkpoint metadata: step, opt_g_t and opt_d_t must be non-negative integers")
    # the parameters and the optimisers' moments must all be there (the moving average may be
    # absent: an older run's, started from the generator), each with the live array's shape
    for prefix, what in (("gen/", "parameters"), ("cam/", "parameters"), ("critic/", "parameters"),
                         ("opt_g/", "optimiser state"), ("opt_d/", "optimiser state"), ("ema/", None)):
        params, saved = split_prefix(current["arrays"], prefix), split_prefix(arrays, prefix)
        missing = sorted(set(params) - set(saved))
        if missing and what:
            raise GateposeError(f"checkpoint lacks {what} {[prefix + k for k in missing[:3]]} (a different model "
                                "configuration?); it cannot be resumed")
        for k in set(params) & set(saved):
            if tuple(saved[k].shape) != tuple(params[k].shape):
                raise GateposeError(f"checkpoint array {prefix}{k} has shape {tuple(saved[k].shape)}, "
                                    f"the run expects {tuple(params[k].shape)}; it cannot be resumed")


def save_best(run_dir: Path, gen: dict, cam: dict, meta: dict) -> None:
    """best.npz: the generator (the trainer's eval_gen: its moving average with --ema) and camera
    only (what evaluation and prediction need)."""
    save_checkpoint(run_dir / BEST, {**with_prefix(gen, "gen/"), **with_prefix(cam, "cam/")}, meta)



def run_config(opts, d, configs) -> dict:
    """config.json's content: every option, the three models' configurations (gcfg, ccfg, dcfg),
    the normalisation of the run's data ``d`` (a TrainData)."""
    gcfg, ccfg, dcfg = configs
    return {
        "format": "gatepose-run/1",
        "options": opts.to_dict(),
        "generator": gcfg.to_dict(),
        "camera": ccfg.to_dict(),
        "critic": dcfg.to_dict(),
        "skeleton": d.skeleton,
        "normalisation": {"scale_3d_mm": d.scale_3d, "root_joint": 0,
                          "mean_pose_3d": np.round(d.mean_pose.astype(np.float64), 6).tolist(),
                          "method": "root-relative, divided by the Frobenius norm of the centred pose"},
        "data_source": d.source,
        "n_train_2d": int(len(d.W_train)), "n_real_3d": int(len(d.X_real)), "n_val": int(len(d.W_val)),
    }


def check_same_data(before: dict, now: dict, run_dir: Path) -> None:
    """A resumed run sees the data it started with: config.json's counts and normalisation
    (``before``) against those of the data loaded now (``now``, a :func:`run_config`); an archive
    changed under the run is one GateposeError (its sampler states and best error would not fit)."""
    counts = [k for k in ("skeleton", "n_train_2d", "n_real_3d", "n_val") if k in before]
    changed = [f"{k} {before[k]} then, {now[k]} now" for k in counts if before[k] != now[k]]
    b, n = before.get("normalisation", {}), now["normalisation"]
    if "scale_3d_mm" in b and not np.isclose(b["scale_3d_mm"], n["scale_3d_mm"], rtol=1e-5):
        changed.append(f"3D scale {b['scale_3d_mm']:.6g} mm then, {n['scale_3d_mm']:.6g} now")
    elif "mean_pose_3d" in b and not np.allclose(b["mean_pose_3d"], n["mean_pose_3d"], rtol=1e-4,
                                                 atol=1e-5):
        changed.append("the mean 3D pose")
    if changed:
        raise GateposeError(f"{run_dir}: the training data differ from those the run started with "
                            f"({'; '.join(changed)}); was the archive replaced, or the synthetic data made "
                            "otherwise? A resumed run must see the same data: start a new run")


# -- validation ------------------------------------------------------------------------------------
def validation_errors(tr: Trainer) -> dict:
    """MPJPE and N-MPJPE (mm) of the evaluation generator on the frames held out of the training
    subjects; {} when there are none. With the offset lift also ``refine_above``, the threshold of
    a second lift (``runs.refine_threshold`` on these clean poses), which best.npz keeps."""
    d = tr.data
    if len(d.W_val) == 0:
        return {}
    pred = predict_poses(tr.eval_gen, tr.gcfg, d.W_val, tr.xp, tr.dtype, speed=tr.speed)
    extra = {"refine_above": refine_threshold(np.asarray(d.W_val, np.float64), pred)} if tr.gcfg.lift == "offset" else {}
    pred = root_relative(pred) * d.scale_3d
    return {"val_mpjpe": float(np.mean(mpjpe(pred, d.X_val_mm))), "val_n_mpjpe": float(np.mean(n_mpjpe(pred, d.X_val_mm))),
            **extra}


# -- metrics.jsonl and a run that stops ------------------------------------------------------------
def logged_minutes(run_dir) -> float:
    """The wall-clock minutes of the last metrics.jsonl row that has them (0 if none)."""
    path = Path(run_dir) / METRICS
    minutes = 0.0
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                minutes = float(json.loads(line).get("minutes", minutes))
            except (json.JSONDecodeError, AttributeError, TypeError, ValueError):
                continue
    return minutes


def truncate_metrics(path: Path, step: int) -> None:
    """Drop the lines a crashed run logged after its last checkpoint (they are logged again)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                keep.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a half-written last line
    with atomic_open(path, "w") as f:
        f.write("".join(line + "\n" for line in keep))


def stopped_message(run_dir: Path) -> str:
    """What a stopped run leaves: the last good checkpoint, or (before the first) none."""
    if (run_dir / CHECKPOINT).is_file():
        return f"the last good checkpoint in {run_dir} is kept"
    return (f"no checkpoint had been written yet ({run_dir} keeps config.json and metrics.jsonl; remove it "
            "to start again)")


def finite_or_raise(values: dict, step: int, run_dir: Path):
    """A logged row with a NaN or inf stops the run with TrainingDiverged (saying what is kept)."""
    bad = {k: v for k, v in values.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        names = ", ".join(f"{k}={v}" for k, v in bad.items())
        raise TrainingDiverged(f"step {step}: {names}; stopped, {stopped_message(run_dir)} (try a lower --lr)")


# -- a failed write --------------------------------------------------------------------------------
@contextmanager
def writing(path: Path, step: int, kept: int | None, run_dir: Path):
    """An OSError inside (a full disk, a folder gone) becomes one GateposeError naming ``path``,
    the step of the checkpoint that survived (``kept``; None: none yet) and how to resume."""
    try:
        yield
    except OSError as exc:
        left = (f"the checkpoint of step {kept} in {run_dir} is kept; make room and continue with "
                f"gatepose train --resume {run_dir}" if kept is not None else
                "no checkpoint had been written yet; make room and start again")
        raise GateposeError(f"{path}: could not be written at step {step} ({exc.strerror or exc}); {left}") from None


# -- the run -----------------------------------------------------------------------------------------
def train(opts: TrainOptions, run_dir, xp, resume: bool = False, progress: bool = True,
          log=None, ready=None, dtype=np.float32) -> dict:
    """Train into ``run_dir`` (a new or empty folder, or an existing run with ``resume``).

    ``dtype``: float32 for training; the tests run float64 where they compare two runs.
    ``ready()``, if given, is called once the data and (with ``resume``) the checkpoint have been
    loaded and checked, before anything is written. Returns the last logged metrics. Ctrl-C saves a
    checkpoint and raises KeyboardInterrupt after it; a NaN or inf loss raises
    :class:`TrainingDiverged` and leaves the last good checkpoint.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    run_dir = Path(run_dir)
    lock = hold_run_folder(run_dir) if run_dir.is_dir() else None   # a running writer is named first
    created, held = [], False
    try:
        check_run_dir(run_dir, resume)
        opts.check()
        # the archives as absolute paths in config.json: eval, predict and --resume find them from
        # any working folder
        for name in ("data", "real_poses"):
            if getattr(opts, name) is not None:
                setattr(opts, name, str(Path(getattr(opts, name)).resolve()))
        # A new run's folder is made first, so that an unwritable --out fails before the data is
        # loaded; if anything fails before config.json is written, the folders made here go again.
        if not resume:
            created = make_run_dir(run_dir)
            lock = lock if lock is not None else hold_run_folder(run_dir)
        held = True      # the folder is this run's (or the system locks nothing)
        data = prepare_data(opts)
        trainer = Trainer(opts, data, xp, dtype)
        opts.shards = trainer.shards   # recorded, so that a resumed run cuts its batches the same way
        config = run_config(opts, data, (trainer.gcfg, trainer.ccfg, trainer.dcfg))   # config.json's content
        if resume:
            check_same_data(read_config(run_dir), config, run_dir)
        meta = resume_state(run_dir, trainer) if resume else {}   # all loaded and checked before a write
        best = meta.get("best_val_n_mpjpe")
        best = float(best) if isinstance(best, (int, float)) else math.inf
    except BaseException:
        if held:     # a folder whose lock another run took first is that run's: left alone
            remove_created(created)
        release_run_folder(lock)
        raise
    try:
        return _loop(opts, run_dir, trainer, data, config, resume, best, progress, log, ready)
    finally:
        release_run_folder(lock)


def _loop(opts, run_dir: Path, trainer: Trainer, data, config: dict, resume: bool, best: float, progress, log,
          ready) -> dict:
    if ready is not None:
        ready()
    if resume:
        stale = remove_stale_temporaries(run_dir)
        log(f"resumed {run_dir} at step {trainer.step}"
            + (f" (removed {len(stale)} unfinished temporary file(s) of a killed run)" if stale else ""))
    kept = trainer.step if resume else None       # the step of the checkpoint on disk
    n_total = total_steps(opts, len(data.W_train))
    if trainer.step >= n_total:                   # config.json left as it is
        log(f"{run_dir}: already at step {trainer.step} >= {n_total}; nothing to do (raise "
            f"{'--epochs' if opts.epochs is not None else '--steps'})")
        return {}
    with writing(run_dir / CONFIG, trainer.step, kept, run_dir):
        write_json_atomic(run_dir / CONFIG, config)

    def same_folder():
        """The run folder is where it was (its config.json, written above, is there): a folder
        deleted or moved while training stops the run, whose files would otherwise go into a new
        folder without config.json, or into none."""
        if not (run_dir / CONFIG).is_file():
            raise GateposeError(f"{run_dir}: the run folder was deleted or moved during training (step "
                                f"{trainer.step}); stopped without writing to it")

    def checkpoint():
        nonlocal kept
        same_folder()
        with writing(run_dir / CHECKPOINT, trainer.step, kept, run_dir):
            save_state(run_dir, trainer, {"best_val_n_mpjpe": best if math.isfinite(best) else None,
                                          "options": opts.to_dict()})
        kept = trainer.step

    bar = Progress(n_total) if progress else None
    with writing(run_dir / METRICS, trainer.step, kept, run_dir):
        metrics_f = open(run_dir / METRICS, "a")
    row: dict = {}
    t_last, steps_since = time.perf_counter(), 0
    # wall-clock minutes of training so far (a resumed run goes on from its last logged row)
    t_start, minutes_before = t_last, (logged_minutes(run_dir) if resume else 0.0)
    # Ctrl-C (and SIGTERM, SIGHUP: a scheduler's stop, a closed terminal) is turned into a flag so
    # the step in flight finishes and the checkpoint is consistent.
    interrupted = {"flag": False, "by": ""}
    stops = [getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)]

    def on_sigint(signum, frame):
        if interrupted["flag"]:     # a second signal: stop at once, the last checkpoint (atomic) kept
            for s in old_handlers:  # a third must not cut the stopping short
                signal.signal(s, signal.SIG_IGN)
            again = f"; continue with --resume {run_dir}" if (run_dir / CHECKPOINT).is_file() else ""
            raise KeyboardInterrupt(f"interrupted again at step {trainer.step}: stopped at once; "
                                    f"{stopped_message(run_dir)}{again}")
        interrupted["flag"] = True
        interrupted["by"] = "" if signum == signal.SIGINT else f" ({signal.Signals(signum).name})"

    main_thread = threading.current_thread() is threading.main_thread()
    # a signal already ignored stays so (`nohup gatepose train ...` must outlive its terminal)
    old_handlers = ({s: signal.signal(s, on_sigint) for s in stops if signal.getsignal(s) is not signal.SIG_IGN}
                    if main_thread else {})
    try:
        while trainer.step < n_total and not interrupted["flag"]:
            logging = (trainer.step + 1) % opts.log_every == 0 or trainer.step + 1 == n_total
            trainer.set_lr(learning_rate(opts, trainer.step, n_total),
                           learning_rate(opts, trainer.step, n_total, opts.lr_critic or opts.lr))
            losses = trainer.iteration(want_stats=logging)
            steps_since += 1
            step = trainer.step
            if logging or step % opts.eval_every == 0 or step % opts.checkpoint_every == 0:
                values = host_scalars(losses)    # one copy, which waits for the queued work
                now = time.perf_counter()
                row = {"step": step, **values}
                row["poses_per_s"] = steps_since * opts.batch_size / max(now - t_last, 1e-9)
                row["minutes"] = minutes_before + (now - t_start) / 60.0
                t_last, steps_since = now, 0
                finite_or_raise(row, step, run_dir)
                same_folder()
                if step % opts.eval_every == 0 or step == n_total:
                    row.update(validation_errors(trainer))
                    if row.get("val_n_mpjpe", math.inf) < best:
                        best = row["val_n_mpjpe"]
                        with writing(run_dir / BEST, step, kept, run_dir):
                            save_best(run_dir, trainer.eval_gen, trainer.cam,
                                      {"step": step, "val_n_mpjpe": best, "val_mpjpe": row.get("val_mpjpe"),
                                       "refine_above": row.get("refine_above")})
                with writing(run_dir / METRICS, step, kept, run_dir):
                    metrics_f.write(json.dumps(row) + "\n")
                    metrics_f.flush()
                if bar:
                    bar.update(step, row)
                if step % opts.checkpoint_every == 0 and params_finite(trainer):
                    checkpoint()
        if params_finite(trainer):
            checkpoint()
        else:
            raise TrainingDiverged(f"step {trainer.step}: parameters became NaN/inf; {stopped_message(run_dir)} "
                                   "(try a lower --lr)")
    finally:
        if bar:
            bar.close()
        try:
            metrics_f.close()
        except OSError:        # the buffered rest of a failed write; the error above says what was kept
            pass
        for s, handler in old_handlers.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
    if interrupted["flag"]:
        raise KeyboardInterrupt(f"interrupted{interrupted['by']} at step {trainer.step}: checkpoint saved; "
                                f"continue with --resume {run_dir}")
    if not (run_dir / BEST).exists():
        with writing(run_dir / BEST, trainer.step, kept, run_dir):
            save_best(run_dir, trainer.eval_gen, trainer.cam, {"step": trainer.step, "val_n_mpjpe": None})
    return row
