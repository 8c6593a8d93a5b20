"""Making a model: data sets and their audit, FER+ votes, pretrained backbones, training runs,
distillation, blending, export and shipping, evaluation; and frames built from real faces for tests
and benchmarks (``compose``, ``clips``). Serving code never imports this package."""
