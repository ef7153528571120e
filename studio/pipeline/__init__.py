"""Model registry, loader, samplers, infotext and the generation engine."""
