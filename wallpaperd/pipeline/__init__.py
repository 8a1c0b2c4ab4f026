"""The image pipeline: one module per stage, plus models, tiling maths and validation."""
