"""`ganlab train` under torchrun: two CPU processes with gloo train one model in step."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="torch built without gloo")
def test_two_gloo_processes_train_and_hold_equal_weights(toy_file, tmp_path):
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "ganlab", "train", "--model", "pgsgan", "--data", str(toy_file), "--preset", "cpu-demo",
               "--runs", str(tmp_path), "--device", "cpu", "--threads", "1", "--max-iters", "2",
               "--set", "resolution=64", "--set", "g_width=8", "--set", "d_width=8", "--set", "g_blocks=1",
               "--set", "grid_samples=2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "00000-pgsgan-toy"
    assert json.loads((run / "config.json").read_text())["world_size"] == 2
    agree = [line for line in (run / "log.txt").read_text().splitlines() if "ranks agree" in line]
    assert len(agree) == 1
    hashes = json.loads(agree[0].split("ranks agree: ", 1)[1])
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert stats[0]["iterations"] == 2 and (run / "snapshot.pt").is_file()
