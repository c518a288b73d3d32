"""Unit tests of translate.nn: generators, the PatchGAN and its receptive field, GAN objectives,
the gradient penalty, the image pool, the learning-rate schedule, the initialization, the
weight averaging and the Winograd convolution."""
from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from translate.nn.averaging import averaged_copies, update_average
from translate.nn.discriminators import NLayerDiscriminator, receptive_field
from translate.nn.direct import direct_convolutions
from translate.nn.generators import ResnetGenerator, UnetGenerator
from translate.nn.image_conv import ImageConv2d, conv2d_by_rows, conv2d_input_grad_by_rows
from translate.nn.layers import SmallOutputConv2d, init_weights, maybe_spectral_norm, norm_layer
from translate.nn.losses import OBJECTIVES, GANLoss, gradient_penalty
from translate.nn.pool import ImagePool
from translate.nn.schedules import LinearDecay, linear_decay
from translate.nn.winograd import WinogradConv2d, winograd_conv3x3


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


# -- generators ----------------------------------------------------------------------------------

@pytest.mark.parametrize("in_ch, out_ch, h, w", [(3, 3, 32, 32), (1, 3, 24, 40), (3, 1, 36, 28)])
@pytest.mark.parametrize("norm", ["instance", "batch", "none"])
def test_resnet_generator_shape_and_tanh_range(in_ch, out_ch, h, w, norm):
    g = ResnetGenerator(in_ch, out_ch, ngf=8, n_blocks=2, norm=norm).eval()
    assert h % g.size_multiple == 0 and w % g.size_multiple == 0
    assert isinstance(g.model[-1], nn.Tanh)
    with torch.no_grad():
        g.model[-2].weight.mul_(1000)      # huge pre-activations: tanh must still bound them
        y = g(torch.randn(2, in_ch, h, w))
    assert y.shape == (2, out_ch, h, w)
    assert y.min() >= -1 and y.max() <= 1 and y.abs().max() > 0.99


def test_resnet_generator_dropout_only_in_training():
    g = ResnetGenerator(3, 3, ngf=8, n_blocks=1, use_dropout=True)
    assert any(isinstance(m, nn.Dropout) for m in g.modules())
    x = torch.randn(1, 3, 16, 16)
    g.eval()
    assert torch.equal(g(x), g(x))
    g.train()
    assert not torch.equal(g(x), g(x))


@pytest.mark.parametrize("num_downs, size", [(5, 32), (6, 64)])
def test_unet_generator_shape_and_tanh_range(num_downs, size):
    g = UnetGenerator(3, 2, num_downs=num_downs, ngf=8).eval()
    assert g.size_multiple == 2 ** num_downs
    outermost = g.model.model
    assert isinstance(outermost[-1], nn.Tanh)
    with torch.no_grad():
        outermost[-2].weight.mul_(1000)
        y = g(torch.randn(2, 3, size, size))
    assert y.shape == (2, 2, size, size)
    assert y.min() >= -1 and y.max() <= 1 and y.abs().max() > 0.99


def test_unet_skip_connections_carry_the_input():
    """The outermost level concatenates nothing, every other level concatenates its input."""
    g = UnetGenerator(3, 3, num_downs=5, ngf=4).eval()
    inner = g.model.model[1]                 # the level below the outermost
    x = torch.randn(1, 4, 16, 16)
    out = inner(x)
    assert out.shape[1] == 8 and torch.equal(out[:, :4], x)


# -- PatchGAN ----------------------------------------------------------------------------------------

def window(index: int, n_layers: int) -> tuple[int, int]:
    """The input rows [lo, hi] one PatchGAN output row sees, walking back through the layers:
    n_layers stride-2 convs (k4, p1), one stride-1 conv (k4, p1), the final conv (k4, p1)."""
    layers = [(4, 2, 1)] * n_layers + [(4, 1, 1), (4, 1, 1)]
    lo = hi = index
    for k, s, p in reversed(layers):
        lo, hi = lo * s - p, hi * s - p + k - 1
    return lo, hi


def test_receptive_field_formula():
    assert [receptive_field(n) for n in (1, 2, 3)] == [16, 34, 70]
    for n in (1, 2, 3):
        lo, hi = window(5, n)
        assert hi - lo + 1 == receptive_field(n)


