"""The architectures by name: what each model file holds and reads, the same as the tinygrad nets."""
import pytest
from tinygrad.nn.state import get_state_dict

from pic2emoji.archs import ARCHS, convolutions, head, reads, weight_shapes
from pic2emoji.net import ARCHITECTURES


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_the_weights_named_are_the_tinygrad_nets_own(arch):
    net = ARCHITECTURES[arch](11)
    assert weight_shapes(arch, 11) == {k: tuple(v.shape) for k, v in get_state_dict(net).items()}
    assert reads(arch) == net.reads
    convs = [net.layers[int(name.split(".")[1])] for name, *_ in convolutions(arch)]
    assert [(c.weight.shape[-1], c.stride if isinstance(c.stride, int) else c.stride[0]) for c in convs] == \
           [(size, stride) for _, size, stride, _ in convolutions(arch)]
    assert len(head(arch)) == (1 if ARCHS[arch].get("rank") is None else 2)


def test_a_half_net_reads_18_px_and_the_others_36():
    assert reads("tinyconv-hr64") == 18 and reads("tinyconv-r64") == reads("tinyconv") == reads("tinyconv-s2r64") == 36
