//! OpenNebula's output: tables, `show` text and `-x`/`-j`/`-y` documents.
