"""Conditional GAN (Mirza & Osindero 2014), DCGAN-style: class-conditional image generation.

Registration is torch-free; the model lives in `translate.plugins.cgan.model`.
"""
from translate import hookimpl


@hookimpl
def register_models(register):
    register.model("cgan", "translate.plugins.cgan.model:ConditionalGAN",
                   summary="cGAN: class-conditional DCGAN generator G(z, label) -> image (labelled data)")
