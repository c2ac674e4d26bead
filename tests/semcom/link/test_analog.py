import pytest
import torch

from semcom.errors import InputError
from semcom.link.analog import AnalogLink, complex_to_real, real_to_complex


@pytest.mark.parametrize("channel,options", [("awgn", {}), ("rayleigh", {"block_length": 8, "equalizer": "mmse"})])
def test_power_constraint_and_gradients(channel, options):
    link = AnalogLink(channel, seed=0, **options)
    z = (3 * torch.randn(5, 64, dtype=torch.complex64)).requires_grad_()
    out = link(z, snr_db=torch.linspace(0, 20, 5))
    power = out.sent.abs().square().mean(dim=1)
    assert torch.allclose(power, torch.ones(5), atol=1e-5)
    loss = (out.symbols - out.sent.detach()).abs().square().mean()
    loss.backward()
    assert z.grad is not None and torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0
    assert out.channel_uses == 64


def test_real_complex_round_trip():
    f = torch.randn(3, 10)
    assert torch.equal(complex_to_real(real_to_complex(f)), f)


def test_bad_input():
    link = AnalogLink("awgn")
    with pytest.raises(InputError, match="complex"):
        link(torch.randn(2, 8), 10.0)
    with pytest.raises(InputError, match="NaN"):
        link(torch.full((2, 8), float("nan"), dtype=torch.complex64), 10.0)
    with pytest.raises(InputError, match="finite"):
        link(torch.ones(2, 8, dtype=torch.complex64), float("inf"))
    with pytest.raises(InputError, match=r"\[batch, 2n\]"):
        real_to_complex(torch.randn(2, 7))
