"""Training: data sets, pretrained backbones, training runs, export and evaluation."""
