"""cloudphot: resolved-star photometry of HST-style surveys on serverless AWS, and locally.

The library holds all logic; Lambda handlers (``functions/``), ECS entry points
(``ecs_tasks/``) and the CLI are thin shells over it.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
