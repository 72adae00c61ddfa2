"""jobs.job: a workflow job's log takes its stderr (TensorFlow's start-up), its console keeps the progress
and the error's message; and the console line of each training epoch."""

import io
import subprocess
import sys
import textwrap
import time

from vae_latent_study.jobs import job_name
from vae_latent_study.training import callbacks

TF_NOISE = ("oneDNN custom operations", "cpu_feature_guard", "absl::InitializeLog")


def run_job(tmp_path, body):
    """Run `body` inside `jobs.job` in a fresh Python, as a workflow script does; (process, log text)."""
    log = tmp_path / "logs" / "encode_dataset" / "tiny_gauss" / "vae" / "seed7.log"
    code = "from vae_latent_study.jobs import job\n"
    code += f"with job({str(log)!r}) as current:\n" + textwrap.indent(textwrap.dedent(body), "    ")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    return proc, log.read_text()


def test_the_name_comes_from_the_log_path():
    assert job_name("logs/train_model/tiny_gauss/vae/seed7.log") == "train_model tiny_gauss/vae/seed7"
    assert job_name("/study/logs/aggregate_metrics.log") == "aggregate_metrics"


def test_stderr_goes_to_the_log_and_the_console_keeps_what_is_written_to_it(tmp_path):
    proc, log = run_job(
        tmp_path,
        """
        import logging, os, sys
        os.write(2, b"a C++ library's line\\n")
        print("python's stderr", file=sys.stderr)
        logging.getLogger("vae_latent_study.x").info("a log record")
        current.console.write(current.name + ": progress\\n")
        """,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "encode_dataset tiny_gauss/vae/seed7: progress\n"
    for line in ("a C++ library's line", "python's stderr", "vae_latent_study.x a log record"):
        assert line in log
    assert "progress" not in log


def test_an_error_reaches_the_log_and_the_console_and_exits_1(tmp_path):
    proc, log = run_job(
        tmp_path,
        """
        from vae_latent_study.datasets import read_dataset
        read_dataset("results/data/missing.h5")
        """,
    )
    assert proc.returncode == 1
    message = "cannot read results/data/missing.h5: no such file"
    assert f"encode_dataset tiny_gauss/vae/seed7 failed: ProjectFileError: {message}" in proc.stderr
    assert "--forcerun results/data/missing.h5" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert message in log and "Traceback" in log and "--forcerun results/data/missing.h5" in log


def test_tensorflow_start_up_lines_stay_off_the_console(tmp_path):
    proc, log = run_job(
        tmp_path,
        """
        import tensorflow as tf
        tf.constant(1.0) + 1.0
        current.console.write("done\\n")
        """,
    )
    assert proc.returncode == 0, log
    assert proc.stderr == "done\n"
    assert not [noise for noise in TF_NOISE if noise in proc.stderr]
    assert [noise for noise in TF_NOISE if noise in log]  # kept, for whoever debugs the job


class FakeClock:
    """perf_counter advancing 10 s per call (an epoch: begin, end); the wall time 2026-01-01 20:00 UTC."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 10.0
        return self.now

    def time(self):
        return 1767297600.0


class QuickClock(FakeClock):
    """Epochs of 1 s (perf_counter 0.5 s later per call)."""

    def perf_counter(self):
        self.now += 0.5
        return self.now


def test_console_progress_shows_first_last_and_a_line_every_few_seconds(monkeypatch):
    stream = io.StringIO()
    progress = callbacks.ConsoleProgress(stream, "job", 30, clock=QuickClock(), every=5.0)
    for epoch in range(30):
        progress.on_epoch_begin(epoch)
        progress.on_epoch_end(epoch, {"loss": 1.0, "val_loss": 1.0})
    progress.on_train_end()
    shown = [int(line.split("epoch ")[1].split("/")[0]) for line in stream.getvalue().splitlines()]
    # 1 s epochs, a line at most every 5 s: epochs 1, 6, 11, ..., 26, and the last.
    assert shown == [1, 6, 11, 16, 21, 26, 30]


def test_console_progress_shows_the_last_epoch_of_an_early_stopped_run():
    stream = io.StringIO()
    progress = callbacks.ConsoleProgress(stream, "job", 30, clock=QuickClock(), every=5.0)
    for epoch in range(8):  # stopped after 8 of 30
        progress.on_epoch_begin(epoch)
        progress.on_epoch_end(epoch, {"loss": 1.0, "val_loss": 1.0})
    progress.on_train_end()
    shown = [int(line.split("epoch ")[1].split("/")[0]) for line in stream.getvalue().splitlines()]
    assert shown == [1, 6, 8]


def test_console_progress_writes_one_short_line_per_epoch(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    stream = io.StringIO()
    progress = callbacks.ConsoleProgress(stream, "train_model tiny_gauss/vae/seed7", 30, clock=FakeClock())
    for epoch in range(2):
        progress.on_epoch_begin(epoch)
        progress.on_epoch_end(epoch, {"loss": 441.23, "val_loss": 441.94, "kl_loss": 3.0})
    progress.on_epoch_begin(29)
    progress.on_epoch_end(29, {"loss": 400.0, "val_loss": 401.0})
    assert stream.getvalue().splitlines() == [
        "train_model tiny_gauss/vae/seed7: epoch 1/30 loss 441.2 val 441.9, 10.0 s, done ~20:04 (4m50s left)",
        "train_model tiny_gauss/vae/seed7: epoch 2/30 loss 441.2 val 441.9, 10.0 s, done ~20:04 (4m40s left)",
        "train_model tiny_gauss/vae/seed7: epoch 30/30 loss 400 val 401, 10.0 s, done",
    ]
