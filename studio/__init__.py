"""Atelier studio: a Gradio UI and REST API over a Diffusers pipeline."""
