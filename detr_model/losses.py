"""The training loss two configs describe: `build_criterion` picks the matcher, the loss
weights (auxiliary, denoising and query-group terms) and the classification loss (softmax
cross-entropy, or sigmoid focal for models with class_score "sigmoid")."""

from __future__ import annotations

from detr_model.config import ModelConfig
from detr_model.criterion import SetCriterion, with_aux_weights
from detr_model.focal import FocalHungarianMatcher, FocalSetCriterion
from detr_model.matcher import HungarianMatcher
from detr_model.train_config import TrainConfig


def build_criterion(model_config: ModelConfig, train_config: TrainConfig) -> SetCriterion:
    """Returns the SetCriterion (matcher, weights, ∅ coefficient) the two configs describe."""
    costs = {
        "cost_class": train_config.set_cost_class,
        "cost_bbox": train_config.set_cost_bbox,
        "cost_giou": train_config.set_cost_giou,
    }
    weights = {
        "loss_ce": train_config.ce_loss_coef,
        "loss_bbox": train_config.bbox_loss_coef,
        "loss_giou": train_config.giou_loss_coef,
    }
    base = dict(weights)
    if model_config.dn_groups > 0:
        weights.update({f"{k}_dn": v for k, v in base.items()})
    num_aux = model_config.num_decoder_layers - 1 if model_config.aux_loss else 0
    if model_config.query_groups > 1:
        weights.update({f"{k}_grp": v for k, v in with_aux_weights(base, num_aux).items()})
    losses = ["labels", "boxes", "cardinality"]
    weights = with_aux_weights(weights, num_aux)
    options = {"eos_coef": train_config.eos_coef, "losses": losses}
    if model_config.class_score == "sigmoid":
        focal = {"alpha": train_config.focal_alpha, "gamma": train_config.focal_gamma}
        matcher = FocalHungarianMatcher(**costs, **focal)
        return FocalSetCriterion(model_config.num_classes, matcher, weights, **options, **focal)
    return SetCriterion(model_config.num_classes, HungarianMatcher(**costs), weights, **options)
