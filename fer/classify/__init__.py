"""Naming a face's expression: model loading and the classifier (``model``), and why it said so
(``explain``, ``occlusion``, ``faithfulness``)."""