def test_patchgan_output_sees_exactly_its_70x70_patch():
    d = NLayerDiscriminator(1, ndf=4, n_layers=3, norm="none").double()  # no norm: outputs are local
    x = torch.randn(1, 1, 160, 160, dtype=torch.float64, requires_grad=True)
    out = d(x)
    assert out.shape == (1, 1, 18, 18)
    i, j = 9, 8
    out[0, 0, i, j].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(0)).flatten()
    assert (rows.min().item(), rows.max().item()) == window(i, 3)
    assert (cols.min().item(), cols.max().item()) == window(j, 3)
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_perturbing_a_pixel_moves_exactly_the_outputs_whose_patch_contains_it():
    d = NLayerDiscriminator(1, ndf=4, n_layers=3, norm="none").double().eval()
    x = torch.randn(1, 1, 128, 128, dtype=torch.float64)
    r, c = 70, 41
    x2 = x.clone()
    x2[0, 0, r, c] += 1.0
    with torch.no_grad():
        moved = (d(x2) - d(x)).abs()[0, 0] > 1e-12
    expected = torch.zeros_like(moved)
    for i in range(moved.shape[0]):
        for j in range(moved.shape[1]):
            (r0, r1), (c0, c1) = window(i, 3), window(j, 3)
            expected[i, j] = r0 <= r <= r1 and c0 <= c <= c1
    assert expected.any() and not expected.all()
    assert torch.equal(moved, expected)


# -- GAN objectives ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", OBJECTIVES)
def test_d_loss_prefers_well_separated_logits(mode):
    loss = GANLoss(mode)
    real, fake = torch.full((4, 1, 3, 3), 3.0), torch.full((4, 1, 3, 3), -3.0)
    good, swapped = loss.d_loss(real, fake), loss.d_loss(fake, real)
    assert good < swapped
    # The one-sided halves add up to the full loss.
    halves = loss.d_loss_half(real, True) + loss.d_loss_half(fake, False)
    assert torch.allclose(halves, good)


@pytest.mark.parametrize("mode", OBJECTIVES)
def test_g_loss_decreases_as_fake_logits_rise(mode):
    loss = GANLoss(mode)
    top = 1.0 if mode == "lsgan" else 4.0   # least squares: the target for fakes is 1
    values = [loss.g_loss(torch.full((2, 1, 2, 2), v)).item() for v in torch.linspace(-4, top, 11).tolist()]
    assert all(a > b for a, b in zip(values, values[1:])), values


@pytest.mark.parametrize("mode", OBJECTIVES)
def test_losses_are_fp32_for_half_logits(mode):
    loss = GANLoss(mode)
    logits = torch.randn(2, 1, 4, 4).half()
    assert loss.d_loss(logits, logits).dtype == torch.float32
    assert loss.g_loss(logits).dtype == torch.float32


def test_unknown_objective():
    with pytest.raises(ValueError, match="must be one of"):
        GANLoss("wasserstein")


# -- gradient penalty ----------------------------------------------------------------------------------

class LinearCritic(nn.Module):
    """D(x) = <w, x> per sample: its input gradient is w everywhere, of norm ||w||."""

    def __init__(self, shape, norm):
        super().__init__()
        w = torch.randn(shape, dtype=torch.float64)
        self.w = nn.Parameter(w / w.norm() * norm)

    def forward(self, x):
        return (x.double() * self.w).flatten(1).sum(1)


def test_gradient_penalty_is_zero_for_a_1_lipschitz_critic():
    critic = LinearCritic((3, 8, 8), norm=1.0)
    real, fake = torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_is_positive_for_a_steep_critic_and_trains_it():
    critic = LinearCritic((3, 8, 8), norm=5.0)
    real, fake = torch.randn(5, 3, 8, 8), torch.randn(5, 3, 8, 8)
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2, rel=1e-6)
    gp.backward()  # create_graph=True: the penalty's gradient reaches the critic's weights
    assert critic.w.grad is not None and critic.w.grad.abs().sum() > 0


def test_gradient_penalty_select_picks_one_output():
    steep, flat = LinearCritic((1, 4, 4), norm=3.0), LinearCritic((1, 4, 4), norm=1.0)

    def two_heads(x):
        return flat(x), steep(x)

    real, fake = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    assert gradient_penalty(two_heads, real, fake, select=lambda out: out[0]).item() == pytest.approx(0.0, abs=1e-10)
    assert gradient_penalty(two_heads, real, fake, select=lambda out: out[1]).item() == pytest.approx(4.0, rel=1e-6)


