"""On-the-fly augmentation of training audio, built from a recipe's ``augment`` section.

One transform a module, in audiomentations' style; :mod:`workbench.augment.pipeline` puts
them together. ``workbench.augment.checks`` holds their range rules (no heavy imports).
"""
