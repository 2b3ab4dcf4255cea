"""Encoders and heads."""
from .encoders import ENCODERS, SmallCNN, build_encoder, cifar_resnet, imagenet_resnet
from .heads import DINOHead, PredictionHead, ProjectionHead, mlp
from .text import TextTransformer
from .vit import TinyViT

__all__ = ["ENCODERS", "SmallCNN", "build_encoder", "cifar_resnet", "imagenet_resnet", "DINOHead", "PredictionHead",
           "ProjectionHead", "mlp", "TinyViT", "TextTransformer"]
