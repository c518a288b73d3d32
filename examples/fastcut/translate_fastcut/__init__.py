"""FastCUT for translate: an example third-party model plugin.

Imported when translate loads its plugins (entry point group `translate`), so it stays free of
torch: the model is registered by a "module:attr" string and imported only when it is built.
"""
from translate import hookimpl

__version__ = "0.1.0"


@hookimpl
def register_models(register):
    register.model("fastcut", "translate_fastcut.model:FastCUT",
                   summary="FastCUT: one-sided unpaired A->B translation with PatchNCE (Park et al. 2020)")
