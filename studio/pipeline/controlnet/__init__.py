"""ControlNet in the pipeline: loading models from `models/ControlNet` and running units.

`loading` turns a model file or folder into a diffusers `ControlNetModel` (offline);
`units` builds the ControlNet variant of a mode's pipeline and the call's keyword arguments.
"""