# -- image pool -------------------------------------------------------------------------------------------

def images(*values):
    return torch.stack([torch.full((1, 2, 2), float(v)) for v in values])


def labels(batch):
    return [int(t.flatten()[0].item()) for t in batch]


def test_image_pool_returns_new_images_until_full_then_a_mix():
    pool = ImagePool(size=3, seed=0)
    assert labels(pool.query(images(0, 1))) == [0, 1]
    assert labels(pool.query(images(2))) == [2]            # now full: 0, 1, 2
    seen_new = seen_old = 0
    stored = {0, 1, 2}
    for k in range(3, 60):
        (out,) = labels(pool.query(images(k)))
        if out == k:
            seen_new += 1
        else:
            assert out in stored, "an old image must come from the pool"
            seen_old += 1
            stored.discard(out)
            stored.add(k)           # the new image took its place
        assert len(pool.images) == 3
        assert set(labels(pool.images)) == stored
    assert seen_new > 10 and seen_old > 10


def test_image_pool_of_size_zero_passes_through():
    pool = ImagePool(size=0)
    batch = images(1, 2, 3)
    assert pool.query(batch) is batch and pool.images == []


def test_image_pool_state_round_trip_reproduces_future_outputs():
    pool = ImagePool(size=4, seed=3)
    for k in range(10):
        pool.query(images(k, 100 + k))
    buffer = io.BytesIO()
    torch.save(pool.state_dict(), buffer)  # plain data: loadable like a checkpoint
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    copy = ImagePool(size=4, seed=999)
    copy.load_state_dict(state)
    for k in range(10, 40):
        assert labels(pool.query(images(k, 100 + k))) == labels(copy.query(images(k, 100 + k)))
    # Without the state, another pool gives other outputs.
    other = ImagePool(size=4, seed=999)
    assert [labels(other.query(images(k))) for k in range(40)] != [[k] for k in range(40)]


# -- schedules ------------------------------------------------------------------------------------------

def test_linear_decay_constant_then_linear_to_zero():
    f = LinearDecay(total_steps=10, decay_start=0.5)
    assert [f(s) for s in range(6)] == [1.0] * 6
    assert [round(f(s), 6) for s in range(5, 11)] == [1.0, 0.8, 0.6, 0.4, 0.2, 0.0]
    assert f(12) == 0.0
    assert LinearDecay(10, 0.0)(0) == 1.0 and LinearDecay(10, 0.0)(5) == pytest.approx(0.5)


def test_linear_decay_scheduler_on_an_optimizer_and_its_state():
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = linear_decay(opt, total_steps=8, decay_start=0.25)
    lrs = []
    for _ in range(8):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:3] == [0.1, 0.1, 0.1]
    assert all(a > b for a, b in zip(lrs[2:], lrs[3:]))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    buffer = io.BytesIO()
    torch.save(sched.state_dict(), buffer)  # checkpoints are loaded with weights_only=True
    buffer.seek(0)
    assert torch.load(buffer, weights_only=True)["last_epoch"] == 8


# -- layers and initialization -----------------------------------------------------------------------------

def test_init_weights_normal_002():
    net = nn.Sequential(nn.Conv2d(32, 64, 3), nn.BatchNorm2d(64), nn.Linear(100, 200),
                        maybe_spectral_norm(nn.Conv2d(32, 64, 3), True))
    init_weights(net, "normal", 0.02)
    conv, bn, lin, sn = net
    for w in (conv.weight, lin.weight, sn.parametrizations.weight.original):
        assert w.mean().abs() < 0.002 and w.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.all(conv.bias == 0) and torch.all(lin.bias == 0)
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.01) and bn.weight.std().item() == pytest.approx(0.02, rel=0.25)
    assert torch.all(bn.bias == 0)


def test_init_weights_other_kinds_and_unknown():
    conv = nn.Conv2d(16, 16, 3)
    init_weights(conv, "xavier", 1.0)
    assert conv.weight.std().item() == pytest.approx((2 / (16 * 9 * 2)) ** 0.5, rel=0.1)
    with pytest.raises(ValueError, match="unknown init"):
        init_weights(nn.Conv2d(1, 1, 1), "uniformish")


