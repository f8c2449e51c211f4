# Local shortcuts for the checks CI runs and the chores around them.
# Install just with `cargo install --locked just`, `apt install just` or `pip install rust-just`.
# `just` alone lists the recipes.

default:
    @just --list

# Every check CI runs, in CI's order: the same script, nothing else
ci:
    bash .ci/run

# The quick loop before a commit: format, lints, docs, and the files that must match the binary
check:
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
    cargo test --quiet --test it -- completions:: repo_checks::

# Format the code
fmt:
    cargo fmt

# The whole test suite, or the integration tests of one area: `just test serve::webhook::`
test filter="":
    cargo test {{ if filter == "" { "" } else { "--test it " + filter } }}

# Write completions/ and man/ again from the binary (after changing an option or its help)
regenerate:
    cargo build --quiet
    for shell in bash zsh fish; do \
        case $shell in bash) f=hookrelay.bash;; zsh) f=_hookrelay;; fish) f=hookrelay.fish;; esac; \
        env -i target/debug/hookrelay completions $shell > completions/$f; \
    done
    rm -rf man && env -i target/debug/hookrelay man man

# Licenses, duplicate versions and sources of the dependencies (deny.toml), offline
deny:
    cargo deny --offline --locked --log-level warn check licenses bans sources

# Instructions per POST /webhook under callgrind (deterministic; slow release build)
bench-instructions:
    scripts/bench-instructions.sh

# Fuzz the event model for SECONDS (needs nightly and cargo-fuzz; see fuzz/README.md)
fuzz seconds="600":
    mkdir -p fuzz/corpus/validate && cp fuzz/seeds/* fuzz/corpus/validate/
    cd fuzz && cargo +nightly fuzz run validate corpus/validate -- \
        -dict=json.dict -max_len=4096 -max_total_time={{ seconds }}
