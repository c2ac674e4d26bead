import pytest
import torch
from sionna.phy.mapping import Demapper, Mapper

from semcom.link.demapping import SquareQAMDemapper


@pytest.mark.parametrize("bits_per_symbol", [2, 4, 6, 8])
def test_per_dimension_demapper_equals_sionna_app_demapper(bits_per_symbol):
    torch.manual_seed(bits_per_symbol)
    bits = torch.randint(0, 2, (8, 100 * bits_per_symbol)).float()
    x = Mapper("qam", bits_per_symbol)(bits)
    noise_var = torch.rand(8, 100) * 0.3 + 0.01
    y = x + torch.complex(torch.randn(8, 100), torch.randn(8, 100)) * (noise_var / 2).sqrt()
    reference = Demapper("app", "qam", bits_per_symbol)(y, noise_var)
    ours = SquareQAMDemapper(bits_per_symbol)(y, noise_var)
    assert ours.shape == reference.shape
    assert torch.allclose(ours, reference, atol=1e-3, rtol=1e-4)


def test_odd_constellations_are_refused():
    with pytest.raises(ValueError, match="even"):
        SquareQAMDemapper(3)
