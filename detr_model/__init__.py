"""A PyTorch DETR (Carion et al. 2020) faithful to facebookresearch/detr. No Qt."""
