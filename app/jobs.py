"""Background training jobs: plain threads and plain objects (the layout worker is ``app.layouts``).

The Streamlit page never trains: it starts a ``TrainJob`` (a thread) and draws the job's plain
progress fields from a fragment that reruns every second. Nothing here calls ``st.*``; the
objects live in a process-wide registry (``st.cache_resource`` in the app), so touching
widgets, switching pages or reloading the browser tab does not stop a job.

Variants of one run (ID, MOTOR) train one after the other: torch's thread pool is process-wide
and on 2 cores two concurrent trainings took 136 s where sequential took 90 s (measured on the
demo with the quick preset). Two sessions starting jobs at once are queued by ``TRAIN_LOCK``
for the same reason; the waiting job says so.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from app.settings import summary as settings_summary
from app.workspace import VARIANT_LABELS, RunRecord, Workspace, headline
from motor.errors import MotorError
from motor.run_notes import stop_note

log = logging.getLogger("motor_lab")
TRAIN_LOCK = threading.Lock()
VALID_METRIC = "recall@20"


@dataclass
class VariantState:
    """Progress of one item representation inside a job (read by the page, written by the thread)."""

    variant: str
    stage: str = "waiting"  # waiting, preparing, training, testing, saved
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    running_loss: float = float("nan")
    losses: list[float] = field(default_factory=list)  # per finished epoch
    valid: list[float] = field(default_factory=list)  # valid recall@20 per finished epoch
    best_epoch: int = 0
    started: float | None = None
    seconds: float | None = None
    metrics: dict | None = None
    note: str = ""  # what the preparing stage is doing (e.g. which modality is being tokenized)

    @property
    def label(self) -> str:
        return VARIANT_LABELS.get(self.variant, self.variant)

    def fraction(self) -> float:
        if self.stage == "saved":
            return 1.0
        if not self.epochs:
            return 0.0
        within = self.batch / self.batches if self.batches else 0.0
        return min(1.0, (max(self.epoch - 1, 0) + within) / self.epochs)


class Cancelled(Exception):
    pass


class TrainJob:
    """One run (one or more item representations on the same split) trained in a thread."""

    def __init__(self, workspace: Workspace, configs: dict, dataset, settings: dict, label: str,
                 session: str = "", on_done: Callable[["TrainJob", dict], None] | None = None):
        self.workspace, self.configs, self.dataset = workspace, configs, dataset
        self.settings, self.label, self.session = settings, label, session
        self.on_done = on_done
        self.run_id, self.folder = workspace.new_run_folder()
        self.variants = {v: VariantState(v) for v in configs}
        self.status = "queued"  # queued, waiting, running, done, failed, cancelled
        self.message = ""
        self.error = ""
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.record: RunRecord | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"train-{self.run_id}", daemon=True)

    # --- control --------------------------------------------------------------------------

    def start(self) -> "TrainJob":
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()
        if self.status in ("queued", "waiting"):
            self.message = "cancelling..."

    def join(self, timeout: float | None = None) -> None:
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)

    @property
    def done(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    @property
    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    def fraction(self) -> float:
        states = list(self.variants.values())
        return sum(s.fraction() for s in states) / max(1, len(states))

    def current(self) -> VariantState | None:
        return next((s for s in self.variants.values() if s.stage not in ("waiting", "saved")), None)

    # --- the thread -----------------------------------------------------------------------

    def _progress(self, state: VariantState):
        def cb(p):
            if p.stage == "tokenize":
                state.note = p.message
            elif p.stage == "start":
                state.stage, state.epochs, state.batches = "training", p.epochs, p.batches
            elif p.stage == "batch":
                state.epoch, state.batch, state.batches, state.running_loss = p.epoch, p.batch, p.batches, p.loss
            elif p.stage == "epoch":
                state.epoch, state.batch = p.epoch, p.batches
                state.losses.append(float(p.loss))
                state.valid.append(float(p.valid.get(VALID_METRIC, float("nan"))))
                state.best_epoch = p.best_epoch
            elif p.stage == "done":
                state.stage = "testing"
        return cb

    def _run(self) -> None:
        from motor.experiment import run_experiment

        outputs = {}
        try:
            if not TRAIN_LOCK.acquire(blocking=False):
                self.status = "waiting"
                self.message = "waiting for another training in this server to finish (2 CPU cores are shared)"
                while not TRAIN_LOCK.acquire(timeout=0.5):
                    if self._cancel.is_set():
                        raise Cancelled()
            try:
                self.status, self.message, self.started = "running", "", time.time()
                for variant, cfg in self.configs.items():
                    if self._cancel.is_set():
                        raise Cancelled()
                    state = self.variants[variant]
                    state.stage, state.started = "preparing", time.time()
                    out = run_experiment(cfg, self.folder / variant, progress=self._progress(state),
                                         should_stop=self._cancel.is_set, dataset=self.dataset)
                    if self._cancel.is_set():
                        raise Cancelled()
                    state.metrics, state.stage = out.metrics, "saved"
                    state.seconds = time.time() - state.started
                    outputs[variant] = out
            finally:
                TRAIN_LOCK.release()
            first = next(iter(self.configs.values()))
            self.record = self.workspace.register(RunRecord(
                run_id=self.run_id, created=self.created, label=self.label, dataset=self.dataset.name,
                data=first.data.data, backbone=first.backbone, variants=list(self.configs),
                settings=settings_summary(self.settings),
                headline={v: headline(s.metrics) for v, s in self.variants.items()},
                seconds=time.time() - self.started, session=self.session,
                message=stop_note({VARIANT_LABELS[v]: o.result.message for v, o in outputs.items()})))
            self.finished, self.status = time.time(), "done"
            self.message = f"finished in {self.elapsed:.0f} s"
        except Cancelled:
            self.workspace.discard(self.folder)
            self.finished, self.status, self.message = time.time(), "cancelled", "cancelled; nothing was saved"
        except MotorError as e:
            self.workspace.discard(self.folder)
            if self._cancel.is_set():  # e.g. "cancelled before the first validation; no model to keep"
                self.finished, self.status, self.message = time.time(), "cancelled", "cancelled; nothing was saved"
            else:
                self.finished, self.status, self.error = time.time(), "failed", str(e)
        except Exception as e:  # a bug: keep the server alive, log the traceback, show a one-liner
            log.error("training job %s failed:\n%s", self.run_id, traceback.format_exc())
            self.workspace.discard(self.folder)
            self.finished, self.status = time.time(), "failed"
            self.error = f"internal error ({type(e).__name__}: {e}); the details are in the server log"
        if self.status == "done" and self.on_done is not None:
            try:
                self.on_done(self, outputs)
            except Exception:
                log.error("after-training hook failed:\n%s", traceback.format_exc())
        self.dataset = None  # the cached dataset stays cached elsewhere; do not pin it here


class JobRegistry:
    """All jobs of this server process, by id; each session remembers the ids it started."""

    def __init__(self):
        self._jobs: dict[str, TrainJob] = {}
        self._lock = threading.Lock()
        atexit.register(self.shutdown)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel running jobs and wait for their threads (a thread inside torch at interpreter exit can
        abort the process); their unfinished run folders are discarded as for any cancel."""
        for job in self.running():
            job.cancel()
        for job in list(self._jobs.values()):
            job.join(timeout)

    def add(self, job: TrainJob) -> TrainJob:
        with self._lock:
            self._jobs[job.run_id] = job
        return job

    def get(self, run_id: str | None) -> TrainJob | None:
        return self._jobs.get(run_id) if run_id else None

    def latest(self, session: str, home: Path) -> TrainJob | None:
        """The newest job a session started in the workspace at ``home`` (found again after a reload, when the
        page has forgotten its id)."""
        with self._lock:
            mine = [j for j in self._jobs.values() if j.session == session and j.workspace.home == home]
        return max(mine, key=lambda j: j.created, default=None)

    def running(self) -> list[TrainJob]:
        return [j for j in self._jobs.values() if not j.done]
