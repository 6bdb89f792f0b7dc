import type { Command } from 'commander';

/** What can follow one command: its subcommands (with aliases) and its options' long and short flags. */
type Node = { path: string; words: string[] };

const nodesOf = (command: Command, prefix: string[] = []): Node[] => {
  const subcommands = command.commands.filter((c) => c.name() !== 'help');
  const words = [
    ...subcommands.flatMap((c) => [c.name(), ...c.aliases()]),
    ...command.options.flatMap((o) => [o.long, o.short].filter((flag): flag is string => !!flag)),
    '--help',
  ];
  const here = { path: prefix.join(' '), words: [...new Set(words)] };
  return [here, ...subcommands.flatMap((c) => [c.name(), ...c.aliases()].flatMap((name) => nodesOf(c, [...prefix, name])))];
};

const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/**
 * A bash completion function generated from the command tree, so it can never offer a command
 * the CLI does not have. The words typed so far (options skipped) select the node; its
 * subcommands and flags are offered. zsh loads the same function through bashcompinit.
 */
export const bashCompletion = (program: Command): string => {
  const name = program.name();
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}_completion`;
  const cases = nodesOf(program)
    .map((node) => `    ${quote(node.path)}) words=${quote(node.words.join(' '))} ;;`)
    .join('\n');
  return `# ${name} completion for bash; for zsh, \`${name} completion zsh\`.
# Install: ${name} completion bash > /etc/bash_completion.d/${name}   (or source it from ~/.bashrc)
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ "$word" == -* ]] && continue
    case "\${path:+$path }$word" in
${nodesOf(program).slice(1).map((node) => `      ${quote(node.path)}) path="${node.path}" ;;`).join('\n')}
    esac
  done
  local words=""
  case "$path" in
${cases}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F ${fn} ${name}
`;
};

export const zshCompletion = (program: Command): string =>
  `# ${program.name()} completion for zsh (through bashcompinit).
# Install: ${program.name()} completion zsh > "\${fpath[1]}/_${program.name()}"   (or source it from ~/.zshrc)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
${bashCompletion(program)}`;
