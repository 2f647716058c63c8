"""The message and reply templates shipped with smsd (NAME.txt, plain text with ${placeholders}).

They are package data: an installed smsd finds them wherever its config.toml lives. An office
that wants its own wording sets templates_dir in config.toml to a folder whose files override
these one by one (copy the ones to change, not the whole folder).
"""
