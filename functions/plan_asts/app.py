"""Lambda entry point: Draw the field's fakes and write them, the workers' request and the chunk manifest."""

from cloudphot.asts.steps import plan_asts
from cloudphot.platform import make_handler

handler = make_handler(plan_asts, metric="AstsPlanned")
