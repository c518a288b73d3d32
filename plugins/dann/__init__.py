"""DANN (Ganin & Lempitsky 2015): unsupervised domain adaptation by backpropagation.

Registration is torch-free; the model lives in `translate.plugins.dann.model`.
"""
from translate import hookimpl


@hookimpl
def register_models(register):
    register.model("dann", "translate.plugins.dann.model:DANN",
                   summary="DANN: domain-adversarial classifier (gradient reversal) for an unlabelled target domain")
