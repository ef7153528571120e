"""ControlNet's torch-free parts: units as clients send them, preprocessors and the model folder.

The HTTP layer and the UI use these directly; the parts that need torch (loading a ControlNet,
running it inside a pipeline) live in `studio.pipeline.controlnet`.
"""
