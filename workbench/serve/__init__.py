"""``workbench serve``: the OpenAI audio API over a base model and its adapter packages.

No model code lives here: requests are queued and batched (``batching``), and each batch goes
to the decoding library through one function (``engine.decode``).
"""