def test_norm_layer_kinds():
    assert isinstance(norm_layer("batch")(4), nn.BatchNorm2d)
    inorm = norm_layer("instance")(4)
    assert isinstance(inorm, nn.InstanceNorm2d) and not inorm.track_running_stats
    assert isinstance(norm_layer("none")(4), nn.Identity)
    with pytest.raises(ValueError, match="norm must be"):
        norm_layer("group")


class _OpsCalled(torch.utils._python_dispatch.TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func._overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("size, bias, matmul", [(4, True, True), (8, False, True), (12, True, False)])
def test_small_output_conv_is_the_same_convolution_through_the_double_backward(size, bias, matmul):
    """Outputs of up to 4x4 positions go through one matrix product (4x4 and 8x8 inputs here),
    larger ones (6x6 from 12x12) through the plain convolution; values, gradients and the gradient penalty's
    second-order gradients are the convolution's."""
    torch.manual_seed(0)
    conv = SmallOutputConv2d(6, 5, 4, stride=2, padding=1, bias=bias).double()
    x = torch.randn(2, 6, size, size, dtype=torch.double, requires_grad=True)
    with _OpsCalled() as ops:
        y = conv(x)
    assert ("convolution" not in ops.names) == matmul
    torch.testing.assert_close(y, torch.nn.functional.conv2d(x, conv.weight, conv.bias, 2, 1))
    torch.testing.assert_close(conv(x[0]), y[0])     # an unbatched image, as Conv2d takes it
    channels_last = copy.deepcopy(conv).to(memory_format=torch.channels_last)
    torch.testing.assert_close(channels_last(x.contiguous(memory_format=torch.channels_last)), y)
    assert torch.autograd.gradcheck(conv, (x,)) and torch.autograd.gradgradcheck(conv, (x,))



# -- weight averaging ----------------------------------------------------------------------------
def test_weight_average_is_the_bias_corrected_exponential_mean_and_copies_buffers():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    average = averaged_copies({"net": net})
    assert not any(p.requires_grad for p in average.parameters())
    decay, history = 0.5, []
    for step in (1, 2, 3):
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn_like(p))
        net.train()(torch.randn(4, 3))   # moves the batch-norm statistics
        history.append([p.detach().clone() for p in net.parameters()])
        update_average(average, {"net": net}, decay, step)
        if step == 1:   # the initial weights get no share: the first average is the weights
            for a, p in zip(average["net"].parameters(), net.parameters()):
                assert torch.equal(a, p)
    norm = sum(decay ** (3 - i) for i in (1, 2, 3))
    for k, avg in enumerate(average["net"].parameters()):
        expected = sum(decay ** (3 - i) * history[i - 1][k] for i in (1, 2, 3)) / norm
        assert torch.allclose(avg, expected, atol=1e-6)
    for a, b in zip(average["net"].buffers(), net.buffers()):
        assert torch.equal(a, b)


