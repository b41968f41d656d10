"""The on-disk formats, one module each: the contract with the apps, the browser page and the board runner.

    schema.py     Format (a `schema` tag + its JSON Schema file), the one schema loader and version check
    manifest.py   BUNDLE/manifest.json          vitsdk.manifest/1   (Bundle: the one reader; write_manifest)
    results.py    results/*.json                vitsdk.results/1
    run_spec.py   the app's run spec            vitsdk.run_spec/1
    sparsity.py   PRUNED/sparsity.json          vitsdk.sparsity/1

The JSON Schemas themselves live in the top-level `schemas/` folder (shipped as `vitsdk._schemas`), where the
Kotlin and Swift apps' tests read them too. A format's tag and schema file are written once, in its module.
"""
