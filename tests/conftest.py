import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture
def one_torch_thread():
    """Tiny convolutions are overhead-bound: one thread is fastest and immune to a busy machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """Folder of a tiny untrained 2D model (configs/tiny-2d.yaml, 16² grid, built-in table, step 7)."""
    import torch

    from matdesign.diffusion import DiffusionModel, build_unet, load_config
    from matdesign.materials import MaterialTable

    cfg = load_config("configs/tiny-2d.yaml")
    torch.manual_seed(0)
    table = MaterialTable.builtin()
    model = DiffusionModel(build_unet(cfg.model), cfg, grid=(16, 16), normalization=table.normalization,
                           info={"material_sha256": table.sha256(), "step": 7})
    return model.save(tmp_path_factory.mktemp("model"))
