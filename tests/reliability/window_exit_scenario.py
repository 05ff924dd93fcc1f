"""Run by tests/reliability/test_threads.py in a process of its own: windows closed while
their workers are busy, then the interpreter exits as the app's does.

Usage: python -m tests.reliability.window_exit_scenario WORK_DIR. Prints one JSON line at exit,
after everything else (threads still running, whether the training child is alive, Qt's
messages); a process that aborts ("QThread: Destroyed while thread is still running") never
prints it.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from pathlib import Path

REPORT: dict = {"qt_messages": []}


def _threads() -> list[str]:
    names = []
    for task in os.listdir("/proc/self/task"):
        try:
            names.append(Path(f"/proc/self/task/{task}/comm").read_text().strip())
        except FileNotFoundError:  # the thread ended between the listing and the read
            continue
    return sorted(n for n in names if n != "Thread (pooled)")  # Qt's own pool, idle


def _report() -> None:  # registered first: runs last, after the app's own exit handlers
    REPORT["threads_at_exit"] = _threads()
    print(json.dumps(REPORT), flush=True)


atexit.register(_report)

# The exported runtimes' own worker pools (OpenVINO's threads are named after the thread that
# made them, "inference") are not threads of ours and end with the process; without them,
# every thread left at exit is one the app forgot to stop. precision="auto" then runs torch.
sys.modules["openvino"] = None
sys.modules["onnxruntime"] = None

from PySide6.QtCore import QSettings, qInstallMessageHandler  # noqa: E402

from app.application import create_application  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.model_registry import file_choice  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.app.auto_annotate_support import (  # noqa: E402
    SMALL,
    make_checkpoint,
    slow_factory,
    write_noise_images,
)
from tests.app.training_support import fake_child, fake_command  # noqa: E402


def _wait(app, condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the scenario did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def main(work: Path) -> None:
    qInstallMessageHandler(lambda _mode, _ctx, text: REPORT["qt_messages"].append(text))
    app = create_application(["scenario"])
    checkpoint = make_checkpoint(work / "tiny.pth")
    write_noise_images(work / "images", count=6)
    settings = Settings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))

    # 1. Closed while a batch runs longer than the stop timeout (a big model on a slow CPU).
    first = MainWindow(settings)
    first.show()
    first.open_path(work / "images")
    auto = first.auto
    auto.spec_options = {**SMALL, "batch_size": 1}  # one image a batch: the run goes on
    auto.set_device("cpu")
    auto.set_model(file_choice(checkpoint))
    auto.ask_mapping = lambda missing, mapping: {name: name for name in missing}
    auto.predictor_factory = slow_factory(2.5)
    auto.run_unreviewed()
    _wait(app, lambda: auto.progress().done >= 1)
    shutdown = auto.shutdown

    def impatient_shutdown() -> bool:  # the window's 5 s, made shorter than one 2.5 s batch
        REPORT["stopped_in_time"] = shutdown(timeout_ms=300)
        return REPORT["stopped_in_time"]

    auto.shutdown = impatient_shutdown
    first.close()
    first.deleteLater()

    # 2. Closed while a training child runs that ignores SIGTERM.
    second = MainWindow(settings)
    second.show()
    second.open_path(work / "images")
    training = second.training
    training.runner.kill_after_ms = 60_000
    training.command = fake_command(fake_child(work), "stubborn")
    session = second.session
    session.project.add_category("thing")
    for rec in session.project.images:
        from app.annotations.model import Box, ImageStatus

        rec.boxes.append(Box(f"b-{rec.path}", 1, 1, 20, 20, 1))
        rec.status = ImageStatus.REVIEWED
    from app.training_snapshot import TrainSettings

    assert training.start(TrainSettings(epochs=2))
    _wait(app, lambda: bool(training.epochs))
    child = training.runner.pid()
    second.close()
    second.deleteLater()
    app.processEvents()
    REPORT["training_child_alive"] = Path(f"/proc/{child}").exists()
    REPORT["threads_after_close"] = _threads()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
