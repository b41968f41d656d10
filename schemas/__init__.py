"""Package data of vitsdk (installed as `vitsdk._schemas`, read through `vitsdk.resources`); this file only
makes the folder importable so a wheel and an editable install find it the same way."""
