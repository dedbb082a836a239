"""Utilities: parameter and state trees, cloning, NIR interchange, plotting, tensorboard."""
