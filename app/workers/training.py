"""TrainingRunner: runs `python -m detr_model train … --progress jsonl` as a watched child process.

The child's stdout carries one JSON object per line ("start", "iteration", "epoch", "done",
"error"); the runner turns them into Qt signals. Its stderr (and any stdout line that is not
JSON) goes to the log. Whatever happens to the child — a Python error, an out-of-memory kill,
a SIGKILL, a non-zero exit — the runner ends with exactly one of `finished(TrainingResult)` or
`failed(message)`, the message carrying the last lines of the log. `cancel()` asks the child to
stop after its current iteration (SIGTERM; the CLI then saves last.pt) and kills it when it does
not exit within `kill_after_ms`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal, Slot

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 15
STOPPED_EXIT_CODES = (130, 143)  # the CLI stopped cleanly by SIGINT / SIGTERM (128 + signal)
KILL_AFTER_MS = 5000
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class TrainingResult:
    """What a training run left behind."""

    out_dir: Path
    best_checkpoint: Path | None = None
    last_checkpoint: Path | None = None
    stopped: bool = False  # cancelled before the last epoch
    epochs_done: int = 0
    time_s: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)  # the "epoch" events


def train_command(args: list[str], processes: int = 1) -> list[str]:
    """Return the command line of the training CLI with these arguments (through torchrun when
    `processes` > 1: one process a GPU)."""
    launcher = [sys.executable]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone"]
        launcher += [f"--nproc-per-node={processes}"]
    return [*launcher, "-m", "detr_model", "train", *args, "--progress", "jsonl"]


class TrainingRunner(QObject):
    """Starts and watches one training child process at a time."""

    started = Signal(dict)  # the "start" event (images, class names, configs)
    progress = Signal(dict)  # an "iteration" (epoch, iteration, loss, eta_s) or "cache" event
    epoch = Signal(dict)  # an "epoch" event (loss, losses, metrics, checkpoint, eta_s)
    log = Signal(str)  # one line of the child's log
    failed = Signal(str)  # why the run failed, with the last lines of the log
    finished = Signal(object)  # TrainingResult (stopped=True after a cancel)

    def __init__(self, parent: QObject | None = None, *, kill_after_ms: int = KILL_AFTER_MS):
        super().__init__(parent)
        self.kill_after_ms = kill_after_ms
        self._process: QProcess | None = None
        self._tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self._stdout_buffer = b""
        self._stderr_buffer = b""
        self._error_event = ""
        self._done: dict[str, Any] | None = None
        self._cancelled = False
        self._result: TrainingResult | None = None
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    # ----- control -------------------------------------------------------------------------

    def is_running(self) -> bool:
        """Return True while a child process runs."""
        return self._process is not None

    def start(self, command: list[str], out_dir: str | Path, *, cwd: str | Path = ROOT) -> bool:
        """Start `command` (a full argv) writing into out_dir; False if a run is going on."""
        if self._process is not None:
            return False
        self._tail.clear()
        self._stdout_buffer = self._stderr_buffer = b""
        self._error_event = ""
        self._done = None
        self._cancelled = False
        self._result = TrainingResult(Path(out_dir))
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert(
            "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), env.value("PYTHONPATH")]))
        )
        process.setProcessEnvironment(env)
        if os.name == "posix" and hasattr(process, "setUnixProcessParameters"):
            # Its own session: a kill reaches its whole process tree (torchrun workers,
            # data-loader processes), and Ctrl+C in the app's terminal does not reach it.
            process.setUnixProcessParameters(QProcess.UnixProcessFlag.CreateNewSession)
        process.setWorkingDirectory(str(cwd))
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self._process = process
        log.info("training: %s", " ".join(command))
        process.start(command[0], command[1:])
        return True

    def cancel(self) -> None:
        """Ask the child to stop after its current iteration; kill it if it does not exit."""
        if self._process is None or self._cancelled:
            return
        self._cancelled = True
        self._emit_log("Cancelling: the run stops after the current iteration…")
        self._process.terminate()  # SIGTERM: the CLI finishes the iteration and saves last.pt
        self._kill_timer.start(self.kill_after_ms)

    def kill(self) -> None:
        """Kill the child at once (closing the window); no signal is sent afterwards."""
        process = self._process
        if process is None:
            return
        self._kill_timer.stop()
        process.blockSignals(True)
        _kill_tree(process)
        process.waitForFinished(3000)
        self._process = None
        process.deleteLater()

    def pid(self) -> int:
        """Return the child's process id (0 when none runs)."""
        return int(self._process.processId()) if self._process is not None else 0

    def log_tail(self) -> list[str]:
        """Return the last lines of the child's log."""
        return list(self._tail)

    # ----- child output --------------------------------------------------------------------

    @Slot()
    def _read_stdout(self) -> None:
        if self._process is None:
            return
        self._stdout_buffer += bytes(self._process.readAllStandardOutput().data())
        *lines, self._stdout_buffer = self._stdout_buffer.split(b"\n")
        for raw in lines:
            self._handle_stdout_line(raw.decode("utf-8", "replace").strip())

    @Slot()
    def _read_stderr(self) -> None:
        if self._process is None:
            return
        self._stderr_buffer += bytes(self._process.readAllStandardError().data())
        *lines, self._stderr_buffer = self._stderr_buffer.split(b"\n")
        for raw in lines:
            text = raw.decode("utf-8", "replace").rstrip()
            if text:
                self._emit_log(text)

    def _handle_stdout_line(self, text: str) -> None:
        if not text:
            return
        try:
            event = json.loads(text)
        except ValueError:
            event = None
        if not isinstance(event, dict) or "event" not in event:
            self._emit_log(text)
            return
        kind = event["event"]
        if kind == "start":
            self._emit_log(
                f"Training on {event.get('images', '?')} images "
                f"({event.get('val_images', 0)} for validation)"
            )
            for problem in event.get("left_out") or []:
                self._emit_log(f"Left out (cannot be read): {problem}")
            self.started.emit(event)
        elif kind == "iteration":
            self.progress.emit(event)
        elif kind == "cache":  # fast mode computes the frozen backbone's features first
            done, total = event.get("done"), event.get("total")
            if done == total:
                self._emit_log(f"Cached the backbone features of {total} images (fast mode)")
            self.progress.emit(event)
        elif kind == "epoch":
            assert self._result is not None
            self._result.history.append(event)
            self._emit_log(_epoch_line(event))
            self.epoch.emit(event)
        elif kind == "done":
            self._done = event
        elif kind == "error":
            self._error_event = str(event.get("error") or "unknown error")
            self._emit_log(f"error: {self._error_event}")

    def _emit_log(self, text: str) -> None:
        self._tail.append(text)
        self.log.emit(text)

    # ----- the end -------------------------------------------------------------------------

    @Slot()
    def _kill(self) -> None:
        if self._process is not None:
            self._emit_log(f"The run did not stop within {self.kill_after_ms / 1000:.0f} s: killed")
            _kill_tree(self._process)

    @Slot(QProcess.ProcessError)
    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            message = f"The training process could not start: {self._process.errorString()}"
            self._end(failure=message)

    @Slot(int, QProcess.ExitStatus)
    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        self._read_stderr()
        if self._stdout_buffer.strip():  # a last line without its newline
            self._handle_stdout_line(self._stdout_buffer.decode("utf-8", "replace").strip())
        if self._stderr_buffer.strip():
            self._emit_log(self._stderr_buffer.decode("utf-8", "replace").rstrip())
        self._stdout_buffer = self._stderr_buffer = b""
        crashed = status == QProcess.ExitStatus.CrashExit
        stopped_cleanly = code in STOPPED_EXIT_CODES and self._done and self._done.get("stopped")
        if self._done is not None and (code == 0 or stopped_cleanly) and not crashed:
            self._end(result=self._done)
        elif self._cancelled:
            self._end(result={"stopped": True})  # killed after the grace time: keep the files
        elif self._error_event:
            self._end(failure=self._error_event)
        elif crashed:
            self._end(failure="The training process was killed (out of memory, or by a signal)")
        else:
            self._end(failure=f"The training process ended with exit status {code}")

    def _end(self, *, result: dict[str, Any] | None = None, failure: str = "") -> None:
        process, self._process = self._process, None
        self._kill_timer.stop()
        if process is not None:
            process.deleteLater()
        assert self._result is not None
        if failure:
            tail = "\n".join(self._tail)
            self.failed.emit(f"{failure}\n\nLast lines of the log:\n{tail}" if tail else failure)
            return
        res = self._result
        res.stopped = bool(result.get("stopped", False)) if result else False
        best = result.get("best_checkpoint") if result else None
        last = result.get("last_checkpoint") if result else None
        res.best_checkpoint = Path(best) if best else _existing(res.out_dir / "best.pt")
        res.last_checkpoint = Path(last) if last else _existing(res.out_dir / "last.pt")
        res.epochs_done = int(result.get("epochs_done", len(res.history)) if result else 0)
        res.time_s = float(result.get("time_s", 0.0) or 0.0) if result else 0.0
        self.finished.emit(res)


def _kill_tree(process: QProcess) -> None:
    """SIGKILL the child and every process of its session (it leads its own group)."""
    pid = int(process.processId())
    if os.name == "posix" and pid > 0:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    process.kill()


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def _epoch_line(event: dict[str, Any]) -> str:
    """Return one log line for an epoch event."""
    loss = event.get("loss")
    parts = [f"Epoch {event.get('epoch')}/{event.get('epochs')}"]
    if isinstance(loss, (int, float)):
        parts.append(f"loss {loss:.4f}")
    metrics = event.get("metrics") or {}
    for key in ("AP", "AP50"):
        if isinstance(metrics.get(key), (int, float)):
            parts.append(f"{key} {metrics[key]:.3f}")
    if isinstance(event.get("time_s"), (int, float)):
        parts.append(f"{event['time_s']:.1f} s")
    return " · ".join(parts)
