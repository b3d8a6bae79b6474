"""keras_vae's examples. A package so that a user model an example defines is
importable by name from the repository root (`examples.custom_model.iwae`),
e.g. by a process that loads its `.keras` file, and by the conformance suite."""
