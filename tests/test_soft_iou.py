"""The tracker's threshold-free IoU (lecture 01): a uniform, spread-out propagated mask scores near 0 with the 0.5
threshold (nothing passes it) and a small but positive soft IoU; hard masks score the same under both."""
import torch

from ssl_course.tracking import mask_iou, propagate_mask, soft_iou


def test_soft_iou_equals_hard_iou_on_hard_masks():
    g = torch.Generator().manual_seed(0)
    a = (torch.rand(3, 1, 8, 8, generator=g) > 0.5).float()
    b = (torch.rand(3, 1, 8, 8, generator=g) > 0.5).float()
    torch.testing.assert_close(soft_iou(a, b), mask_iou(a, b))


def test_uniform_attention_is_a_threshold_artefact_under_hard_iou():
    truth = torch.zeros(1, 1, 16, 16)
    truth[..., 4:8, 4:8] = 1  # the object covers 1/16 of the frame
    uniform = torch.full((1, 16, 16), 1 / 16)  # every target cell copies from every reference cell equally
    propagated = propagate_mask(uniform, truth, (16, 16))
    assert torch.allclose(propagated, torch.full_like(propagated, 1 / 16))  # the object's area fraction everywhere
    assert float(mask_iou(propagated, truth)) == 0.0  # nothing exceeds 0.5
    expected = (16 * (1 / 16)) / (16 + 240 * (1 / 16))  # sum(min) / sum(max)
    assert abs(float(soft_iou(propagated, truth)) - expected) < 1e-6
    assert float(soft_iou(truth, truth)) == 1.0
