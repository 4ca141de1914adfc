//! Shell completion of service names: the folders under the `SERVICES_ROOT` that
//! `cipug config` prints, offered after `rollback`, `history` and the service filters. Added
//! to clap's generated bash and fish scripts, which know only static values.

use std::io::Write;

use crate::error::{Error, Result};

/// The bash lines: a wrapper around clap's `_cipug` that answers for service names first.
const BASH: &str = r#"
# Service names: the folders under the SERVICES_ROOT that `cipug config` prints.
_cipug_services() {
    local root
    root=$(cipug config 2>/dev/null | sed -n 's/^SERVICES_ROOT=//p')
    [[ -d $root ]] || return 1
    local d names=()
    for d in "$root"/*/; do
        d=${d%/}
        names+=("${d##*/}")
    done
    COMPREPLY=($(compgen -W "${names[*]}" -- "${COMP_WORDS[COMP_CWORD]}"))
}
_cipug_with_services() {
    case "${COMP_WORDS[COMP_CWORD-1]}" in
        rollback|history|--services-filter|--services-filter-exclude)
            _cipug_services && return 0 ;;
    esac
    _cipug "$@"
}
complete -F _cipug_with_services -o bashdefault -o default cipug
"#;

/// The fish lines: service names after `rollback` and `history`.
const FISH: &str = r#"
# Service names: the folders under the SERVICES_ROOT that `cipug config` prints.
function __cipug_services
    set -l root (cipug config 2>/dev/null | string replace -rf '^SERVICES_ROOT=(.*)' '$1')
    test -d "$root"; and for d in $root/*/; basename $d; end
end
complete -c cipug -n "__fish_seen_subcommand_from rollback history" -f -a "(__cipug_services)"
"#;

/// Appends the service-name completion for `shell` (bash and fish; zsh gets clap's only).
pub fn append(shell: clap_complete::Shell, out: &mut dyn Write) -> Result<()> {
    let text = match shell {
        clap_complete::Shell::Bash => BASH,
        clap_complete::Shell::Fish => FISH,
        _ => return Ok(()),
    };
    out.write_all(text.as_bytes())
        .map_err(|e| Error::io("standard output", e))
}
