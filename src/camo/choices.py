"""Names the command line offers as choices, importable without torch so that ``camo --help`` answers at once.

The modules that implement them import these tuples (one list, one place); a test checks they agree with the
attack registry.
"""

#: Every attack of :mod:`camo.attacks`, by name.
ATTACK_METHODS = ("fgsm", "fgm", "bim", "pgd", "mifgsm")

#: The L∞ attacks: their ε is comparable with FGSM's (best-eps, grid, video).
LINF_METHODS = ("fgsm", "bim", "pgd", "mifgsm")

#: Where ``camo video --patch`` puts the patch on each frame.
PATCH_PLACES = ("fixed", "track")

#: The H.264 qualities (CRF) at which ``camo video`` checks that the attack survives encoding.
SURVIVAL_CRFS = (18, 23, 28)