# -- Winograd convolutions -------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(8, 8), (11, 6), (1, 3)])   # whole tiles, partial tiles, less than one
def test_winograd_conv3x3_is_the_convolution_with_its_gradients(size):
    x = torch.randn(2, 3, size[0] + 2, size[1] + 2, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.allclose(winograd_conv3x3(x, w, b), F.conv2d(x, w, b), atol=1e-9)
    assert torch.autograd.gradcheck(winograd_conv3x3, (x, w, b))
    # A gradient penalty through it (a second derivative) fails loudly instead of being wrong.
    y = nn.Conv2d(4, 1, 1).double()(torch.relu(winograd_conv3x3(x, w, b))).sum()
    (gx,) = torch.autograd.grad(y, x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        gx.square().sum().backward()


@pytest.mark.parametrize("padding, mode", [(1, "reflect"), (1, "zeros"), ("same", "zeros"), (0, "zeros")])
def test_winograd_conv2d_matches_conv2d_in_float32_and_keeps_its_state_dict(padding, mode, monkeypatch):
    monkeypatch.setattr(WinogradConv2d, "min_channels", 8)
    monkeypatch.setattr(WinogradConv2d, "min_tiles", 1)
    conv = WinogradConv2d(8, 16, 3, padding=padding, padding_mode=mode)
    plain = nn.Conv2d(8, 16, 3, padding=padding, padding_mode=mode)
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(2, 8, 13, 10, requires_grad=True)
    with torch.profiler.profile() as prof:
        y = conv(x)
    ops = {e.name for e in prof.events()}
    assert {"_Winograd3x3", "aten::bmm"} <= ops, "the Winograd path was not taken"
    y_ref = plain(x)
    assert torch.allclose(y, y_ref, atol=1e-4, rtol=1e-4)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, (x, conv.weight, conv.bias), g)
    grads_ref = torch.autograd.grad(y_ref, (x, plain.weight, plain.bias), g)
    for a, b in zip(grads, grads_ref):
        assert torch.allclose(a, b, atol=1e-3, rtol=1e-4)


def test_winograd_conv2d_is_a_plain_conv2d_where_winograd_does_not_apply(monkeypatch):
    monkeypatch.setattr(WinogradConv2d, "min_channels", 8)
    monkeypatch.setattr(WinogradConv2d, "min_tiles", 8)
    x = torch.randn(2, 8, 8, 8)
    assert WinogradConv2d(8, 8, 3, padding=1)._use_winograd(x)                # 2 x 2 x 2 output tiles
    assert not WinogradConv2d(8, 8, 3, padding=1)._use_winograd(x[:1])        # too few tiles
    assert not WinogradConv2d(8, 4, 3, padding=1)._use_winograd(x)            # too narrow
    assert not WinogradConv2d(8, 8, 3, stride=2, padding=1)._use_winograd(x)  # strided
    assert not WinogradConv2d(8, 8, 5, padding=2)._use_winograd(x)            # not 3x3
    assert not WinogradConv2d(8, 8, 3, padding=1)._use_winograd(x.double())   # not float32
    with torch.autocast("cpu", dtype=torch.bfloat16):                        # reduced precision
        assert not WinogradConv2d(8, 8, 3, padding=1)._use_winograd(x)
    assert not WinogradConv2d(8, 8, 3, padding=1)._use_winograd(x[0])         # unbatched
    with torch.no_grad():                                                    # inference: the ONNX export's job
        assert not WinogradConv2d(8, 8, 3, padding=1)._use_winograd(x)


def test_winograd_calls_between_optimizer_steps_share_one_transformed_weight(monkeypatch):
    from translate.nn import winograd

    monkeypatch.setattr(WinogradConv2d, "min_channels", 1)
    monkeypatch.setattr(WinogradConv2d, "min_tiles", 1)
    conv = WinogradConv2d(4, 4, 3, padding=1)
    plain = nn.Conv2d(4, 4, 3, padding=1)
    plain.load_state_dict(conv.state_dict())
    x1, x2 = torch.randn(1, 4, 8, 8), torch.randn(2, 4, 6, 6)
    y = conv(x1).square().sum() + conv(conv(x2)).sum()         # three calls, one transform
    assert conv in winograd._transformed
    y.backward()
    assert conv not in winograd._transformed                   # the backward pass ended the share
    (plain(x1).square().sum() + plain(plain(x2)).sum()).backward()
    assert torch.allclose(conv.weight.grad, plain.weight.grad, atol=1e-4, rtol=1e-4)
    conv.weight.requires_grad_(False)
    conv(x1)
    assert conv not in winograd._transformed                   # a frozen weight shares nothing
    conv.weight.requires_grad_(True)
    conv(x1)
    torch.optim.Adam(conv.parameters(), fused=True).step()    # fused kernels keep the version counter
    assert conv not in winograd._transformed
    before = conv(x1)
    with torch.no_grad():
        conv.weight.mul_(2)                                     # an in-place edit is seen
    assert torch.allclose(conv(x1) - conv.bias.view(1, -1, 1, 1), 2 * (before - conv.bias.view(1, -1, 1, 1)),
                          atol=1e-4)


# -- convolutions with an image's few channels ---------------------------------------------------

@pytest.mark.parametrize("k, c, kernel", [(3, 5, (7, 7)), (1, 4, (3, 5)), (2, 3, (1, 3))])
def test_convolution_by_rows_and_its_input_gradient_are_the_convolution_to_second_order(k, c, kernel):
    x = torch.randn(2, c, 11, 9, dtype=torch.float64, requires_grad=True)
    w = torch.randn(k, c, *kernel, dtype=torch.float64, requires_grad=True)
    y = conv2d_by_rows(x, w)
    torch.testing.assert_close(y, F.conv2d(x, w))
    g = torch.randn_like(y, requires_grad=True)
    (gx_ref,) = torch.autograd.grad(F.conv2d(x, w), x, g)
    torch.testing.assert_close(conv2d_input_grad_by_rows(g, w), gx_ref)
    assert torch.autograd.gradcheck(conv2d_by_rows, (x, w)) and torch.autograd.gradgradcheck(conv2d_by_rows, (x, w))
    assert torch.autograd.gradcheck(conv2d_input_grad_by_rows, (g, w))
    assert torch.autograd.gradgradcheck(conv2d_input_grad_by_rows, (g, w))


def _grad_fns(y):
    """The names of the autograd nodes that produced y."""
    names, todo = set(), [y.grad_fn]
    while todo:
        fn = todo.pop()
        if fn is not None and type(fn).__name__ not in names:
            names.add(type(fn).__name__)
            todo += [f for f, _ in fn.next_functions]
    return names


@pytest.mark.parametrize("c_in, c_out, mode, path", [(16, 3, "reflect", "_ShiftedRowSumBackward"),
                                                     (3, 16, "zeros", "_RowsInputGradientBackward"),
                                                     (1, 2, "reflect", "_ShiftedRowSumBackward")])
def test_image_conv2d_matches_conv2d_in_float32_with_its_state_dict(c_in, c_out, mode, path):
    conv = ImageConv2d(c_in, c_out, 7, padding=3, padding_mode=mode)
    plain = nn.Conv2d(c_in, c_out, 7, padding=3, padding_mode=mode)
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(2, c_in, 20, 17, requires_grad=True)
    y, y_ref = conv(x), plain(x)
    assert path in _grad_fns(y), "the by-rows path was not taken"
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(conv(x.contiguous(memory_format=torch.channels_last)), y_ref, atol=1e-5, rtol=1e-4)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, (x, conv.weight, conv.bias), g)
    for a, b in zip(grads, torch.autograd.grad(y_ref, (x, plain.weight, plain.bias), g)):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_image_conv2d_input_gradient_carries_a_gradient_penalty():
    """A second derivative through the RGB input layer (e.g. a penalty on the gradient with
    respect to the image) is the convolution's."""
    conv = ImageConv2d(3, 16, 7, padding=3)
    plain = nn.Conv2d(3, 16, 7, padding=3)
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(2, 3, 12, 12, requires_grad=True)
    grads = []
    for net in (conv, plain):
        (gx,) = torch.autograd.grad(torch.tanh(net(x)).square().sum(), x, create_graph=True)
        grads.append(torch.autograd.grad(gx.square().sum(), net.weight)[0])
    assert grads[1].abs().max() > 0
    torch.testing.assert_close(grads[0], grads[1], atol=1e-4, rtol=1e-4)


