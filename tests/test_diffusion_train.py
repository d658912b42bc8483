"""Training of matdesign.diffusion: overfitting, exact resume, checkpoints, errors and the CLI."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch.utils.data import Dataset

from matdesign.cli.main import main
from matdesign.diffusion import Config, DiffusionModel, build_unet, load_config, make_train_scheduler, sample, train
from matdesign.diffusion.train import BatchStream
from matdesign.errors import InputError
from matdesign.materials import Normalization

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
NORM = Normalization([[1.0, 400.0], [0.1, 0.45], [1.0, 20.0]])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def disk_fields(n: int, size: int, dim: int = 2, seed: int = 0) -> torch.Tensor:
    """Two-phase fields (n, 3, *grid) in [−1, 1]: one ball of random material in a random matrix."""
    rng = np.random.default_rng(seed)
    coords = np.stack(np.meshgrid(*[np.arange(size)] * dim, indexing="ij"))
    out = np.empty((n, 3) + (size,) * dim, np.float32)
    for i in range(n):
        c = rng.uniform(0.3, 0.7, dim).reshape(dim, *[1] * dim) * size
        inside = ((coords - c) ** 2).sum(0) < (rng.uniform(0.15, 0.3) * size) ** 2
        m, p = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3)
        out[i] = np.where(inside, p.reshape(3, *[1] * dim), m.reshape(3, *[1] * dim))
    return torch.from_numpy(out)


class FieldSet(Dataset):
    """In-memory stand-in for matdesign.data.FieldDataset."""

    def __init__(self, x: torch.Tensor, K: torch.Tensor | None = None):
        self.x = x
        self.K = torch.linspace(10.0, 100.0, len(x)) if K is None else K
        self.normalization = NORM
        self.meta = {"material_sha256": "f00d", "dim": x.ndim - 2}

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "K": self.K[i]}


def tiny(**training) -> Config:
    cfg = load_config(CONFIGS / "tiny-2d.yaml").to_dict()
    conditional = training.pop("conditional", False)
    cfg["model"]["conditional"] = conditional
    cfg["training"].update(training)
    return Config.from_dict(cfg)


def eval_loss(unet, cfg: Config, x: torch.Tensor, n: int = 64) -> float:
    """v-prediction MSE on a fixed set of (sample, t, noise) draws."""
    g = torch.Generator().manual_seed(123)
    sched = make_train_scheduler(cfg)
    x0 = x[torch.randint(0, len(x), (n,), generator=g)]
    noise = torch.randn(x0.shape, generator=g)
    t = torch.randint(0, cfg.scheduler.num_train_timesteps, (n,), generator=g)
    with torch.no_grad():
        return float(F.mse_loss(unet(sched.add_noise(x0, noise, t), t), sched.get_velocity(x0, noise, t)))


def test_batch_stream_is_a_function_of_seed_and_step():
    full = BatchStream(10, 4, seed=3)
    it = iter(full)
    batches = [next(it) for _ in range(8)]
    flat = sum(batches, [])
    for epoch in range(3):  # every epoch of 10 indices is a permutation, none dropped
        assert sorted(flat[10 * epoch: 10 * epoch + 10]) == list(range(10))
    resumed = iter(BatchStream(10, 4, seed=3, start=5))
    assert [next(resumed) for _ in range(3)] == batches[5:]
    assert next(iter(BatchStream(10, 4, seed=4))) != batches[0]


def test_tiny_model_overfits_one_sample(tmp_path):
    cfg = tiny(steps=600, batch_size=8, lr=1e-2, warmup_steps=10, checkpoint_every=10_000, log_every=50)
    data = FieldSet(disk_fields(1, 16))
    before = eval_loss(build_unet(cfg.model, seed=cfg.training.seed), cfg, data.x)
    model = train(cfg, data, tmp_path / "run", progress=False)
    after = eval_loss(model.unet, cfg, data.x)
    assert after < before / 10, (before, after)
    rows = list(csv.DictReader(open(tmp_path / "run" / "loss.csv")))
    assert [int(r["step"]) for r in rows] == list(range(50, 601, 50))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) / 3
    assert float(rows[0]["lr"]) == pytest.approx(1e-2 * 0.5 * (1 + np.cos(np.pi * 39 / 590)))  # lr of step 50 (index 49)
    assert (tmp_path / "run" / "loss.png").stat().st_size > 0
    assert model.step == 600
    # the memorized sample comes back from pure noise through the whole DDIM chain
    x = sample(model, 4, steps=20, generator=torch.Generator().manual_seed(0))
    err = (x - data.x[0]).abs().mean(dim=(1, 2, 3))
    assert (err < 0.15).all(), err  # vs. mean |x₀| = 0.77 of the sample itself


def _state(path):
    with safe_open(str(path / "train_state.safetensors"), framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


@pytest.mark.parametrize("conditional,ema", [(False, False), (True, True)])
def test_resume_is_bit_exact(tmp_path, conditional, ema):
    cfg = tiny(steps=6, batch_size=3, warmup_steps=2, checkpoint_every=2, log_every=1, ema=ema, conditional=conditional)
    data = FieldSet(disk_fields(5, 16))  # 5 samples, batch 3: epochs straddle batches
    whole = train(cfg, data, tmp_path / "whole", progress=False)
    train(cfg, data, tmp_path / "split", max_steps=3, progress=False)
    assert DiffusionModel.load(tmp_path / "split").step == 3
    split = train(cfg, data, tmp_path / "split", resume=True, progress=False)
    a, b = _state(tmp_path / "whole"), _state(tmp_path / "split")
    assert a.keys() == b.keys() and any(k.startswith("optim/") for k in a)
    assert any(k.startswith("ema/") for k in a) == ema
    for k in a:
        assert torch.equal(a[k], b[k]), k
    x = data.x[:2]
    with torch.no_grad():
        assert torch.equal(whole(x, 100), split(x, 100))
    assert whole.info["weights"] == ("ema" if ema else "raw")
    if conditional:
        assert whole.info["condition"] == {"K_min": 10.0, "K_max": 100.0}
    steps = [int(r["step"]) for r in csv.DictReader(open(tmp_path / "split" / "loss.csv"))]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_ema_weights_are_exported(tmp_path):
    cfg = tiny(steps=4, batch_size=2, ema=True, ema_decay=0.5, checkpoint_every=4)
    data = FieldSet(disk_fields(2, 16))
    model = train(cfg, data, tmp_path / "r", progress=False)
    raw = {k[len("model/"):]: v for k, v in _state(tmp_path / "r").items() if k.startswith("model/")}
    ema = {k[len("ema/"):]: v for k, v in _state(tmp_path / "r").items() if k.startswith("ema/")}
    exported = model.unet.state_dict()
    assert torch.equal(exported["conv_in.weight"], ema["conv_in.weight"])
    assert not torch.equal(exported["conv_in.weight"], raw["conv_in.weight"])


def test_training_input_errors(tmp_path):
    data = FieldSet(disk_fields(2, 16))
    cfg = tiny(steps=2, batch_size=2)
    with pytest.raises(InputError, match="3D config"):
        train(Config.from_dict({**cfg.to_dict(), "model": {**cfg.to_dict()["model"], "dim": 3}}), data, tmp_path / "a")
    with pytest.raises(InputError, match="divisible by 4"):
        train(cfg, FieldSet(disk_fields(2, 18)), tmp_path / "b")
    with pytest.raises(InputError, match="no training state"):
        train(cfg, data, tmp_path / "c", resume=True)
    train(cfg, data, tmp_path / "d", max_steps=1, progress=False)
    with pytest.raises(InputError, match="already holds a training run"):
        train(cfg, data, tmp_path / "d", progress=False)
    with pytest.raises(InputError, match="training.lr"):
        train(tiny(steps=2, batch_size=2, lr=5e-3), data, tmp_path / "d", resume=True, progress=False)
    (tmp_path / "d" / "train_state.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(InputError, match="not a readable training state"):
        train(cfg, data, tmp_path / "d", resume=True, progress=False)
    with pytest.raises(InputError, match="non-constant K"):
        train(tiny(steps=2, batch_size=2, conditional=True), FieldSet(data.x, torch.ones(2)), tmp_path / "e")


def test_cli_train_and_sample(tmp_path, capsys):
    from matdesign.data.store import write_store

    n, size = 4, 16
    x = disk_fields(n, size).numpy()
    fields = NORM.denormalize(x, axis=1).astype(np.float32)
    block = {"fields": fields, "K": np.linspace(20, 80, n), "seed": np.arange(n, dtype=np.uint64)}
    write_store(tmp_path / "data" / "dataset.h5", [block], n,
                {"normalization": NORM.to_dict(), "material_sha256": "beef", "dim": 2, "size": size})
    run = tmp_path / "run"
    args = ["train", "--data", str(tmp_path / "data"), "--config", str(CONFIGS / "tiny-2d.yaml"), "--out", str(run)]
    assert main(args + ["--max-steps", "3"]) == 0
    model = DiffusionModel.load(run)
    assert model.step == 3 and model.info["material_sha256"] == "beef" and model.normalization == NORM
    assert main(args + ["--resume", "--max-steps", "4"]) == 0
    assert DiffusionModel.load(run).step == 4
    assert main(args) == 2  # the run exists and --resume is missing
    assert "already holds" in capsys.readouterr().err

    import matplotlib.image

    out = tmp_path / "grid.png"
    assert main(["sample", "--model", str(run), "--n", "4", "--steps", "3", "--seed", "1", "--out", str(out)]) == 0
    assert matplotlib.image.imread(out).shape[:2] == (2 * size + 2, 2 * size + 2)
    assert main(["sample", "--model", str(tmp_path / "nothing"), "--out", str(out)]) == 2
    assert "nothing: no such model folder" in capsys.readouterr().err


def test_time_limit_checkpoints_and_resumes(tmp_path):
    cfg = tiny(steps=5, batch_size=2, checkpoint_every=100, log_every=100)
    data = FieldSet(disk_fields(3, 16))
    stopped = train(cfg, data, tmp_path / "r", time_limit=0.0, progress=False)  # stops after its first step
    assert stopped.step == 1 and DiffusionModel.load(tmp_path / "r").step == 1
    whole = train(cfg, data, tmp_path / "w", progress=False)
    resumed = train(cfg, data, tmp_path / "r", resume=True, progress=False)
    assert resumed.step == whole.step == 5
    x = data.x[:2]
    with torch.no_grad():
        assert torch.equal(whole(x, 100), resumed(x, 100))
