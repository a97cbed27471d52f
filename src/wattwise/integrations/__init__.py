"""Where ML engineers train: framework callbacks, experiment trackers, Jupyter.

One module per framework, each imported only when used (``import wattwise`` and
``wattwise measure`` never load a framework):

- ``wattwise.integrations.transformers.WattwiseCallback`` (Hugging Face ``Trainer``)
- ``wattwise.integrations.lightning.WattwiseCallback`` (Lightning ``Trainer``)
- ``wattwise.integrations.keras.WattwiseCallback`` (Keras 3, any backend)
- ``wattwise.integrations.trackers.log_run`` (MLflow, W&B offline, TensorBoard)
- ``wattwise.integrations.jupyter`` (``%load_ext wattwise``, ``%%wattwise``)

Every callback adds ``energy_j``, ``co2e_g`` and ``power_w`` (this logging interval)
and ``energy_j_total``, ``co2e_g_total`` (since training began) to the framework's
own logs, and stores one run per node with its windows and phases.
"""
