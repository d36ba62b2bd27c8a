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

#: The training methods, with what each does (the CLI shows these).
TRAIN_METHODS: dict[str, str] = {
    "fgsm-rs": "FGSM from a uniform random start in the ε-ball, step α (default 1.25 ε) — Wong et al. 2020",
    "n-fgsm": "FGSM from noise of 2 ε, step α (default ε), not clipped back to the ε-ball — de Jorge et al. 2022",
    "pgd": "PGD, --pgd-steps steps of α (default 2.5 ε / steps) from a random start — Madry et al. 2018",
    "fgsm": "FGSM from the clean image, step α (default ε): the setting that catastrophically overfits",
    "none": "no attack: plain training, for comparison",
}

#: The face cloak's presets, weakest to strongest (``camo.face.cloak_config.PRESETS``; a test checks they agree), and
#: the one used when none is given (``camo cloak``, the web page, ``camo.face.cloak.cloak``).
CLOAK_PRESETS = ("low", "mid", "high")
DEFAULT_PRESET = "low"

#: The built-in classifiers (``camo.models.zoo.BUILTIN`` describes each; a test checks they agree).
BUILTIN_MODELS = ("mnist", "imagenet", "mnist-robust")
