"""Shell completion for bash and zsh, generated from dsconsole's argparse
parsers (console/cli.py build_parser): one source of truth, so a new command or
option completes without anyone editing a script.

The parsers are walked into levels, one per command path ("", "tune", "hosts",
"hosts trust"): the options of each, those that take a value (and which of
those take a file), its subcommands and the choices of its positionals. The
shell function replays the words typed so far over those levels, like argparse
would, and offers what fits the word under the cursor.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field

# metavars that name a file or directory: their values complete as file names
FILE_METAVARS = frozenset({"FILE", "PATH", "DIR"})


@dataclass
class Level:
    options: list[str] = field(default_factory=list)
    value_options: list[str] = field(default_factory=list)
    file_options: list[str] = field(default_factory=list)
    subcommands: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    file_positional: bool = False


def levels(parser: argparse.ArgumentParser, path: str = "") -> dict[str, Level]:
    """{command path: Level} for `parser` and every subparser below it.
    (argparse has no public API to list a parser's actions: _actions and
    _SubParsersAction are what its own help formatter reads.)"""
    out = {path: (level := Level())}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                level.subcommands.append(name)
                out.update(levels(sub, f"{path} {name}".strip()))
        elif action.option_strings:
            level.options += action.option_strings
            if action.nargs != 0:
                level.value_options += action.option_strings
                if action.metavar in FILE_METAVARS:
                    level.file_options += action.option_strings
        elif action.choices:
            level.choices += [str(c) for c in action.choices]
        elif action.metavar in FILE_METAVARS:
            level.file_positional = True
    return out


def _level_function(spec: dict[str, Level]) -> str:
    """`_dsconsole_level PATH WHAT`: the words of one level, in sh case syntax
    (the same in bash and zsh)."""
    lines = ['_dsconsole_level() {', '    case "$1:$2" in']
    for path, level in spec.items():
        for what in ("options", "value_options", "file_options", "subcommands", "choices"):
            words = getattr(level, what)
            if words:
                lines.append(f'        "{path}:{what}") echo "{" ".join(words)}" ;;')
        if level.file_positional:
            lines.append(f'        "{path}:file_positional") echo yes ;;')
    lines += ['    esac', '}']
    return "\n".join(lines)


# Replays COMP_WORDS over the levels: an option that takes a value skips the
# next word; a subcommand name moves down a level; any other word is a
# positional (choices are offered only for the first one of a level).
_BASH = r'''# bash completion for dsconsole, generated from its argument parsers by `dsconsole completion bash`.
# Load it with: source <(dsconsole completion bash)
__LEVEL__

_dsconsole() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local lvl="" npos=0 skip=0 i w
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if ((skip)); then skip=0; continue; fi
        case " $(_dsconsole_level "$lvl" value_options) " in *" $w "*) skip=1; continue ;; esac
        [[ $w == -* ]] && continue
        case " $(_dsconsole_level "$lvl" subcommands) " in
            *" $w "*) lvl=${lvl:+$lvl }$w; npos=0 ;;
            *) npos=$((npos + 1)) ;;
        esac
    done
    COMPREPLY=()
    if ((skip)); then
        case " $(_dsconsole_level "$lvl" file_options) " in
            *" $prev "*) COMPREPLY=($(compgen -f -- "$cur")) ;;
        esac
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_dsconsole_level "$lvl" options)" -- "$cur"))
    elif ((npos == 0)); then
        local words="$(_dsconsole_level "$lvl" subcommands) $(_dsconsole_level "$lvl" choices)"
        if [[ -n ${words// /} ]]; then
            COMPREPLY=($(compgen -W "$words" -- "$cur"))
        elif [[ -n $(_dsconsole_level "$lvl" file_positional) ]]; then
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
    fi
}
complete -F _dsconsole dsconsole
'''

# The same walk over zsh's $words ($words[1] is the command, $CURRENT the
# word under the cursor). `lvl`, never `path`: zsh ties $path to $PATH.
_ZSH = r'''#compdef dsconsole
# zsh completion for dsconsole, generated from its argument parsers by `dsconsole completion zsh`.
# Install it as _dsconsole in a directory of $fpath, or load it with: source <(dsconsole completion zsh)
__LEVEL__

_dsconsole() {
    local cur=${words[CURRENT]} prev=${words[CURRENT-1]}
    local lvl="" npos=0 skip=0 i w
    for ((i = 2; i < CURRENT; i++)); do
        w=${words[i]}
        if ((skip)); then skip=0; continue; fi
        if [[ " $(_dsconsole_level "$lvl" value_options) " == *" $w "* ]]; then skip=1; continue; fi
        [[ $w == -* ]] && continue
        if [[ " $(_dsconsole_level "$lvl" subcommands) " == *" $w "* ]]; then
            lvl=${lvl:+$lvl }$w; npos=0
        else
            npos=$((npos + 1))
        fi
    done
    if ((skip)); then
        [[ " $(_dsconsole_level "$lvl" file_options) " == *" $prev "* ]] && _files
    elif [[ $cur == -* ]]; then
        compadd -- ${=$(_dsconsole_level "$lvl" options)}
    elif ((npos == 0)); then
        local -a offered
        offered=(${=$(_dsconsole_level "$lvl" subcommands)} ${=$(_dsconsole_level "$lvl" choices)})
        if ((${#offered})); then
            compadd -- $offered
        elif [[ -n $(_dsconsole_level "$lvl" file_positional) ]]; then
            _files
        fi
    fi
}

if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _dsconsole "$@"
else
    compdef _dsconsole dsconsole
fi
'''

SHELLS = ("bash", "zsh")


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    template = {"bash": _BASH, "zsh": _ZSH}[shell]
    return template.replace("__LEVEL__", _level_function(levels(parser)))
