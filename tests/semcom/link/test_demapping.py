import pytest
import torch
from sionna.phy.mapping import Demapper, Mapper

from semcom.link.demapping import SquareQAMDemapper, SquareQAMMapper


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


@pytest.mark.parametrize("bits_per_symbol", [2, 4, 6, 8])
def test_mapper_gives_sionnas_symbols(bits_per_symbol):
    torch.manual_seed(bits_per_symbol)
    bits = torch.randint(0, 2, (3, 5, 40 * bits_per_symbol)).float()
    ours = SquareQAMMapper(bits_per_symbol)(bits)
    assert ours.dtype == torch.complex64
    assert torch.equal(ours, Mapper("qam", bits_per_symbol)(bits))


def test_odd_constellations_and_partial_symbols_are_refused():
    for cls in (SquareQAMDemapper, SquareQAMMapper):
        with pytest.raises(ValueError, match="even"):
            cls(3)
    with pytest.raises(ValueError, match="do not fill"):
        SquareQAMMapper(4)(torch.zeros(2, 6))
