"""Data-parallel training under `accelerate launch`: two CPU processes (gloo) train the model one
process trains on the same global batches. Run as a script, this file is one of the launched processes."""

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from matdesign.diffusion import DiffusionModel, build_unet, train
from matdesign.diffusion.train import BatchStream
from test_diffusion_train import FieldSet, disk_fields, tiny

N, STEPS, BATCH = 6, 4, 4


class Recorder(FieldSet):
    """FieldSet that remembers the index lists of the training batches it served."""

    def __init__(self, x):
        super().__init__(x)
        self.fetched = []

    def __getitems__(self, indices):
        self.fetched.append(list(indices))
        return [self[i] for i in indices]


def setup():
    cfg = tiny(steps=STEPS, batch_size=BATCH, lr=1e-2, warmup_steps=1, log_every=1, checkpoint_every=STEPS,
               ema=True, conditional=True)
    return cfg, Recorder(disk_fields(N, 16))


def worker(out: Path) -> None:
    """One launched process: train, then write the model it returned and the batches it fetched."""
    torch.set_num_threads(1)
    cfg, data = setup()
    model = train(cfg, data, out / "run", progress=False)
    rank = int(os.environ["RANK"])
    save_file(model.unet.state_dict(), str(out / f"rank{rank}.safetensors"))
    (out / f"rank{rank}.json").write_text(json.dumps(data.fetched))


def losses(run: Path) -> torch.Tensor:
    return torch.tensor([float(r["loss"]) for r in csv.DictReader(open(run / "loss.csv"))])


def test_batch_stream_parts_tile_each_batch():
    whole = iter(BatchStream(10, 4, seed=3, start=2))
    parts = [iter(BatchStream(10, 4, seed=3, start=2, part=slice(2 * r, 2 * r + 2))) for r in range(2)]
    for _ in range(5):
        assert next(parts[0]) + next(parts[1]) == next(whole)


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_two_processes_train_like_one(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--num_cpu_threads_per_process", "1", "--main_process_port", str(port), __file__, str(tmp_path)]
    subprocess.run(cmd, check=True, timeout=300)
    cfg, data = setup()
    single = train(cfg, data, tmp_path / "single", progress=False)

    # each process fetched its half of every global batch of the one-process stream
    stream = iter(BatchStream(N, BATCH, cfg.training.seed))
    batches = [next(stream) for _ in range(STEPS)]
    assert data.fetched == batches
    for rank in range(2):
        half = [b[2 * rank: 2 * rank + 2] for b in batches]
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == half

    # both processes return the same model, the one the main process saved
    r0, r1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(2))
    saved = DiffusionModel.load(tmp_path / "run")
    for k, v in saved.unet.state_dict().items():
        assert torch.equal(r0[k], r1[k]) and torch.equal(r0[k], v), k

    # ... and it predicts what the one-process model predicts (averaged half-batch gradients =
    # the full-batch gradient up to rounding), while training moved the prediction much further
    x, cond = data.x[:3], torch.tensor([-0.5, float("nan"), 0.7])
    with torch.no_grad():
        two, one = saved(x, 300, cond), single(x, 300, cond)
        start = build_unet(cfg.model, seed=cfg.training.seed)(x, 300, cond)
    assert (two - one).abs().max() < 1e-5
    assert (one - start).abs().max() > 1e-2
    assert torch.allclose(losses(tmp_path / "run"), losses(tmp_path / "single"), rtol=1e-5)
    assert saved.step == single.step == STEPS


if __name__ == "__main__":
    worker(Path(sys.argv[1]))
