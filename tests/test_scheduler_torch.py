"""StepScheduler against real PyTorch (skipped where torch is not installed)."""

from __future__ import annotations

import io
import math

import pytest

from stepsched_cli import StepScheduler

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")


def make_optimizer() -> torch.optim.Optimizer:
    model = torch.nn.Linear(2, 1)
    return torch.optim.SGD(
        [{"params": [model.weight], "lr": 0.1}, {"params": [model.bias], "lr": 0.03}],
        lr=0.1,
        momentum=0.9,
    )


def test_drives_a_real_optimizer_like_steplr() -> None:
    ours_optimizer, torch_optimizer = make_optimizer(), make_optimizer()
    ours = StepScheduler(0.1, step_size=7, gamma=0.5, optimizer=ours_optimizer)
    reference = torch.optim.lr_scheduler.StepLR(torch_optimizer, step_size=7, gamma=0.5)
    for _ in range(200):
        ours_lrs = [group["lr"] for group in ours_optimizer.param_groups]
        torch_lrs = [group["lr"] for group in torch_optimizer.param_groups]
        assert all(
            math.isclose(a, b, rel_tol=1e-12) for a, b in zip(ours_lrs, torch_lrs, strict=True)
        )
        ours_optimizer.step()
        torch_optimizer.step()
        ours.step()
        reference.step()


def test_state_dict_survives_a_weights_only_torch_checkpoint() -> None:
    optimizer = make_optimizer()
    scheduler = StepScheduler(0.1, step_size=30, optimizer=optimizer)
    for _ in range(45):
        optimizer.step()
        scheduler.step()
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    assert checkpoint["scheduler"] == scheduler.state_dict()

    resumed_optimizer = make_optimizer()
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    resumed = StepScheduler(0.1, step_size=30, optimizer=resumed_optimizer)
    resumed.load_state_dict(checkpoint["scheduler"])
    assert resumed.position == 45
    assert [group["lr"] for group in resumed_optimizer.param_groups] == [0.01, 0.003]
    for _ in range(15):
        resumed.step()
    assert [group["lr"] for group in resumed_optimizer.param_groups] == [0.001, 0.0003]


def test_initial_lr_is_recorded_in_the_groups_for_torch_resume() -> None:
    optimizer = make_optimizer()
    StepScheduler(0.1, step_size=30, optimizer=optimizer)
    assert [group["initial_lr"] for group in optimizer.param_groups] == [0.1, 0.03]
    # torch's own scheduler can now be built mid-run from the same optimizer.
    torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, last_epoch=44)
