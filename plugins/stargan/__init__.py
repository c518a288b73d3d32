"""StarGAN (Choi et al. 2018): one generator translates an image to any of several domains.

Registration is torch-free; the model lives in `translate.plugins.stargan.model`.
"""
from translate import hookimpl


@hookimpl
def register_models(register):
    register.model("stargan", "translate.plugins.stargan.model:StarGAN",
                   summary="StarGAN: one generator for many domains (label-conditioned ResNet, "
                           "PatchGAN + domain classifier, WGAN-GP)")