def test_image_conv2d_is_a_plain_conv2d_where_rows_do_not_apply(monkeypatch):
    from translate.nn import image_conv

    rows = {"_ShiftedRowSumBackward", "_RowsInputGradientBackward"}
    x = torch.randn(2, 3, 12, 12, requires_grad=True)
    wide = torch.randn(2, 16, 12, 12, requires_grad=True)
    assert not rows & _grad_fns(ImageConv2d(16, 16, 7, padding=3)(wide))        # no few-channel side
    assert not rows & _grad_fns(ImageConv2d(3, 16, 7, padding=3)(x.detach()))   # no input gradient wanted
    assert not rows & _grad_fns(ImageConv2d(16, 3, 7, stride=2, padding=3)(wide))
    assert not rows & _grad_fns(ImageConv2d(16, 3, (1, 7), padding=(0, 3))(wide))   # one row already
    assert not rows & _grad_fns(ImageConv2d(16, 3, 7, padding=3).double()(wide.double()))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not rows & _grad_fns(ImageConv2d(16, 3, 7, padding=3)(wide))
    with direct_convolutions():
        assert not rows & _grad_fns(ImageConv2d(16, 3, 7, padding=3)(wide))
    assert "_ShiftedRowSumBackward" in _grad_fns(ImageConv2d(16, 3, 7, padding=3)(wide))   # the switch is undone
    # Inference of an RGB output layer takes rows too.
    calls = []
    monkeypatch.setattr(image_conv, "conv2d_by_rows", lambda *a: calls.append(a) or F.conv2d(*a))
    with torch.no_grad():
        ImageConv2d(16, 3, 7, padding=3)(wide)
    assert len(calls) == 1

