"""UNet, schedulers, sampling and checkpoints of matdesign.diffusion (tiny models at 16² / 8³)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from matdesign.diffusion import (
    Config, DiffusionModel, build_unet, cfg_denoiser, ddim_loop, load_config, make_sampling_scheduler,
    make_train_scheduler, predict_x0, sample, x0_from_v,
)
from matdesign.diffusion.plot import fields_to_rgb, save_sample_grid
from matdesign.diffusion.unet import positional_encoding
from matdesign.errors import InputError
from matdesign.materials import Normalization

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_config(dim=2, conditional=False) -> Config:
    cfg = load_config(f"{CONFIGS}/tiny-2d.yaml").to_dict()
    cfg["model"].update(dim=dim, conditional=conditional)
    return Config.from_dict(cfg)


def tiny_model(dim=2, conditional=False, seed=0) -> DiffusionModel:
    cfg = tiny_config(dim, conditional)
    info = {"step": 7, "material_sha256": "abc"}
    if conditional:
        info["condition"] = {"K_min": 10.0, "K_max": 110.0}
    return DiffusionModel(build_unet(cfg.model, seed=seed), cfg, grid=(16,) * dim if dim == 2 else (8,) * dim,
                          normalization=Normalization([[1, 400], [0.1, 0.45], [1, 20]]), info=info).eval()


# --- UNet -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim,size", [(2, 16), (3, 8)])
def test_forward_shape_and_dependence_on_t_and_x(dim, size):
    unet = build_unet(tiny_config(dim).model).eval()
    g = torch.Generator().manual_seed(0)
    x = torch.randn((2, 3) + (size,) * dim, generator=g)
    with torch.no_grad():
        v = unet(x, torch.tensor([10, 10]))
        assert v.shape == x.shape and torch.isfinite(v).all()
        assert not torch.allclose(v, unet(x, torch.tensor([900, 900])), atol=1e-4)
        x2 = x.clone()
        x2[1] += 0.5 * torch.randn(x2[1].shape, generator=g)
        v2 = unet(x2, 10)
    assert torch.equal(v2[0], v[0])  # samples are independent
    assert not torch.allclose(v2[1], v[1], atol=1e-4)


def test_grid_not_divisible_is_an_input_error():
    unet = build_unet(tiny_config().model)
    with pytest.raises(InputError, match="divisible by 4"):
        unet(torch.zeros(1, 3, 18, 18), 0)
    with pytest.raises(InputError):
        unet(torch.zeros(1, 3, 16, 16, 16), 0)  # 3D input to a 2D model


def test_conditional_embedding_null_and_value():
    unet = build_unet(tiny_config(conditional=True).model).eval()
    with torch.no_grad():
        unet.null_cond.normal_(generator=torch.Generator().manual_seed(1))  # make null ≠ zero
        x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        t = torch.tensor([500, 500, 500])
        v_none = unet(x, t)
        v_nan = unet(x, t, torch.tensor([float("nan")] * 3))
        v_mix = unet(x, t, torch.tensor([0.5, float("nan"), -0.5]))
    assert torch.equal(v_none, v_nan)
    assert torch.allclose(v_mix[1], v_none[1], atol=1e-6)
    assert not torch.allclose(v_mix[0], v_none[0], atol=1e-4)
    assert not torch.allclose(v_mix[0], v_mix[2], atol=1e-4)


def test_paper_architecture_2d():
    cfg = load_config(f"{CONFIGS}/paper-2d.yaml")
    unet = build_unet(cfg.model)
    assert tuple(unet.conv_in.weight.shape) == (8, 3, 1, 1)
    assert tuple(unet.conv_out.weight.shape) == (3, 8, 1, 1)
    assert unet.time_embedding.proj.weight.numel() * 2 == 16  # sin and cos of 8 frequencies
    assert unet.time_embedding.mlp.linear_2.out_features == 32
    assert [blk[-1].conv2.out_channels for blk in unet.down] == [32, 64]
    assert [len(blk) for blk in unet.down] == [2, 2]
    assert [r.conv2.out_channels for r in unet.mid_resnets] == [128, 128, 64]
    assert [a.attn.heads for a in unet.mid_attentions] == [16, 16]
    assert [blk[-1].conv2.out_channels for blk in unet.up] == [32, 8]
    assert all(r.norm1.num_groups == 8 for blk in unet.down for r in blk)
    seen = {}
    unet.mid_attentions[0].register_forward_hook(lambda m, i, o: seen.update(mid=tuple(o.shape)))
    with torch.no_grad():
        unet(torch.zeros(1, 3, 64, 64), 3)
    assert seen["mid"] == (1, 128, 16, 16)  # two halvings


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone():
    cfg = tiny_config().model
    state = torch.random.get_rng_state()
    a, b, c = build_unet(cfg, seed=3), build_unet(cfg, seed=3), build_unet(cfg, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.conv_in.weight, b.conv_in.weight)
    assert not torch.equal(a.conv_in.weight, c.conv_in.weight)


def test_positional_encoding_values():
    pe = positional_encoding((5, 7), 8)  # 4 channels per axis: sin/cos at frequencies 1 and 1/100
    i = torch.arange(5.0)[:, None].expand(5, 7)
    j = torch.arange(7.0)[None, :].expand(5, 7)
    assert pe.shape == (8, 5, 7)
    torch.testing.assert_close(pe[0], torch.sin(i))
    torch.testing.assert_close(pe[1], torch.cos(i))
    torch.testing.assert_close(pe[2], torch.sin(i / 100))
    torch.testing.assert_close(pe[4], torch.sin(j))
    torch.testing.assert_close(pe[7], torch.cos(j / 100))
    assert positional_encoding((4, 4, 4), 128).shape == (128, 4, 4, 4)


# --- schedulers and sampling --------------------------------------------------------------------------

def test_schedulers_have_the_papers_settings():
    cfg = load_config(f"{CONFIGS}/paper-2d.yaml")
    for sched, cls in ((make_train_scheduler(cfg), DDPMScheduler), (make_sampling_scheduler(cfg.to_dict()), DDIMScheduler)):
        assert isinstance(sched, cls)
        c = sched.config
        assert (c.num_train_timesteps, c.beta_schedule, c.beta_start, c.beta_end) == (1000, "linear", 1e-5, 1e-2)
        assert (c.prediction_type, c.rescale_betas_zero_snr, c.timestep_spacing) == ("v_prediction", True, "trailing")
        assert (c.clip_sample, c.clip_sample_range) == (True, 1.0)
        assert sched.alphas_cumprod[-1] == 0.0  # zero terminal SNR: no signal left at t = T
    assert cfg.scheduler.eta == 1.0
    ddim = make_sampling_scheduler(cfg)
    ddim.set_timesteps(100)
    assert ddim.timesteps[0] == 999 and ddim.timesteps[-1] == 9 and len(ddim.timesteps) == 100


def test_x0_from_v_inverts_the_forward_process():
    sched = make_train_scheduler(Config())
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(4, 3, 8, 8, generator=g) * 2 - 1, torch.randn(4, 3, 8, 8, generator=g)
    t = torch.tensor([0, 250, 700, 999])
    x_t, v = sched.add_noise(x0, noise, t), sched.get_velocity(x0, noise, t)
    torch.testing.assert_close(x0_from_v(x_t, v, sched.alphas_cumprod[t]), x0, atol=1e-5, rtol=0)


@pytest.mark.parametrize("t_index", [0, 2, 4])
def test_predict_x0_matches_ddim_step(t_index):
    model = tiny_model()
    sched = make_sampling_scheduler(model.config)
    sched.set_timesteps(5)
    t = sched.timesteps[t_index]
    x_t = 3 * torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = predict_x0(model, x_t, int(t))
        ref = sched.step(model(x_t, t.expand(2)), t, x_t, eta=1.0,
                         generator=torch.Generator().manual_seed(0)).pred_original_sample
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-6)
    if t_index == 0:  # t = 999: ᾱ = 0, so x̂₀ = −v (clipped)
        torch.testing.assert_close(ours, (-model(x_t, 999)).clamp(-1, 1).detach())


def test_predict_x0_is_differentiable_in_x_t():
    model = tiny_model()
    x = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    predict_x0(model, x, 300, clip=False).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_ddim_loop_hook_and_sample():
    model = tiny_model()
    calls = []

    def hook(i, t, x_t, v, out):
        calls.append((i, int(t)))
        return out.prev_sample * 0 + 0.25 if i == 2 else None  # replace x_{i−1} at the last step

    sched = make_sampling_scheduler(model.config)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = ddim_loop(lambda x, t: model(x, t), x, sched, steps=3, generator=torch.Generator().manual_seed(1), callback=hook)
    assert calls == [(0, 999), (1, 666), (2, 332)]  # "trailing": round(1000 − k·1000/3) − 1
    assert torch.equal(y, torch.full_like(y, 0.25))

    a = sample(model, 3, steps=4, generator=torch.Generator().manual_seed(5))
    b = sample(model, 3, steps=4, generator=torch.Generator().manual_seed(5))
    c = sample(model, 3, steps=4, generator=torch.Generator().manual_seed(6))
    assert a.shape == (3, 3, 16, 16) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.abs().max() <= 1.0


def test_classifier_free_guidance_combination():
    model = tiny_model(conditional=True)
    with torch.no_grad():
        model.unet.null_cond.normal_(generator=torch.Generator().manual_seed(1))
        x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        t = torch.tensor([400, 400])
        v_c = model(x, t, model.normalize_K(torch.tensor([60.0, 60.0])))
        v_u = model(x, t)
        torch.testing.assert_close(cfg_denoiser(model, 60.0, 0.0)(x, t), v_c)
        torch.testing.assert_close(cfg_denoiser(model, 60.0, 2.0)(x, t), 3 * v_c - 2 * v_u, atol=1e-5, rtol=1e-5)
    assert float(model.normalize_K(10.0)) == -1.0 and float(model.normalize_K(110.0)) == 1.0
    with pytest.raises(InputError, match="unconditional"):
        tiny_model().normalize_K(50.0)


# --- checkpoints ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim,conditional", [(2, False), (3, True)])
def test_save_load_round_trip(tmp_path, dim, conditional):
    model = tiny_model(dim, conditional)
    model.save(tmp_path / "m")
    loaded = DiffusionModel.load(tmp_path / "m")
    assert loaded.grid == model.grid and loaded.config == model.config
    assert loaded.normalization == model.normalization
    assert loaded.step == 7 and loaded.info["material_sha256"] == "abc"
    x = torch.randn((2, 3) + model.grid, generator=torch.Generator().manual_seed(0))
    cond = torch.tensor([0.3, float("nan")]) if conditional else None
    with torch.no_grad():
        assert torch.equal(loaded(x, torch.tensor([5, 800]), cond), model(x, torch.tensor([5, 800]), cond))
    assert DiffusionModel.load(tmp_path / "m" / "model.safetensors").step == 7
    assert not list((tmp_path / "m").glob(".*"))  # no temp files left


def test_load_errors(tmp_path):
    model = tiny_model()
    d = tmp_path / "m"
    with pytest.raises(InputError, match="not found"):
        DiffusionModel.load(d)
    model.save(d)
    with pytest.raises(InputError, match="is a 2D model"):
        DiffusionModel.load(d, dim=3)

    other = tmp_path / "other"  # same files, but a config whose architecture differs
    model.save(other)
    meta = json.loads((other / "config.json").read_text())
    meta["config"]["model"]["block_channels"] = [8, 24]
    meta["config"]["model"]["mid_channels"] = [16, 24]
    (other / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="do not match"):
        DiffusionModel.load(other)

    meta["config"]["model"]["dim"] = 5
    (other / "config.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="dim"):
        DiffusionModel.load(other)

    (other / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        DiffusionModel.load(other)

    data = (d / "model.safetensors").read_bytes()
    (d / "model.safetensors").write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(InputError, match="safetensors"):
        DiffusionModel.load(d)
    (d / "model.safetensors").unlink()
    with pytest.raises(InputError, match="not found"):
        DiffusionModel.load(d)


# --- configs and figures -------------------------------------------------------------------------------

def test_configs_load_and_paper_values():
    paper = {n: load_config(f"{CONFIGS}/{n}.yaml") for n in ("paper-2d", "paper-3d")}
    assert paper["paper-2d"].model.dim == 2 and paper["paper-3d"].model.dim == 3
    for cfg in paper.values():
        t = cfg.training
        assert (t.steps, t.batch_size, t.lr, t.weight_decay, t.warmup_steps, t.grad_clip) == (100_000, 128, 1e-3, 1e-2, 5000, 1.0)
    for name in ("small-2d", "tiny-2d"):
        assert load_config(f"{CONFIGS}/{name}.yaml").model.dim == 2


def test_config_errors(tmp_path):
    with pytest.raises(InputError, match="training.stepz"):
        Config.from_dict({"training": {"stepz": 5}})
    with pytest.raises(InputError, match="model.dim"):
        Config.from_dict({"model": {"dim": "two"}})
    with pytest.raises(InputError, match="mid_channels"):
        Config.from_dict({"model": {"mid_channels": [128, 32]}})
    with pytest.raises(InputError, match="not found"):
        load_config(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("model: [unclosed")
    with pytest.raises(InputError, match="YAML"):
        load_config(tmp_path / "bad.yaml")


def test_rgb_mapping_and_grid(tmp_path):
    x = np.zeros((2, 3, 4, 4), np.float32)
    x[:, 0], x[:, 1], x[:, 2] = 1.0, -1.0, 0.0  # E max, ν min, ρ mid
    rgb = fields_to_rgb(x)
    assert rgb.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(rgb[0, 0, 0], [1.0, 0.0, 0.5])
    x3 = np.zeros((1, 3, 4, 4, 4), np.float32)
    x3[0, 0, 2] = 1.0  # the mid-slice along axis 0 is bright red; the other slices cut through it
    rgb3 = fields_to_rgb(x3)
    assert rgb3.shape == (1, 4, 4 * 3 + 2, 3)
    np.testing.assert_allclose(rgb3[0, :, :4, 0], 1.0)
    np.testing.assert_allclose(rgb3[0, :, 5:9, 0], np.where(np.arange(4)[:, None] == 2, 1.0, 0.5).repeat(4, 1))
    import matplotlib.image

    path = save_sample_grid(np.concatenate([x, x, x]), tmp_path / "g.png")
    img = matplotlib.image.imread(path)
    assert img.shape[:2] == (2 * 4 + 2, 3 * 4 + 2 * 2)  # 6 images: 2 rows of 3
